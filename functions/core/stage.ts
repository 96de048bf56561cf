/**
 * The one wrapper every stage Lambda uses, built on Powertools' own middy middlewares: the tracer's
 * `captureLambdaHandler` (a segment per invocation), the logger's `injectLambdaContext` (Lambda
 * context on every line, keys reset per invocation) and the metrics' `logMetrics` (stored metrics
 * flushed after the handler, on success and on error). On top of them, this module's own part:
 * validate the input (plan included), put the stage and execution id on every log line, give the
 * stage a deadline inside the Lambda's, time it into `StageDuration`, count `StageFailures`, and
 * let named errors through untouched so the state machine's `ErrorEquals` sees them.
 * (https://docs.powertools.aws.dev/lambda/typescript/latest/core/logger/#using-middy-middleware,
 * …/core/metrics/#using-middy-middleware, …/core/tracer/#using-middy-middleware)
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { FailoverError, InvalidInputError, InvalidPlanError, StageDeadlineExceededError } from './errors';
import { detectionResultSchema, failoverStateSchema, fenceResultSchema, resourceStepSchema, startResultSchema } from './contract';
import { formatIssues, planSchema } from './plan';
import { logger, metrics, tracer } from './powertools';

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
  const handler = async (event: unknown, context: Partial<Context>): Promise<O> => {
    const remaining = typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : undefined;
    const deadlineAt = remaining !== undefined ? Date.now() + Math.max(0, remaining - DEADLINE_MARGIN_MS) : ctx.deadlineAt;
    const input = parseStageInput(schema, event);
    return withDeadline(stage, deadlineAt, () => run(input, deadlineAt !== undefined ? { ...ctx, deadlineAt } : ctx));
  };
  // timeoutEarlyInMillis 0: middy's own early timeout would end the invocation with a plain Error('Timeout');
  // the stage's deadline (withDeadline, DEADLINE_MARGIN_MS before the Lambda's) ends it with StageDeadlineExceeded.
  const wrapped = middy(handler, { timeoutEarlyInMillis: 0 })
    .use(captureLambdaHandler(tracer))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    // Last: its `after` / `onError` run first (middy runs them in reverse), before logMetrics flushes.
    .use(stageMetrics(stage));
  return (event, context) => wrapped(event, (context ?? {}) as Context);
}

/** The stage and execution id on every log line; StageDuration always, StageFailures on error. */
function stageMetrics(stage: string): MiddlewareObj<unknown, unknown, Error, Context> {
  // Per request, not per handler: the lab and the state-machine tests run Map iterations of one handler concurrently.
  const startedAt = new WeakMap<object, number>();
  const keysOf = (event: unknown) => ({ stage, executionId: executionIdOf(event) });
  const record = (request: object) => {
    metrics.addDimension('stage', stage);
    metrics.addMetric('StageDuration', MetricUnit.Milliseconds, Date.now() - (startedAt.get(request) ?? Date.now()));
  };
  return {
    before: (request) => {
      startedAt.set(request, Date.now());
      logger.appendKeys(keysOf(request.event));
    },
    // The stage's own lines name the stage and execution explicitly: where one process runs several
    // invocations at once (the lab, the state-machine tests), another one's resetKeys may have cleared them.
    after: (request) => {
      logger.info('stage finished', { ...keysOf(request.event), durationMs: Date.now() - (startedAt.get(request) ?? Date.now()) });
      record(request);
    },
    onError: (request) => {
      const error = request.error;
      const named = error instanceof FailoverError ? error : undefined;
      logger.error('stage failed', { ...keysOf(request.event), error: named ? { name: named.name, message: named.message } : error });
      metrics.addMetric('StageFailures', MetricUnit.Count, 1);
      record(request);
    },
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
  // One parse: problems inside a plan that was given (at `plan`, or at `state.plan` for notify) are the
  // plan's (InvalidPlan), the rest the input's.
  const given = (path: PropertyKey[]) =>
    path.reduce<unknown>((at, key) => (at && typeof at === 'object' ? (at as Record<PropertyKey, unknown>)[key] : undefined), event) !== undefined;
  const planAt = (path: PropertyKey[]) => {
    const i = path.indexOf('plan');
    return (i === 0 || (i === 1 && path[0] === 'state')) && given(path.slice(0, i + 1));
  };
  const planIssues = result.error.issues.filter((issue) => planAt(issue.path));
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
