/**
 * The simulated control plane's answers, computed from the running lab: the lab IS the state.
 * PromoteReadReplica runs pg_promote() on the standby; DescribeDBInstances reads
 * pg_is_in_recovery(), the WAL receiver and the primary's own settings; ModifyDBParameterGroup
 * makes the primary read-only; Route 53 records, ARC routing controls and their health checks
 * decide where the front door resolves (after `dnsSyncMs`); UpdateService and
 * RegisterScalableTarget change an app's capacity; alarms come from the lab's probes; ReplicaLag
 * is published once per minute from the lag samples, as RDS does; SendTaskSuccess settles the
 * local execution's task token; DynamoDB is dynalite; Invoke runs the functions the lab registered.
 * A region marked down refuses every endpoint; a blackholed region accepts and never answers.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  AwsApiError,
  type CallContext,
  type ChangeInfoView,
  type ControlPlaneBackend,
  type DbInstanceView,
  type DbParameterView,
  type ExecutionView,
  type HistoryEventView,
  type InvokeResult,
  type MetricDatum,
  type MetricQuery,
  type PutMetricDatum,
  type RawJsonRequest,
  type Reachability,
  type RecordSetView,
  type ScalableTargetView,
  type ServiceView,
  type StateMachineView,
} from '../local/aws/backend';
import { seedFromPlan, TrafficModel } from './control-plane/dns';
import { DynamoLocal } from '../local/aws/dynamodb-local';
import { MetricStore } from './control-plane/metrics';
import type { Change } from './control-plane/route53';
import type { ExecutionEvent, ExecutionRecord, LocalOrchestrator, TaskTokens } from '../local/state-machine';
import type { PgServer } from './postgres';
import type { RegionApp } from './region-app';
import type { EcsServiceResource, Plan, RdsReplicaResource } from '../functions/core/plan';

const ACCOUNT = '000000000000';

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

/** The Lambda context a registered function gets (the fields handlers read). */
export interface LabLambdaContext {
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  memoryLimitInMB: string;
  awsRequestId: string;
  logGroupName: string;
  logStreamName: string;
  callbackWaitsForEmptyEventLoop: boolean;
  getRemainingTimeInMillis(): number;
}

export type LabFunctionHandler = (event: unknown, context: LabLambdaContext) => Promise<unknown> | unknown;
/** A function the lab registered for Lambda Invoke: a handler, or a handler with its timeout (default 30 s). */
export type LabFunction = LabFunctionHandler | { handler: LabFunctionHandler; timeoutSeconds?: number };

export interface LabState {
  plan: Plan;
  primary: RegionHandle;
  recovery: RegionHandle;
  alarms: Map<string, 'OK' | 'ALARM' | 'INSUFFICIENT_DATA'>;
  lag: LagSample[];
  /** Regions whose endpoints (every service; Route 53's control plane with us-east-1) refuse connections. */
  regionsDown: Set<string>;
  /** Regions whose endpoints accept requests and never answer (a dying region); optional until the lab sets it. */
  regionsBlackholed?: Set<string>;
  /** Published DNS weights (what the front door resolves), written by the world after `dnsSyncMs`. */
  dnsWeights: Record<string, number>;
  orchestrator: () => LocalOrchestrator;
  tokens: TaskTokens;
  secrets: Record<string, string>;
  events: Array<{ at: number; detailType?: string; detail?: unknown }>;
  /** Milestones for the report and the split-brain check. */
  marks: { promotedAt?: number; fencedAt?: number; flippedAt?: number };
  dnsSyncMs: number;
  log: (line: string) => void;
  /** Lambda functions by name, run by Invoke (the Slack callback's self-invocation). */
  functions?: Record<string, LabFunction>;
  /** The replica's BackupRetentionPeriod in days (default 1: backups on; 0 = off, which promotion checks must catch). */
  replicaBackupRetentionDays?: number;
  /** How the lab starts an execution (its own bookkeeping); StartExecution uses it when set. */
  startExecution?: (input: unknown, name?: string) => { execution: ExecutionRecord };
}

export interface LabWorldOptions {
  /** Seconds between AWS/RDS ReplicaLag datapoints (RDS basic monitoring: 60). */
  replicaLagPublishSeconds?: number;
  /** The ARC seed's "at least one On" assertion rule (default true). */
  arcSafetyRule?: boolean;
  /** DynamoDB tables (name → string hash key) created before the first DynamoDB request. */
  tables?: Record<string, string>;
  /** Scalable targets (ECS services) when the plan's compute has autoScaling: min / max per side. */
  scalableTargets?: { primary?: { min: number; max: number }; recovery?: { min: number; max: number } };
}

