/**
 * A small, stateful stand-in for the AWS control plane and the HTTP world the handlers talk to,
 * built on aws-sdk-client-mock (SDK commands) and a fetch spy (probes, smoke tests, Slack).
 *
 * The state machine tests run the real ASL with the real handlers on top of it: promoting the
 * database changes what DescribeDBInstances answers, changing the record changes what
 * ListResourceRecordSets answers, and so on. Every command is recorded so a test can assert on
 * what was (and what was not) sent.
 */
import { ApplicationAutoScalingClient, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { DescribeServicesCommand, ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  DescribeDBInstancesCommand,
  DescribeGlobalClustersCommand,
  FailoverGlobalClusterCommand,
  ModifyDBParameterGroupCommand,
  PromoteReadReplicaCommand,
  RDSClient,
  SwitchoverGlobalClusterCommand,
} from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand, GetChangeCommand, ListResourceRecordSetsCommand, Route53Client } from '@aws-sdk/client-route-53';
import { DescribeExecutionCommand, ListExecutionsCommand, SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { TaskTokens } from '../../lab/orchestrator';
import type { Plan } from '../../functions/core/plan';
import { applyUpdate, conditionHolds } from '../../lab/control-plane/dynamodb-expressions';

export const SIGNING_SECRET = 'test-signing-secret-0123456789abcdef';
export const BOT_TOKEN = 'xoxb-test-bot-token-do-not-log';

export interface World {
  /** The primary region's health endpoints answer (seen from the recovery region). */
  probesUp: boolean;
  /** The primary region's control plane (ECS, RDS) answers: fencing can be confirmed. */
  primaryControlPlaneUp: boolean;
  aurora: { writer: 'primary' | 'recovery'; status: string; lagMs: number | null; sync: string; promoteCompletes: boolean };
  rds: { isReplica: boolean; status: string; replication: string; lagSeconds: number | null; promoteCompletes: boolean };
  dns: { primaryWeight: number; recoveryWeight: number; pendingPolls: number };
  ecs: Record<string, { desired: number; running: number }>;
  alarms: Record<string, string>;
  smokeStatus: number;
  /** Recovery-region ECS tasks start (false: capacity never arrives). */
  ecsConverges: boolean;
  /** Slack's Web API accepts messages (false: ok:false channel_not_found). */
  slackOk: boolean;
  /** Other RUNNING executions of the state machine (for duplicate-start detection). */
  running: Array<{ executionArn: string; startDate: Date; input: unknown }>;
}

export const MUTATING_COMMANDS = [
  FailoverGlobalClusterCommand,
  SwitchoverGlobalClusterCommand,
  PromoteReadReplicaCommand,
  ModifyDBParameterGroupCommand,
  UpdateServiceCommand,
  ChangeResourceRecordSetsCommand,
  RegisterScalableTargetCommand,
] as const;

export function installFakePlatform(plan: Plan, overrides: Partial<World> = {}) {
  const world: World = {
    probesUp: false,
    primaryControlPlaneUp: true,
    aurora: { writer: 'primary', status: 'available', lagMs: 800, sync: 'connected', promoteCompletes: true },
    rds: { isReplica: true, status: 'available', replication: 'replicating', lagSeconds: 1, promoteCompletes: true },
    dns: { primaryWeight: 100, recoveryWeight: 0, pendingPolls: 1 },
    ecs: {},
    alarms: {},
    smokeStatus: 200,
    ecsConverges: true,
    slackOk: true,
    running: [],
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
  rds.on(DescribeDBInstancesCommand).callsFake((input) => {
    if (world.rds.status === 'modifying' && rdsPolls-- <= 0 && world.rds.promoteCompletes) world.rds.status = 'available';
    return {
      DBInstances: [
        {
          DBInstanceIdentifier: input.DBInstanceIdentifier,
          DBInstanceStatus: world.rds.status,
          ...(world.rds.isReplica ? { ReadReplicaSourceDBInstanceIdentifier: 'arn:aws:rds:us-east-1:111122223333:db:payments-accounts-use1' } : {}),
          StatusInfos: world.rds.isReplica ? [{ StatusType: 'read replication', Status: world.rds.replication, Normal: world.rds.replication === 'replicating' }] : [],
        },
      ],
    };
  });
  rds.on(PromoteReadReplicaCommand).callsFake(() => {
    world.rds.isReplica = false;
    world.rds.status = 'modifying';
    rdsPolls = 1;
    return {};
  });
  rds.on(ModifyDBParameterGroupCommand).callsFake(async (_input, getClient) => {
    if ((await regionOf(getClient as never)) === plan.primaryRegion && !world.primaryControlPlaneUp) throw unreachable();
    return { DBParameterGroupName: 'pg' };
  });

  const cloudwatch = mockClient(CloudWatchClient);
  cloudwatch.on(DescribeAlarmsCommand).callsFake((input) => ({
    MetricAlarms: (input.AlarmNames ?? []).map((name: string) => ({ AlarmName: name, StateValue: world.alarms[name] ?? 'OK' })),
  }));
  cloudwatch.on(GetMetricDataCommand).callsFake((input) => {
    const name = input.MetricDataQueries?.[0]?.MetricStat?.Metric?.MetricName;
    const value = name === 'AuroraGlobalDBReplicationLag' ? world.aurora.lagMs : world.rds.lagSeconds;
    return { MetricDataResults: [{ Id: 'm', Values: value === null ? [] : [value], Timestamps: value === null ? [] : [new Date()] }] };
  });

  const ecs = mockClient(ECSClient);
  ecs.on(DescribeServicesCommand).callsFake(async (input, getClient) => {
    const region = await regionOf(getClient as never);
    if (region === plan.primaryRegion && !world.primaryControlPlaneUp) throw unreachable();
    const key = `${region}:${input.cluster}/${input.services?.[0]}`;
    const svc = world.ecs[key];
    if (!svc) return { services: [], failures: [{ arn: key, reason: 'MISSING' }] };
    const result = { serviceName: input.services?.[0], status: 'ACTIVE', desiredCount: svc.desired, runningCount: svc.running, pendingCount: svc.desired - svc.running, deployments: [{ rolloutState: svc.running === svc.desired ? 'COMPLETED' : 'IN_PROGRESS' }] };
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

  const autoscaling = mockClient(ApplicationAutoScalingClient);
  autoscaling.on(RegisterScalableTargetCommand).callsFake(async (_input, getClient) => {
    if ((await regionOf(getClient as never)) === plan.primaryRegion && !world.primaryControlPlaneUp) throw unreachable();
    return {};
  });

  const route53 = mockClient(Route53Client);
  const rec = plan.traffic[0]!;
  route53.on(ListResourceRecordSetsCommand).callsFake(() => ({
    ResourceRecordSets: [
      { Name: `${rec.recordName}.`, Type: rec.recordType, SetIdentifier: rec.primary.setIdentifier, Weight: world.dns.primaryWeight, TTL: rec.ttl, ResourceRecords: [{ Value: 'value' in rec.primary ? rec.primary.value : '' }] },
      { Name: `${rec.recordName}.`, Type: rec.recordType, SetIdentifier: rec.recovery.setIdentifier, Weight: world.dns.recoveryWeight, TTL: rec.ttl, ResourceRecords: [{ Value: 'value' in rec.recovery ? rec.recovery.value : '' }] },
    ],
  }));
  route53.on(ChangeResourceRecordSetsCommand).callsFake((input) => {
    for (const change of input.ChangeBatch?.Changes ?? []) {
      const set = change.ResourceRecordSet;
      if (set?.SetIdentifier === rec.primary.setIdentifier) world.dns.primaryWeight = set.Weight ?? 0;
      if (set?.SetIdentifier === rec.recovery.setIdentifier) world.dns.recoveryWeight = set.Weight ?? 0;
    }
    changeSeq += 1;
    return { ChangeInfo: { Id: `/change/C${changeSeq}`, Status: 'PENDING', SubmittedAt: new Date() } };
  });
  route53.on(GetChangeCommand).callsFake((input) => {
    const status = world.dns.pendingPolls-- > 0 ? 'PENDING' : 'INSYNC';
    return { ChangeInfo: { Id: input.Id, Status: status, SubmittedAt: new Date() } };
  });

  const sfn = mockClient(SFNClient);
  sfn.on(ListExecutionsCommand).callsFake(() => ({ executions: world.running.map((r) => ({ executionArn: r.executionArn, startDate: r.startDate, status: 'RUNNING' })) }));
  sfn.on(DescribeExecutionCommand).callsFake((input) => {
    const found = world.running.find((r) => r.executionArn === input.executionArn);
    return { executionArn: input.executionArn, input: JSON.stringify(found?.input ?? {}), status: 'RUNNING' };
  });
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

  const table = new Map<string, Record<string, AttributeValue>>();
  const dynamodb = mockClient(DynamoDBClient);
  const keyOf = (key: Record<string, AttributeValue> | undefined) => JSON.stringify(key?.approvalId);
  dynamodb.on(PutItemCommand).callsFake((input) => {
    const k = JSON.stringify(input.Item?.approvalId);
    if (!conditionHolds(table.get(k), input.ConditionExpression, input.ExpressionAttributeNames, input.ExpressionAttributeValues)) {
      throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
    }
    table.set(k, { ...input.Item });
    return {};
  });
  dynamodb.on(GetItemCommand).callsFake((input) => ({ Item: table.get(keyOf(input.Key)) }));
  dynamodb.on(UpdateItemCommand).callsFake((input) => {
    const k = keyOf(input.Key);
    const current = table.get(k);
    if (!conditionHolds(current, input.ConditionExpression, input.ExpressionAttributeNames, input.ExpressionAttributeValues)) {
      throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
    }
    const item = { ...(current ?? { approvalId: input.Key!.approvalId! }) };
    if (input.UpdateExpression !== undefined) applyUpdate(item, input.UpdateExpression, input.ExpressionAttributeNames, input.ExpressionAttributeValues);
    table.set(k, item);
    return { Attributes: item };
  });

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

  const clients = { rds, cloudwatch, ecs, autoscaling, route53, sfn, events, dynamodb, ssm };
  return {
    world,
    tokens,
    clients,
    table,
    slackMessages,
    fetchSpy,
    /** Every mutating command sent, as `Name` strings (for "drill sends no mutating command"). */
    mutatingCalls(): string[] {
      const all = [...rds.calls(), ...ecs.calls(), ...autoscaling.calls(), ...route53.calls()];
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
