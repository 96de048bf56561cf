import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import {
  DescribeDBClusterParametersCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DescribeDBParametersCommand,
  DescribeGlobalClustersCommand,
  RDSClient,
  type DescribeDBInstancesCommandInput,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import type { Mode } from '../../functions/core/contract';
import { smokeTest } from '../../functions/smoke-test';
import { startFixture } from '../helpers/fixtures';
import { examplePlan } from '../helpers/plan';
import { mockFetch, networkError, NOW, regionOf, stageContext } from '../helpers/stage';
import { accountsPrimary, accountsReplicaReplicating, ledgerGlobalCluster, ledgerPrimaryCluster } from '../helpers/rds-responses';

const rds = mockClient(RDSClient);
const cloudwatch = mockClient(CloudWatchClient);

const HEALTH_URL = 'https://api-euw1.payments.example.com/healthz';
const WRITE_URL = 'https://api-euw1.payments.example.com/v1/synthetic/transactions';

function input(mode: Mode = 'failover') {
  return { plan: examplePlan(), start: startFixture(mode === 'failover' ? {} : { mode, trigger: 'manual' }) };
}

/** The US primary instance as DescribeDBInstances shows it (the fence's evidence). */
let usPrimary: () => unknown = () => accountsPrimary();

/** The recovery region after a failover: EU is the Aurora writer and the RDS replica is standalone; the US side is fenced read-only. */
function databasesPromoted() {
  rds.on(DescribeGlobalClustersCommand).resolves(ledgerGlobalCluster('recovery'));
  usPrimary = () => accountsPrimary();
  rds
    .on(DescribeDBInstancesCommand)
    .callsFake((input: DescribeDBInstancesCommandInput) =>
      input.DBInstanceIdentifier === 'payments-accounts-use1' ? usPrimary() : { DBInstances: [{ DBInstanceIdentifier: 'payments-accounts-euw1', DBInstanceStatus: 'available' }] },
    );
  rds.on(DescribeDBParametersCommand).resolves({ Parameters: [{ ParameterName: 'default_transaction_read_only', ParameterValue: '1', Source: 'user' }] });
  rds.on(DescribeDBClustersCommand).resolves(ledgerPrimaryCluster());
  rds.on(DescribeDBClusterParametersCommand).resolves({ Parameters: [{ ParameterName: 'default_transaction_read_only', ParameterValue: '1', Source: 'user' }] });
}

/** Healthy recovery endpoints: GET /healthz 200, POST synthetic payment 201. */
function endpoints(overrides: Partial<Record<string, () => Response | Promise<Response>>> = {}) {
  const routes: Record<string, () => Response | Promise<Response>> = {
    [HEALTH_URL]: () => new Response('{"status":"ok"}', { status: 200 }),
    [WRITE_URL]: () => new Response('{"id":"txn_synthetic"}', { status: 201 }),
    ...overrides,
  };
  return mockFetch((url) => {
    const route = routes[url];
    if (!route) throw new Error(`unexpected fetch ${url}`);
    return route();
  });
}

const ctx = stageContext();

beforeEach(() => {
  rds.reset();
  cloudwatch.reset();
  cloudwatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [{ Id: 'm', Values: [0], Timestamps: [new Date()] }] });
  databasesPromoted();
});

afterEach(() => {
  jest.restoreAllMocks();
});

