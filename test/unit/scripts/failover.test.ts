import { ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { ListStateMachinesCommand, SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, SFNServiceException, StartExecutionCommand, TaskTimedOut } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { main, type Io } from '../../../scripts/failover';
import { approvalAttributes, approvalFixture } from '../../helpers/fixtures';
import { examplePlan } from '../../helpers/plan';

const sfn = mockClient(SFNClient);
const ddb = mockClient(DynamoDBClient);

function io(): Io & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines,
    errors,
    out: (l) => lines.push(l),
    err: (l) => errors.push(l),
    sfn: (region) => new SFNClient({ region }),
    loadPlan: () => examplePlan(),
    now: () => new Date('2026-11-22T03:04:05Z'),
    operator: () => ({ user: 'oncall', host: 'laptop-7' }),
  };
}

beforeEach(() => {
  sfn.reset();
  ddb.reset();
});

describe('failover CLI', () => {
  it('refuses a bad manual start before sending anything, naming the field (InvalidInput)', async () => {
    const cli = io();

    const code = await main(['start', '--stage', 'example', '--mode', 'sideways', '--reason', 'because', '--requested-by', 'alice'], cli);

    expect(code).toBe(2);
    expect(cli.errors.join('\n')).toMatch(/^InvalidInput: .*request\.mode/);
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('starts the stage state machine in the recovery region with the validated input', async () => {
    sfn.on(ListStateMachinesCommand).resolves({
      stateMachines: [
        {
          name: 'failover-orchestrator-example-failover',
          stateMachineArn: 'arn:aws:states:eu-west-1:111122223333:stateMachine:failover-orchestrator-example-failover',
          type: 'STANDARD',
          creationDate: new Date(),
        },
      ],
    });
    sfn
      .on(StartExecutionCommand)
      .resolves({ executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:failover-orchestrator-example-failover:manual-failover-20261122030405', startDate: new Date() });
    const cli = io();

    const code = await main(['start', '--stage', 'example', '--mode', 'failover', '--reason', 'us-east-1 down', '--requested-by', 'alice@example.com'], cli);

    expect(code).toBe(0);
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: 'arn:aws:states:eu-west-1:111122223333:stateMachine:failover-orchestrator-example-failover',
      name: 'manual-failover-20261122030405',
      input: JSON.stringify({ mode: 'failover', reason: 'us-east-1 down', requestedBy: 'alice@example.com', origin: 'cli' }),
    });
    expect(cli.lines[0]).toContain(':execution:');
  });

  it('prints the input and sends nothing with --dry-run', async () => {
    const cli = io();

    const code = await main(['start', '--stage', 'example', '--mode', 'drill', '--reason', 'readiness', '--requested-by', 'bob', '--dry-run'], cli);

    expect(code).toBe(0);
    expect(JSON.parse(cli.lines[0]!)).toEqual({ mode: 'drill', reason: 'readiness', requestedBy: 'bob', origin: 'cli' });
    expect(sfn.calls()).toHaveLength(0);
  });

  it('rejects an unknown option, naming it, with the usage', async () => {
    const cli = io();

    expect(await main(['start', '--stage', 'example', '--force'], cli)).toBe(2);
    const [first, ...rest] = cli.errors.join('\n').split('\n');
    expect(first).toBe("Unknown option '--force'");
    expect(rest[0]).toMatch(/^usage: /);
    expect(sfn.calls()).toHaveLength(0);
  });
});

describe('failover CLI: help and usage errors', () => {
  const OPTIONS = ['stage', 'mode', 'reason', 'requested-by', 'region', 'state-machine-arn', 'execution-arn', 'dry-run', 'approval-id', 'as', 'approvals-table', 'help'];
  const COMMANDS = ['start', 'status', 'approve', 'reject', 'validate-plan'];

  it.each([[['--help']], [['-h']], [['start', '--help']], [['status', '--help']], [['approve', '-h']], [['reject', '--help']], [['validate-plan', '--help']]])(
    '%j prints every command and every option, one line each, on stdout and exits 0',
    async (argv) => {
      const cli = io();

      expect(await main(argv, cli)).toBe(0);

      const lines = cli.lines.join('\n').split('\n');
      for (const option of OPTIONS) expect(lines.filter((l) => new RegExp(`^  (-\\w, )?--${option}( |$)`).test(l))).toHaveLength(1);
      for (const command of COMMANDS) {
        expect(lines.filter((l) => l.startsWith(`  failover ${command} `))).toHaveLength(1);
        expect(lines.filter((l) => new RegExp(`^  ${command} +\\S`).test(l))).toHaveLength(1);
      }
      expect(cli.errors).toEqual([]);
      expect(sfn.calls()).toHaveLength(0);
    },
  );

  it.each([
    [['stat', '--stage', 'example'], "unknown command 'stat': expected one of start, status, approve, reject, validate-plan"],
    [['--stage', 'example'], 'missing command: one of start, status, approve, reject, validate-plan'],
    [['status', '--execution-arn', 'arn:x'], 'status needs --stage STAGE'],
    [['status', '--stage'], "Option '--stage <value>' argument missing"],
    [['start', '--stage', 'example', 'us-east-1', 'down'], "unexpected argument 'us-east-1' after start (quote a --reason with spaces)"],
    [['validate-plan', '--stage', 'example', '--verbose'], "Unknown option '--verbose'"],
  ])('%j says what was wrong, shows the usage and exits 2', async (argv, message) => {
    const cli = io();

    expect(await main(argv, cli)).toBe(2);

    const [first, second] = cli.errors.join('\n').split('\n');
    expect(first).toBe(message);
    expect(second).toMatch(/^usage: /);
    expect(cli.lines).toEqual([]);
    expect(sfn.calls()).toHaveLength(0);
  });
});

describe('failover CLI: approve / reject without Slack', () => {
  const NOW = '2026-11-22T03:04:05.000Z';
  const item = approvalFixture({ createdAt: '2026-11-22T03:00:00.000Z', expiresAt: '2026-11-22T03:10:00.000Z' });
  const TABLE = 'failover-orchestrator-example-approvals';
  /** The conditional claim, exactly as the Slack callback makes it (functions/slack/approvals-store.ts). */
  const CLAIM = { ConditionExpression: '#status = :pending', UpdateExpression: 'SET #status = :deciding, #decidedBy = :user, #decidedAt = :now' };
  const args = (command: 'approve' | 'reject', extra: string[] = []) => [
    command,
    '--stage',
    'example',
    '--approval-id',
    item.approvalId,
    '--as',
    'U0123ABCDEF',
    '--reason',
    'Slack is down; agreed on the bridge call',
    ...extra,
  ];

  function stored(overrides: Partial<typeof item> = {}) {
    ddb.on(GetItemCommand).resolves({ Item: approvalAttributes({ ...item, ...overrides }) });
  }

  beforeEach(() => {
    stored();
    ddb.on(UpdateItemCommand, CLAIM).resolves({ Attributes: approvalAttributes({ ...item, status: 'deciding', decidedBy: 'U0123ABCDEF', decidedAt: NOW }) });
    ddb.on(UpdateItemCommand, { ConditionExpression: '#status = :from' }).resolves({});
    ddb.on(UpdateItemCommand, { ConditionExpression: '#status = :deciding' }).resolves({});
    sfn.on(SendTaskSuccessCommand).resolves({});
    sfn.on(SendTaskFailureCommand).resolves({});
  });

  it("approve: claims the approval in the stage's table like a click, then SendTaskSuccess with the Slack output shape, via cli, with reason and operator", async () => {
    const cli = io();

    const code = await main(args('approve'), cli);

    expect(code).toBe(0);
    expect(ddb).toHaveReceivedCommandWith(GetItemCommand, { TableName: TABLE, Key: { approvalId: { S: item.approvalId } }, ConsistentRead: true });
    expect(ddb).toHaveReceivedNthCommandWith(2, UpdateItemCommand, {
      ...CLAIM,
      TableName: TABLE,
      ExpressionAttributeValues: expect.objectContaining({ ':user': { S: 'U0123ABCDEF' } }),
    });
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, {
      taskToken: item.taskToken,
      output: JSON.stringify({
        approved: true,
        decidedBy: 'U0123ABCDEF',
        decidedAt: NOW,
        via: 'cli',
        comment: 'Slack is down; agreed on the bridge call',
        operator: { user: 'oncall', host: 'laptop-7' },
      }),
    });
    expect(JSON.parse(cli.lines[0]!)).toEqual({
      approvalId: item.approvalId,
      executionId: item.executionId,
      outcome: 'approved',
      decidedBy: 'U0123ABCDEF',
      decidedAt: NOW,
      via: 'cli',
      comment: 'Slack is down; agreed on the bridge call',
      operator: { user: 'oncall', host: 'laptop-7' },
      recorded: true,
    });
  });

  it("records the audit on the approval item: who (Slack id), via cli, why, and the operator's local user and host", async () => {
    await main(args('approve'), io());

    expect(ddb).toHaveReceivedNthCommandWith(3, UpdateItemCommand, {
      TableName: TABLE,
      ConditionExpression: '#status = :from',
      ExpressionAttributeValues: expect.objectContaining({
        ':status': { S: 'approved' },
        ':from': { S: 'deciding' },
        ':user': { S: 'U0123ABCDEF' },
        ':decidedVia': { S: 'cli' },
        ':decisionComment': { S: 'Slack is down; agreed on the bridge call' },
        ':operatorUser': { S: 'oncall' },
        ':operatorHost': { S: 'laptop-7' },
      }),
    });
  });

  it('reject: SendTaskFailure ApprovalRejected whose cause names the approver, the operator and the reason', async () => {
    const cli = io();

    expect(await main(args('reject'), cli)).toBe(0);

    expect(sfn).toHaveReceivedCommandWith(SendTaskFailureCommand, {
      taskToken: item.taskToken,
      error: 'ApprovalRejected',
      cause: 'Rejected with the operator CLI by U0123ABCDEF (operator oncall@laptop-7): Slack is down; agreed on the bridge call',
    });
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 0);
    expect(JSON.parse(cli.lines[0]!)).toMatchObject({ outcome: 'rejected', via: 'cli', operator: { user: 'oncall', host: 'laptop-7' } });
  });

  it("uses the plan's recovery region unless --region is given, for both the table and Step Functions", async () => {
    await main(args('approve', ['--region', 'eu-central-1', '--approvals-table', 'my-approvals']), io());

    expect(ddb).toHaveReceivedCommandWith(GetItemCommand, { TableName: 'my-approvals' });
    expect(await ddb.call(0).thisValue.config.region()).toBe('eu-central-1');
    expect(await sfn.call(0).thisValue.config.region()).toBe('eu-central-1');
  });

  it("refuses a Slack id that is not on the approval's approver list: no claim, no Step Functions, exit 1", async () => {
    const cli = io();

    const code = await main([...args('approve').slice(0, 5), '--as', 'U9999NOTLISTED', '--reason', 'trust me'], cli);

    expect(code).toBe(1);
    expect(cli.errors.join('\n')).toContain('NotAnApprover: U9999NOTLISTED is not on the approver list');
    expect(ddb).toHaveReceivedCommandTimes(UpdateItemCommand, 0);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('changes nothing on an approval already decided, and says by whom and how', async () => {
    const decided = approvalAttributes({ ...item, status: 'approved', decidedBy: 'U0456GHIJKL', decidedAt: '2026-11-22T03:01:00.000Z' });
    ddb.on(GetItemCommand).resolves({ Item: { ...decided, decidedVia: { S: 'slack' } } });
    const cli = io();

    expect(await main(args('reject'), cli)).toBe(1);

    expect(cli.errors.join('\n')).toContain('already approved by U0456GHIJKL via slack at 2026-11-22T03:01:00.000Z');
    expect(ddb).toHaveReceivedCommandTimes(UpdateItemCommand, 0);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('loses cleanly to a simultaneous Slack click (the conditional claim): no Step Functions call', async () => {
    ddb.on(UpdateItemCommand, CLAIM).rejects(
      new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: {},
        Item: approvalAttributes({ ...item, status: 'deciding', decidedBy: 'U0456GHIJKL' }),
      }),
    );
    const cli = io();

    expect(await main(args('approve'), cli)).toBe(1);

    expect(cli.errors.join('\n')).toContain('claimed first by U0456GHIJKL');
    expect(sfn.calls()).toHaveLength(0);
  });

  it("after expiresAt marks the approval expired and sends nothing (the gate's timeout decides)", async () => {
    stored({ expiresAt: '2026-11-22T03:04:04.000Z' });

    expect(await main(args('approve'), io())).toBe(1);

    expect(sfn.calls()).toHaveLength(0);
    expect(ddb).toHaveReceivedCommandWith(UpdateItemCommand, {
      ConditionExpression: '#status = :from',
      ExpressionAttributeValues: expect.objectContaining({ ':status': { S: 'expired' }, ':from': { S: 'pending' } }),
    });
  });

  it('marks the approval expired when Step Functions says the gate timed out', async () => {
    sfn.on(SendTaskSuccessCommand).rejects(new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} }));
    const cli = io();

    expect(await main(args('approve'), cli)).toBe(1);

    expect(cli.errors.join('\n')).toContain('no longer waits (TaskTimedOut)');
    expect(ddb).toHaveReceivedCommandWith(UpdateItemCommand, {
      ConditionExpression: '#status = :from',
      ExpressionAttributeValues: expect.objectContaining({ ':status': { S: 'expired' }, ':from': { S: 'deciding' } }),
    });
  });

  it('releases the claim when Step Functions fails otherwise, so the decision can be made again', async () => {
    sfn.on(SendTaskSuccessCommand).rejects(new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', message: 'Rate exceeded', $metadata: {} }));
    const cli = io();

    expect(await main(args('approve'), cli)).toBe(1);

    expect(cli.errors.join('\n')).toContain('the claim was released and nothing was decided');
    expect(ddb).toHaveReceivedCommandWith(UpdateItemCommand, { ConditionExpression: '#status = :deciding' });
    expect(ddb).not.toHaveReceivedCommandWith(UpdateItemCommand, { ConditionExpression: '#status = :from' });
  });

  it('says so when the approval id is not in the table', async () => {
    ddb.on(GetItemCommand).resolves({});
    const cli = io();

    expect(await main(args('approve'), cli)).toBe(1);

    expect(cli.errors.join('\n')).toContain(`approval ${item.approvalId} not found in ${TABLE} (eu-west-1)`);
    expect(sfn.calls()).toHaveLength(0);
  });

  it.each([
    ['a missing --approval-id', ['approve', '--stage', 'example', '--as', 'U0123ABCDEF', '--reason', 'Slack is down'], '--approval-id'],
    [
      'a malformed --approval-id',
      ['approve', '--stage', 'example', '--approval-id', 'arn:aws:states:task-token', '--as', 'U0123ABCDEF', '--reason', 'Slack is down'],
      '--approval-id',
    ],
    ['a missing --as', ['approve', '--stage', 'example', '--approval-id', item.approvalId, '--reason', 'Slack is down'], '--as'],
    ['an --as that is not a Slack user id', ['reject', '--stage', 'example', '--approval-id', item.approvalId, '--as', 'alice@example.com', '--reason', 'Slack is down'], '--as'],
    ['a missing --reason', ['approve', '--stage', 'example', '--approval-id', item.approvalId, '--as', 'U0123ABCDEF'], '--reason'],
    ['a --reason that says nothing', ['approve', '--stage', 'example', '--approval-id', item.approvalId, '--as', 'U0123ABCDEF', '--reason', ' ok '], '--reason'],
    ['--dry-run', [...args('approve'), '--dry-run'], '--dry-run'],
  ])('fails fast on %s, naming the option, before any AWS call (InvalidInput, exit 2)', async (_label, argv, option) => {
    const cli = io();
    cli.loadPlan = () => {
      throw new Error('the plan is not even loaded for bad input');
    };

    expect(await main(argv as string[], cli)).toBe(2);

    expect(cli.errors.join('\n')).toMatch(new RegExp(`^InvalidInput: ${option.replace(/-/g, '\\-')}`));
    expect(ddb.calls()).toHaveLength(0);
    expect(sfn.calls()).toHaveLength(0);
  });
});
