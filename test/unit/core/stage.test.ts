/**
 * The wrapper every stage Lambda uses (functions/core/stage.ts): its own deadline ahead of the
 * Lambda timeout, named errors let through untouched, failures counted, logs keyed by stage and
 * execution. The state document's schemas are tested with the contract, not here: these tests use a
 * trivial input schema of their own.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { ResourceStateError, StageDeadlineExceededError } from '../../../functions/core/errors';
import { metrics } from '../../../functions/core/powertools';
import { isoAfter, stageHandler, withDeadline, type StageContext } from '../../../functions/core/stage';
import { captureLogs } from '../../helpers/logs';
import { stageContext } from '../../helpers/stage';

const schema = z.object({ n: z.number() });
type Input = z.infer<typeof schema>;

/** A Lambda context with `remainingMs` left. */
function lambdaContext(remainingMs: number): Partial<Context> {
  return {
    functionName: 'payments-failover-test-stage',
    awsRequestId: '0f1e2d3c-0000-4000-8000-000000000001',
    getRemainingTimeInMillis: () => remainingMs,
  };
}

/** Work that never finishes: a call that hung. */
const hang = () => new Promise<never>(() => {});

/** A run function that records the context it was given and doubles `n`. */
function recordingRun() {
  const seen: { input: Input; ctx: StageContext }[] = [];
  const run = async (input: Input, ctx: StageContext) => {
    seen.push({ input, ctx });
    return { doubled: input.n * 2 };
  };
  return { run, seen };
}

const metricNames = (spy: jest.SpiedFunction<typeof metrics.addMetric>) => spy.mock.calls.map((c) => c[0]);

let addMetric: jest.SpiedFunction<typeof metrics.addMetric>;
let addDimension: jest.SpiedFunction<typeof metrics.addDimension>;
let publish: jest.SpiedFunction<typeof metrics.publishStoredMetrics>;

beforeEach(() => {
  addMetric = jest.spyOn(metrics, 'addMetric');
  addDimension = jest.spyOn(metrics, 'addDimension');
  publish = jest.spyOn(metrics, 'publishStoredMetrics');
});

afterEach(() => {
  jest.restoreAllMocks();
});

describe('stageHandler: its own deadline', () => {
  it('sets the deadline to the Lambda remaining time less a 3 s margin, so the stage ends with a named error before Lambda kills it', async () => {
    const T = Date.parse('2025-03-04T10:05:00.000Z');
    jest.spyOn(Date, 'now').mockReturnValue(T);
    const { run, seen } = recordingRun();

    await stageHandler('test-stage', schema, run, stageContext())({ n: 1 }, lambdaContext(60_000));

    expect(seen[0]!.ctx.deadlineAt).toBe(T + 60_000 - 3_000);
  });

  it('sets the deadline to the start, not before it, when less than the margin remains', async () => {
    const T = Date.parse('2025-03-04T10:05:00.000Z');
    jest.spyOn(Date, 'now').mockReturnValue(T);
    const { run, seen } = recordingRun();

    await stageHandler('test-stage', schema, run, stageContext())({ n: 1 }, lambdaContext(1_000));

    expect(seen[0]!.ctx.deadlineAt).toBe(T);
  });

  it('fails with StageDeadlineExceeded when the work runs past the deadline (a hung call), instead of running into the Lambda timeout', async () => {
    const handler = stageHandler('test-stage', schema, hang, stageContext());

    const error = await handler({ n: 1 }, lambdaContext(3_000 + 50)).catch((e: unknown) => e as Error);

    expect(error).toBeInstanceOf(StageDeadlineExceededError);
    expect(error.name).toBe('StageDeadlineExceeded');
    expect(error.message).toContain('test-stage did not finish before its deadline');
  });

  it('counts a deadline overrun as a stage failure', async () => {
    const handler = stageHandler('test-stage', schema, hang, stageContext());

    await expect(handler({ n: 1 }, lambdaContext(3_000 + 20))).rejects.toThrow(StageDeadlineExceededError);

    expect(addMetric).toHaveBeenCalledWith('StageFailures', MetricUnit.Count, 1);
  });

  it('passes the rest of the stage context through unchanged along with the deadline', async () => {
    const ctx = stageContext();
    const { run, seen } = recordingRun();

    await stageHandler('test-stage', schema, run, ctx)({ n: 1 }, lambdaContext(60_000));

    expect(seen[0]!.ctx.now).toBe(ctx.now);
    expect(seen[0]!.ctx.sleep).toBe(ctx.sleep);
  });

  it('imposes no deadline without a Lambda context (tests, scripts): the run gets no deadlineAt and work that takes a while still finishes', async () => {
    const { run, seen } = recordingRun();
    const slowRun = async (input: Input, ctx: StageContext) => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      return run(input, ctx);
    };

    const result = await stageHandler('test-stage', schema, slowRun, stageContext())({ n: 21 });

    expect(result).toEqual({ doubled: 42 });
    expect(seen[0]!.ctx.deadlineAt).toBeUndefined();
  });

  it('imposes no deadline for a context without getRemainingTimeInMillis', async () => {
    const { run, seen } = recordingRun();

    await stageHandler('test-stage', schema, run, stageContext())({ n: 1 }, { functionName: 'payments-failover-test-stage' });

    expect(seen[0]!.ctx.deadlineAt).toBeUndefined();
  });

  it('uses a deadline set on the injected stage context when there is no Lambda context, so a test can bound a stage', async () => {
    const ctx = { ...stageContext(), deadlineAt: Date.now() + 20 };

    await expect(stageHandler('test-stage', schema, hang, ctx)({ n: 1 })).rejects.toThrow(StageDeadlineExceededError);
  });

  it('prefers the Lambda remaining time over a deadline on the injected context', async () => {
    const T = Date.parse('2025-03-04T10:05:00.000Z');
    jest.spyOn(Date, 'now').mockReturnValue(T);
    const { run, seen } = recordingRun();

    await stageHandler('test-stage', schema, run, { ...stageContext(), deadlineAt: T + 1 })({ n: 1 }, lambdaContext(10_000));

    expect(seen[0]!.ctx.deadlineAt).toBe(T + 7_000);
  });
});

