/**
 * The scheduled probe Lambda (functions/probe-primary.ts): probes the primary from the recovery
 * region and publishes the ProbeSuccess datapoints the stack's alarms watch.
 */
import { CloudWatchClient, PutMetricDataCommand, type PutMetricDataCommandInput } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { createServer, type Server } from 'node:http';
import { handler, probePrimary } from '../../functions/probe-primary';
import type { Plan } from '../../functions/core/plan';
import type { StageContext } from '../../functions/core/stage';
import { closeHttpServer, listenLocal } from '../../local/net';
import { examplePlan, rawExamplePlan } from '../helpers/plan';
import { mockFetch, networkError, regionOf } from '../helpers/stage';

const cloudwatch = mockClient(CloudWatchClient);

const SCHEDULED = '2025-03-04T10:05:00Z';
const API = 'https://api-use1.payments.example.com/healthz';
const LEDGER = 'https://ledger-use1.payments.example.com/healthz';
const LEDGER_DB = 'https://ledger-use1.payments.example.com/healthz/db';

/** A clock that only moves when the code under test sleeps (no wall-clock waiting in tests). */
function fakeClock(startIso: string): StageContext & { sleeps: number[] } {
  let now = Date.parse(startIso);
  const sleeps: number[] = [];
  return {
    now: () => new Date(now),
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
    sleeps,
  };
}

const published = (): PutMetricDataCommandInput[] => cloudwatch.commandCalls(PutMetricDataCommand).map((c) => c.args[0].input);

const datapoints = () =>
  published().flatMap((input) =>
    (input.MetricData ?? []).map((d) => ({
      namespace: input.Namespace,
      metric: d.MetricName,
      probe: d.Dimensions?.find((x) => x.Name === 'Probe')?.Value,
      plan: d.Dimensions?.find((x) => x.Name === 'Plan')?.Value,
      value: d.Value,
      at: d.Timestamp instanceof Date ? d.Timestamp.toISOString() : String(d.Timestamp),
      resolution: d.StorageResolution,
    })),
  );

beforeEach(() => {
  cloudwatch.reset();
  cloudwatch.on(PutMetricDataCommand).resolves({});
});

afterEach(() => {
  jest.restoreAllMocks();
});

