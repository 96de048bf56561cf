/**
 * The lab's clients: payments at a steady rate (167 tx/s, the seed's peak of 10,000/min) through
 * the front door, each with a 5 KB payload, and a log of every request and its outcome. The log,
 * not the orchestrator, is the source of truth for RTO and RPO. Bounded: it stops by itself.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';

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
}

const PAYLOAD = randomBytes(3840).toString('base64'); // 5,120 characters

export class TrafficGenerator {
  readonly log: TxRecord[] = [];
  private timer?: NodeJS.Timeout;
  private stopTimer?: NodeJS.Timeout;
  private seq = 0;
  private inflight = 0;
  private startedAt = 0;
  private readonly agent: Agent;
  private drained?: () => void;

  constructor(private readonly options: TrafficOptions) {
    // The clients are independent: each request in flight has its own connection, so a region that
    // hangs delays only the requests sent to it (until their own timeout), never the ones behind them.
    // A shared pool smaller than rate × timeout would queue new payments behind hanging ones and add
    // the timeout to the RTO, which no real client population does.
    const inFlightAtMost = Math.ceil(options.ratePerSecond * ((options.timeoutMs ?? 2000) / 1000));
    this.agent = new Agent({ keepAlive: true, maxSockets: Math.max(128, 2 * inFlightAtMost) });
  }

  start(): number {
    this.startedAt = Date.now();
    const tickMs = 10;
    this.timer = setInterval(() => {
      const due = Math.floor(((Date.now() - this.startedAt) / 1000) * this.options.ratePerSecond);
      while (this.seq < due) this.send();
    }, tickMs);
    this.stopTimer = setTimeout(() => void this.stop(), this.options.maxDurationMs);
    this.stopTimer.unref();
    return this.startedAt;
  }

  private send(): void {
    this.seq += 1;
    const id = `tx-${this.startedAt}-${String(this.seq).padStart(7, '0')}`;
    const account = `acct-${this.seq % 997}`;
    const amount = Math.round((1 + ((this.seq * 7919) % 100000) / 100) * 100) / 100;
    const body = JSON.stringify({ id, account, amount, currency: 'EUR', payload: PAYLOAD });
    const record: TxRecord = { id, account, amount, sentAt: Date.now(), doneAt: 0, status: 0, ok: false };
    this.inflight += 1;
    const finish = (status: number, region?: string, error?: string, regionAcknowledgedAt?: number) => {
      if (record.doneAt) return;
      record.doneAt = Date.now();
      record.status = status;
      record.ok = status === 201;
      if (record.ok) {
        record.region = region;
        if (regionAcknowledgedAt !== undefined && Number.isFinite(regionAcknowledgedAt)) record.regionAcknowledgedAt = regionAcknowledgedAt;
      }
      if (error) record.error = error;
      this.log.push(record);
      this.inflight -= 1;
      if (this.inflight === 0) this.drained?.();
    };
    const req = request(
      { host: '127.0.0.1', port: this.options.port, method: 'POST', path: '/transactions', agent: this.agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: this.options.timeoutMs ?? 2000 },
      (res) => {
        res.resume();
        res.on('end', () => finish(res.statusCode ?? 0, res.headers['x-region'] as string | undefined, undefined, Number(res.headers['x-acknowledged-at'])));
        res.on('error', (e) => finish(0, undefined, e.message));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => finish(0, undefined, e.message));
    req.end(body);
  }

  get sent(): number {
    return this.seq;
  }

  /** Stops sending and waits for the requests in flight. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.stopTimer);
    if (this.inflight > 0) await new Promise<void>((resolve) => ((this.drained = resolve), setTimeout(resolve, 5000).unref()));
    this.agent.destroy();
  }
}
