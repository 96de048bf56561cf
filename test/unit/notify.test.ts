import { clearCaches } from '@aws-lambda-powertools/parameters';
import { ConditionalCheckFailedException, DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import type { FailoverState, ResourceStep } from '../../functions/core/contract';
import { logger } from '../../functions/core/powertools';
import { handler, notify, type NotifyInput } from '../../functions/notify';
import { detectionFixture, startFixture } from '../helpers/fixtures';
import { examplePlan } from '../helpers/plan';
import { mockFetch, regionOf, stageContext } from '../helpers/stage';
import { commandNames } from '../helpers/commands';

const eventbridge = mockClient(EventBridgeClient);
const ssm = mockClient(SSMClient);
const dynamodb = mockClient(DynamoDBClient);
process.env.LEASE_TABLE = 'failover-orchestrator-test-leases';

const BOT_TOKEN = 'xoxb-1111-2222-abcdefghijklmnop';
const TOKEN_PARAMETER = '/failover/example/slack-bot-token';
const EXECUTION_ID = startFixture().executionId;

function step(resource: string, overrides: Partial<ResourceStep> = {}): ResourceStep {
  return {
    resource,
    kind: 'aurora-global',
    done: true,
    phase: 'promoted',
    detail: 'done',
    mutated: true,
    startedAt: '2025-03-04T10:01:00.000Z',
    deadline: '2025-03-04T10:11:00.000Z',
    finishedAt: '2025-03-04T10:03:00.000Z',
    ...overrides,
  };
}

/** The state document of a finished failover. */
function finishedState(overrides: Partial<FailoverState> = {}): NotifyInput['state'] {
  const state: FailoverState = {
    request: { mode: 'failover', reason: 'us-east-1 is down', requestedBy: 'alice@example.com' },
    plan: examplePlan(),
    start: startFixture(),
    detection: detectionFixture({ classification: 'region-outage', approvalRequired: false, startedAt: '2025-03-04T10:00:01.000Z', finishedAt: '2025-03-04T10:00:09.000Z' }),
    fence: {
      confirmed: true,
      approvalNeeded: false,
      steps: [{ resource: 'payments-api', kind: 'ecs-service', status: 'confirmed', confirmed: true, action: 'scale-to-zero', detail: 'desiredCount 0' }],
      startedAt: '2025-03-04T10:00:10.000Z',
      finishedAt: '2025-03-04T10:00:40.000Z',
    },
    recovery: {
      promotion: [step('ledger', { lagSecondsAtPromotion: 2.5 }), step('accounts', { kind: 'rds-replica', lagSecondsAtPromotion: 4, finishedAt: '2025-03-04T10:04:00.000Z' })],
      scale: [step('payments-api', { kind: 'ecs-service', phase: 'steady' })],
      traffic: [step('api', { kind: 'route53-record', phase: 'insync', startedAt: '2025-03-04T10:04:00.000Z', finishedAt: '2025-03-04T10:04:30.000Z' })],
    },
    smoke: { passed: true, checks: [], startedAt: '2025-03-04T10:04:31.000Z', finishedAt: '2025-03-04T10:04:40.000Z' },
    ...overrides,
  };
  return state as unknown as NotifyInput['state'];
}

function input(outcome: NotifyInput['outcome'] = 'succeeded', state = finishedState()): NotifyInput {
  return { outcome, execution: { id: EXECUTION_ID, startTime: '2025-03-04T10:00:00.000Z' }, state };
}

/** The summary the EventBridge event carried. */
function sentDetail(): Record<string, any> {
  const [call] = eventbridge.commandCalls(PutEventsCommand);
  return JSON.parse(call!.args[0].input.Entries![0]!.Detail!);
}

let fetchSpy: jest.SpiedFunction<typeof fetch>;

/** The text of the Slack message posted. */
function slackText(): string {
  return JSON.parse(String(fetchSpy.mock.calls[0]![1]!.body)).text;
}

const ctx = stageContext();

beforeEach(() => {
  eventbridge.reset();
  ssm.reset();
  dynamodb.reset();
  dynamodb.on(UpdateItemCommand).resolves({});
  clearCaches();
  ssm.on(GetParameterCommand, { Name: TOKEN_PARAMETER }).resolves({ Parameter: { Name: TOKEN_PARAMETER, Type: 'SecureString', Value: BOT_TOKEN } });
  eventbridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'b8e7f0d2-1111-2222-3333-444455556666' }] });
  fetchSpy = mockFetch(() => new Response(JSON.stringify({ ok: true, channel: 'C0123FAILOVER', ts: '1741082700.000200' }), { status: 200 }));
});

