/**
 * The lab's front door: what clients reach. It routes each request by the current DNS answer (what
 * the simulated Route 53 records resolve to, whichever traffic kind moved them), caching it for the
 * lab's DNS TTL as resolvers do, so a flip takes effect only when the cached answer expires.
 *
 * A request routed to a region that hangs waits as a client would: until `upstreamTimeoutMs`, then
 * 502. When the client gives up first, its upstream request is dropped with it (its socket to the
 * hanging region is released). Binds 127.0.0.1 only.
 */
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeHttpServer, listenLocal } from './net';

export interface DnsAnswer {
  /** Region → weight, as the records say. */
  weights: Record<string, number>;
  /** How long resolvers cache the answer (the lab's DNS TTL; ARC routing controls have none of their own). */
  ttlSeconds: number;
}

export interface FrontDoorOptions {
  /** How long a request waits for its region before answering 502 (the client's own patience). */
  upstreamTimeoutMs: number;
}

export class FrontDoor {
  private server?: Server;
  private cached?: { answer: DnsAnswer; expires: number };
  // No cap on connections per region: a request waiting on a hanging region must not hold up the
  // ones behind it (each client has its own connection); keep-alive reuses the idle ones.
  private readonly agent = new Agent({ keepAlive: true });
  port = 0;

  constructor(
    /** Authoritative answer (the simulated Route 53 zone). */
    private readonly resolve: () => DnsAnswer,
    /** Region → app port. */
    private readonly upstreams: () => Record<string, number>,
    private readonly options: FrontDoorOptions = { upstreamTimeoutMs: 2000 },
  ) {}

  async start(): Promise<number> {
    this.server = createServer((req, res) => this.route(req, res));
    this.server.keepAliveTimeout = 5000;
    this.port = await listenLocal(this.server);
    return this.port;
  }

  /** The region a request goes to now (honouring the cached answer's TTL). */
  pick(now = Date.now()): string | undefined {
    if (!this.cached || this.cached.expires <= now) {
      const answer = this.resolve();
      this.cached = { answer, expires: now + answer.ttlSeconds * 1000 };
    }
    const entries = Object.entries(this.cached.answer.weights).filter(([, w]) => w > 0);
    const total = entries.reduce((sum, [, w]) => sum + w, 0);
    let r = Math.random() * total;
    for (const [region, w] of entries) {
      if ((r -= w) < 0) return region;
    }
    return entries[0]?.[0];
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    const region = this.pick();
    const port = region ? this.upstreams()[region] : undefined;
    if (!region || !port) {
      req.resume();
      res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'no upstream' }));
      return;
    }
    const upstream = request(
      { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers, agent: this.agent, timeout: this.options.upstreamTimeoutMs },
      (up) => {
        res.writeHead(up.statusCode ?? 502, { ...up.headers, 'x-routed-to': region });
        up.pipe(res);
      },
    );
    upstream.on('timeout', () => upstream.destroy(new Error('upstream timeout')));
    // The client went away (its own timeout): drop its request to the region too.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json', 'x-routed-to': region });
      res.end(JSON.stringify({ error: `upstream ${region}: ${error.message}` }));
    });
    req.pipe(upstream);
  }

  async close(): Promise<void> {
    this.agent.destroy();
    await closeHttpServer(this.server);
  }
}
