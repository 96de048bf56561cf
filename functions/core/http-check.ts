/**
 * One HTTP check, used by detection probes (primary-region health, seen from the recovery region)
 * and by smoke tests (recovery-region endpoints, including a synthetic write).
 */
export interface HttpCheckSpec {
  url: string;
  method?: string;
  expectStatus: number;
  body?: Record<string, unknown>;
  expectBodyContains?: string;
  timeoutMs: number;
  headers?: Record<string, string>;
}

export interface HttpCheckResult {
  ok: boolean;
  status?: number;
  detail: string;
  durationMs: number;
}

export async function httpCheck(spec: HttpCheckSpec): Promise<HttpCheckResult> {
  const started = Date.now();
  try {
    const response = await fetch(spec.url, {
      method: spec.method ?? 'GET',
      headers: { 'user-agent': 'failover-orchestrator', ...(spec.body ? { 'content-type': 'application/json' } : {}), ...spec.headers },
      body: spec.body ? JSON.stringify(spec.body) : undefined,
      signal: AbortSignal.timeout(spec.timeoutMs),
      redirect: 'manual',
    });
    let text = '';
    // Read the body either way: an unread body keeps the connection busy.
    if (spec.expectBodyContains !== undefined) text = await response.text();
    else await response.arrayBuffer();
    const durationMs = Date.now() - started;
    if (response.status !== spec.expectStatus) {
      return { ok: false, status: response.status, detail: `${spec.method ?? 'GET'} ${spec.url}: HTTP ${response.status}, expected ${spec.expectStatus}`, durationMs };
    }
    if (spec.expectBodyContains !== undefined && !text.includes(spec.expectBodyContains)) {
      return { ok: false, status: response.status, detail: `${spec.method ?? 'GET'} ${spec.url}: body does not contain ${JSON.stringify(spec.expectBodyContains)}`, durationMs };
    }
    return { ok: true, status: response.status, detail: `HTTP ${response.status} in ${durationMs} ms`, durationMs };
  } catch (error) {
    // Read by shape, not `instanceof Error`: fetch's errors may come from another realm (undici under a test
    // runner's VM context), and the cause's code (ECONNREFUSED, ETIMEDOUT) is the evidence a probe reports.
    const e = (error && typeof error === 'object' ? error : {}) as { name?: unknown; message?: unknown; cause?: { code?: unknown } };
    const name = typeof e.name === 'string' ? e.name : 'Error';
    const message = typeof e.message === 'string' ? e.message : String(error);
    const cause = typeof e.cause?.code === 'string' ? e.cause.code : undefined;
    return { ok: false, detail: `${spec.method ?? 'GET'} ${spec.url}: ${name}${cause ? ` ${cause}` : ''}: ${message}`, durationMs: Date.now() - started };
  }
}
