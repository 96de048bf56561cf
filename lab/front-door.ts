/**
 * The lab's front door: what clients reach. It routes each request by the current DNS answer (what
 * the simulated Route 53 records resolve to, whichever traffic kind moved them), caching it for the
 * lab's DNS TTL as resolvers do, so a flip takes effect only when the cached answer expires.
 *
 * A request routed to a region that hangs waits as a client would: until `upstreamTimeoutMs`, then
 * 502. When the client gives up first, its upstream request is dropped with it (its socket to the
 * hanging region is released). Binds 127.0.0.1 only.
 *
 * It runs on its own thread (a worker), as a load balancer runs on its own machines: on the lab's
 * 2 cores, parsing and proxying every payment on the thread that also runs the region apps, the
 * control plane and the orchestrator made that thread the lab's ceiling (issue 7, saturation). The
 * authoritative answer lives on the main thread (the simulated zone): `start()` and every
 * ANSWER_POLL_MS after it, the answer and the upstream ports are read there and pushed to the
 * worker when they change; `refresh()` pushes at once and resolves when the worker has it.
 */
import { Worker } from 'node:worker_threads';

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

/** How often the main thread looks for a changed answer (well inside the lab's 0.5 s DNS TTL). */
export const ANSWER_POLL_MS = 10;

interface Published {
  answer: DnsAnswer;
  upstreams: Record<string, number>;
}

/**
 * The proxy itself. Plain JavaScript in a string so that it runs the same under the drill's
 * in-memory esbuild bundle and jest's transform (as the traffic clients do, lab/traffic.ts).
 */
const FRONT_DOOR_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { Agent, createServer, request } = require('node:http');
const { upstreamTimeoutMs } = workerData;
let published = workerData.published;
let cached;
// No cap on connections per region: a request waiting on a hanging region must not hold up the
// ones behind it (each client has its own connection); keep-alive reuses the idle ones.
const agent = new Agent({ keepAlive: true });

/** The region a request goes to now (honouring the cached answer's TTL). */
function pick(now) {
  if (!cached || cached.expires <= now) {
    const answer = published.answer;
    cached = { answer, expires: now + answer.ttlSeconds * 1000 };
  }
  const entries = Object.entries(cached.answer.weights).filter(([, w]) => w > 0);
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  let r = Math.random() * total;
  for (const [region, w] of entries) {
    if ((r -= w) < 0) return region;
  }
  return entries[0] ? entries[0][0] : undefined;
}

function route(req, res) {
  const region = pick(Date.now());
  const port = region ? published.upstreams[region] : undefined;
  if (!region || !port) {
    req.resume();
    res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'no upstream' }));
    return;
  }
  const upstream = request(
    { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers, agent, timeout: upstreamTimeoutMs },
    (up) => {
      res.writeHead(up.statusCode || 502, { ...up.headers, 'x-routed-to': region });
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
    res.end(JSON.stringify({ error: 'upstream ' + region + ': ' + error.message }));
  });
  req.pipe(upstream);
}

const server = createServer(route);
server.keepAliveTimeout = 5000;
server.on('error', (error) => parentPort.postMessage({ failed: error.message }));
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', (message) => {
  if (message.published) {
    published = message.published;
    parentPort.postMessage({ ack: message.seq });
  } else if (message === 'close') {
    // Close now: open connections (keep-alive, or waiting on a hanging region) are dropped, not waited for.
    agent.destroy();
    server.closeAllConnections();
    server.close(() => parentPort.postMessage({ closed: true }));
  }
});
`;

export class FrontDoor {
  private worker?: Worker;
  private poll?: NodeJS.Timeout;
  private last = '';
  private seq = 0;
  private readonly acks = new Map<number, () => void>();
  private closed?: Promise<void>;
  /** Why the worker stopped serving, when it did without close(): every request fails from then on. */
  failure?: string;
  port = 0;

  constructor(
    /** Authoritative answer (the simulated Route 53 zone). */
    private readonly resolve: () => DnsAnswer,
    /** Region → app port. */
    private readonly upstreams: () => Record<string, number>,
    private readonly options: FrontDoorOptions = { upstreamTimeoutMs: 2000 },
  ) {}

  private read(): Published {
    return { answer: this.resolve(), upstreams: this.upstreams() };
  }

  async start(): Promise<number> {
    const published = this.read();
    this.last = JSON.stringify(published);
    const worker = new Worker(FRONT_DOOR_SOURCE, { eval: true, workerData: { upstreamTimeoutMs: this.options.upstreamTimeoutMs, published } });
    this.worker = worker;
    worker.unref();
    this.port = await new Promise<number>((resolve, reject) => {
      worker.on('message', (message: { port?: number; failed?: string; ack?: number }) => {
        if (message.port !== undefined) resolve(message.port);
        if (message.failed !== undefined) reject(new Error(`front door: ${message.failed}`));
        if (message.ack !== undefined) this.acks.get(message.ack)?.();
      });
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`front door worker exited (${code}) before listening`)));
    });
    // After it listens: a worker that dies (or whose server fails) is recorded, and nothing waits on it any more.
    const dead = (why: string) => {
      if (this.closed) return;
      this.failure ??= why;
      process.stderr.write(`lab front door: ${why}\n`);
      this.releaseAcks();
    };
    worker.on('error', (error) => dead(`worker error: ${error.message}`));
    worker.on('exit', (code) => dead(`worker exited (${code})`));
    worker.on('message', (message: { failed?: string }) => {
      if (message.failed !== undefined) dead(`server error: ${message.failed}`);
    });
    this.poll = setInterval(() => void this.push(false), ANSWER_POLL_MS);
    this.poll.unref();
    return this.port;
  }

  /** Pushes the current answer to the worker now; resolves once the worker has it (it still honours the TTL of the answer it cached). */
  refresh(): Promise<void> {
    return this.push(true);
  }

  private push(always: boolean): Promise<void> {
    const worker = this.worker;
    if (!worker || this.closed || this.failure) return Promise.resolve();
    const published = this.read();
    const text = JSON.stringify(published);
    if (!always && text === this.last) return Promise.resolve();
    this.last = text;
    const seq = ++this.seq;
    return new Promise<void>((resolve) => {
      this.acks.set(seq, () => {
        this.acks.delete(seq);
        resolve();
      });
      worker.postMessage({ published, seq });
    });
  }

  private releaseAcks(): void {
    for (const ack of [...this.acks.values()]) ack();
  }

  /** Drops every connection (clients get an error, upstream sockets are released) and ends the worker. */
  close(): Promise<void> {
    if (this.closed) return this.closed;
    clearInterval(this.poll);
    const worker = this.worker;
    this.closed = (async () => {
      if (!worker) return;
      if (this.failure) {
        await worker.terminate();
        return;
      }
      await new Promise<void>((resolve) => {
        const guard = setTimeout(resolve, 2000);
        worker.on('message', (message: { closed?: boolean }) => {
          if (message.closed) {
            clearTimeout(guard);
            resolve();
          }
        });
        worker.once('exit', () => {
          clearTimeout(guard);
          resolve();
        });
        worker.postMessage('close');
      });
      this.releaseAcks();
      await worker.terminate();
    })();
    return this.closed;
  }
}
