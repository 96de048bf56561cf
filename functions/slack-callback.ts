/**
 * The Slack interactivity endpoint (HTTP API, payload format 2.0): turns an Approve / Reject click
 * into SendTaskSuccess / SendTaskFailure for the waiting approval gate.
 *
 * This is the only handler that turns errors into HTTP responses. Its guard order is the security
 * contract, each step changing nothing when it refuses:
 *   1. the Slack signature over the raw body (401, and nothing else happens: no DynamoDB, no SFN,
 *      no Lambda, no Slack);
 *   2. the body is what Slack sends, `application/x-www-form-urlencoded` (415 otherwise);
 *   3. a well-formed `block_actions` payload with one of our two buttons (400);
 *   4.–8. the decision rules shared with the operator CLI (functions/slack/decision.ts): the approval
 *      exists, the user is on its approver list (403), it is pending, not expired, and claimed
 *      conditionally; only then is Step Functions called.
 *
 * **Answer first, update afterwards.** Slack shows the user an error unless the request is
 * acknowledged with HTTP 200 within 3 seconds; anything slower goes through the click's
 * `response_url` (https://docs.slack.dev/interactivity/handling-user-interaction). A Lambda cannot
 * keep working after it has returned its HTTP answer, so, as Bolt's "lazy listeners" do on Lambda
 * (https://docs.slack.dev/tools/bolt-python/concepts/lazy-listeners: ack within 3 s, then the slow
 * part in an asynchronous self-invocation), this handler:
 *   - does only the fast, same-region work before answering: SSM (cached), one DynamoDB read, one
 *     conditional claim, one Step Functions call, one DynamoDB write;
 *   - hands every Slack message change (the decision replacing the buttons, "expired", and the
 *     ephemeral "not on the list" / "already approved by …" notes) to an asynchronous invocation of
 *     itself: Lambda `Invoke` with `InvocationType: 'Event'` on `AWS_LAMBDA_FUNCTION_NAME`
 *     (https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html: queued, answered 202 at once,
 *     payload up to 1 MB), bounded so that even a slow Lambda API cannot hold the answer;
 *   - then returns. A `response_url` that hangs can no longer delay the answer, nor the decision.
 * The same handler recognises the self-invocation by its shape (`kind` = UPDATE_TASK_KIND and no
 * API Gateway fields) and only then talks to Slack. API Gateway always wraps an HTTP request in its
 * own event, so a caller on the internet cannot produce that shape; only a principal allowed
 * `lambda:InvokeFunction` on this function can.
 *
 * The `response_url` is a credential (anyone holding it can post into the channel for 30 minutes):
 * it travels only inside the Invoke payload and is never logged.
 *
 * Environment (read once, at the first request): `APPROVALS_TABLE`, `SLACK_SIGNING_SECRET_PARAMETER`
 * (SSM SecureString name); `AWS_LAMBDA_FUNCTION_NAME` (set by Lambda) at each hand-off. No bot token
 * is needed: every reply goes through the click's response_url.
 */
import { InvokeCommand } from '@aws-sdk/client-lambda';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { z } from 'zod';
import { approvalsTable, type ApprovalItem } from './slack/approvals-store';
import { lambda, sfn, ownRegion } from './core/clients';
import { ConfigurationError, SlackSignatureInvalidError, SlackUnavailableError, isTransient } from './core/errors';
import { logger, redact } from './core/powertools';
import { decideApproval, type DecisionResult } from './slack/decision';
import { APPROVE_ACTION_ID, REJECT_ACTION_ID, decisionMessage, type Decision } from './slack/messages';
import { respond, type ResponseUrlMessage } from './slack/slack-api';
import { slackSigningSecret } from './slack/secrets';
import { header, verifySlackRequest } from './slack/verify-request';

/** Marks the asynchronous self-invocation that carries a Slack message update. */
export const UPDATE_TASK_KIND = 'failover-orchestrator/slack-callback/message-update';

/**
 * How long the hand-off may take before the click is answered anyway. The Lambda API answers an
 * `Event` invocation at once (it only queues it); a hand-off slower than this is abandoned and
 * logged, the decision itself having been delivered already. Keeps the answer inside Slack's 3 s.
 */
export const HANDOFF_BUDGET_MS = 1_000;

/** Asynchronous invocation payload limit (1 MB, Invoke API reference), with room for the envelope. */
const MAX_TASK_BYTES = 900_000;

