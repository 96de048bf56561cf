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
      return { ok: false, status: response.status, detail: `${spec.url}: body does not contain ${JSON.stringify(spec.expectBodyContains)}`, durationMs };
    }
    return { ok: true, status: response.status, detail: `HTTP ${response.status} in ${durationMs} ms`, durationMs };
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    return { ok: false, detail: `${spec.method ?? 'GET'} ${spec.url}: ${e.name}${cause ? ` ${cause}` : ''}: ${e.message}`, durationMs: Date.now() - started };
  }
}
