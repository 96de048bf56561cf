import { createHmac } from 'node:crypto';
import { ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, SFNServiceException, TaskTimedOut } from '@aws-sdk/client-sfn';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import type { ApprovalItem } from '../../functions/core/approvals-store';
import { createSlackCallbackHandler } from '../../functions/slack-callback';
import { approvalAttributes, approvalFixture } from '../helpers/fixtures';
import { captureLogs } from '../helpers/logs';

const ddb = mockClient(DynamoDBClient);
const sfn = mockClient(SFNClient);
const ssm = mockClient(SSMClient);

process.env.APPROVALS_TABLE = 'failover-approvals';
process.env.SLACK_SIGNING_SECRET_PARAMETER = '/failover/example/slack-signing-secret';

const SIGNING_SECRET = 'e3b0c44298fc1c149afbf4c8996fb924';
const NOW_MS = Date.parse('2025-03-04T10:05:00.000Z');
const NOW_ISO = new Date(NOW_MS).toISOString();
const RESPONSE_URL = 'https://hooks.slack.com/actions/T0123/456/abcdefSECRETPART';
const APPROVER = { id: 'U0123ABCDEF', username: 'alice' };
const item = approvalFixture();

const handler = createSlackCallbackHandler(() => NOW_MS);

const CLAIM = { ConditionExpression: '#status = :pending', UpdateExpression: 'SET #status = :deciding, #decidedBy = :user, #decidedAt = :now' };

function clickPayload(overrides: { actionId?: string; user?: { id: string; username?: string }; value?: string; type?: string } = {}) {
  return {
    type: overrides.type ?? 'block_actions',
    user: overrides.user ?? APPROVER,
    response_url: RESPONSE_URL,
    container: { type: 'message', message_ts: item.messageTs, channel_id: item.channel },
    message: {
      ts: item.messageTs,
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: item.summary } },
        { type: 'actions', block_id: 'approval_actions', elements: [] },
      ],
    },
    actions: [{ type: 'button', block_id: 'approval_actions', action_id: overrides.actionId ?? 'failover_approve', value: overrides.value ?? item.approvalId }],
  };
}

