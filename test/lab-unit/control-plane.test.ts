/**
 * The lab's simulated control plane, spoken to by the real SDK v3 clients: every operation the
 * handlers use round-trips (request fields reach the backend, typed response fields come back),
 * backend errors arrive as the SDK's named exceptions, an unreachable region is a network error,
 * and AWS_ENDPOINT_URL points unmodified handler code at it.
 */
import { execFileSync } from 'node:child_process';
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
import { DescribeExecutionCommand, ListExecutionsCommand, SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, TaskTimedOut } from '@aws-sdk/client-sfn';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { AwsApiError, type CallContext, type ControlPlaneBackend, type DbInstanceView, type ExecutionView, type RecordSetView, type ServiceView } from '../../lab/control-plane/backend';
import { applyUpdate, conditionHolds, DynamoTables } from '../../lab/control-plane/dynamodb-expressions';
import { startControlPlane, type ControlPlane } from '../../lab/control-plane/server';
import * as ecsAdapter from '../../functions/adapters/ecs-service';
import * as rdsAdapter from '../../functions/adapters/rds-replica';
import * as route53Adapter from '../../functions/adapters/route53-record';
import * as approvals from '../../functions/core/approvals-store';
import { findOwner } from '../../functions/core/single-flight';
import { readSecret } from '../../functions/slack/secrets';
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
  records: RecordSetView[] = [
    { Name: 'api.example.com.', Type: 'CNAME', SetIdentifier: 'us-east-1', Weight: 100, TTL: 60, ResourceRecords: [{ Value: 'api-use1.example.com' }], HealthCheckId: 'hc-1' },
    { Name: 'api.example.com.', Type: 'CNAME', SetIdentifier: 'eu-west-1', Weight: 0, TTL: 60, ResourceRecords: [{ Value: 'api-euw1.example.com' }] },
    { Name: 'www.example.com', Type: 'A', AliasTarget: { DNSName: 'd123.cloudfront.net', HostedZoneId: 'Z2FDTNDATAQYW2', EvaluateTargetHealth: false } },
  ];
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
  tables = new DynamoTables({ approvals: 'approvalId' });
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

  reachable(call: CallContext): boolean {
    return !this.down.has(call.region);
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
  async getMetricValues(ctx: CallContext, q: { namespace: string; name: string; dimensions: Record<string, string>; start: Date; end: Date }) {
    this.note('getMetricValues', ctx, q);
    return q.name === 'ReplicaLag' ? [3, 5, 8] : [];
  }
  async listResourceRecordSets(ctx: CallContext, zoneId: string, startName?: string, startType?: string) {
    this.note('listResourceRecordSets', ctx, zoneId, startName, startType);
    return this.records;
  }
  async changeResourceRecordSets(ctx: CallContext, zoneId: string, changes: Array<{ Action: 'CREATE' | 'DELETE' | 'UPSERT'; ResourceRecordSet: RecordSetView }>) {
    this.note('changeResourceRecordSets', ctx, zoneId, changes);
    for (const c of changes) {
      const same = (r: RecordSetView) => r.Name.replace(/\.$/, '') === c.ResourceRecordSet.Name.replace(/\.$/, '') && r.Type === c.ResourceRecordSet.Type && r.SetIdentifier === c.ResourceRecordSet.SetIdentifier;
      this.records = [...this.records.filter((r) => !same(r)), ...(c.Action === 'DELETE' ? [] : [c.ResourceRecordSet])];
    }
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
  async putItem(ctx: CallContext, req: Parameters<ControlPlaneBackend['putItem']>[1]) {
    this.note('putItem', ctx, req);
    this.tables.putItem(req);
  }
  async getItem(ctx: CallContext, req: Parameters<ControlPlaneBackend['getItem']>[1]) {
    this.note('getItem', ctx, req);
    return this.tables.getItem(req);
  }
  async updateItem(ctx: CallContext, req: Parameters<ControlPlaneBackend['updateItem']>[1]) {
    this.note('updateItem', ctx, req);
    return this.tables.updateItem(req);
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

const savedEnv = { AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL, APPROVALS_TABLE: process.env.APPROVALS_TABLE };

beforeAll(async () => {
  backend = new FakeBackend();
  plane = await startControlPlane(backend, { log: (line) => logLines.push(line) });
  // How the lab points the unmodified handlers at it. functions/core/clients.ts creates (and caches)
  // its clients at first use, which is after this.
  process.env.AWS_ENDPOINT_URL = plane.url;
  process.env.APPROVALS_TABLE = 'approvals';
});

afterAll(async () => {
  await plane.close();
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

/** A client of any service pointed at the control plane, failing fast. */
function client<T>(Ctor: new (config: Record<string, unknown>) => T, region = 'eu-west-1'): T {
  return new Ctor({ region, endpoint: plane.url, credentials, maxAttempts: 1, requestHandler: { requestTimeout: 2_000, connectionTimeout: 1_000 } });
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
    expect(plane.calls.slice(before)).toEqual([{ region: 'us-east-1', service: 'ecs', operation: 'DescribeServices', at: expect.any(Number), status: 0 }]);
  });

  it('in plain Node (how the lab runs), the dropped connection is ECONNRESET, which the handlers classify as transient', () => {
    const script = `
      const { requireTs } = require('./scripts/lib/require-ts.js');
      const { startControlPlane } = requireTs('lab/control-plane/server.ts');
      const { isTransient, toNamedAwsError } = requireTs('functions/core/errors.ts');
      const { ECSClient, DescribeServicesCommand } = require('@aws-sdk/client-ecs');
      (async () => {
        const plane = await startControlPlane({ reachable: () => false });
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
    const res = await fetch(plane.url, { method: 'POST', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=toString&Version=2014-10-31' });
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
    const out = await client(CloudWatchClient).send(new DescribeAlarmsCommand({ AlarmNames: ['api-health', 'region-composite', 'missing'], AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] }));
    expect(backend.last('describeAlarms')!.args).toEqual([['api-health', 'region-composite', 'missing']]);
    expect(out.MetricAlarms).toEqual([{ AlarmName: 'api-health', StateValue: 'ALARM', AlarmArn: 'arn:aws:cloudwatch:eu-west-1:000000000000:alarm:api-health' }]);
    expect(out.CompositeAlarms).toEqual([{ AlarmName: 'region-composite', StateValue: 'OK', AlarmArn: 'arn:aws:cloudwatch:eu-west-1:000000000000:alarm:region-composite' }]);
    const metricOnly = await client(CloudWatchClient).send(new DescribeAlarmsCommand({ AlarmNames: ['api-health', 'region-composite'] }));
    expect(metricOnly.MetricAlarms!.map((a) => a.AlarmName)).toEqual(['api-health']);
    expect(metricOnly.CompositeAlarms).toBeUndefined();
  });

  it('GetMetricData passes the metric and the window, answers values with Date timestamps', async () => {
    const end = new Date('2025-03-04T10:05:30.500Z');
    const start = new Date(end.getTime() - 300_000);
    const out = await client(CloudWatchClient).send(
      new GetMetricDataCommand({
        StartTime: start,
        EndTime: end,
        ScanBy: 'TimestampDescending',
        MetricDataQueries: [
          { Id: 'm', MetricStat: { Metric: { Namespace: 'AWS/RDS', MetricName: 'ReplicaLag', Dimensions: [{ Name: 'DBInstanceIdentifier', Value: 'accounts-euw1' }] }, Period: 60, Stat: 'Maximum' } },
        ],
      }),
    );
    expect(backend.last('getMetricValues')!.args).toEqual([
      { namespace: 'AWS/RDS', name: 'ReplicaLag', dimensions: { DBInstanceIdentifier: 'accounts-euw1' }, start, end, stat: 'Maximum', period: 60 },
    ]);
    const result = out.MetricDataResults![0]!;
    expect(result).toMatchObject({ Id: 'm', Label: 'ReplicaLag', Values: [3, 5, 8], StatusCode: 'Complete' });
    expect(result.Timestamps).toEqual([new Date('2025-03-04T10:05:00Z'), new Date('2025-03-04T10:04:00Z'), new Date('2025-03-04T10:03:00Z')]);
    expect(result.Timestamps![0]).toBeInstanceOf(Date);
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

  it('ListResourceRecordSets: query parameters reach the backend; weights, alias targets, trailing dots, paging', async () => {
    const out = await r53().send(new ListResourceRecordSetsCommand({ HostedZoneId: '/hostedzone/Z0123456789', StartRecordName: 'api.example.com', StartRecordType: 'CNAME', MaxItems: 10 }));
    expect(backend.last('listResourceRecordSets')!.args).toEqual(['Z0123456789', 'api.example.com', 'CNAME']);
    expect(out.IsTruncated).toBe(false);
    expect(out.MaxItems).toBe(10);
    expect(out.ResourceRecordSets).toEqual([
      { Name: 'api.example.com.', Type: 'CNAME', SetIdentifier: 'us-east-1', Weight: 100, TTL: 60, ResourceRecords: [{ Value: 'api-use1.example.com' }], HealthCheckId: 'hc-1' },
      { Name: 'api.example.com.', Type: 'CNAME', SetIdentifier: 'eu-west-1', Weight: 0, TTL: 60, ResourceRecords: [{ Value: 'api-euw1.example.com' }] },
      { Name: 'www.example.com.', Type: 'A', AliasTarget: { DNSName: 'd123.cloudfront.net.', HostedZoneId: 'Z2FDTNDATAQYW2', EvaluateTargetHealth: false } },
    ]);
    const page = await r53().send(new ListResourceRecordSetsCommand({ HostedZoneId: 'Z0123456789', MaxItems: 1 }));
    expect(page).toMatchObject({ IsTruncated: true, NextRecordName: 'api.example.com.', NextRecordType: 'CNAME', NextRecordIdentifier: 'eu-west-1' });
    expect(page.ResourceRecordSets).toHaveLength(1);
  });

  it('ChangeResourceRecordSets parses the change batch; GetChange takes the id with or without /change/', async () => {
    const out = await r53().send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: 'Z0123456789',
        ChangeBatch: {
          Comment: 'failover <to> eu & back',
          Changes: [
            { Action: 'UPSERT', ResourceRecordSet: { Name: 'api.example.com', Type: 'CNAME', SetIdentifier: 'us-east-1', Weight: 0, TTL: 60, ResourceRecords: [{ Value: 'api-use1.example.com' }], HealthCheckId: 'hc-1' } },
            { Action: 'UPSERT', ResourceRecordSet: { Name: 'www.example.com', Type: 'A', AliasTarget: { DNSName: 'eu.example.net', HostedZoneId: '/hostedzone/Z32O12XQLNTSW2', EvaluateTargetHealth: true } } },
          ],
        },
      }),
    );
    expect(backend.last('changeResourceRecordSets')!.args).toEqual([
      'Z0123456789',
      [
        { Action: 'UPSERT', ResourceRecordSet: { Name: 'api.example.com', Type: 'CNAME', SetIdentifier: 'us-east-1', Weight: 0, TTL: 60, ResourceRecords: [{ Value: 'api-use1.example.com' }], HealthCheckId: 'hc-1' } },
        { Action: 'UPSERT', ResourceRecordSet: { Name: 'www.example.com', Type: 'A', AliasTarget: { DNSName: 'eu.example.net', HostedZoneId: 'Z32O12XQLNTSW2', EvaluateTargetHealth: true } } },
      ],
    ]);
    expect(out.ChangeInfo).toEqual({ Id: '/change/C1', Status: 'PENDING', SubmittedAt: new Date(Date.UTC(2025, 2, 4, 10, 1, 2, 345)), Comment: 'failover <to> eu & back' });

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

  it('finds the owner of a failover through the real single-flight code', async () => {
    const self = backend.executions[2]!;
    const owner = await findOwner('eu-west-1', { executionArn: self.executionArn, stateMachineArn: sm, startTime: self.startDate.toISOString(), isDrill: false }, () => true);
    expect(owner).toBe(backend.executions[0]!.executionArn);
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
});

describe('DynamoDB (awsJson1_0) over DynamoTables', () => {
  const ddb = () => client(DynamoDBClient);

  it('PutItem / GetItem / UpdateItem with ALL_NEW; a failed condition arrives as ConditionalCheckFailedException with Item', async () => {
    await ddb().send(new PutItemCommand({ TableName: 'approvals', Item: { approvalId: { S: 'a1' }, status: { S: 'pending' }, n: { N: '1' } }, ConditionExpression: 'attribute_not_exists(approvalId)' }));
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
      const rec = plan.traffic.find((t) => t.kind === 'route53-record')!;
      backend.records = [
        { Name: 'api.payments.example.com.', Type: 'CNAME', SetIdentifier: 'us-east-1', Weight: 100, TTL: 60, ResourceRecords: [{ Value: 'api-use1.payments.example.com' }] },
        { Name: 'api.payments.example.com.', Type: 'CNAME', SetIdentifier: 'eu-west-1', Weight: 0, TTL: 60, ResourceRecords: [{ Value: 'api-euw1.payments.example.com' }] },
      ];
      const ctx = { plan, mode: 'failover' as const, now: new Date() };
      const first = await route53.flip.observe(rec, ctx);
      expect(first).toMatchObject({ done: false, inProgress: false, phase: 'primary' });
      const acted = await route53.flip.act(rec, ctx, first);
      expect(acted.ref).toMatch(/^\/change\/C\d+$/);
      expect(backend.last('changeResourceRecordSets')!.ctx.region).toBe('us-east-1');
      const after = await route53.flip.observe(rec, { ...ctx, previous: { ref: acted.ref } as never });
      expect(after).toMatchObject({ done: true, phase: 'insync' });
      expect(await route53.pointsAtRecovery(rec)).toBe(true);
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
    const outcome = await ecs.fencer.fence(svc, plan);
    expect(outcome).toMatchObject({ confirmed: false, action: 'scale-to-zero' });
    expect(outcome.detail).toContain('unreachable');
    // Every attempt was dropped by the region (status 0), none was left to run into the request timeout.
    const attempts = plane.calls.slice(before).filter((c) => c.region === 'us-east-1');
    expect(attempts.length).toBeGreaterThan(0);
    expect(attempts.every((c) => c.status === 0)).toBe(true);
  });
});

describe('DynamoDB expressions', () => {
  const names = { '#s': 'status', '#id': 'approvalId', '#c': 'createdAt', '#l': 'list', '#m': 'map' };

  it('evaluates conditions: functions, comparisons, AND / OR / NOT, parentheses, BETWEEN, IN', () => {
    const item = { approvalId: { S: 'a' }, status: { S: 'pending' }, n: { N: '5' }, tags: { SS: ['x', 'y'] }, map: { M: { k: { S: 'v' } } } };
    const values = { ':p': { S: 'pending' }, ':d': { S: 'deciding' }, ':three': { N: '3' }, ':ten': { N: '10' }, ':x': { S: 'x' }, ':pre': { S: 'pen' }, ':v': { S: 'v' } };
    const holds = (c: string) => conditionHolds(item, c, names, values);
    expect(holds('attribute_not_exists(#id) OR #s = :p')).toBe(true);
    expect(holds('attribute_not_exists(#id) OR #s = :d')).toBe(false);
    expect(conditionHolds(undefined, 'attribute_not_exists(#id) OR #s = :d', names, values)).toBe(true);
    expect(conditionHolds(undefined, 'attribute_exists(#id)', names, values)).toBe(false);
    expect(holds('#s = :p AND n > :three AND NOT (n >= :ten)')).toBe(true);
    expect(holds('n BETWEEN :three AND :ten')).toBe(true);
    expect(holds('#s IN (:d, :p)')).toBe(true);
    expect(holds('#s <> :d')).toBe(true);
    expect(holds('contains(tags, :x) AND begins_with(#s, :pre) AND #m.k = :v AND size(tags) < :three')).toBe(true);
    expect(holds('missing = :p')).toBe(false);
    expect(() => holds('#s = = :p')).toThrow(expect.objectContaining({ name: 'ValidationException' }));
    expect(() => holds('#nope = :p')).toThrow(/attribute name used in the document path is not defined; attribute name: #nope/);
    expect(() => holds('#s = :nope')).toThrow(/attribute value used in expression is not defined; attribute value: :nope/);
  });

  it('applies updates: SET with if_not_exists / arithmetic / list_append, REMOVE, ADD, DELETE; right-hand sides see the old item', () => {
    const item: Record<string, unknown> = { approvalId: { S: 'a' }, createdAt: { S: 'old' }, n: { N: '1' }, list: { L: [{ S: 'a' }] }, tags: { SS: ['x'] }, gone: { S: 'bye' }, swap: { S: 'n-was-1' } };
    const values = { ':c': { S: 'new' }, ':one': { N: '1' }, ':l': { L: [{ S: 'b' }] }, ':t': { SS: ['y', 'x'] }, ':dx': { SS: ['x'] } };
    applyUpdate(item, 'SET #c = if_not_exists(#c, :c), fresh = if_not_exists(fresh, :c), n = n + :one, #l = list_append(#l, :l), copy = n REMOVE gone ADD tags :t', names, values);
    expect(item).toEqual({
      approvalId: { S: 'a' },
      createdAt: { S: 'old' },
      fresh: { S: 'new' },
      n: { N: '2' },
      copy: { N: '1' },
      list: { L: [{ S: 'a' }, { S: 'b' }] },
      tags: { SS: ['x', 'y'] },
      swap: { S: 'n-was-1' },
    });
    applyUpdate(item, 'DELETE tags :dx', names, values);
    expect(item.tags).toEqual({ SS: ['y'] });
    expect(() => applyUpdate(item, 'SET n = :one REMOVE n', names, values)).toThrow(/Two document paths overlap/);
    expect(() => applyUpdate(item, 'SET a = :one SET b = :one', names, values)).toThrow(/can only be used once/);
    expect(() => applyUpdate(item, 'SET a = missing', names, values)).toThrow(/does not exist in the item/);
  });

  it('DynamoTables: key checks, no key updates, empty sets, ReturnValues', () => {
    const t = new DynamoTables({ approvals: 'approvalId' });
    expect(() => t.putItem({ TableName: 'approvals', Item: { other: { S: 'x' } } })).toThrow(/Missing the key approvalId/);
    expect(() => t.putItem({ TableName: 'approvals', Item: { approvalId: { S: 'a' }, approvers: { SS: [] } } })).toThrow(/set {2}may not be empty/);
    t.putItem({ TableName: 'approvals', Item: { approvalId: { S: 'a' }, n: { N: '1' }, s: { S: 'x' } } });
    expect(() => t.getItem({ TableName: 'approvals', Key: { approvalId: { S: 'a' }, n: { N: '1' } } })).toThrow(/key element does not match the schema/);
    expect(() =>
      t.updateItem({ TableName: 'approvals', Key: { approvalId: { S: 'a' } }, UpdateExpression: 'SET #id = :v', ExpressionAttributeNames: { '#id': 'approvalId' }, ExpressionAttributeValues: { ':v': { S: 'b' } } }),
    ).toThrow(/Cannot update attribute approvalId/);
    const values = { ':one': { N: '1' } };
    expect(t.updateItem({ TableName: 'approvals', Key: { approvalId: { S: 'a' } }, UpdateExpression: 'SET n = n + :one', ExpressionAttributeValues: values, ReturnValues: 'UPDATED_OLD' })).toEqual({ n: { N: '1' } });
    expect(t.updateItem({ TableName: 'approvals', Key: { approvalId: { S: 'a' } }, UpdateExpression: 'SET n = n + :one', ExpressionAttributeValues: values, ReturnValues: 'UPDATED_NEW' })).toEqual({ n: { N: '3' } });
    expect(t.updateItem({ TableName: 'approvals', Key: { approvalId: { S: 'a' } }, UpdateExpression: 'REMOVE s', ReturnValues: 'ALL_OLD' })).toEqual({ approvalId: { S: 'a' }, n: { N: '3' }, s: { S: 'x' } });
    expect(t.updateItem({ TableName: 'approvals', Key: { approvalId: { S: 'new' } }, UpdateExpression: 'SET n = :one', ExpressionAttributeValues: values, ReturnValues: 'ALL_NEW' })).toEqual({
      approvalId: { S: 'new' },
      n: { N: '1' },
    });
    const stored = t.getItem({ TableName: 'approvals', Key: { approvalId: { S: 'new' } } })!;
    (stored.n as { N: string }).N = '999';
    expect(t.getItem({ TableName: 'approvals', Key: { approvalId: { S: 'new' } } })).toEqual({ approvalId: { S: 'new' }, n: { N: '1' } });
    expect(t.scan('approvals')).toHaveLength(2);
  });
});
