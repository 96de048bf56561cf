/**
 * The lab's figures, computed from what the clients saw (the traffic log) and what the databases
 * hold — never from the orchestrator's own view. Pure functions, unit-tested.
 */
import type { ExecutionEvent } from '../local/state-machine';
import type { TimelinePoint } from './report/types';
import type { TxRecord } from './traffic';

/**
 * RTO: fault → the first write acknowledged once the outage has begun, as the client saw it.
 *
 * The outage begins when a write sent at or after the fault is first seen to fail (its error answer,
 * or its timeout). Writes the old primary acknowledged before that were served while the fault was
 * still being injected (stopping PostgreSQL takes ~100 ms, a fence is applied by the control plane):
 * they are service before the outage, not recovery, and counting them gave database-failure an RTO
 * of 0.009 s while writes were down for 5 s. Without any failed write after the fault (nothing to
 * recover from), the first acknowledged write sent after the fault ends it.
 *
 * When another region than the old primary (`oldPrimary`) acknowledged writes sent after the fault,
 * recovery is the first of those: the failover's new primary. The old primary's own acknowledgements
 * then never count, however they interleave with its failures while a crash or a fence reaches each
 * connection; and a failure seen only at its client's 2 s timeout does not delay the new region's.
 */
export function rtoSeconds(log: TxRecord[], faultAt: number, oldPrimary?: string): number | null {
  if (oldPrimary !== undefined) {
    let byNewPrimary: number | undefined;
    for (const r of log) {
      if (r.ok && r.sentAt >= faultAt && r.region !== undefined && r.region !== oldPrimary && (byNewPrimary === undefined || r.doneAt < byNewPrimary)) byNewPrimary = r.doneAt;
    }
    if (byNewPrimary !== undefined) return round((byNewPrimary - faultAt) / 1000, 3);
  }
  let outageSeenAt: number | undefined;
  for (const r of log) if (!r.ok && r.sentAt >= faultAt && (outageSeenAt === undefined || r.doneAt < outageSeenAt)) outageSeenAt = r.doneAt;
  const from = outageSeenAt ?? faultAt;
  let first: number | undefined;
  for (const r of log) if (r.ok && r.sentAt >= from && (first === undefined || r.doneAt < first)) first = r.doneAt;
  return first === undefined ? null : round((first - faultAt) / 1000, 3);
}

