/**
 * Stage 6 — smoke-test the recovery region: the plan's HTTP checks (including a synthetic write)
 * and every database writable (no longer a replica). Any failure throws `SmokeTestFailed` listing
 * each failing check; the state machine retries it a few times (DNS and target health take a moment)
 * before it reaches the failure notification. In a drill the writes are not sent: only reads run.
 */
import { z } from 'zod';
import { databaseKind } from './adapters';
import type { SmokeResult } from './core/contract';
import { SmokeTestFailedError } from './core/errors';
import { httpCheck } from './core/http-check';
import { stageHandler, stateParts, type StageContext } from './core/stage';

const inputSchema = z.object({ plan: stateParts.plan, start: stateParts.start }).passthrough();
export type SmokeInput = z.infer<typeof inputSchema>;

export async function smokeTest(input: SmokeInput, ctx: StageContext): Promise<SmokeResult> {
  const { plan, start } = input;
  const startedAt = ctx.now();
  const drill = start.mode === 'drill';
  const http = plan.smokeTests.map(async (t) => {
    if (drill && t.method !== 'GET') {
      return { name: t.name, ok: true, detail: `drill: would send ${t.method} ${t.url} expecting ${t.expectStatus}`, durationMs: 0 };
    }
    const r = await httpCheck(t);
    return { name: t.name, ok: r.ok, status: r.status, detail: r.detail, durationMs: r.durationMs };
  });
  const writable = drill
    ? []
    : plan.databases.map(async (db) => {
        const t0 = Date.now();
        const obs = await databaseKind(db).replication(db, plan, startedAt);
        return { name: `${db.name}-writable`, ok: obs.status === 'promoted', detail: obs.detail, durationMs: Date.now() - t0 };
      });
  const checks = await Promise.all([...http, ...writable]);
  const failed = checks.filter((c) => !c.ok);
  if (failed.length > 0) {
    throw new SmokeTestFailedError(`${failed.length} of ${checks.length} smoke checks failed: ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ')}`);
  }
  return { passed: true, checks, startedAt: startedAt.toISOString(), finishedAt: ctx.now().toISOString() };
}

export const handler = stageHandler('smoke-test', inputSchema, smokeTest);
