/**
 * A dying region accepts TCP connections and never answers. These tests point a real SDK client at
 * a local server that does exactly that and prove, from what the server and the error record, that
 * the clients of functions/core/clients.ts end such a call with a catchable `TimeoutError` after
 * `maxAttempts` attempts, and that the same configuration without `throwOnRequestTimeout` would
 * still be waiting (so the Lambda would run into its own timeout: `Lambda.Unknown`). The calls use
 * short limits through the same `clientConfig`; that every client gets DEFAULT_LIMITS is read off
 * the clients themselves.
 * No assertion is made on wall-clock durations: the jest timeout is the bound.
 */
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ARC_ENDPOINT_LIMITS, arcCluster, clientConfig, DEFAULT_LIMITS, rds, resetClients, type CallLimits } from '../../../functions/core/clients';
import { fenceUsWriters } from '../../../functions/fence-us-writers';
import { startFixture } from '../../helpers/fixtures';
import { examplePlan } from '../../helpers/plan';
import { stageContext } from '../../helpers/stage';

/** A TCP server on 127.0.0.1 that accepts every connection and never writes a byte. */
async function blackhole(): Promise<{ server: Server; url: string; accepted: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    accepted: () => accepted,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const settledWithin = <T>(promise: Promise<T>, ms: number): Promise<'settled' | 'pending'> =>
  Promise.race([
    promise.then(
      () => 'settled' as const,
      () => 'settled' as const,
    ),
    new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms)),
  ]);

/**
 * The single-flight lease (DynamoDB, in the orchestrator's own region) that the fence marks acting
 * before its first mutation: mocked, so only the primary region's services meet the blackhole.
 */
const ddb = mockClient(DynamoDBClient);

describe('SDK clients against an endpoint that accepts and never answers', () => {
  const savedEndpoint = process.env.AWS_ENDPOINT_URL;
  beforeAll(() => {
    process.env.LEASE_TABLE = 'failover-orchestrator-test-leases';
  });
  afterAll(() => {
    delete process.env.LEASE_TABLE;
    ddb.restore();
  });
  let hole: Awaited<ReturnType<typeof blackhole>>;
  let control: Awaited<ReturnType<typeof blackhole>>;

  beforeEach(async () => {
    ddb.reset();
    ddb.on(UpdateItemCommand).resolves({});
    hole = await blackhole();
    control = await blackhole();
    resetClients();
  });

  afterEach(async () => {
    resetClients();
    if (savedEndpoint === undefined) delete process.env.AWS_ENDPOINT_URL;
    else process.env.AWS_ENDPOINT_URL = savedEndpoint;
    await hole.close();
    await control.close();
  });

  /** Short limits: the same mechanism as DEFAULT_LIMITS (checked below to be what every client gets), in a fraction of the time. */
  const SHORT: CallLimits = { connectionTimeoutMs: 300, requestTimeoutMs: 400, maxAttempts: 3 };
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };

  it('gives every client DEFAULT_LIMITS (3 s to connect, 5 s per attempt that throws, 3 attempts) and each ARC cluster endpoint one short attempt', async () => {
    expect(DEFAULT_LIMITS).toEqual({ connectionTimeoutMs: 3_000, requestTimeoutMs: 5_000, maxAttempts: 3 });
    expect(ARC_ENDPOINT_LIMITS).toEqual({ connectionTimeoutMs: 2_000, requestTimeoutMs: 3_000, maxAttempts: 1 });
    const handlerOf = async (client: { config: { maxAttempts: () => Promise<number>; requestHandler: unknown } }) => ({
      maxAttempts: await client.config.maxAttempts(),
      handler: await (client.config.requestHandler as unknown as { configProvider: Promise<Record<string, unknown>> }).configProvider,
    });

    const main = await handlerOf(rds('us-east-1') as never);
    const arc = await handlerOf(arcCluster({ region: 'us-west-2', endpoint: 'https://host-dzdp.route53-recovery-cluster.us-west-2.amazonaws.com/v1' }) as never);

    expect(main).toMatchObject({ maxAttempts: 3, handler: { connectionTimeout: 3_000, requestTimeout: 5_000, throwOnRequestTimeout: true } });
    expect(arc).toMatchObject({ maxAttempts: 1, handler: { connectionTimeout: 2_000, requestTimeout: 3_000, throwOnRequestTimeout: true } });
  });

  it('ends a call with TimeoutError after maxAttempts attempts, while the same limits without throwOnRequestTimeout still wait', async () => {
    const config = clientConfig('us-east-1', SHORT);
    const hanging = new RDSClient({ ...config, endpoint: hole.url, logger: quiet }).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'payments-accounts-use1' }));

    // The control: the same limits, but the handler only warns when requestTimeout passes (the pinned default).
    const abort = new AbortController();
    const unprotected = new RDSClient({
      region: 'us-east-1',
      endpoint: control.url,
      maxAttempts: SHORT.maxAttempts,
      logger: quiet,
      requestHandler: new NodeHttpHandler({ connectionTimeout: SHORT.connectionTimeoutMs, requestTimeout: SHORT.requestTimeoutMs, throwOnRequestTimeout: false }),
    });
    const stillWaiting = unprotected.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'payments-accounts-use1' }), { abortSignal: abort.signal });
    stillWaiting.catch(() => {});

    const [error, controlState] = await Promise.all([
      hanging.then(
        () => undefined,
        (e: unknown) => e as Error & { $metadata?: { attempts?: number } },
      ),
      settledWithin(stillWaiting, 3 * SHORT.requestTimeoutMs + 1_000),
    ]);

    expect(error).toMatchObject({ name: 'TimeoutError' });
    expect(error?.$metadata?.attempts).toBe(SHORT.maxAttempts);
    expect(hole.accepted()).toBe(SHORT.maxAttempts);
    // Past every attempt's requestTimeout the unprotected call has one connection open and no answer: it would wait for the Lambda timeout.
    expect(controlState).toBe('pending');
    expect(control.accepted()).toBe(1);
    abort.abort();
    unprotected.destroy();
  }, 20_000);

  it('fences a primary region that accepts and never answers within the fence budget: every step unconfirmed, every call aborted rather than retried', async () => {
    process.env.AWS_ENDPOINT_URL = hole.url;
    const plan = examplePlan((raw) => {
      raw.fence = { timeoutSeconds: 1 };
    });

    const result = await fenceUsWriters({ plan, start: startFixture() }, stageContext());

    expect(ddb).toHaveReceivedCommandTimes(UpdateItemCommand, 1); // the lease marked acting (eu-west-1), then the fence
    expect(result).toMatchObject({ confirmed: false, budgetSeconds: 1 });
    for (const step of result.steps.filter((st) => st.status !== 'skipped')) {
      expect(step).toMatchObject({ status: 'unconfirmed', detail: expect.stringContaining('no answer within 1 s') });
    }
    const calls = hole.accepted();
    expect(calls).toBeGreaterThanOrEqual(3); // RegisterScalableTarget payments-api, DescribeServices ledger-worker, DescribeDBInstances accounts (+ Aurora)
    // Past the clients' requestTimeout, a call that was not aborted would have timed out and been retried on a new connection.
    // (An aborted call does not close its socket: @smithy/node-http-handler 4.14 destroys the request and the
    // connection stays open until the container ends. Harmless for a Lambda; the call itself is over.)
    await new Promise((resolve) => setTimeout(resolve, DEFAULT_LIMITS.requestTimeoutMs + 1_000));
    expect(hole.accepted()).toBe(calls);
  }, 30_000);
});