/** The one media type Slack uses for interactivity requests (Handling user interaction, "payload" parameter). */
const SLACK_MEDIA_TYPE = 'application/x-www-form-urlencoded';

const payloadSchema = z
  .object({
    type: z.literal('block_actions'),
    user: z.object({ id: z.string().min(1), username: z.string().optional(), name: z.string().optional() }).loose(),
    response_url: z.string().url(),
    actions: z.array(z.object({ action_id: z.enum([APPROVE_ACTION_ID, REJECT_ACTION_ID]), value: z.string().regex(/^[0-9a-f]{32}$/) }).loose()).min(1),
    message: z
      .object({ blocks: z.array(z.unknown()).optional() })
      .loose()
      .optional(),
  })
  .loose();
type Payload = z.infer<typeof payloadSchema>;

const updateTaskSchema = z
  .object({
    kind: z.literal(UPDATE_TASK_KIND),
    /** What the update says, for the log (never the URL). */
    what: z.string().min(1).max(40),
    approvalId: z.string().max(64).optional(),
    executionId: z.string().max(2048).optional(),
    responseUrl: z.string().url(),
    message: z
      .object({
        text: z.string(),
        blocks: z.array(z.record(z.string(), z.unknown())).optional(),
        replace_original: z.boolean(),
        response_type: z.enum(['ephemeral', 'in_channel']).optional(),
      })
      .strict(),
  })
  .strict();

/** The payload of the asynchronous self-invocation: one message to send through a click's response_url. */
export type SlackUpdateTask = z.infer<typeof updateTaskSchema>;

/** What the self-invocation reports (Lambda discards it for `Event` invocations; tests and the lab read it). */
export interface UpdateOutcome {
  updated: boolean;
}

type Result = APIGatewayProxyStructuredResultV2;

/** An HTTP click is answered with a status; the self-invocation with an UpdateOutcome. */
export interface SlackCallbackHandler {
  (event: APIGatewayProxyEventV2): Promise<Result>;
  (event: SlackUpdateTask): Promise<UpdateOutcome>;
  (event: unknown): Promise<Result | UpdateOutcome>;
}

interface CallbackConfig {
  signingSecretParameter: string;
}

let config: CallbackConfig | undefined;

/** Configuration, validated on the first request of a container; a missing setting names itself. */
function callbackConfig(): CallbackConfig {
  if (!config) {
    const signingSecretParameter = process.env.SLACK_SIGNING_SECRET_PARAMETER?.trim();
    if (!signingSecretParameter?.startsWith('/')) {
      throw new ConfigurationError('SLACK_SIGNING_SECRET_PARAMETER is not set to an SSM parameter name (/…)');
    }
    approvalsTable(); // fails now, before any click is half-handled, when APPROVALS_TABLE is missing
    config = { signingSecretParameter };
  }
  return config;
}

const reply = (statusCode: number): Result => ({ statusCode, headers: { 'Content-Type': 'text/plain' }, body: '' });

/** Builds the handler; the clock is injectable for tests. */
export function createSlackCallbackHandler(clock: () => number = Date.now): SlackCallbackHandler {
  return (async (event: unknown) => {
    logger.resetKeys();
    logger.appendKeys({ stage: 'slack-callback' });
    if (isUpdateTask(event)) return runUpdate(event);
    try {
      return await handleClick(event as APIGatewayProxyEventV2, clock);
    } catch (error) {
      logger.error('slack callback failed', { error: describe(error) });
      return reply(500);
    }
  }) as SlackCallbackHandler;
}

export const handler = createSlackCallbackHandler();

/** The self-invocation's shape: our marker, and none of the fields API Gateway puts on every event. */
function isUpdateTask(event: unknown): boolean {
  if (!event || typeof event !== 'object') return false;
  return (event as { kind?: unknown }).kind === UPDATE_TASK_KIND && !('requestContext' in event) && !('routeKey' in event);
}

