/**
 * Stage 5 — flip traffic to the recovery region (one Map iteration per traffic resource, polled
 * until done: a Route 53 change INSYNC, or ARC routing controls read back recovery On / primary
 * Off). A resource that already points at the recovery region is success, so a second run (or a
 * duplicate execution) changes nothing. The adapter per kind is in functions/adapters/index.ts.
 */
import type { z } from 'zod';
import { trafficKind } from './adapters';
import type { ResourceStep } from './core/contract';
import { TrafficFlipDeadlineExceededError } from './core/errors';
import { trafficSchema } from './core/plan';
import { reconcile } from './core/reconcile';
import { reconcileInputSchema, stageHandler, type StageContext } from './core/stage';

const inputSchema = reconcileInputSchema(trafficSchema);
export type FlipInput = z.infer<typeof inputSchema>;

export async function flipTraffic(input: FlipInput, ctx: StageContext): Promise<ResourceStep> {
  return reconcile(trafficKind(input.resource).flip, input, ctx, {
    timeoutSeconds: input.resource.syncTimeoutSeconds,
    deadlineError: (message) => new TrafficFlipDeadlineExceededError(message),
  });
}

export const handler = stageHandler('flip-traffic', inputSchema, flipTraffic);