/** Every service is regional; Route 53's control plane is served from us-east-1 whatever the signature says. */
const GLOBAL_SERVICE_REGIONS: Record<string, string> = { route53: 'us-east-1' };

const ECS_DIMENSION = 'ecs:service:DesiredCount';
const DB_QUERY_TIMEOUT_MS = 2_000;

/** A statement on the lab database that gives up after DB_QUERY_TIMEOUT_MS (a hung server must not hang an API call). */
async function boundedQuery<T extends Record<string, unknown>>(db: PgServer, sql: string): Promise<T[]> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      db.query<T>(sql),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`database did not answer within ${DB_QUERY_TIMEOUT_MS} ms`)), DB_QUERY_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const onOff = (v: string): boolean | undefined => (['1', 'on', 'true'].includes(v.toLowerCase()) ? true : ['0', 'off', 'false'].includes(v.toLowerCase()) ? false : undefined);

export class LabWorld implements ControlPlaneBackend {
  private readonly dynamo = new DynamoLocal();
  private tablesReady?: Promise<void>;
  private readonly traffic: TrafficModel;
  private readonly metrics = new Map<string, MetricStore>();
  private readonly changes = new Map<string, ChangeInfoView>();
  private changeSeq = 0;
  private promoting = false;
  private replicaRetention: number;
  /** The primary's parameter group as modified (name → value), and whether a change waits for a reboot. */
  private readonly groupParameters = new Map<string, { value: string; applyMethod: string }>();
  private readonly targets = new Map<string, ScalableTargetView & { region: string }>();
  private readonly createdAt = new Date();

  constructor(
    private readonly s: LabState,
    private readonly options: LabWorldOptions = {},
  ) {
    this.replicaRetention = s.replicaBackupRetentionDays ?? 1;
    this.traffic = new TrafficModel(seedFromPlan(s.plan, { safetyRule: options.arcSafetyRule }));
    Object.assign(s.dnsWeights, this.traffic.weights());
    this.seedScalableTargets();
  }

  private get replica(): RdsReplicaResource {
    return this.s.plan.databases[0] as RdsReplicaResource;
  }
  private get service(): EcsServiceResource {
    return this.s.plan.compute[0] as EcsServiceResource;
  }
  private get primaryGroup(): string {
    return this.replica.primaryParameterGroup ?? 'default.postgres16';
  }

  /** Creates a DynamoDB table (string hash key) unless it exists. */
  async ensureTable(name: string, hashKey: string, rangeKey?: string): Promise<void> {
    await this.dynamo.ensureTable(name, hashKey, rangeKey);
  }

  /** Registers (or replaces) a function that Lambda Invoke runs under `name`. */
  registerFunction(name: string, fn: LabFunction): void {
    this.s.functions ??= {};
    this.s.functions[name] = fn;
  }

  /** Stops the in-memory DynamoDB. */
  async close(): Promise<void> {
    await this.dynamo.close();
  }

  reachable(call: CallContext): Reachability {
    const region = GLOBAL_SERVICE_REGIONS[call.service] ?? call.region;
    if (this.s.regionsDown.has(region)) return 'refuse';
    if (this.s.regionsBlackholed?.has(region)) return 'hang';
    return 'ok';
  }

  // --- RDS -----------------------------------------------------------------------------------

  private notFound(id: string, region: string): AwsApiError {
    return new AwsApiError('DBInstanceNotFound', `DBInstance ${id} not found in ${region}`, 404);
  }

  async describeDBInstances(call: CallContext, id: string): Promise<DbInstanceView> {
    if (id === this.replica.replicaInstanceIdentifier && call.region === this.s.plan.recoveryRegion) return this.describeReplica(id);
    if (id === this.replica.primaryInstanceIdentifier && call.region === this.s.plan.primaryRegion) {
      return {
        DBInstanceIdentifier: id,
        DBInstanceStatus: this.s.primary.dbAlive ? 'available' : 'failed',
        BackupRetentionPeriod: 7,
        DBParameterGroups: [{ DBParameterGroupName: this.primaryGroup, ParameterApplyStatus: await this.primaryApplyStatus() }],
      };
    }
    throw this.notFound(id, call.region);
  }

