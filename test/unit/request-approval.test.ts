import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { defaultContext, stageHandler, type StageContext } from '../../functions/core/stage';
import { approvalIdFor, requestApproval, requestApprovalInputSchema, type RequestApprovalInput } from '../../functions/request-approval';
import { approvalAttributes, approvalFixture, detectionFixture, startFixture, unconfirmedFenceFixture } from '../helpers/fixtures';
import { examplePlan } from '../helpers/plan';
import { captureLogs } from '../helpers/logs';

const ddb = mockClient(DynamoDBClient);
const ssm = mockClient(SSMClient);

process.env.APPROVALS_TABLE = 'failover-approvals';

const BOT_TOKEN = 'xoxb-1111-2222-abcdefghijklmnop';
const NOW = new Date('2025-03-04T10:00:10.000Z');
const ctx: StageContext = { ...defaultContext, now: () => NOW };
const handler = stageHandler('request-approval', requestApprovalInputSchema, requestApproval, ctx);
/** Task tokens can be 2,048 characters: longer than a Slack button value may be. */
const TASK_TOKEN = `AQCEAAAAKgAAAA${'x'.repeat(2048 - 14)}`;

function input(overrides: Partial<RequestApprovalInput> = {}): RequestApprovalInput {
  return { taskToken: TASK_TOKEN, gate: 'failover', plan: examplePlan(), start: startFixture(), detection: detectionFixture(), ...overrides };
}

const approvalId = approvalIdFor(startFixture().executionId, 'failover');

let fetchSpy: jest.SpiedFunction<typeof fetch>;

function slackOk(extra: Record<string, unknown> = {}) {
  return () => Promise.resolve(new Response(JSON.stringify({ ok: true, channel: 'C0123FAILOVER', ts: '1741082410.000100', ...extra }), { status: 200 }));
}

/** The JSON body of the n-th fetch call. */
function fetchBody(n = 0): any {
  return JSON.parse(String(fetchSpy.mock.calls[n]![1]!.body));
}

beforeEach(() => {
  ddb.reset();
  ssm.reset();
  ssm.on(GetParameterCommand, { Name: '/failover/example/slack-bot-token' }).resolves({ Parameter: { Name: '/failover/example/slack-bot-token', Value: BOT_TOKEN } });
  // First write: putPending returns the stored item (no message yet); second: setMessageTs.
  ddb.on(UpdateItemCommand).resolves({ Attributes: approvalAttributes(approvalFixture({ approvalId, taskToken: TASK_TOKEN, messageTs: undefined })) });
  fetchSpy = jest.spyOn(globalThis, 'fetch').mockImplementation(slackOk());
});

afterEach(() => {
  jest.restoreAllMocks();
});