/** An HTTP API (payload 2.0) event as API Gateway delivers Slack's form post, signed with `secret`. */
function slackEvent(payload: unknown, { secret = SIGNING_SECRET, base64 = false } = {}): APIGatewayProxyEventV2 {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = String(Math.floor(NOW_MS / 1000));
  const signature = `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return {
    version: '2.0',
    routeKey: 'POST /slack/interactions',
    rawPath: '/slack/interactions',
    rawQueryString: '',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': timestamp, 'x-slack-signature': signature },
    requestContext: { http: { method: 'POST', path: '/slack/interactions', protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'Slackbot' } } as APIGatewayProxyEventV2['requestContext'],
    body: base64 ? Buffer.from(body, 'utf8').toString('base64') : body,
    isBase64Encoded: base64,
  };
}

function stored(overrides: Partial<ApprovalItem> = {}) {
  ddb.on(GetItemCommand).resolves({ Item: approvalAttributes({ ...item, ...overrides }) });
}

let fetchSpy: jest.SpiedFunction<typeof fetch>;

/** JSON bodies posted to the click's response_url. */
function responses(): any[] {
  return fetchSpy.mock.calls.filter(([url]) => url === RESPONSE_URL).map(([, init]) => JSON.parse(String(init!.body)));
}

beforeEach(() => {
  ddb.reset();
  sfn.reset();
  ssm.reset();
  ssm.on(GetParameterCommand, { Name: '/failover/example/slack-signing-secret' }).resolves({ Parameter: { Value: SIGNING_SECRET } });
  stored();
  ddb.on(UpdateItemCommand, CLAIM).resolves({ Attributes: approvalAttributes({ ...item, status: 'deciding', decidedBy: APPROVER.id, decidedAt: NOW_ISO }) });
  ddb.on(UpdateItemCommand, { ConditionExpression: '#status = :from' }).resolves({});
  ddb.on(UpdateItemCommand, { ConditionExpression: '#status = :deciding' }).resolves({});
  sfn.on(SendTaskSuccessCommand).resolves({});
  sfn.on(SendTaskFailureCommand).resolves({});
  fetchSpy = jest.spyOn(globalThis, 'fetch').mockImplementation(() => Promise.resolve(new Response('ok', { status: 200 })));
});

afterEach(() => {
  jest.restoreAllMocks();
});

describe('slack-callback: who may call', () => {
  it('answers 401 to a forged signature and touches nothing: no DynamoDB, no Step Functions, no Slack', async () => {
    const result = await handler(slackEvent(clickPayload(), { secret: 'forged-secret' }));

    expect(result).toMatchObject({ statusCode: 401, body: '' });
    expect(ddb.calls()).toHaveLength(0);
    expect(sfn.calls()).toHaveLength(0);
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('answers 401 to an unsigned request', async () => {
    const event = slackEvent(clickPayload());
    delete event.headers['x-slack-signature'];

    expect(await handler(event)).toMatchObject({ statusCode: 401 });
    expect(ddb.calls()).toHaveLength(0);
  });

  it('verifies the signature over the decoded body when API Gateway base64-encodes it', async () => {
    const result = await handler(slackEvent(clickPayload(), { base64: true }));

    expect(result.statusCode).toBe(200);
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
  });

  it('answers 400 to a signed payload that is not one of the approval buttons', async () => {
    const result = await handler(slackEvent(clickPayload({ actionId: 'something_else' })));

    expect(result.statusCode).toBe(400);
    expect(ddb.calls()).toHaveLength(0);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('answers 400 to a signed request that is not a block_actions interaction', async () => {
    expect((await handler(slackEvent(clickPayload({ type: 'view_submission' })))).statusCode).toBe(400);
  });

  it('answers 403 with an ephemeral note to a user not on the approver list, and calls no Step Functions', async () => {
    const result = await handler(slackEvent(clickPayload({ user: { id: 'U9999NOTLISTED', username: 'mallory' } })));

    expect(result.statusCode).toBe(403);
    expect(sfn.calls()).toHaveLength(0);
    expect(ddb).toHaveReceivedCommandTimes(UpdateItemCommand, 0);
    expect(responses()).toEqual([expect.objectContaining({ response_type: 'ephemeral', replace_original: false, text: expect.stringContaining('not on the approver list') })]);
  });

  it('tells the user an approval is unknown and changes nothing', async () => {
    ddb.on(GetItemCommand).resolves({});

    const result = await handler(slackEvent(clickPayload()));

    expect(result.statusCode).toBe(200);
    expect(ddb).toHaveReceivedCommandTimes(UpdateItemCommand, 0);
    expect(sfn.calls()).toHaveLength(0);
    expect(responses()).toEqual([expect.objectContaining({ response_type: 'ephemeral', text: expect.stringContaining('unknown') })]);
  });
});

describe('slack-callback: decisions', () => {
  it('approve sends SendTaskSuccess with the stored token and the decision as output', async () => {
    const result = await handler(slackEvent(clickPayload()));

    expect(result).toMatchObject({ statusCode: 200, body: '' });
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, {
      taskToken: item.taskToken,
      output: JSON.stringify({ approved: true, decidedBy: 'U0123ABCDEF', decidedAt: NOW_ISO, via: 'slack' }),
    });
  });

  it('claims the approval before calling Step Functions and records it approved afterwards', async () => {
    await handler(slackEvent(clickPayload()));

    expect(ddb).toHaveReceivedNthCommandWith(2, UpdateItemCommand, { ...CLAIM, Key: { approvalId: { S: item.approvalId } } });
    expect(ddb).toHaveReceivedNthCommandWith(3, UpdateItemCommand, {
      ConditionExpression: '#status = :from',
      ExpressionAttributeValues: expect.objectContaining({ ':status': { S: 'approved' }, ':from': { S: 'deciding' }, ':user': { S: 'U0123ABCDEF' } }),
    });
  });

  it('replaces the request message with the decision and no buttons', async () => {
    await handler(slackEvent(clickPayload()));

    const [replacement] = responses();
    expect(replacement.replace_original).toBe(true);
    expect(replacement.blocks.some((b: any) => b.type === 'actions')).toBe(false);
    expect(JSON.stringify(replacement.blocks)).toContain('*Approved* by <@U0123ABCDEF>');
  });

  it('reject sends SendTaskFailure with error ApprovalRejected naming the user', async () => {
    await handler(slackEvent(clickPayload({ actionId: 'failover_reject' })));

    expect(sfn).toHaveReceivedCommandWith(SendTaskFailureCommand, {
      taskToken: item.taskToken,
      error: 'ApprovalRejected',
      cause: 'Rejected in Slack by U0123ABCDEF (alice)',
    });
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 0);
  });

  it('uses the task token as claimed, not as first read (a request-approval retry may have replaced it)', async () => {
    ddb.on(UpdateItemCommand, CLAIM).resolves({ Attributes: approvalAttributes({ ...item, taskToken: 'NEW-TOKEN-AFTER-RETRY', status: 'deciding' }) });

    await handler(slackEvent(clickPayload()));

    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: 'NEW-TOKEN-AFTER-RETRY' });
  });
});

describe('slack-callback: clicks that must not decide', () => {
  it('a second click on an approved approval calls no Step Functions and tells who decided', async () => {
    stored({ status: 'approved', decidedBy: 'U0456GHIJKL', decidedAt: '2025-03-04T10:03:00.000Z' });

    const result = await handler(slackEvent(clickPayload()));

    expect(result.statusCode).toBe(200);
    expect(sfn.calls()).toHaveLength(0);
    expect(ddb).toHaveReceivedCommandTimes(UpdateItemCommand, 0);
    expect(responses()).toEqual([expect.objectContaining({ response_type: 'ephemeral', text: expect.stringContaining('already approved by <@U0456GHIJKL>') })]);
  });

  it('a late click after expiresAt calls no Step Functions, marks the approval expired and says so in the message', async () => {
    stored({ expiresAt: '2025-03-04T10:04:59.000Z' });

    const result = await handler(slackEvent(clickPayload()));

    expect(result.statusCode).toBe(200);
    expect(sfn.calls()).toHaveLength(0);
    expect(ddb).toHaveReceivedCommandWith(UpdateItemCommand, {
      ConditionExpression: '#status = :from',
      ExpressionAttributeValues: expect.objectContaining({ ':status': { S: 'expired' }, ':from': { S: 'pending' } }),
    });
    const [replacement] = responses();
    expect(replacement).toMatchObject({ replace_original: true });
    expect(JSON.stringify(replacement.blocks)).toContain('*Expired*: no decision within 10 min; policy: abort');
  });

  it('marks the approval expired when Step Functions says the task timed out', async () => {
    sfn.on(SendTaskSuccessCommand).rejects(new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} }));

    const result = await handler(slackEvent(clickPayload()));

    expect(result.statusCode).toBe(200);
    expect(ddb).toHaveReceivedCommandWith(UpdateItemCommand, {
      ConditionExpression: '#status = :from',
      ExpressionAttributeValues: expect.objectContaining({ ':status': { S: 'expired' }, ':from': { S: 'deciding' } }),
    });
    expect(JSON.stringify(responses()[0].blocks)).toContain('*Expired*');
  });

  it('a click that loses the claim race to another click calls no Step Functions', async () => {
    ddb.on(UpdateItemCommand, CLAIM).rejects(
      new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: {},
        Item: approvalAttributes({ ...item, status: 'deciding', decidedBy: 'U0456GHIJKL', decidedAt: NOW_ISO }),
      }),
    );

    const result = await handler(slackEvent(clickPayload()));

    expect(result.statusCode).toBe(200);
    expect(sfn.calls()).toHaveLength(0);
    expect(responses()).toEqual([expect.objectContaining({ response_type: 'ephemeral', text: expect.stringContaining('being decided by <@U0456GHIJKL>') })]);
  });

  it('releases the claim and answers 500 when Step Functions fails transiently, so the approver can click again', async () => {
    sfn.on(SendTaskSuccessCommand).rejects(new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } }));

    const result = await handler(slackEvent(clickPayload()));

    expect(result.statusCode).toBe(500);
    expect(ddb).toHaveReceivedCommandWith(UpdateItemCommand, {
      ConditionExpression: '#status = :deciding',
      ExpressionAttributeValues: expect.objectContaining({ ':pending': { S: 'pending' } }),
    });
    expect(ddb).not.toHaveReceivedCommandWith(UpdateItemCommand, { ConditionExpression: '#status = :from' });
  });
});

describe('slack-callback: logs', () => {
  it('log lines carry the approval and execution ids but never the body, task token, signature, secret or response_url', async () => {
    const event = slackEvent(clickPayload());

    const logs = await captureLogs(async () => {
      await handler(event);
      await handler(slackEvent(clickPayload(), { secret: 'forged-secret' }));
    });

    expect(logs).toContain(item.approvalId);
    expect(logs).toContain(item.executionId);
    expect(logs).not.toContain(item.taskToken.slice(0, 40));
    expect(logs).not.toContain(SIGNING_SECRET);
    expect(logs).not.toContain(event.headers['x-slack-signature']!.slice(3));
    expect(logs).not.toContain('abcdefSECRETPART');
    expect(logs).not.toContain('payload=');
  });
});
