/**
 * The payments app of one lab region: an HTTP server writing transactions (id, account, amount,
 * 5 KB payload) to its region's database. Its capacity is what the simulated ECS service says:
 * with no running task it answers 503 to everything, as an ALB with no healthy target does.
 *
 *   POST /transactions                 a payment (the traffic generator's)
 *   POST /v1/synthetic/transactions    a synthetic write (smoke test), marked synthetic
 *   GET  /healthz                      liveness of the app (not of its database: that has its own alarm)
 *   GET  /healthz/db                   its database answers a trivial query within 250 ms: 200 (the body says
 *                                      whether it is read-only), else 503 (the `db-us` probe of the lab plan)
 *
 * Clients reach the app through its region's edge (lab/tcp-proxy.ts), which is how the region can
 * fail: `kill()` refuses connections (the region is down and says so), `hang()` accepts them and
 * never answers (a blackholed region). Either way the app behind stops.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Pool } from 'pg';
import { closeHttpServer, listenLocal } from '../local/net';
import { LatencyLink } from './tcp-proxy';

/** How long /healthz/db waits for its database (below the lab plan's 300 ms probe timeout). */
export const DB_HEALTH_TIMEOUT_MS = 250;

export const TRANSACTIONS_DDL = `
CREATE TABLE IF NOT EXISTS transactions (
  id text PRIMARY KEY,
  account text NOT NULL,
  amount numeric(18,2) NOT NULL,
  payload text NOT NULL,
  region text NOT NULL,
  synthetic boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
)`;

export interface RegionAppOptions {
  region: string;
  db: { host: string; port: number; user: string; database: string };
  /** Tasks running at start (the ECS service's desired count). */
  desiredCount: number;
  /** How long one task takes to start (image pull, health checks), lab-sized. */
  taskStartMs: number;
}

export class RegionApp {
  private server?: Server;
  private edge?: LatencyLink;
  private pool: Pool;
  /** The port clients use: the region's edge in front of the app. */
  port = 0;
  desiredCount: number;
  runningCount: number;
  /** Smoke-test-failure scenario: the synthetic write endpoint answers 500. */
  syntheticBroken = false;
  /** When the last scale-up reached its desired count (the ECS service's steady state). */
  steadyAt?: number;
  private scaleTimer?: NodeJS.Timeout;

  constructor(readonly options: RegionAppOptions) {
    this.desiredCount = options.desiredCount;
    this.runningCount = options.desiredCount;
    this.pool = new Pool({ ...options.db, max: 20, connectionTimeoutMillis: 1000, idleTimeoutMillis: 5000 });
    this.pool.on('error', () => undefined);
  }

