/**
 * The lab's figures, computed from what the clients saw (the traffic log) and what the databases
 * hold — never from the orchestrator's own view. Pure functions, unit-tested.
 */
import type { ExecutionEvent } from './orchestrator';
import type { TimelinePoint } from './report/types';
import type { TxRecord } from './traffic';

/** RTO: fault → the first write sent after the fault that was acknowledged, as the client saw it. */
export function rtoSeconds(log: TxRecord[], faultAt: number): number | null {
  let first: number | undefined;
  for (const r of log) if (r.ok && r.sentAt >= faultAt && (first === undefined || r.doneAt < first)) first = r.doneAt;
  return first === undefined ? null : round((first - faultAt) / 1000, 3);
}

/** The longest stretch without any acknowledged write, from `from` on (writes unavailable). */
export function longestAckGapSeconds(log: TxRecord[], from: number, until: number): number {
  const acks = log.filter((r) => r.ok && r.doneAt >= from && r.doneAt <= until).map((r) => r.doneAt).sort((a, b) => a - b);
  let gap = 0;
  let previous = from;
  for (const at of acks) {
    gap = Math.max(gap, at - previous);
    previous = at;
  }
  gap = Math.max(gap, until - previous);
  return round(gap / 1000, 3);
}

/**
 * RPO: acknowledged transactions missing from the surviving primary. `seconds` is how far back the
 * loss reaches: the fault time minus the acknowledgement of the oldest lost transaction.
 */
