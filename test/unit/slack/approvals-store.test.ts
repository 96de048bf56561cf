import { DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { configureApprovalsStore, finish, fromItem, get } from '../../../functions/slack/approvals-store';
import { approvalAttributes, approvalFixture } from '../../helpers/fixtures';

const ddb = mockClient(DynamoDBClient);
const item = approvalFixture();
const NOW = new Date('2025-03-04T10:05:00.000Z');

beforeAll(() => {
  process.env.APPROVALS_TABLE = 'failover-approvals';
});

beforeEach(() => {
  ddb.reset();
  ddb.on(UpdateItemCommand).resolves({});
});

describe('approvals store: decision audit', () => {
  it('stores the audit of a human decision with the outcome (channel, reason, operator user and host) and drops the task token', async () => {
    await finish(item.approvalId, 'approved', 'U0123ABCDEF', NOW, 'deciding', { via: 'cli', comment: 'Slack down', operatorUser: 'oncall', operatorHost: 'laptop-7' });

    const input = ddb.commandCalls(UpdateItemCommand)[0]!.args[0].input;
    expect(input.UpdateExpression).toBe(
      'SET #status = :status, #decidedAt = :now, #decidedVia = :decidedVia, #decisionComment = :decisionComment, #operatorUser = :operatorUser, #operatorHost = :operatorHost, #decidedBy = :user REMOVE #taskToken',
    );
    expect(input.ConditionExpression).toBe('#status = :from');
    expect(input.ExpressionAttributeValues).toMatchObject({
      ':decidedVia': { S: 'cli' },
      ':decisionComment': { S: 'Slack down' },
      ':operatorUser': { S: 'oncall' },
      ':operatorHost': { S: 'laptop-7' },
    });
  });

  it('writes no audit attributes when there is none (an expiry)', async () => {
    await finish(item.approvalId, 'expired', undefined, NOW, 'pending');

    const input = ddb.commandCalls(UpdateItemCommand)[0]!.args[0].input;
    expect(input.UpdateExpression).toBe('SET #status = :status, #decidedAt = :now REMOVE #decidedBy, #taskToken');
  });

  it('reads the audit back', () => {
    const read = fromItem({
      ...approvalAttributes({ ...item, status: 'approved' }),
      decidedVia: { S: 'cli' },
      decisionComment: { S: 'why' },
      operatorUser: { S: 'oncall' },
      operatorHost: { S: 'laptop-7' },
    });

    expect(read).toMatchObject({ decidedVia: 'cli', decisionComment: 'why', operatorUser: 'oncall', operatorHost: 'laptop-7' });
    expect(fromItem({ ...approvalAttributes(item), decidedVia: { S: 'carrier-pigeon' } }).decidedVia).toBeUndefined();
  });

  it('can be pointed at a table and region explicitly (the CLI, outside Lambda)', async () => {
    ddb.on(GetItemCommand).resolves({ Item: approvalAttributes(item) });
    configureApprovalsStore({ tableName: 'failover-orchestrator-prod-approvals', region: 'eu-central-1' });

    await get(item.approvalId);

    expect(ddb).toHaveReceivedCommandWith(GetItemCommand, { TableName: 'failover-orchestrator-prod-approvals', ConsistentRead: true });
    expect(await ddb.call(0).thisValue.config.region()).toBe('eu-central-1');
  });
});
