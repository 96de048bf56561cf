/**
 * AcceptStartRequest: reading the start request, and the single-flight lease it takes
 * (functions/core/single-flight.ts). The lease lives in dynalite, an in-memory DynamoDB on
 * 127.0.0.1 (free port), so the conditional writes are judged by a DynamoDB engine.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { acceptStartRequest, handler, type AcceptStartInput } from '../../functions/accept-start-request';
import { failoverLeaseId, markActing, readLease, release } from '../../functions/core/single-flight';
import { useDynaliteLeaseTable } from '../helpers/lease-table';
import { examplePlan, ROOT } from '../helpers/plan';
import { NOW, stageContext } from '../helpers/stage';

const STATE_MACHINE = 'arn:aws:states:eu-west-1:111122223333:stateMachine:payments-failover';
const executionArn = (name: string) => `arn:aws:states:eu-west-1:111122223333:execution:payments-failover:${name}`;
const execution = (name: string) => ({ id: executionArn(name), startTime: NOW.toISOString(), stateMachineId: STATE_MACHINE });
const SELF = execution('self');

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

const manualStart = (overrides: Record<string, unknown> = {}) => ({
  mode: 'failover',
  reason: 'us-east-1 is down, declared by incident commander',
  requestedBy: 'alice@example.com',
  ...overrides,
});

const plan = examplePlan();
function input(request: unknown, exec = SELF): AcceptStartInput {
  return { request, plan, execution: exec };
}

const ctx = stageContext();
const later = (seconds: number) => stageContext(new Date(NOW.getTime() + seconds * 1000));
const lease = () => readLease(failoverLeaseId(plan));

/** A fresh, empty lease table per test, on dynalite. */
useDynaliteLeaseTable();

describe('accept-start-request: what started the execution', () => {
  it('reads a health alarm of the plan as an alarm-triggered failover, with faultAt = the start of the alarm evaluation window (reasonData.startDate)', async () => {
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
      // events/samples/health-alarm.json: reasonData.startDate 2026-11-03T02:59:00.000+0000, state change at 03:02:11
      // (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html); faultTimeOf itself is
      // tested in confirm-region-failure.test.ts.
      faultAt: '2026-11-03T02:59:00.000Z',
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

  it('accepts a manual start as the operator wrote it (no faultAt: the stages read the gap at startedAt)', async () => {
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
    await expect(acceptStartRequest(input('fail over now'), ctx)).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringMatching(/^request: must be a JSON object/),
    });
  });

  it('reads the drill schedule input as trigger schedule', async () => {
    const result = await acceptStartRequest(input(sample('scheduled-drill')), ctx);

    expect(result).toMatchObject({ trigger: 'schedule', mode: 'drill', requestedBy: 'eventbridge-scheduler' });
  });
});

describe('accept-start-request: handler input validation', () => {
  it('refuses an input without the execution context with InvalidInput', async () => {
    await expect(handler({ request: manualStart(), plan })).rejects.toMatchObject({ name: 'InvalidInput', message: expect.stringContaining('execution') });
  });

  it('refuses an invalid plan in the execution input with InvalidPlan naming the plan field', async () => {
    const badPlan = { ...examplePlan(), recoveryRegion: 'eu-west-9' };

    await expect(handler({ request: manualStart(), plan: badPlan, execution: SELF })).rejects.toMatchObject({
      name: 'InvalidPlan',
      message: expect.stringContaining('plan.recoveryRegion: eu-west-9 is not an AWS region'),
    });
  });
});