export function rpo(log: TxRecord[], survivorIds: Set<string>, faultAt: number | null): { lostAcknowledged: number; seconds: number; lostIds: string[] } {
  const lost = log.filter((r) => r.ok && !survivorIds.has(r.id));
  if (lost.length === 0) return { lostAcknowledged: 0, seconds: 0, lostIds: [] };
  const oldest = Math.min(...lost.map((r) => r.doneAt));
  const reference = faultAt ?? Math.max(...lost.map((r) => r.doneAt));
  return { lostAcknowledged: lost.length, seconds: round(Math.max(0, reference - oldest) / 1000, 3), lostIds: lost.map((r) => r.id) };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export function throughput(log: TxRecord[]): { txPerSecond: number; p50Ms: number; p99Ms: number } {
  const acked = log.filter((r) => r.ok);
  if (acked.length === 0) return { txPerSecond: 0, p50Ms: 0, p99Ms: 0 };
  const start = Math.min(...log.map((r) => r.sentAt));
  const end = Math.max(...log.map((r) => r.doneAt));
  const latencies = acked.map((r) => r.doneAt - r.sentAt);
  return { txPerSecond: round(acked.length / Math.max(0.001, (end - start) / 1000), 1), p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

/** Per-second acknowledged / error counts and replication lag, t = seconds since `start`. */
export function timeline(log: TxRecord[], lag: Array<{ at: number; lagSeconds: number | null }>, start: number, end: number): TimelinePoint[] {
  const seconds = Math.max(1, Math.ceil((end - start) / 1000));
  const points: TimelinePoint[] = Array.from({ length: seconds }, (_, t) => ({ t, acknowledged: 0, errors: 0, lagSeconds: null }));
  for (const r of log) {
    const t = Math.floor((r.doneAt - start) / 1000);
    const point = points[t];
    if (!point) continue;
    if (r.ok) point.acknowledged += 1;
    else point.errors += 1;
  }
  for (const l of lag) {
    const point = points[Math.floor((l.at - start) / 1000)];
    if (point && l.lagSeconds !== null) point.lagSeconds = Math.max(point.lagSeconds ?? 0, round(l.lagSeconds, 3));
  }
  return points;
}

interface Interval {
  start: number;
  end: number;
}

function unionLength(intervals: Interval[]): number {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  let total = 0;
  let current: Interval | undefined;
  for (const i of sorted) {
    if (!current || i.start > current.end) {
      if (current) total += current.end - current.start;
      current = { ...i };
    } else current.end = Math.max(current.end, i.end);
  }
  if (current) total += current.end - current.start;
  return total;
}

interface Span {
  state: string;
  start: number;
  /** Undefined while the state has not ended. */
  end?: number;
  failed: boolean;
}

/**
 * Entered → exited (or failed) spans of the states `include` selects, in order of entry. A state
 * that failed and was then caught reports once; spans of a state entered concurrently (Map
 * iterations) are paired first in, first out.
 */
function spans(events: ExecutionEvent[], include: (e: ExecutionEvent) => boolean): Span[] {
  const out: Span[] = [];
  const open = new Map<string, Span[]>();
  for (const e of events) {
    if (!e.state || !include(e)) continue;
    if (e.type === 'StateEntered') {
      const span: Span = { state: e.state, start: e.at, failed: false };
      out.push(span);
      open.set(e.state, [...(open.get(e.state) ?? []), span]);
    }
    if (e.type === 'StateExited' || e.type === 'StateFailed') {
      const span = open.get(e.state)?.shift();
      if (span) Object.assign(span, { end: e.at, failed: e.type === 'StateFailed' });
    }
  }
  return out;
}

/** [entered, exited] of every state of the given types, from an execution's events. */
export function stateIntervals(events: ExecutionEvent[], types: string[]): Interval[] {
  return spans(events, (e) => !!e.stateType && types.includes(e.stateType)).flatMap((sp) => (sp.end === undefined ? [] : [{ start: sp.start, end: sp.end }]));
}

/**
 * Orchestration overhead: execution time not spent waiting on the systems it drives — i.e. outside
 * Tasks, and outside the part of each poll Wait during which the system was still not done. A Wait
 * that goes on after the system finished (`doneAt`, by Wait state name) is the poll's granularity:
 * the orchestrator's cost, so it counts.
 */
export function orchestrationOverheadMs(events: ExecutionEvent[], startedAt: number, endedAt: number, doneAt: Record<string, number | undefined> = {}): number {
  const tasks = stateIntervals(events, ['Task']);
  const waits = spans(events, (e) => e.stateType === 'Wait').flatMap(({ state, start, end }) => {
    if (end === undefined) return [];
    const done = doneAt[state];
    const until = done === undefined ? end : Math.min(end, Math.max(start, done));
    return until > start ? [{ start, end: until }] : [];
  });
  const busy = unionLength([...tasks, ...waits]);
  return Math.max(0, Math.round(endedAt - startedAt - busy));
}

/** Runbook stage name of each top-level state. */
export const STAGE_OF_STATE: Record<string, string> = {
  AcceptStartRequest: 'accept-start-request',
  ConfirmRegionFailure: 'confirm-region-failure',
  RequestFailoverApproval: 'request-approval',
  FenceUsWriters: 'fence-us-writers',
  ApproveUnfencedPromotion: 'approve-unfenced-promotion',
  RecoverInParallel: 'promote-and-scale',
  PromoteEuDatabases: 'promote-eu-database',
  ScaleEuCompute: 'scale-eu-compute',
  FlipTraffic: 'flip-traffic',
  SmokeTestEu: 'smoke-test',
  NotifySuccess: 'notify',
  NotifyNoFailover: 'notify',
  NotifyFailure: 'notify-failure',
};

/** Stage timings from the execution's events: one entry per runbook stage that ran. */
export function stages(events: ExecutionEvent[]): Array<{ name: string; status: string; startedAt: string; durationMs: number; start: number; end: number }> {
  return spans(events, (e) => e.state! in STAGE_OF_STATE && e.state !== 'RecoverInParallel').map(({ state, start, end, failed }) => ({
    name: STAGE_OF_STATE[state]!,
    status: end === undefined ? 'unfinished' : failed ? 'failed' : 'succeeded',
    startedAt: new Date(start).toISOString(),
    durationMs: end === undefined ? 0 : end - start,
    start,
    end: end ?? start,
  }));
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
