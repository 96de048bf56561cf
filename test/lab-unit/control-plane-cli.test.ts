/**
 * The lab's control plane as an independent client sees it: a stock AWS CLI v2 (Debian's `awscli`,
 * installed by scripts/ensure-awscli.sh) pointed at it with `--endpoint-url`, dummy credentials from
 * the environment and no config files, and a few requests built by hand. None of the handlers' code
 * paths is involved, so a protocol or semantics mistake cannot cancel itself out.
 *
 * The backend is the real lab world (lab/world.ts) over stub databases and apps: what the world
 * decides (Route 53 record semantics, routing controls and DNS, ReplicaLag publication, scalable
 * targets, task tokens, Lambda invocations) is checked through the wire.
 *
 * Protocols: awsQuery (RDS, CloudWatch: this CLI speaks CloudWatch's query protocol), restXml
 * (Route 53), awsJson1_0 (ARC cluster, Step Functions, DynamoDB), awsJson1_1 (Application Auto
 * Scaling, EventBridge, SSM), restJson1 (Lambda).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ControlPlaneBackend } from '../../local/aws/backend';
import { LAB_ARC_ZONE_ID } from '../../lab/control-plane/dns';
import { startControlPlane, type ControlPlane } from '../../lab/control-plane/server';
import { LocalOrchestrator, TaskTokens, type ExecutionRecord } from '../../local/state-machine';
import type { PgServer } from '../../lab/postgres';
import type { RegionApp } from '../../lab/region-app';
import { LabWorld, type LabState } from '../../lab/world';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { GetRoutingControlStateCommand } from '@aws-sdk/client-route53-recovery-cluster';
import { arcCluster, lambda, resetClients } from '../../functions/core/clients';
import { parsePlan, type Plan } from '../../functions/core/plan';
import { ROOT } from '../helpers/plan';

const run = promisify(execFile);

const PRIMARY_CONTROL = 'arn:aws:route53-recovery-control::000000000000:controlpanel/0lab0000/routingcontrol/api-use1';
const RECOVERY_CONTROL = 'arn:aws:route53-recovery-control::000000000000:controlpanel/0lab0000/routingcontrol/api-euw1';
const SAFETY_RULE = 'arn:aws:route53-recovery-control::000000000000:controlpanel/0lab0000/safetyrule/lab-at-least-one-on';
const STATE_MACHINE = 'arn:aws:states:eu-west-1:000000000000:stateMachine:lab-failover';

const ARC_TRAFFIC = {
  kind: 'arc-routing-control',
  name: 'api',
  clusterArn: 'arn:aws:route53-recovery-control::000000000000:cluster/0lab0000-payments',
  clusterEndpoints: [
    { region: 'us-east-1', endpoint: 'http://127.0.0.1:47003/v1' },
    { region: 'eu-west-1', endpoint: 'http://127.0.0.1:47003/v1' },
  ],
  primaryRoutingControlArn: PRIMARY_CONTROL,
  recoveryRoutingControlArn: RECOVERY_CONTROL,
  recordName: 'api.lab.payments.internal',
};
const RECORD_TRAFFIC = {
  kind: 'route53-record',
  name: 'api',
  hostedZoneId: 'Z0LAB00000000000001',
  recordName: 'api.lab.payments.internal',
  recordType: 'CNAME',
  ttl: 1,
  routing: 'weighted',
  primary: { setIdentifier: 'us-east-1', value: 'us-east-1.api.lab.payments.internal' },
  recovery: { setIdentifier: 'eu-west-1', value: 'eu-west-1.api.lab.payments.internal' },
  healthCheckIds: { primary: 'hc-use1' },
};

/** The lab plan's shape (config/lab.yml), written out so that this test does not move with the lab's settings. */
function plan(traffic: Record<string, unknown>): Plan {
  return parsePlan(
    {
      name: 'lab',
      primaryRegion: 'us-east-1',
      recoveryRegion: 'eu-west-1',
      rtoBudgetSeconds: 900,
      rpoBudgetSeconds: 5,
      detection: {
        probes: [{ name: 'api-us', url: 'http://127.0.0.1:47001/healthz', timeoutMs: 500 }],
        healthAlarms: [{ name: 'lab-us-east-1-api-health', probe: 'api-us' }],
        replicationLagAlarms: [{ name: 'lab-accounts-replication-lag', database: 'accounts' }],
      },
      databases: [
        {
          kind: 'rds-replica',
          name: 'accounts',
          primaryInstanceIdentifier: 'lab-accounts-use1',
          replicaInstanceIdentifier: 'lab-accounts-euw1',
          primaryParameterGroup: 'lab-accounts-pg',
        },
      ],
      traffic: [traffic],
      compute: [
        {
          kind: 'ecs-service',
          name: 'payments-api',
          primary: { cluster: 'lab-use1', service: 'payments-api' },
          recovery: { cluster: 'lab-euw1', service: 'payments-api' },
          standbyDesiredCount: 2,
          failoverDesiredCount: 6,
          autoScaling: true,
        },
      ],
      smokeTests: [{ name: 'api-health', url: 'http://127.0.0.1:47002/healthz' }],
      approval: { automatic: ['region-outage'], approvers: ['U0LABAPPROVER'], timeoutSeconds: 5, onTimeout: 'abort' },
      slack: { channel: 'C0LABFAILOVER', botTokenParameter: '/failover/lab/slack-bot-token', signingSecretParameter: '/failover/lab/slack-signing-secret' },
      notifications: { eventBusName: 'lab-failover-events' },
      drill: { schedule: 'cron(0 10 ? * TUE#1 *)', enabled: false },
    },
    'control-plane-cli.test.ts',
  );
}

