/**
 * Named errors: the contract between the stage Lambdas and the state machines.
 *
 * Each class sets `this.name` to a string literal, because that literal is what a state machine's
 * `ErrorEquals` matches and it must survive minification. Stage Lambdas throw these; they never
 * catch an error and return it as a status field. Only the HTTP-facing Slack endpoint turns errors
 * into responses.
 */

/** Base class: keeps the cause, so the log line and the Step Functions `Cause` say what went wrong. */
export abstract class FailoverError extends Error {
  abstract override readonly name: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The execution input (manual start, alarm event, schedule) is not one the orchestrator accepts. */
export class InvalidInputError extends FailoverError {
  override readonly name = 'InvalidInput';
}

/** The plan (config/<stage>.yml, carried in the execution input) is invalid. */
export class InvalidPlanError extends FailoverError {
  override readonly name = 'InvalidPlan';
}

/** A plan resource could not be found or is not in a state the runbook can work with. */
export class ResourceStateError extends FailoverError {
  override readonly name = 'ResourceStateError';
}

/** An AWS API call failed in a way that a retry may fix (throttling, 5xx, network). */
export class TransientAwsError extends FailoverError {
  override readonly name = 'TransientAwsError';
}

/** Fencing was required to be confirmed (planned switchover, or policy `abort`) and was not. */
export class FenceUnconfirmedError extends FailoverError {
  override readonly name = 'FenceUnconfirmed';
}

/** A planned switchover was asked for while it cannot be done without losing data (replication broken). */
export class SwitchoverUnsafeError extends FailoverError {
  override readonly name = 'SwitchoverUnsafe';
}

/** A promotion did not finish before the plan's promotion deadline. */
export class PromotionDeadlineExceededError extends FailoverError {
  override readonly name = 'PromotionDeadlineExceeded';
}

/** A planned switchover's replica did not catch up (zero data loss) before its deadline. */
export class ReplicaCatchUpDeadlineExceededError extends FailoverError {
  override readonly name = 'ReplicaCatchUpDeadlineExceeded';
}

/** DNS changes were not INSYNC before the traffic deadline. */
export class TrafficFlipDeadlineExceededError extends FailoverError {
  override readonly name = 'TrafficFlipDeadlineExceeded';
}

/** ECS services did not reach a steady state at failover capacity before the scale deadline. */
export class ScaleDeadlineExceededError extends FailoverError {
  override readonly name = 'ScaleDeadlineExceeded';
}

/** One or more smoke tests did not pass. The message lists each failing check. */
export class SmokeTestFailedError extends FailoverError {
  override readonly name = 'SmokeTestFailed';
}

/** A human rejected the failover in Slack (sent by the callback with SendTaskFailure). */
export class ApprovalRejectedError extends FailoverError {
  override readonly name = 'ApprovalRejected';
}

/** Slack (or another notification target) refused a message. */
export class NotificationFailedError extends FailoverError {
  override readonly name = 'NotificationFailed';
}

/** A setting the Lambda needs at cold start is missing or malformed. */
export class ConfigurationError extends FailoverError {
  override readonly name = 'ConfigurationError';
}

/** A request to the Slack endpoint is not signed by Slack (missing header, stale timestamp, bad signature). */
export class SlackSignatureInvalidError extends FailoverError {
  override readonly name = 'SlackSignatureInvalid';
}

/** Slack could not be reached or answered 429 / 5xx / a transient error code: a retry may fix it. */
export class SlackUnavailableError extends FailoverError {
  override readonly name = 'SlackUnavailable';
}

/**
 * A stage ran out of its own time budget (the Lambda's remaining time less a margin) before it
 * finished, typically because an endpoint hung. Thrown so Step Functions sees a named, catchable
 * error instead of the Lambda being killed (`Lambda.Unknown` / `States.Timeout`).
 */
export class StageDeadlineExceededError extends FailoverError {
  override readonly name = 'StageDeadlineExceeded';
}

/** Another run took this plan's single-flight lease over (a more urgent incident) before this one mutated anything. */
export class LeaseLostError extends FailoverError {
  override readonly name = 'LeaseLost';
}

/** A failover finished recently: no new failover starts before the plan's cool-down ends. */
export class CooldownActiveError extends FailoverError {
  override readonly name = 'CooldownActive';
}

/** After promotion, the old primary was reachable and still accepts writes: split-brain risk. */
export class OldPrimaryWritableError extends FailoverError {
  override readonly name = 'OldPrimaryWritable';
}

/** A drill (readiness check) found the plan not ready to fail over: each reason is in the message. */
export class DrillNotReadyError extends FailoverError {
  override readonly name = 'DrillNotReady';
}

/** Error names used in the state machines' ErrorEquals; a test checks they exist here. */
export const ERROR_NAMES = [
  'InvalidInput',
  'InvalidPlan',
  'ResourceStateError',
  'TransientAwsError',
  'FenceUnconfirmed',
  'SwitchoverUnsafe',
  'PromotionDeadlineExceeded',
  'ReplicaCatchUpDeadlineExceeded',
  'TrafficFlipDeadlineExceeded',
  'ScaleDeadlineExceeded',
  'SmokeTestFailed',
  'ApprovalRejected',
  'NotificationFailed',
  'ConfigurationError',
  'SlackSignatureInvalid',
  'SlackUnavailable',
  'StageDeadlineExceeded',
  'LeaseLost',
  'CooldownActive',
  'OldPrimaryWritable',
  'DrillNotReady',
] as const;

/** SDK exception names that mean "try again later", not "this will never work". */
const TRANSIENT_SDK_ERRORS = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'PriorRequestNotComplete',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalFailure',
  'InternalServerError',
  'InternalError',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'AbortError',
]);

/**
 * True when an SDK (or network) error is worth retrying. Duck-typed rather than `instanceof Error`:
 * errors raised by Node's network stack may come from another realm (a test sandbox, a worker).
 */
export function isTransient(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown; cause?: unknown };
  if ((e.name && TRANSIENT_SDK_ERRORS.has(e.name)) || (e.code !== undefined && TRANSIENT_SDK_ERRORS.has(e.code))) return true;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return true;
  return e.cause !== undefined && e.cause !== error && isTransient(e.cause);
}

/**
 * Wraps an AWS SDK failure into a named error: transient failures become `TransientAwsError`
 * (the state machines retry them with backoff), anything else `ResourceStateError`.
 */
export function toNamedAwsError(error: unknown, what: string): FailoverError {
  if (error instanceof FailoverError) return error;
  const e = error && typeof error === 'object' ? (error as { name?: string; message?: string }) : undefined;
  const name = e?.name ?? 'UnknownError';
  const message = e?.message ?? String(error);
  const text = `${what}: ${name}: ${message}`;
  return isTransient(error) ? new TransientAwsError(text, { cause: error }) : new ResourceStateError(text, { cause: error });
}

/** Calls the SDK and names its failure (see {@link toNamedAwsError}). */
export async function awsCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toNamedAwsError(error, what);
  }
}
