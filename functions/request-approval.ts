/**
 * RequestApproval: the Lambda behind a `.waitForTaskToken` approval gate
 * (`arn:aws:states:::lambda:invoke.waitForTaskToken`).
 *
 * It stores the gate's task token under a short approval id (DynamoDB), then posts the approval
 * request to the plan's Slack channel with Approve / Reject buttons carrying that id. Its return value
 * is only bookkeeping; the gate's real result is what the Slack callback sends with
 * SendTaskSuccess / SendTaskFailure, or the Task's TimeoutSeconds when nobody answers.
 *
 * The approval id is derived from the execution and the gate, so a Lambda retry (which Step Functions
 * runs with a NEW task token) refreshes the same approval and edits the same Slack message instead of
 * posting a second one that could be clicked with a dead token.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { putPending, setMessageTs, type ApprovalGate } from './slack/approvals-store';
import { NotificationFailedError } from './core/errors';
import { logger } from './core/powertools';
import { stageHandler, stateParts, isoAfter, type StageContext } from './core/stage';
import { approvalRequestMessage, approvalTitle } from './slack/messages';
import { postMessage, updateMessage } from './slack/slack-api';
import { slackBotToken } from './slack/secrets';

export const requestApprovalInputSchema = z.object({
  /** `$$.Task.Token`: up to 2,048 characters, never logged. */
  taskToken: z.string().min(1).max(2048),
  gate: z.enum(['failover', 'unfenced-promotion']),
  plan: stateParts.plan,
  start: stateParts.start,
  detection: stateParts.detection,
  fence: stateParts.fence.optional(),
  /** What the state machine does on the gate's timeout, when it differs from `detection.onApprovalTimeout`. */
  onTimeout: z.enum(['abort', 'proceed']).optional(),
});
export type RequestApprovalInput = z.infer<typeof requestApprovalInputSchema>;

export interface RequestApprovalResult {
  approvalId: string;
  channel: string;
  messageTs: string;
}

/** Slack errors of chat.update that mean "that message is gone": post a fresh one instead. */
const MESSAGE_GONE = /: (message_not_found|cant_update_message|channel_not_found|is_archived)$/;

/** Deterministic approval id: the first 32 hex characters of sha256(`executionId:gate`). */
export function approvalIdFor(executionId: string, gate: ApprovalGate): string {
  return createHash('sha256').update(`${executionId}:${gate}`).digest('hex').slice(0, 32);
}

/** Stores the task token, then posts (or, on a retry, updates) the Slack approval request. */
export async function requestApproval(input: RequestApprovalInput, ctx: StageContext): Promise<RequestApprovalResult> {
  const { gate, plan, start, detection } = input;
  const approvalId = approvalIdFor(start.executionId, gate);
  logger.appendKeys({ approvalId });
  const now = ctx.now();
  const onTimeout = input.onTimeout ?? (gate === 'unfenced-promotion' ? 'abort' : detection.onApprovalTimeout);

  const stored = await putPending({
    approvalId,
    taskToken: input.taskToken,
    executionId: start.executionId,
    gate,
    approvers: plan.approval.approvers,
    channel: plan.slack.channel,
    createdAt: now.toISOString(),
    expiresAt: isoAfter(now, plan.approval.timeoutSeconds),
    summary: approvalTitle(plan),
    onTimeout,
    timeoutSeconds: plan.approval.timeoutSeconds,
  });

  const token = await slackBotToken(plan.slack.botTokenParameter);
  const message = approvalRequestMessage({ approvalId, gate, plan, start, detection, fence: input.fence, onTimeout });

  if (stored.messageTs) {
    try {
      const updated = await updateMessage(token, { channel: stored.channel || plan.slack.channel, ts: stored.messageTs, ...message });
      logger.info('approval request refreshed (retry)', { gate, channel: updated.channel, messageTs: updated.ts });
      return { approvalId, channel: updated.channel, messageTs: updated.ts };
    } catch (error) {
      if (!(error instanceof NotificationFailedError && MESSAGE_GONE.test(error.message))) throw error;
      logger.warn('approval message is gone; posting a new one', { gate, messageTs: stored.messageTs });
    }
  }

  const posted = await postMessage(token, { channel: plan.slack.channel, ...message });
  await setMessageTs(approvalId, posted.ts, posted.channel);
  logger.info('approval requested', { gate, channel: posted.channel, messageTs: posted.ts, expiresAt: stored.expiresAt });
  return { approvalId, channel: posted.channel, messageTs: posted.ts };
}

export const handler = stageHandler('request-approval', requestApprovalInputSchema, requestApproval);