async function handleClick(event: APIGatewayProxyEventV2, clock: () => number): Promise<Result> {
  const { signingSecretParameter } = callbackConfig();
  const rawBody = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');

  // 1. Signature. Nothing else happens for an unsigned request.
  const signingSecret = await slackSigningSecret(signingSecretParameter);
  try {
    verifySlackRequest({ rawBody, headers: event.headers ?? {}, signingSecret, now: clock });
  } catch (error) {
    if (error instanceof SlackSignatureInvalidError) {
      logger.warn('request refused: Slack signature invalid', { reason: error.message, sourceIp: event.requestContext?.http?.sourceIp });
      return reply(401);
    }
    throw error;
  }

  // 2. Media type, checked after the signature so that an unsigned caller learns nothing, not even
  //    what we accept (the signature covers the raw bytes whatever their type, nothing is parsed before it).
  if (!isSlackMediaType(header(event.headers ?? {}, 'content-type'))) {
    logger.warn('request refused: not application/x-www-form-urlencoded', { contentType: redact(String(header(event.headers ?? {}, 'content-type') ?? 'none')).slice(0, 100) });
    return reply(415);
  }

  // 3. The payload: one of our two buttons.
  const payload = parsePayload(rawBody);
  if (!payload) {
    logger.warn('request refused: not an approval button click');
    return reply(400);
  }
  const [action] = payload.actions;
  if (!action) {
    logger.warn('request refused: a button click without an action');
    return reply(400);
  }
  const verdict = action.action_id === APPROVE_ACTION_ID ? 'approve' : 'reject';
  const user = payload.user;
  const deciderName = user.username ?? user.name;
  logger.appendKeys({ approvalId: action.value });

  // 4.–8. The decision (shared with the CLI): every call here is in this region and fast.
  const result = await decideApproval({
    approvalId: action.value,
    decider: user.id,
    ...(deciderName ? { deciderName } : {}),
    verdict,
    via: 'slack',
    now: new Date(clock()),
    sfn: sfn(ownRegion()),
  });
  const answer = answerFor(result, payload, { user: user.id, verdict });

  // Then the Slack message change, handed off: the answer does not wait for Slack.
  await handOff({
    kind: UPDATE_TASK_KIND,
    what: answer.what,
    approvalId: action.value,
    ...('item' in result && result.item.executionId ? { executionId: result.item.executionId } : {}),
    responseUrl: payload.response_url,
    message: answer.message,
  });
  return reply(answer.status);
}

interface Answer {
  status: number;
  /** A short name of the Slack update, for the logs. */
  what: string;
  message: ResponseUrlMessage;
}

/** Logs the outcome of a click and says what to answer and what to show in Slack. */
function answerFor(result: DecisionResult, payload: Payload, click: { user: string; verdict: 'approve' | 'reject' }): Answer {
  if ('item' in result) logger.appendKeys({ executionId: result.item.executionId });
  switch (result.kind) {
    case 'unknown':
      logger.warn('click on an unknown approval', click);
      return note(200, 'unknown-approval', 'This approval is unknown (it may belong to another deployment); nothing was changed.');
    case 'not-an-approver':
      // The list itself is not shown: it tells a stranger whom to impersonate or pressure.
      logger.warn('click by a user not on the approver list', { ...click, gate: result.item.gate });
      return note(403, 'not-an-approver', 'You are not on the approver list for this failover; nothing was changed.');
    case 'not-pending':
      logger.info('click on an approval that is not pending', { ...click, status: result.item.status });
      return note(200, 'not-pending', alreadyText(result.item));
    case 'expired':
      logger.info('late click: approval expired', { ...click, expiresAt: result.item.expiresAt });
      return { status: 200, what: 'expired', message: replacement(payload, result.item, expired(result.item)) };
    case 'claim-lost':
      logger.info('claim lost to another decision', { ...click, status: result.current?.status });
      return note(200, 'claim-lost', result.current ? alreadyText(result.current) : 'This approval is no longer available; nothing was changed.');
    case 'gate-gone':
      logger.info('the gate is no longer waiting: approval expired', { ...click, sfnError: result.sfnError });
      return { status: 200, what: 'expired', message: replacement(payload, result.item, expired(result.item)) };
    case 'not-delivered':
      logger.error('Step Functions did not take the decision; claim released', { ...click, transient: isTransient(result.error), error: describe(result.error) });
      return note(500, 'not-delivered', 'Your decision could not be delivered to the failover (Step Functions error). Nothing was decided: please click again.');
    case 'decided':
      if (!result.recorded) logger.warn('approval changed while deciding; the decision was delivered', { outcome: result.outcome });
      logger.info(`approval ${result.outcome}`, { user: click.user, gate: result.item.gate });
      return { status: 200, what: result.outcome, message: replacement(payload, result.item, { outcome: result.outcome, by: click.user, at: result.decidedAt }) };
  }
}