/** A PostgreSQL stand-in that answers what the world asks: SHOW after ALTER SYSTEM + reload, recovery state, promotion. */
function stubDb(options: { inRecovery: boolean }) {
  const state = { inRecovery: options.inRecovery, file: undefined as string | undefined, running: 'off', statements: [] as string[] };
  const db = {
    async query(sql: string) {
      state.statements.push(sql);
      const set = /ALTER SYSTEM SET default_transaction_read_only = (on|off)/.exec(sql);
      if (set) state.file = set[1];
      if (sql.includes('pg_reload_conf')) state.running = state.file ?? state.running;
      if (sql.startsWith('SHOW default_transaction_read_only')) return [{ default_transaction_read_only: state.running }];
      if (sql.includes('pg_file_settings')) return state.file ? [{ setting: state.file }] : [];
      if (sql.includes('pg_stat_wal_receiver')) return [{ status: 'streaming' }];
      return [];
    },
    async isInRecovery() {
      return state.inRecovery;
    },
    async promote() {
      state.inRecovery = false;
    },
  };
  return { db: db as unknown as PgServer, state };
}

function stubApp(desiredCount: number) {
  const app = {
    desiredCount,
    runningCount: desiredCount,
    setDesiredCount(n: number) {
      app.desiredCount = n;
      app.runningCount = n;
    },
  };
  return app;
}

interface TestWorld {
  world: LabWorld;
  state: LabState;
  primaryDb: ReturnType<typeof stubDb>['state'];
  apps: { primary: ReturnType<typeof stubApp>; recovery: ReturnType<typeof stubApp> };
  orchestrator: LocalOrchestrator;
}

function makeWorld(traffic: Record<string, unknown>): TestWorld {
  const p = plan(traffic);
  const primary = stubDb({ inRecovery: false });
  const recovery = stubDb({ inRecovery: true });
  const apps = { primary: stubApp(6), recovery: stubApp(2) };
  const tokens = new TaskTokens();
  const orchestrator = new LocalOrchestrator({
    definition: { StartAt: 'Hello', States: { Hello: { Type: 'Pass', Result: { ok: true }, End: true } } },
    stateMachineArn: STATE_MACHINE,
    tokens,
  });
  const state: LabState = {
    plan: p,
    primary: { name: 'us-east-1', db: primary.db, app: apps.primary as unknown as RegionApp, dbAlive: true },
    recovery: { name: 'eu-west-1', db: recovery.db, app: apps.recovery as unknown as RegionApp, dbAlive: true },
    alarms: new Map([['lab-us-east-1-api-health', 'OK']]),
    lag: [],
    regionsDown: new Set(),
    regionsBlackholed: new Set(),
    dnsWeights: {},
    orchestrator: () => orchestrator,
    tokens,
    secrets: { '/failover/lab/slack-bot-token': 'xoxb-lab-bot-token-not-a-real-token' },
    events: [],
    marks: {},
    dnsSyncMs: 50,
    log: () => undefined,
  };
  return { world: new LabWorld(state), state, primaryDb: primary.state, apps, orchestrator };
}

let awsPath: string;
let plane: ControlPlane;
let current: TestWorld;
let arcWorld: TestWorld;
let recordWorld: TestWorld;
let workDir: string;

beforeAll(async () => {
  awsPath = (await run(join(ROOT, 'scripts', 'ensure-awscli.sh'), [], { timeout: 300_000 })).stdout.trim();
  workDir = mkdtempSync(join(tmpdir(), 'control-plane-cli-'));
  arcWorld = makeWorld(ARC_TRAFFIC);
  recordWorld = makeWorld(RECORD_TRAFFIC);
  current = arcWorld;
  const delegate = new Proxy({} as ControlPlaneBackend, {
    get: (_t, key) => {
      const member = (current.world as unknown as Record<PropertyKey, unknown>)[key];
      return typeof member === 'function' ? member.bind(current.world) : member;
    },
  });
  plane = await startControlPlane(delegate);
}, 300_000);

afterAll(async () => {
  await plane?.close();
  await arcWorld?.world.close();
  await recordWorld?.world.close();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

/** One AWS CLI command against the control plane: dummy credentials, no config files, one attempt. */
async function aws(args: string[], region = 'eu-west-1'): Promise<CliResult> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: workDir,
    AWS_ACCESS_KEY_ID: 'AKIALABLABLABLABLAB0',
    AWS_SECRET_ACCESS_KEY: 'lab-secret-not-a-real-secret',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: join(workDir, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(workDir, 'no-credentials'),
    AWS_MAX_ATTEMPTS: '1',
    AWS_PAGER: '',
    AWS_CLI_AUTO_PROMPT: 'off',
  };
  const readTimeout = args.includes('--cli-read-timeout') ? [] : ['--cli-read-timeout', '10'];
  const argv = [...args, '--endpoint-url', plane.url, '--region', region, '--output', 'json', '--cli-connect-timeout', '5', ...readTimeout];
  try {
    const out = await run(awsPath, argv, { env, timeout: 60_000 });
    return { code: 0, stdout: out.stdout, stderr: out.stderr, json: out.stdout.trim() ? JSON.parse(out.stdout) : undefined };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(error), json: undefined };
  }
}

/** The CLI's own words for a modelled error: "An error occurred (Code) when calling the Op operation: message". */
function expectAwsError(r: CliResult, code: string, operation: string): void {
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain(`An error occurred (${code}) when calling the ${operation} operation`);
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 10));
}

const use = (w: TestWorld) => {
  current = w;
};

jest.setTimeout(120_000);