describe('accept-start-request: duplicate starts (single flight)', () => {
  it('takes the plan’s lease and sets no duplicateOf when nothing else runs', async () => {
    const result = await acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health')), ctx);

    expect(result).not.toHaveProperty('duplicateOf');
    expect(await lease()).toMatchObject({ ownerId: SELF.id, incidentKey: 'alarm:primary-unhealthy', phase: 'deciding', acquiredAt: NOW.toISOString() });
  });

  it('lets exactly one of two simultaneous starts for the same alarm go on; the other is its duplicate, with the reason', async () => {
    const [a, b] = await Promise.all([
      acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health'), execution('a')), ctx),
      acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health'), execution('b')), ctx),
    ]);

    const owner = (await lease())!.ownerId;
    expect([a, b].filter((r) => r.duplicateOf === undefined).map((r) => r.executionId)).toEqual([owner]);
    expect([a, b].find((r) => r.duplicateOf !== undefined)).toMatchObject({ duplicateOf: owner, duplicateReason: expect.stringContaining('same incident') });
  });

  it('marks another health alarm of the failing primary a duplicate of the run that owns it', async () => {
    await acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health'), execution('first')), ctx);

    const result = await acceptStartRequest(input(alarmEvent('payments-us-east-1-ledger-writer-down')), later(5));

    expect(result.duplicateOf).toBe(executionArn('first'));
  });

  it('does not let a run for another incident parked at its approval gate swallow this one (a partition vs. a region outage)', async () => {
    await acceptStartRequest(input(alarmEvent('payments-ledger-replication-lag'), execution('partition')), ctx);

    const result = await acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health')), later(600));

    expect(result).not.toHaveProperty('duplicateOf');
    expect(result.tookOverFrom).toBe(executionArn('partition'));
    expect((await lease())!.ownerId).toBe(SELF.id);
  });

  it('makes a replication-lag alarm (which a real outage raises too) a duplicate of the region-outage run', async () => {
    await acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health'), execution('outage')), ctx);

    const result = await acceptStartRequest(input(alarmEvent('payments-ledger-replication-lag')), later(60));

    expect(result.duplicateOf).toBe(executionArn('outage'));
  });

  it('makes every start a duplicate once the owner has begun to act', async () => {
    await acceptStartRequest(input(alarmEvent('payments-ledger-replication-lag'), execution('partition')), ctx);
    await markActing(plan, executionArn('partition'), later(30).now());

    const result = await acceptStartRequest(input(manualStart()), later(60));

    expect(result).toMatchObject({ duplicateOf: executionArn('partition'), duplicateReason: expect.stringContaining('already failing over') });
  });

  it('treats an identical manual start submitted twice as one', async () => {
    await acceptStartRequest(input(manualStart(), execution('first-click')), ctx);

    const result = await acceptStartRequest(input(manualStart()), later(2));

    expect(result.duplicateOf).toBe(executionArn('first-click'));
  });

  describe('after a failover moved traffic (cool-down)', () => {
    beforeEach(async () => {
      await acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health'), execution('failed-over')), ctx);
      await release(plan, executionArn('failed-over'), later(600).now(), { failedOver: true });
    });
    const until = new Date(NOW.getTime() + (600 + plan.singleFlight.cooldownSeconds) * 1000).toISOString();

    it('ends an alarm-started run as a duplicate of that failover, saying until when', async () => {
      const result = await acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health')), later(700));

      expect(result).toMatchObject({ duplicateOf: executionArn('failed-over'), duplicateReason: expect.stringContaining(`cooling down until ${until}`) });
    });

    it('fails a manual start fast with CooldownActive naming until when', async () => {
      await expect(acceptStartRequest(input(manualStart()), later(700))).rejects.toMatchObject({ name: 'CooldownActive', message: expect.stringContaining(until) });
    });
  });

  it('does not let a running drill block a real failover', async () => {
    await acceptStartRequest(input(sample('scheduled-drill'), execution('drill')), ctx);

    const result = await acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health')), later(30));

    expect(result).not.toHaveProperty('duplicateOf');
  });

  it('makes a drill yield to a real run that holds the lease', async () => {
    await acceptStartRequest(input(alarmEvent('payments-us-east-1-api-health'), execution('real')), ctx);

    const result = await acceptStartRequest(input(sample('scheduled-drill')), later(30));

    expect(result.duplicateOf).toBe(executionArn('real'));
    expect((await lease())!.ownerId).toBe(executionArn('real'));
  });

  it('lets exactly one of two simultaneous drills go on, not cancel both', async () => {
    const results = await Promise.all([
      acceptStartRequest(input(sample('scheduled-drill'), execution('drill-a')), ctx),
      acceptStartRequest(input(sample('scheduled-drill'), execution('drill-b')), ctx),
    ]);

    expect(results.filter((r) => r.duplicateOf === undefined)).toHaveLength(1);
  });

  it('takes no lease for a request it refuses', async () => {
    await expect(acceptStartRequest(input(alarmEvent('checkout-us-east-1-api-health')), ctx)).rejects.toMatchObject({ name: 'InvalidInput' });

    expect(await lease()).toBeUndefined();
  });
});
