/**
 * The payments app of one lab region: an HTTP server writing transactions (id, account, amount,
 * 5 KB payload) to its region's database. Its capacity is what the simulated ECS service says:
 * with no running task it answers 503 to everything, as an ALB with no healthy target does.
 *
 *   POST /transactions                 a payment (the traffic generator's)
 *   POST /v1/synthetic/transactions    a synthetic write (smoke test), marked synthetic
 *   GET  /healthz                      liveness of the app (not of its database: that has its own alarm)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Pool } from 'pg';
import { closeHttpServer, listenLocal } from './net';

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
  private pool: Pool;
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
    this.port = await listenLocal(this.server, port);
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
    res.writeHead(status, { 'content-type': 'application/json', 'x-region': this.options.region, 'x-acknowledged-at': String(Date.now()), 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private async body(req: IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (this.runningCount === 0) {
        req.resume();
        return this.send(res, 503, { error: 'no running tasks', region: this.options.region });
      }
      if (req.method === 'GET' && req.url === '/healthz') return this.send(res, 200, { ok: true, region: this.options.region, running: this.runningCount });
      if (req.method === 'POST' && (req.url === '/transactions' || req.url === '/v1/synthetic/transactions')) {
        const synthetic = req.url !== '/transactions';
        const body = await this.body(req);
        if (synthetic && this.syntheticBroken) return this.send(res, 500, { error: 'synthetic write path broken (scenario)' });
        const id = typeof body.id === 'string' ? body.id : `synthetic-${Date.now()}-${Math.random().toString(36).slice(2)}`;
        await this.pool.query('INSERT INTO transactions (id, account, amount, payload, region, synthetic) VALUES ($1, $2, $3, $4, $5, $6)', [
          id,
          String(body.account ?? 'synthetic'),
          Number(body.amount ?? 0),
          String(body.payload ?? ''),
          this.options.region,
          synthetic,
        ]);
        return this.send(res, 201, { id, region: this.options.region });
      }
      req.resume();
      return this.send(res, 404, { error: 'not found' });
    } catch (error) {
      const e = error as { code?: string; message?: string };
      if (!res.headersSent) this.send(res, 503, { error: e.message ?? String(error), code: e.code, region: this.options.region });
    }
  }

  /** The region is gone: the server stops answering and drops its connections. */
  async kill(): Promise<void> {
    clearInterval(this.scaleTimer);
    await closeHttpServer(this.server);
    this.server = undefined;
    await this.pool.end().catch(() => undefined);
  }
}
