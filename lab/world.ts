/**
 * The simulated control plane's answers, computed from the running lab: the lab IS the state.
 * PromoteReadReplica runs pg_promote() on the standby; DescribeDBInstances reads
 * pg_is_in_recovery() and the WAL receiver; ModifyDBParameterGroup makes the primary read-only;
 * ChangeResourceRecordSets moves the front door (after the change is INSYNC); UpdateService changes
 * an app's capacity; alarms come from the lab's probes; SendTaskSuccess settles the local
 * execution's task token. A region marked down does not answer at all.
 */
import { AwsApiError, type CallContext, type ControlPlaneBackend, type DbInstanceView, type ExecutionView, type RecordSetView, type ServiceView } from './control-plane/backend';
import { DynamoTables } from './control-plane/dynamodb-expressions';
import type { LocalOrchestrator, TaskTokens } from './orchestrator';
import type { PgServer } from './postgres';
import type { RegionApp } from './region-app';
import type { Plan, RdsReplicaResource, Route53RecordResource, EcsServiceResource } from '../functions/core/plan';

export interface RegionHandle {
  name: string;
  db: PgServer;
  app: RegionApp;
  dbAlive: boolean;
}

export interface LagSample {
  at: number;
  /** null: unknown (primary gone, receiver down, or promoted) */
  lagSeconds: number | null;
  receiverStreaming: boolean;
}

export interface LabState {
  plan: Plan;
  primary: RegionHandle;
  recovery: RegionHandle;
  alarms: Map<string, 'OK' | 'ALARM' | 'INSUFFICIENT_DATA'>;
  lag: LagSample[];
  /** Regions whose regional control plane (RDS, ECS, CloudWatch) does not answer. */
  regionsDown: Set<string>;
  /** Published DNS weights (what the front door resolves). */
  dnsWeights: Record<string, number>;
  orchestrator: () => LocalOrchestrator;
  tokens: TaskTokens;
  secrets: Record<string, string>;
  events: Array<{ at: number; detailType?: string; detail?: unknown }>;
  /** Milestones for the report and the split-brain check. */
  marks: { promotedAt?: number; fencedAt?: number; flippedAt?: number };
  dnsSyncMs: number;
  log: (line: string) => void;
}

const REGIONAL = new Set(['rds', 'ecs', 'monitoring']);

export class LabWorld implements ControlPlaneBackend {
  private readonly tables = new DynamoTables({ 'lab-approvals': 'approvalId' });
  private promoting = false;
  private readonly changes = new Map<string, { Id: string; Status: 'PENDING' | 'INSYNC'; SubmittedAt: Date }>();
  private changeSeq = 0;

  constructor(private readonly s: LabState) {}

  private get replica(): RdsReplicaResource {
    return this.s.plan.databases[0] as RdsReplicaResource;
  }
  private get record(): Route53RecordResource {
    return this.s.plan.traffic[0] as Route53RecordResource;
  }
  private get service(): EcsServiceResource {
    return this.s.plan.compute[0] as EcsServiceResource;
  }

  reachable(call: CallContext): boolean {
    return !(this.s.regionsDown.has(call.region) && REGIONAL.has(call.service));
  }

  // --- RDS -----------------------------------------------------------------------------------