describe('stageHandler: errors and metrics', () => {
  it('rethrows a named error from the stage as the same error, not wrapped, so the state machine ErrorEquals matches its name', async () => {
    const thrown = new ResourceStateError('ledger-eu is not a secondary');
    const handler = stageHandler('test-stage', schema, async () => {
      throw thrown;
    });

    const error = await handler({ n: 1 }).catch((e: unknown) => e);

    expect(error).toBe(thrown);
    expect((error as Error).name).toBe('ResourceStateError');
  });

  it('rethrows an unnamed error unchanged too, rather than hiding it behind a generic one', async () => {
    const thrown = new RangeError('bug');
    const handler = stageHandler('test-stage', schema, async () => {
      throw thrown;
    });

    await expect(handler({ n: 1 })).rejects.toBe(thrown);
  });

  it('counts a failure in the StageFailures metric and still publishes the duration under the stage dimension', async () => {
    const handler = stageHandler('fence-us-writers', schema, async () => {
      throw new ResourceStateError('nope');
    });

    await handler({ n: 1 }).catch(() => undefined);

    expect(addMetric).toHaveBeenCalledWith('StageFailures', MetricUnit.Count, 1);
    expect(addMetric).toHaveBeenCalledWith('StageDuration', MetricUnit.Milliseconds, expect.any(Number));
    expect(addDimension).toHaveBeenCalledWith('stage', 'fence-us-writers');
    expect(publish).toHaveBeenCalledTimes(1);
  });

  it('counts no failure when the stage succeeds, and publishes its duration', async () => {
    const { run } = recordingRun();

    await stageHandler('test-stage', schema, run)({ n: 1 });

    expect(metricNames(addMetric)).toEqual(['StageDuration']);
    expect(addDimension).toHaveBeenCalledWith('stage', 'test-stage');
    expect(publish).toHaveBeenCalledTimes(1);
  });

  it('logs the failure with the error name and message, keyed by stage and execution id', async () => {
    const executionId = 'arn:aws:states:eu-west-1:111122223333:execution:payments-failover:abc';
    const handler = stageHandler('test-stage', schema, async () => {
      throw new ResourceStateError('ledger-eu is not a secondary');
    });

    const logs = await captureLogs(() => handler({ n: 1, start: { executionId } }).catch(() => undefined));

    const failed = logs
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.message === 'stage failed');
    expect(failed).toMatchObject({ stage: 'test-stage', executionId, error: { name: 'ResourceStateError', message: 'ledger-eu is not a secondary' } });
  });

  it('does not carry one invocation\u2019s execution id into the next (a warm Lambda serves many executions)', async () => {
    const { run } = recordingRun();
    const handler = stageHandler('test-stage', schema, run);
    await captureLogs(() => handler({ n: 1, start: { executionId: 'first-execution' } }));

    const logs = await captureLogs(() => handler({ n: 2 }));

    expect(logs).toContain('stage finished');
    expect(logs).not.toContain('first-execution');
  });
});

describe('withDeadline', () => {
  it('just runs the work when there is no deadline, however long it takes', async () => {
    const slow = () => new Promise<string>((resolve) => setTimeout(() => resolve('result'), 30));

    await expect(withDeadline('test-stage', undefined, slow)).resolves.toBe('result');
  });

  it('returns the work result when it finishes before the deadline', async () => {
    await expect(withDeadline('test-stage', Date.now() + 60_000, async () => 'result')).resolves.toBe('result');
  });

  it('lets the work own error through unchanged when it fails before the deadline', async () => {
    const thrown = new ResourceStateError('nope');

    await expect(
      withDeadline('test-stage', Date.now() + 60_000, async () => {
        throw thrown;
      }),
    ).rejects.toBe(thrown);
  });

  it('fails with StageDeadlineExceeded naming the stage and the deadline when the work hangs past it', async () => {
    const deadlineAt = Date.now() + 20;

    const error = await withDeadline('promote-eu-database', deadlineAt, hang).catch((e: unknown) => e as Error);

    expect(error).toBeInstanceOf(StageDeadlineExceededError);
    expect(error.message).toBe(`promote-eu-database did not finish before its deadline ${new Date(deadlineAt).toISOString()} (a call hung?)`);
  });

  it('fails at once when the deadline is already past and the work hangs', async () => {
    await expect(withDeadline('test-stage', Date.now() - 1_000, hang)).rejects.toThrow(StageDeadlineExceededError);
  });
});

describe('isoAfter', () => {
  it('returns the ISO time the given number of seconds after a date', () => {
    expect(isoAfter(new Date('2025-03-04T10:00:00.000Z'), 90)).toBe('2025-03-04T10:01:30.000Z');
  });

  it('keeps fractions of a second and accepts zero and negative offsets', () => {
    const from = new Date('2025-03-04T10:00:00.000Z');

    expect(isoAfter(from, 0.25)).toBe('2025-03-04T10:00:00.250Z');
    expect(isoAfter(from, 0)).toBe('2025-03-04T10:00:00.000Z');
    expect(isoAfter(from, -60)).toBe('2025-03-04T09:59:00.000Z');
  });
});