describe('RDS (awsQuery) — https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBInstances.html', () => {
  beforeAll(() => use(arcWorld));

  it('the primary reports its parameter group with the apply status the database gives, and its backup retention; the replica its own retention', async () => {
    const before = await aws(['rds', 'describe-db-instances', '--db-instance-identifier', 'lab-accounts-use1'], 'us-east-1');
    expect(before.json.DBInstances[0]).toMatchObject({
      DBInstanceIdentifier: 'lab-accounts-use1',
      DBInstanceStatus: 'available',
      BackupRetentionPeriod: 7,
      DBParameterGroups: [{ DBParameterGroupName: 'lab-accounts-pg', ParameterApplyStatus: 'in-sync' }],
    });

    const modified = await aws(
      [
        'rds',
        'modify-db-parameter-group',
        '--db-parameter-group-name',
        'lab-accounts-pg',
        '--parameters',
        'ParameterName=default_transaction_read_only,ParameterValue=1,ApplyMethod=immediate',
      ],
      'us-east-1',
    );
    expect(modified.json).toEqual({ DBParameterGroupName: 'lab-accounts-pg' });
    expect(arcWorld.primaryDb.statements).toEqual(expect.arrayContaining(['ALTER SYSTEM SET default_transaction_read_only = on', 'SELECT pg_reload_conf()']));

    const params = await aws(['rds', 'describe-db-parameters', '--db-parameter-group-name', 'lab-accounts-pg', '--source', 'user'], 'us-east-1');
    expect(params.json.Parameters).toEqual([
      expect.objectContaining({ ParameterName: 'default_transaction_read_only', ParameterValue: '1', Source: 'user', ApplyType: 'dynamic', IsModifiable: true }),
    ]);

    // The database has not reloaded (a stuck reload): the group is applying, not in-sync.
    arcWorld.primaryDb.running = 'off';
    const applying = await aws(['rds', 'describe-db-instances', '--db-instance-identifier', 'lab-accounts-use1'], 'us-east-1');
    expect(applying.json.DBInstances[0].DBParameterGroups).toEqual([{ DBParameterGroupName: 'lab-accounts-pg', ParameterApplyStatus: 'applying' }]);
    arcWorld.primaryDb.running = 'on';

    const replica = await aws(['rds', 'describe-db-instances', '--db-instance-identifier', 'lab-accounts-euw1']);
    expect(replica.json.DBInstances[0]).toMatchObject({
      BackupRetentionPeriod: 1,
      ReadReplicaSourceDBInstanceIdentifier: 'arn:aws:rds:us-east-1:000000000000:db:lab-accounts-use1',
    });
  });

  it('answers AWS error codes: DBInstanceNotFound, DBParameterGroupNotFound (an instance or group in another region does not exist there)', async () => {
    expectAwsError(await aws(['rds', 'describe-db-instances', '--db-instance-identifier', 'lab-accounts-use1']), 'DBInstanceNotFound', 'DescribeDBInstances');
    expectAwsError(await aws(['rds', 'describe-db-parameters', '--db-parameter-group-name', 'nope'], 'us-east-1'), 'DBParameterGroupNotFound', 'DescribeDBParameters');
  });
});

