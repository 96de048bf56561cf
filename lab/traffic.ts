/**
 * The lab's clients: payments at a steady rate (167 tx/s, the seed's peak of 10,000/min) through
 * the front door, each with a 5 KB payload, and a log of every request and its outcome. The log,
 * not the orchestrator, is the source of truth for RTO and RPO. Bounded: it stops by itself.
 */
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';

export interface TxRecord {
  id: string;
  account: string;
  amount: number;
  sentAt: number;
  doneAt: number;
  status: number; // 0 = no HTTP answer (connection refused, timeout)
  ok: boolean;
  /** Region that acknowledged it (x-region), when it was acknowledged. */
  region?: string;
  /** When that region answered, by the region's clock (x-acknowledged-at); `doneAt` is when the client saw it. */
  regionAcknowledgedAt?: number;
  error?: string;
}

export interface TrafficOptions {
  port: number;
  ratePerSecond: number;
  /** Hard stop, whatever happens. */
  maxDurationMs: number;
  timeoutMs?: number;
  /**
   * The rate climbs linearly from 0 to `ratePerSecond` over this long (default 0: at once), as a load
   * test ramps up: cold connections (keep-alive sockets, database pool) are opened while the load is
   * still light. Started at full rate, a cold lab answers the first second slowly, the clients'
   * 2 s timeouts drop their connections and reconnect, and the lab never recovers: a measure of the
   * cold start, not of the rate it holds.
   */
  rampMs?: number;
}

/**
 * Requests due `elapsedMs` after the start at `ratePerSecond`, reached linearly over `rampMs`. Plain
 * JavaScript source, run both by the client worker and here (unit-tested): one copy of the schedule.
 */
const DUE_BY_SOURCE = `function dueBy(elapsedMs, ratePerSecond, rampMs) {
  if (elapsedMs <= 0) return 0;
  const perMs = ratePerSecond / 1000;
  if (!(rampMs > 0) || elapsedMs >= rampMs) return Math.floor(perMs * (elapsedMs - (rampMs > 0 ? rampMs : 0) / 2));
  return Math.floor((perMs * elapsedMs * elapsedMs) / (2 * rampMs));
}`;
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- the same source the worker evaluates
export const dueBy = new Function(`${DUE_BY_SOURCE}\nreturn dueBy;`)() as (elapsedMs: number, ratePerSecond: number, rampMs?: number) => number;

const PAYLOAD = randomBytes(3840).toString('base64'); // 5,120 characters

/**
 * The load over one window [from, to): what was asked (the configured rate), offered (requests
 * actually sent: a client that falls behind its schedule offers less than asked), achieved
 * (acknowledged, 201, answered in the window), errors (answered in the window, not 201, including
 * no answer at all) and the latency of the acknowledged ones. `holds` says whether the lab kept up
 * with the asked rate: what a drill must say before it draws conclusions from a run at that rate.
 */
export interface LoadWindow {
  from: number;
  to: number;
  seconds: number;
  askedPerSecond: number;
  offeredPerSecond: number;
  achievedPerSecond: number;
  sent: number;
  acknowledged: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  holds: boolean;
}

/** Share of the asked rate the lab must send and acknowledge for `holds` (the rest is tick rounding). */
export const HOLD_RATIO = 0.95;