  async describeDBInstances(call: CallContext, id: string): Promise<DbInstanceView> {
    if (id === this.replica.replicaInstanceIdentifier && call.region === this.s.plan.recoveryRegion) {
      if (this.promoting) return { DBInstanceIdentifier: id, DBInstanceStatus: 'modifying' };
      const db = this.s.recovery.db;
      let inRecovery: boolean;
      let streaming = false;
      try {
        inRecovery = await db.isInRecovery();
        if (inRecovery) {
          const rows = await db.query<{ status: string }>('SELECT status FROM pg_stat_wal_receiver');
          streaming = rows[0]?.status === 'streaming';
        }
      } catch (error) {
        return { DBInstanceIdentifier: id, DBInstanceStatus: 'failed', StatusInfos: [{ StatusType: 'read replication', Status: 'error', Normal: false, Message: String(error) }] };
      }
      if (!inRecovery) return { DBInstanceIdentifier: id, DBInstanceStatus: 'available' };
      return {
        DBInstanceIdentifier: id,
        DBInstanceStatus: 'available',
        ReadReplicaSourceDBInstanceIdentifier: `arn:aws:rds:${this.s.plan.primaryRegion}:000000000000:db:${this.replica.primaryInstanceIdentifier}`,
        StatusInfos: [{ StatusType: 'read replication', Status: streaming ? 'replicating' : 'error', Normal: streaming }],
      };
    }
    if (id === this.replica.primaryInstanceIdentifier && call.region === this.s.plan.primaryRegion) {
      return { DBInstanceIdentifier: id, DBInstanceStatus: this.s.primary.dbAlive ? 'available' : 'failed' };
    }
    throw new AwsApiError('DBInstanceNotFound', `DBInstance ${id} not found in ${call.region}`, 404);
  }

  async promoteReadReplica(call: CallContext, id: string): Promise<DbInstanceView> {
    if (id !== this.replica.replicaInstanceIdentifier || call.region !== this.s.plan.recoveryRegion) {
      throw new AwsApiError('DBInstanceNotFound', `DBInstance ${id} not found in ${call.region}`, 404);
    }
    if (this.promoting || !(await this.s.recovery.db.isInRecovery())) {
      throw new AwsApiError('InvalidDBInstanceState', `DB instance ${id} is not a read replica.`, 400);
    }
    this.promoting = true;
    this.s.log(`rds: PromoteReadReplica ${id} → pg_promote()`);
    void this.s.recovery.db
      .promote()
      .then(() => {
        this.s.marks.promotedAt ??= Date.now();
        this.s.log(`rds: ${id} promoted (writable)`);
      })
      .catch((error) => this.s.log(`rds: pg_promote failed: ${error}`))
      .finally(() => (this.promoting = false));
    return { DBInstanceIdentifier: id, DBInstanceStatus: 'modifying' };
  }

  async modifyDBParameterGroup(call: CallContext, name: string, parameters: Array<{ ParameterName: string; ParameterValue: string }>): Promise<void> {
    if (name !== this.replica.primaryParameterGroup || call.region !== this.s.plan.primaryRegion) {
      throw new AwsApiError('DBParameterGroupNotFound', `DBParameterGroup ${name} not found in ${call.region}`, 404);
    }
    const readOnly = parameters.find((p) => p.ParameterName === 'default_transaction_read_only');
    if (!readOnly) return;
    const on = readOnly.ParameterValue === '1' || readOnly.ParameterValue === 'on';
    // The group is modified whether or not the instance is up (as on AWS); a live primary applies it now.
    if (this.s.primary.dbAlive) {
      await this.s.primary.db.query(`ALTER SYSTEM SET default_transaction_read_only = ${on ? 'on' : 'off'}`).catch(() => undefined);
      await this.s.primary.db.query('SELECT pg_reload_conf()').catch(() => undefined);
    }
    if (on) this.s.marks.fencedAt ??= Date.now();
    this.s.log(`rds: ${name} default_transaction_read_only=${on ? 1 : 0}`);
  }

  // --- CloudWatch ----------------------------------------------------------------------------

  async describeAlarms(_call: CallContext, names: string[]) {
    return names.filter((n) => this.s.alarms.has(n)).map((n) => ({ AlarmName: n, StateValue: this.s.alarms.get(n)! }));
  }

  /** ReplicaLag as CloudWatch has it: the samples that were measured, when they were measured (none while unknown). */
  async getMetricValues(_call: CallContext, q: { namespace: string; name: string; dimensions: Record<string, string>; start: Date; end: Date }) {
    if (q.name !== 'ReplicaLag' || q.dimensions.DBInstanceIdentifier !== this.replica.replicaInstanceIdentifier) return [];
    const samples = this.s.lag.filter((l) => l.at >= q.start.getTime() && l.at <= q.end.getTime() + 1000 && l.lagSeconds !== null);
    return samples
      .slice(-60)
      .reverse()
      .map((l) => ({ value: l.lagSeconds!, at: new Date(l.at) }));
  }