describe('CloudWatch (awsQuery, as this CLI speaks it) — https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html', () => {
  beforeAll(() => use(arcWorld));

  it('PutMetricData stores datapoints; GetMetricData answers them by Period and Stat in XML the CLI parses', async () => {
    const minute = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
    const t = (offsetSeconds: number) => new Date(minute + offsetSeconds * 1000).toISOString();
    const data = [
      { MetricName: 'ProbeFailed', Dimensions: [{ Name: 'Probe', Value: 'api-us' }], Timestamp: t(5), Value: 1 },
      { MetricName: 'ProbeFailed', Dimensions: [{ Name: 'Probe', Value: 'api-us' }], Timestamp: t(35), Value: 0 },
      { MetricName: 'ProbeFailed', Dimensions: [{ Name: 'Probe', Value: 'api-us' }], Timestamp: t(65), Value: 1 },
    ];
    const put = await aws(['cloudwatch', 'put-metric-data', '--namespace', 'FailoverOrchestrator/Detection', '--metric-data', JSON.stringify(data)]);
    expect(put.code).toBe(0);
    const query = (stat: string, period: number) => [
      'cloudwatch',
      'get-metric-data',
      '--start-time',
      t(0),
      '--end-time',
      t(120),
      '--metric-data-queries',
      JSON.stringify([
        {
          Id: 'p',
          MetricStat: {
            Metric: { Namespace: 'FailoverOrchestrator/Detection', MetricName: 'ProbeFailed', Dimensions: [{ Name: 'Probe', Value: 'api-us' }] },
            Period: period,
            Stat: stat,
          },
        },
      ]),
    ];
    const sum = await aws(query('Sum', 60));
    expect(sum.json.MetricDataResults).toEqual([
      {
        Id: 'p',
        Label: 'ProbeFailed',
        Timestamps: [expect.stringMatching(new RegExp(`^${t(60).slice(0, 16)}`)), expect.stringMatching(new RegExp(`^${t(0).slice(0, 16)}`))],
        Values: [1, 1],
        StatusCode: 'Complete',
      },
    ]);
    const avg30 = await aws(query('Average', 30));
    expect(avg30.json.MetricDataResults[0].Values).toEqual([1, 0, 1]);
    expectAwsError(await aws(query('Sum', 7)), 'InvalidParameterValue', 'GetMetricData');
    expectAwsError(await aws(['cloudwatch', 'put-metric-data', '--namespace', 'AWS/RDS', '--metric-name', 'ReplicaLag', '--value', '1']), 'InvalidParameterValue', 'PutMetricData');
  });

  it('AWS/RDS ReplicaLag is published once per minute from the lab lag samples (the last one of each finished minute), not per sample', async () => {
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    arcWorld.state.lag.push(
      { at: minute - 150_000, lagSeconds: 0.2, receiverStreaming: true },
      { at: minute - 130_000, lagSeconds: 0.4, receiverStreaming: true },
      { at: minute - 100_000, lagSeconds: 3, receiverStreaming: true },
      { at: minute - 70_000, lagSeconds: 1, receiverStreaming: true },
      { at: minute - 30_000, lagSeconds: 9, receiverStreaming: true },
      { at: minute + 1, lagSeconds: 42, receiverStreaming: true }, // the current minute: not published yet
    );
    const r = await aws([
      'cloudwatch',
      'get-metric-data',
      '--start-time',
      new Date(minute - 5 * 60_000).toISOString(),
      '--end-time',
      new Date(minute + 60_000).toISOString(),
      '--metric-data-queries',
      JSON.stringify([
        {
          Id: 'lag',
          MetricStat: {
            Metric: { Namespace: 'AWS/RDS', MetricName: 'ReplicaLag', Dimensions: [{ Name: 'DBInstanceIdentifier', Value: 'lab-accounts-euw1' }] },
            Period: 10,
            Stat: 'Maximum',
          },
        },
      ]),
    ]);
    // Even at a 10 s period, one datapoint per minute, stamped with the minute's start.
    expect(r.json.MetricDataResults[0].Values).toEqual([9, 1, 0.4]);
    expect(r.json.MetricDataResults[0].Timestamps.map((s: string) => new Date(s).getTime())).toEqual([minute - 60_000, minute - 120_000, minute - 180_000]);
  });

  it('DescribeAlarms answers the lab alarms by name', async () => {
    const r = await aws(['cloudwatch', 'describe-alarms', '--alarm-names', 'lab-us-east-1-api-health', 'missing']);
    expect(r.json.MetricAlarms).toEqual([expect.objectContaining({ AlarmName: 'lab-us-east-1-api-health', StateValue: 'OK' })]);
  });

  it('a hand-built query request gets the XML document of the 2010-08-01 namespace; errors too', async () => {
    const authorization = 'AWS4-HMAC-SHA256 Credential=lab/20250304/eu-west-1/monitoring/aws4_request, SignedHeaders=host, Signature=0';
    const form = new URLSearchParams({ Action: 'DescribeAlarms', Version: '2010-08-01', 'AlarmNames.member.1': 'lab-us-east-1-api-health' });
    const ok = await fetch(plane.url, { method: 'POST', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
    const text = await ok.text();
    expect(text).toContain('<DescribeAlarmsResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><DescribeAlarmsResult><MetricAlarms><member>');
    expect(text).toContain('<AlarmName>lab-us-east-1-api-health</AlarmName>');
    const bad = await fetch(plane.url, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=GetMetricData&Version=2010-08-01&StartTime=2025-01-01T00:00:00Z&EndTime=2025-01-01T01:00:00Z',
    });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/<ErrorResponse xmlns="http:\/\/monitoring.amazonaws.com\/doc\/2010-08-01\/"><Error><Type>Sender<\/Type><Code>MissingParameter<\/Code>/);
  });
});