  private async describeReplica(id: string): Promise<DbInstanceView> {
    const common = {
      DBInstanceIdentifier: id,
      BackupRetentionPeriod: this.replicaRetention,
      DBParameterGroups: [{ DBParameterGroupName: 'default.postgres16', ParameterApplyStatus: 'in-sync' as const }],
    };
    if (this.promoting) return { ...common, DBInstanceStatus: 'modifying' };
    const db = this.s.recovery.db;
    let inRecovery: boolean;
    let streaming = false;
    try {
      inRecovery = await db.isInRecovery();
      if (inRecovery) streaming = (await boundedQuery<{ status: string }>(db, 'SELECT status FROM pg_stat_wal_receiver'))[0]?.status === 'streaming';
    } catch (error) {
      return { ...common, DBInstanceStatus: 'failed', StatusInfos: [{ StatusType: 'read replication', Status: 'error', Normal: false, Message: String(error) }] };
    }
    if (!inRecovery) return { ...common, DBInstanceStatus: 'available' };
    return {
      ...common,
      DBInstanceStatus: 'available',
      ReadReplicaSourceDBInstanceIdentifier: `arn:aws:rds:${this.s.plan.primaryRegion}:${ACCOUNT}:db:${this.replica.primaryInstanceIdentifier}`,
      StatusInfos: [{ StatusType: 'read replication', Status: streaming ? 'replicating' : 'error', Normal: streaming }],
    };
  }

  /**
   * The parameter group's apply status, from the database itself: in-sync when the primary runs
   * with the group's default_transaction_read_only, applying while it does not yet, pending-reboot
   * for a change made with ApplyMethod pending-reboot. A dead primary cannot apply anything.
   * https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBParameterGroupStatus.html
   */
  private async primaryApplyStatus(): Promise<NonNullable<DbInstanceView['DBParameterGroups']>[number]['ParameterApplyStatus']> {
    const wanted = this.groupParameters.get('default_transaction_read_only');
    if (!wanted) return 'in-sync';
    if (wanted.applyMethod === 'pending-reboot') return 'pending-reboot';
    if (!this.s.primary.dbAlive) return 'applying';
    try {
      const running =
        (await boundedQuery<{ default_transaction_read_only: string }>(this.s.primary.db, 'SHOW default_transaction_read_only'))[0]?.default_transaction_read_only ?? '';
      return onOff(running) === onOff(wanted.value) ? 'in-sync' : 'applying';
    } catch {
      return 'applying';
    }
  }

  async promoteReadReplica(call: CallContext, id: string, backupRetentionPeriod?: number): Promise<DbInstanceView> {
    if (id !== this.replica.replicaInstanceIdentifier || call.region !== this.s.plan.recoveryRegion) throw this.notFound(id, call.region);
    if (this.promoting || !(await this.s.recovery.db.isInRecovery())) {
      throw new AwsApiError('InvalidDBInstanceState', `DB instance ${id} is not a read replica.`, 400);
    }
    this.promoting = true;
    // AWS accepts BackupRetentionPeriod on PromoteReadReplica and applies it to the new instance.
    if (backupRetentionPeriod !== undefined) this.replicaRetention = backupRetentionPeriod;
    this.s.log(`rds: PromoteReadReplica ${id}${backupRetentionPeriod !== undefined ? ` BackupRetentionPeriod=${backupRetentionPeriod}` : ''} → pg_promote()`);
    void this.s.recovery.db
      .promote()
      .then(() => {
        this.s.marks.promotedAt ??= Date.now();
        this.s.log(`rds: ${id} promoted (writable)`);
      })
      .catch((error) => this.s.log(`rds: pg_promote failed: ${error}`))
      .finally(() => (this.promoting = false));
    return { DBInstanceIdentifier: id, DBInstanceStatus: 'modifying', BackupRetentionPeriod: this.replicaRetention };
  }

  private groupNotFound(name: string, region: string): AwsApiError {
    return new AwsApiError('DBParameterGroupNotFound', `DBParameterGroup not found: ${name} (${region})`, 404);
  }

