import { createHmac } from 'node:crypto';
import { ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, SFNServiceException, TaskTimedOut } from '@aws-sdk/client-sfn';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import type { ApprovalItem } from '../../functions/slack/approvals-store';
import { createSlackCallbackHandler, UPDATE_TASK_KIND, type SlackUpdateTask } from '../../functions/slack-callback';
import { approvalAttributes, approvalFixture } from '../helpers/fixtures';
import { captureLogs } from '../helpers/logs';
import { commandNames } from '../helpers/commands';

const ddb = mockClient(DynamoDBClient);
const sfn = mockClient(SFNClient);
const ssm = mockClient(SSMClient);
const lambda = mockClient(LambdaClient);

process.env.APPROVALS_TABLE = 'failover-approvals';
/** Set by Lambda in every function; the callback invokes itself by this name. */
const FUNCTION_NAME = 'failover-orchestrator-example-slackCallback';
process.env.AWS_LAMBDA_FUNCTION_NAME = FUNCTION_NAME;
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
function slackEvent(
  payload: unknown,
  { secret = SIGNING_SECRET, base64 = false, contentType = 'application/x-www-form-urlencoded' as string | null } = {},
): APIGatewayProxyEventV2 {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = String(Math.floor(NOW_MS / 1000));
  const signature = `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return {
    version: '2.0',
    routeKey: 'POST /slack/interactions',
    rawPath: '/slack/interactions',
    rawQueryString: '',
    headers: { ...(contentType !== null ? { 'content-type': contentType } : {}), 'x-slack-request-timestamp': timestamp, 'x-slack-signature': signature },
    requestContext: {
      http: { method: 'POST', path: '/slack/interactions', protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'Slackbot' },
    } as APIGatewayProxyEventV2['requestContext'],
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

/** The payloads of the callback's asynchronous self-invocations (Lambda Invoke, InvocationType Event). */
function invokedTasks(): SlackUpdateTask[] {
  return lambda.commandCalls(InvokeCommand).map((call) => JSON.parse(Buffer.from(call.args[0].input.Payload as Uint8Array).toString('utf8')));
}

/**
 * A click as Slack and Lambda see it: the HTTP answer first, then (as Lambda would deliver the
 * queued event) every self-invocation the click handed off, run through the same handler.
 */
async function click(event: APIGatewayProxyEventV2) {
  const result = await handler(event);
  for (const task of invokedTasks()) await handler(task);
  return result;
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
  lambda.reset();
  lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
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
    expect(lambda.calls()).toHaveLength(0);
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('answers 401 to a forged signature even when the content type is also wrong (the signature is checked first)', async () => {
    const result = await handler(slackEvent(clickPayload(), { secret: 'forged-secret', contentType: 'application/json' }));

    expect(result.statusCode).toBe(401);
    expect(ddb.calls()).toHaveLength(0);
    expect(lambda.calls()).toHaveLength(0);
  });

  it.each([
    ['application/json', 'application/json'],
    ['text/plain', 'text/plain'],
    ['no content type', null],
  ])('answers 415 to a correctly signed request sent as %s, and changes nothing', async (_label, contentType) => {
    const result = await handler(slackEvent(clickPayload(), { contentType }));

    expect(result).toMatchObject({ statusCode: 415, body: '' });
    expect(ddb.calls()).toHaveLength(0);
    expect(sfn.calls()).toHaveLength(0);
    expect(lambda.calls()).toHaveLength(0);
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it("accepts Slack's media type with parameters and in any case (RFC 9110 media types are case-insensitive)", async () => {
    const result = await handler(slackEvent(clickPayload(), { contentType: 'Application/X-WWW-Form-URLEncoded; charset=utf-8' }));

    expect(result.statusCode).toBe(200);
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
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
    const result = await click(slackEvent(clickPayload({ user: { id: 'U9999NOTLISTED', username: 'mallory' } })));

    expect(result.statusCode).toBe(403);
    expect(sfn.calls()).toHaveLength(0);
    expect(ddb).toHaveReceivedCommandTimes(UpdateItemCommand, 0);
    expect(responses()).toEqual([expect.objectContaining({ response_type: 'ephemeral', replace_original: false, text: expect.stringContaining('not on the approver list') })]);
  });

  it('does not tell a user who is not on the approver list who is on it (neither in the answer nor in the ephemeral note)', async () => {
    const result = await click(slackEvent(clickPayload({ user: { id: 'U9999NOTLISTED', username: 'mallory' } })));

    const everything = JSON.stringify([result, responses(), invokedTasks()]);
    for (const approver of item.approvers) expect(everything).not.toContain(approver);
  });

  it('tells the user an approval is unknown and changes nothing', async () => {
    ddb.on(GetItemCommand).resolves({});

    const result = await click(slackEvent(clickPayload()));

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
    expect(commandNames(sfn)).toEqual(['SendTaskSuccessCommand']); // exactly one decision, never a SendTaskFailure too
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
    await click(slackEvent(clickPayload()));

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
    expect(commandNames(sfn)).toEqual(['SendTaskFailureCommand']);
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

    const result = await click(slackEvent(clickPayload()));

    expect(result.statusCode).toBe(200);
    expect(sfn.calls()).toHaveLength(0);
    expect(ddb).toHaveReceivedCommandTimes(UpdateItemCommand, 0);
    expect(responses()).toEqual([expect.objectContaining({ response_type: 'ephemeral', text: expect.stringContaining('already approved by <@U0456GHIJKL>') })]);
  });

  it('a late click after expiresAt calls no Step Functions, marks the approval expired and says so in the message', async () => {
    stored({ expiresAt: '2025-03-04T10:04:59.000Z' });

    const result = await click(slackEvent(clickPayload()));

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

    const result = await click(slackEvent(clickPayload()));

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

    const result = await click(slackEvent(clickPayload()));

    expect(result.statusCode).toBe(200);
    expect(sfn.calls()).toHaveLength(0);
    expect(responses()).toEqual([expect.objectContaining({ response_type: 'ephemeral', text: expect.stringContaining('being decided by <@U0456GHIJKL>') })]);
  });

  it('releases the claim and answers 500 when Step Functions fails transiently, so the approver can click again', async () => {
    sfn
      .on(SendTaskSuccessCommand)
      .rejects(new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } }));

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

describe('slack-callback: answers Slack first, updates the message afterwards', () => {
  /** Slack's 3-second limit and response_url: https://docs.slack.dev/interactivity/handling-user-interaction */
  it('with a response_url that never answers: answers 200, the decision reached Step Functions, and no Slack call was made before the answer', async () => {
    fetchSpy.mockImplementation(() => new Promise<Response>(() => {})); // a response_url that never answers
    const order: string[] = [];
    sfn.on(SendTaskSuccessCommand).callsFake(() => {
      order.push('SendTaskSuccess');
      return {};
    });
    lambda.on(InvokeCommand).callsFake(() => {
      order.push('Invoke');
      return { StatusCode: 202 };
    });

    const result = await handler(slackEvent(clickPayload()));

    expect(result).toMatchObject({ statusCode: 200, body: '' });
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: item.taskToken });
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(order).toEqual(['SendTaskSuccess', 'Invoke']);
  });

  it('hands the message update to an asynchronous invocation of itself (Lambda Invoke, InvocationType Event)', async () => {
    await handler(slackEvent(clickPayload()));

    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 1);
    expect(lambda).toHaveReceivedCommandWith(InvokeCommand, { FunctionName: FUNCTION_NAME, InvocationType: 'Event' });
    const [task] = invokedTasks();
    expect(task).toMatchObject({ kind: UPDATE_TASK_KIND, what: 'approved', approvalId: item.approvalId, executionId: item.executionId, responseUrl: RESPONSE_URL });
    expect(task!.message.replace_original).toBe(true);
    expect(JSON.stringify(task!.message.blocks)).toContain('*Approved* by <@U0123ABCDEF>');
    expect(task!.message.blocks!.some((b) => b.type === 'actions')).toBe(false);
  });

  it('run as that invocation, sends the update through the response_url and reports it', async () => {
    await handler(slackEvent(clickPayload()));
    const [task] = invokedTasks();
    fetchSpy.mockClear();

    const outcome = await handler(task!);

    expect(outcome).toEqual({ updated: true });
    expect(fetchSpy).toHaveBeenCalledTimes(1);
    expect(responses()).toEqual([expect.objectContaining({ replace_original: true, text: expect.stringContaining('Approved by U0123ABCDEF') })]);
    expect(sfn.calls()).toHaveLength(1); // the update step decides nothing
    expect(ddb.calls()).toHaveLength(3); // read, claim, finish: all from the click itself
  });

  it('answers 200 and keeps the delivered decision when the hand-off itself fails', async () => {
    lambda.on(InvokeCommand).rejects(Object.assign(new Error('User is not authorized to perform: lambda:InvokeFunction'), { name: 'AccessDeniedException' }));

    const logs = await captureLogs(async () => {
      expect((await handler(slackEvent(clickPayload()))).statusCode).toBe(200);
    });

    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    expect(ddb).toHaveReceivedCommandWith(UpdateItemCommand, {
      ConditionExpression: '#status = :from',
      ExpressionAttributeValues: expect.objectContaining({ ':status': { S: 'approved' } }),
    });
    expect(logs).toContain('could not hand off the Slack message update');
    expect(logs).toContain('AccessDeniedException');
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('skips the update (and says so) when AWS_LAMBDA_FUNCTION_NAME is not set, still delivering the decision', async () => {
    delete process.env.AWS_LAMBDA_FUNCTION_NAME;
    try {
      const logs = await captureLogs(async () => {
        expect((await handler(slackEvent(clickPayload()))).statusCode).toBe(200);
      });
      expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
      expect(lambda.calls()).toHaveLength(0);
      expect(logs).toContain('AWS_LAMBDA_FUNCTION_NAME is not set');
    } finally {
      process.env.AWS_LAMBDA_FUNCTION_NAME = FUNCTION_NAME;
    }
  });

  it('treats an API Gateway event as a click even if its fields imitate an update task (an HTTP caller cannot reach the update path)', async () => {
    const forged = {
      ...slackEvent(clickPayload(), { secret: 'forged-secret' }),
      kind: UPDATE_TASK_KIND,
      what: 'approved',
      responseUrl: RESPONSE_URL,
      message: { text: 'x', replace_original: true },
    };

    const result = await handler(forged as unknown as APIGatewayProxyEventV2);

    expect(result).toMatchObject({ statusCode: 401 });
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('ignores a self-invocation whose payload is not an update task', async () => {
    const outcome = await handler({
      kind: UPDATE_TASK_KIND,
      what: 'approved',
      responseUrl: 'not a url',
      message: { text: 'x', replace_original: true },
    } as unknown as SlackUpdateTask);

    expect(outcome).toEqual({ updated: false });
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('lets Lambda retry a decision update Slack could not take (5xx), but not an ephemeral note (it would show twice)', async () => {
    fetchSpy.mockImplementation(() => Promise.resolve(new Response('', { status: 503 })));
    const base = { kind: UPDATE_TASK_KIND, approvalId: item.approvalId, responseUrl: RESPONSE_URL } as const;

    await expect(handler({ ...base, what: 'approved', message: { text: 'Approved', replace_original: true } })).rejects.toMatchObject({ name: 'SlackUnavailable' });
    await expect(handler({ ...base, what: 'not-pending', message: { text: 'already', replace_original: false, response_type: 'ephemeral' } })).resolves.toEqual({ updated: false });
  });

  it('never logs the response_url, in the click or in the update', async () => {
    const logs = await captureLogs(async () => {
      await click(slackEvent(clickPayload()));
      fetchSpy.mockImplementation(() => Promise.reject(new TypeError(`Failed to parse URL from ${RESPONSE_URL}`)));
      for (const task of invokedTasks()) {
        const thrown = await handler(task).catch((error: Error) => error);
        expect(String((thrown as Error).message) + String((thrown as Error).cause ?? '')).not.toContain('abcdefSECRETPART');
      }
    });

    expect(logs).toContain('Slack message update failed');
    expect(logs).not.toContain('abcdefSECRETPART');
    expect(logs).not.toContain('hooks.slack.com');
  });
});