describe('Route 53 (restXml) — https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html', () => {
  const zone = RECORD_TRAFFIC.hostedZoneId;
  const set = (identifier: string, weight: number, extra: Record<string, unknown> = {}) => ({
    Name: 'api.lab.payments.internal.',
    Type: 'CNAME',
    SetIdentifier: identifier,
    Weight: weight,
    TTL: 1,
    ResourceRecords: [{ Value: `${identifier}.api.lab.payments.internal` }],
    ...extra,
  });
  const change = (changes: unknown[]) => aws(['route53', 'change-resource-record-sets', '--hosted-zone-id', zone, '--change-batch', JSON.stringify({ Changes: changes })]);
  beforeAll(() => use(recordWorld));

  it('lists every record across pages of one (the CLI follows NextRecordName / Type / Identifier until IsTruncated is false)', async () => {
    await change([{ Action: 'CREATE', ResourceRecordSet: { Name: 'aaa.lab.payments.internal', Type: 'A', TTL: 60, ResourceRecords: [{ Value: '192.0.2.1' }] } }]);
    const r = await aws(['route53', 'list-resource-record-sets', '--hosted-zone-id', zone, '--page-size', '1']);
    expect(r.code).toBe(0);
    expect(r.json.ResourceRecordSets.map((s: { Name: string; SetIdentifier?: string }) => `${s.Name} ${s.SetIdentifier ?? '-'}`)).toEqual([
      'aaa.lab.payments.internal. -',
      'api.lab.payments.internal. eu-west-1',
      'api.lab.payments.internal. us-east-1',
    ]);
  });

  it('CREATE of an existing set and a DELETE that does not match it exactly are InvalidChangeBatch, and change nothing', async () => {
    const created = await change([{ Action: 'CREATE', ResourceRecordSet: set('us-east-1', 0, { HealthCheckId: 'hc-use1' }) }]);
    expectAwsError(created, 'InvalidChangeBatch', 'ChangeResourceRecordSets');
    expect(created.stderr).toContain("Tried to create resource record set [name='api.lab.payments.internal.', type='CNAME', set-identifier='us-east-1'] but it already exists");
    const deleted = await change([{ Action: 'DELETE', ResourceRecordSet: set('us-east-1', 50, { HealthCheckId: 'hc-use1' }) }]);
    expectAwsError(deleted, 'InvalidChangeBatch', 'ChangeResourceRecordSets');
    expect(deleted.stderr).toContain('do not match the current values');
    const listed = await aws(['route53', 'list-resource-record-sets', '--hosted-zone-id', zone, '--start-record-name', 'api.lab.payments.internal']);
    expect(listed.json.ResourceRecordSets.find((s: { SetIdentifier?: string }) => s.SetIdentifier === 'us-east-1')).toMatchObject({ Weight: 100, HealthCheckId: 'hc-use1' });
    expectAwsError(await change([{ Action: 'UPSERT', ResourceRecordSet: set('us-east-1', 100, { HealthCheckId: 'hc-nope' }) }]), 'NoSuchHealthCheck', 'ChangeResourceRecordSets');
  });

  it('an UPSERT of an unrelated record does not move traffic; UPSERTs of the weights do, once INSYNC, and replace the whole set (no HealthCheckId sent: none kept)', async () => {
    const weights = recordWorld.state.dnsWeights;
    expect(weights).toEqual({ 'us-east-1': 100, 'eu-west-1': 0 });
    const unrelated = await change([
      {
        Action: 'UPSERT',
        ResourceRecordSet: {
          Name: 'other.lab.payments.internal',
          Type: 'CNAME',
          SetIdentifier: 'eu-west-1',
          Weight: 100,
          TTL: 1,
          ResourceRecords: [{ Value: 'eu-west-1.api.lab.payments.internal' }],
        },
      },
    ]);
    const unrelatedId = unrelated.json.ChangeInfo.Id;
    for (;;) {
      const c = await aws(['route53', 'get-change', '--id', unrelatedId]);
      if (c.json.ChangeInfo.Status === 'INSYNC') break;
    }
    expect(weights).toEqual({ 'us-east-1': 100, 'eu-west-1': 0 });

    const flip = await change([
      { Action: 'UPSERT', ResourceRecordSet: set('us-east-1', 0) },
      { Action: 'UPSERT', ResourceRecordSet: set('eu-west-1', 100) },
    ]);
    expect(flip.json.ChangeInfo.Status).toBe('PENDING');
    for (;;) {
      const c = await aws(['route53', 'get-change', '--id', flip.json.ChangeInfo.Id]);
      if (c.json.ChangeInfo.Status === 'INSYNC') break;
    }
    expect(weights).toEqual({ 'us-east-1': 0, 'eu-west-1': 100 });
    const listed = await aws([
      'route53',
      'list-resource-record-sets',
      '--hosted-zone-id',
      zone,
      '--start-record-name',
      'api.lab.payments.internal',
      '--start-record-type',
      'CNAME',
      '--start-record-identifier',
      'us-east-1',
    ]);
    expect(listed.json.ResourceRecordSets[0]).toEqual(set('us-east-1', 0));
    expectAwsError(await aws(['route53', 'get-change', '--id', 'C0NOPE']), 'NoSuchChange', 'GetChange');
  });
});

describe('Route 53 ARC cluster (awsJson1_0) — https://docs.aws.amazon.com/routing-control/latest/APIReference/API_UpdateRoutingControlStates.html', () => {
  const arc = (args: string[], region = 'eu-west-1') => aws(['route53-recovery-cluster', ...args], region);
  beforeAll(() => use(arcWorld));

  it('GetRoutingControlState / ListRoutingControls; ResourceNotFoundException and ValidationException as modelled', async () => {
    const got = await arc(['get-routing-control-state', '--routing-control-arn', PRIMARY_CONTROL]);
    expect(got.json).toEqual({ RoutingControlArn: PRIMARY_CONTROL, RoutingControlState: 'On', RoutingControlName: 'api-use1' });
    const listed = await arc(['list-routing-controls', '--control-panel-arn', 'arn:aws:route53-recovery-control::000000000000:controlpanel/0lab0000']);
    expect(listed.json.RoutingControls.map((c: { RoutingControlName: string; RoutingControlState: string }) => `${c.RoutingControlName}=${c.RoutingControlState}`)).toEqual([
      'api-use1=On',
      'api-euw1=Off',
    ]);
    expectAwsError(await arc(['get-routing-control-state', '--routing-control-arn', `${PRIMARY_CONTROL}-nope`]), 'ResourceNotFoundException', 'GetRoutingControlState');
    expectAwsError(await arc(['get-routing-control-state', '--routing-control-arn', 'not an arn!']), 'ValidationException', 'GetRoutingControlState');
  });

  it('the "at least one On" safety rule blocks turning the primary Off first (ConflictException), unless overridden; both in one UpdateRoutingControlStates moves DNS to the recovery region after dnsSyncMs', async () => {
    const blocked = await arc(['update-routing-control-state', '--routing-control-arn', PRIMARY_CONTROL, '--routing-control-state', 'Off'], 'us-east-1');
    expectAwsError(blocked, 'ConflictException', 'UpdateRoutingControlState');
    expect(blocked.stderr).toContain(SAFETY_RULE);
    expect((await arc(['get-routing-control-state', '--routing-control-arn', PRIMARY_CONTROL])).json.RoutingControlState).toBe('On');
    expect(arcWorld.state.dnsWeights).toEqual({ 'us-east-1': 100, 'eu-west-1': 0 });

    const entries = JSON.stringify([
      { RoutingControlArn: RECOVERY_CONTROL, RoutingControlState: 'On' },
      { RoutingControlArn: PRIMARY_CONTROL, RoutingControlState: 'Off' },
    ]);
    const flipped = await arc(['update-routing-control-states', '--update-routing-control-state-entries', entries]);
    expect(flipped.code).toBe(0);
    await until(() => arcWorld.state.dnsWeights['eu-west-1'] === 100);
    expect(arcWorld.state.dnsWeights).toEqual({ 'us-east-1': 0, 'eu-west-1': 100 });
    expect(arcWorld.state.marks.flippedAt).toEqual(expect.any(Number));
    // The records were not edited: the health checks on the routing controls moved the traffic.
    const records = await aws(['route53', 'list-resource-record-sets', '--hosted-zone-id', LAB_ARC_ZONE_ID]);
    expect(records.json.ResourceRecordSets.map((r: { SetIdentifier: string; Weight: number; HealthCheckId: string }) => [r.SetIdentifier, r.Weight, r.HealthCheckId])).toEqual([
      ['eu-west-1', 100, 'hc-lab-arc-eu-west-1'],
      ['us-east-1', 100, 'hc-lab-arc-us-east-1'],
    ]);

    const override = await arc([
      'update-routing-control-state',
      '--routing-control-arn',
      RECOVERY_CONTROL,
      '--routing-control-state',
      'Off',
      '--safety-rules-to-override',
      SAFETY_RULE,
    ]);
    expect(override.code).toBe(0);
    const restored = await arc([
      'update-routing-control-states',
      '--update-routing-control-state-entries',
      JSON.stringify([
        { RoutingControlArn: PRIMARY_CONTROL, RoutingControlState: 'On' },
        { RoutingControlArn: RECOVERY_CONTROL, RoutingControlState: 'Off' },
      ]),
    ]);
    expect(restored.code).toBe(0);
    await until(() => arcWorld.state.dnsWeights['us-east-1'] === 100);
  });

  it('a blackholed region holds its cluster endpoint: the CLI times out (its read timeout), the record shows the request held', async () => {
    arcWorld.state.regionsBlackholed!.add('us-east-1');
    try {
      const before = plane.calls.length;
      const r = await aws(['route53-recovery-cluster', 'get-routing-control-state', '--routing-control-arn', PRIMARY_CONTROL, '--cli-read-timeout', '1'], 'us-east-1');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/Read timeout on endpoint URL/);
      expect(plane.calls.slice(before)).toEqual([
        expect.objectContaining({ region: 'us-east-1', service: 'route53-recovery-cluster', operation: 'GetRoutingControlState', status: 0, unanswered: 'held' }),
      ]);
      // The other regions' endpoints answer.
      expect((await arc(['get-routing-control-state', '--routing-control-arn', PRIMARY_CONTROL])).code).toBe(0);
    } finally {
      arcWorld.state.regionsBlackholed!.delete('us-east-1');
    }
  });
});