  async modifyDBParameterGroup(call: CallContext, name: string, parameters: Array<{ ParameterName: string; ParameterValue: string; ApplyMethod?: string }>): Promise<void> {
    if (name !== this.primaryGroup || call.region !== this.s.plan.primaryRegion) throw this.groupNotFound(name, call.region);
    for (const p of parameters) {
      if (p.ParameterName === 'default_transaction_read_only' && onOff(p.ParameterValue) === undefined) {
        throw new AwsApiError('InvalidParameterValue', `Value ${p.ParameterValue} for parameter default_transaction_read_only is invalid. Allowed values are 0,1`, 400);
      }
      this.groupParameters.set(p.ParameterName, { value: p.ParameterValue, applyMethod: p.ApplyMethod ?? 'immediate' });
    }
    const readOnly = parameters.find((p) => p.ParameterName === 'default_transaction_read_only');
    if (!readOnly) return;
    const on = onOff(readOnly.ParameterValue)!;
    // The group is modified whether or not the instance is up (as on AWS); a live primary applies a dynamic parameter now.
    if (this.s.primary.dbAlive && (readOnly.ApplyMethod ?? 'immediate') === 'immediate') {
      await boundedQuery(this.s.primary.db, `ALTER SYSTEM SET default_transaction_read_only = ${on ? 'on' : 'off'}`).catch(() => undefined);
      await boundedQuery(this.s.primary.db, 'SELECT pg_reload_conf()').catch(() => undefined);
    }
    if (on) this.s.marks.fencedAt ??= Date.now();
    this.s.log(`rds: ${name} default_transaction_read_only=${on ? 1 : 0} (${readOnly.ApplyMethod ?? 'immediate'})`);
  }

  /**
   * The primary's group as DescribeDBParameters lists it; default_transaction_read_only as the
   * database's configuration reports it (pg_file_settings), the group's stored value when it cannot.
   * https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBParameters.html
   */
  async describeDBParameters(call: CallContext, name: string, source?: string): Promise<DbParameterView[]> {
    if (name !== this.primaryGroup || call.region !== this.s.plan.primaryRegion) throw this.groupNotFound(name, call.region);
    const readOnly = this.groupParameters.get('default_transaction_read_only');
    let reported = readOnly?.value;
    if (readOnly && this.s.primary.dbAlive) {
      try {
        const rows = await boundedQuery<{ setting: string }>(
          this.s.primary.db,
          "SELECT setting FROM pg_file_settings WHERE name = 'default_transaction_read_only' ORDER BY seqno DESC LIMIT 1",
        );
        if (rows[0]) reported = rows[0].setting;
      } catch {
        // keep the stored value
      }
    }
    const params: DbParameterView[] = [
      {
        ParameterName: 'default_transaction_read_only',
        ParameterValue: reported === undefined ? '0' : onOff(reported) ? '1' : '0',
        Source: readOnly ? 'user' : 'engine-default',
        ApplyType: 'dynamic',
        DataType: 'boolean',
        IsModifiable: true,
        AllowedValues: '0,1',
        ApplyMethod: (readOnly?.applyMethod as 'immediate' | 'pending-reboot' | undefined) ?? 'pending-reboot',
        Description: 'Sets the default read-only status of new transactions.',
      },
      ...[...this.groupParameters]
        .filter(([n]) => n !== 'default_transaction_read_only')
        .map(
          ([n, p]): DbParameterView => ({
            ParameterName: n,
            ParameterValue: p.value,
            Source: 'user',
            ApplyType: 'dynamic',
            DataType: 'string',
            IsModifiable: true,
            ApplyMethod: p.applyMethod as 'immediate',
          }),
        ),
    ];
    return params.filter((p) => source === undefined || p.Source === source);
  }

  // --- CloudWatch ----------------------------------------------------------------------------

  async describeAlarms(_call: CallContext, names: string[]) {
    const wanted = names.length === 0 ? [...this.s.alarms.keys()] : names.filter((n) => this.s.alarms.has(n));
    return wanted.map((n) => ({ AlarmName: n, StateValue: this.s.alarms.get(n)! }));
  }

  private store(region: string): MetricStore {
    let store = this.metrics.get(region);
    if (!store) {
      store = new MetricStore();
      this.metrics.set(region, store);
    }
    return store;
  }

  /**
   * AWS/RDS ReplicaLag of the replica as RDS publishes it: one datapoint per minute (basic
   * monitoring), stamped with the minute's start and visible once the minute is over, holding the
   * lag measured last in that minute (now() - pg_last_xact_replay_timestamp(), which keeps growing
   * once the primary is gone). Minutes without a measurement have no datapoint.
   * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html
   */
  private replicaLagDatapoints(q: MetricQuery): MetricDatum[] {
    const periodMs = (this.options.replicaLagPublishSeconds ?? 60) * 1000;
    const now = Date.now();
    const last = new Map<number, number>();
    for (const sample of this.s.lag) {
      if (sample.lagSeconds === null) continue;
      last.set(Math.floor(sample.at / periodMs) * periodMs, sample.lagSeconds);
    }
    return [...last]
      .filter(([minute]) => minute + periodMs <= now && minute >= q.start.getTime() && minute < q.end.getTime())
      .map(([minute, value]) => ({ at: new Date(minute), values: [{ value, count: 1 }], unit: 'Seconds' }));
  }

