import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient, type ExecutionListItem } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { acceptStartRequest, handler, type AcceptStartInput } from '../../functions/accept-start-request';
import { examplePlan, ROOT } from '../helpers/plan';
import { NOW, stageContext } from '../helpers/stage';

const sfn = mockClient(SFNClient);

const STATE_MACHINE = 'arn:aws:states:eu-west-1:111122223333:stateMachine:payments-failover';
const executionArn = (name: string) => `arn:aws:states:eu-west-1:111122223333:execution:payments-failover:${name}`;
const SELF = { id: executionArn('self'), startTime: '2025-03-04T10:00:00.000Z', stateMachineId: STATE_MACHINE };

/** A sample event (events/samples/*.json), as EventBridge or the scheduler delivers it. */
function sample(name: string): Record<string, any> {
  return JSON.parse(readFileSync(join(ROOT, 'events', 'samples', `${name}.json`), 'utf8'));
}

/** The sample CloudWatch "Alarm State Change" event, for `alarmName` in `state`. */
function alarmEvent(alarmName: string, state = 'ALARM') {
  const event = sample('health-alarm');
  event.resources = [`arn:aws:cloudwatch:eu-west-1:111122223333:alarm:${alarmName}`];
  event.detail.alarmName = alarmName;
  event.detail.state.value = state;
  return event;
}

const manualStart = (overrides: Record<string, unknown> = {}) => ({ mode: 'failover', reason: 'us-east-1 is down, declared by incident commander', requestedBy: 'alice@example.com', ...overrides });

function input(request: unknown, execution = SELF): AcceptStartInput {
  return { request, plan: examplePlan(), execution };
}

function running(name: string, startDate: string): ExecutionListItem {
  return { executionArn: executionArn(name), stateMachineArn: STATE_MACHINE, name, status: 'RUNNING', startDate: new Date(startDate) };
}

const ctx = stageContext();

beforeEach(() => {
  sfn.reset();
  sfn.on(ListExecutionsCommand).resolves({ executions: [running('self', SELF.startTime)] });
});

describe('accept-start-request: what started the execution', () => {
  it('reads a health alarm of the plan as an alarm-triggered failover', async () => {
    const result = await acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health')), ctx);

    expect(result).toEqual({
      trigger: 'alarm',
      mode: 'failover',
      alarmName: 'payments-us-east-1-api-health',
      alarmKind: 'health',
      reason: expect.stringContaining('Threshold Crossed'),
      requestedBy: 'alarm:payments-us-east-1-api-health',
      executionId: SELF.id,
      startedAt: NOW.toISOString(),
    });
  });

  it('reads a replication-lag alarm of the plan as alarm kind replication-lag', async () => {
    const result = await acceptStartRequest(input(alarmEvent('payments-ledger-replication-lag')), ctx);

    expect(result).toMatchObject({ trigger: 'alarm', alarmKind: 'replication-lag' });
  });

  it('reads a database alarm of the plan as alarm kind database', async () => {
    const result = await acceptStartRequest(input(alarmEvent('payments-us-east-1-ledger-writer-down')), ctx);

    expect(result).toMatchObject({ trigger: 'alarm', alarmKind: 'database' });
  });

  it('refuses an alarm of another plan with InvalidInput naming request.detail.alarmName', async () => {
    await expect(acceptStartRequest(input(alarmEvent('checkout-us-east-1-api-health')), ctx)).rejects.toMatchObject({
      name: 'InvalidInput',
      message: 'request.detail.alarmName: checkout-us-east-1-api-health is not an alarm of plan payments',
    });
    expect(sfn).not.toHaveReceivedCommand(ListExecutionsCommand);
  });

  it('refuses an alarm that went back to OK', async () => {
    await expect(acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health', 'OK')), ctx)).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringContaining('request.detail.state.value: OK'),
    });
  });

  it('refuses a CloudWatch event without the alarm detail, naming the missing field', async () => {
    const event: Record<string, any> = alarmEvent('payments-us-east-1-api-health');
    delete event.detail.alarmName;

    await expect(acceptStartRequest(input(event), ctx)).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringContaining('request.detail.alarmName'),
    });
  });

  it('accepts a manual start as the operator wrote it', async () => {
    const result = await acceptStartRequest(input(sample('manual-failover')), ctx);

    expect(result).toEqual({
      trigger: 'manual',
      mode: 'failover',
      reason: 'us-east-1 payments API down, confirmed by on-call',
      requestedBy: 'alice@payments.example.com',
      executionId: SELF.id,
      startedAt: NOW.toISOString(),
    });
  });

  it('refuses an unknown mode with InvalidInput naming request.mode', async () => {
    await expect(acceptStartRequest(input(manualStart({ mode: 'sideways' })), ctx)).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringContaining('request.mode'),
    });
  });

  it('refuses a manual start with a key it does not know', async () => {
    await expect(acceptStartRequest(input(manualStart({ force: true })), ctx)).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringContaining('force'),
    });
  });

  it('refuses a manual start that does not say why', async () => {
    const { reason: _omitted, ...withoutReason } = manualStart();

    await expect(acceptStartRequest(input(withoutReason), ctx)).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringContaining('request.reason'),
    });
  });

  it('refuses a request that is not a JSON object', async () => {
    await expect(acceptStartRequest(input('fail over now'), ctx)).rejects.toMatchObject({ name: 'InvalidInput', message: expect.stringMatching(/^request: must be a JSON object/) });
  });

  it('reads the drill schedule input as trigger schedule', async () => {
    const result = await acceptStartRequest(input(sample('scheduled-drill')), ctx);

    expect(result).toMatchObject({ trigger: 'schedule', mode: 'drill', requestedBy: 'eventbridge-scheduler' });
  });
});

