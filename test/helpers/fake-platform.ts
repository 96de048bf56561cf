/**
 * A small, stateful stand-in for the AWS control plane and the HTTP world the handlers talk to,
 * built on aws-sdk-client-mock (SDK commands) and a fetch spy (probes, smoke tests, Slack). DynamoDB
 * is not mocked: it is dynalite in memory (test/helpers/dynamodb.ts), which the test file must have
 * started (the statemachine project does, in test/setup-dynamodb.js).
 *
 * The state machine tests run the real ASL with the real handlers on top of it: promoting the
 * database changes what DescribeDBInstances answers, changing the record changes what
 * ListResourceRecordSets answers, and so on. Every command is recorded so a test can assert on
 * what was (and what was not) sent.
 */
import { ApplicationAutoScalingClient, DescribeScalableTargetsCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeServicesCommand, ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  DescribeDBClusterParametersCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DescribeDBParametersCommand,
  DescribeGlobalClustersCommand,
  FailoverGlobalClusterCommand,
  ModifyDBClusterParameterGroupCommand,
  ModifyDBParameterGroupCommand,
  PromoteReadReplicaCommand,
  RDSClient,
  SwitchoverGlobalClusterCommand,
} from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand, GetChangeCommand, ListResourceRecordSetsCommand, Route53Client, type ResourceRecordSet } from '@aws-sdk/client-route-53';
import {
  GetRoutingControlStateCommand,
  Route53RecoveryClusterClient,
  UpdateRoutingControlStateCommand,
  UpdateRoutingControlStatesCommand,
} from '@aws-sdk/client-route53-recovery-cluster';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { TaskTokens } from '../../local/state-machine';
import type { ArcRoutingControlResource, Plan, Route53RecordResource } from '../../functions/core/plan';
import { testDynamoDb } from './dynamodb';

export const SIGNING_SECRET = 'test-signing-secret-0123456789abcdef';
export const BOT_TOKEN = 'xoxb-test-bot-token-do-not-log';

export interface World {
  /** The primary region's health endpoints answer (seen from the recovery region). */
  probesUp: boolean;
  /** The primary region's control plane (ECS, RDS) answers: fencing can be confirmed. */
  primaryControlPlaneUp: boolean;
  /**
   * The Aurora global database. `lagMs` is AuroraGlobalDBRPOLag (published per minute). The primary
   * cluster's parameter group is `primaryApplyStatus` on every member ('in-sync' by default) and
   * `readOnly` once ModifyDBClusterParameterGroup set default_transaction_read_only.
   */
  aurora: { writer: 'primary' | 'recovery'; status: string; lagMs: number | null; sync: string; promoteCompletes: boolean; primaryApplyStatus?: string; readOnly?: boolean };
  /**
   * The RDS replica (`lagSeconds` = ReplicaLag, per minute; `backupRetentionPeriod`, 7 by default)
   * and its primary: the plan's parameter group attached with `primaryApplyStatus` ('in-sync' by
   * default), `readOnly` once ModifyDBParameterGroup set default_transaction_read_only.
   */
  rds: {
    isReplica: boolean;
    status: string;
    replication: string;
    lagSeconds: number | null;
    promoteCompletes: boolean;
    backupRetentionPeriod?: number;
    primaryApplyStatus?: string;
    readOnly?: boolean;
  };
  /**
   * Where DNS sends traffic. Driven by the plan's traffic kind: Route 53 UPSERTs of the
   * route53-record's sets (weights), or the ARC routing controls (recovery On ⇒ recoveryWeight 100,
   * primary Off ⇒ primaryWeight 0; a control reads On while its weight is above 0).
   */
  dns: { primaryWeight: number; recoveryWeight: number; pendingPolls: number };
  /** Regions whose ARC cluster endpoint hangs: the call ends as the SDK ends it after its request timeout (TimeoutError). */
  arcDownRegions: string[];
  ecs: Record<string, { desired: number; running: number }>;
  alarms: Record<string, string>;
  smokeStatus: number;
  /** Recovery-region ECS tasks start (false: capacity never arrives). */
  ecsConverges: boolean;
  /** Slack's Web API accepts messages (false: ok:false channel_not_found). */
  slackOk: boolean;
}

