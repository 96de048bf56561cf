/**
 * The shape every resource kind shares (like AWS ARC's execution blocks): observe the current state,
 * make the one mutating call (idempotent), and say what it would do in a drill. Stages are the
 * runbook's layers and iterate over the plan's resources of their layer; adding a kind means one new
 * adapter file plus its schema in functions/core/plan.ts.
 */
import type { Mode, ResourceStep } from '../core/contract';
import type { Plan } from '../core/plan';

export interface AdapterContext {
  plan: Plan;
  mode: Mode;
  /** The previous step of this resource's reconcile loop, if any (carries the change id, the start time). */
  previous?: ResourceStep;
  /** The stage's clock. */
  now: Date;
  /** When the primary was fenced (promotion): a planned switchover trusts only lag data measured after it. */
  fencedAt?: Date;
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

/** Best-effort fencing of the primary region's writers. */
export interface FenceOutcome {
  confirmed: boolean;
  action: string;
  detail: string;
}

export interface Fencer<R> {
  /** Stops writes in the primary region. Never throws for an unreachable region: reports unconfirmed. */
  fence(resource: R, plan: Plan): Promise<FenceOutcome>;
  describeFence(resource: R, plan: Plan): string;
}
