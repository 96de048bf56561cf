/**
 * The one wrapper every stage Lambda uses: validate the input (plan included), put the execution id
 * on every log line, time the stage into a metric, and let named errors through untouched so the
 * state machine's `ErrorEquals` sees them.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { FailoverError, InvalidInputError, InvalidPlanError, StageDeadlineExceededError } from './errors';
import { detectionResultSchema, failoverStateSchema, fenceResultSchema, resourceStepSchema, startResultSchema } from './contract';
import { formatIssues, planSchema } from './plan';
import { logger, metrics } from './powertools';

export interface StageContext {
  /** Wall clock, injectable for tests. */
  now: () => Date;
  /** Pause between probe attempts, injectable for tests. */
  sleep: (ms: number) => Promise<void>;
  /**
   * When this invocation must have finished (epoch ms): the Lambda's remaining time less
   * {@link DEADLINE_MARGIN_MS}. Absent outside Lambda (tests, scripts) unless a test sets it.
   */
  deadlineAt?: number;
}

/** Time kept between a stage's own deadline and the Lambda timeout, to log, publish metrics and return a named error. */
export const DEADLINE_MARGIN_MS = 3_000;

export const defaultContext: StageContext = { now: () => new Date(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };

/**
 * Builds a Lambda handler for one stage.
 *
 * @param stage   runbook name of the stage (`fence-us-writers`), used in logs and metrics
 * @param schema  zod schema of the stage input; a `plan` field is validated with the plan schema
 *                and reported as `InvalidPlan`, anything else as `InvalidInput`
 * @param run     the stage's domain function
 */
export function stageHandler<S extends z.ZodType, O>(
  stage: string,
  schema: S,
  run: (input: z.infer<S>, ctx: StageContext) => Promise<O>,
  ctx: StageContext = defaultContext,
): (event: unknown, context?: Partial<Context>) => Promise<O> {
  return async (event, context) => {
    const executionId = executionIdOf(event);
    logger.resetKeys();
    logger.appendKeys({ stage, executionId });
    if (context && 'functionName' in context) logger.addContext(context as Context);
    const started = Date.now();
    const remaining = typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : undefined;
    const deadlineAt = remaining !== undefined ? started + Math.max(0, remaining - DEADLINE_MARGIN_MS) : ctx.deadlineAt;
    try {
      const input = parseStageInput(schema, event);
      const result = await withDeadline(stage, deadlineAt, () => run(input, deadlineAt !== undefined ? { ...ctx, deadlineAt } : ctx));
      logger.info('stage finished', { durationMs: Date.now() - started });
      return result;
    } catch (error) {
      const named = error instanceof FailoverError ? error : undefined;
      logger.error('stage failed', { error: named ? { name: named.name, message: named.message } : error });
      metrics.addMetric('StageFailures', MetricUnit.Count, 1);
      throw error;
    } finally {
      metrics.addDimension('stage', stage);
      metrics.addMetric('StageDuration', MetricUnit.Milliseconds, Date.now() - started);
      metrics.publishStoredMetrics();
    }
  };
}

/**
 * Runs `work`, failing with `StageDeadlineExceeded` when `deadlineAt` passes first. The SDK clients'
 * own timeouts (functions/core/clients.ts) normally end a hanging call long before this; the deadline
 * is the guarantee that the Lambda never runs into its own timeout, which Step Functions can only
 * report as `Lambda.Unknown` / `States.Timeout`.
 */
export async function withDeadline<T>(stage: string, deadlineAt: number | undefined, work: () => Promise<T>): Promise<T> {
  if (deadlineAt === undefined) return work();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new StageDeadlineExceededError(`${stage} did not finish before its deadline ${new Date(deadlineAt).toISOString()} (a call hung?)`)),
      Math.max(0, deadlineAt - Date.now()),
    );
  });
  try {
    return await Promise.race([work(), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Validates a stage input: the plan with the plan schema (InvalidPlan), the rest with `schema` (InvalidInput). */
export function parseStageInput<S extends z.ZodType>(schema: S, event: unknown): z.infer<S> {
  const result = schema.safeParse(event);
  if (result.success) return result.data;
  // One parse: problems inside a plan that was given are the plan's (InvalidPlan), the rest the input's.
  const hasPlan = !!event && typeof event === 'object' && 'plan' in event;
  const planIssues = hasPlan ? result.error.issues.filter((issue) => issue.path[0] === 'plan') : [];
  if (planIssues.length > 0) throw new InvalidPlanError(`plan in the execution input is invalid: ${formatIssues(new z.ZodError(planIssues))}`);
  throw new InvalidInputError(`stage input is invalid: ${formatIssues(result.error)}`);
}

function executionIdOf(event: unknown): string | undefined {
  if (!event || typeof event !== 'object') return undefined;
  const e = event as { start?: { executionId?: unknown }; execution?: { id?: unknown } };
  const id = e.start?.executionId ?? e.execution?.id;
  return typeof id === 'string' ? id : undefined;
}

/** The parts of the state document a stage may read: the schemas of functions/core/contract.ts. */
export const stateParts = {
  plan: planSchema,
  start: startResultSchema,
  detection: detectionResultSchema,
  fence: fenceResultSchema,
  step: resourceStepSchema,
  state: failoverStateSchema,
};

/** Input of one iteration of a reconcile loop (promote / scale / flip): the resource, the plan, the start, the previous step. */
export function reconcileInputSchema<S extends z.ZodType>(resource: S) {
  return z.object({ resource, plan: stateParts.plan, start: stateParts.start, fencedAt: z.string().optional(), previous: stateParts.step.optional() });
}

/** ISO time, or the time `seconds` after `from`. */
export function isoAfter(from: Date, seconds: number): string {
  return new Date(from.getTime() + seconds * 1000).toISOString();
}
