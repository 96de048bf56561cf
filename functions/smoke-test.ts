/**
 * Stage 6 — smoke-test the recovery region: the plan's HTTP checks (including a synthetic write),
 * every database writable (no longer a replica), and — the split-brain guard — the old primary
 * database read back as refusing writes, from the same control-plane evidence as the fence
 * (its parameter group attached, in-sync, default_transaction_read_only = 1), within the fence budget.
 *
 * A failing check throws `SmokeTestFailed` listing each one; the state machine retries it a few
 * times (DNS and target health take a moment). An old primary that is reachable and NOT shown
 * read-only throws `OldPrimaryWritable` (split-brain risk: a human must stop it). An unreachable
 * old primary is recorded, not a failure: a dead region accepts nothing. In a drill the writes are
 * not sent and nothing is re-checked: only reads run.
 */
import { z } from 'zod';
import { databaseKind } from './adapters';
import { budgetSpent, fenceBudgetMs, withinFenceBudget, type FenceRecheck } from './adapters/types';
import type { SmokeResult } from './core/contract';
import { OldPrimaryWritableError, SmokeTestFailedError } from './core/errors';
import { httpCheck } from './core/http-check';
import type { Plan } from './core/plan';
import { logger } from './core/powertools';
import { stageHandler, stateParts, type StageContext } from './core/stage';

const inputSchema = z.object({ plan: stateParts.plan, start: stateParts.start }).passthrough();
export type SmokeInput = z.infer<typeof inputSchema>;

type Recheck = NonNullable<SmokeResult['fenceRecheck']>[number];

/** Each old primary database read back after promotion, all within one fence budget. */
async function recheckFences(plan: Plan, ctx: StageContext): Promise<Recheck[]> {
  const outcomes = await withinFenceBudget(
    plan.databases,
    fenceBudgetMs(plan, ctx.deadlineAt),
    ctx.sleep,
    async (db, fence): Promise<FenceRecheck> => {
      const fencer = databaseKind(db).fencer;
      return fencer?.recheck
        ? fencer.recheck(db, plan, fence)
        : { status: 'no-database-fence', detail: `no database-level fence for ${db.kind}: the old primary is fenced by the compute layer only` };
    },
    (db, fence): FenceRecheck => ({ status: 'unreachable', detail: budgetSpent(fence.budgetSeconds, `reading back the fence of ${db.name}`) }),
  );
  return outcomes.map(([db, outcome]) => ({ database: db.name, kind: db.kind, ...outcome }));
}

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
  const [checks, fenceRecheck] = await Promise.all([Promise.all([...http, ...writable]), drill ? Promise.resolve([]) : recheckFences(plan, ctx)]);
  const failed = checks.filter((c) => !c.ok);
  const failedText = failed.map((c) => `${c.name}: ${c.detail}`).join('; ');
  const writableOld = fenceRecheck.filter((r) => r.status === 'accepts-writes');
  if (writableOld.length > 0) {
    logger.error('old primary accepts writes after promotion', { databases: writableOld.map((r) => `${r.database}: ${r.detail}`) });
    throw new OldPrimaryWritableError(
      `split-brain risk: the old primary still accepts writes: ${writableOld.map((r) => `${r.database} (${r.detail})`).join('; ')}` +
        (failed.length > 0 ? `; also ${failed.length} of ${checks.length} smoke checks failed: ${failedText}` : ''),
    );
  }
  if (failed.length > 0) {
    throw new SmokeTestFailedError(`${failed.length} of ${checks.length} smoke checks failed: ${failedText}`);
  }
  return { passed: true, checks, ...(drill ? {} : { fenceRecheck }), startedAt: startedAt.toISOString(), finishedAt: ctx.now().toISOString() };
}

export const handler = stageHandler('smoke-test', inputSchema, smokeTest);
