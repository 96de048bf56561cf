/**
 * The lab's blackhole fault without PostgreSQL: a dead region's endpoints accept TCP and never
 * answer, hold the sockets until the lab stops, and everything the lab runs in front of them (the
 * front door, the probes) ends by its own timeout and releases what it held. Also the lab's alarm
 * rule (M of N datapoints) and its ReplicaLag formula. No assertion on wall-clock durations: "never
 * answered" is proven by what the client saw (connected, request sent, no response, socket still
 * open when our own deadline fired), and "released" by the sockets closing.
 */
import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { FrontDoor } from '../../lab/front-door';
import { listenLocal, closeHttpServer } from '../../local/net';
import { AlarmTracker, probeOnce, replicaLagSeconds, type AlarmEvent } from '../../lab/probes';
import { RegionApp } from '../../lab/region-app';
import { LatencyLink } from '../../lab/tcp-proxy';

jest.setTimeout(20_000);

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A port nothing listens on (a database that is down). */
async function closedPort(): Promise<number> {
  const s = createServer();
  const port = await listenLocal(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function startApp(region = 'us-east-1'): Promise<RegionApp> {
  const app = new RegionApp({ region, db: { host: '127.0.0.1', port: await closedPort(), user: 'postgres', database: 'postgres' }, desiredCount: 2, taskStartMs: 10 });
  await app.start();
  cleanups.push(() => app.stop());
  return app;
}

type Outcome = { kind: 'answered'; status: number; body: string } | { kind: 'error'; code: string } | { kind: 'no-answer'; connected: boolean; socketOpen: boolean };

/**
 * One GET that we abandon ourselves after `patienceMs`: tells an answer, a refusal/reset, and
 * "accepted, never answered" apart. The socket is destroyed afterwards either way.
 */
function get(port: number, path: string, patienceMs = 400, agent: false | Agent = false): Promise<Outcome> {
  return new Promise((resolve) => {
    let connected = false;
    let socket: Socket | undefined;
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', agent }, (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => finish({ kind: 'answered', status: res.statusCode ?? 0, body }));
    });
    req.on('socket', (s) => {
      socket = s;
      if (!s.connecting) connected = true;
      s.on('connect', () => (connected = true));
    });
    const timer = setTimeout(() => finish({ kind: 'no-answer', connected, socketOpen: !!socket && !socket.destroyed }), patienceMs);
    req.on('error', (e: NodeJS.ErrnoException) => finish({ kind: 'error', code: e.code ?? e.message }));
    let done = false;
    function finish(o: Outcome) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve(o);
    }
    req.end();
  });
}

/** Resolves when `socket` is closed by the other side (or rejects after `ms`: then it was not). */
function closedWithin(socket: Socket, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve();
    const t = setTimeout(() => reject(new Error('socket still open')), ms);
    socket.on('close', () => (clearTimeout(t), resolve()));
  });
}

async function rawConnect(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  cleanups.push(() => s.destroy());
  return s;
}

