/**
 * The lab's simulated control plane, spoken to by the real SDK v3 clients: every operation the
 * handlers use round-trips (request fields reach the backend, typed response fields come back),
 * backend errors arrive as the SDK's named exceptions, an unreachable region is a network error,
 * and AWS_ENDPOINT_URL points unmodified handler code at it. (Clients other than the SDK — the
 * AWS CLI, hand-built requests — are in control-plane-cli.test.ts.)
 */
import { execFileSync } from 'node:child_process';
import { ApplicationAutoScalingClient, DescribeScalableTargetsCommand } from '@aws-sdk/client-application-auto-scaling';
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeServicesCommand, ECSClient, ListClustersCommand, ServiceNotFoundException, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  DBInstanceNotFoundFault,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DescribeGlobalClustersCommand,
  InvalidDBInstanceStateFault,
  ModifyDBParameterGroupCommand,
  PromoteReadReplicaCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand, GetChangeCommand, ListHostedZonesCommand, ListResourceRecordSetsCommand, NoSuchChange, Route53Client } from '@aws-sdk/client-route-53';
import { DescribeExecutionCommand, InvalidOutput, ListExecutionsCommand, SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, TaskTimedOut } from '@aws-sdk/client-sfn';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import {
  AwsApiError,
  type CallContext,
  type ControlPlaneBackend,
  type DbInstanceView,
  type ExecutionView,
  type MetricDatum,
  type MetricQuery,
  type RawJsonRequest,
  type Reachability,
  type RecordSetView,
  type ServiceView,
} from '../../local/aws/backend';
import { DynamoLocal } from '../../local/aws/dynamodb-local';
import { RecordStore, type Change } from '../../lab/control-plane/route53';
import { startControlPlane, type ControlPlane } from '../../lab/control-plane/server';
import * as ecsAdapter from '../../functions/adapters/ecs-service';
import * as rdsAdapter from '../../functions/adapters/rds-replica';
import * as route53Adapter from '../../functions/adapters/route53-record';
import * as approvals from '../../functions/slack/approvals-store';
import { acquire } from '../../functions/core/single-flight';
import type { Route53RecordResource } from '../../functions/core/plan';
import { readSecret } from '../../functions/slack/secrets';
import { clientConfig } from '../../functions/core/clients';
import { examplePlan, ROOT } from '../helpers/plan';

const credentials = { accessKeyId: 'lab', secretAccessKey: 'lab' };

/** A small in-memory backend: records every call, answers from plain maps. */
class FakeBackend implements ControlPlaneBackend {
  seen: Array<{ method: string; ctx: CallContext; args: unknown[] }> = [];
  down = new Set<string>(['us-east-1']);
  dbs = new Map<string, DbInstanceView>([
    [
      'accounts-euw1',
      {
        DBInstanceIdentifier: 'accounts-euw1',
        DBInstanceStatus: 'available',
        ReadReplicaSourceDBInstanceIdentifier: 'arn:aws:rds:us-east-1:000000000000:db:accounts-use1',
        StatusInfos: [{ StatusType: 'read replication', Status: 'replicating', Normal: true }],
      },
    ],
  ]);
  /** Route 53 semantics (Action / Name / Type / SetIdentifier) come from the lab's real record store. */
  records = new RecordStore();
  setRecords(records: RecordSetView[]): void {
    this.records.addZone('Z0123456789', records);
  }
  changes = new Map<string, { Id: string; Status: 'PENDING' | 'INSYNC'; SubmittedAt: Date }>();
  services = new Map<string, ServiceView>([
    [
      'payments-euw1/api',
      {
        serviceName: 'api',
        status: 'ACTIVE',
        desiredCount: 2,
        runningCount: 2,
        pendingCount: 0,
        deployments: [{ status: 'PRIMARY', rolloutState: 'COMPLETED', desiredCount: 2, runningCount: 2 }],
      },
    ],
  ]);
  executions: ExecutionView[] = [1, 2, 3].map((i) => ({
    executionArn: `arn:aws:states:eu-west-1:000000000000:execution:failover:run-${i}`,
    stateMachineArn: 'arn:aws:states:eu-west-1:000000000000:stateMachine:failover',
    name: `run-${i}`,
    status: 'RUNNING' as const,
    startDate: new Date(Date.UTC(2025, 2, 4, 10, 0, i, 250)),
    input: JSON.stringify({ mode: i === 2 ? 'drill' : 'failover' }),
  }));
  dynamo = new DynamoLocal();
  blackholed = new Set<string>();
  metricData: MetricDatum[] = [];
  failNext?: Error;

  private note(method: string, ctx: CallContext, ...args: unknown[]): void {
    this.seen.push({ method, ctx, args });
    const fail = this.failNext;
    this.failNext = undefined;
    if (fail) throw fail;
  }
  last(method: string) {
    return [...this.seen].reverse().find((s) => s.method === method);
  }