/** An ephemeral note to the clicking user only. */
function note(status: number, what: string, text: string): Answer {
  return { status, what, message: { text, replace_original: false, response_type: 'ephemeral' } };
}

/**
 * The request message (buttons removed) with the outcome. The original blocks come with the click;
 * if they would not fit an asynchronous invocation, the outcome is shown under the stored title alone.
 */
function replacement(payload: Payload, item: ApprovalItem, decision: Decision): ResponseUrlMessage {
  const summary = item.summary ?? 'Failover approval';
  const full: ResponseUrlMessage = { ...decisionMessage({ summary, decision, originalBlocks: payload.message?.blocks }), replace_original: true };
  if (Buffer.byteLength(JSON.stringify(full), 'utf8') + payload.response_url.length < MAX_TASK_BYTES) return full;
  return { ...decisionMessage({ summary, decision }), replace_original: true };
}

/**
 * Queues the Slack update as an asynchronous invocation of this function. Never throws: the
 * decision has been delivered whatever happens here, and Slack must get its answer.
 */
async function handOff(task: SlackUpdateTask): Promise<void> {
  const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME?.trim();
  if (!functionName) {
    logger.warn('AWS_LAMBDA_FUNCTION_NAME is not set: the Slack message update is skipped', { what: task.what });
    return;
  }
  try {
    await lambda(ownRegion()).send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(task), 'utf8') }), {
      abortSignal: AbortSignal.timeout(HANDOFF_BUDGET_MS),
    });
    logger.info('Slack message update handed off', { what: task.what });
  } catch (error) {
    logger.error('could not hand off the Slack message update; Slack is answered anyway', { what: task.what, error: describe(error) });
  }
}

/**
 * The self-invocation: sends one message through the click's response_url. A decision message that
 * Slack could not take for a transient reason is thrown, so Lambda retries the event (twice, with
 * backoff; the response_url stays valid 30 minutes); a failed ephemeral note is only logged, since a
 * retry could show it twice.
 */
async function runUpdate(event: unknown): Promise<UpdateOutcome> {
  const parsed = updateTaskSchema.safeParse(event);
  if (!parsed.success) {
    logger.warn('self-invocation with an unexpected payload; ignored', { issues: parsed.error.issues.map((i) => i.path.join('.')).slice(0, 10) });
    return { updated: false };
  }
  const task = parsed.data;
  logger.appendKeys({ ...(task.approvalId ? { approvalId: task.approvalId } : {}), ...(task.executionId ? { executionId: task.executionId } : {}) });
  try {
    await respond(task.responseUrl, task.message);
    logger.info('Slack message updated', { what: task.what });
    return { updated: true };
  } catch (error) {
    logger.warn('Slack message update failed', { what: task.what, error: describe(error) });
    // A fresh error: the original's cause may quote the response_url, and Lambda logs what a handler throws.
    if (task.message.replace_original && error instanceof SlackUnavailableError) throw new SlackUnavailableError('Slack did not take the message update; Lambda retries the event');
    return { updated: false };
  }
}

/** `application/x-www-form-urlencoded`, parameters (charset) allowed, case-insensitive (RFC 9110 §8.3.1). */
function isSlackMediaType(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';', 1)[0]?.trim().toLowerCase() === SLACK_MEDIA_TYPE;
}

function parsePayload(rawBody: string): Payload | undefined {
  const text = new URLSearchParams(rawBody).get('payload');
  if (!text) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = payloadSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

function expired(item: ApprovalItem): Decision {
  return {
    outcome: 'expired',
    ...(item.timeoutSeconds !== undefined ? { timeoutSeconds: item.timeoutSeconds } : {}),
    ...(item.onTimeout !== undefined ? { onTimeout: item.onTimeout } : {}),
  };
}

function alreadyText(item: ApprovalItem): string {
  const by = item.decidedBy ? ` by <@${item.decidedBy}>` : '';
  const via = item.decidedVia === 'cli' ? ' with the operator CLI' : '';
  const at = item.decidedAt ? ` at ${item.decidedAt}` : '';
  switch (item.status) {
    case 'deciding':
      return `This approval is being decided${by} right now; nothing was changed.`;
    case 'expired':
      return 'This approval already expired; nothing was changed.';
    default:
      return `This approval was already ${item.status}${by}${via}${at}; nothing was changed.`;
  }
}

function describe(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name, message: redact(error.message) };
  return { name: 'Error', message: 'unknown' };
}