describe('the region edge (lab/tcp-proxy.ts)', () => {
  let upstream: Server;
  let upstreamPort: number;
  beforeEach(async () => {
    upstream = createServer((req, res) => res.end(`hello from ${req.url}`));
    upstreamPort = await listenLocal(upstream);
    cleanups.push(() => closeHttpServer(upstream));
  });

  it('forwards while open; blackholed, it accepts new connections and never answers them, and holds them until close()', async () => {
    const link = new LatencyLink({ targetPort: upstreamPort, latencyMs: 0 });
    await link.start();
    cleanups.push(() => link.close());
    expect(await get(link.port, '/a')).toEqual({ kind: 'answered', status: 200, body: 'hello from /a' });

    link.blackhole();
    const acceptedBefore = link.accepted;
    const outcome = await get(link.port, '/b');
    expect(outcome).toEqual({ kind: 'no-answer', connected: true, socketOpen: true });
    expect(link.accepted).toBe(acceptedBefore + 1);

    const held = await rawConnect(link.port);
    held.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 50));
    expect(link.heldConnections).toBeGreaterThanOrEqual(1);
    await link.close();
    await closedWithin(held, 2000); // released by close(), at the latest when the lab stops
    expect(link.heldConnections).toBe(0);
  });

  it('blackholed, an open connection goes silent: no answer and no FIN, even when the endpoint behind closes it', async () => {
    const link = new LatencyLink({ targetPort: upstreamPort, latencyMs: 0 });
    await link.start();
    cleanups.push(() => link.close());
    const client = await rawConnect(link.port);
    const received: string[] = [];
    client.on('data', (d) => received.push(d.toString()));
    client.write('GET /one HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((r) => client.once('data', () => r()));
    expect(received.join('')).toContain('hello from /one');

    link.blackhole();
    received.length = 0;
    client.write('GET /two HTTP/1.1\r\nHost: x\r\n\r\n');
    await closeHttpServer(upstream); // the endpoint behind goes away: its FIN must not come through
    await expect(closedWithin(client, 300)).rejects.toThrow('socket still open');
    expect(received).toEqual([]);
  });

  it('refused, new connections get ECONNREFUSED (a region that is down and says so)', async () => {
    const link = new LatencyLink({ targetPort: upstreamPort, latencyMs: 0 });
    await link.start();
    await link.refuse();
    expect(await get(link.port, '/')).toEqual({ kind: 'error', code: 'ECONNREFUSED' });
  });
});

describe('the region app', () => {
  it('answers /healthz and says 503 on /healthz/db when its database cannot be reached', async () => {
    const app = await startApp();
    const health = await get(app.port, '/healthz');
    expect(health).toMatchObject({ kind: 'answered', status: 200 });
    const db = await get(app.port, '/healthz/db', 3000);
    expect(db).toMatchObject({ kind: 'answered', status: 503 });
    expect(JSON.parse((db as { body: string }).body)).toMatchObject({ ok: false, region: 'us-east-1' });
  });

  it('hang(): accepts and never answers (new and kept-alive connections alike), then stop() releases every socket', async () => {
    const app = await startApp();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    expect(await get(app.port, '/healthz', 400, agent)).toMatchObject({ kind: 'answered', status: 200 });
    const kept = await rawConnect(app.port);

    await app.hang();
    expect(app.reachability).toBe('blackholed');
    expect(await get(app.port, '/healthz')).toEqual({ kind: 'no-answer', connected: true, socketOpen: true });
    expect(await get(app.port, '/healthz/db')).toEqual({ kind: 'no-answer', connected: true, socketOpen: true });
    kept.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await expect(closedWithin(kept, 300)).rejects.toThrow('socket still open');

    await app.stop();
    await closedWithin(kept, 2000);
    expect(app.heldConnections).toBe(0);
    expect(await get(app.port, '/healthz')).toEqual({ kind: 'error', code: 'ECONNREFUSED' });
  });

  it('kill(): refuses connections at once (region-outage keeps refusing)', async () => {
    const app = await startApp();
    await app.kill();
    expect(app.reachability).toBe('refused');
    expect(await get(app.port, '/healthz')).toEqual({ kind: 'error', code: 'ECONNREFUSED' });
  });
});

