/**
 * The reconcile loop behind promote, scale and flip: each call observes the resource, returns
 * "done" when it is where the stage wants it, acts once when it is not (and nothing is under way),
 * and otherwise reports progress. The state machine calls it again after a Wait until it is done or
 * its deadline passes, which makes each call safe to repeat: a retried or duplicated invocation
 * observes first and never issues the mutating call twice for a change already under way.
 */
import type { Mode, ReconcileInput, ResourceStep } from './contract';
import type { FailoverError } from './errors';
import { logger } from './powertools';
import type { Plan } from './plan';
import { isoAfter, type StageContext } from './stage';

// ---- the ports every resource kind's adapter implements (functions/adapters/) ----

export interface AdapterContext {
  plan: Plan;
  mode: Mode;
  /** The previous step of this resource's reconcile loop, if any (carries the change id, the start time). */
  previous?: ResourceStep;
  /** The stage's clock. */
  now: Date;
  /** When the primary was fenced (promotion): a planned switchover trusts only lag data measured after it. */
  fencedAt?: Date;
  /** When the primary was first seen failing (promotion): an unplanned failover loses the replication gap at this time. */
  faultAt?: Date;
}

export interface Observation {
  /** The resource is where the stage wants it. */
  done: boolean;
  /** A change is under way (promotion running, DNS change PENDING, deployment rolling). Do not act again. */
  inProgress: boolean;
  /** Not done and not ready to act yet (a planned switchover waiting for the replica to catch up). */
  waiting?: boolean;
  phase: string;
  detail: string;
  /** An identifier of the change under way (Route 53 change id), carried between polls. */
  ref?: string;
  lagSeconds?: number | null;
  /** How `lagSeconds` was read, or why it is unknown: the mutating call's detail repeats it (the data-loss estimate). */
  lagDetail?: string;
}

export interface ActResult {
  detail: string;
  ref?: string;
}

/** A resource the stage drives to a target state by observe → act → poll. */
export interface ReconcileAdapter<R> {
  observe(resource: R, ctx: AdapterContext): Promise<Observation>;
  /** The one mutating call. Must be safe to call again (it is only called when observe says not done and not in progress). */
  act(resource: R, ctx: AdapterContext, observation: Observation): Promise<ActResult>;
  /** What `act` would do, for drills and approval messages. No call is made. */
  describeAction(resource: R, ctx: AdapterContext): string;
}

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
