/**
 * The replication link between the lab's regions: a TCP proxy that delays every chunk by half the
 * round-trip latency in each direction (order kept), and can partition (drop every connection and
 * refuse new ones) and heal. Binds 127.0.0.1 only.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { listenLocal } from './net';

export interface LinkOptions {
  targetPort: number;
  /** Round-trip latency to add (ms); each direction gets half. */
  latencyMs: number;
}

export class LatencyLink {
  private server?: Server;
  private sockets = new Set<Socket>();
  private partitioned = false;
  port = 0;
  latencyMs: number;

  constructor(private readonly options: LinkOptions) {
    this.latencyMs = options.latencyMs;
  }

  async start(): Promise<number> {
    this.server = createServer((client) => this.accept(client));
    this.port = await listenLocal(this.server);
    return this.port;
  }

  private accept(client: Socket): void {
    if (this.partitioned) {
      client.destroy();
      return;
    }
    const upstream = connect(this.options.targetPort, '127.0.0.1');
    this.sockets.add(client);
    this.sockets.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    this.pipeDelayed(client, upstream);
    this.pipeDelayed(upstream, client);
  }

  /** Forwards `from` → `to`, each chunk after latency/2, in order. */
  private pipeDelayed(from: Socket, to: Socket): void {
    const queue: Array<{ at: number; chunk: Buffer }> = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      timer = undefined;
      const now = Date.now();
      while (queue.length > 0 && queue[0]!.at <= now) {
        const { chunk } = queue.shift()!;
        if (!to.destroyed) to.write(chunk);
      }
      if (queue.length > 0) timer = setTimeout(flush, Math.max(0, queue[0]!.at - now));
    };
    from.on('data', (chunk: Buffer) => {
      if (this.partitioned) return;
      queue.push({ at: Date.now() + this.latencyMs / 2, chunk });
      if (!timer) timer = setTimeout(flush, Math.max(0, queue[0]!.at - Date.now()));
    });
  }

  /** Cuts the link: open connections are dropped, new ones refused. */
  partition(): void {
    this.partitioned = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  heal(): void {
    this.partitioned = false;
  }

  get isPartitioned(): boolean {
    return this.partitioned;
  }

  async close(): Promise<void> {
    this.partition();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