export const MUTATING_COMMANDS = [
  FailoverGlobalClusterCommand,
  SwitchoverGlobalClusterCommand,
  PromoteReadReplicaCommand,
  ModifyDBParameterGroupCommand,
  ModifyDBClusterParameterGroupCommand,
  UpdateServiceCommand,
  ChangeResourceRecordSetsCommand,
  UpdateRoutingControlStatesCommand,
  UpdateRoutingControlStateCommand,
  RegisterScalableTargetCommand,
] as const;

/** A table name the handlers read from the environment (the test file sets it). */
function tableName(variable: 'APPROVALS_TABLE' | 'LEASE_TABLE'): string {
  const name = process.env[variable];
  if (!name) throw new Error(`set ${variable} before installFakePlatform (the fake creates that table)`);
  return name;
}

export function installFakePlatform(plan: Plan, overrides: Partial<World> = {}) {
  const world: World = {
    probesUp: false,
    primaryControlPlaneUp: true,
    aurora: { writer: 'primary', status: 'available', lagMs: 800, sync: 'connected', promoteCompletes: true },
    rds: { isReplica: true, status: 'available', replication: 'replicating', lagSeconds: 1, promoteCompletes: true },
    dns: { primaryWeight: 100, recoveryWeight: 0, pendingPolls: 1 },
    arcDownRegions: [],
    ecs: {},
    alarms: {},
    smokeStatus: 200,
    ecsConverges: true,
    slackOk: true,
    ...overrides,
  };
  for (const svc of plan.compute) {
    world.ecs[`${plan.primaryRegion}:${svc.primary.cluster}/${svc.primary.service}`] ??= { desired: svc.failoverDesiredCount, running: svc.failoverDesiredCount };
    world.ecs[`${plan.recoveryRegion}:${svc.recovery.cluster}/${svc.recovery.service}`] ??= { desired: svc.standbyDesiredCount, running: svc.standbyDesiredCount };
  }
  const tokens = new TaskTokens();
  const aurora = plan.databases.find((d) => d.kind === 'aurora-global');
  let auroraPolls = 0;
  let rdsPolls = 0;
  let changeSeq = 0;

  const unreachable = () => Object.assign(new Error('connect ETIMEDOUT'), { name: 'TimeoutError', code: 'ETIMEDOUT' });
  const regionOf = async (getClient: () => { config: { region: () => Promise<string> | string } }) => {
    const r = getClient().config.region;
    return typeof r === 'function' ? await r() : (r as unknown as string);
  };

  const rds = mockClient(RDSClient);
  rds.on(DescribeGlobalClustersCommand).callsFake(() => {
    if (world.aurora.status === 'failing-over' || world.aurora.status === 'switching-over') {
      if (auroraPolls-- <= 0 && world.aurora.promoteCompletes) {
        world.aurora.writer = 'recovery';
        world.aurora.status = 'available';
      }
    }
    return {
      GlobalClusters: [
        {
          GlobalClusterIdentifier: aurora && aurora.kind === 'aurora-global' ? aurora.globalClusterIdentifier : 'none',
          Status: world.aurora.status,
          GlobalClusterMembers:
            aurora && aurora.kind === 'aurora-global'
              ? [
                  { DBClusterArn: aurora.primaryClusterArn, IsWriter: world.aurora.writer === 'primary' },
                  { DBClusterArn: aurora.recoveryClusterArn, IsWriter: world.aurora.writer === 'recovery', SynchronizationStatus: world.aurora.sync as 'connected' },
                ]
              : [],
        },
      ],
    };
  });
  rds.on(FailoverGlobalClusterCommand).callsFake(() => {
    world.aurora.status = 'failing-over';
    auroraPolls = 1;
    return {};
  });
  rds.on(SwitchoverGlobalClusterCommand).callsFake(() => {
    world.aurora.status = 'switching-over';
    auroraPolls = 1;
    return {};
  });
  const rdsDb = plan.databases.find((d) => d.kind === 'rds-replica');
  /** Throws like a hanging primary region (the SDK's TimeoutError) when its control plane is down. */
  const primaryReachable = async (getClient: unknown) => {
    if ((await regionOf(getClient as never)) === plan.primaryRegion && !world.primaryControlPlaneUp) throw unreachable();
  };
  rds.on(DescribeDBInstancesCommand).callsFake(async (input, getClient) => {
    if (rdsDb?.kind === 'rds-replica' && input.DBInstanceIdentifier === rdsDb.primaryInstanceIdentifier) {
      await primaryReachable(getClient);
      const group = rdsDb.primaryParameterGroup ?? `default.postgres`;
      return {
        DBInstances: [
          {
            DBInstanceIdentifier: input.DBInstanceIdentifier,
            DBInstanceStatus: 'available',
            DBParameterGroups: [{ DBParameterGroupName: group, ParameterApplyStatus: world.rds.primaryApplyStatus ?? 'in-sync' }],
          },
        ],
      };
    }
    if (world.rds.status === 'modifying' && rdsPolls-- <= 0 && world.rds.promoteCompletes) world.rds.status = 'available';
    return {
      DBInstances: [
        {
          DBInstanceIdentifier: input.DBInstanceIdentifier,
          DBInstanceStatus: world.rds.status,
          BackupRetentionPeriod: world.rds.backupRetentionPeriod ?? 7,
          ...(world.rds.isReplica ? { ReadReplicaSourceDBInstanceIdentifier: 'arn:aws:rds:us-east-1:111122223333:db:payments-accounts-use1' } : {}),
          StatusInfos: world.rds.isReplica ? [{ StatusType: 'read replication', Status: world.rds.replication, Normal: world.rds.replication === 'replicating' }] : [],
        },
      ],
    };
  });
  const readOnlyParameter = (on: boolean | undefined) => ({ Parameters: on ? [{ ParameterName: 'default_transaction_read_only', ParameterValue: '1', Source: 'user' }] : [] });
  rds.on(DescribeDBParametersCommand).callsFake(async (_input, getClient) => {
    await primaryReachable(getClient);
    return readOnlyParameter(world.rds.readOnly);
  });
  rds.on(DescribeDBClustersCommand).callsFake(async (input, getClient) => {
    await primaryReachable(getClient);
    const group = aurora?.kind === 'aurora-global' ? (aurora.primaryClusterParameterGroup ?? 'default.aurora-postgresql') : 'none';
    return {
      DBClusters: [
        {
          DBClusterIdentifier: input.DBClusterIdentifier,
          Status: 'available',
          DBClusterParameterGroup: group,
          DBClusterMembers: [1, 2].map((n) => ({
            DBInstanceIdentifier: `${input.DBClusterIdentifier}-${n}`,
            IsClusterWriter: n === 1,
            DBClusterParameterGroupStatus: world.aurora.primaryApplyStatus ?? 'in-sync',
          })),
        },
      ],
    };
  });
  rds.on(ModifyDBClusterParameterGroupCommand).callsFake(async (input, getClient) => {
    await primaryReachable(getClient);
    world.aurora.readOnly = true;
    return { DBClusterParameterGroupName: input.DBClusterParameterGroupName };
  });
  rds.on(DescribeDBClusterParametersCommand).callsFake(async (_input, getClient) => {
    await primaryReachable(getClient);
    return readOnlyParameter(world.aurora.readOnly);
  });
  rds.on(PromoteReadReplicaCommand).callsFake(() => {
    world.rds.isReplica = false;
    world.rds.status = 'modifying';
    rdsPolls = 1;
    return {};
  });
  rds.on(ModifyDBParameterGroupCommand).callsFake(async (input, getClient) => {
    await primaryReachable(getClient);
    world.rds.readOnly = true;
    return { DBParameterGroupName: input.DBParameterGroupName };
  });

  const cloudwatch = mockClient(CloudWatchClient);
  cloudwatch.on(DescribeAlarmsCommand).callsFake((input) => ({
    MetricAlarms: (input.AlarmNames ?? []).map((name: string) => ({ AlarmName: name, StateValue: world.alarms[name] ?? 'OK' })),
  }));
  // Lag metrics as CloudWatch serves them: one datapoint per period (its timestamp = the period start,
  // aligned to the period), only periods starting in [StartTime rounded down to the minute, EndTime).
  cloudwatch.on(GetMetricDataCommand).callsFake((input) => ({
    MetricDataResults: (input.MetricDataQueries ?? []).map((q: { Id?: string; MetricStat?: { Period?: number; Metric?: { MetricName?: string } } }) => {
      const name = q.MetricStat?.Metric?.MetricName;
      const value = name === 'AuroraGlobalDBRPOLag' ? world.aurora.lagMs : name === 'ReplicaLag' ? world.rds.lagSeconds : null;
      const period = (q.MetricStat?.Period ?? 60) * 1000;
      const stamps: Date[] = [];
      const end = (input.EndTime as Date | undefined)?.getTime() ?? Date.now();
      for (let t = Math.floor(((input.StartTime as Date | undefined)?.getTime() ?? end - 300_000) / 60_000) * 60_000; value !== null && t < end; t += period)
        stamps.push(new Date(t));
      if (input.ScanBy !== 'TimestampAscending') stamps.reverse();
      return { Id: q.Id, StatusCode: 'Complete', Timestamps: stamps, Values: stamps.map(() => value as number) };
    }),
  }));

  const ecs = mockClient(ECSClient);
  ecs.on(DescribeServicesCommand).callsFake(async (input, getClient) => {
    const region = await regionOf(getClient as never);
    if (region === plan.primaryRegion && !world.primaryControlPlaneUp) throw unreachable();
    const key = `${region}:${input.cluster}/${input.services?.[0]}`;
    const svc = world.ecs[key];
    if (!svc) return { services: [], failures: [{ arn: key, reason: 'MISSING' }] };
    const result = {
      serviceName: input.services?.[0],
      status: 'ACTIVE',
      desiredCount: svc.desired,
      runningCount: svc.running,
      pendingCount: svc.desired - svc.running,
      deployments: [{ rolloutState: svc.running === svc.desired ? 'COMPLETED' : 'IN_PROGRESS' }],
    };
    if (world.ecsConverges || region === plan.primaryRegion) svc.running = svc.desired; // converges by the next poll
    return { services: [result] };
  });
  ecs.on(UpdateServiceCommand).callsFake(async (input, getClient) => {
    const region = await regionOf(getClient as never);
    if (region === plan.primaryRegion && !world.primaryControlPlaneUp) throw unreachable();
    const svc = world.ecs[`${region}:${input.cluster}/${input.service}`]!;
    svc.desired = input.desiredCount ?? svc.desired;
    return { service: { desiredCount: svc.desired } };
  });

  // Application Auto Scaling: the services marked autoScaling have a scalable target in each region.
  const scalableTargets = new Map<string, { min: number; max: number }>();
  for (const svc of plan.compute.filter((c) => c.autoScaling)) {
    scalableTargets.set(`${plan.primaryRegion}:service/${svc.primary.cluster}/${svc.primary.service}`, { min: svc.standbyDesiredCount, max: svc.failoverDesiredCount });
    scalableTargets.set(`${plan.recoveryRegion}:service/${svc.recovery.cluster}/${svc.recovery.service}`, { min: svc.standbyDesiredCount, max: svc.standbyDesiredCount });
  }
  const autoscaling = mockClient(ApplicationAutoScalingClient);
  autoscaling.on(DescribeScalableTargetsCommand).callsFake(async (input, getClient) => {
    await primaryReachable(getClient);
    const region = await regionOf(getClient as never);
    return {
      ScalableTargets: (input.ResourceIds ?? []).flatMap((id: string) => {
        const t = scalableTargets.get(`${region}:${id}`);
        return t
          ? [
              {
                ServiceNamespace: 'ecs',
                ResourceId: id,
                ScalableDimension: 'ecs:service:DesiredCount',
                MinCapacity: t.min,
                MaxCapacity: t.max,
                RoleARN: 'arn:aws:iam::111122223333:role/aas',
                CreationTime: new Date(),
              },
            ]
          : [];
      }),
    };
  });
  autoscaling.on(RegisterScalableTargetCommand).callsFake(async (input, getClient) => {
    await primaryReachable(getClient);
    const key = `${await regionOf(getClient as never)}:${input.ResourceId}`;
    const now = scalableTargets.get(key);
    const min = input.MinCapacity ?? now?.min;
    const max = input.MaxCapacity ?? now?.max;
    if (min === undefined || max === undefined)
      throw Object.assign(new Error('MinCapacity and MaxCapacity are required to register a new scalable target'), {
        name: 'ValidationException',
        $metadata: { httpStatusCode: 400 },
      });
    if (min > max)
      throw Object.assign(new Error(`Minimum capacity ${min} cannot be greater than maximum capacity ${max}`), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } });
    scalableTargets.set(key, { min, max });
    return {};
  });

  // Route 53 (control plane): the hosted zone's sets of the plan's route53-record, stored as UPSERTed.
  const route53 = mockClient(Route53Client);
  const rec = plan.traffic.find((t): t is Route53RecordResource => t.kind === 'route53-record');
  const setKey = (set: ResourceRecordSet) => set.SetIdentifier ?? '';
  const isRecord = (set: ResourceRecordSet | undefined) =>
    !!rec && !!set && (set.Name ?? '').toLowerCase().replace(/\.$/, '') === rec.recordName.toLowerCase().replace(/\.$/, '') && set.Type === rec.recordType;
  const asListed = (target: Route53RecordResource['primary']): Partial<ResourceRecordSet> =>
    'value' in target
      ? { TTL: rec!.ttl, ResourceRecords: [{ Value: target.value }] }
      : { AliasTarget: { DNSName: target.aliasDnsName, HostedZoneId: target.aliasHostedZoneId, EvaluateTargetHealth: target.evaluateTargetHealth } };
  /** The record's sets by SetIdentifier ('' for a simple record); a test may add listed fields (HealthCheckId…) before running. */
  const route53RecordSets = new Map<string, ResourceRecordSet>();
  if (rec?.routing === 'weighted') {
    for (const [target, weight] of [
      [rec.primary, world.dns.primaryWeight],
      [rec.recovery, world.dns.recoveryWeight],
    ] as const) {
      route53RecordSets.set(target.setIdentifier!, { Name: `${rec.recordName}.`, Type: rec.recordType, SetIdentifier: target.setIdentifier, Weight: weight, ...asListed(target) });
    }
  } else if (rec) {
    route53RecordSets.set('', { Name: `${rec.recordName}.`, Type: rec.recordType, ...asListed(rec.primary) });
  }
  /** Weights live in world.dns (tests set them directly); the stored sets carry everything else. */
  const listedSets = (): ResourceRecordSet[] =>
    [...route53RecordSets.values()].map((set) =>
      rec?.routing === 'weighted' && set.SetIdentifier === rec.primary.setIdentifier
        ? { ...set, Weight: world.dns.primaryWeight }
        : rec?.routing === 'weighted' && set.SetIdentifier === rec.recovery.setIdentifier
          ? { ...set, Weight: world.dns.recoveryWeight }
          : set,
    );
  const invalidChangeBatch = (message: string) => Object.assign(new Error(message), { name: 'InvalidChangeBatch', $metadata: { httpStatusCode: 400 } });
  route53.on(ListResourceRecordSetsCommand).callsFake((input) => ({ ResourceRecordSets: listedSets(), IsTruncated: false, MaxItems: input.MaxItems ?? 100 }));
  route53.on(ChangeResourceRecordSetsCommand).callsFake((input) => {
    const changes = input.ChangeBatch?.Changes ?? [];
    // Route 53 applies a batch all or nothing: check every change first.
    for (const change of changes) {
      const set = change.ResourceRecordSet;
      if (!isRecord(set)) continue;
      const existing = route53RecordSets.get(setKey(set!));
      if (change.Action === 'CREATE' && existing) throw invalidChangeBatch(`Tried to create resource record set ${set!.Name} type ${set!.Type} but it already exists`);
      if (change.Action === 'DELETE' && !existing) throw invalidChangeBatch(`Tried to delete resource record set ${set!.Name} type ${set!.Type} but it was not found`);
    }
    for (const change of changes) {
      const set = change.ResourceRecordSet;
      if (!isRecord(set)) continue;
      if (change.Action === 'DELETE') route53RecordSets.delete(setKey(set!));
      else route53RecordSets.set(setKey(set!), { ...set! });
    }
    if (rec?.routing === 'weighted') {
      world.dns.primaryWeight = route53RecordSets.get(rec.primary.setIdentifier!)?.Weight ?? 0;
      world.dns.recoveryWeight = route53RecordSets.get(rec.recovery.setIdentifier!)?.Weight ?? 0;
    } else if (rec) {
      const value = route53RecordSets.get('')?.ResourceRecords?.[0]?.Value ?? route53RecordSets.get('')?.AliasTarget?.DNSName;
      const onRecovery = value === ('value' in rec.recovery ? rec.recovery.value : rec.recovery.aliasDnsName);
      world.dns.primaryWeight = onRecovery ? 0 : 100;
      world.dns.recoveryWeight = onRecovery ? 100 : 0;
    }
    changeSeq += 1;
    return { ChangeInfo: { Id: `/change/C${changeSeq}`, Status: 'PENDING', SubmittedAt: new Date() } };
  });
  route53.on(GetChangeCommand).callsFake((input) => {
    const status = world.dns.pendingPolls-- > 0 ? 'PENDING' : 'INSYNC';
    return { ChangeInfo: { Id: input.Id, Status: status, SubmittedAt: new Date() } };
  });

  // Route 53 ARC (data plane): the plan's two routing controls, whose states are world.dns's weights.
  const arc = mockClient(Route53RecoveryClusterClient);
  const arcRec = plan.traffic.find((t): t is ArcRoutingControlResource => t.kind === 'arc-routing-control');
  const arcWeight = (arn: string | undefined): 'primaryWeight' | 'recoveryWeight' | undefined =>
    arn === arcRec?.primaryRoutingControlArn ? 'primaryWeight' : arn === arcRec?.recoveryRoutingControlArn ? 'recoveryWeight' : undefined;
  const arcEndpoint = async (getClient: unknown) => {
    const region = await regionOf(getClient as never);
    if (world.arcDownRegions.includes(region)) throw Object.assign(new Error(`Request to the ${region} cluster endpoint timed out`), { name: 'TimeoutError', code: 'ETIMEDOUT' });
  };
  const notFound = (arn: string | undefined) =>
    Object.assign(new Error(`routing control ${arn} not found`), { name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 404 } });
  const setStates = (entries: Array<{ RoutingControlArn?: string; RoutingControlState?: string }>) => {
    for (const e of entries) if (!arcWeight(e.RoutingControlArn)) throw notFound(e.RoutingControlArn);
    for (const e of entries) world.dns[arcWeight(e.RoutingControlArn)!] = e.RoutingControlState === 'On' ? 100 : 0;
    return {};
  };
  arc.on(GetRoutingControlStateCommand).callsFake(async (input, getClient) => {
    await arcEndpoint(getClient);
    const weight = arcWeight(input.RoutingControlArn);
    if (!weight) throw notFound(input.RoutingControlArn);
    return { RoutingControlArn: input.RoutingControlArn, RoutingControlState: world.dns[weight] > 0 ? 'On' : 'Off' };
  });
  arc.on(UpdateRoutingControlStatesCommand).callsFake(async (input, getClient) => {
    await arcEndpoint(getClient);
    return setStates(input.UpdateRoutingControlStateEntries ?? []);
  });
  arc.on(UpdateRoutingControlStateCommand).callsFake(async (input, getClient) => {
    await arcEndpoint(getClient);
    return setStates([input]);
  });

  const sfn = mockClient(SFNClient);
  sfn.on(SendTaskSuccessCommand).callsFake((input) => {
    tokens.settle(input.taskToken!, { ok: true, output: JSON.parse(input.output ?? 'null') });
    return {};
  });
  sfn.on(SendTaskFailureCommand).callsFake((input) => {
    tokens.settle(input.taskToken!, { ok: false, error: input.error ?? 'TaskFailed', cause: input.cause ?? '' });
    return {};
  });

  const events = mockClient(EventBridgeClient);
  events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-1' }] });

  // DynamoDB: a real one (dynalite in memory, test/helpers/dynamodb.ts), reached by the handlers' own
  // DynamoDBClient through AWS_ENDPOINT_URL_DYNAMODB. Each installed platform starts with empty
  // tables: the approvals table (hash key `approvalId`) and the single-flight lease table (`leaseId`),
  // under the names the handlers read (APPROVALS_TABLE, LEASE_TABLE).
  const dynamo = testDynamoDb();
  dynamo.resetTables([
    { name: tableName('APPROVALS_TABLE'), hashKey: 'approvalId' },
    { name: tableName('LEASE_TABLE'), hashKey: 'leaseId' },
  ]);

  const ssm = mockClient(SSMClient);
  ssm.on(GetParameterCommand).callsFake((input) => {
    const value = input.Name === plan.slack.signingSecretParameter ? SIGNING_SECRET : input.Name === plan.slack.botTokenParameter ? BOT_TOKEN : undefined;
    if (!value) throw Object.assign(new Error(`parameter ${input.Name} not found`), { name: 'ParameterNotFound' });
    return { Parameter: { Name: input.Name, Type: 'SecureString', Value: value } };
  });

  const slackMessages: Array<{ url: string; body: any }> = [];
  const probeUrls = new Set(plan.detection.probes.map((p) => p.url));
  const smokeUrls = new Set(plan.smokeTests.map((t) => t.url));
  const fetchSpy = jest.spyOn(globalThis, 'fetch').mockImplementation(async (url: string | URL | Request, init?: RequestInit) => {
    const u = String(url instanceof Request ? url.url : url);
    if (u.startsWith('https://slack.com/api/') || u.startsWith('https://hooks.slack.com/')) {
      slackMessages.push({ url: u, body: init?.body ? JSON.parse(String(init.body)) : undefined });
      if (!world.slackOk) return new Response(JSON.stringify({ ok: false, error: 'channel_not_found' }), { status: 200, headers: { 'content-type': 'application/json' } });
      return new Response(JSON.stringify({ ok: true, channel: plan.slack.channel, ts: `1700000000.${String(slackMessages.length).padStart(6, '0')}` }), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    }
    if (probeUrls.has(u)) {
      if (!world.probesUp) throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
      return new Response('ok', { status: 200 });
    }
    if (smokeUrls.has(u)) {
      const spec = plan.smokeTests.find((t) => t.url === u)!;
      return new Response('{}', { status: world.smokeStatus === 200 ? spec.expectStatus : world.smokeStatus });
    }
    throw new Error(`unexpected fetch in test: ${u}`);
  });

  const clients = { rds, cloudwatch, ecs, autoscaling, route53, arc, sfn, events, ssm };
  return {
    world,
    tokens,
    clients,
    /** Every item of a DynamoDB table as it is now, e.g. `await p.tableItems(process.env.LEASE_TABLE!)`. */
    tableItems: (table: string) => dynamo.items(table),
    slackMessages,
    fetchSpy,
    /** The Route 53 record sets of the plan's route53-record (by SetIdentifier; '' for a simple record), as last UPSERTed. */
    route53RecordSets,
    /** Every mutating command sent, as `Name` strings (for "drill sends no mutating command"). */
    mutatingCalls(): string[] {
      const all = [...rds.calls(), ...ecs.calls(), ...autoscaling.calls(), ...route53.calls(), ...arc.calls()];
      const names = new Set(MUTATING_COMMANDS.map((c) => c.name));
      return all.map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name).filter((n) => names.has(n));
    },
    eventDetailTypes(): string[] {
      return events.calls().flatMap((c) => ((c.args[0].input as { Entries?: Array<{ DetailType?: string }> }).Entries ?? []).map((e) => e.DetailType ?? ''));
    },
    restore(): void {
      for (const c of Object.values(clients)) c.restore();
      fetchSpy.mockRestore();
    },
  };
}
export type FakePlatform = ReturnType<typeof installFakePlatform>;
