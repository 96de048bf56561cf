/**
 * The reconcile loop behind promote, scale and flip: each call observes the resource, returns
 * "done" when it is where the stage wants it, acts once when it is not (and nothing is under way),
 * and otherwise reports progress. The state machine calls it again after a Wait until it is done or
 * its deadline passes, which makes each call safe to repeat: a retried or duplicated invocation
 * observes first and never issues the mutating call twice for a change already under way.
 */
import type { ReconcileAdapter, AdapterContext } from '../adapters/types';
import type { ReconcileInput, ResourceStep } from './contract';
import type { FailoverError } from './errors';
import { logger } from './powertools';
import { isoAfter, type StageContext } from './stage';

export interface ReconcileOptions {
  timeoutSeconds: number;
  /** The named error to throw when the deadline passes before the resource is done. */
  deadlineError: (message: string, step: ResourceStep) => FailoverError;
}

export async function reconcile<R extends { name: string; kind: string }>(
  adapter: ReconcileAdapter<R>,
  input: ReconcileInput<R>,
  stageCtx: StageContext,
  options: ReconcileOptions,
): Promise<ResourceStep> {
  const now = stageCtx.now();
  const { resource, plan, start, previous } = input;
  const ctx: AdapterContext = { plan, mode: start.mode, previous, now, ...(input.fencedAt ? { fencedAt: new Date(input.fencedAt) } : {}) };
  const base = {
    resource: resource.name,
    kind: resource.kind,
    startedAt: previous?.startedAt ?? now.toISOString(),
    deadline: previous?.deadline ?? isoAfter(now, options.timeoutSeconds),
  };
  const observation = await adapter.observe(resource, ctx);
  // The replication gap at the moment of the mutating call is the data-loss estimate: follow it until we act, then keep it.
  const lag =
    observation.lagSeconds !== undefined || previous?.lagSecondsAtPromotion !== undefined
      ? { lagSecondsAtPromotion: previous?.mutated ? (previous.lagSecondsAtPromotion ?? null) : (observation.lagSeconds ?? null) }
      : {};

  if (start.mode === 'drill') {
    const wouldDo = observation.done ? `nothing: ${observation.detail}` : adapter.describeAction(resource, ctx);
    logger.info('drill: no mutating call made', { resource: resource.name, wouldDo });
    return { ...base, ...lag, done: true, phase: 'drill', detail: observation.detail, wouldDo, mutated: false, finishedAt: now.toISOString() };
  }
  if (observation.done) {
    return { ...base, ...lag, done: true, phase: observation.phase, detail: observation.detail, mutated: previous?.mutated ?? false, finishedAt: now.toISOString() };
  }
  const pending: ResourceStep = { ...base, ...lag, done: false, phase: observation.phase, detail: observation.detail, mutated: previous?.mutated ?? false };
  if (now.getTime() > Date.parse(base.deadline)) {
    throw options.deadlineError(`${resource.kind} ${resource.name} not done by ${base.deadline} (${observation.phase}: ${observation.detail})`, pending);
  }
  if (observation.inProgress || observation.waiting) {
    return { ...pending, ...(observation.ref ? { ref: observation.ref } : {}) };
  }
  const acted = await adapter.act(resource, ctx, observation);
  logger.info('mutating call made', { resource: resource.name, kind: resource.kind, detail: acted.detail });
  return { ...pending, phase: 'started', detail: acted.detail, mutated: true, ...(acted.ref ? { ref: acted.ref } : {}) };
}
