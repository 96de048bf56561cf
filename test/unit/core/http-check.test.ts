/**
 * One HTTP check (functions/core/http-check.ts), the building block of detection probes and smoke
 * tests, against real HTTP servers on 127.0.0.1 (free ports, closed after each test): the status,
 * the body, what is sent, and how an endpoint that refuses or hangs is reported.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { httpCheck } from '../../../functions/core/http-check';
import { closeHttpServer, listenLocal } from '../../../local/net';

interface Received {
  method?: string;
  url?: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const servers: Server[] = [];
const timers: NodeJS.Timeout[] = [];

afterEach(async () => {
  for (const t of timers.splice(0)) clearTimeout(t);
  await Promise.all(servers.splice(0).map((s) => closeHttpServer(s)));
});

/** Starts a server answering with `listener`; returns its base URL and what it received. */
async function serve(listener: RequestListener): Promise<{ base: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      listener(req, res);
    });
  });
  servers.push(server);
  const port = await listenLocal(server);
  return { base: `http://127.0.0.1:${port}`, received };
}

/** A port nothing listens on: bound once to get a free one, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listenLocal(server);
  await closeHttpServer(server);
  return port;
}

describe('httpCheck', () => {
  it('passes when the endpoint answers the expected status, and reports the status', async () => {
    const { base } = await serve((_req, res) => res.end('ok'));

    const result = await httpCheck({ url: `${base}/healthz`, expectStatus: 200, timeoutMs: 2_000 });

    expect(result).toMatchObject({ ok: true, status: 200 });
    expect(result.detail).toMatch(/^HTTP 200 in \d+ ms$/);
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('fails on any other status, naming the method, the URL, the status and the expected one so the operator knows which endpoint broke', async () => {
    const { base } = await serve((_req, res) => {
      res.statusCode = 503;
      res.end('database unavailable');
    });

    const result = await httpCheck({ url: `${base}/healthz/db`, expectStatus: 200, timeoutMs: 2_000 });

    expect(result).toMatchObject({ ok: false, status: 503, detail: `GET ${base}/healthz/db: HTTP 503, expected 200` });
  });

  it('passes on a non-2xx status when that is what the check expects (a fenced endpoint answering 403)', async () => {
    const { base } = await serve((_req, res) => {
      res.statusCode = 403;
      res.end();
    });

    const result = await httpCheck({ url: `${base}/write`, expectStatus: 403, timeoutMs: 2_000 });

    expect(result).toMatchObject({ ok: true, status: 403 });
  });

  it('does not follow a redirect, so a check cannot pass on another host (a maintenance page) than the one it names', async () => {
    const target = await serve((_req, res) => res.end('ok'));
    const { base } = await serve((_req, res) => {
      res.writeHead(302, { location: `${target.base}/healthz` });
      res.end();
    });

    const result = await httpCheck({ url: `${base}/healthz`, expectStatus: 200, timeoutMs: 2_000 });

    expect(result).toMatchObject({ ok: false, status: 302, detail: `GET ${base}/healthz: HTTP 302, expected 200` });
    expect(target.received).toHaveLength(0);
  });

  it('passes a body check when the body contains the expected text', async () => {
    const { base } = await serve((_req, res) => res.end('{"status":"ok","region":"eu-west-1"}'));

    const result = await httpCheck({ url: `${base}/healthz`, expectStatus: 200, expectBodyContains: '"region":"eu-west-1"', timeoutMs: 2_000 });

    expect(result).toMatchObject({ ok: true, status: 200 });
  });

  it('fails a body check when the right status comes with the wrong body (a healthy answer from the wrong region), and says what was missing', async () => {
    const { base } = await serve((_req, res) => res.end('{"status":"ok","region":"us-east-1"}'));

    const result = await httpCheck({ url: `${base}/healthz`, expectStatus: 200, expectBodyContains: '"region":"eu-west-1"', timeoutMs: 2_000 });

    expect(result).toMatchObject({ ok: false, status: 200, detail: `GET ${base}/healthz: body does not contain "\\"region\\":\\"eu-west-1\\""` });
  });

  it('reports the status mismatch, not the body, when both are wrong', async () => {
    const { base } = await serve((_req, res) => {
      res.statusCode = 500;
      res.end('boom');
    });

    const result = await httpCheck({ url: `${base}/healthz`, expectStatus: 200, expectBodyContains: 'ok', timeoutMs: 2_000 });

    expect(result.detail).toBe(`GET ${base}/healthz: HTTP 500, expected 200`);
  });

  it('sends a synthetic write as JSON with the given method and headers, identifying itself as the orchestrator', async () => {
    const { base, received } = await serve((_req, res) => {
      res.statusCode = 201;
      res.end();
    });

    const result = await httpCheck({
      url: `${base}/payments`,
      method: 'POST',
      body: { amount: 1, currency: 'EUR', synthetic: true },
      headers: { 'x-smoke-test': 'failover' },
      expectStatus: 201,
      timeoutMs: 2_000,
    });

    expect(result).toMatchObject({ ok: true, status: 201 });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ method: 'POST', url: '/payments' });
    expect(received[0]!.headers).toMatchObject({ 'content-type': 'application/json', 'user-agent': 'failover-orchestrator', 'x-smoke-test': 'failover' });
    expect(JSON.parse(received[0]!.body)).toEqual({ amount: 1, currency: 'EUR', synthetic: true });
  });

  it('names the method in the failure detail of a non-GET check', async () => {
    const { base } = await serve((_req, res) => {
      res.statusCode = 409;
      res.end();
    });

    const result = await httpCheck({ url: `${base}/payments`, method: 'POST', body: { amount: 1 }, expectStatus: 201, timeoutMs: 2_000 });

    expect(result.detail).toBe(`POST ${base}/payments: HTTP 409, expected 201`);
  });

  it('sends no content-type and no body on a plain GET', async () => {
    const { base, received } = await serve((_req, res) => res.end('ok'));

    await httpCheck({ url: `${base}/healthz`, expectStatus: 200, timeoutMs: 2_000 });

    expect(received[0]!.method).toBe('GET');
    expect(received[0]!.headers['content-type']).toBeUndefined();
    expect(received[0]!.body).toBe('');
  });

  // Under Jest fetch's errors come from another realm; http-check reads them by shape, so the code survives there too.
  it('fails without throwing when the connection is refused, naming the method, the URL, the error and its code', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}/healthz`;

    const result = await httpCheck({ url, expectStatus: 200, timeoutMs: 2_000 });

    expect(result.ok).toBe(false);
    expect(result.status).toBeUndefined();
    expect(result.detail).toBe(`GET ${url}: TypeError ECONNREFUSED: fetch failed`);
  });

  it('fails at its timeout when the server accepts the request and never answers (a dying region), and says it timed out', async () => {
    const { base } = await serve(() => {
      /* accepts and never answers */
    });

    const result = await httpCheck({ url: `${base}/healthz`, expectStatus: 200, timeoutMs: 200 });

    expect(result.ok).toBe(false);
    expect(result.status).toBeUndefined();
    expect(result.detail).toContain(`GET ${base}/healthz: `);
    expect(result.detail).toMatch(/TimeoutError.*aborted due to timeout/);
  });

  it('reports a healthy answer that arrives after timeoutMs as a failure, because a probe must not wait longer than it was told', async () => {
    const { base } = await serve((_req, res) => {
      timers.push(setTimeout(() => res.end('ok'), 1_500));
    });

    const result = await httpCheck({ url: `${base}/healthz`, expectStatus: 200, timeoutMs: 200 });

    expect(result).toMatchObject({ ok: false });
    expect(result.detail).toMatch(/TimeoutError/);
  });

  it('fails at its timeout when the server sends the headers and then never finishes the body, even with the expected status', async () => {
    const { base } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial'); // and never ends the body
    });

    const result = await httpCheck({ url: `${base}/healthz`, expectStatus: 200, timeoutMs: 200 });

    expect(result.ok).toBe(false);
    expect(result.detail).toContain(`GET ${base}/healthz: `);
  });
});