describe('Application Auto Scaling (awsJson1_1) — https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html', () => {
  const aas = (args: string[], region = 'eu-west-1') => aws(['application-autoscaling', ...args], region);
  beforeAll(() => use(arcWorld));

  it('DescribeScalableTargets per region; RegisterScalableTarget moves the desired count into [min, max]; ValidationException for min > max or an unknown service', async () => {
    const eu = await aas(['describe-scalable-targets', '--service-namespace', 'ecs']);
    expect(eu.json.ScalableTargets).toEqual([
      expect.objectContaining({
        ServiceNamespace: 'ecs',
        ResourceId: 'service/lab-euw1/payments-api',
        ScalableDimension: 'ecs:service:DesiredCount',
        MinCapacity: 2,
        MaxCapacity: 2,
      }),
    ]);

    const raised = await aas([
      'register-scalable-target',
      '--service-namespace',
      'ecs',
      '--resource-id',
      'service/lab-euw1/payments-api',
      '--scalable-dimension',
      'ecs:service:DesiredCount',
      '--min-capacity',
      '6',
      '--max-capacity',
      '12',
    ]);
    expect(raised.code).toBe(0); // this CLI's model predates ScalableTargetARN in the answer
    expect(arcWorld.apps.recovery.desiredCount).toBe(6);

    await aas(
      [
        'register-scalable-target',
        '--service-namespace',
        'ecs',
        '--resource-id',
        'service/lab-use1/payments-api',
        '--scalable-dimension',
        'ecs:service:DesiredCount',
        '--min-capacity',
        '0',
        '--max-capacity',
        '0',
      ],
      'us-east-1',
    );
    expect(arcWorld.apps.primary.desiredCount).toBe(0);
    expect(arcWorld.state.marks.fencedAt).toEqual(expect.any(Number));

    expectAwsError(
      await aas([
        'register-scalable-target',
        '--service-namespace',
        'ecs',
        '--resource-id',
        'service/lab-euw1/payments-api',
        '--scalable-dimension',
        'ecs:service:DesiredCount',
        '--min-capacity',
        '5',
        '--max-capacity',
        '3',
      ]),
      'ValidationException',
      'RegisterScalableTarget',
    );
    expectAwsError(
      await aas([
        'register-scalable-target',
        '--service-namespace',
        'ecs',
        '--resource-id',
        'service/lab-euw1/ghost',
        '--scalable-dimension',
        'ecs:service:DesiredCount',
        '--min-capacity',
        '1',
        '--max-capacity',
        '3',
      ]),
      'ValidationException',
      'RegisterScalableTarget',
    );
  });
});