describe('accept-start-request: handler input validation', () => {
  it('refuses an input without the execution context with InvalidInput', async () => {
    await expect(handler({ request: manualStart(), plan: examplePlan() })).rejects.toMatchObject({ name: 'InvalidInput', message: expect.stringContaining('execution') });
  });

  it('refuses an invalid plan in the execution input with InvalidPlan naming the plan field', async () => {
    const plan = { ...examplePlan(), recoveryRegion: 'eu-west-9' };

    await expect(handler({ request: manualStart(), plan, execution: SELF })).rejects.toMatchObject({
      name: 'InvalidPlan',
      message: expect.stringContaining('plan.recoveryRegion: eu-west-9 is not an AWS region'),
    });
  });
});

describe('accept-start-request: duplicate starts (single flight)', () => {
  it('marks the execution a duplicate of an older running one for the same incident (another health alarm of the failing primary)', async () => {
    sfn.on(ListExecutionsCommand).resolves({ executions: [running('self', SELF.startTime), running('older', '2025-03-04T09:59:59.000Z')] });
    sfn.on(DescribeExecutionCommand).resolves({ input: JSON.stringify(alarmEvent('payments-us-east-1-api-health')) });

    const result = await acceptStartRequest(input(alarmEvent('payments-us-east-1-ledger-health')), ctx);

    expect(result.duplicateOf).toBe(executionArn('older'));
    expect(sfn).toHaveReceivedCommandWith(ListExecutionsCommand, { stateMachineArn: STATE_MACHINE, statusFilter: 'RUNNING' });
    expect(sfn).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: executionArn('older') });
  });

  it('does not let an older run for another incident swallow this one (a partition parked at its approval gate vs. a region outage)', async () => {
    sfn.on(ListExecutionsCommand).resolves({ executions: [running('self', SELF.startTime), running('partition', '2025-03-04T09:50:00.000Z')] });
    sfn.on(DescribeExecutionCommand).resolves({ input: JSON.stringify(alarmEvent('payments-ledger-replication-lag')) });

    const result = await acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health')), ctx);

    expect(result.duplicateOf).toBeUndefined();
  });

  it('treats an identical manual start submitted twice as one', async () => {
    sfn.on(ListExecutionsCommand).resolves({ executions: [running('self', SELF.startTime), running('first-click', '2025-03-04T09:59:58.000Z')] });
    sfn.on(DescribeExecutionCommand).resolves({ input: JSON.stringify(manualStart()) });

    const result = await acceptStartRequest(input(manualStart()), ctx);

    expect(result.duplicateOf).toBe(executionArn('first-click'));
  });

  it('does not let an older running drill block a real failover', async () => {
    sfn.on(ListExecutionsCommand).resolves({ executions: [running('self', SELF.startTime), running('drill', '2025-03-04T09:30:00.000Z')] });
    sfn.on(DescribeExecutionCommand).resolves({ input: JSON.stringify(sample('scheduled-drill')) });

    const result = await acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health')), ctx);

    expect(result.duplicateOf).toBeUndefined();
  });

  it('makes a drill yield to anything running, even a failover started after it', async () => {
    sfn.on(ListExecutionsCommand).resolves({ executions: [running('self', SELF.startTime), running('newer', '2025-03-04T10:00:30.000Z')] });
    sfn.on(DescribeExecutionCommand).resolves({ input: JSON.stringify(alarmEvent('payments-us-east-1-api-health')) });

    const result = await acceptStartRequest(input(sample('scheduled-drill')), ctx);

    expect(result.duplicateOf).toBe(executionArn('newer'));
  });

  it('lets exactly one of two simultaneous drills go on (the older one), not cancel both', async () => {
    sfn.on(ListExecutionsCommand).resolves({ executions: [running('self', SELF.startTime), running('newer-drill', '2025-03-04T10:00:30.000Z')] });
    sfn.on(DescribeExecutionCommand).resolves({ input: JSON.stringify(sample('scheduled-drill')) });

    const result = await acceptStartRequest(input(sample('scheduled-drill')), ctx);

    expect(result.duplicateOf).toBeUndefined();
  });

  it('makes a drill yield to an older running drill', async () => {
    sfn.on(ListExecutionsCommand).resolves({ executions: [running('self', SELF.startTime), running('older-drill', '2025-03-04T09:59:00.000Z')] });
    sfn.on(DescribeExecutionCommand).resolves({ input: JSON.stringify(sample('scheduled-drill')) });

    const result = await acceptStartRequest(input(sample('scheduled-drill')), ctx);

    expect(result.duplicateOf).toBe(executionArn('older-drill'));
  });

  it('does not make a failover yield to one started after it', async () => {
    sfn.on(ListExecutionsCommand).resolves({ executions: [running('newer', '2025-03-04T10:00:30.000Z'), running('self', SELF.startTime)] });

    const result = await acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health')), ctx);

    expect(result.duplicateOf).toBeUndefined();
    expect(sfn).not.toHaveReceivedCommand(DescribeExecutionCommand);
  });

  it('breaks a tie in start time by execution ARN, so exactly one of two simultaneous starts goes on', async () => {
    const twin = { ...SELF, id: executionArn('a-twin') };
    sfn.on(ListExecutionsCommand).resolves({ executions: [running('self', SELF.startTime), running('a-twin', SELF.startTime)] });
    sfn.on(DescribeExecutionCommand).resolves({ input: JSON.stringify(alarmEvent('payments-us-east-1-api-health')) });

    const self = await acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health')), ctx);
    const other = await acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health'), twin), ctx);

    expect(self.duplicateOf).toBe(executionArn('a-twin'));
    expect(other.duplicateOf).toBeUndefined();
  });

  it('sets no duplicateOf when no other execution is running', async () => {
    const result = await acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health')), ctx);

    expect(result).not.toHaveProperty('duplicateOf');
    expect(sfn).not.toHaveReceivedCommand(DescribeExecutionCommand);
  });

  it('reads every page of running executions', async () => {
    sfn
      .on(ListExecutionsCommand)
      .resolvesOnce({ executions: [running('self', SELF.startTime)], nextToken: 'page-2' })
      .resolvesOnce({ executions: [running('older', '2025-03-04T09:59:00.000Z')] });
    sfn.on(DescribeExecutionCommand).resolves({ input: JSON.stringify(manualStart()) });

    const result = await acceptStartRequest(input(manualStart()), ctx);

    expect(result.duplicateOf).toBe(executionArn('older'));
    expect(sfn).toHaveReceivedCommandWith(ListExecutionsCommand, { stateMachineArn: STATE_MACHINE, nextToken: 'page-2' });
  });

  it('asks Step Functions in the region the orchestrator runs in', async () => {
    await acceptStartRequest(input(manualStart()), ctx);

    const [call] = sfn.commandCalls(ListExecutionsCommand);
    await expect((call!.thisValue as SFNClient).config.region()).resolves.toBe('eu-west-1');
  });
});
