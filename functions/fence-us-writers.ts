/**
 * Stage 2 — fence the primary region's writers: scale writer services to zero and make the primary
 * database read-only, so no write is accepted on the old side after the recovery side is promoted.
 *
 * Best effort by design: when the primary region is down its control plane may not answer (or
 * hang), and blocking recovery on it would turn a regional outage into a global one. The whole stage
 * runs within `plan.fence.timeoutSeconds` (less when the stage deadline is nearer): every SDK call
 * carries the budget's AbortSignal, and a step not finished when it is spent is `unconfirmed`
 * ("no answer within N s"). Each step reports confirmed / unconfirmed / skipped with what it saw;
 * the plan's `approval.fenceUnconfirmed` policy decides what an unconfirmed fence means (proceed,
 * ask a human, or abort). A planned switchover always requires a confirmed fence.
 */
import { z } from 'zod';
import { computeKind, databaseKind } from './adapters';
import { budgetSpent, fenceBudgetMs, fenceOutcome, withinFenceBudget, type Fencer, type FenceOutcome } from './adapters/types';
import type { FenceResult } from './core/contract';
import { FenceUnconfirmedError } from './core/errors';
import type { ComputeResource, DatabaseResource, Plan } from './core/plan';
import { logger } from './core/powertools';
import { markActing } from './core/single-flight';
import { stageHandler, stateParts, type StageContext } from './core/stage';

const inputSchema = z.object({ plan: stateParts.plan, start: stateParts.start }).passthrough();
export type FenceInput = z.infer<typeof inputSchema>;

interface Target {
  name: string;
  kind: string;
  resource: ComputeResource | DatabaseResource;
  /** Absent: this kind has no database-level fence (compute fences it). */
  fencer?: Fencer<never>;
}

/** Every writer layer to fence: compute services first, then each database. */
function fenceTargets(plan: Plan): Target[] {
  return [
    ...plan.compute.map((svc) => ({ name: svc.name, kind: svc.kind, resource: svc, fencer: computeKind(svc).fencer as Fencer<never> })),
    ...plan.databases.map((db) => ({ name: db.name, kind: db.kind, resource: db, fencer: databaseKind(db).fencer as Fencer<never> | undefined })),
  ];
}

/** A database kind without a fencer is still reported, never silently left out. */
const computeOnly = (t: Target): FenceOutcome => fenceOutcome('skipped', 'none', `no database-level fence for ${t.kind}: fenced by the compute layer only`);

export async function fenceUsWriters(input: FenceInput, ctx: StageContext): Promise<FenceResult> {
  const { plan, start } = input;
  // Never mutate without the lease: another incident may have taken it over while this run waited
  // at its approval gate (LeaseLost, before any fencing call).
  if (start.mode !== 'drill') await markActing(plan, start.executionId, ctx.now());
  const startedAt = ctx.now().toISOString();
  const targets = fenceTargets(plan);

  if (start.mode === 'drill') {
    const steps = targets.map((t) => ({
      resource: t.name,
      kind: t.kind,
      status: 'skipped' as const,
      confirmed: true,
      action: 'drill',
      detail: 'no mutating call made',
      wouldDo: t.fencer ? t.fencer.describeFence(t.resource as never, plan) : computeOnly(t).detail,
    }));
    return { confirmed: true, approvalNeeded: false, steps, startedAt, finishedAt: ctx.now().toISOString() };
  }

  const budgetMs = fenceBudgetMs(plan, ctx.deadlineAt);
  const outcomes = await withinFenceBudget(
    targets,
    budgetMs,
    ctx.sleep,
    async (t, fence) => (t.fencer ? t.fencer.fence(t.resource as never, plan, fence) : computeOnly(t)),
    (t, fence) => fenceOutcome('unconfirmed', t.kind === 'ecs-service' ? 'scale-to-zero' : 'read-only', budgetSpent(fence.budgetSeconds, `fencing ${t.name}`)),
  );
  const steps = outcomes.map(([t, outcome]) => ({ resource: t.name, kind: t.kind, ...outcome }));
  const unconfirmed = steps.filter((s) => s.status === 'unconfirmed');
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
    budgetSeconds: Math.round(budgetMs / 100) / 10,
    startedAt,
    finishedAt: ctx.now().toISOString(),
  };
}

export const handler = stageHandler('fence-us-writers', inputSchema, fenceUsWriters);