describe('Step Functions (awsJson1_0) — https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html', () => {
  const sfn = (args: string[]) => aws(['stepfunctions', ...args]);
  beforeAll(() => use(arcWorld));

  it('ListStateMachines, StartExecution (the local runner runs it), DescribeExecution, GetExecutionHistory with Step Functions event types', async () => {
    const machines = await sfn(['list-state-machines']);
    expect(machines.json.stateMachines).toEqual([expect.objectContaining({ stateMachineArn: STATE_MACHINE, name: 'lab-failover', type: 'STANDARD' })]);
    const started = await sfn(['start-execution', '--state-machine-arn', STATE_MACHINE, '--name', 'cli-run', '--input', '{"mode":"drill","reason":"cli","requestedBy":"test"}']);
    expect(started.json.executionArn).toBe('arn:aws:states:eu-west-1:000000000000:execution:lab-failover:cli-run');
    await until(() => arcWorld.orchestrator.executions[0]?.status === 'SUCCEEDED');
    const described = await sfn(['describe-execution', '--execution-arn', started.json.executionArn]);
    expect(described.json).toMatchObject({ status: 'SUCCEEDED', input: '{"mode":"drill","reason":"cli","requestedBy":"test"}', output: '{"ok":true}' });
    const history = await sfn(['get-execution-history', '--execution-arn', started.json.executionArn]);
    expect(history.json.events.map((e: { type: string }) => e.type)).toEqual(['ExecutionStarted', 'PassStateEntered', 'PassStateExited', 'ExecutionSucceeded']);
    expect(history.json.events[1]).toMatchObject({ id: 2, previousEventId: 1, stateEnteredEventDetails: { name: 'Hello' } });
    expectAwsError(await sfn(['start-execution', '--state-machine-arn', STATE_MACHINE, '--name', 'cli-run']), 'ExecutionAlreadyExists', 'StartExecution');
    expectAwsError(await sfn(['start-execution', '--state-machine-arn', STATE_MACHINE, '--input', 'not json']), 'InvalidExecutionInput', 'StartExecution');
    expectAwsError(await sfn(['start-execution', '--state-machine-arn', `${STATE_MACHINE}-nope`]), 'StateMachineDoesNotExist', 'StartExecution');
  });

  it('a Task state reads TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded, TaskStateExited; a failed run ExecutionFailed with its error', async () => {
    const at = Date.now();
    const record: ExecutionRecord = {
      executionArn: `${STATE_MACHINE.replace(':stateMachine:', ':execution:')}:task-run`,
      stateMachineArn: STATE_MACHINE,
      name: 'task-run',
      input: { mode: 'failover' },
      status: 'FAILED',
      startDate: new Date(at),
      stopDate: new Date(at + 3),
      error: 'FenceUnconfirmed',
      cause: 'no answer',
      gates: [],
      events: [
        { type: 'ExecutionStarted', at, nested: false, input: { mode: 'failover' } },
        { type: 'StateEntered', state: 'FenceUsWriters', stateType: 'Task', at: at + 1, nested: false, input: { a: 1 } },
        { type: 'StateExited', state: 'FenceUsWriters', stateType: 'Task', at: at + 2, nested: false, output: { b: 2 } },
        { type: 'ExecutionFailed', at: at + 3, nested: false, error: 'FenceUnconfirmed', cause: 'no answer' },
      ],
    };
    arcWorld.orchestrator.executions.push(record);
    const history = await sfn(['get-execution-history', '--execution-arn', record.executionArn]);
    expect(history.json.events.map((e: { type: string }) => e.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSucceeded',
      'TaskStateExited',
      'ExecutionFailed',
    ]);
    expect(history.json.events[5]).toMatchObject({ stateExitedEventDetails: { name: 'FenceUsWriters', output: '{"b":2}' } });
    expect(history.json.events[6]).toMatchObject({ executionFailedEventDetails: { error: 'FenceUnconfirmed', cause: 'no answer' } });
    const reversed = await sfn(['get-execution-history', '--execution-arn', record.executionArn, '--reverse-order', '--max-items', '1']);
    expect(reversed.json.events.map((e: { type: string }) => e.type)).toEqual(['ExecutionFailed']);
  });

  it('SendTaskSuccess: a bogus token is InvalidToken, a token no longer waited on TaskTimedOut, output that is not JSON InvalidOutput', async () => {
    const tokens = arcWorld.state.tokens;
    void tokens.wait('AQCE-issued-token').catch(() => undefined);
    tokens.expire('AQCE-issued-token');
    expectAwsError(await sfn(['send-task-success', '--task-token', 'bogus-token', '--task-output', '{}']), 'InvalidToken', 'SendTaskSuccess');
    expectAwsError(await sfn(['send-task-success', '--task-token', 'AQCE-issued-token', '--task-output', '{}']), 'TaskTimedOut', 'SendTaskSuccess');
    const waiting = tokens.wait('AQCE-live-token');
    expectAwsError(await sfn(['send-task-success', '--task-token', 'AQCE-live-token', '--task-output', 'approved']), 'InvalidOutput', 'SendTaskSuccess');
    expect((await sfn(['send-task-success', '--task-token', 'AQCE-live-token', '--task-output', '{"approved":true}'])).code).toBe(0);
    await expect(waiting).resolves.toEqual({ approved: true });
  });
});

