import { longestAckGapSeconds, orchestrationOverheadMs, percentile, rpo, rtoSeconds, stages, throughput, timeline } from '../../lab/measure';
import type { ExecutionEvent } from '../../lab/orchestrator';
import type { TxRecord } from '../../lab/traffic';

const e = (type: string, state: string, stateType: string, at: number): ExecutionEvent => ({ type, state, stateType, at, nested: false });
const tx = (id: string, sentAt: number, doneAt: number, ok: boolean, region = 'us-east-1'): TxRecord => ({ id, account: 'a', amount: 1, sentAt, doneAt, status: ok ? 201 : 502, ok, ...(ok ? { region } : {}) });

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

  it('counts as lost exactly the acknowledged transactions missing from the survivor, and how far back they reach', () => {
    expect(rpo(log, new Set(['a', 'd', 'e']), fault)).toEqual({ lostAcknowledged: 1, seconds: 0.05, lostIds: ['b'] });
    expect(rpo(log, new Set(['a', 'b', 'd', 'e']), fault)).toEqual({ lostAcknowledged: 0, seconds: 0, lostIds: [] });
  });

  it('finds the longest stretch without an acknowledged write', () => {
    expect(longestAckGapSeconds(log, fault, 13_000)).toBe(2.45);
  });

  it('reports throughput and latency percentiles of acknowledged writes', () => {
    expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3);
    expect(throughput(log)).toMatchObject({ p50Ms: 50, p99Ms: 500 });
  });

  it('buckets acknowledgements, errors and lag per second', () => {
    const points = timeline(log, [{ at: 9_500, lagSeconds: 0.08 }, { at: 10_500, lagSeconds: null }], 9_000, 13_000);
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
});
