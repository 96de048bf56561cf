/**
 * Deciding an approval gate: the one rule set shared by the Slack buttons (functions/slack-callback.ts)
 * and the operator CLI (`npm run failover -- approve|reject`, scripts/failover.ts), so a decision
 * that arrives while Slack is down follows exactly the rules of a click:
 *   1. the approval exists;
 *   2. the decider is on the approval's own approver list (stored from the plan when the gate opened);
 *   3. it is still pending (a second decision changes nothing);
 *   4. it has not expired (a late decision marks it expired; the gate's own timeout already decided);
 *   5. a conditional claim in the approvals table (two simultaneous deciders: exactly one proceeds);
 *   6. SendTaskSuccess / SendTaskFailure with the task token as claimed; a gate that is gone marks the
 *      approval expired, any other Step Functions failure releases the claim (decide again);
 *   7. the outcome is recorded with its audit (who, via what, why, and for the CLI: the operator's
 *      local user and host).
 * No I/O besides DynamoDB (functions/slack/approvals-store.ts) and the Step Functions client given;
 * no logging: each caller reports the result its own way (HTTP + Slack, or a terminal).
 */
import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { claim, finish, get, release, type ApprovalItem, type DecisionAudit, type DecisionVia } from './approvals-store';
import type { ApprovalDecision } from '../core/contract';

/**
 * SendTask* errors meaning the gate is no longer waiting for this token
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html#API_SendTaskSuccess_Errors).
 */
const TOKEN_GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

/** Where the operator CLI ran: the local account and host name, kept with the decision. */
export interface OperatorIdentity {
  user: string;
  host: string;
}

/**
 * The gate's output for a human approval. `ApprovalDecision` (functions/core/contract.ts) does not yet
 * list `via: 'cli'` nor `operator`; widened here until the contract does (see the H3 report).
 */
export type HumanApprovalOutput = Omit<ApprovalDecision, 'via'> & { via: DecisionVia; operator?: OperatorIdentity };

export interface DecisionRequest {
  approvalId: string;
  /** The Slack user id deciding: a click's user, or the CLI's `--as`. Must be on the approval's list. */
  decider: string;
  /** Slack's display name of the clicking user, for the rejection's cause. */
  deciderName?: string;
  verdict: 'approve' | 'reject';
  via: DecisionVia;
  now: Date;
  /** The reason given (the CLI requires one). */
  comment?: string;
  /** The CLI's operator (local user and host). */
  operator?: OperatorIdentity;
  /** Step Functions in the region of the state machine (the recovery region). */
  sfn: SFNClient;
}

export type DecisionResult =
  /** No approval with that id (another deployment's button, or a typo on the CLI). Nothing changed. */
  | { kind: 'unknown' }
  /** The decider is not on this approval's approver list. Nothing changed. */
  | { kind: 'not-an-approver'; item: ApprovalItem }
  /** Already decided, being decided, or expired. Nothing changed. */
  | { kind: 'not-pending'; item: ApprovalItem }
  /** Past `expiresAt`: marked expired, Step Functions not called. */
  | { kind: 'expired'; item: ApprovalItem }
  /** Another decider claimed it first. Nothing changed. */
  | { kind: 'claim-lost'; item: ApprovalItem; current: ApprovalItem | undefined }
  /** Step Functions says the gate no longer waits (timed out, or the execution ended): marked expired. */
  | { kind: 'gate-gone'; item: ApprovalItem; sfnError: string }
  /** Step Functions could not be told: the claim was released, nothing is decided, try again. */
  | { kind: 'not-delivered'; item: ApprovalItem; error: unknown }
  /** Delivered to the gate. `recorded` is false when the item moved on meanwhile (the decision still stands). */
  | { kind: 'decided'; item: ApprovalItem; outcome: 'approved' | 'rejected'; decidedAt: string; recorded: boolean; output?: HumanApprovalOutput; cause?: string };

/** Applies one human decision to an approval gate (see the rules at the top of this file). */
export async function decideApproval(request: DecisionRequest): Promise<DecisionResult> {
  const { approvalId, decider, now } = request;
  const item = await get(approvalId);
  if (!item) return { kind: 'unknown' };
  if (!item.approvers.includes(decider)) return { kind: 'not-an-approver', item };
  if (item.status !== 'pending') return { kind: 'not-pending', item };
  if (now.getTime() > Date.parse(item.expiresAt)) {
    await finish(approvalId, 'expired', undefined, now, 'pending');
    return { kind: 'expired', item };
  }

  const claimed = await claim(approvalId, decider, now);
  if (!claimed.claimed) return { kind: 'claim-lost', item, current: claimed.current };

  const decidedAt = now.toISOString();
  const output = request.verdict === 'approve' ? approvalOutput(request, decidedAt) : undefined;
  const cause = request.verdict === 'reject' ? rejectionCause(request) : undefined;
  try {
    if (output) {
      await request.sfn.send(new SendTaskSuccessCommand({ taskToken: claimed.item.taskToken, output: JSON.stringify(output) }));
    } else {
      await request.sfn.send(new SendTaskFailureCommand({ taskToken: claimed.item.taskToken, error: 'ApprovalRejected', cause }));
    }
  } catch (error) {
    const name = error instanceof Error ? error.name : 'Error';
    if (TOKEN_GONE.has(name)) {
      await finish(approvalId, 'expired', undefined, now, 'deciding');
      return { kind: 'gate-gone', item, sfnError: name };
    }
    await release(approvalId);
    return { kind: 'not-delivered', item, error };
  }

  const outcome = request.verdict === 'approve' ? 'approved' : 'rejected';
  const recorded = await finish(approvalId, outcome, decider, now, 'deciding', audit(request));
  return { kind: 'decided', item, outcome, decidedAt, recorded, ...(output ? { output } : {}), ...(cause ? { cause } : {}) };
}

/**
 * The SendTaskSuccess output. A Slack click keeps its historical shape exactly
 * (`{approved, decidedBy, decidedAt, via}`); the CLI adds the reason and the operator.
 */
function approvalOutput(request: DecisionRequest, decidedAt: string): HumanApprovalOutput {
  return {
    approved: true,
    decidedBy: request.decider,
    decidedAt,
    via: request.via,
    ...(request.comment ? { comment: request.comment } : {}),
    ...(request.operator ? { operator: request.operator } : {}),
  };
}

/** The SendTaskFailure cause: who rejected, through what, and (CLI) from where and why. */
function rejectionCause(request: DecisionRequest): string {
  if (request.via === 'slack') {
    return `Rejected in Slack by ${request.decider} (${request.deciderName ?? 'unknown'})${request.comment ? `: ${request.comment}` : ''}`;
  }
  const where = request.operator ? ` (operator ${request.operator.user}@${request.operator.host})` : '';
  return `Rejected with the operator CLI by ${request.decider}${where}${request.comment ? `: ${request.comment}` : ''}`;
}

function audit(request: DecisionRequest): DecisionAudit {
  return {
    via: request.via,
    ...(request.comment ? { comment: request.comment } : {}),
    ...(request.operator ? { operatorUser: request.operator.user, operatorHost: request.operator.host } : {}),
  };
}