  async getMetricData(call: CallContext, q: MetricQuery): Promise<MetricDatum[]> {
    const isReplicaLag =
      q.namespace === 'AWS/RDS' &&
      q.name === 'ReplicaLag' &&
      q.dimensions.DBInstanceIdentifier === this.replica.replicaInstanceIdentifier &&
      Object.keys(q.dimensions).length === 1;
    if (isReplicaLag && call.region === this.s.plan.recoveryRegion) return this.replicaLagDatapoints(q);
    return this.store(call.region).query(q);
  }

  async putMetricData(call: CallContext, namespace: string, data: PutMetricDatum[]): Promise<void> {
    this.store(call.region).put(namespace, data);
  }

  // --- Route 53 and ARC ----------------------------------------------------------------------

  /** After `dnsSyncMs`, resolvers see `weights` (taken when the change was made). */
  private publishDns(weights: Record<string, number>, onSynced?: () => void): void {
    setTimeout(() => {
      Object.assign(this.s.dnsWeights, weights);
      const { primaryRegion, recoveryRegion } = this.s.plan;
      if ((weights[recoveryRegion] ?? 0) > 0 && (weights[primaryRegion] ?? 0) === 0) this.s.marks.flippedAt ??= Date.now();
      this.s.log(`dns: ${JSON.stringify(weights)} published`);
      onSynced?.();
    }, this.s.dnsSyncMs).unref();
  }

  async listResourceRecordSets(_call: CallContext, zoneId: string): Promise<RecordSetView[]> {
    return this.traffic.records.list(zoneId);
  }

  async changeResourceRecordSets(_call: CallContext, zoneId: string, changes: Change[]): Promise<ChangeInfoView> {
    this.traffic.records.apply(zoneId, changes);
    this.changeSeq += 1;
    const change: ChangeInfoView = { Id: `/change/C0LAB${String(this.changeSeq).padStart(6, '0')}`, Status: 'PENDING', SubmittedAt: new Date() };
    this.changes.set(change.Id, change);
    const weights = this.traffic.weights();
    this.s.log(
      `route53: change ${change.Id} (${changes.map((c) => `${c.Action} ${c.ResourceRecordSet.Name} ${c.ResourceRecordSet.Type} ${c.ResourceRecordSet.SetIdentifier ?? ''}`).join('; ')}) PENDING`,
    );
    this.publishDns(weights, () => {
      change.Status = 'INSYNC';
      this.s.log(`route53: change ${change.Id} INSYNC`);
    });
    return { ...change };
  }

  async getChange(_call: CallContext, id: string): Promise<ChangeInfoView> {
    const key = id.startsWith('/change/') ? id : `/change/${id}`;
    const change = this.changes.get(key);
    if (!change) throw new AwsApiError('NoSuchChange', `A change with the specified change ID does not exist: ${id}`, 404);
    return { ...change };
  }

  async getRoutingControlState(_call: CallContext, arn: string) {
    return this.traffic.control(arn);
  }

  async updateRoutingControlStates(call: CallContext, entries: Array<{ RoutingControlArn: string; RoutingControlState: 'On' | 'Off' }>, overridden: string[]): Promise<void> {
    this.traffic.updateControls(entries, overridden);
    this.s.log(`arc: ${call.region} endpoint ${entries.map((e) => `${e.RoutingControlArn.split('/').pop()}=${e.RoutingControlState}`).join(', ')}`);
    this.publishDns(this.traffic.weights());
  }

  async listRoutingControls(_call: CallContext, controlPanelArn?: string) {
    return this.traffic.listControls(controlPanelArn);
  }

  // --- ECS and Application Auto Scaling ------------------------------------------------------