describe('request-approval', () => {
  it('stores the task token under the approval id, pending, expiring after the plan timeout', async () => {
    await requestApproval(input(), ctx);

    expect(ddb).toHaveReceivedNthCommandWith(1, UpdateItemCommand, {
      TableName: 'failover-approvals',
      Key: { approvalId: { S: approvalId } },
      ConditionExpression: 'attribute_not_exists(#approvalId) OR #status = :pending',
      ExpressionAttributeValues: expect.objectContaining({
        ':taskToken': { S: TASK_TOKEN },
        ':pending': { S: 'pending' },
        ':approvers': { SS: ['U0123ABCDEF', 'U0456GHIJKL'] },
        ':channel': { S: 'C0123FAILOVER' },
        ':expiresAt': { S: '2025-03-04T10:10:10.000Z' },
      }),
    });
  });

  it('posts the request to the plan channel with the bot token, Approve and Reject buttons carrying only the approval id', async () => {
    await requestApproval(input(), ctx);

    expect(fetchSpy).toHaveBeenCalledTimes(1);
    const [url, init] = fetchSpy.mock.calls[0]!;
    expect(url).toBe('https://slack.com/api/chat.postMessage');
    expect(init?.method).toBe('POST');
    expect((init?.headers as Record<string, string> | undefined)?.Authorization).toBe(`Bearer ${BOT_TOKEN}`);
    const body = fetchBody();
    expect(body.channel).toBe('C0123FAILOVER');
    expect(body.text).toContain('Failover approval needed: payments us-east-1 → eu-west-1');
    const actions = body.blocks.find((b: any) => b.type === 'actions');
    expect(actions.elements).toEqual([
      expect.objectContaining({ action_id: 'failover_approve', style: 'primary', value: approvalId, confirm: expect.any(Object) }),
      expect.objectContaining({ action_id: 'failover_reject', style: 'danger', value: approvalId }),
    ]);
    for (const button of actions.elements) expect(button.value.length).toBeLessThanOrEqual(2000);
    expect(JSON.stringify(body)).not.toContain(TASK_TOKEN);
  });

  it('remembers where the message landed and returns it', async () => {
    const result = await requestApproval(input(), ctx);

    expect(result).toEqual({ approvalId, channel: 'C0123FAILOVER', messageTs: '1741082410.000100' });
    expect(ddb).toHaveReceivedNthCommandWith(2, UpdateItemCommand, {
      Key: { approvalId: { S: approvalId } },
      ExpressionAttributeValues: expect.objectContaining({ ':messageTs': { S: '1741082410.000100' } }),
    });
  });

  it('shows the data-loss estimate against the RPO budget and the timeout policy', async () => {
    await requestApproval(input(), ctx);

    const text = JSON.stringify(fetchBody().blocks);
    expect(text).toContain('Estimated data loss:* 42 s of writes (RPO budget 60 s)');
    expect(text).toContain('RPO at risk');
    expect(text).toContain('No answer within 10 min → abort');
  });

  it('tells approvers how to decide when the buttons do not work: the operator CLI with this approval id', async () => {
    await requestApproval(input(), ctx);

    const text = JSON.stringify(fetchBody().blocks);
    expect(text).toContain(`npm run failover -- approve|reject --stage <stage> --approval-id ${approvalId} --as <your Slack id>`);
  });

  it('warns that the primary is not fenced and lists the unconfirmed fence steps at the unfenced-promotion gate', async () => {
    const fence = unconfirmedFenceFixture([
      { resource: 'payments-api', kind: 'ecs-service', status: 'unconfirmed', confirmed: false, action: 'scale to 0', detail: 'us-east-1 ECS unreachable' },
    ]);
    await requestApproval(input({ gate: 'unfenced-promotion', fence }), ctx);

    const text = JSON.stringify(fetchBody().blocks);
    expect(text).toContain('could not be confirmed fenced');
    expect(text).toContain('payments-api (ecs-service): scale to 0: us-east-1 ECS unreachable');
  });

  it('forces abort on timeout at the unfenced-promotion gate even when the detection policy is proceed (silence never approves an unfenced promotion)', async () => {
    const detection = { ...detectionFixture(), onApprovalTimeout: 'proceed' as const };
    await requestApproval(input({ gate: 'unfenced-promotion', detection, fence: unconfirmedFenceFixture() }), ctx);

    expect(ddb).toHaveReceivedNthCommandWith(1, UpdateItemCommand, {
      Key: { approvalId: { S: approvalIdFor(startFixture().executionId, 'unfenced-promotion') } },
      ExpressionAttributeValues: expect.objectContaining({ ':gate': { S: 'unfenced-promotion' }, ':onTimeout': { S: 'abort' } }),
    });
    const text = JSON.stringify(fetchBody().blocks);
    expect(text).toContain('No answer within 10 min → abort');
    expect(text).not.toContain('→ proceed');
  });

  it('keeps the detection policy on the failover gate (proceed stays proceed there)', async () => {
    await requestApproval(input({ detection: { ...detectionFixture(), onApprovalTimeout: 'proceed' } }), ctx);

    expect(ddb).toHaveReceivedNthCommandWith(1, UpdateItemCommand, { ExpressionAttributeValues: expect.objectContaining({ ':onTimeout': { S: 'proceed' } }) });
  });

  it('on a retry reuses the approval id and updates the posted message instead of posting a second one', async () => {
    const retryToken = `AQCEAAAAKgAAAA${'y'.repeat(500)}`;
    ddb.on(UpdateItemCommand).resolves({ Attributes: approvalAttributes(approvalFixture({ approvalId, taskToken: retryToken, messageTs: '1741082410.000100' })) });

    const result = await requestApproval(input({ taskToken: retryToken }), ctx);

    expect(result.approvalId).toBe(approvalId);
    expect(ddb).toHaveReceivedCommandWith(UpdateItemCommand, {
      Key: { approvalId: { S: approvalId } },
      ExpressionAttributeValues: expect.objectContaining({ ':taskToken': { S: retryToken } }),
    });
    expect(fetchSpy).toHaveBeenCalledTimes(1);
    expect(fetchSpy.mock.calls[0]![0]).toBe('https://slack.com/api/chat.update');
    expect(fetchBody()).toMatchObject({ channel: 'C0123FAILOVER', ts: '1741082410.000100' });
  });

  it('derives a different approval id for each gate of the same execution', () => {
    expect(approvalIdFor(startFixture().executionId, 'unfenced-promotion')).not.toBe(approvalId);
    expect(approvalId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('fails with NotificationFailed naming the Slack error when Slack refuses the message', async () => {
    fetchSpy.mockImplementation(() => Promise.resolve(new Response(JSON.stringify({ ok: false, error: 'channel_not_found' }), { status: 200 })));

    await expect(requestApproval(input(), ctx)).rejects.toMatchObject({ name: 'NotificationFailed', message: 'Slack chat.postMessage: channel_not_found' });
  });

  it('never logs the task token or the bot token', async () => {
    const logs = await captureLogs(() => handler(input()));

    expect(logs).toContain(approvalId);
    expect(logs).not.toContain(TASK_TOKEN.slice(0, 40));
    expect(logs).not.toContain(BOT_TOKEN);
  });

  it('rejects a task token longer than 2,048 characters as InvalidInput, before storing anything', async () => {
    await expect(handler(input({ taskToken: 'x'.repeat(2049) }))).rejects.toMatchObject({ name: 'InvalidInput', message: expect.stringContaining('taskToken') });
    expect(ddb).toHaveReceivedCommandTimes(UpdateItemCommand, 0);
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('rejects a detection that does not match the state contract as InvalidInput naming the field, before storing anything', async () => {
    const { reasons: _dropped, ...withoutReasons } = detectionFixture();
    await expect(handler(input({ detection: withoutReasons as never }))).rejects.toMatchObject({ name: 'InvalidInput', message: expect.stringContaining('detection.reasons') });
    await expect(handler(input({ detection: { ...detectionFixture(), classification: 'meteor-strike' as never } }))).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringContaining('detection.classification'),
    });
    expect(ddb).not.toHaveReceivedCommand(UpdateItemCommand);
  });

  it('rejects an empty task token as InvalidInput', async () => {
    await expect(handler(input({ taskToken: '' }))).rejects.toMatchObject({ name: 'InvalidInput' });
  });

  it('fails with ConfigurationError naming APPROVALS_TABLE when it is not set, before calling Slack', async () => {
    const saved = process.env.APPROVALS_TABLE;
    delete process.env.APPROVALS_TABLE;
    try {
      await jest.isolateModulesAsync(async () => {
        // A fresh module registry: the table name is read once per container, like a cold start.
        const fresh = require('../../functions/request-approval') as typeof import('../../functions/request-approval');
        await expect(fresh.requestApproval(input(), ctx)).rejects.toMatchObject({ name: 'ConfigurationError', message: expect.stringContaining('APPROVALS_TABLE') });
      });
    } finally {
      process.env.APPROVALS_TABLE = saved;
    }
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});