  // --- Route 53 ------------------------------------------------------------------------------

  private records(): RecordSetView[] {
    const r = this.record;
    const value = (t: Route53RecordResource['primary']) => ('value' in t ? t.value : t.aliasDnsName);
    return [
      { Name: `${r.recordName}.`, Type: r.recordType, SetIdentifier: r.primary.setIdentifier, Weight: this.s.dnsWeights[this.s.plan.primaryRegion] ?? 0, TTL: r.ttl, ResourceRecords: [{ Value: value(r.primary) }] },
      { Name: `${r.recordName}.`, Type: r.recordType, SetIdentifier: r.recovery.setIdentifier, Weight: this.s.dnsWeights[this.s.plan.recoveryRegion] ?? 0, TTL: r.ttl, ResourceRecords: [{ Value: value(r.recovery) }] },
    ];
  }

  async listResourceRecordSets(_call: CallContext, zoneId: string): Promise<RecordSetView[]> {
    if (zoneId.replace(/^\/hostedzone\//, '') !== this.record.hostedZoneId) throw new AwsApiError('NoSuchHostedZone', `No hosted zone found with ID: ${zoneId}`, 404);
    return this.records();
  }

  async changeResourceRecordSets(_call: CallContext, zoneId: string, changes: Array<{ Action: string; ResourceRecordSet: RecordSetView }>) {
    if (zoneId.replace(/^\/hostedzone\//, '') !== this.record.hostedZoneId) throw new AwsApiError('NoSuchHostedZone', `No hosted zone found with ID: ${zoneId}`, 404);
    const next = { ...this.s.dnsWeights };
    for (const { ResourceRecordSet: set } of changes) {
      if (set.SetIdentifier === this.record.primary.setIdentifier) next[this.s.plan.primaryRegion] = set.Weight ?? 0;
      if (set.SetIdentifier === this.record.recovery.setIdentifier) next[this.s.plan.recoveryRegion] = set.Weight ?? 0;
    }
    this.changeSeq += 1;
    const change = { Id: `/change/C0LAB${String(this.changeSeq).padStart(6, '0')}`, Status: 'PENDING' as 'PENDING' | 'INSYNC', SubmittedAt: new Date() };
    this.changes.set(change.Id, change);
    this.s.log(`route53: change ${change.Id} ${JSON.stringify(next)} PENDING`);
    setTimeout(() => {
      Object.assign(this.s.dnsWeights, next);
      change.Status = 'INSYNC';
      this.s.marks.flippedAt ??= Date.now();
      this.s.log(`route53: change ${change.Id} INSYNC`);
    }, this.s.dnsSyncMs).unref();
    return { ...change };
  }

  async getChange(_call: CallContext, id: string) {
    const key = id.startsWith('/change/') ? id : `/change/${id}`;
    const change = this.changes.get(key);
    if (!change) throw new AwsApiError('NoSuchChange', `A change with the specified change ID does not exist: ${id}`, 404);
    return { ...change };
  }

  // --- ECS -----------------------------------------------------------------------------------

  private appFor(region: string, cluster: string, service: string): RegionApp | undefined {
    const svc = this.service;
    if (service !== svc.primary.service && service !== svc.recovery.service) return undefined;
    if (region === this.s.plan.primaryRegion && cluster === svc.primary.cluster) return this.s.primary.app;
    if (region === this.s.plan.recoveryRegion && cluster === svc.recovery.cluster) return this.s.recovery.app;
    return undefined;
  }

  private view(service: string, app: RegionApp): ServiceView {
    const done = app.runningCount === app.desiredCount;
    return {
      serviceName: service,
      status: 'ACTIVE',
      desiredCount: app.desiredCount,
      runningCount: app.runningCount,
      pendingCount: Math.max(0, app.desiredCount - app.runningCount),
      deployments: [{ status: 'PRIMARY', rolloutState: done ? 'COMPLETED' : 'IN_PROGRESS', desiredCount: app.desiredCount, runningCount: app.runningCount }],
    };
  }

  async describeServices(call: CallContext, cluster: string, services: string[]) {
    const found: ServiceView[] = [];
    const failures: Array<{ arn: string; reason: string }> = [];
    for (const name of services) {
      const app = this.appFor(call.region, cluster, name);
      if (app) found.push(this.view(name, app));
      else failures.push({ arn: `arn:aws:ecs:${call.region}:000000000000:service/${cluster}/${name}`, reason: 'MISSING' });
    }
    return { services: found, failures };
  }

  async updateService(call: CallContext, cluster: string, service: string, desiredCount: number): Promise<ServiceView> {
    const app = this.appFor(call.region, cluster, service);
    if (!app) throw new AwsApiError('ServiceNotFoundException', `Service not found: ${cluster}/${service}`, 400);
    app.setDesiredCount(desiredCount);
    if (call.region === this.s.plan.primaryRegion && desiredCount === 0) this.s.marks.fencedAt ??= Date.now();
    this.s.log(`ecs: ${call.region} ${cluster}/${service} desiredCount ${desiredCount}`);
    return this.view(service, app);
  }

  // --- Step Functions ------------------------------------------------------------------------

  private views(): ExecutionView[] {
    return this.s.orchestrator().executions.map((e) => ({
      executionArn: e.executionArn,
      stateMachineArn: e.stateMachineArn,
      name: e.name,
      status: e.status,
      startDate: e.startDate,
      stopDate: e.stopDate,
      input: JSON.stringify(e.input),
    }));
  }

  async listExecutions(_call: CallContext, stateMachineArn: string, statusFilter?: string): Promise<ExecutionView[]> {
    return this.views().filter((e) => e.stateMachineArn === stateMachineArn && (!statusFilter || e.status === statusFilter));
  }

  async describeExecution(_call: CallContext, executionArn: string): Promise<ExecutionView> {
    const found = this.views().find((e) => e.executionArn === executionArn);
    if (!found) throw new AwsApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`, 400);
    return found;
  }

  private settle(token: string, outcome: Parameters<TaskTokens['settle']>[1]): void {
    try {
      this.s.tokens.settle(token, outcome);
    } catch (error) {
      const e = error as Error;
      throw new AwsApiError(e.name, e.message, 400);
    }
  }

  async sendTaskSuccess(_call: CallContext, taskToken: string, output: string): Promise<void> {
    this.settle(taskToken, { ok: true, output: JSON.parse(output) });
  }

  async sendTaskFailure(_call: CallContext, taskToken: string, error?: string, cause?: string): Promise<void> {
    this.settle(taskToken, { ok: false, error: error ?? 'TaskFailed', cause: cause ?? '' });
  }

  // --- EventBridge, DynamoDB, SSM ------------------------------------------------------------

  async putEvents(_call: CallContext, entries: Array<{ DetailType?: string; Detail?: string }>) {
    return entries.map((e, i) => {
      this.s.events.push({ at: Date.now(), detailType: e.DetailType, detail: e.Detail ? JSON.parse(e.Detail) : undefined });
      return { EventId: `lab-event-${this.s.events.length}-${i}` };
    });
  }

  async putItem(_call: CallContext, req: Parameters<DynamoTables['putItem']>[0]) {
    return this.tables.putItem(req);
  }
  async getItem(_call: CallContext, req: Parameters<DynamoTables['getItem']>[0]) {
    return this.tables.getItem(req);
  }
  async updateItem(_call: CallContext, req: Parameters<DynamoTables['updateItem']>[0]) {
    return this.tables.updateItem(req);
  }

  async getParameter(_call: CallContext, name: string) {
    const value = this.s.secrets[name];
    if (value === undefined) throw new AwsApiError('ParameterNotFound', `Parameter ${name} not found.`, 400);
    return { Name: name, Type: 'SecureString' as const, Value: value, Version: 1 };
  }
}