describe('smoke-test', () => {
  it('passes when every HTTP check answers as expected and every database is writable', async () => {
    endpoints();

    const result = await smokeTest(input(), ctx);

    expect(result).toEqual({
      passed: true,
      checks: [
        expect.objectContaining({ name: 'api-health', ok: true, status: 200 }),
        expect.objectContaining({ name: 'synthetic-payment', ok: true, status: 201 }),
        expect.objectContaining({ name: 'ledger-writable', ok: true }),
        expect.objectContaining({ name: 'accounts-writable', ok: true }),
      ],
      fenceRecheck: [
        { database: 'ledger', kind: 'aurora-global', status: expect.stringMatching(/^(refuses-writes|no-database-fence)$/), detail: expect.any(String) },
        { database: 'accounts', kind: 'rds-replica', status: 'refuses-writes', detail: expect.stringContaining('default_transaction_read_only=1') },
      ],
      startedAt: NOW.toISOString(),
      finishedAt: NOW.toISOString(),
    });
  });

  it('re-checks the old primary from the fence evidence in the primary region: group attached and in-sync, default_transaction_read_only read back as 1', async () => {
    endpoints();

    await smokeTest(input(), ctx);

    expect(rds).toHaveReceivedCommandWith(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'payments-accounts-use1' });
    expect(rds).toHaveReceivedCommandWith(DescribeDBParametersCommand, { DBParameterGroupName: 'payments-accounts-pg15', Source: 'user' });
    const call = rds.commandCalls(DescribeDBParametersCommand)[0]!;
    await expect(regionOf(call)).resolves.toBe('us-east-1');
  });

  it.each([
    [
      'the read-only parameter reads 0',
      () => rds.on(DescribeDBParametersCommand).resolves({ Parameters: [{ ParameterName: 'default_transaction_read_only', ParameterValue: '0' }] }),
      'default_transaction_read_only is 0',
    ],
    ['the group is pending-reboot', () => (usPrimary = () => accountsPrimary({ applyStatus: 'pending-reboot' })), 'pending-reboot: the read-only setting is not in force'],
    ['another group is attached', () => (usPrimary = () => accountsPrimary({ name: 'default.postgres15' })), 'payments-accounts-pg15 is NOT attached'],
  ])('fails with OldPrimaryWritable (split-brain risk) when the reachable old primary is not shown read-only: %s', async (_case, arrange, why) => {
    endpoints();
    arrange();

    await expect(smokeTest(input(), ctx)).rejects.toMatchObject({ name: 'OldPrimaryWritable', message: expect.stringContaining(why) });
  });

  it('records an old primary whose read-only change is still applying as not proven (a crashed instance applies nothing and takes no writes), and passes', async () => {
    endpoints();
    usPrimary = () => accountsPrimary({ applyStatus: 'applying' });

    const result = await smokeTest(input(), ctx);

    expect(result.fenceRecheck).toContainEqual({ database: 'accounts', kind: 'rds-replica', status: 'unreachable', detail: expect.stringContaining('still applying') });
  });

  it('records an unreachable old primary and passes: a dead region accepts no writes', async () => {
    endpoints();
    usPrimary = () => Promise.reject(Object.assign(new Error('connect ETIMEDOUT 3.5.0.1:443'), { name: 'TimeoutError', $metadata: {} }));

    const result = await smokeTest(input(), ctx);

    expect(result.passed).toBe(true);
    expect(result.fenceRecheck).toContainEqual({ database: 'accounts', kind: 'rds-replica', status: 'unreachable', detail: expect.stringContaining('TimeoutError') });
  });

  it('records an old primary that never answers as unreachable within the fence budget, without hanging', async () => {
    endpoints();
    const plan = examplePlan((raw) => {
      raw.fence = { timeoutSeconds: 1 };
    });
    usPrimary = () => new Promise(() => {});

    const result = await smokeTest({ plan, start: startFixture() }, ctx);

    expect(result.fenceRecheck).toContainEqual({ database: 'accounts', kind: 'rds-replica', status: 'unreachable', detail: expect.stringContaining('no answer within 1 s') });
  });

  it('says when a database has no database-level fence to re-check', async () => {
    endpoints();
    const plan = examplePlan((raw) => {
      delete raw.databases[1].primaryParameterGroup;
    });

    const result = await smokeTest({ plan, start: startFixture() }, ctx);

    expect(result.fenceRecheck).toContainEqual({ database: 'accounts', kind: 'rds-replica', status: 'no-database-fence', detail: expect.stringContaining('compute layer only') });
  });

  it('sends the synthetic write as a JSON POST with the plan body', async () => {
    const fetchSpy = endpoints();

    await smokeTest(input(), ctx);

    const [, init] = fetchSpy.mock.calls.find(([, i]) => i?.method === 'POST')!;
    expect((init!.headers as Record<string, string>)['content-type']).toBe('application/json');
    expect(JSON.parse(String(init!.body))).toEqual({ amount: 1, currency: 'EUR', account: 'synthetic-failover-check', synthetic: true });
  });

  it('fails with SmokeTestFailed naming the check that answered 503', async () => {
    endpoints({ [HEALTH_URL]: () => new Response('upstream unavailable', { status: 503 }) });

    await expect(smokeTest(input(), ctx)).rejects.toMatchObject({
      name: 'SmokeTestFailed',
      message: `1 of 4 smoke checks failed: api-health: GET ${HEALTH_URL}: HTTP 503, expected 200`,
    });
  });

  it('fails with SmokeTestFailed naming each failing check', async () => {
    endpoints({
      [HEALTH_URL]: () => new Response('', { status: 503 }),
      [WRITE_URL]: () => Promise.reject(networkError()),
    });

    await expect(smokeTest(input(), ctx)).rejects.toMatchObject({
      name: 'SmokeTestFailed',
      message: expect.stringMatching(/^2 of 4 smoke checks failed: api-health: .*; synthetic-payment: POST .*ECONNREFUSED/),
    });
  });

  it('fails with SmokeTestFailed when a database is still a replica', async () => {
    endpoints();
    rds
      .on(DescribeDBInstancesCommand)
      .callsFake((i: DescribeDBInstancesCommandInput) => (i.DBInstanceIdentifier === 'payments-accounts-use1' ? accountsPrimary() : accountsReplicaReplicating()));

    await expect(smokeTest(input(), ctx)).rejects.toMatchObject({
      name: 'SmokeTestFailed',
      message: expect.stringContaining('1 of 4 smoke checks failed: accounts-writable: read replication replicating'),
    });
  });

  it('fails with SmokeTestFailed when the Aurora recovery cluster is not the writer', async () => {
    endpoints();
    rds.on(DescribeGlobalClustersCommand).resolves(ledgerGlobalCluster('primary'));

    await expect(smokeTest(input(), ctx)).rejects.toMatchObject({ name: 'SmokeTestFailed', message: expect.stringContaining('ledger-writable') });
  });

  it('fails with SmokeTestFailed when a body check does not find its text', async () => {
    const plan = examplePlan((raw) => {
      raw.smokeTests[0].expectBodyContains = '"status":"ok"';
    });
    endpoints({ [HEALTH_URL]: () => new Response('{"status":"degraded"}', { status: 200 }) });

    await expect(smokeTest({ plan, start: startFixture() }, ctx)).rejects.toMatchObject({
      name: 'SmokeTestFailed',
      message: expect.stringContaining('api-health: GET https://api-euw1.payments.example.com/healthz: body does not contain "\\"status\\":\\"ok\\""'),
    });
  });

  it('in a drill, runs the reads but does not send the writes', async () => {
    const fetchSpy = endpoints();

    const result = await smokeTest(input('drill'), ctx);

    expect(fetchSpy).toHaveBeenCalledWith(HEALTH_URL, expect.objectContaining({ method: 'GET' }));
    expect(fetchSpy).not.toHaveBeenCalledWith(expect.anything(), expect.objectContaining({ method: 'POST' }));
    expect(result.checks).toContainEqual(expect.objectContaining({ name: 'synthetic-payment', ok: true, detail: `drill: would send POST ${WRITE_URL} expecting 201` }));
  });

  it('in a drill, does not require the databases to be promoted', async () => {
    endpoints();

    const result = await smokeTest(input('drill'), ctx);

    expect(result.passed).toBe(true);
    expect(result).not.toHaveProperty('fenceRecheck');
    expect(rds).not.toHaveReceivedCommand(DescribeDBInstancesCommand);
    expect(rds).not.toHaveReceivedCommand(DescribeGlobalClustersCommand);
  });
});