  private appFor(region: string, cluster: string, service: string): RegionApp | undefined {
    const svc = this.service;
    if (region === this.s.plan.primaryRegion && cluster === svc.primary.cluster && service === svc.primary.service) return this.s.primary.app;
    if (region === this.s.plan.recoveryRegion && cluster === svc.recovery.cluster && service === svc.recovery.service) return this.s.recovery.app;
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
      else failures.push({ arn: `arn:aws:ecs:${call.region}:${ACCOUNT}:service/${cluster}/${name}`, reason: 'MISSING' });
    }
    return { services: found, failures };
  }

  private setDesired(region: string, cluster: string, service: string, app: RegionApp, desiredCount: number, why: string): void {
    app.setDesiredCount(desiredCount);
    if (region === this.s.plan.primaryRegion && desiredCount === 0) this.s.marks.fencedAt ??= Date.now();
    this.s.log(`ecs: ${region} ${cluster}/${service} desiredCount ${desiredCount} (${why})`);
  }

  async updateService(call: CallContext, cluster: string, service: string, desiredCount: number): Promise<ServiceView> {
    const app = this.appFor(call.region, cluster, service);
    if (!app) throw new AwsApiError('ServiceNotFoundException', `Service not found: ${cluster}/${service}`, 400);
    this.setDesired(call.region, cluster, service, app, desiredCount, 'UpdateService');
    return this.view(service, app);
  }

  /** With autoScaling in the plan, both services have scalable targets (the recovery one capped at its standby size). */
  private seedScalableTargets(): void {
    const svc = this.s.plan.compute[0] as EcsServiceResource | undefined;
    if (!svc?.autoScaling) return;
    const seed = this.options.scalableTargets ?? {};
    const primary = seed.primary ?? { min: 1, max: svc.failoverDesiredCount };
    const recovery = seed.recovery ?? { min: svc.standbyDesiredCount, max: svc.standbyDesiredCount };
    this.putTarget(this.s.plan.primaryRegion, `service/${svc.primary.cluster}/${svc.primary.service}`, primary.min, primary.max);
    this.putTarget(this.s.plan.recoveryRegion, `service/${svc.recovery.cluster}/${svc.recovery.service}`, recovery.min, recovery.max);
  }

  private putTarget(region: string, resourceId: string, min: number, max: number, roleArn?: string): ScalableTargetView & { region: string } {
    const key = `${region}|${resourceId}|${ECS_DIMENSION}`;
    const existing = this.targets.get(key);
    const target = {
      region,
      ServiceNamespace: 'ecs',
      ResourceId: resourceId,
      ScalableDimension: ECS_DIMENSION,
      MinCapacity: min,
      MaxCapacity: max,
      RoleARN:
        roleArn ??
        existing?.RoleARN ??
        `arn:aws:iam::${ACCOUNT}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService`,
      CreationTime: existing?.CreationTime ?? new Date(),
      SuspendedState: { DynamicScalingInSuspended: false, DynamicScalingOutSuspended: false, ScheduledScalingSuspended: false },
    };
    this.targets.set(key, target);
    return target;
  }

  /** https://docs.aws.amazon.com/autoscaling/application/APIReference/API_DescribeScalableTargets.html */
  async describeScalableTargets(call: CallContext, q: { ServiceNamespace: string; ResourceIds?: string[]; ScalableDimension?: string }): Promise<ScalableTargetView[]> {
    return [...this.targets.values()]
      .filter((t) => t.region === call.region && t.ServiceNamespace === q.ServiceNamespace)
      .filter((t) => !q.ResourceIds || q.ResourceIds.length === 0 || q.ResourceIds.includes(t.ResourceId))
      .filter((t) => !q.ScalableDimension || t.ScalableDimension === q.ScalableDimension)
      .map(({ region: _region, ...t }) => structuredClone(t));
  }

  /**
   * Registers or updates a scalable target; the service's desired count is moved inside
   * [MinCapacity, MaxCapacity] at once, as Application Auto Scaling does for an active resource.
   * https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html
   */
  async registerScalableTarget(
    call: CallContext,
    req: { ServiceNamespace: string; ResourceId: string; ScalableDimension: string; MinCapacity?: number; MaxCapacity?: number; RoleARN?: string },
  ) {
    if (req.ServiceNamespace !== 'ecs' || req.ScalableDimension !== ECS_DIMENSION) {
      throw new AwsApiError('ValidationException', `Unsupported service namespace, resource type or scalable dimension (the lab models ecs / ${ECS_DIMENSION})`, 400);
    }
    const m = /^service\/([^/]+)\/([^/]+)$/.exec(req.ResourceId);
    const app = m ? this.appFor(call.region, m[1]!, m[2]!) : undefined;
    if (!m || !app) throw new AwsApiError('ValidationException', `ECS service doesn't exist: ${req.ResourceId}`, 400);
    const existing = this.targets.get(`${call.region}|${req.ResourceId}|${ECS_DIMENSION}`);
    if (!existing && (req.MinCapacity === undefined || req.MaxCapacity === undefined)) {
      throw new AwsApiError('ValidationException', 'MinCapacity and MaxCapacity are required to register a new scalable target', 400);
    }
    const min = req.MinCapacity ?? existing!.MinCapacity;
    const max = req.MaxCapacity ?? existing!.MaxCapacity;
    if (min > max) throw new AwsApiError('ValidationException', `Minimum capacity cannot be greater than maximum capacity (MinCapacity ${min}, MaxCapacity ${max})`, 400);
    this.putTarget(call.region, req.ResourceId, min, max, req.RoleARN);
    this.s.log(`application-autoscaling: ${call.region} ${req.ResourceId} ${min}..${max}`);
    const clamped = Math.min(max, Math.max(min, app.desiredCount));
    if (clamped !== app.desiredCount) this.setDesired(call.region, m[1]!, m[2]!, app, clamped, `scalable target ${min}..${max}`);
    const id = createHash('sha256').update(`${call.region}|${req.ResourceId}`).digest('hex').slice(0, 32);
    return { ScalableTargetARN: `arn:aws:application-autoscaling:${call.region}:${ACCOUNT}:scalable-target/${id}` };
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
      ...(e.output !== undefined ? { output: JSON.stringify(e.output) } : {}),
      ...(e.error !== undefined ? { error: e.error } : {}),
      ...(e.cause !== undefined ? { cause: e.cause } : {}),
    }));
  }

  async listStateMachines(): Promise<StateMachineView[]> {
    const arn = this.s.orchestrator().stateMachineArn;
    return [{ stateMachineArn: arn, name: arn.split(':').pop()!, type: 'STANDARD', creationDate: this.createdAt }];
  }

  /** https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html */
  async startExecution(_call: CallContext, stateMachineArn: string, input: string, name?: string) {
    const orchestrator = this.s.orchestrator();
    if (stateMachineArn !== orchestrator.stateMachineArn) throw new AwsApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`, 400);
    if (name && orchestrator.executions.some((e) => e.name === name))
      throw new AwsApiError('ExecutionAlreadyExists', `Execution Already Exists: '${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}'`, 400);
    const parsed: unknown = JSON.parse(input);
    const { execution } = this.s.startExecution ? this.s.startExecution(parsed, name) : orchestrator.start(parsed, name);
    this.s.log(`states: StartExecution ${execution.name}`);
    return { executionArn: execution.executionArn, startDate: execution.startDate };
  }

  async getExecutionHistory(_call: CallContext, executionArn: string): Promise<HistoryEventView[]> {
    const execution = this.s.orchestrator().executions.find((e) => e.executionArn === executionArn);
    if (!execution) throw new AwsApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`, 400);
    return historyOf(execution);
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

  // --- EventBridge, DynamoDB, SSM, Lambda ----------------------------------------------------

  /** Entries arrive validated (Source, DetailType, a JSON object Detail): the server fails the others one by one. */
  async putEvents(_call: CallContext, entries: Array<{ DetailType?: string; Detail?: string }>) {
    return entries.map((e) => {
      this.s.events.push({ at: Date.now(), detailType: e.DetailType, detail: e.Detail ? JSON.parse(e.Detail) : undefined });
      return { EventId: randomUUID() };
    });
  }

  async dynamodb(_call: CallContext, request: RawJsonRequest) {
    this.tablesReady ??= Promise.all(
      Object.entries(this.options.tables ?? { 'lab-approvals': 'approvalId', 'lab-leases': 'leaseId' }).map(([name, key]) => this.dynamo.ensureTable(name, key)),
    ).then(() => undefined);
    await this.tablesReady;
    return this.dynamo.forward(request);
  }

  /**
   * Every lab secret is a SecureString: without WithDecryption, GetParameter answers its encrypted
   * form (a KMS ciphertext blob), never the plaintext.
   * https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html
   */
  async getParameter(_call: CallContext, name: string, withDecryption: boolean) {
    const value = this.s.secrets[name];
    if (value === undefined) throw new AwsApiError('ParameterNotFound', `Parameter ${name} not found.`, 400);
    const encrypted = `AQICAHh${createHash('sha256').update(`lab-kms|${name}|${value}`).digest('base64')}`;
    return { Name: name, Type: 'SecureString' as const, Value: withDecryption ? value : encrypted, Version: 1 };
  }

  /**
   * Runs a registered function: RequestResponse waits for its result (a throw is a 200 with
   * X-Amz-Function-Error: Unhandled), Event answers 202 at once and runs it afterwards.
   * https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html
   */
  async invoke(call: CallContext, functionName: string, invocationType: string, payload: string): Promise<InvokeResult> {
    const arn = `arn:aws:lambda:${call.region}:${ACCOUNT}:function:${functionName}`;
    const fn = this.s.functions?.[functionName];
    if (!fn) throw new AwsApiError('ResourceNotFoundException', `Function not found: ${arn}`, 404);
    if (invocationType === 'DryRun') return { status: 204 };
    const { handler, timeoutSeconds = 30 } = typeof fn === 'function' ? { handler: fn } : fn;
    const run = () => runFunction(handler, functionName, arn, timeoutSeconds, JSON.parse(payload));
    if (invocationType === 'Event') {
      setImmediate(() => {
        void run().then((r) => {
          if (r.functionError) this.s.log(`lambda: ${functionName} (Event) failed: ${r.payload}`);
        });
      });
      this.s.log(`lambda: ${functionName} invoked (Event)`);
      return { status: 202 };
    }
    return run();
  }
}

