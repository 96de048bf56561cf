/**
 * The Slack interactivity endpoint (HTTP API, payload format 2.0): turns an Approve / Reject click
 * into SendTaskSuccess / SendTaskFailure for the waiting approval gate.
 *
 * This is the only handler that turns errors into HTTP responses. Its guard order is the security
 * contract, each step changing nothing when it refuses:
 *   1. the Slack signature over the raw body (401, and nothing else happens: no DynamoDB, no SFN);
 *   2. a well-formed `block_actions` payload with one of our two buttons (400);
 *   3. the approval exists (unknown → ephemeral reply);
 *   4. the clicking user is on the approval's approver list (403 + ephemeral);
 *   5. the approval is still pending (second click → ephemeral "already approved by …");
 *   6. it has not expired (late click → marked expired, message updated, no SFN call);
 *   7. a conditional claim (two simultaneous clicks: exactly one proceeds).
 * Only then is Step Functions called, and the message replaced with the decision.
 *
 * Slack wants an answer within 3 s, so the work is direct: one read, one claim, one SFN call, one
 * write, one reply through `response_url`.
 *
 * Environment (read once, at the first request): `APPROVALS_TABLE`, `SLACK_SIGNING_SECRET_PARAMETER`
 * (SSM SecureString name). No bot token is needed: every reply goes through the click's response_url.
 */
import { SendTaskFailureCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { z } from 'zod';
import { approvalsTable, claim, finish, get, release, type ApprovalItem } from './core/approvals-store';
import { sfn, ownRegion } from './core/clients';
import type { ApprovalDecision } from './core/contract';
import { ConfigurationError, SlackSignatureInvalidError, isTransient } from './core/errors';
import { logger, redact } from './core/powertools';
import { APPROVE_ACTION_ID, REJECT_ACTION_ID, decisionMessage, type Decision } from './slack/messages';
import { respond } from './slack/slack-api';
import { slackSigningSecret } from './slack/secrets';
import { verifySlackRequest } from './slack/verify-request';

/** SendTask* errors meaning the gate is no longer waiting for this token. */
const TOKEN_GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

const payloadSchema = z
  .object({
    type: z.literal('block_actions'),
    user: z.object({ id: z.string().min(1), username: z.string().optional(), name: z.string().optional() }).loose(),
    response_url: z.string().url(),
    actions: z
      .array(z.object({ action_id: z.enum([APPROVE_ACTION_ID, REJECT_ACTION_ID]), value: z.string().regex(/^[0-9a-f]{32}$/) }).loose())
      .min(1),
    message: z.object({ blocks: z.array(z.unknown()).optional() }).loose().optional(),
  })
  .loose();
type Payload = z.infer<typeof payloadSchema>;

interface CallbackConfig {
  signingSecretParameter: string;
}

let config: CallbackConfig | undefined;

/** Configuration, validated on the first request of a container; a missing setting names itself. */
function callbackConfig(): CallbackConfig {
  if (!config) {
    const signingSecretParameter = process.env.SLACK_SIGNING_SECRET_PARAMETER?.trim();
    if (!signingSecretParameter || !signingSecretParameter.startsWith('/')) {
      throw new ConfigurationError('SLACK_SIGNING_SECRET_PARAMETER is not set to an SSM parameter name (/…)');
    }
    approvalsTable(); // fails now, before any click is half-handled, when APPROVALS_TABLE is missing
    config = { signingSecretParameter };
  }
  return config;
}

type Result = APIGatewayProxyStructuredResultV2;
const reply = (statusCode: number): Result => ({ statusCode, headers: { 'Content-Type': 'text/plain' }, body: '' });

/** Builds the handler; the clock is injectable for tests. */
export function createSlackCallbackHandler(clock: () => number = Date.now): (event: APIGatewayProxyEventV2) => Promise<Result> {
  return async (event) => {
    logger.resetKeys();
    logger.appendKeys({ stage: 'slack-callback' });
    try {
      return await handle(event, clock);
    } catch (error) {
      const named = error instanceof Error ? { name: error.name, message: redact(error.message) } : { name: 'Error', message: 'unknown' };
      logger.error('slack callback failed', { error: named });
      return reply(500);
    }
  };
}

export const handler = createSlackCallbackHandler();

async function handle(event: APIGatewayProxyEventV2, clock: () => number): Promise<Result> {
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

  // 2. The payload: one of our two buttons.
  const payload = parsePayload(rawBody);
  if (!payload) {
    logger.warn('request refused: not an approval button click');
    return reply(400);
  }
  const action = payload.actions[0]!;
  const approvalId = action.value;
  const user = payload.user;
  const verdict = action.action_id === APPROVE_ACTION_ID ? 'approve' : 'reject';
  logger.appendKeys({ approvalId });
  const now = new Date(clock());

  // 3. The approval exists.
  const item = await get(approvalId);
  if (!item) {
    logger.warn('click on an unknown approval', { user: user.id, verdict });
    await tell(payload, 'This approval is unknown (it may belong to another deployment); nothing was changed.');
    return reply(200);
  }
  logger.appendKeys({ executionId: item.executionId });

  // 4. The user may decide.
  if (!item.approvers.includes(user.id)) {
    logger.warn('click by a user not on the approver list', { user: user.id, verdict, gate: item.gate });
    await tell(payload, `You are not on the approver list for this failover (${item.approvers.map((u) => `<@${u}>`).join(', ')}); nothing was changed.`);
    return reply(403);
  }

  // 5. Still undecided (a second click changes nothing).
  if (item.status !== 'pending') {
    logger.info('click on an approval that is not pending', { user: user.id, verdict, status: item.status });
    await tell(payload, alreadyText(item));
    return reply(200);
  }

  // 6. Not expired (a late click expires it; the gate's own timeout already decided).
  if (now.getTime() > Date.parse(item.expiresAt)) {
    logger.info('late click: approval expired', { user: user.id, verdict, expiresAt: item.expiresAt });
    await finish(approvalId, 'expired', undefined, now, 'pending');
    await replaceMessage(payload, item, expired(item));
    return reply(200);
  }

  // 7. Claim it: exactly one of two simultaneous clicks proceeds.
  const claimed = await claim(approvalId, user.id, now);
  if (!claimed.claimed) {
    logger.info('claim lost to another click', { user: user.id, verdict, status: claimed.current?.status });
    await tell(payload, claimed.current ? alreadyText(claimed.current) : 'This approval is no longer available; nothing was changed.');
    return reply(200);
  }
  const token = claimed.item.taskToken;
  const decidedAt = now.toISOString();

  try {
    if (verdict === 'approve') {
      const output: ApprovalDecision = { approved: true, decidedBy: user.id, decidedAt, via: 'slack' };
      await sfn(ownRegion()).send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output) }));
    } else {
      await sfn(ownRegion()).send(
        new SendTaskFailureCommand({ taskToken: token, error: 'ApprovalRejected', cause: `Rejected in Slack by ${user.id} (${user.username ?? user.name ?? 'unknown'})` }),
      );
    }
  } catch (error) {
    const name = error instanceof Error ? error.name : 'Error';
    if (TOKEN_GONE.has(name)) {
      logger.info('the gate is no longer waiting: approval expired', { user: user.id, verdict, sfnError: name });
      await finish(approvalId, 'expired', undefined, now, 'deciding');
      await replaceMessage(payload, item, expired(item));
      return reply(200);
    }
    logger.error('Step Functions did not take the decision; claim released', {
      user: user.id,
      verdict,
      transient: isTransient(error),
      error: { name, message: error instanceof Error ? redact(error.message) : 'unknown' },
    });
    await release(approvalId);
    await tell(payload, 'Your decision could not be delivered to the failover (Step Functions error). Nothing was decided: please click again.');
    return reply(500);
  }

  const outcome = verdict === 'approve' ? 'approved' : 'rejected';
  if (!(await finish(approvalId, outcome, user.id, now, 'deciding'))) {
    logger.warn('approval changed while deciding; the decision was delivered', { outcome });
  }
  logger.info(`approval ${outcome}`, { user: user.id, gate: item.gate });
  await replaceMessage(payload, item, { outcome, by: user.id, at: decidedAt });
  return reply(200);
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
  const at = item.decidedAt ? ` at ${item.decidedAt}` : '';
  switch (item.status) {
    case 'deciding':
      return `This approval is being decided${by} right now; nothing was changed.`;
    case 'expired':
      return 'This approval already expired; nothing was changed.';
    default:
      return `This approval was already ${item.status}${by}${at}; nothing was changed.`;
  }
}

/** Ephemeral reply to the clicking user only. A Slack failure here must not turn a handled click into an error. */
async function tell(payload: Payload, text: string): Promise<void> {
  try {
    await respond(payload.response_url, { text, replace_original: false, response_type: 'ephemeral' });
  } catch (error) {
    logger.warn('ephemeral reply failed', { error: describe(error) });
  }
}

/** Replaces the request message (buttons removed) with the outcome. */
async function replaceMessage(payload: Payload, item: ApprovalItem, decision: Decision): Promise<void> {
  const message = decisionMessage({ summary: item.summary ?? 'Failover approval', decision, originalBlocks: payload.message?.blocks });
  try {
    await respond(payload.response_url, { ...message, replace_original: true });
  } catch (error) {
    logger.warn('could not update the approval message', { error: describe(error) });
  }
}

function describe(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name, message: redact(error.message) };
  return { name: 'Error', message: 'unknown' };
}