/** The longest stretch without any acknowledged write, from `from` on (writes unavailable). */
export function longestAckGapSeconds(log: TxRecord[], from: number, until: number): number {
  const acks = log
    .filter((r) => r.ok && r.doneAt >= from && r.doneAt <= until)
    .map((r) => r.doneAt)
    .sort((a, b) => a - b);
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
 * RPO: acknowledged transactions missing from the surviving primary. Only a write the OLD primary
 * (`oldPrimaryRegion`) acknowledged can be lost: one the surviving region acknowledged is on the
 * survivor by construction (missing there means the check ran before it settled, not a loss).
 * `seconds` is how far back the loss reaches, by the region's own clock: the fault time minus the
 * commit/acknowledgement of the oldest lost transaction as the region sent it
 * (`regionAcknowledgedAt`; the client's `doneAt` only when the region did not say). The client sees
 * an acknowledgement a link latency later, often after the fault: by its clock a loss reaches back
 * "0 s" although the region committed it before the fault.
 */
export function rpo(log: TxRecord[], survivorIds: Set<string>, faultAt: number | null, oldPrimaryRegion: string): { lostAcknowledged: number; seconds: number; lostIds: string[] } {
  const lost = log.filter((r) => r.ok && r.region === oldPrimaryRegion && !survivorIds.has(r.id));
  if (lost.length === 0) return { lostAcknowledged: 0, seconds: 0, lostIds: [] };
  const committedAt = (r: TxRecord) => r.regionAcknowledgedAt ?? r.doneAt;
  const oldest = Math.min(...lost.map(committedAt));
  const reference = faultAt ?? Math.max(...lost.map(committedAt));
  return { lostAcknowledged: lost.length, seconds: round(Math.max(0, reference - oldest) / 1000, 3), lostIds: lost.map((r) => r.id) };
}

/** What the loss check counts from: the client log once every request sent has an outcome (or the bound passed). */
export interface SettledLog {
  /** A copy of the records settled when the check ran: later answers cannot change it. */
  log: TxRecord[];
  /** Requests sent that still had no outcome at the bound: neither counted as lost nor as acknowledged. */
  unsettled: number;
}

/**
 * Waits (at most `limitMs`) until every request the clients sent has an outcome in their log, then
 * returns a frozen copy of it. The loss check must read the survivor AFTER this: a write that is
 * still in flight when the survivor is read, then acknowledged, would otherwise be counted as lost.
 */
export async function settleLog(
  traffic: { readonly log: TxRecord[]; readonly sent: number },
  limitMs: number,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  now: () => number = Date.now,
): Promise<SettledLog> {
  const until = now() + limitMs;
  while (traffic.log.length < traffic.sent && now() < until) await sleep(50);
  const log = traffic.log.map((r) => ({ ...r }));
  return { log, unsettled: Math.max(0, traffic.sent - log.length) };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

/**
 * Throughput and latency of acknowledged writes over the whole run, outage included. The load before
 * the fault (offered and achieved, after the clients' ramp) is the traffic's own pre-fault window
 * (lab/traffic.ts, `TrafficGenerator.window`): one measure of it, not two that could disagree.
 */
export function throughput(log: TxRecord[]): { txPerSecond: number; p50Ms: number; p99Ms: number } {
  const acked = log.filter((r) => r.ok);
  if (acked.length === 0) return { txPerSecond: 0, p50Ms: 0, p99Ms: 0 };
  const start = Math.min(...log.map((r) => r.sentAt));
  const end = Math.max(...log.map((r) => r.doneAt));
  const latencies = acked.map((r) => r.doneAt - r.sentAt);
  return { txPerSecond: round(acked.length / Math.max(0.001, (end - start) / 1000), 1), p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

/** A partial bucket shorter than this (s) is dropped: too few samples to scale to a rate honestly. */
const MIN_PARTIAL_BUCKET_SECONDS = 0.5;

/**
 * Per-second acknowledged / error counts and replication lag, t = seconds since `start` (bucket
 * start). Buckets are aligned on `alignAt` (the fault), so the bucket before the fault ends at the
 * fault and the drop shows where it happened, not up to a second early. The first and last buckets
 * may be partial: they carry `seconds` (their length) so a rate is count / seconds; one shorter
 * than half a second is dropped.
 */
export function timeline(log: TxRecord[], lag: Array<{ at: number; lagSeconds: number | null }>, start: number, end: number, alignAt: number = start): TimelinePoint[] {
  const offset = (((alignAt - start) % 1000) + 1000) % 1000; // first boundary after start, ms
  const bounds: number[] = [start];
  for (let b = start + (offset === 0 ? 1000 : offset); b < end; b += 1000) bounds.push(b);
  bounds.push(Math.max(end, start + 1));
  const buckets = bounds
    .slice(0, -1)
    .map((from, i) => ({ from, to: bounds[i + 1]!, point: { t: round((from - start) / 1000, 3), acknowledged: 0, errors: 0, lagSeconds: null } as TimelinePoint }));
  const find = (at: number) => {
    if (at < start || at >= bounds[bounds.length - 1]!) return undefined;
    let lo = 0;
    let hi = buckets.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (buckets[mid]!.from <= at) lo = mid;
      else hi = mid - 1;
    }
    return buckets[lo]!.point;
  };
  for (const r of log) {
    const point = find(r.doneAt);
    if (!point) continue;
    if (r.ok) point.acknowledged += 1;
    else point.errors += 1;
  }
  for (const l of lag) {
    const point = find(l.at);
    if (point && l.lagSeconds !== null) point.lagSeconds = Math.max(point.lagSeconds ?? 0, round(l.lagSeconds, 3));
  }
  return buckets.flatMap(({ from, to, point }) => {
    const seconds = round((to - from) / 1000, 3);
    if (seconds >= 1) return [point];
    if (seconds < MIN_PARTIAL_BUCKET_SECONDS && buckets.length > 1) return [];
    return [{ ...point, seconds }];
  });
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

/** One attempt of a state: entered (or retried) → exited or failed. */
export interface Attempt {
  start: number;
  /** Undefined while the attempt has not ended. */
  end?: number;
  failed: boolean;
  /** The error of a failed attempt (the Retry/Catch `ErrorEquals` name). */
  error?: string;
}

interface Span {
  state: string;
  start: number;
  /** Undefined while the state has not ended (or is between a failed attempt's Retry pause and its next attempt). */
  end?: number;
  failed: boolean;
  /** Every attempt, in order: one unless the state's Retry ran it again. */
  attempts: Attempt[];
  /** A Catch took the failure: the StateExited that follows belongs to this span. */
  caught?: boolean;
}

/**
 * Entered → exited (or finally failed) spans of the states `include` selects, in order of entry.
 *
 * A Retry does not enter the state again: aws-local-stepfunctions (as Step Functions) reports
 * StateEntered once, then per failed attempt StateFailed, the Retry pause, StateRetried (the next
 * attempt starts), and at the end StateExited (success, or a Catch after StateCaught) — or nothing
 * when the failure ends the execution. So a span runs from the entry to the last exit or failure and
 * covers every attempt and the pauses between them; its attempts are listed. Spans of a state entered
 * concurrently (Map iterations) are paired first in, first out.
 */
function spans(events: ExecutionEvent[], include: (e: ExecutionEvent) => boolean): Span[] {
  const out: Span[] = [];
  const open = new Map<string, Span[]>();
  for (const e of events) {
    if (!e.state || !include(e)) continue;
    let queue = open.get(e.state) ?? [];
    // Entered again: a span that failed with no Retry or Catch after it failed for good and no longer pairs.
    if (e.type === 'StateEntered') queue = queue.filter((sp) => sp.end === undefined || sp.caught);
    open.set(e.state, queue);
    const span = queue[0];
    const attempt = span?.attempts[span.attempts.length - 1];
    switch (e.type) {
      case 'StateEntered': {
        const entered: Span = { state: e.state, start: e.at, failed: false, attempts: [{ start: e.at, failed: false }] };
        out.push(entered);
        queue.push(entered);
        break;
      }
      case 'StateFailed':
        if (span && attempt && attempt.end === undefined) {
          Object.assign(attempt, { end: e.at, failed: true }, e.error === undefined ? {} : { error: e.error });
          Object.assign(span, { end: e.at, failed: true });
        }
        break;
      case 'StateRetried':
        if (span) {
          span.attempts.push({ start: e.at, failed: false });
          Object.assign(span, { end: undefined, failed: false });
        }
        break;
      case 'StateCaught':
        if (span) span.caught = true;
        break;
      case 'StateExited':
        if (span) {
          if (attempt && attempt.end === undefined) attempt.end = e.at;
          if (!span.caught) Object.assign(span, { end: e.at, failed: false });
          queue.shift();
        }
        break;
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
 * the orchestrator's cost, so it counts. A Task's time covers all its attempts and the Retry pauses
 * between them (the stage was waiting on a system that kept failing): retries are not overhead.
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

/** A stage's attempt as the report lists it. */
export interface StageAttempt {
  startedAt: string;
  durationMs: number;
  status: 'succeeded' | 'failed' | 'unfinished';
  error?: string;
}

/**
 * Stage timings from the execution's events: one entry per runbook stage that ran. A stage's time
 * covers all its attempts (and the Retry pauses between them); `attempts` lists them.
 */
export function stages(
  events: ExecutionEvent[],
): Array<{ name: string; status: string; startedAt: string; durationMs: number; start: number; end: number; attempts: StageAttempt[] }> {
  return spans(events, (e) => e.state! in STAGE_OF_STATE && e.state !== 'RecoverInParallel').map(({ state, start, end, failed, attempts }) => ({
    name: STAGE_OF_STATE[state]!,
    status: end === undefined ? 'unfinished' : failed ? 'failed' : 'succeeded',
    startedAt: new Date(start).toISOString(),
    durationMs: end === undefined ? 0 : end - start,
    start,
    end: end ?? start,
    attempts: attempts.map((a) => ({
      startedAt: new Date(a.start).toISOString(),
      durationMs: a.end === undefined ? 0 : a.end - a.start,
      status: a.end === undefined ? 'unfinished' : a.failed ? 'failed' : 'succeeded',
      ...(a.error === undefined ? {} : { error: a.error }),
    })),
  }));
}

/**
 * The fence stage as the fence reported it: a fence stage that "succeeded" with steps it could not
 * confirm is `unconfirmed`, never drawn or printed as a plain success.
 */
export function withFenceStatus<S extends { name: string; status: string }>(list: S[], fence: { confirmed: boolean } | null): S[] {
  if (!fence || fence.confirmed) return list;
  return list.map((s) => (s.name === 'fence-us-writers' && s.status === 'succeeded' ? { ...s, status: 'unconfirmed' } : s));
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