describe('probe-primary', () => {
  it('publishes one ProbeSuccess datapoint per probe (1 healthy, 0 down) in the recovery region, stamped with the scheduled time', async () => {
    mockFetch((url) => {
      if (url === API) return new Response('ok', { status: 200 });
      if (url === LEDGER) throw networkError('ECONNREFUSED');
      if (url === LEDGER_DB) return new Response('writer down', { status: 503 });
      throw new Error(`unexpected fetch ${url}`);
    });

    const result = await probePrimary({ plan: examplePlan(), scheduledTime: SCHEDULED }, fakeClock('2025-03-04T10:05:02Z'));

    expect(datapoints()).toEqual([
      { namespace: 'FailoverOrchestrator/Detection', metric: 'ProbeSuccess', plan: 'payments', probe: 'api-us', value: 1, at: '2025-03-04T10:05:00.000Z', resolution: 60 },
      { namespace: 'FailoverOrchestrator/Detection', metric: 'ProbeSuccess', plan: 'payments', probe: 'ledger-us', value: 0, at: '2025-03-04T10:05:00.000Z', resolution: 60 },
      { namespace: 'FailoverOrchestrator/Detection', metric: 'ProbeSuccess', plan: 'payments', probe: 'ledger-db-us', value: 0, at: '2025-03-04T10:05:00.000Z', resolution: 60 },
    ]);
    expect(await regionOf(cloudwatch.commandCalls(PutMetricDataCommand)[0]!)).toBe('eu-west-1');
    expect(result.rounds).toHaveLength(1);
    expect(result.rounds[0]!.samples.map((s) => [s.probe, s.healthy, s.status])).toEqual([
      ['api-us', true, 200],
      ['ledger-us', false, undefined],
      ['ledger-db-us', false, 503],
    ]);
  });

  it('publishes in the plan’s own metric namespace (the one the IAM condition allows)', async () => {
    mockFetch(() => new Response('ok', { status: 200 }));
    const plan = examplePlan((raw) => {
      raw.detection.metricNamespace = 'Payments/Probes';
    });

    await probePrimary({ plan }, fakeClock(SCHEDULED));

    expect(published().map((p) => p.Namespace)).toEqual(['Payments/Probes']);
  });

  it('samples six times, 10 s apart, high-resolution for the probe whose alarm has a 10 s period', async () => {
    mockFetch(() => new Response('ok', { status: 200 }));
    const plan = examplePlan((raw) => {
      raw.detection.healthAlarms[0].periodSeconds = 10;
    });
    const clock = fakeClock('2025-03-04T10:05:01Z');

    const result = await probePrimary({ plan, scheduledTime: SCHEDULED }, clock);

    expect(result.rounds.map((r) => r.at)).toEqual(['00', '10', '20', '30', '40', '50'].map((s) => `2025-03-04T10:05:${s}.000Z`));
    expect(clock.sleeps).toEqual([9000, 10_000, 10_000, 10_000, 10_000]);
    const firstRound = datapoints().slice(0, 3);
    expect(firstRound.map((d) => [d.probe, d.resolution])).toEqual([
      ['api-us', 1],
      ['ledger-us', 60],
      ['ledger-db-us', 60],
    ]);
    expect(datapoints()).toHaveLength(18);
  });

  it('stamps a late delivery with the time it runs, not with a period it did not see', async () => {
    mockFetch(() => new Response('ok', { status: 200 }));

    await probePrimary({ plan: examplePlan(), scheduledTime: '2025-03-04T10:03:00Z' }, fakeClock('2025-03-04T10:05:07Z'));

    expect(new Set(datapoints().map((d) => d.at))).toEqual(new Set(['2025-03-04T10:05:07.000Z']));
  });

  it('fails with a named error when PutMetricData fails, after running every round', async () => {
    mockFetch(() => new Response('ok', { status: 200 }));
    cloudwatch.on(PutMetricDataCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }));
    const plan = examplePlan((raw) => {
      raw.detection.healthAlarms[0].periodSeconds = 30;
    });

    await expect(probePrimary({ plan, scheduledTime: SCHEDULED }, fakeClock(SCHEDULED))).rejects.toMatchObject({
      name: 'TransientAwsError',
      message: expect.stringContaining('cloudwatch:PutMetricData FailoverOrchestrator/Detection eu-west-1'),
    });
    expect(cloudwatch.commandCalls(PutMetricDataCommand)).toHaveLength(2);
  });

  it('names a refused PutMetricData (no permission on the namespace) ResourceStateError', async () => {
    mockFetch(() => new Response('ok', { status: 200 }));
    cloudwatch.on(PutMetricDataCommand).rejects(Object.assign(new Error('not authorized'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }));

    await expect(probePrimary({ plan: examplePlan() }, fakeClock(SCHEDULED))).rejects.toMatchObject({ name: 'ResourceStateError' });
  });

  it('validates its input with the plan schema: a broken plan is InvalidPlan, no plan is InvalidInput', async () => {
    const raw = rawExamplePlan();
    raw.recoveryRegion = 'eu-west-9';
    await expect(handler({ plan: raw })).rejects.toMatchObject({ name: 'InvalidPlan', message: expect.stringContaining('recoveryRegion') });
    await expect(handler({ scheduledTime: SCHEDULED })).rejects.toMatchObject({ name: 'InvalidInput' });
    expect(cloudwatch.commandCalls(PutMetricDataCommand)).toHaveLength(0);
  });
});

describe('probe-primary against real sockets on 127.0.0.1', () => {
  let hanging: Server;
  let headersThenHang: Server;
  let healthy: Server;
  const ports: Record<string, number> = {};

  beforeAll(async () => {
    hanging = createServer(() => {
      /* accepts the request and never answers: a dying region */
    });
    headersThenHang = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial'); // and never ends the body
    });
    healthy = createServer((_req, res) => res.end('ok'));
    ports.hanging = await listenLocal(hanging);
    ports.headersThenHang = await listenLocal(headersThenHang);
    ports.healthy = await listenLocal(healthy);
  });

  afterAll(async () => {
    await Promise.all([closeHttpServer(hanging), closeHttpServer(headersThenHang), closeHttpServer(healthy)]);
  });

  function localPlan(): Plan {
    return examplePlan((raw) => {
      raw.detection.probes = [
        { name: 'api-us', url: `http://127.0.0.1:${ports.hanging}/healthz`, timeoutMs: 300 },
        { name: 'ledger-us', url: `http://127.0.0.1:${ports.headersThenHang}/healthz`, timeoutMs: 300 },
        { name: 'ledger-db-us', url: `http://127.0.0.1:${ports.healthy}/healthz/db`, timeoutMs: 300 },
      ];
    });
  }

  it('ends a probe of an endpoint that accepts and never answers at its timeoutMs, and publishes it as 0', async () => {
    const result = await probePrimary({ plan: localPlan() }, fakeClock(SCHEDULED));

    expect(datapoints().map((d) => [d.probe, d.value])).toEqual([
      ['api-us', 0],
      ['ledger-us', 0],
      ['ledger-db-us', 1],
    ]);
    // Ended by the probe's own timeout (the abort signal), not by a refused connection.
    const [api, ledger] = result.rounds[0]!.samples;
    expect(api!.detail).toMatch(/TimeoutError/);
    expect(ledger!.detail).toMatch(/TimeoutError|AbortError|terminated/);
  }, 5_000); // the bound: three 300 ms probes, far below the jest timeout; a probe without its timeout would hang here
});
