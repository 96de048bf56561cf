/**
 * Stage 3 — promote the recovery-region database (one Map iteration per database, called in a
 * Wait/poll loop until done or past its deadline).
 *
 * Aurora global: SwitchoverGlobalCluster (planned, RPO 0) or FailoverGlobalCluster with
 * AllowDataLoss (unplanned). RDS read replica: PromoteReadReplica, after catch-up when planned.
 * The replication gap at the moment of promotion is recorded as the data-loss estimate.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { z } from 'zod';
import { databaseKind } from './adapters';
import type { ResourceStep } from './core/contract';
import { PromotionDeadlineExceededError, ReplicaCatchUpDeadlineExceededError } from './core/errors';
import { databaseSchema } from './core/plan';
import { metrics } from './core/powertools';
import { reconcile } from './core/reconcile';
import { reconcileInputSchema, stageHandler, type StageContext } from './core/stage';

const inputSchema = reconcileInputSchema(databaseSchema);
export type PromoteInput = z.infer<typeof inputSchema>;

export async function promoteEuDatabase(input: PromoteInput, ctx: StageContext): Promise<ResourceStep> {
  const db = input.resource;
  const step = await reconcile(databaseKind(db).promote, input, ctx, {
    timeoutSeconds: db.promotionTimeoutSeconds,
    deadlineError: (message, pending) =>
      pending.phase === 'catching-up' ? new ReplicaCatchUpDeadlineExceededError(message) : new PromotionDeadlineExceededError(message),
  });
  if (step.done && step.mutated && typeof step.lagSecondsAtPromotion === 'number') {
    metrics.addMetric('EstimatedDataLossSeconds', MetricUnit.Seconds, step.lagSecondsAtPromotion);
  }
  return step;
}

export const handler = stageHandler('promote-eu-database', inputSchema, promoteEuDatabase);