  async start(port = 0): Promise<number> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 5000;
    const appPort = await listenLocal(this.server);
    this.edge = new LatencyLink({ targetPort: appPort, latencyMs: 0 });
    this.port = await this.edge.start(port);
    return this.port;
  }

  /** The ECS UpdateService of the lab: running tasks follow the desired count, one task per taskStartMs. */
  setDesiredCount(n: number): void {
    this.desiredCount = n;
    clearInterval(this.scaleTimer);
    if (n <= this.runningCount) {
      this.runningCount = n; // stopping is immediate: the ALB deregisters the targets
      return;
    }
    this.steadyAt = undefined;
    this.scaleTimer = setInterval(() => {
      this.runningCount = Math.min(this.desiredCount, this.runningCount + 1);
      if (this.runningCount >= this.desiredCount) {
        clearInterval(this.scaleTimer);
        this.steadyAt = Date.now();
      }
    }, this.options.taskStartMs);
    this.scaleTimer.unref();
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    // x-acknowledged-at: the moment this region answered, by its own clock. The client sees the answer a
    // little later (through the front door); the lab's loss check needs the region's moment.
    res.writeHead(status, {
      'content-type': 'application/json',
      'x-region': this.options.region,
      'x-acknowledged-at': String(Date.now()),
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }

  /** The request's JSON body (plain 'data'/'end' events: cheaper per request than an async iterator). */
  private body(req: IncomingMessage): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('error', reject);
      req.on('end', () => {
        try {
          const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
          resolve(text ? (JSON.parse(text) as Record<string, unknown>) : {});
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (this.runningCount === 0) {
        req.resume();
        return this.send(res, 503, { error: 'no running tasks', region: this.options.region });
      }
      if (req.method === 'GET' && req.url === '/healthz') return this.send(res, 200, { ok: true, region: this.options.region, running: this.runningCount });
      if (req.method === 'GET' && req.url === '/healthz/db') return await this.databaseHealth(res);
      if (req.method === 'POST' && (req.url === '/transactions' || req.url === '/v1/synthetic/transactions')) {
        const synthetic = req.url !== '/transactions';
        const body = await this.body(req);
        if (synthetic && this.syntheticBroken) return this.send(res, 500, { error: 'synthetic write path broken (scenario)' });
        const id = typeof body.id === 'string' ? body.id : `synthetic-${Date.now()}-${Math.random().toString(36).slice(2)}`;
        // A named (prepared) statement: each pooled connection parses and plans the INSERT once.
        // Autocommit, synchronous_commit on (the RDS default): the 201 below is sent only after the
        // commit returned on this region's primary.
        await this.pool.query({
          name: 'insert-transaction',
          text: 'INSERT INTO transactions (id, account, amount, payload, region, synthetic) VALUES ($1, $2, $3, $4, $5, $6)',
          values: [id, String(body.account ?? 'synthetic'), Number(body.amount ?? 0), String(body.payload ?? ''), this.options.region, synthetic],
        });
        return this.send(res, 201, { id, region: this.options.region });
      }
      req.resume();
      return this.send(res, 404, { error: 'not found' });
    } catch (error) {
      const e = error as { code?: string; message?: string };
      if (!res.headersSent) this.send(res, 503, { error: e.message ?? String(error), code: e.code, region: this.options.region });
    }
  }

  /**
   * The database behind this app, as its writer sees it. 503 when it cannot be reached or does not
   * answer `SELECT 1` within DB_HEALTH_TIMEOUT_MS: that is "the writer is down" (the database
   * alarm). A read-only database answers 200 with `readOnly: true`: read-only is what the
   * orchestrator's own fence does, and a fenced primary must not raise the alarm that starts a
   * failover (a planned switchover would start a second run against itself).
   */
  private async databaseHealth(res: ServerResponse): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${DB_HEALTH_TIMEOUT_MS} ms`)), DB_HEALTH_TIMEOUT_MS)));
    try {
      const check = this.pool.query<{ ro: string }>("SELECT current_setting('transaction_read_only') AS ro");
      check.catch(() => undefined);
      const { rows } = await Promise.race([check, timeout]);
      return this.send(res, 200, { ok: true, region: this.options.region, readOnly: rows[0]?.ro === 'on' });
    } catch (error) {
      return this.send(res, 503, { ok: false, region: this.options.region, error: (error as Error).message });
    } finally {
      clearTimeout(timer);
    }
  }

  /** The region is gone and says so: connections are refused, open ones dropped, the app stops. */
  async kill(): Promise<void> {
    await this.edge?.refuse();
    await this.stopApp();
  }

  /**
   * The region is blackholed: its edge accepts connections and never answers (open ones go silent
   * too), holding every socket until `stop()`. The app behind stops.
   */
  async hang(): Promise<void> {
    this.edge?.blackhole();
    await this.stopApp();
  }

  /** Releases everything, including the sockets a blackholed edge still holds (lab stop). */
  async stop(): Promise<void> {
    await this.stopApp();
    await this.edge?.close();
  }

  /** Edge mode: open, refused, blackholed. */
  get reachability(): string {
    return this.edge?.state ?? 'refused';
  }

  /** Connections the (blackholed) edge holds without answering. */
  get heldConnections(): number {
    return this.edge?.heldConnections ?? 0;
  }

  private async stopApp(): Promise<void> {
    clearInterval(this.scaleTimer);
    await closeHttpServer(this.server);
    this.server = undefined;
    await this.pool.end().catch(() => undefined);
  }
}