async function runFunction(handler: LabFunctionHandler, name: string, arn: string, timeoutSeconds: number, event: unknown): Promise<InvokeResult> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  const context: LabLambdaContext = {
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: arn,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'lab',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      Promise.resolve().then(() => handler(event, context)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(Object.assign(new Error(`Task timed out after ${timeoutSeconds.toFixed(2)} seconds`), { name: 'Sandbox.Timedout' })),
          timeoutSeconds * 1000,
        );
      }),
    ]);
    return { status: 200, payload: JSON.stringify(result === undefined ? null : result) };
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    return { status: 200, functionError: 'Unhandled', payload: JSON.stringify({ errorType: e.name, errorMessage: e.message, trace: [] }) };
  } finally {
    clearTimeout(timer);
  }
}

/** The AWS history event type of a state's entry / exit (TaskStateEntered, ChoiceStateExited, …). */
const stateEventType = (stateType: string | undefined, what: 'Entered' | 'Exited'): string => `${stateType ?? 'Pass'}State${what}`;

const jsonText = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v ?? null));

/**
 * GetExecutionHistory from the local runner's record, shaped like Step Functions' events: a Task
 * state shows TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded / TaskFailed,
 * TaskStateExited; ids count from 1 and each event points at the one before it.
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html
 */