afterEach(() => {
  jest.restoreAllMocks();
});

describe('notify', () => {
  it('still announces a run whose state holds a part that does not match the contract, going without that part (notify must work on every path)', async () => {
    const state = { ...finishedState(), fence: { confirmed: 'maybe', steps: 'unreadable' }, approval: { approved: true } } as unknown as NotifyInput['state'];

    await expect(handler(input('failed', state))).resolves.toBeDefined();

    expect(eventbridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    expect(sentDetail()).toMatchObject({ outcome: 'failed' });
    expect(sentDetail().fence ?? null).toBeNull();
  });

  it('names a bad plan in the state InvalidPlan, like every stage does, before sending anything', async () => {
    const state = finishedState();
    const bad = { ...state, plan: { ...state.plan, rpoBudgetSeconds: -5 } } as unknown as NotifyInput['state'];

    await expect(handler(input('failed', bad))).rejects.toMatchObject({ name: 'InvalidPlan', message: expect.stringContaining('rpoBudgetSeconds') });
    expect(eventbridge).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('puts a Failover Succeeded event on the plan bus, in the recovery region', async () => {
    const result = await notify(input(), ctx);

    expect(eventbridge).toHaveReceivedCommandWith(PutEventsCommand, {
      Entries: [{ EventBusName: 'failover-events', Source: 'failover.orchestrator', DetailType: 'Failover Succeeded', Detail: expect.any(String), Resources: [EXECUTION_ID] }],
    });
    await expect(regionOf(eventbridge.commandCalls(PutEventsCommand)[0]!)).resolves.toBe('eu-west-1');
    expect(result).toEqual({
      detailType: 'Failover Succeeded',
      slackTs: '1741082700.000200',
      eventId: 'b8e7f0d2-1111-2222-3333-444455556666',
      lease: { released: true, cooldownUntil: '2025-03-04T10:35:00.000Z' },
    });
  });

  it('carries per-stage timings, the data-loss estimate and an idempotency key in the event detail', async () => {
    await notify(input(), ctx);

    const detail = sentDetail();
    expect(detail.stages).toEqual([
      { name: 'confirm-region-failure', status: 'succeeded', startedAt: '2025-03-04T10:00:01.000Z', durationMs: 8000 },
      { name: 'fence-us-writers', status: 'succeeded', startedAt: '2025-03-04T10:00:10.000Z', durationMs: 30000 },
      { name: 'promote-eu-database', status: 'succeeded', startedAt: '2025-03-04T10:01:00.000Z', durationMs: 180000 },
      { name: 'scale-eu-compute', status: 'succeeded', startedAt: '2025-03-04T10:01:00.000Z', durationMs: 120000 },
      { name: 'flip-traffic', status: 'succeeded', startedAt: '2025-03-04T10:04:00.000Z', durationMs: 30000 },
      { name: 'smoke-test', status: 'succeeded', startedAt: '2025-03-04T10:04:31.000Z', durationMs: 9000 },
    ]);
    expect(detail).toMatchObject({
      estimatedDataLossSeconds: 4,
      idempotencyKey: `${EXECUTION_ID}:succeeded`,
      totalSeconds: 300,
      from: 'us-east-1',
      to: 'eu-west-1',
      fence: { confirmed: true, unconfirmed: [] },
    });
  });

  it('reports the gap measured at promotion for a planned switchover (0 once caught up), not an assumed zero', async () => {
    const caughtUp = finishedState({
      start: startFixture({ mode: 'switchover', trigger: 'manual' }),
      recovery: { promotion: [step('accounts', { kind: 'rds-replica', lagSecondsAtPromotion: 0 })], scale: [], traffic: [] },
    });
    await notify(input('succeeded', caughtUp), ctx);
    expect(sentDetail().estimatedDataLossSeconds).toBe(0);

    eventbridge.resetHistory();
    const notCaughtUp = finishedState({
      start: startFixture({ mode: 'switchover', trigger: 'manual' }),
      recovery: { promotion: [step('accounts', { kind: 'rds-replica', lagSecondsAtPromotion: 1.5 })], scale: [], traffic: [] },
    });
    await notify(input('succeeded', notCaughtUp), ctx);
    expect(sentDetail().estimatedDataLossSeconds).toBe(1.5);
  });

  it('says when scale-up did not reach failover capacity, and the run still succeeded', async () => {
    const state = finishedState({
      recovery: {
        promotion: [step('ledger', { lagSecondsAtPromotion: 1 })],
        traffic: [],
        scale: { incomplete: true, error: { Error: 'ScaleDeadlineExceeded', Cause: 'ecs-service payments-api not done' } },
      },
    });

    await notify(input('succeeded', state), ctx);

    expect(sentDetail()).toMatchObject({ outcome: 'succeeded', capacity: { complete: false, error: { Error: 'ScaleDeadlineExceeded' } } });
    expect(slackText()).toContain('Reduced capacity');
  });

  it('posts the summary to the plan Slack channel with the bot token from SSM', async () => {
    await notify(input(), ctx);

    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: TOKEN_PARAMETER, WithDecryption: true });
    const [url, init] = fetchSpy.mock.calls[0]!;
    expect(url).toBe('https://slack.com/api/chat.postMessage');
    expect((init!.headers as Record<string, string>).Authorization).toBe(`Bearer ${BOT_TOKEN}`);
    expect(JSON.parse(String(init!.body))).toMatchObject({ channel: 'C0123FAILOVER' });
    expect(slackText()).toContain('*Failover Succeeded* — payments us-east-1 → eu-west-1');
    expect(slackText()).toContain('Estimated data loss: 4 s (RPO budget 60 s)');
  });

  it('reports a failed execution as Failover Failed, with the error in the Slack text', async () => {
    const state = finishedState({ smoke: undefined, error: { Error: 'SmokeTestFailed', Cause: '1 of 4 smoke checks failed: api-health: HTTP 503, expected 200' } });

    await notify(input('failed', state), ctx);

    expect(eventbridge).toHaveReceivedCommandWith(PutEventsCommand, { Entries: [expect.objectContaining({ DetailType: 'Failover Failed' })] });
    expect(sentDetail()).toMatchObject({ idempotencyKey: `${EXECUTION_ID}:failed`, error: { Error: 'SmokeTestFailed' } });
    expect(slackText()).toContain('Error: `SmokeTestFailed` 1 of 4 smoke checks failed: api-health: HTTP 503, expected 200');
  });

  it('warns in Slack when the fence was not confirmed', async () => {
    const state = finishedState({
      fence: {
        confirmed: false,
        approvalNeeded: true,
        steps: [{ resource: 'payments-api', kind: 'ecs-service', status: 'unconfirmed', confirmed: false, action: 'scale-to-zero', detail: 'us-east-1 unreachable' }],
        startedAt: '2025-03-04T10:00:10.000Z',
        finishedAt: '2025-03-04T10:00:40.000Z',
      },
    });

    await notify(input('succeeded', state), ctx);

    expect(slackText()).toContain(':warning: Fence unconfirmed: payments-api: us-east-1 unreachable');
  });

  it('reports a successful drill as Failover Drill Completed, listing what it would have done', async () => {
    const state = finishedState({
      start: startFixture({ mode: 'drill', trigger: 'schedule' }),
      recovery: {
        promotion: [],
        scale: [],
        traffic: [step('api', { kind: 'route53-record', phase: 'drill', mutated: false, wouldDo: 'api.payments.example.com CNAME weights us-east-1=0, eu-west-1=100' })],
      },
    });

    await notify(input('succeeded', state), ctx);

    expect(eventbridge).toHaveReceivedCommandWith(PutEventsCommand, { Entries: [expect.objectContaining({ DetailType: 'Failover Drill Completed' })] });
    expect(sentDetail()).toMatchObject({
      outcome: 'drill',
      idempotencyKey: `${EXECUTION_ID}:drill`,
      wouldDo: ['api.payments.example.com CNAME weights us-east-1=0, eu-west-1=100'],
    });
  });

  it('reports a run that decided not to fail over as Failover Not Needed, with the reasons in Slack', async () => {
    const state = finishedState({
      detection: detectionFixture({ classification: 'healthy', action: 'notify-only', reasons: ['alarm not confirmed from eu-west-1: no failover'] }),
      recovery: undefined,
      smoke: undefined,
      fence: undefined,
    });

    await notify(input('no-failover', state), ctx);

    expect(eventbridge).toHaveReceivedCommandWith(PutEventsCommand, { Entries: [expect.objectContaining({ DetailType: 'Failover Not Needed' })] });
    expect(slackText()).toContain('Why: alarm not confirmed from eu-west-1: no failover');
  });

  it('fails with NotificationFailed when Slack refuses the message, after still sending the EventBridge event', async () => {
    fetchSpy.mockImplementation(async () => new Response(JSON.stringify({ ok: false, error: 'channel_not_found' }), { status: 200 }));

    await expect(notify(input(), ctx)).rejects.toMatchObject({ name: 'NotificationFailed', message: 'Slack chat.postMessage: channel_not_found' });
    expect(eventbridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    expect(commandNames(eventbridge)).toEqual(['PutEventsCommand']);
  });

  it('fails with NotificationFailed when EventBridge refuses the entry, after still posting to Slack', async () => {
    eventbridge.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'Event bus failover-events does not exist' }] });

    await expect(notify(input(), ctx)).rejects.toMatchObject({
      name: 'NotificationFailed',
      message: 'EventBridge refused the Failover Succeeded event: InternalFailure Event bus failover-events does not exist',
    });
    expect(fetchSpy).toHaveBeenCalledTimes(1);
  });

  it('fails with TransientAwsError when EventBridge is throttled', async () => {
    eventbridge.on(PutEventsCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }));

    await expect(notify(input(), ctx)).rejects.toMatchObject({ name: 'TransientAwsError' });
  });

  describe('the single-flight lease (functions/core/single-flight.ts)', () => {
    /** The release UpdateItem sent, if any. */
    const releaseCall = () => dynamodb.commandCalls(UpdateItemCommand).find((c) => c.args[0].input.ConditionExpression === '#ownerId = :me')?.args[0].input;

    it('releases it after a failover that moved traffic and starts the cool-down (now + cooldownSeconds)', async () => {
      await notify(input('succeeded'), ctx);

      expect(releaseCall()).toMatchObject({
        TableName: 'failover-orchestrator-test-leases',
        Key: { leaseId: { S: 'failover#payments' } },
        ExpressionAttributeValues: { ':me': { S: EXECUTION_ID }, ':until': { S: '2025-03-04T10:35:00.000Z' } },
      });
      expect(releaseCall()!.UpdateExpression).toContain('#cooldownUntil = :until');
      await expect(regionOf(dynamodb.commandCalls(UpdateItemCommand)[0]!)).resolves.toBe('eu-west-1');
    });

    it('releases it without a cool-down when the run decided not to fail over', async () => {
      const state = finishedState({ detection: detectionFixture({ classification: 'healthy', action: 'notify-only' }), recovery: undefined, smoke: undefined, fence: undefined });

      const result = await notify(input('no-failover', state), ctx);

      expect(result.lease).toEqual({ released: true });
      expect(releaseCall()!.UpdateExpression).not.toContain('cooldownUntil');
    });

    it('releases it without a cool-down when the run failed before traffic moved (the operator may start again at once)', async () => {
      const state = finishedState({ recovery: undefined, smoke: undefined, error: { Error: 'PromotionDeadlineExceeded', Cause: 'ledger not done' } });

      await notify(input('failed', state), ctx);

      expect(releaseCall()!.UpdateExpression).not.toContain('cooldownUntil');
    });

    it('starts the cool-down when the run failed after the traffic flip made its change', async () => {
      const state = finishedState({ smoke: undefined, error: { Error: 'SmokeTestFailed', Cause: 'HTTP 503' } });

      await notify(input('failed', state), ctx);

      expect(releaseCall()!.UpdateExpression).toContain('#cooldownUntil = :until');
    });

    it('releases the drill item for a drill, never the failover lease, and starts no cool-down', async () => {
      const state = finishedState({ start: startFixture({ mode: 'drill', trigger: 'schedule' }) });

      await notify(input('succeeded', state), ctx);

      expect(releaseCall()).toMatchObject({ Key: { leaseId: { S: 'failover-drill#payments' } } });
      expect(releaseCall()!.UpdateExpression).not.toContain('cooldownUntil');
    });

    it('still tries to release when the run failed before its start was accepted (a lease taken by a crashed attempt)', async () => {
      const state = finishedState({ start: undefined, error: { Error: 'Lambda.Unknown', Cause: 'timed out' } });

      await notify(input('failed', state), ctx);

      expect(releaseCall()).toMatchObject({ Key: { leaseId: { S: 'failover#payments' } }, ExpressionAttributeValues: { ':me': { S: EXECUTION_ID } } });
    });

    it('does not fail the notification when the release fails, and still sends both messages', async () => {
      dynamodb.on(UpdateItemCommand).rejects(Object.assign(new Error('connect ETIMEDOUT'), { name: 'TimeoutError' }));

      const result = await notify(input(), ctx);

      expect(result).toMatchObject({ detailType: 'Failover Succeeded', lease: { released: false, detail: expect.stringContaining('TimeoutError') } });
      expect(eventbridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
      expect(fetchSpy).toHaveBeenCalledTimes(1);
    });

    it('leaves a lease it does not hold alone (a run that lost it, or a duplicate’s failure)', async () => {
      dynamodb.on(UpdateItemCommand).rejects(
        new ConditionalCheckFailedException({
          message: 'The conditional request failed',
          $metadata: {},
          Item: { leaseId: { S: 'failover#payments' }, ownerId: { S: 'arn:other' } },
        }),
      );

      const result = await notify(input('failed', finishedState({ recovery: undefined, smoke: undefined, error: { Error: 'LeaseLost', Cause: 'taken over' } })), ctx);

      expect(result.lease).toEqual({ released: false, detail: 'held by arn:other' });
    });
  });

  describe('the bot token', () => {
    const captured: string[] = [];

    beforeEach(() => {
      captured.length = 0;
      const capture = (chunk: unknown) => {
        captured.push(String(chunk));
        return true;
      };
      jest.spyOn(process.stdout, 'write').mockImplementation(capture);
      jest.spyOn(process.stderr, 'write').mockImplementation(capture);
      for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
        jest.spyOn(console, method).mockImplementation((...args: unknown[]) => void captured.push(args.map(String).join(' ')));
      }
      // injectLambdaContext resets the level per invocation (test/helpers/logs.ts): keep DEBUG for these tests.
      jest.spyOn(logger, 'refreshSampleRateCalculation').mockImplementation(() => undefined);
      logger.setLogLevel('DEBUG');
    });

    afterEach(() => {
      logger.setLogLevel('SILENT');
    });

    it('never appears in the log output of a successful notification', async () => {
      await handler(input());

      expect(captured.join('\n')).toContain('stage finished');
      expect(captured.join('\n')).not.toContain(BOT_TOKEN);
    });

    it('never appears in the log output when Slack refuses the token', async () => {
      fetchSpy.mockImplementation(async () => new Response(JSON.stringify({ ok: false, error: 'invalid_auth' }), { status: 200 }));

      await expect(handler(input())).rejects.toMatchObject({ name: 'NotificationFailed' });

      expect(captured.join('\n')).toContain('stage failed');
      expect(captured.join('\n')).not.toContain(BOT_TOKEN);
    });

    it('never appears in the log output when Slack cannot be reached', async () => {
      fetchSpy.mockImplementation(async () => {
        throw new TypeError(`fetch failed for Bearer ${BOT_TOKEN}`);
      });

      await expect(handler(input())).rejects.toMatchObject({ name: 'SlackUnavailable' });

      expect(captured.join('\n')).toContain('Slack call failed');
      expect(captured.join('\n')).not.toContain(BOT_TOKEN);
    });
  });
});