  reachable(call: CallContext): Reachability {
    if (this.down.has(call.region)) return 'refuse';
    return this.blackholed.has(call.region) ? 'hang' : 'ok';
  }
  async describeDBInstances(ctx: CallContext, id: string) {
    this.note('describeDBInstances', ctx, id);
    const db = this.dbs.get(id);
    if (!db) throw new AwsApiError('DBInstanceNotFound', `DBInstance ${id} not found.`, 404);
    return db;
  }
  async promoteReadReplica(ctx: CallContext, id: string, retention?: number) {
    this.note('promoteReadReplica', ctx, id, retention);
    const db = await this.describeDBInstances(ctx, id);
    if (!db.ReadReplicaSourceDBInstanceIdentifier) throw new AwsApiError('InvalidDBInstanceState', `DB Instance ${id} is not a read replica.`);
    const next: DbInstanceView = { DBInstanceIdentifier: id, DBInstanceStatus: 'modifying' };
    this.dbs.set(id, next);
    return next;
  }
  async modifyDBParameterGroup(ctx: CallContext, name: string, parameters: Array<{ ParameterName: string; ParameterValue: string; ApplyMethod?: string }>) {
    this.note('modifyDBParameterGroup', ctx, name, parameters);
  }
  async describeAlarms(ctx: CallContext, names: string[]) {
    this.note('describeAlarms', ctx, names);
    return [
      { AlarmName: 'api-health', StateValue: 'ALARM' as const },
      { AlarmName: 'region-composite', StateValue: 'OK' as const, AlarmType: 'CompositeAlarm' as const },
    ].filter((a) => names.length === 0 || names.includes(a.AlarmName));
  }
  async getMetricData(ctx: CallContext, q: MetricQuery) {
    this.note('getMetricData', ctx, q);
    return q.name === 'ReplicaLag' ? this.metricData.filter((d) => d.at >= q.start && d.at < q.end) : [];
  }
  async listResourceRecordSets(ctx: CallContext, zoneId: string) {
    this.note('listResourceRecordSets', ctx, zoneId);
    return this.records.list(zoneId);
  }
  async changeResourceRecordSets(ctx: CallContext, zoneId: string, changes: Change[]) {
    this.note('changeResourceRecordSets', ctx, zoneId, changes);
    this.records.apply(zoneId, changes);
    const info = { Id: `/change/C${this.changes.size + 1}`, Status: 'PENDING' as const, SubmittedAt: new Date(Date.UTC(2025, 2, 4, 10, 1, 2, 345)) };
    this.changes.set(info.Id.replace('/change/', ''), info);
    return info;
  }
  async getChange(ctx: CallContext, id: string) {
    this.note('getChange', ctx, id);
    const info = this.changes.get(id);
    if (!info) throw new AwsApiError('NoSuchChange', `A change with the specified change ID does not exist: ${id}`, 404);
    return { ...info, Status: 'INSYNC' as const };
  }
  async describeServices(ctx: CallContext, cluster: string, services: string[]) {
    this.note('describeServices', ctx, cluster, services);
    const found = services.map((s) => this.services.get(`${cluster}/${s}`));
    return {
      services: found.filter((s): s is ServiceView => !!s),
      failures: services.filter((_s, i) => !found[i]).map((s) => ({ arn: `arn:aws:ecs:${ctx.region}:000000000000:service/${cluster}/${s}`, reason: 'MISSING' })),
    };
  }
  async updateService(ctx: CallContext, cluster: string, service: string, desiredCount: number) {
    this.note('updateService', ctx, cluster, service, desiredCount);
    const s = this.services.get(`${cluster}/${service}`);
    if (!s) throw new AwsApiError('ServiceNotFoundException', 'Service not found.');
    const next = { ...s, desiredCount, deployments: [{ status: 'PRIMARY', rolloutState: 'IN_PROGRESS' as const, desiredCount, runningCount: s.runningCount }] };
    this.services.set(`${cluster}/${service}`, next);
    return next;
  }
  async listExecutions(ctx: CallContext, stateMachineArn: string, statusFilter?: string) {
    this.note('listExecutions', ctx, stateMachineArn, statusFilter);
    return this.executions.filter((e) => e.stateMachineArn === stateMachineArn && (!statusFilter || e.status === statusFilter));
  }
  async describeExecution(ctx: CallContext, executionArn: string) {
    this.note('describeExecution', ctx, executionArn);
    const e = this.executions.find((x) => x.executionArn === executionArn);
    if (!e) throw new AwsApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return e;
  }
  async sendTaskSuccess(ctx: CallContext, taskToken: string, output: string) {
    this.note('sendTaskSuccess', ctx, taskToken, output);
    if (taskToken === 'expired') throw new AwsApiError('TaskTimedOut', 'Task Timed Out');
  }
  async sendTaskFailure(ctx: CallContext, taskToken: string, error?: string, cause?: string) {
    this.note('sendTaskFailure', ctx, taskToken, error, cause);
  }
  async putEvents(ctx: CallContext, entries: Array<{ Source?: string; DetailType?: string; Detail?: string; EventBusName?: string; Resources?: string[]; Time?: Date }>) {
    this.note('putEvents', ctx, entries);
    return entries.map((e, i) => (e.EventBusName === 'missing' ? { ErrorCode: 'InternalFailure', ErrorMessage: 'no such bus' } : { EventId: `event-${i + 1}` }));
  }
  async dynamodb(ctx: CallContext, req: RawJsonRequest) {
    this.note('dynamodb', ctx, req.target);
    return this.dynamo.forward(req);
  }
  async getParameter(ctx: CallContext, name: string, withDecryption: boolean) {
    this.note('getParameter', ctx, name, withDecryption);
    if (name !== '/failover/slack/bot-token') throw new AwsApiError('ParameterNotFound', '');
    return { Name: name, Type: 'SecureString' as const, Value: withDecryption ? 'xoxb-lab-token' : 'AQICAH-encrypted', Version: 3 };
  }
}

let backend: FakeBackend;
let plane: ControlPlane;
const logLines: string[] = [];

const savedEnv = { AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL, APPROVALS_TABLE: process.env.APPROVALS_TABLE, LEASE_TABLE: process.env.LEASE_TABLE };

beforeAll(async () => {
  backend = new FakeBackend();
  backend.setRecords([
    { Name: 'api.example.com.', Type: 'CNAME', SetIdentifier: 'us-east-1', Weight: 100, TTL: 60, ResourceRecords: [{ Value: 'api-use1.example.com' }], HealthCheckId: 'hc-1' },
    { Name: 'api.example.com.', Type: 'CNAME', SetIdentifier: 'eu-west-1', Weight: 0, TTL: 60, ResourceRecords: [{ Value: 'api-euw1.example.com' }] },
    { Name: 'www.example.com', Type: 'A', AliasTarget: { DNSName: 'd123.cloudfront.net', HostedZoneId: 'Z2FDTNDATAQYW2', EvaluateTargetHealth: false } },
  ]);
  await backend.dynamo.ensureTable('approvals', 'approvalId');
  await backend.dynamo.ensureTable('leases', 'leaseId');
  plane = await startControlPlane(backend, { log: (line) => logLines.push(line) });
  // How the lab points the unmodified handlers at it. functions/core/clients.ts creates (and caches)
  // its clients at first use, which is after this.
  process.env.AWS_ENDPOINT_URL = plane.url;
  process.env.APPROVALS_TABLE = 'approvals';
  process.env.LEASE_TABLE = 'leases';
});