export function historyOf(execution: ExecutionRecord): HistoryEventView[] {
  const out: HistoryEventView[] = [];
  const push = (at: number, type: string, details: Record<string, unknown> = {}): void => {
    const id = out.length + 1;
    out.push({ timestamp: new Date(at), type, id, previousEventId: id - 1, ...details });
  };
  const task = { resourceType: 'lambda', resource: 'invoke' };
  for (const e of execution.events as ExecutionEvent[]) {
    switch (e.type) {
      case 'ExecutionStarted':
        push(e.at, 'ExecutionStarted', {
          executionStartedEventDetails: {
            input: jsonText(e.input ?? execution.input),
            inputDetails: { truncated: false },
            roleArn: `arn:aws:iam::${ACCOUNT}:role/lab-state-machine`,
          },
        });
        break;
      case 'StateEntered':
        push(e.at, stateEventType(e.stateType, 'Entered'), { stateEnteredEventDetails: { name: e.state, input: jsonText(e.input), inputDetails: { truncated: false } } });
        if (e.stateType === 'Task') {
          push(e.at, 'TaskScheduled', { taskScheduledEventDetails: { ...task, region: execution.executionArn.split(':')[3], parameters: jsonText(e.input) } });
          push(e.at, 'TaskStarted', { taskStartedEventDetails: task });
        }
        break;
      case 'StateExited':
        if (e.stateType === 'Task') push(e.at, 'TaskSucceeded', { taskSucceededEventDetails: { ...task, output: jsonText(e.output), outputDetails: { truncated: false } } });
        push(e.at, stateEventType(e.stateType, 'Exited'), { stateExitedEventDetails: { name: e.state, output: jsonText(e.output), outputDetails: { truncated: false } } });
        break;
      case 'StateFailed':
        if (e.stateType === 'Task') push(e.at, 'TaskFailed', { taskFailedEventDetails: { ...task, error: e.error, cause: jsonText(e.cause) } });
        break;
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
      case 'MapIterationFailed':
        push(e.at, e.type, { mapIterationStartedEventDetails: { name: e.state } });
        break;
      case 'ExecutionSucceeded':
        push(e.at, 'ExecutionSucceeded', { executionSucceededEventDetails: { output: jsonText(e.output ?? execution.output), outputDetails: { truncated: false } } });
        break;
      case 'ExecutionFailed':
        push(e.at, 'ExecutionFailed', { executionFailedEventDetails: { error: e.error ?? execution.error, cause: jsonText(e.cause ?? execution.cause) } });
        break;
      case 'ExecutionTerminated':
        push(e.at, 'ExecutionAborted', { executionAbortedEventDetails: {} });
        break;
      default:
        break; // retries, catches and Parallel branches have no event of their own in Step Functions' history
    }
  }
  return out;
}