describe('EventBridge, SSM (awsJson1_1), DynamoDB (awsJson1_0 through dynalite), Lambda (restJson1)', () => {
  beforeAll(() => use(arcWorld));

  it('PutEvents fails a non-JSON Detail entry alone with MalformedDetail — https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html', async () => {
    const before = arcWorld.state.events.length;
    const r = await aws([
      'events',
      'put-events',
      '--entries',
      JSON.stringify([
        { Source: 'failover.orchestrator', DetailType: 'Failover Succeeded', Detail: '{"ok":true}', EventBusName: 'lab-failover-events' },
        { Source: 'failover.orchestrator', DetailType: 'Failover Succeeded', Detail: '{not json', EventBusName: 'lab-failover-events' },
      ]),
    ]);
    expect(r.json.FailedEntryCount).toBe(1);
    expect(r.json.Entries[0].EventId).toEqual(expect.any(String));
    expect(r.json.Entries[1]).toEqual({ ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' });
    expect(arcWorld.state.events.slice(before)).toEqual([expect.objectContaining({ detailType: 'Failover Succeeded', detail: { ok: true } })]);
  });

  it('GetParameter of a SecureString answers the ciphertext without --with-decryption, the plaintext with it — https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html', async () => {
    const hidden = await aws(['ssm', 'get-parameter', '--name', '/failover/lab/slack-bot-token']);
    expect(hidden.json.Parameter).toMatchObject({ Name: '/failover/lab/slack-bot-token', Type: 'SecureString' });
    expect(hidden.json.Parameter.Value).not.toContain('xoxb');
    const shown = await aws(['ssm', 'get-parameter', '--name', '/failover/lab/slack-bot-token', '--with-decryption']);
    expect(shown.json.Parameter.Value).toBe('xoxb-lab-bot-token-not-a-real-token');
    expectAwsError(await aws(['ssm', 'get-parameter', '--name', '/nope']), 'ParameterNotFound', 'GetParameter');
  });

  it("DynamoDB conditional writes are dynalite's, and its answers pass the CLI's CRC32 check", async () => {
    const put = (condition: string) =>
      aws(['dynamodb', 'put-item', '--table-name', 'lab-leases', '--item', '{"leaseId":{"S":"failover#lab"},"ownerId":{"S":"exec-1"}}', '--condition-expression', condition]);
    expect((await put('attribute_not_exists(leaseId)')).code).toBe(0);
    const second = await put('attribute_not_exists(leaseId)');
    expectAwsError(second, 'ConditionalCheckFailedException', 'PutItem');
    const got = await aws(['dynamodb', 'get-item', '--table-name', 'lab-leases', '--key', '{"leaseId":{"S":"failover#lab"}}', '--consistent-read']);
    expect(got.json.Item).toEqual({ leaseId: { S: 'failover#lab' }, ownerId: { S: 'exec-1' } });
    expectAwsError(await aws(['dynamodb', 'get-item', '--table-name', 'nope', '--key', '{"leaseId":{"S":"x"}}']), 'ResourceNotFoundException', 'GetItem');
  });

  it('Invoke: Event answers 202 and runs the registered handler afterwards; RequestResponse 200 with its payload; an unknown function ResourceNotFoundException — https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html', async () => {
    const seen: unknown[] = [];
    arcWorld.world.registerFunction('slack-callback', async (event, context) => {
      seen.push({ event, name: context.functionName, remaining: context.getRemainingTimeInMillis() > 0 });
      return { statusCode: 200 };
    });
    const out = join(workDir, 'payload.json');
    const event = await aws([
      'lambda',
      'invoke',
      '--function-name',
      'slack-callback',
      '--invocation-type',
      'Event',
      '--cli-binary-format',
      'raw-in-base64-out',
      '--payload',
      '{"lazy":true}',
      out,
    ]);
    expect(event.json).toMatchObject({ StatusCode: 202 });
    await until(() => seen.length === 1);
    expect(seen[0]).toEqual({ event: { lazy: true }, name: 'slack-callback', remaining: true });
    const sync = await aws([
      'lambda',
      'invoke',
      '--function-name',
      'arn:aws:lambda:eu-west-1:000000000000:function:slack-callback',
      '--cli-binary-format',
      'raw-in-base64-out',
      '--payload',
      '{"n":1}',
      out,
    ]);
    expect(sync.json).toMatchObject({ StatusCode: 200, ExecutedVersion: '$LATEST' });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({ statusCode: 200 });
    arcWorld.world.registerFunction('broken', async () => {
      throw new TypeError('boom');
    });
    const failed = await aws(['lambda', 'invoke', '--function-name', 'broken', out]);
    expect(failed.json).toMatchObject({ StatusCode: 200, FunctionError: 'Unhandled' });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ errorType: 'TypeError', errorMessage: 'boom' });
    expectAwsError(await aws(['lambda', 'invoke', '--function-name', 'nope', out]), 'ResourceNotFoundException', 'Invoke');
  });
});

describe("the handlers' own SDK clients (functions/core/clients.ts) against the same world", () => {
  beforeAll(() => use(arcWorld));

  it('arcCluster() with an endpoint path (/v1, as DescribeCluster gives it) and lambda() Invoke Event reach the world', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY, endpoint: process.env.AWS_ENDPOINT_URL };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'lab', AWS_SECRET_ACCESS_KEY: 'lab', AWS_ENDPOINT_URL: plane.url });
    resetClients();
    try {
      const state = await arcCluster({ region: 'eu-west-1', endpoint: `${plane.url}/v1` }).send(new GetRoutingControlStateCommand({ RoutingControlArn: RECOVERY_CONTROL }));
      expect(state).toMatchObject({ RoutingControlArn: RECOVERY_CONTROL, RoutingControlName: 'api-euw1' });
      expect(plane.calls[plane.calls.length - 1]).toMatchObject({ region: 'eu-west-1', service: 'route53-recovery-cluster', operation: 'GetRoutingControlState', status: 200 });

      const seen: unknown[] = [];
      arcWorld.world.registerFunction('slack-callback', (event) => {
        seen.push(event);
      });
      const out = await lambda('eu-west-1').send(new InvokeCommand({ FunctionName: 'slack-callback', InvocationType: 'Event', Payload: Buffer.from('{"lazy":true}') }));
      expect(out.StatusCode).toBe(202);
      await until(() => seen.length === 1);
      expect(seen).toEqual([{ lazy: true }]);
    } finally {
      resetClients();
      for (const [k, v] of Object.entries({ AWS_ACCESS_KEY_ID: saved.id, AWS_SECRET_ACCESS_KEY: saved.secret, AWS_ENDPOINT_URL: saved.endpoint })) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
