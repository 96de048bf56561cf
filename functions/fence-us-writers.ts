/**
 * Stage 2 — fence the primary region's writers: scale writer services to zero and make the primary
 * database read-only, so no write is accepted on the old side after the recovery side is promoted.
 *
 * Best effort by design: when the primary region is down its control plane may not answer, and
 * blocking recovery on it would turn a regional outage into a global one. Each step reports
 * confirmed / unconfirmed; the plan's `approval.fenceUnconfirmed` policy decides what an
 * unconfirmed fence means (proceed, ask a human, or abort). A planned switchover always requires a
 * confirmed fence: zero data loss depends on it.
 */
import { z } from 'zod';
import { computeKind, databaseKind } from './adapters';
import type { FenceResult } from './core/contract';
import { FenceUnconfirmedError } from './core/errors';
import { logger } from './core/powertools';
import { stageHandler, stateParts, type StageContext } from './core/stage';

const inputSchema = z.object({ plan: stateParts.plan, start: stateParts.start }).passthrough();
export type FenceInput = z.infer<typeof inputSchema>;

export async function fenceUsWriters(input: FenceInput, ctx: StageContext): Promise<FenceResult> {
  const { plan, start } = input;
  const startedAt = ctx.now().toISOString();
  const targets = [
    ...plan.compute.map((svc) => ({ name: svc.name, kind: svc.kind, fencer: computeKind(svc).fencer, resource: svc })),
    ...plan.databases.flatMap((db) => {
      const fencer = databaseKind(db).fencer;
      return fencer ? [{ name: db.name, kind: db.kind, fencer, resource: db }] : [];
    }),
  ];

  if (start.mode === 'drill') {
    const steps = targets.map((t) => ({ resource: t.name, kind: t.kind, confirmed: true, action: 'drill', detail: 'no mutating call made', wouldDo: t.fencer.describeFence(t.resource as never, plan) }));
    return { confirmed: true, approvalNeeded: false, steps, startedAt, finishedAt: ctx.now().toISOString() };
  }

  const steps = await Promise.all(
    targets.map(async (t) => ({ resource: t.name, kind: t.kind, ...(await t.fencer.fence(t.resource as never, plan)) })),
  );
  const unconfirmed = steps.filter((s) => !s.confirmed);
  const confirmed = unconfirmed.length === 0;
  if (!confirmed) {
    logger.warn('fence unconfirmed', { unconfirmed: unconfirmed.map((s) => `${s.resource}: ${s.detail}`) });
    const list = unconfirmed.map((s) => `${s.resource} (${s.detail})`).join('; ');
    if (start.mode === 'switchover') throw new FenceUnconfirmedError(`planned switchover needs a confirmed fence for zero data loss: ${list}`);
    if (plan.approval.fenceUnconfirmed === 'abort') throw new FenceUnconfirmedError(`fence unconfirmed and policy is abort: ${list}`);
  }
  return {
    confirmed,
    approvalNeeded: !confirmed && plan.approval.fenceUnconfirmed === 'require-approval',
    steps,
    startedAt,
    finishedAt: ctx.now().toISOString(),
  };
}

export const handler = stageHandler('fence-us-writers', inputSchema, fenceUsWriters);