function nearestRank(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * Load over [from, to) from the send times and the completed records (pure: the unit test feeds it
 * synthetic timings). A window with any error, or below HOLD_RATIO of the asked rate sent or
 * acknowledged, does not hold.
 */
export function loadWindow(sentTimes: readonly number[], log: readonly TxRecord[], askedPerSecond: number, from: number, to: number): LoadWindow {
  const seconds = Math.max(0.001, (to - from) / 1000);
  const within = (t: number) => t >= from && t < to;
  const sent = sentTimes.filter(within).length;
  const answered = log.filter((r) => within(r.doneAt));
  const acked = answered.filter((r) => r.ok);
  const errors = answered.length - acked.length;
  const latencies = acked.map((r) => r.doneAt - r.sentAt).sort((a, b) => a - b);
  const rate = (n: number) => Math.round((n / seconds) * 10) / 10;
  const asked = askedPerSecond * seconds;
  return {
    from,
    to,
    seconds: Math.round(seconds * 1000) / 1000,
    askedPerSecond,
    offeredPerSecond: rate(sent),
    achievedPerSecond: rate(acked.length),
    sent,
    acknowledged: acked.length,
    errors,
    p50Ms: nearestRank(latencies, 50),
    p99Ms: nearestRank(latencies, 99),
    holds: errors === 0 && sent >= HOLD_RATIO * asked && acked.length >= HOLD_RATIO * asked,
  };
}

/**
 * The client population, run on its own thread (a worker): real clients are other machines, and on
 * the lab's 2 cores a client loop sharing the event loop with the front door, the region apps and the
 * control plane took a third of the lab's only busy thread. Plain JavaScript in a string so that it
 * runs the same under the drill's in-memory esbuild bundle and jest's transform. It sends on schedule,
 * logs every request's outcome, and posts what it sent and what ended every 50 ms.
 */
const CLIENT_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { Agent, request } = require('node:http');
const { port, ratePerSecond, timeoutMs, maxSockets, payload, startedAt, rampMs } = workerData;
${DUE_BY_SOURCE}
const agent = new Agent({ keepAlive: true, maxSockets });
let seq = 0, inflight = 0, stopping = false, sent = [], done = [];
const flush = () => {
  if (sent.length === 0 && done.length === 0) return;
  parentPort.postMessage({ sent, done });
  sent = [];
  done = [];
};
const flushTimer = setInterval(flush, 50);
const tick = setInterval(() => {
  const due = dueBy(Date.now() - startedAt, ratePerSecond, rampMs);
  while (seq < due) send();
}, 10);
let finished = false;
const finish = () => {
  if (finished) return;
  finished = true;
  clearInterval(flushTimer);
  flush();
  parentPort.postMessage({ drained: true });
};
function send() {
  seq += 1;
  const id = 'tx-' + startedAt + '-' + String(seq).padStart(7, '0');
  const account = 'acct-' + (seq % 997);
  const amount = Math.round((1 + ((seq * 7919) % 100000) / 100) * 100) / 100;
  const body = JSON.stringify({ id, account, amount, currency: 'EUR', payload });
  const record = { id, account, amount, sentAt: Date.now(), doneAt: 0, status: 0, ok: false };
  sent.push(record.sentAt);
  inflight += 1;
  const end = (status, region, error, acknowledgedAt) => {
    if (record.doneAt) return;
    record.doneAt = Date.now();
    record.status = status;
    record.ok = status === 201;
    if (record.ok) {
      record.region = region;
      if (acknowledgedAt !== undefined && Number.isFinite(acknowledgedAt)) record.regionAcknowledgedAt = acknowledgedAt;
    }
    if (error) record.error = error;
    done.push(record);
    inflight -= 1;
    if (stopping && inflight === 0) finish();
  };
  const req = request(
    { host: '127.0.0.1', port, method: 'POST', path: '/transactions', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: timeoutMs },
    (res) => {
      res.resume();
      res.on('end', () => end(res.statusCode || 0, res.headers['x-region'], undefined, Number(res.headers['x-acknowledged-at'])));
      res.on('error', (e) => end(0, undefined, e.message));
    },
  );
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => end(0, undefined, e.message));
  req.end(body);
}
parentPort.on('message', (message) => {
  if (message !== 'stop' || stopping) return;
  stopping = true;
  clearInterval(tick);
  if (inflight === 0) return finish();
  // Requests still unanswered after the grace period end as errors (their sockets are destroyed).
  setTimeout(() => {
    agent.destroy();
    setTimeout(finish, 50);
  }, workerData.drainMs).unref();
});
`;

/** How long stop() lets the requests in flight finish. */
const DRAIN_MS = 5000;

export class TrafficGenerator {
  /** Every request that ended (acknowledged or not), in the order they ended. */
  readonly log: TxRecord[] = [];
  /** When each request was sent (in send order), answered or not: the offered load. */
  readonly sentTimes: number[] = [];
  private stopTimer?: NodeJS.Timeout;
  private startedAt = 0;
  private worker?: Worker;
  private stopped?: Promise<void>;
  private drained?: () => void;

  constructor(private readonly options: TrafficOptions) {}

  start(): number {
    this.startedAt = Date.now();
    // The clients are independent: each request in flight has its own connection, so a region that
    // hangs delays only the requests sent to it (until their own timeout), never the ones behind them.
    // A shared pool smaller than rate × timeout would queue new payments behind hanging ones and add
    // the timeout to the RTO, which no real client population does.
    const timeoutMs = this.options.timeoutMs ?? 2000;
    const inFlightAtMost = Math.ceil(this.options.ratePerSecond * (timeoutMs / 1000));
    this.worker = new Worker(CLIENT_SOURCE, {
      eval: true,
      workerData: {
        port: this.options.port,
        ratePerSecond: this.options.ratePerSecond,
        timeoutMs,
        maxSockets: Math.max(128, 2 * inFlightAtMost),
        payload: PAYLOAD,
        startedAt: this.startedAt,
        drainMs: DRAIN_MS,
        rampMs: this.options.rampMs ?? 0,
      },
    });
    this.worker.unref();
    this.worker.on('message', (message: { sent?: number[]; done?: TxRecord[]; drained?: boolean }) => {
      if (message.sent) for (const at of message.sent) this.sentTimes.push(at);
      if (message.done) for (const record of message.done) this.log.push(record);
      if (message.drained) this.drained?.();
    });
    this.worker.on('error', () => this.drained?.());
    this.worker.on('exit', () => this.drained?.());
    this.stopTimer = setTimeout(() => void this.stop(), this.options.maxDurationMs);
    this.stopTimer.unref();
    return this.startedAt;
  }

  /**
   * The load over [from, to) (default: from the start until now), e.g. the pre-fault window
   * `window(t0 + warmup, faultAt)`: asked vs offered vs achieved, errors, p50/p99, and whether it held.
   * Requests still in flight at `to` count as offered, not yet as achieved or errors.
   */
  window(from = this.startedAt, to = Date.now()): LoadWindow {
    return loadWindow(this.sentTimes, this.log, this.options.ratePerSecond, from, to);
  }

  /** Requests sent so far (the log catches up with it once they end). */
  get sent(): number {
    return this.sentTimes.length;
  }

  /** Stops sending and waits for the requests in flight (at most DRAIN_MS, then they end as errors). */
  stop(): Promise<void> {
    if (this.stopped) return this.stopped;
    clearTimeout(this.stopTimer);
    const worker = this.worker;
    if (!worker) {
      this.stopped = Promise.resolve();
      return this.stopped;
    }
    this.stopped = (async () => {
      let guard: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.drained = resolve;
        guard = setTimeout(resolve, DRAIN_MS + 2000);
        worker.postMessage('stop');
      });
      clearTimeout(guard);
      await worker.terminate();
    })();
    return this.stopped;
  }
}
