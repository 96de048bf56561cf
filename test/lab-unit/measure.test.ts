import { longestAckGapSeconds, orchestrationOverheadMs, percentile, rpo, rtoSeconds, stages, throughput, timeline, withFenceStatus } from '../../lab/measure';
import type { ExecutionEvent } from '../../local/state-machine';
import type { TxRecord } from '../../lab/traffic';

const e = (type: string, state: string, stateType: string, at: number, error?: string): ExecutionEvent => ({
  type,
  state,
  stateType,
  at,
  nested: false,
  ...(error ? { error } : {}),
});
const tx = (id: string, sentAt: number, doneAt: number, ok: boolean, region = 'us-east-1'): TxRecord => ({
  id,
  account: 'a',
  amount: 1,
  sentAt,
  doneAt,
  status: ok ? 201 : 502,
  ok,
  ...(ok ? { region } : {}),
});

describe('lab measurements', () => {
  const fault = 10_000;
  const log = [
    tx('a', 9_000, 9_010, true),
    tx('b', 9_900, 9_950, true), // acknowledged just before the fault, never replicated
    tx('c', 10_100, 10_200, false),
    tx('d', 12_000, 12_500, true, 'eu-west-1'),
    tx('e', 12_400, 12_450, true, 'eu-west-1'),
  ];

  it('measures RTO from the fault to the first acknowledged write sent after it', () => {
    expect(rtoSeconds(log, fault)).toBe(2.45);
    expect(rtoSeconds(log.slice(0, 3), fault)).toBeNull();
  });

  it('does not count as recovery a write the old primary acknowledged while the fault was being injected (database-failure read 0.009 s)', () => {
    // The crash takes effect ~50 ms after the fault instant: the write sent 1 ms after it is still
    // acknowledged by us-east-1; writes fail from 60 ms on; eu-west-1 acknowledges from 5.17 s.
    const crash = [
      tx('pre', 9_990, 9_995, true),
      tx('in-injection', 10_001, 10_009, true),
      tx('f1', 10_011, 10_060, false),
      tx('f2', 10_040, 10_070, false),
      tx('eu1', 15_150, 15_174, true, 'eu-west-1'),
      tx('eu2', 15_160, 15_180, true, 'eu-west-1'),
    ];
    expect(rtoSeconds(crash, fault)).toBe(5.174);
    // A write sent after the fault but before the first failure was SEEN is not recovery either.
    expect(rtoSeconds([...crash, tx('racing', 10_050, 10_065, true)], fault)).toBe(5.174);
    // A write sent after the first failure and acknowledged (the outage was a blip) ends it.
    expect(rtoSeconds([...crash, tx('back', 10_080, 10_090, true)], fault)).toBe(0.09);
  });

  it('takes recovery from the new primary when there is one: the old primary acknowledging between its failures is not recovery', async () => {
    const interleaved = [
      tx('f1', 10_011, 10_060, false),
      tx('us-late', 10_070, 10_080, true), // a pooled connection the crash had not reached yet
      tx('f2', 10_090, 10_120, false),
      tx('eu1', 15_150, 15_174, true, 'eu-west-1'),
    ];
    expect(rtoSeconds(interleaved, fault, 'us-east-1')).toBe(5.174);
    expect(rtoSeconds(interleaved, fault)).toBe(0.08); // without knowing the old primary, it would read 0.08 s
    // A blackholed region's failures are seen only at the client's 2 s timeout: the new primary's first write still counts from the fault.
    const hung = [tx('hang', 10_010, 12_010, false), tx('eu-fast', 11_000, 11_020, true, 'eu-west-1')];
    expect(rtoSeconds(hung, fault, 'us-east-1')).toBe(1.02);
  });

  it('counts as lost exactly the acknowledged transactions missing from the survivor, and how far back they reach', () => {
    expect(rpo(log, new Set(['a', 'd', 'e']), fault, 'us-east-1')).toEqual({ lostAcknowledged: 1, seconds: 0.05, lostIds: ['b'] });
    expect(rpo(log, new Set(['a', 'b', 'd', 'e']), fault, 'us-east-1')).toEqual({ lostAcknowledged: 0, seconds: 0, lostIds: [] });
  });

  it('finds the longest stretch without an acknowledged write', () => {
    expect(longestAckGapSeconds(log, fault, 13_000)).toBe(2.45);
  });

  it('reports throughput and latency percentiles of acknowledged writes', () => {
    expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3);
    expect(throughput(log)).toMatchObject({ p50Ms: 50, p99Ms: 500 });
  });

  it('buckets acknowledgements, errors and lag per second', () => {
    const points = timeline(
      log,
      [
        { at: 9_500, lagSeconds: 0.08 },
        { at: 10_500, lagSeconds: null },
      ],
      9_000,
      13_000,
    );
    expect(points.map((p) => [p.t, p.acknowledged, p.errors, p.lagSeconds])).toEqual([
      [0, 2, 0, 0.08],
      [1, 0, 1, null],
      [2, 0, 0, null],
      [3, 2, 0, null],
    ]);
  });

  it('counts as orchestration overhead only the time outside Tasks and Waits, overlapping branches once', () => {
    const events = [
      e('StateEntered', 'A', 'Task', 1000),
      e('StateExited', 'A', 'Task', 1400),
      e('StateEntered', 'P', 'Task', 1410),
      e('StateEntered', 'Q', 'Wait', 1420),
      e('StateExited', 'P', 'Task', 1800),
      e('StateExited', 'Q', 'Wait', 1900),
    ];
    expect(orchestrationOverheadMs(events, 1000, 2000)).toBe(110);
  });

  it('counts the part of a poll Wait after the system was already done as overhead', () => {
    const events = [
      e('StateEntered', 'PromoteEuDatabase', 'Task', 0),
      e('StateExited', 'PromoteEuDatabase', 'Task', 100),
      e('StateEntered', 'WaitForPromotion', 'Wait', 100),
      e('StateExited', 'WaitForPromotion', 'Wait', 1100),
      e('StateEntered', 'PromoteEuDatabase', 'Task', 1100),
      e('StateExited', 'PromoteEuDatabase', 'Task', 1200),
    ];
    // The database was writable at 400 ms: the remaining 700 ms of the Wait were the orchestrator's.
    expect(orchestrationOverheadMs(events, 0, 1200, { WaitForPromotion: 400 })).toBe(700);
    expect(orchestrationOverheadMs(events, 0, 1200)).toBe(0);
  });

  it('names stages as the runbook does', () => {
    const events = [e('StateEntered', 'FenceUsWriters', 'Task', 1), e('StateExited', 'FenceUsWriters', 'Task', 5)];
    expect(stages(events)).toEqual([expect.objectContaining({ name: 'fence-us-writers', status: 'succeeded', durationMs: 4 })]);
  });

  describe('retries (issue 7, item 3)', () => {
    // What aws-local-stepfunctions reports for a Task its Retry runs four times: entered once, then
    // per failed attempt StateFailed, the Retry pause, StateRetried; the last failure is caught.
    const smoke = [
      e('StateEntered', 'SmokeTestEu', 'Task', 0),
      e('StateFailed', 'SmokeTestEu', 'Task', 80, 'SmokeTestFailed'),
      e('StateRetried', 'SmokeTestEu', 'Task', 440),
      e('StateFailed', 'SmokeTestEu', 'Task', 520, 'SmokeTestFailed'),
      e('StateRetried', 'SmokeTestEu', 'Task', 880),
      e('StateFailed', 'SmokeTestEu', 'Task', 960, 'SmokeTestFailed'),
      e('StateRetried', 'SmokeTestEu', 'Task', 1320),
      e('StateFailed', 'SmokeTestEu', 'Task', 1400, 'SmokeTestFailed'),
      e('StateCaught', 'SmokeTestEu', 'Task', 1400),
      e('StateExited', 'SmokeTestEu', 'Task', 1400),
      e('StateEntered', 'NotifyFailure', 'Task', 1400),
      e('StateExited', 'NotifyFailure', 'Task', 1500),
    ];

    it('times a retried stage over all its attempts, lists them, and ends it failed when the last one was caught', () => {
      const [smokeStage, notify] = stages(smoke);
      expect(smokeStage).toMatchObject({ name: 'smoke-test', status: 'failed', durationMs: 1400, start: 0, end: 1400 });
      expect(smokeStage!.attempts.map((a) => [a.durationMs, a.status, a.error])).toEqual([
        [80, 'failed', 'SmokeTestFailed'],
        [80, 'failed', 'SmokeTestFailed'],
        [80, 'failed', 'SmokeTestFailed'],
        [80, 'failed', 'SmokeTestFailed'],
      ]);
      expect(smokeStage!.attempts.map((a) => Date.parse(a.startedAt))).toEqual([0, 440, 880, 1320]);
      expect(notify).toMatchObject({ name: 'notify-failure', status: 'succeeded', durationMs: 100 });
    });

    it('a retry that then succeeds is a succeeded stage covering both attempts', () => {
      const ok = [
        e('StateEntered', 'FlipTraffic', 'Task', 0),
        e('StateFailed', 'FlipTraffic', 'Task', 50, 'Throttling'),
        e('StateRetried', 'FlipTraffic', 'Task', 300),
        e('StateExited', 'FlipTraffic', 'Task', 420),
      ];
      const [flip] = stages(ok);
      expect(flip).toMatchObject({ status: 'succeeded', durationMs: 420 });
      expect(flip!.attempts.map((a) => [a.durationMs, a.status])).toEqual([
        [50, 'failed'],
        [120, 'succeeded'],
      ]);
    });

    it('an uncaught last failure ends the stage at that failure', () => {
      const [s1] = stages(smoke.slice(0, 8));
      expect(s1).toMatchObject({ status: 'failed', durationMs: 1400 });
      expect(s1!.attempts).toHaveLength(4);
    });

    it('does not count the attempts and Retry pauses of a retried Task as orchestration overhead', () => {
      expect(orchestrationOverheadMs(smoke, 0, 1500)).toBe(0);
    });
  });

  describe('throughput chart buckets and the tx/s figure (issue 7, item 6)', () => {
    const fault = 2300;
    const steady = (from: number, to: number, prefix: string) => Array.from({ length: (to - from) / 10 }, (_, i) => tx(`${prefix}${i}`, from + i * 10, from + i * 10 + 5, true));
    const log = [...steady(0, 2300, 'a'), ...steady(4000, 5000, 'b')];

    it('aligns the buckets on the fault: the bucket before it is full, the drop starts at the fault', () => {
      const points = timeline(log, [], 0, 5000, fault);
      const at = (t: number) => points.find((p) => p.t === t);
      expect(at(1.3)).toMatchObject({ acknowledged: 100 });
      expect(at(2.3)).toMatchObject({ acknowledged: 0 });
      // Without alignment the bucket [2, 3) holds 30 acknowledgements and the line falls before the fault.
      expect(points.some((p) => p.t > 1.3 && p.t < 2.3)).toBe(false);
    });

    it('drops a partial bucket too short to scale and marks a longer one with its length', () => {
      const points = timeline(log, [], 0, 5000, fault);
      expect(points[0]!.t).toBe(0.3); // [0, 0.3 s) is dropped
      expect(points[points.length - 1]).toEqual({ t: 4.3, acknowledged: 70, errors: 0, lagSeconds: null, seconds: 0.7 });
      // 70 in 0.7 s: the same 100 tx/s as before the fault, not a second outage.
      const last = points[points.length - 1]!;
      expect(last.acknowledged / last.seconds!).toBe(100);
    });

    it('averages the whole run, outage included (the pre-fault load is the traffic window, lab/traffic.ts)', () => {
      const t = throughput(log);
      expect(t).not.toHaveProperty('preFault');
      expect(t.txPerSecond).toBeLessThan(70); // 100 tx/s before the fault, nothing during the outage
    });
  });

  it('marks a fence stage with unconfirmed steps as unconfirmed, never succeeded (issue 7, item 2)', () => {
    const list = [
      { name: 'fence-us-writers', status: 'succeeded' },
      { name: 'flip-traffic', status: 'succeeded' },
    ];
    expect(withFenceStatus(list, { confirmed: false }).map((s) => s.status)).toEqual(['unconfirmed', 'succeeded']);
    expect(withFenceStatus(list, { confirmed: true }).map((s) => s.status)).toEqual(['succeeded', 'succeeded']);
    expect(withFenceStatus(list, null)).toBe(list);
  });
});