afterAll(async () => {
  await plane.close();
  await backend.dynamo.close();
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

/** A client of any service pointed at the control plane, failing fast. */
function client<T>(Ctor: new (config: Record<string, unknown>) => T, region = 'eu-west-1'): T {
  return new Ctor({ region, endpoint: plane.url, credentials, maxAttempts: 1, requestHandler: { requestTimeout: 2_000, connectionTimeout: 1_000 } });
}

/** Polls until `check` holds (bounded by the test's own timeout). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 10));
}

async function caught(p: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number }; $fault?: string; code?: string; Item?: unknown }> {
  try {
    await p;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

describe('server', () => {
  it('binds to 127.0.0.1 on a free port and records every call with region, signing service and operation', async () => {
    expect(plane.url).toBe(`http://127.0.0.1:${plane.port}`);
    expect(plane.port).toBeGreaterThan(0);
    const before = plane.calls.length;
    await client(RDSClient).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'accounts-euw1' }));
    expect(plane.calls.slice(before)).toEqual([{ region: 'eu-west-1', service: 'rds', operation: 'DescribeDBInstances', at: expect.any(Number), status: 200 }]);
    expect(backend.last('describeDBInstances')!.ctx).toEqual({ region: 'eu-west-1', service: 'rds', operation: 'DescribeDBInstances' });
    expect(logLines.some((l) => l.startsWith('eu-west-1 rds DescribeDBInstances 200'))).toBe(true);
  });

  it('drops the connection when the backend says the region is unreachable: the SDK sees a transient network error, not a timeout', async () => {
    const before = plane.calls.length;
    const error = await caught(client(ECSClient, 'us-east-1').send(new DescribeServicesCommand({ cluster: 'payments-use1', services: ['api'] })));
    // Under jest the SDK wraps Node's socket error ("AWS SDK error wrapper for TimeoutError: socket hang up"):
    // it comes from Node's own realm, so `instanceof Error` fails in jest's sandbox. The next test checks plain Node.
    expect(error.message).toMatch(/socket hang up|ECONNRESET/);
    expect(plane.calls.slice(before)).toEqual([{ region: 'us-east-1', service: 'ecs', operation: 'DescribeServices', at: expect.any(Number), status: 0, unanswered: 'refused' }]);
  });

  it('holds requests to a blackholed region unanswered: a client built with clientConfig() ends with TimeoutError, and the record shows every attempt held until the client gave up', async () => {
    backend.blackholed.add('ap-south-1');
    try {
      const before = plane.calls.length;
      const ecs = new ECSClient({ ...clientConfig('ap-south-1', { connectionTimeoutMs: 500, requestTimeoutMs: 400, maxAttempts: 2 }), endpoint: plane.url, credentials });
      const error = await caught(ecs.send(new DescribeServicesCommand({ cluster: 'payments-aps1', services: ['api'] })));
      expect(error.name).toBe('TimeoutError');
      const attempts = plane.calls.slice(before);
      expect(attempts).toHaveLength(2);
      await until(() => attempts.every((a) => a.closedAt !== undefined)); // the server sees the client's close a moment later
      for (const a of attempts) {
        expect(a).toMatchObject({ region: 'ap-south-1', service: 'ecs', operation: 'DescribeServices', status: 0, unanswered: 'held' });
        // Closed by the client (its request timeout), never answered by the server.
        expect(a.closedAt).toBeGreaterThanOrEqual(a.at);
      }
      expect(backend.seen.some((x) => x.ctx.region === 'ap-south-1')).toBe(false);
    } finally {
      backend.blackholed.delete('ap-south-1');
    }
  });

  it('close() does not wait on a held request: the client sees the connection end', async () => {
    const own = await startControlPlane({ ...backend, reachable: () => 'hang' } as unknown as ControlPlaneBackend);
    const ecs = new ECSClient({ region: 'eu-west-1', endpoint: own.url, credentials, maxAttempts: 1 }); // no timeout of its own
    const pending = caught(ecs.send(new DescribeServicesCommand({ cluster: 'c', services: ['s'] })));
    while (own.calls.length === 0) await new Promise((r) => setTimeout(r, 10));
    await own.close();
    const error = await pending;
    expect(error.message).toMatch(/socket hang up|ECONNRESET/);
    await until(() => own.calls[0]?.closedAt !== undefined);
    expect(own.calls).toEqual([expect.objectContaining({ unanswered: 'held', closedAt: expect.any(Number) })]);
  });

  it('in plain Node (how the lab runs), the dropped connection is ECONNRESET, which the handlers classify as transient', () => {
    const script = `
      const { requireTs } = require('./scripts/lib/require-ts.js');
      const { startControlPlane } = requireTs('lab/control-plane/server.ts');
      const { isTransient, toNamedAwsError } = requireTs('functions/core/errors.ts');
      const { ECSClient, DescribeServicesCommand } = require('@aws-sdk/client-ecs');
      (async () => {
        const plane = await startControlPlane({ reachable: () => 'refuse' });
        const ecs = new ECSClient({ region: 'us-east-1', endpoint: plane.url, credentials: { accessKeyId: 'lab', secretAccessKey: 'lab' }, maxAttempts: 1 });
        try {
          await ecs.send(new DescribeServicesCommand({ cluster: 'c', services: ['s'] }));
        } catch (e) {
          console.log(JSON.stringify({ name: e.name, code: e.code, transient: isTransient(e), named: toNamedAwsError(e, 'x').name }));
        }
        await plane.close();
      })();`;
    const out = execFileSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ name: 'TimeoutError', code: 'ECONNRESET', transient: true, named: 'TransientAwsError' });
  });

  it('answers an operation it does not implement with a loud, named error in each protocol', async () => {
    const rds = await caught(client(RDSClient).send(new DescribeDBClustersCommand({})));
    expect(rds.name).toBe('InvalidAction');
    expect(rds.message).toContain('DescribeDBClusters');
    const ecs = await caught(client(ECSClient).send(new ListClustersCommand({})));
    expect(ecs.name).toBe('UnknownOperationException');
    expect(ecs.message).toContain('ListClusters');
    const r53 = await caught(client(Route53Client).send(new ListHostedZonesCommand({})));
    expect(r53.name).toBe('UnknownOperationException');
    expect(r53.message).toContain('GET /2013-04-01/hostedzone');
    // An operation this backend does not model (the fake has no Application Auto Scaling).
    const aas = await caught(client(ApplicationAutoScalingClient).send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'ecs' })));
    expect(aas.name).toBe('UnknownOperationException');
    expect(aas.message).toContain('describeScalableTargets');
  });

  it('never touches the backend before a request arrives (the lab swaps backends behind one server)', async () => {
    const untouchable = new Proxy({} as ControlPlaneBackend, {
      get: () => {
        throw new Error('no lab is running');
      },
    });
    const own = await startControlPlane(untouchable);
    const error = await caught(
      new SFNClient({ region: 'eu-west-1', endpoint: own.url, credentials, maxAttempts: 1 }).send(new DescribeExecutionCommand({ executionArn: 'arn:x' })),
    );
    expect(error.name).toBe('InternalFailure');
    await own.close();
  });

  it('turns any other backend failure into a 500 InternalFailure (server fault, transient)', async () => {
    backend.failNext = new Error('boom');
    const error = await caught(client(SFNClient).send(new DescribeExecutionCommand({ executionArn: backend.executions[0]!.executionArn })));
    expect(error.name).toBe('InternalFailure');
    expect(error.$fault).toBe('server');
    expect(error.$metadata?.httpStatusCode).toBe(500);
    expect(error.message).toContain('boom');
  });

  it('does not mistake inherited object properties for operations', async () => {
    const authorization = 'AWS4-HMAC-SHA256 Credential=lab/20250304/eu-west-1/rds/aws4_request, SignedHeaders=host, Signature=0';
    const res = await fetch(plane.url, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=toString&Version=2014-10-31',
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('<Code>InvalidAction</Code>');
  });

  it('refuses unsigned requests', async () => {
    const res = await fetch(plane.url, { method: 'POST', headers: { 'x-amz-target': 'AmazonSSM.GetParameter', 'content-type': 'application/x-amz-json-1.1' }, body: '{}' });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ __type: 'MissingAuthenticationToken' });
  });
});

describe('RDS (awsQuery)', () => {
  it('DescribeDBInstances', async () => {
    const out = await client(RDSClient).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'accounts-euw1' }));
    expect(backend.last('describeDBInstances')!.args).toEqual(['accounts-euw1']);
    expect(out.DBInstances).toEqual([
      {
        DBInstanceIdentifier: 'accounts-euw1',
        DBInstanceArn: 'arn:aws:rds:eu-west-1:000000000000:db:accounts-euw1',
        DBInstanceStatus: 'available',
        ReadReplicaSourceDBInstanceIdentifier: 'arn:aws:rds:us-east-1:000000000000:db:accounts-use1',
        StatusInfos: [{ StatusType: 'read replication', Status: 'replicating', Normal: true }],
      },
    ]);
  });

  it('DBInstanceNotFound arrives as DBInstanceNotFoundFault (404)', async () => {
    const error = await caught(client(RDSClient).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'nope' })));
    expect(error).toBeInstanceOf(DBInstanceNotFoundFault);
    expect(error.name).toBe('DBInstanceNotFoundFault');
    expect(error.message).toBe('DBInstance nope not found.');
    expect(error.$metadata?.httpStatusCode).toBe(404);
  });

  it('PromoteReadReplica, then InvalidDBInstanceState arrives as InvalidDBInstanceStateFault', async () => {
    backend.dbs.set('promote-me', { DBInstanceIdentifier: 'promote-me', DBInstanceStatus: 'available', ReadReplicaSourceDBInstanceIdentifier: 'src' });
    const out = await client(RDSClient).send(new PromoteReadReplicaCommand({ DBInstanceIdentifier: 'promote-me', BackupRetentionPeriod: 7 }));
    expect(backend.last('promoteReadReplica')!.args).toEqual(['promote-me', 7]);
    expect(out.DBInstance).toMatchObject({ DBInstanceIdentifier: 'promote-me', DBInstanceStatus: 'modifying' });
    expect(out.DBInstance!.ReadReplicaSourceDBInstanceIdentifier).toBeUndefined();

    const error = await caught(client(RDSClient).send(new PromoteReadReplicaCommand({ DBInstanceIdentifier: 'promote-me' })));
    expect(backend.last('promoteReadReplica')!.args).toEqual(['promote-me', undefined]);
    expect(error).toBeInstanceOf(InvalidDBInstanceStateFault);
    expect(error.name).toBe('InvalidDBInstanceStateFault');
    expect(error.$metadata?.httpStatusCode).toBe(400);
  });

  it('the modelled name also works as the code (InvalidDBInstanceStateFault), but the wire code is InvalidDBInstanceState', async () => {
    backend.failNext = new AwsApiError('InvalidDBInstanceStateFault', 'x');
    const error = await caught(client(RDSClient).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'accounts-euw1' })));
    expect(error.name).toBe('InvalidDBInstanceStateFault');
  });

  it('ModifyDBParameterGroup', async () => {
    const out = await client(RDSClient, 'us-west-2').send(
      new ModifyDBParameterGroupCommand({
        DBParameterGroupName: 'pg15',
        Parameters: [
          { ParameterName: 'default_transaction_read_only', ParameterValue: '1', ApplyMethod: 'immediate' },
          { ParameterName: 'work_mem', ParameterValue: '64MB' },
        ],
      }),
    );
    expect(out.DBParameterGroupName).toBe('pg15');
    const seen = backend.last('modifyDBParameterGroup')!;
    expect(seen.ctx.region).toBe('us-west-2');
    expect(seen.args).toEqual([
      'pg15',
      [
        { ParameterName: 'default_transaction_read_only', ParameterValue: '1', ApplyMethod: 'immediate' },
        { ParameterName: 'work_mem', ParameterValue: '64MB' },
      ],
    ]);
  });

  it('DescribeGlobalClusters answers an empty list', async () => {
    const out = await client(RDSClient).send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: 'g' }));
    expect(out.GlobalClusters).toEqual([]);
  });
});

describe('CloudWatch (awsJson1_0, query-compatible)', () => {
  it('DescribeAlarms splits metric and composite alarms', async () => {
    const out = await client(CloudWatchClient).send(
      new DescribeAlarmsCommand({ AlarmNames: ['api-health', 'region-composite', 'missing'], AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] }),
    );
    expect(backend.last('describeAlarms')!.args).toEqual([['api-health', 'region-composite', 'missing']]);
    expect(out.MetricAlarms).toEqual([{ AlarmName: 'api-health', StateValue: 'ALARM', AlarmArn: 'arn:aws:cloudwatch:eu-west-1:000000000000:alarm:api-health' }]);
    expect(out.CompositeAlarms).toEqual([{ AlarmName: 'region-composite', StateValue: 'OK', AlarmArn: 'arn:aws:cloudwatch:eu-west-1:000000000000:alarm:region-composite' }]);
    const metricOnly = await client(CloudWatchClient).send(new DescribeAlarmsCommand({ AlarmNames: ['api-health', 'region-composite'] }));
    expect(metricOnly.MetricAlarms!.map((a) => a.AlarmName)).toEqual(['api-health']);
    expect(metricOnly.CompositeAlarms).toBeUndefined();
  });

  it('GetMetricData aggregates the stored datapoints by Period and Stat: buckets from the start rounded to the minute, stamped with their start, newest first (API_GetMetricData)', async () => {
    const at = (iso: string, value: number): MetricDatum => ({ at: new Date(iso), values: [{ value, count: 1 }] });
    backend.metricData = [
      at('2025-03-04T10:02:10Z', 8),
      at('2025-03-04T10:03:20Z', 5),
      at('2025-03-04T10:04:30Z', 3),
      at('2025-03-04T10:04:50Z', 7),
      at('2025-03-04T10:05:40Z', 99),
    ];
    const end = new Date('2025-03-04T10:05:30.500Z');
    const start = new Date(end.getTime() - 300_000);
    const query = (stat: string, period: number, scanBy?: 'TimestampAscending') =>
      client(CloudWatchClient).send(
        new GetMetricDataCommand({
          StartTime: start,
          EndTime: end,
          ...(scanBy ? { ScanBy: scanBy } : {}),
          MetricDataQueries: [
            {
              Id: 'm',
              MetricStat: {
                Metric: { Namespace: 'AWS/RDS', MetricName: 'ReplicaLag', Dimensions: [{ Name: 'DBInstanceIdentifier', Value: 'accounts-euw1' }] },
                Period: period,
                Stat: stat,
              },
            },
          ],
        }),
      );
    const max = await query('Maximum', 60);
    expect(backend.last('getMetricData')!.args).toEqual([{ namespace: 'AWS/RDS', name: 'ReplicaLag', dimensions: { DBInstanceIdentifier: 'accounts-euw1' }, start, end }]);
    const result = max.MetricDataResults![0]!;
    // 10:05:40 is past EndTime (exclusive); 10:04 holds 3 and 7.
    expect(result).toMatchObject({ Id: 'm', Label: 'ReplicaLag', Values: [7, 5, 8], StatusCode: 'Complete' });
    expect(result.Timestamps).toEqual([new Date('2025-03-04T10:04:00Z'), new Date('2025-03-04T10:03:00Z'), new Date('2025-03-04T10:02:00Z')]);
    expect(result.Timestamps![0]).toBeInstanceOf(Date);
    expect((await query('Average', 60)).MetricDataResults![0]!.Values).toEqual([5, 5, 8]);
    expect((await query('SampleCount', 60)).MetricDataResults![0]!.Values).toEqual([2, 1, 1]);
    expect((await query('Minimum', 60, 'TimestampAscending')).MetricDataResults![0]).toMatchObject({ Values: [8, 5, 3] });
    // One 5-minute bucket from 10:00 (the start rounded down to the minute): every datapoint before EndTime.
    const five = (await query('Sum', 300)).MetricDataResults![0]!;
    expect(five).toMatchObject({ Values: [23], Timestamps: [new Date('2025-03-04T10:00:00Z')] });
    const bad = await caught(query('Maximum', 7));
    expect(bad.name).toBe('InvalidParameterValueException');
  });

  it('an error arrives by its code (query-compatible JSON)', async () => {
    backend.failNext = new AwsApiError('InvalidParameterValue', 'bad dimension');
    const error = await caught(client(CloudWatchClient).send(new DescribeAlarmsCommand({ AlarmNames: ['x'] })));
    expect(error.name).toBe('InvalidParameterValueException');
    expect(error.message).toBe('bad dimension');
  });
});

describe('Route 53 (restXml)', () => {
  const r53 = () => client(Route53Client, 'eu-west-1');

  it('ListResourceRecordSets lists in Route 53 order (reversed labels, type, identifier) from name / type on, and pages with NextRecord* until IsTruncated is false', async () => {
    const out = await r53().send(
      new ListResourceRecordSetsCommand({ HostedZoneId: '/hostedzone/Z0123456789', StartRecordName: 'api.example.com', StartRecordType: 'CNAME', MaxItems: 10 }),
    );
    expect(backend.last('listResourceRecordSets')!.args).toEqual(['Z0123456789']);
    expect(out.IsTruncated).toBe(false);
    expect(out.MaxItems).toBe(10);
    expect(out.ResourceRecordSets).toEqual([
      { Name: 'api.example.com.', Type: 'CNAME', SetIdentifier: 'eu-west-1', Weight: 0, TTL: 60, ResourceRecords: [{ Value: 'api-euw1.example.com' }] },
      { Name: 'api.example.com.', Type: 'CNAME', SetIdentifier: 'us-east-1', Weight: 100, TTL: 60, ResourceRecords: [{ Value: 'api-use1.example.com' }], HealthCheckId: 'hc-1' },
      { Name: 'www.example.com.', Type: 'A', AliasTarget: { DNSName: 'd123.cloudfront.net.', HostedZoneId: 'Z2FDTNDATAQYW2', EvaluateTargetHealth: false } },
    ]);
    const fromWww = await r53().send(new ListResourceRecordSetsCommand({ HostedZoneId: 'Z0123456789', StartRecordName: 'www.example.com' }));
    expect(fromWww.ResourceRecordSets!.map((r) => r.Name)).toEqual(['www.example.com.']);

    // Paging by one: each page starts where the previous one said, and the walk ends.
    const seen: string[] = [];
    let next: { StartRecordName?: string; StartRecordType?: 'CNAME' | 'A'; StartRecordIdentifier?: string } = {};
    for (let pages = 0; pages < 10; pages += 1) {
      const page = await r53().send(new ListResourceRecordSetsCommand({ HostedZoneId: 'Z0123456789', MaxItems: 1, ...next }));
      expect(page.ResourceRecordSets).toHaveLength(1);
      seen.push(`${page.ResourceRecordSets![0]!.Name} ${page.ResourceRecordSets![0]!.SetIdentifier ?? ''}`);
      if (!page.IsTruncated) break;
      next = { StartRecordName: page.NextRecordName, StartRecordType: page.NextRecordType as 'CNAME', StartRecordIdentifier: page.NextRecordIdentifier };
    }
    expect(seen).toEqual(['api.example.com. eu-west-1', 'api.example.com. us-east-1', 'www.example.com. ']);
  });

  it('ChangeResourceRecordSets parses the change batch; GetChange takes the id with or without /change/', async () => {
    const out = await r53().send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: 'Z0123456789',
        ChangeBatch: {
          Comment: 'failover <to> eu & back',
          Changes: [
            {
              Action: 'UPSERT',
              ResourceRecordSet: {
                Name: 'api.example.com',
                Type: 'CNAME',
                SetIdentifier: 'us-east-1',
                Weight: 0,
                TTL: 60,
                ResourceRecords: [{ Value: 'api-use1.example.com' }],
                HealthCheckId: 'hc-1',
              },
            },
            {
              Action: 'UPSERT',
              ResourceRecordSet: {
                Name: 'www.example.com',
                Type: 'A',
                AliasTarget: { DNSName: 'eu.example.net', HostedZoneId: '/hostedzone/Z32O12XQLNTSW2', EvaluateTargetHealth: true },
              },
            },
          ],
        },
      }),
    );
    expect(backend.last('changeResourceRecordSets')!.args).toEqual([
      'Z0123456789',
      [
        {
          Action: 'UPSERT',
          ResourceRecordSet: {
            Name: 'api.example.com',
            Type: 'CNAME',
            SetIdentifier: 'us-east-1',
            Weight: 0,
            TTL: 60,
            ResourceRecords: [{ Value: 'api-use1.example.com' }],
            HealthCheckId: 'hc-1',
          },
        },
        {
          Action: 'UPSERT',
          ResourceRecordSet: { Name: 'www.example.com', Type: 'A', AliasTarget: { DNSName: 'eu.example.net', HostedZoneId: 'Z32O12XQLNTSW2', EvaluateTargetHealth: true } },
        },
      ],
    ]);
    expect(out.ChangeInfo).toEqual({ Id: '/change/C1', Status: 'PENDING', SubmittedAt: new Date(Date.UTC(2025, 2, 4, 10, 1, 2, 345)), Comment: 'failover <to> eu & back' });
    // UPSERT replaced the whole set with what was sent.
    const listed = await r53().send(new ListResourceRecordSetsCommand({ HostedZoneId: 'Z0123456789', StartRecordName: 'www.example.com' }));
    expect(listed.ResourceRecordSets![0]!.AliasTarget).toEqual({ DNSName: 'eu.example.net.', HostedZoneId: 'Z32O12XQLNTSW2', EvaluateTargetHealth: true });

    const withPrefix = await r53().send(new GetChangeCommand({ Id: '/change/C1' }));
    expect(backend.last('getChange')!.args).toEqual(['C1']);
    expect(withPrefix.ChangeInfo).toMatchObject({ Id: '/change/C1', Status: 'INSYNC' });
    expect(withPrefix.ChangeInfo!.SubmittedAt).toBeInstanceOf(Date);
    const bare = await r53().send(new GetChangeCommand({ Id: 'C1' }));
    expect(backend.last('getChange')!.args).toEqual(['C1']);
    expect(bare.ChangeInfo!.Status).toBe('INSYNC');
  });

  it('NoSuchChange arrives as the NoSuchChange exception (404)', async () => {
    const error = await caught(r53().send(new GetChangeCommand({ Id: '/change/CNOPE' })));
    expect(error).toBeInstanceOf(NoSuchChange);
    expect(error.$metadata?.httpStatusCode).toBe(404);
    expect(error.message).toContain('CNOPE');
  });
});

describe('ECS (awsJson1_1)', () => {
  it('DescribeServices with failures; UpdateService', async () => {
    const out = await client(ECSClient).send(new DescribeServicesCommand({ cluster: 'payments-euw1', services: ['api', 'ghost'] }));
    expect(backend.last('describeServices')!.args).toEqual(['payments-euw1', ['api', 'ghost']]);
    expect(out.services).toEqual([
      {
        serviceArn: 'arn:aws:ecs:eu-west-1:000000000000:service/payments-euw1/api',
        clusterArn: 'arn:aws:ecs:eu-west-1:000000000000:cluster/payments-euw1',
        launchType: 'FARGATE',
        serviceName: 'api',
        status: 'ACTIVE',
        desiredCount: 2,
        runningCount: 2,
        pendingCount: 0,
        deployments: [{ status: 'PRIMARY', rolloutState: 'COMPLETED', desiredCount: 2, runningCount: 2 }],
      },
    ]);
    expect(out.failures).toEqual([{ arn: 'arn:aws:ecs:eu-west-1:000000000000:service/payments-euw1/ghost', reason: 'MISSING' }]);

    const updated = await client(ECSClient).send(new UpdateServiceCommand({ cluster: 'payments-euw1', service: 'api', desiredCount: 6 }));
    expect(backend.last('updateService')!.args).toEqual(['payments-euw1', 'api', 6]);
    expect(updated.service).toMatchObject({ serviceName: 'api', desiredCount: 6, deployments: [{ rolloutState: 'IN_PROGRESS' }] });
  });

  it('ServiceNotFoundException arrives by name', async () => {
    const error = await caught(client(ECSClient).send(new UpdateServiceCommand({ cluster: 'payments-euw1', service: 'ghost', desiredCount: 1 })));
    expect(error).toBeInstanceOf(ServiceNotFoundException);
    expect(error.message).toBe('Service not found.');
  });
});

describe('Step Functions (awsJson1_0)', () => {
  const sm = 'arn:aws:states:eu-west-1:000000000000:stateMachine:failover';

  it('ListExecutions pages with maxResults / nextToken; dates come back as Dates', async () => {
    const sfn = client(SFNClient);
    const first = await sfn.send(new ListExecutionsCommand({ stateMachineArn: sm, statusFilter: 'RUNNING', maxResults: 2 }));
    expect(backend.last('listExecutions')!.args).toEqual([sm, 'RUNNING']);
    expect(first.executions!.map((e) => e.name)).toEqual(['run-1', 'run-2']);
    expect(first.executions![0]!.startDate).toEqual(new Date(Date.UTC(2025, 2, 4, 10, 0, 1, 250)));
    expect(first.nextToken).toEqual(expect.any(String));
    const second = await sfn.send(new ListExecutionsCommand({ stateMachineArn: sm, statusFilter: 'RUNNING', maxResults: 2, nextToken: first.nextToken }));
    expect(second.executions!.map((e) => e.name)).toEqual(['run-3']);
    expect(second.nextToken).toBeUndefined();
    const bad = await caught(sfn.send(new ListExecutionsCommand({ stateMachineArn: sm, nextToken: 'garbage' })));
    expect(bad.name).toBe('InvalidToken');
  });

  it('DescribeExecution; ExecutionDoesNotExist', async () => {
    const out = await client(SFNClient).send(new DescribeExecutionCommand({ executionArn: backend.executions[1]!.executionArn }));
    expect(out).toMatchObject({ name: 'run-2', status: 'RUNNING', input: '{"mode":"drill"}', inputDetails: { included: true } });
    expect(out.startDate).toEqual(backend.executions[1]!.startDate);
    const error = await caught(client(SFNClient).send(new DescribeExecutionCommand({ executionArn: 'arn:nope' })));
    expect(error.name).toBe('ExecutionDoesNotExist');
  });

  it('SendTaskSuccess / SendTaskFailure; TaskTimedOut arrives as the TaskTimedOut exception', async () => {
    await client(SFNClient).send(new SendTaskSuccessCommand({ taskToken: 'tok', output: '{"approved":true}' }));
    expect(backend.last('sendTaskSuccess')!.args).toEqual(['tok', '{"approved":true}']);
    await client(SFNClient).send(new SendTaskFailureCommand({ taskToken: 'tok', error: 'ApprovalRejected', cause: 'no' }));
    expect(backend.last('sendTaskFailure')!.args).toEqual(['tok', 'ApprovalRejected', 'no']);
    const error = await caught(client(SFNClient).send(new SendTaskSuccessCommand({ taskToken: 'expired', output: '{}' })));
    expect(error).toBeInstanceOf(TaskTimedOut);
  });

  it('SendTaskSuccess with output that is not JSON is a 400 InvalidOutput and never reaches the backend (API_SendTaskSuccess)', async () => {
    const before = backend.seen.length;
    const error = await caught(client(SFNClient).send(new SendTaskSuccessCommand({ taskToken: 'tok', output: 'approved!' })));
    expect(error).toBeInstanceOf(InvalidOutput);
    expect(error.$metadata?.httpStatusCode).toBe(400);
    expect(backend.seen.slice(before).map((s) => s.method)).toEqual([]);
  });

  it("two simultaneous starts take the real single-flight lease once: the conditional write is dynalite's", async () => {
    const plan = examplePlan();
    const claim = (executionId: string) => ({ executionId, incidentKey: 'alarm:api-health', precedence: 2, trigger: 'alarm' as const, mode: 'failover' as const });
    const now = new Date();
    const [a, b] = await Promise.all([acquire(plan, claim('exec-a'), now), acquire(plan, claim('exec-b'), now)]);
    expect([a.acquired, b.acquired].sort()).toEqual([false, true]);
    const loser = a.acquired ? b : a;
    expect(loser).toMatchObject({ acquired: false, duplicateOf: a.acquired ? 'exec-a' : 'exec-b' });
  });
});

describe('EventBridge (awsJson1_1)', () => {
  it('PutEvents counts failed entries', async () => {
    const time = new Date('2025-03-04T10:00:00.000Z');
    const out = await client(EventBridgeClient).send(
      new PutEventsCommand({
        Entries: [
          { EventBusName: 'failover', Source: 'failover.orchestrator', DetailType: 'FailoverSucceeded', Detail: '{"a":1}', Resources: ['arn:x'], Time: time },
          { EventBusName: 'missing', Source: 's', DetailType: 'd', Detail: '{}' },
        ],
      }),
    );
    expect(backend.last('putEvents')!.args).toEqual([
      [
        { EventBusName: 'failover', Source: 'failover.orchestrator', DetailType: 'FailoverSucceeded', Detail: '{"a":1}', Resources: ['arn:x'], Time: time },
        { EventBusName: 'missing', Source: 's', DetailType: 'd', Detail: '{}' },
      ],
    ]);
    expect(out.FailedEntryCount).toBe(1);
    expect(out.Entries).toEqual([{ EventId: 'event-1' }, { ErrorCode: 'InternalFailure', ErrorMessage: 'no such bus' }]);
  });

  it('an entry whose Detail is not a JSON object fails alone with MalformedDetail; the others are put (API_PutEventsResultEntry)', async () => {
    const out = await client(EventBridgeClient).send(
      new PutEventsCommand({
        Entries: [
          { EventBusName: 'failover', Source: 's', DetailType: 'd', Detail: 'not json' },
          { EventBusName: 'failover', Source: 's', DetailType: 'd', Detail: '{"ok":true}' },
          { EventBusName: 'failover', Source: 's', DetailType: 'd', Detail: '[1,2]' },
        ],
      }),
    );
    expect(out.FailedEntryCount).toBe(2);
    expect(out.Entries).toEqual([
      { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' },
      { EventId: 'event-1' },
      { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' },
    ]);
    expect(backend.last('putEvents')!.args).toEqual([[{ EventBusName: 'failover', Source: 's', DetailType: 'd', Detail: '{"ok":true}' }]]);
  });
});

describe('DynamoDB (awsJson1_0) forwarded to dynalite', () => {
  const ddb = () => client(DynamoDBClient);

  it('PutItem / GetItem / UpdateItem with ALL_NEW; a failed condition arrives as ConditionalCheckFailedException with Item', async () => {
    await ddb().send(
      new PutItemCommand({
        TableName: 'approvals',
        Item: { approvalId: { S: 'a1' }, status: { S: 'pending' }, n: { N: '1' } },
        ConditionExpression: 'attribute_not_exists(approvalId)',
      }),
    );
    const got = await ddb().send(new GetItemCommand({ TableName: 'approvals', Key: { approvalId: { S: 'a1' } }, ConsistentRead: true }));
    expect(got.Item).toEqual({ approvalId: { S: 'a1' }, status: { S: 'pending' }, n: { N: '1' } });
    expect((await ddb().send(new GetItemCommand({ TableName: 'approvals', Key: { approvalId: { S: 'nope' } } }))).Item).toBeUndefined();

    const updated = await ddb().send(
      new UpdateItemCommand({
        TableName: 'approvals',
        Key: { approvalId: { S: 'a1' } },
        UpdateExpression: 'SET #s = :deciding, #n = #n + :one',
        ConditionExpression: '#s = :pending',
        ExpressionAttributeNames: { '#s': 'status', '#n': 'n' },
        ExpressionAttributeValues: { ':deciding': { S: 'deciding' }, ':pending': { S: 'pending' }, ':one': { N: '1' } },
        ReturnValues: 'ALL_NEW',
      }),
    );
    expect(updated.Attributes).toEqual({ approvalId: { S: 'a1' }, status: { S: 'deciding' }, n: { N: '2' } });

    const error = await caught(
      ddb().send(
        new UpdateItemCommand({
          TableName: 'approvals',
          Key: { approvalId: { S: 'a1' } },
          UpdateExpression: 'SET #s = :deciding',
          ConditionExpression: '#s = :pending',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':deciding': { S: 'deciding' }, ':pending': { S: 'pending' } },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      ),
    );
    expect(error).toBeInstanceOf(ConditionalCheckFailedException);
    expect(error.Item).toEqual({ approvalId: { S: 'a1' }, status: { S: 'deciding' }, n: { N: '2' } });
  });

  it('request validation errors arrive as ValidationException; an unknown table as ResourceNotFoundException', async () => {
    const unused = await caught(
      ddb().send(
        new UpdateItemCommand({
          TableName: 'approvals',
          Key: { approvalId: { S: 'a2' } },
          UpdateExpression: 'SET #s = :v',
          ExpressionAttributeNames: { '#s': 'status', '#x': 'x' },
          ExpressionAttributeValues: { ':v': { S: 'v' } },
        }),
      ),
    );
    expect(unused.name).toBe('ValidationException');
    expect(unused.message).toContain('unused in expressions: keys: {#x}');
    const table = await caught(ddb().send(new GetItemCommand({ TableName: 'nope', Key: { approvalId: { S: 'a' } } })));
    expect(table.name).toBe('ResourceNotFoundException');
  });

  it('the real approvals store works against it (putPending with if_not_exists, claim, a second claim loses, finish)', async () => {
    {
      const store = approvals;
      const pending = {
        approvalId: 'ap-1',
        taskToken: 'token-1',
        executionId: 'exec-1',
        gate: 'failover' as const,
        approvers: ['U1', 'U2'],
        channel: 'C1',
        createdAt: '2025-03-04T10:00:00.000Z',
        expiresAt: '2025-03-04T10:10:00.000Z',
        summary: 'fail over?',
        onTimeout: 'abort' as const,
        timeoutSeconds: 600,
      };
      const stored = await store.putPending(pending);
      expect(stored).toMatchObject({ approvalId: 'ap-1', status: 'pending', createdAt: '2025-03-04T10:00:00.000Z', approvers: ['U1', 'U2'], timeoutSeconds: 600 });
      // A retry with a new token keeps createdAt (if_not_exists) and the message ts.
      await store.setMessageTs('ap-1', '123.456');
      const retried = await store.putPending({ ...pending, taskToken: 'token-2', createdAt: '2025-03-04T11:00:00.000Z' });
      expect(retried).toMatchObject({ taskToken: 'token-2', createdAt: '2025-03-04T10:00:00.000Z', messageTs: '123.456' });

      const now = new Date('2025-03-04T10:01:00.000Z');
      const won = await store.claim('ap-1', 'U1', now);
      expect(won).toMatchObject({ claimed: true, item: { status: 'deciding', decidedBy: 'U1', taskToken: 'token-2' } });
      const lost = await store.claim('ap-1', 'U2', now);
      expect(lost).toMatchObject({ claimed: false, current: { status: 'deciding', decidedBy: 'U1' } });
      expect(await store.finish('ap-1', 'approved', 'U1', now)).toBe(true);
      const done = await store.get('ap-1');
      expect(done).toMatchObject({ status: 'approved', decidedBy: 'U1', taskToken: '' });
      await expect(store.putPending(pending)).rejects.toMatchObject({ name: 'ResourceStateError' });
    }
  });
});

describe('SSM (awsJson1_1)', () => {
  it('GetParameter; ParameterNotFound', async () => {
    const out = await client(SSMClient).send(new GetParameterCommand({ Name: '/failover/slack/bot-token', WithDecryption: true }));
    expect(backend.last('getParameter')!.args).toEqual(['/failover/slack/bot-token', true]);
    expect(out.Parameter).toEqual({
      Name: '/failover/slack/bot-token',
      Type: 'SecureString',
      Value: 'xoxb-lab-token',
      Version: 3,
      DataType: 'text',
      ARN: 'arn:aws:ssm:eu-west-1:000000000000:parameter/failover/slack/bot-token',
    });
    const error = await caught(client(SSMClient).send(new GetParameterCommand({ Name: '/nope' })));
    expect(error).toBeInstanceOf(ParameterNotFound);
  });

  it('the real Slack secret reader (Powertools Parameters) reads through AWS_ENDPOINT_URL', async () => {
    await expect(readSecret('/failover/slack/bot-token')).resolves.toBe('xoxb-lab-token');
    await expect(readSecret('/failover/slack/missing')).rejects.toMatchObject({ name: 'ConfigurationError' });
  });
});

describe('AWS_ENDPOINT_URL', () => {
  it('is honoured by a client created without endpoint after it is set', async () => {
    expect(process.env.AWS_ENDPOINT_URL).toBe(plane.url); // set in beforeAll
    const sfn = new SFNClient({ region: 'eu-west-1', credentials, maxAttempts: 1 });
    const out = await sfn.send(new DescribeExecutionCommand({ executionArn: backend.executions[0]!.executionArn }));
    expect(out.name).toBe('run-1');
    expect(backend.last('describeExecution')!.ctx).toEqual({ region: 'eu-west-1', service: 'states', operation: 'DescribeExecution' });
  });
});

describe('real adapters end to end', () => {
  function planAndAdapters() {
    return { plan: examplePlan(), route53: route53Adapter, rds: rdsAdapter, ecs: ecsAdapter };
  }

  it('route53-record flip: observe (primary) → act (UPSERT) → observe (INSYNC via GetChange)', async () => {
    backend.down.delete('us-east-1'); // Route 53's control plane lives in us-east-1
    try {
      const { plan, route53 } = planAndAdapters();
      // The example plan flips with ARC; a plan that accepts Route 53's us-east-1 control plane uses this kind.
      const rec: Route53RecordResource = {
        kind: 'route53-record',
        name: 'api',
        hostedZoneId: 'Z0123456789',
        recordName: 'api.payments.example.com',
        recordType: 'CNAME',
        ttl: 60,
        routing: 'weighted',
        primary: { setIdentifier: 'us-east-1', value: 'api-use1.payments.example.com' },
        recovery: { setIdentifier: 'eu-west-1', value: 'api-euw1.payments.example.com' },
        healthCheckIds: {},
        syncTimeoutSeconds: 300,
      };
      backend.setRecords([
        {
          Name: 'api.payments.example.com.',
          Type: 'CNAME',
          SetIdentifier: 'us-east-1',
          Weight: 100,
          TTL: 60,
          ResourceRecords: [{ Value: 'api-use1.payments.example.com' }],
          HealthCheckId: 'hc-use1',
        },
        {
          Name: 'api.payments.example.com.',
          Type: 'CNAME',
          SetIdentifier: 'eu-west-1',
          Weight: 0,
          TTL: 60,
          ResourceRecords: [{ Value: 'api-euw1.payments.example.com' }],
          HealthCheckId: 'hc-euw1',
        },
      ]);
      const ctx = { plan, mode: 'failover' as const, now: new Date() };
      const first = await route53.flip.observe(rec, ctx);
      expect(first).toMatchObject({ done: false, inProgress: false, phase: 'primary' });
      const acted = await route53.flip.act(rec, ctx, first);
      expect(acted.ref).toMatch(/^\/change\/C\d+$/);
      expect(backend.last('changeResourceRecordSets')!.ctx.region).toBe('us-east-1');
      const after = await route53.flip.observe(rec, { ...ctx, previous: { ref: acted.ref } as never });
      expect(after).toMatchObject({ done: true, phase: 'insync' });
      expect(await route53.pointsAtRecovery(rec)).toBe(true);
      // The flip copied the records as listed and changed only the weights: the health checks stayed.
      expect(backend.records.list('Z0123456789').map((r) => [r.SetIdentifier, r.Weight, r.HealthCheckId])).toEqual([
        ['us-east-1', 0, 'hc-use1'],
        ['eu-west-1', 100, 'hc-euw1'],
      ]);
    } finally {
      backend.down.add('us-east-1');
    }
  });

  it('rds-replica promote.act treats InvalidDBInstanceState as "already in progress"', async () => {
    const { plan, rds } = planAndAdapters();
    const db = plan.databases.find((d) => d.kind === 'rds-replica')!;
    backend.dbs.set(db.replicaInstanceIdentifier, { DBInstanceIdentifier: db.replicaInstanceIdentifier, DBInstanceStatus: 'modifying' });
    const out = await rds.promote.act(db, { plan, mode: 'failover', now: new Date() }, { done: false, inProgress: false, phase: 'ready', detail: '' });
    expect(out.detail).toContain('already in progress');
  });

  it('ecs-service fencer reports unconfirmed when the primary region is unreachable', async () => {
    const { plan, ecs } = planAndAdapters();
    const svc = plan.compute[0]!;
    const before = plane.calls.length;
    const outcome = await ecs.fencer.fence(svc, plan, { signal: new AbortController().signal, budgetSeconds: 20, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) });
    expect(outcome).toMatchObject({ confirmed: false, action: 'scale-to-zero' });
    expect(outcome.detail).toContain('unreachable');
    // Every attempt was dropped by the region (status 0), none was left to run into the request timeout.
    const attempts = plane.calls.slice(before).filter((c) => c.region === 'us-east-1');
    expect(attempts.length).toBeGreaterThan(0);
    expect(attempts.every((c) => c.status === 0)).toBe(true);
  });
});
