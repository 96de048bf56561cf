/**
 * What a resource kind adds to the reconcile ports of functions/core/reconcile.ts (observe, act once,
 * describe for drills): a database kind also reports its replication and may fence its primary. Stages
 * are the runbook's layers and iterate over the plan's resources of their layer; adding a kind means
 * one new adapter file plus its schema in functions/core/plan.ts.
 */
import type { FenceRecheckStatus, FenceStepStatus, ReplicationObservation } from '../core/contract';
import { isTransient } from '../core/errors';
import type { Plan } from '../core/plan';
import type { ReconcileAdapter } from '../core/reconcile';

/** The budget a fence step (or a fence re-check) runs within. */
export interface FenceContext {
  /** Aborted when the stage's fence budget is spent: passed to every SDK call (`send(cmd, { abortSignal })`). */
  signal: AbortSignal;
  /** The budget, for messages ("no answer within 20 s"). */
  budgetSeconds: number;
  /** Pause between polls of the apply status; resolves early (rejects) when the budget is spent. */
  sleep: (ms: number) => Promise<void>;
}

/** Best-effort fencing of the primary region's writers, one resource. */
export interface FenceOutcome {
  status: FenceStepStatus;
  /** `status !== 'unconfirmed'`: kept for the state machine's Choice on the whole stage. */
  confirmed: boolean;
  action: string;
  detail: string;
}

/** After promotion: does the old primary refuse writes (same evidence as the fence)? */
export interface FenceRecheck {
  status: FenceRecheckStatus;
  detail: string;
}

export interface Fencer<R> {
  /** Stops writes in the primary region. Never throws for an unreachable region or a spent budget: reports unconfirmed. */
  fence(resource: R, plan: Plan, ctx: FenceContext): Promise<FenceOutcome>;
  describeFence(resource: R, plan: Plan): string;
  /** Reads the fence back after promotion (databases). Never throws: an unreachable region is `unreachable`. */
  recheck?(resource: R, plan: Plan, ctx: FenceContext): Promise<FenceRecheck>;
}

/** What a replication read is about: the gap at the fault (unplanned) rather than now. */
export interface ReplicationQuery {
  /** Read the replication gap at this time (the first failing signal); default: the newest datapoint. */
  faultAt?: Date;
}

/** Everything a database kind offers the stages (functions/adapters/index.ts registers one per kind). */
export interface DatabaseAdapter<R> {
  promote: ReconcileAdapter<R>;
  replication: (db: R, plan: Plan, now: Date, query?: ReplicationQuery) => Promise<ReplicationObservation>;
  fencer?: Fencer<R>;
}

/** An outcome helper: `confirmed` follows from `status`. */
export function fenceOutcome(status: FenceStepStatus, action: string, detail: string): FenceOutcome {
  return { status, confirmed: status !== 'unconfirmed', action, detail };
}

/** What the stage records for a step that did not finish within the fence budget. */
export function budgetSpent(budgetSeconds: number, doing: string): string {
  return `no answer within ${budgetSeconds} s (fence budget) while ${doing}`;
}

/** The message for a call that failed or was cut off by the budget. */
export function failure(error: unknown, ctx: FenceContext, doing: string): string {
  if (ctx.signal.aborted) return budgetSpent(ctx.budgetSeconds, doing);
  const e = error && typeof error === 'object' ? (error as { name?: string; message?: string }) : {};
  return `${doing} failed: ${e.name ?? 'Error'}: ${e.message ?? String(error)}`;
}

/** The recheck verdict when the evidence could not be read: a dead region is `unreachable` (recorded, not a failure). */
export function unreadable(error: unknown, ctx: FenceContext, doing: string): FenceRecheck {
  const why = failure(error, ctx, doing);
  return { status: 'unreachable', detail: ctx.signal.aborted || isTransient(error) ? why : `could not read the fence back: ${why}` };
}

/** A sleep that ends early with the signal's reason when the budget is spent, so polling never outlives it. */
export function abortableSleep(signal: AbortSignal, sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))) {
  return (ms: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      sleep(ms).then(
        () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
}

/** Why the fence budget aborted a call (the SDK rejects with the signal's reason). */
export class FenceBudgetSpent extends Error {
  override readonly name = 'FenceBudgetSpent';
}

/** How long the fence (or its re-check) may take: the plan's budget, less when the stage deadline is nearer. */
export function fenceBudgetMs(plan: Plan, deadlineAt?: number, marginMs = 1_000): number {
  const planned = plan.fence.timeoutSeconds * 1000;
  return deadlineAt === undefined ? planned : Math.max(0, Math.min(planned, deadlineAt - Date.now() - marginMs));
}

/**
 * Runs one fence call per item within one budget: every SDK call gets the budget's AbortSignal
 * (`send(cmd, { abortSignal })`), and an item not finished when the budget is spent gets
 * `onTimeout(item)` instead of its result, whether or not its call honoured the signal — so the
 * stage never waits past the budget. Calls still running are aborted when the budget ends.
 * Returns each item with its outcome, in the items' order.
 */
export async function withinFenceBudget<T, O>(
  items: T[],
  budgetMs: number,
  sleep: (ms: number) => Promise<void>,
  work: (item: T, ctx: FenceContext) => Promise<O>,
  onTimeout: (item: T, ctx: FenceContext) => O,
): Promise<Array<[T, O]>> {
  const controller = new AbortController();
  const budgetSeconds = Math.round(budgetMs / 100) / 10;
  const ctx: FenceContext = { signal: controller.signal, budgetSeconds, sleep: abortableSleep(controller.signal, sleep) };
  let timer: NodeJS.Timeout | undefined;
  const spent = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new FenceBudgetSpent(`fence budget of ${budgetSeconds} s spent`));
      resolve();
    }, budgetMs);
  });
  try {
    return await Promise.all(items.map(async (item): Promise<[T, O]> => [item, await Promise.race([work(item, ctx), spent.then(() => onTimeout(item, ctx))])]));
  } finally {
    clearTimeout(timer);
    if (!controller.signal.aborted) controller.abort(new FenceBudgetSpent('fence stage finished'));
  }
}
