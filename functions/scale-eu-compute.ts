/**
 * Stage 4 — scale the recovery region from warm standby to failover capacity (one Map iteration per
 * service, polled until steady). Runs in parallel with promotion: capacity takes as long as the
 * database, so doing them one after the other would double that part of the RTO.
 */
import type { z } from 'zod';
import { computeKind } from './adapters';
import type { ResourceStep } from './core/contract';
import { ScaleDeadlineExceededError } from './core/errors';
import { computeSchema } from './core/plan';
import { reconcile } from './core/reconcile';
import { reconcileInputSchema, stageHandler, type StageContext } from './core/stage';

const inputSchema = reconcileInputSchema(computeSchema);
export type ScaleInput = z.infer<typeof inputSchema>;

export async function scaleEuCompute(input: ScaleInput, ctx: StageContext): Promise<ResourceStep> {
  return reconcile(computeKind(input.resource).scale, input, ctx, {
    timeoutSeconds: input.resource.steadyTimeoutSeconds,
    deadlineError: (message) => new ScaleDeadlineExceededError(message),
  });
}

export const handler = stageHandler('scale-eu-compute', inputSchema, scaleEuCompute);
