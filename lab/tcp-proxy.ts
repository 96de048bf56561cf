/**
 * The lab's network: a TCP proxy that stands for the path to one endpoint of a region. It delays
 * every chunk by half the round-trip latency in each direction (order kept), and fails the way
 * networks fail:
 *
 * - `partition()`: open connections are dropped and new ones reset; `heal()` undoes it (the
 *   replication link of the network-partition scenario).
 * - `refuse()`: the endpoint is gone: the listening socket closes, so a new connection gets
 *   ECONNREFUSED, and open connections are dropped (a region that is down and says so).
 * - `blackhole()`: the endpoint accepts TCP and never answers: open connections stay open but no
 *   byte goes through in either direction (not even the upstream's FIN), new connections are
 *   accepted and held. This is how a dying AWS region usually looks from outside, and why every
 *   client needs a timeout that ends the call (README, "The lab"). Held sockets are released by
 *   `close()`, at the latest when the lab stops.
 *
 * Binds 127.0.0.1 only.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { listenLocal } from '../local/net';

export interface LinkOptions {
  targetPort: number;
  /** Round-trip latency to add (ms); each direction gets half. 0: bytes are passed on at once. */
  latencyMs: number;
}

export type LinkMode = 'open' | 'partitioned' | 'blackholed' | 'refused';

export class LatencyLink {
  private server?: Server;
  private sockets = new Set<Socket>();
  /** The accepted side of each forwarded connection (what a blackhole keeps holding). */
  private clients = new Set<Socket>();
  /** Client sockets accepted (or kept) while blackholed: never answered, released by close(). */
  private held = new Set<Socket>();
  private mode: LinkMode = 'open';
  port = 0;
  latencyMs: number;
  /** Connections accepted so far (tests prove "accepted, then never answered" with it). */
  accepted = 0;

  constructor(private readonly options: LinkOptions) {
    this.latencyMs = options.latencyMs;
  }

  async start(port = 0): Promise<number> {
    this.server = createServer((client) => this.accept(client));
    this.port = await listenLocal(this.server, port);
    return this.port;
  }

  private accept(client: Socket): void {
    this.accepted += 1;
    if (this.mode === 'partitioned' || this.mode === 'refused') {
      client.destroy();
      return;
    }
    if (this.mode === 'blackholed') {
      this.hold(client);
      return;
    }
    const upstream = connect(this.options.targetPort, '127.0.0.1');
    // A link adds only the latency it is told to: no Nagle coalescing on either side (with it, a small
    // write waiting for the peer's delayed ACK stalls a keep-alive request by up to 40 ms per hop).
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.sockets.add(client);
    this.sockets.add(upstream);
    this.clients.add(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
      this.clients.delete(client);
    };
    client.on('error', close).on('close', close);
    // A blackholed endpoint sends nothing, not even its FIN: the client keeps waiting.
    upstream.on('error', () => (this.mode === 'blackholed' ? this.drop(upstream) : close()));
    upstream.on('close', () => (this.mode === 'blackholed' ? this.drop(upstream) : close()));
    this.pipeDelayed(client, upstream);
    this.pipeDelayed(upstream, client);
  }

  /**
   * Keeps a client socket open and never answers it, until close(). What it sends is read and
   * dropped, so that a client that gives up (its FIN) releases the socket here too: the lab must
   * not leak what its clients abandon.
   */
  private hold(client: Socket): void {
    this.held.add(client);
    client.on('data', () => undefined);
    client.resume();
    client.on('error', () => undefined);
    client.on('close', () => this.held.delete(client));
  }

  private drop(socket: Socket): void {
    socket.destroy();
    this.sockets.delete(socket);
  }

  /** Forwards `from` → `to`, each chunk after latency/2, in order; nothing while not open. */
  private pipeDelayed(from: Socket, to: Socket): void {
    const queue: Array<{ at: number; chunk: Buffer }> = [];
    let timer: NodeJS.Timeout | undefined;
    const deliver = (chunk: Buffer) => {
      if (this.mode === 'open' && !to.destroyed) to.write(chunk);
    };
    const flush = () => {
      timer = undefined;
      const now = Date.now();
      while (queue.length > 0 && queue[0]!.at <= now) deliver(queue.shift()!.chunk);
      if (queue.length > 0) timer = setTimeout(flush, Math.max(0, queue[0]!.at - now));
    };
    from.on('data', (chunk: Buffer) => {
      if (this.mode !== 'open') return;
      if (this.latencyMs <= 0 && queue.length === 0) return deliver(chunk);
      queue.push({ at: Date.now() + this.latencyMs / 2, chunk });
      if (!timer) timer = setTimeout(flush, Math.max(0, queue[0]!.at - Date.now()));
    });
  }

  /** Cuts the link: open connections are dropped, new ones reset. */
  partition(): void {
    this.mode = 'partitioned';
    this.dropAll();
  }

  heal(): void {
    if (this.mode === 'partitioned') this.mode = 'open';
  }

  /**
   * The endpoint accepts and never answers: open connections are kept but carry nothing more, new
   * ones are accepted and held (see the file comment). Irreversible, like the region it stands for.
   */
  blackhole(): void {
    if (this.mode === 'refused') return;
    this.mode = 'blackholed';
    // The client's side of each connection is held; the upstream side stays until it closes by itself.
    for (const client of this.clients) {
      this.sockets.delete(client);
      this.hold(client);
    }
    this.clients.clear();
  }

  /** The endpoint is gone: new connections are refused (ECONNREFUSED), open ones dropped. Irreversible. */
  async refuse(): Promise<void> {
    this.mode = 'refused';
    this.dropAll();
    await this.closeListener();
  }

  get isPartitioned(): boolean {
    return this.mode === 'partitioned';
  }

  get state(): LinkMode {
    return this.mode;
  }

  /** Sockets accepted while blackholed and still held (not answered, not closed). */
  get heldConnections(): number {
    return this.held.size;
  }

  private dropAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.clients.clear();
  }

  private async closeListener(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Releases everything: forwarded connections, held ones, and the listening socket. */
  async close(): Promise<void> {
    if (this.mode !== 'refused') this.mode = 'partitioned';
    this.dropAll();
    for (const s of this.held) s.destroy();
    this.held.clear();
    await this.closeListener();
  }
}
