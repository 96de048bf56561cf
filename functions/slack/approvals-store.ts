/**
 * The approvals table: the one module that talks to DynamoDB.
 *
 * A `.waitForTaskToken` gate's token (up to 2,048 characters) is too long for a Slack button value
 * (2,000), so the button carries a short approval id and the token lives here. The item is also the
 * lock that makes a decision happen exactly once: a click *claims* it (pending → deciding, conditional),
 * only the claimer calls SendTaskSuccess/Failure, then *finishes* it (approved / rejected / expired) or
 * *releases* it (back to pending) when Step Functions could not be reached.
 *
 * Table: `APPROVALS_TABLE` (read at first use), hash key `approvalId` (S), in the Lambda's own region;
 * the operator CLI, which runs outside Lambda, names both with `configureApprovalsStore`.
 */
import { ConditionalCheckFailedException, GetItemCommand, UpdateItemCommand, type AttributeValue, type UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';
import { dynamodb, ownRegion } from '../core/clients';
import { ConfigurationError, ResourceStateError, awsCall, toNamedAwsError } from '../core/errors';

export type ApprovalGate = 'failover' | 'unfenced-promotion';
export type ApprovalStatus = 'pending' | 'deciding' | 'approved' | 'rejected' | 'expired';

export interface ApprovalItem {
  approvalId: string;
  /** The Step Functions task token of the waiting gate. Never logged. */
  taskToken: string;
  executionId: string;
  gate: ApprovalGate;
  /** Slack user ids allowed to decide. */
  approvers: string[];
  channel: string;
  /** The Slack message carrying the buttons, once posted. */
  messageTs?: string;
  status: ApprovalStatus;
  createdAt: string;
  expiresAt: string;
  decidedBy?: string;
  decidedAt?: string;
  /** The request's title, for the message that replaces it after a decision. */
  summary?: string;
  /** What the state machine does when nobody answers (shown when the approval expires). */
  onTimeout?: 'abort' | 'proceed';
  timeoutSeconds?: number;
  /** Audit of a decision (set when it is recorded): the channel, the decider's reason, and for the CLI who ran it where. */
  decidedVia?: DecisionVia;
  decisionComment?: string;
  operatorUser?: string;
  operatorHost?: string;
}

/** How a human decision reached the gate: a Slack button, or the operator CLI (`npm run failover -- approve|reject`). */
export type DecisionVia = 'slack' | 'cli';

/** Who decided and how, stored with the outcome so the table answers "who approved this, from where, and why". */
export interface DecisionAudit {
  via: DecisionVia;
  comment?: string;
  operatorUser?: string;
  operatorHost?: string;
}

/** What request-approval writes: everything except what a decision or Slack fills in later. */
export type PendingApproval = Omit<ApprovalItem, 'status' | 'messageTs' | 'decidedBy' | 'decidedAt'>;

export type ClaimResult = { claimed: true; item: ApprovalItem } | { claimed: false; current: ApprovalItem | undefined };

let tableName: string | undefined;
let regionOverride: string | undefined;

/**
 * Points the store at a table and region explicitly. The Lambdas never call this (they use
 * `APPROVALS_TABLE` and their own region); the operator CLI does, since it runs on a laptop where
 * neither is in the environment and the table lives in the plan's recovery region.
 */
export function configureApprovalsStore(settings: { tableName: string; region: string }): void {
  tableName = settings.tableName;
  regionOverride = settings.region;
}

/** `APPROVALS_TABLE`, read once; missing → ConfigurationError naming it. */
export function approvalsTable(): string {
  if (tableName === undefined) {
    const value = process.env.APPROVALS_TABLE?.trim();
    if (!value) throw new ConfigurationError('APPROVALS_TABLE is not set (the DynamoDB table of Slack approvals)');
    tableName = value;
  }
  return tableName;
}

const client = () => dynamodb(regionOverride ?? ownRegion());

/**
 * Stores (or refreshes) a pending approval with the gate's task token.
 *
 * A Lambda retry of request-approval gets a NEW task token for the same approval id, so a pending
 * item is overwritten, keeping `createdAt` and `messageTs` (the retry updates the same Slack
 * message). An item already claimed or decided is not touched: ResourceStateError.
 * Returns the stored item, `messageTs` included when a message was posted before.
 */
export async function putPending(item: PendingApproval): Promise<ApprovalItem> {
  const values: Record<string, AttributeValue> = {
    ':taskToken': { S: item.taskToken },
    ':executionId': { S: item.executionId },
    ':gate': { S: item.gate },
    ':approvers': { SS: [...new Set(item.approvers)] },
    ':channel': { S: item.channel },
    ':pending': { S: 'pending' },
    ':createdAt': { S: item.createdAt },
    ':expiresAt': { S: item.expiresAt },
  };
  const sets = [
    '#taskToken = :taskToken',
    '#executionId = :executionId',
    '#gate = :gate',
    '#approvers = :approvers',
    '#channel = :channel',
    '#status = :pending',
    '#createdAt = if_not_exists(#createdAt, :createdAt)',
    '#expiresAt = :expiresAt',
  ];
  const names: Record<string, string> = {
    '#approvalId': 'approvalId',
    '#taskToken': 'taskToken',
    '#executionId': 'executionId',
    '#gate': 'gate',
    '#approvers': 'approvers',
    '#channel': 'channel',
    '#status': 'status',
    '#createdAt': 'createdAt',
    '#expiresAt': 'expiresAt',
    '#decidedBy': 'decidedBy',
    '#decidedAt': 'decidedAt',
  };
  if (item.summary !== undefined) optional(sets, names, values, 'summary', { S: item.summary });
  if (item.onTimeout !== undefined) optional(sets, names, values, 'onTimeout', { S: item.onTimeout });
  if (item.timeoutSeconds !== undefined) optional(sets, names, values, 'timeoutSeconds', { N: String(item.timeoutSeconds) });

  const input: UpdateItemCommandInput = {
    TableName: approvalsTable(),
    Key: key(item.approvalId),
    UpdateExpression: `SET ${sets.join(', ')} REMOVE #decidedBy, #decidedAt`,
    ConditionExpression: 'attribute_not_exists(#approvalId) OR #status = :pending',
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    ReturnValues: 'ALL_NEW',
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
  try {
    const out = await client().send(new UpdateItemCommand(input));
    return fromItem(out.Attributes ?? {});
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      const current = error.Item ? fromItem(error.Item) : await get(item.approvalId);
      throw new ResourceStateError(`approval ${item.approvalId} is already ${current?.status ?? 'decided'}; a decided approval is not asked again`, { cause: error });
    }
    throw toNamedAwsError(error, `DynamoDB putPending ${item.approvalId}`);
  }
}

/** Remembers where the request message landed, so a retry updates it instead of posting another. */
export async function setMessageTs(approvalId: string, messageTs: string, channel?: string): Promise<void> {
  const names: Record<string, string> = { '#approvalId': 'approvalId', '#messageTs': 'messageTs' };
  const values: Record<string, AttributeValue> = { ':messageTs': { S: messageTs } };
  let set = '#messageTs = :messageTs';
  if (channel) {
    names['#channel'] = 'channel';
    values[':channel'] = { S: channel };
    set += ', #channel = :channel';
  }
  await awsCall(`DynamoDB setMessageTs ${approvalId}`, () =>
    client().send(
      new UpdateItemCommand({
        TableName: approvalsTable(),
        Key: key(approvalId),
        UpdateExpression: `SET ${set}`,
        ConditionExpression: 'attribute_exists(#approvalId)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    ),
  );
}

/** Reads an approval (strongly consistent: a click right after the request must see it). */
export async function get(approvalId: string): Promise<ApprovalItem | undefined> {
  const out = await awsCall(`DynamoDB get ${approvalId}`, () => client().send(new GetItemCommand({ TableName: approvalsTable(), Key: key(approvalId), ConsistentRead: true })));
  return out.Item ? fromItem(out.Item) : undefined;
}

/**
 * Claims a pending approval for one decider (pending → deciding). Exactly one of two simultaneous
 * clicks wins; the loser gets `{ claimed: false, current }` to tell its user who was first.
 * The claimed item carries the task token as it is *now* (a request-approval retry may have replaced it).
 */
export async function claim(approvalId: string, user: string, now: Date): Promise<ClaimResult> {
  try {
    const out = await client().send(
      new UpdateItemCommand({
        TableName: approvalsTable(),
        Key: key(approvalId),
        UpdateExpression: 'SET #status = :deciding, #decidedBy = :user, #decidedAt = :now',
        ConditionExpression: '#status = :pending',
        ExpressionAttributeNames: { '#status': 'status', '#decidedBy': 'decidedBy', '#decidedAt': 'decidedAt' },
        ExpressionAttributeValues: { ':deciding': { S: 'deciding' }, ':pending': { S: 'pending' }, ':user': { S: user }, ':now': { S: now.toISOString() } },
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { claimed: true, item: fromItem(out.Attributes ?? {}) };
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      return { claimed: false, current: error.Item ? fromItem(error.Item) : await get(approvalId) };
    }
    throw toNamedAwsError(error, `DynamoDB claim ${approvalId}`);
  }
}

/**
 * Records the outcome. `from` is the status the item must still have: `deciding` after a claim
 * (the default), `pending` when a late click expires an approval nobody claimed. `audit` (human
 * decisions) is stored with it: the channel, the reason given, and the operator's user and host.
 * Returns false when the item had moved on meanwhile (nothing is changed then).
 */
export async function finish(
  approvalId: string,
  status: 'approved' | 'rejected' | 'expired',
  user: string | undefined,
  now: Date,
  from: 'pending' | 'deciding' = 'deciding',
  audit?: DecisionAudit,
): Promise<boolean> {
  const names: Record<string, string> = { '#status': 'status', '#decidedAt': 'decidedAt', '#decidedBy': 'decidedBy' };
  const values: Record<string, AttributeValue> = { ':status': { S: status }, ':from': { S: from }, ':now': { S: now.toISOString() } };
  names['#taskToken'] = 'taskToken';
  const sets = ['#status = :status', '#decidedAt = :now'];
  if (audit) {
    optional(sets, names, values, 'decidedVia', { S: audit.via });
    if (audit.comment) optional(sets, names, values, 'decisionComment', { S: audit.comment });
    if (audit.operatorUser) optional(sets, names, values, 'operatorUser', { S: audit.operatorUser });
    if (audit.operatorHost) optional(sets, names, values, 'operatorHost', { S: audit.operatorHost });
  }
  let update = `SET ${sets.join(', ')}`;
  // The token is a credential for the waiting task: once decided, it is not kept.
  if (user) {
    values[':user'] = { S: user };
    update += ', #decidedBy = :user REMOVE #taskToken';
  } else {
    update += ' REMOVE #decidedBy, #taskToken';
  }
  try {
    await client().send(
      new UpdateItemCommand({
        TableName: approvalsTable(),
        Key: key(approvalId),
        UpdateExpression: update,
        ConditionExpression: '#status = :from',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw toNamedAwsError(error, `DynamoDB finish ${approvalId}`);
  }
}

/** Gives a claim back (deciding → pending) when Step Functions could not be told; the approver can click again. */
export async function release(approvalId: string): Promise<boolean> {
  try {
    await client().send(
      new UpdateItemCommand({
        TableName: approvalsTable(),
        Key: key(approvalId),
        UpdateExpression: 'SET #status = :pending REMOVE #decidedBy, #decidedAt',
        ConditionExpression: '#status = :deciding',
        ExpressionAttributeNames: { '#status': 'status', '#decidedBy': 'decidedBy', '#decidedAt': 'decidedAt' },
        ExpressionAttributeValues: { ':pending': { S: 'pending' }, ':deciding': { S: 'deciding' } },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw toNamedAwsError(error, `DynamoDB release ${approvalId}`);
  }
}

function key(approvalId: string): Record<string, AttributeValue> {
  return { approvalId: { S: approvalId } };
}

function optional(sets: string[], names: Record<string, string>, values: Record<string, AttributeValue>, attr: string, value: AttributeValue): void {
  names[`#${attr}`] = attr;
  values[`:${attr}`] = value;
  sets.push(`#${attr} = :${attr}`);
}

const STATUSES: readonly ApprovalStatus[] = ['pending', 'deciding', 'approved', 'rejected', 'expired'];

/** Explicit unmarshalling of the attributes this module writes. */
export function fromItem(item: Record<string, AttributeValue>): ApprovalItem {
  const s = (name: string): string | undefined => item[name]?.S;
  const status = s('status') as ApprovalStatus | undefined;
  // An item whose status we cannot read must never be treated as pending (that would allow a decision).
  if (!status || !STATUSES.includes(status)) throw new ResourceStateError(`approval ${s('approvalId') ?? '?'} has no valid status`);
  const approvers = item.approvers?.SS ?? item.approvers?.L?.map((v) => v.S).filter((v): v is string => typeof v === 'string') ?? [];
  const onTimeout = s('onTimeout');
  const timeoutSeconds = item.timeoutSeconds?.N !== undefined ? Number(item.timeoutSeconds.N) : undefined;
  const decidedVia = s('decidedVia');
  return {
    approvalId: s('approvalId') ?? '',
    taskToken: s('taskToken') ?? '',
    executionId: s('executionId') ?? '',
    gate: (s('gate') as ApprovalGate | undefined) ?? 'failover',
    approvers,
    channel: s('channel') ?? '',
    status,
    createdAt: s('createdAt') ?? '',
    expiresAt: s('expiresAt') ?? '',
    ...(s('messageTs') !== undefined ? { messageTs: s('messageTs') } : {}),
    ...(s('decidedBy') !== undefined ? { decidedBy: s('decidedBy') } : {}),
    ...(s('decidedAt') !== undefined ? { decidedAt: s('decidedAt') } : {}),
    ...(s('summary') !== undefined ? { summary: s('summary') } : {}),
    ...(onTimeout === 'abort' || onTimeout === 'proceed' ? { onTimeout } : {}),
    ...(timeoutSeconds !== undefined && Number.isFinite(timeoutSeconds) ? { timeoutSeconds } : {}),
    ...(decidedVia === 'slack' || decidedVia === 'cli' ? { decidedVia } : {}),
    ...(s('decisionComment') !== undefined ? { decisionComment: s('decisionComment') } : {}),
    ...(s('operatorUser') !== undefined ? { operatorUser: s('operatorUser') } : {}),
    ...(s('operatorHost') !== undefined ? { operatorHost: s('operatorHost') } : {}),
  };
}