describe('the front door in front of a hanging region', () => {
  async function healthyUpstream(): Promise<number> {
    const s = createServer((_req, res) => res.writeHead(200, { 'x-region': 'eu-west-1' }).end('eu'));
    const port = await listenLocal(s);
    cleanups.push(() => closeHttpServer(s));
    return port;
  }

  it('answers 502 when the region does not answer within its upstream timeout, and follows DNS to the live region meanwhile', async () => {
    const us = await startApp();
    await us.hang();
    const euPort = await healthyUpstream();
    const weights: Record<string, number> = { 'us-east-1': 100, 'eu-west-1': 0 };
    const door = new FrontDoor(
      () => ({ weights: { ...weights }, ttlSeconds: 0 }),
      () => ({ 'us-east-1': us.port, 'eu-west-1': euPort }),
      { upstreamTimeoutMs: 150 },
    );
    await door.start();
    cleanups.push(() => door.close());

    const hung = await get(door.port, '/transactions', 5000);
    expect(hung).toMatchObject({ kind: 'answered', status: 502 });
    expect((hung as { body: string }).body).toContain('upstream timeout');

    weights['us-east-1'] = 0;
    weights['eu-west-1'] = 100;
    await door.refresh(); // the answer lives on the main thread; the front door routes on its own thread
    expect(await get(door.port, '/transactions')).toEqual({ kind: 'answered', status: 200, body: 'eu' });
  });

  it('follows a changed answer pushed from the main thread without being told (polled), and keeps a cached answer until its TTL runs out', async () => {
    const answering = async (body: string) => {
      const srv = createServer((_req, res) => res.writeHead(200).end(body));
      const port = await listenLocal(srv);
      cleanups.push(() => closeHttpServer(srv));
      return port;
    };
    const usPort = await answering('us');
    const euPort = await answering('eu');
    const weights: Record<string, number> = { 'us-east-1': 100, 'eu-west-1': 0 };
    let ttlSeconds = 0;
    const door = new FrontDoor(
      () => ({ weights: { ...weights }, ttlSeconds }),
      () => ({ 'us-east-1': usPort, 'eu-west-1': euPort }),
      { upstreamTimeoutMs: 1000 },
    );
    await door.start();
    cleanups.push(() => door.close());
    const bodyOf = async () => ((await get(door.port, '/')) as { body?: string }).body;
    const until = async (want: string) => {
      const deadline = Date.now() + 5000;
      while ((await bodyOf()) !== want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      return bodyOf();
    };
    expect(await bodyOf()).toBe('us');

    // No refresh(): the front door's own poll of the main thread's answer picks the change up.
    weights['us-east-1'] = 0;
    weights['eu-west-1'] = 100;
    expect(await until('eu')).toBe('eu');

    // Cached for 30 s from the next lookup: a flip after that is not followed until it expires.
    ttlSeconds = 30;
    await door.refresh();
    expect(await bodyOf()).toBe('eu');
    weights['us-east-1'] = 100;
    weights['eu-west-1'] = 0;
    await door.refresh();
    expect(await bodyOf()).toBe('eu');
  });

  it('records a worker that dies after it listened, and then neither refresh() nor close() waits on it', async () => {
    const door = new FrontDoor(
      () => ({ weights: { 'us-east-1': 100 }, ttlSeconds: 0 }),
      () => ({ 'us-east-1': 1 }),
      { upstreamTimeoutMs: 100 },
    );
    await door.start();
    cleanups.push(() => door.close());
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);

    await (door as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    const deadline = Date.now() + 3000;
    while (!door.failure && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));

    expect(door.failure).toMatch(/^worker exited/);
    await expect(door.refresh()).resolves.toBeUndefined();
    await expect(door.close()).resolves.toBeUndefined();
    stderr.mockRestore();
  });

  it('a client that gives up first takes its request to the hanging region with it; close() releases the rest', async () => {
    const us = await startApp();
    await us.hang();
    const door = new FrontDoor(
      () => ({ weights: { 'us-east-1': 100 }, ttlSeconds: 60 }),
      () => ({ 'us-east-1': us.port }),
      { upstreamTimeoutMs: 60_000 },
    );
    await door.start();
    cleanups.push(() => door.close());

    expect(await get(door.port, '/a', 300)).toMatchObject({ kind: 'no-answer', connected: true });
    // The client is gone: the front door must not keep its socket to the hanging region.
    const deadline = Date.now() + 3000;
    while (us.heldConnections > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(us.heldConnections).toBe(0);

    const pending = get(door.port, '/b', 5000);
    while (us.heldConnections === 0 && Date.now() < deadline + 3000) await new Promise((r) => setTimeout(r, 20));
    expect(us.heldConnections).toBe(1);
    await door.close();
    expect(await pending).toMatchObject({ kind: 'error' }); // the front door closed the client's connection
    while (us.heldConnections > 0 && Date.now() < deadline + 6000) await new Promise((r) => setTimeout(r, 20));
    expect(us.heldConnections).toBe(0);
  });
});

describe('the lab CloudWatch', () => {
  it('a probe of a hanging endpoint fails by its own timeout and releases its socket', async () => {
    const app = await startApp();
    await app.hang();
    const r = await probeOnce({ url: `http://127.0.0.1:${app.port}/healthz/db`, expectStatus: 200, timeoutMs: 200 });
    expect(r).toEqual({ ok: false, detail: 'no answer within 200 ms' });
    const deadline = Date.now() + 3000;
    while (app.heldConnections > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    expect(app.heldConnections).toBe(0);
  });

  it('an alarm goes to ALARM on datapointsToAlarm of the last evaluationPeriods datapoints, and back to OK', () => {
    const events: AlarmEvent[] = [];
    const state = { alarms: new Map(), log: () => undefined, plan: { recoveryRegion: 'eu-west-1' } } as never;
    const alarm = new AlarmTracker('lab-api-health', { evaluationPeriods: 3, datapointsToAlarm: 2, statistic: 'Minimum', threshold: 1, periodSeconds: 1 }, state, (e) =>
      events.push(e),
    );
    const t0 = Date.UTC(2026, 10, 3, 3, 0, 0);
    alarm.sample(0, 'down', t0);
    expect(events).toHaveLength(0);
    alarm.sample(1, 'up', t0 + 1000);
    alarm.sample(0, 'down', t0 + 2000); // 2 of the last 3
    expect(events.map((e) => `${e.detail.previousState.value}→${e.detail.state.value}`)).toEqual(['OK→ALARM']);
    expect(events[0]).toMatchObject({ source: 'aws.cloudwatch', 'detail-type': 'CloudWatch Alarm State Change', region: 'eu-west-1', detail: { alarmName: 'lab-api-health' } });
    // CloudWatch's reasonData: the window starts at the first evaluated datapoint (the orchestrator dates the fault from it).
    expect(JSON.parse(events[0]!.detail.state.reasonData)).toMatchObject({
      startDate: '2026-11-03T03:00:00.000+0000',
      statistic: 'Minimum',
      period: 1,
      threshold: 1,
      evaluatedDatapoints: [
        { timestamp: '2026-11-03T03:00:02.000+0000', value: 0 },
        { timestamp: '2026-11-03T03:00:01.000+0000', value: 1 },
        { timestamp: '2026-11-03T03:00:00.000+0000', value: 0 },
      ],
    });
    alarm.sample(1, 'up', t0 + 3000); // last 3: up, down, up → 1 of 3
    expect(events.map((e) => e.detail.state.value)).toEqual(['ALARM', 'OK']);
    alarm.sample(null, 'no datapoint', t0 + 4000); // missing: not breaching
    expect(events).toHaveLength(2);
  });

  it('ReplicaLag keeps growing with the clock once the primary is gone (RDS: now() - pg_last_xact_replay_timestamp()), 0 only when caught up with a live primary', () => {
    const reading = (since: number | null, replayLsn = '0/5000000') => ({ inRecovery: true, streaming: true, replayLsn, sinceLastReplaySeconds: since });
    expect(replicaLagSeconds(reading(0.2), '0/5000000')).toBe(0); // caught up with the live primary
    expect(replicaLagSeconds(reading(0.2), '0/5000100')).toBe(0.2); // behind a live primary
    // The primary is gone (no position to compare with): the formula alone, growing with the clock, never null.
    expect(replicaLagSeconds(reading(3), null)).toBe(3);
    expect(replicaLagSeconds(reading(63), null)).toBe(63);
    expect(replicaLagSeconds(reading(-0.01), null)).toBe(0);
    expect(replicaLagSeconds(reading(null), null)).toBeNull(); // nothing replayed yet: no datapoint
    expect(replicaLagSeconds({ ...reading(5), inRecovery: false }, null)).toBeNull(); // promoted: no ReplicaLag
  });
});
