/**
 * Stage 3 — promote the recovery-region database (one Map iteration per database, called in a
 * Wait/poll loop until done or past its deadline).
 *
 * Aurora global: SwitchoverGlobalCluster (planned, RPO 0) or FailoverGlobalCluster with
 * AllowDataLoss (unplanned). RDS read replica: PromoteReadReplica, after catch-up when planned.
 *
 * The data-loss estimate (`lagSecondsAtPromotion`) of an unplanned failover is the replication gap
 * AT THE FAULT (`start.faultAt`, else the execution start), never the gap when the promotion call
 * is made: by then RDS PostgreSQL's ReplicaLag has grown with the clock (and with the approval wait)
 * although no more data was lost. A planned switchover records the 0 measured after the fence.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { z } from 'zod';
import { databaseKind } from './adapters';
import type { ReconcileAdapter } from './core/reconcile';
import type { ResourceStep, StartResult } from './core/contract';
import { PromotionDeadlineExceededError, ReplicaCatchUpDeadlineExceededError } from './core/errors';
import { databaseSchema, type DatabaseResource } from './core/plan';
import { metrics } from './core/powertools';
import { reconcile } from './core/reconcile';
import { reconcileInputSchema, stageHandler, type StageContext } from './core/stage';

const inputSchema = reconcileInputSchema(databaseSchema);
export type PromoteInput = z.infer<typeof inputSchema>;

/** When the primary was first seen failing (the start's fault time), else the execution start. */
export function faultAtOf(start: Pick<StartResult, 'startedAt' | 'faultAt'>): Date {
  const fault = start.faultAt ? Date.parse(start.faultAt) : Number.NaN;
  const started = Date.parse(start.startedAt);
  return new Date(Number.isFinite(fault) && fault <= started ? fault : started);
}

/** The promotion adapter with the fault time in its context (the reconcile loop does not carry it). */
function atFault(adapter: ReconcileAdapter<DatabaseResource>, faultAt: Date): ReconcileAdapter<DatabaseResource> {
  return {
    observe: (r, c) => adapter.observe(r, { ...c, faultAt }),
    act: (r, c, o) => adapter.act(r, { ...c, faultAt }, o),
    describeAction: (r, c) => adapter.describeAction(r, { ...c, faultAt }),
  };
}

export async function promoteEuDatabase(input: PromoteInput, ctx: StageContext): Promise<ResourceStep> {
  const db = input.resource;
  const step = await reconcile(atFault(databaseKind(db).promote, faultAtOf(input.start)), input, ctx, {
    timeoutSeconds: db.promotionTimeoutSeconds,
    deadlineError: (message, pending) => (pending.phase === 'catching-up' ? new ReplicaCatchUpDeadlineExceededError(message) : new PromotionDeadlineExceededError(message)),
  });
  if (step.done && step.mutated && typeof step.lagSecondsAtPromotion === 'number') {
    metrics.addMetric('EstimatedDataLossSeconds', MetricUnit.Seconds, step.lagSecondsAtPromotion);
  }
  return step;
}

export const handler = stageHandler('promote-eu-database', inputSchema, promoteEuDatabase);
