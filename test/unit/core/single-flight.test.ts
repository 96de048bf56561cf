/**
 * The single-flight lease (functions/core/single-flight.ts).
 *
 * Most tests run against dynalite (an in-memory DynamoDB implementation on 127.0.0.1, free port),
 * so the condition and update expressions are judged by a DynamoDB engine, not by our own reading of
 * them. dynalite does not return the item on a failed condition (ReturnValuesOnConditionCheckFailure),
 * which exercises the consistent-read fallback; the ALL_OLD path (one round trip on AWS) and error
 * naming are tested with aws-sdk-client-mock at the end.
 */
import { ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { resetClients } from '../../../functions/core/clients';
import type { Plan } from '../../../functions/core/plan';
import { acquire, decide, drillLeaseId, failoverLeaseId, markActing, readLease, release, type Lease, type LeaseClaim } from '../../../functions/core/single-flight';
import { useDynaliteLeaseTable } from '../../helpers/lease-table';
import { examplePlan } from '../../helpers/plan';

const plan: Plan = examplePlan((raw) => (raw.singleFlight = { leaseSeconds: 3600, cooldownSeconds: 1800 }));
const T0 = new Date('2025-03-04T10:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const exec = (name: string) => `arn:aws:states:eu-west-1:111122223333:execution:payments-failover:${name}`;

const HEALTH = 'alarm:primary-unhealthy';
const REPLICATION = 'alarm:replication';
function claim(name: string, overrides: Partial<LeaseClaim> = {}): LeaseClaim {
  return { executionId: exec(name), incidentKey: HEALTH, precedence: 1, trigger: 'alarm', mode: 'failover', ...overrides };
}
const lagClaim = (name: string) => claim(name, { incidentKey: REPLICATION, precedence: 0 });
const manualClaim = (name: string, mode: LeaseClaim['mode'] = 'failover') => claim(name, { incidentKey: `manual:${mode}:alice@example.com:region down`, trigger: 'manual', mode });
const drillClaim = (name: string) => claim(name, { incidentKey: 'schedule:drill:eventbridge-scheduler:monthly', trigger: 'schedule', mode: 'drill' });

const lease = () => readLease(failoverLeaseId(plan));

describe('against dynalite', () => {
  /** A fresh, empty lease table per test, on dynalite. */
  useDynaliteLeaseTable();

  describe('single flight: taking the lease', () => {
    it('takes a free lease with one item per plan: owner, incident, phase deciding, acquiredAt and expiresAt = acquiredAt + leaseSeconds', async () => {
      await expect(acquire(plan, claim('first'), T0)).resolves.toEqual({ acquired: true, leaseId: 'failover#payments' });

      expect(await lease()).toEqual({
        leaseId: 'failover#payments',
        ownerId: exec('first'),
        incidentKey: HEALTH,
        precedence: 1,
        phase: 'deciding',
        mode: 'failover',
        acquiredAt: '2025-03-04T10:00:00.000Z',
        expiresAt: '2025-03-04T11:00:00.000Z',
      });
    });

    it('gives the lease to exactly one of ten simultaneous starts for the same incident (the ListExecutions race)', async () => {
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => acquire(plan, claim(`twin-${i}`), T0)));

      const winners = results.filter((r) => r.acquired);
      expect(winners).toHaveLength(1);
      const owner = (await lease())!.ownerId;
      for (const r of results.filter((r) => !r.acquired)) expect(r).toMatchObject({ duplicateOf: owner, reason: expect.stringContaining('same incident') });
    });

    it('treats a Lambda retry of the owner as the owner (idempotent)', async () => {
      await acquire(plan, claim('first'), T0);

      await expect(acquire(plan, claim('first'), at(5))).resolves.toMatchObject({ acquired: true });
      expect((await lease())!.ownerId).toBe(exec('first'));
    });

    it('makes a second run for the same incident a duplicate of the owner, leaving the lease as it was', async () => {
      await acquire(plan, claim('first'), T0);
      const before = await lease();

      const result = await acquire(plan, claim('second'), at(1));

      expect(result).toEqual({ acquired: false, leaseId: 'failover#payments', duplicateOf: exec('first'), reason: expect.stringContaining(HEALTH) });
      expect(await lease()).toEqual(before);
    });

    it('takes over from a run for another incident that is still deciding (a partition parked at its gate does not swallow a region outage)', async () => {
      await acquire(plan, lagClaim('partition'), T0);

      const result = await acquire(plan, claim('outage'), at(600));

      expect(result).toEqual({ acquired: true, leaseId: 'failover#payments', tookOverFrom: exec('partition') });
      expect(await lease()).toMatchObject({ ownerId: exec('outage'), incidentKey: HEALTH, phase: 'deciding', tookOverFrom: exec('partition'), acquiredAt: at(600).toISOString() });
    });

    it('lets an operator’s manual start take over from an alarm run still deciding, and the reverse', async () => {
      await acquire(plan, claim('alarm'), T0);
      await expect(acquire(plan, manualClaim('operator'), at(1))).resolves.toMatchObject({ acquired: true, tookOverFrom: exec('alarm') });
      await expect(acquire(plan, claim('alarm-again'), at(2))).resolves.toMatchObject({ acquired: true, tookOverFrom: exec('operator') });
    });

    it('never lets a replication-lag alarm (which a real outage raises too) take over a failing-primary run that is deciding', async () => {
      await acquire(plan, claim('outage'), T0);

      const result = await acquire(plan, lagClaim('lag'), at(30));

      expect(result).toMatchObject({ acquired: false, duplicateOf: exec('outage'), reason: expect.stringContaining('more serious') });
      expect((await lease())!.ownerId).toBe(exec('outage'));
    });

    it('makes any start a duplicate while the owner is acting (it has begun to mutate)', async () => {
      await acquire(plan, lagClaim('partition'), T0);
      await markActing(plan, exec('partition'), at(60));

      await expect(acquire(plan, claim('outage'), at(61))).resolves.toMatchObject({
        acquired: false,
        duplicateOf: exec('partition'),
        reason: expect.stringContaining('already failing over'),
      });
      await expect(acquire(plan, manualClaim('operator'), at(62))).resolves.toMatchObject({ acquired: false, duplicateOf: exec('partition') });
      expect((await lease())!.ownerId).toBe(exec('partition'));
    });

    it('takes a lease whose owner crashed once it has expired (leaseSeconds), for any incident', async () => {
      await acquire(plan, claim('crashed'), T0);
      await markActing(plan, exec('crashed'), at(10));

      await expect(acquire(plan, claim('later'), at(10 + 3599))).resolves.toMatchObject({ acquired: false });
      await expect(acquire(plan, claim('later'), at(10 + 3600))).resolves.toEqual({ acquired: true, leaseId: 'failover#payments' });
      expect(await lease()).toMatchObject({ ownerId: exec('later'), phase: 'deciding' });
    });
  });

  describe('single flight: the cool-down after a failover', () => {
    beforeEach(async () => {
      await acquire(plan, claim('failed-over'), T0);
      await markActing(plan, exec('failed-over'), at(60));
      await expect(release(plan, exec('failed-over'), at(600), { failedOver: true })).resolves.toEqual({ released: true, cooldownUntil: at(600 + 1800).toISOString() });
    });

    it('ends an alarm-started run as a duplicate of the run that failed over, saying until when', async () => {
      const result = await acquire(plan, claim('alarm'), at(700));

      expect(result).toEqual({
        acquired: false,
        leaseId: 'failover#payments',
        duplicateOf: exec('failed-over'),
        reason: expect.stringContaining(`cooling down until ${at(2400).toISOString()}`),
      });
      expect((await lease())!.ownerId).toBeUndefined();
    });

    it('fails a manual start fast with CooldownActive naming until when', async () => {
      await expect(acquire(plan, manualClaim('operator'), at(700))).rejects.toMatchObject({
        name: 'CooldownActive',
        message: expect.stringContaining(`no new failover before ${at(2400).toISOString()}`),
      });
      await expect(acquire(plan, manualClaim('operator', 'switchover'), at(700))).rejects.toMatchObject({ name: 'CooldownActive' });
    });

    it('takes the lease again once the cool-down is over', async () => {
      await expect(acquire(plan, claim('alarm'), at(2399))).resolves.toMatchObject({ acquired: false });
      await expect(acquire(plan, claim('alarm'), at(2400))).resolves.toMatchObject({ acquired: true });
    });

    it('lets a drill run during the cool-down (a drill never changes anything)', async () => {
      await expect(acquire(plan, drillClaim('drill'), at(700))).resolves.toEqual({ acquired: true, leaseId: 'failover-drill#payments' });
    });
  });

  describe('single flight: drills', () => {
    it('makes a drill yield while a real run holds the lease, and never touches the failover lease', async () => {
      await acquire(plan, lagClaim('real'), T0);
      const before = await lease();

      await expect(acquire(plan, drillClaim('drill'), at(1))).resolves.toMatchObject({
        acquired: false,
        duplicateOf: exec('real'),
        reason: expect.stringContaining('the drill yields'),
      });
      expect(await lease()).toEqual(before);
    });

    it('never blocks a real run: a drill takes only its own item', async () => {
      await expect(acquire(plan, drillClaim('drill'), T0)).resolves.toMatchObject({ acquired: true, leaseId: drillLeaseId(plan) });

      expect(await lease()).toBeUndefined();
      await expect(acquire(plan, claim('real'), at(1))).resolves.toEqual({ acquired: true, leaseId: 'failover#payments' });
    });

    it('lets exactly one of two simultaneous drills go on', async () => {
      const results = await Promise.all([acquire(plan, drillClaim('drill-a'), T0), acquire(plan, drillClaim('drill-b'), T0)]);

      expect(results.filter((r) => r.acquired)).toHaveLength(1);
      expect(results.find((r) => !r.acquired)).toMatchObject({ reason: expect.stringContaining('already running') });
    });

    it('frees the drill item at the end of the drill, with no cool-down', async () => {
      await acquire(plan, drillClaim('drill-a'), T0);

      await expect(release(plan, exec('drill-a'), at(60), { failedOver: false, drill: true })).resolves.toEqual({ released: true });
      await expect(acquire(plan, drillClaim('drill-b'), at(61))).resolves.toMatchObject({ acquired: true });
      await expect(acquire(plan, manualClaim('operator'), at(62))).resolves.toMatchObject({ acquired: true });
    });
  });

  describe('single flight: markActing (before the first mutation)', () => {
    it('moves the owner to acting and pushes the expiry to now + leaseSeconds', async () => {
      await acquire(plan, claim('first'), T0);

      await markActing(plan, exec('first'), at(1200));

      expect(await lease()).toMatchObject({ ownerId: exec('first'), phase: 'acting', actingAt: at(1200).toISOString(), expiresAt: at(1200 + 3600).toISOString() });
    });

    it('is idempotent (a Lambda retry of the fence) and keeps the first actingAt', async () => {
      await acquire(plan, claim('first'), T0);
      await markActing(plan, exec('first'), at(60));

      await expect(markActing(plan, exec('first'), at(65))).resolves.toBeUndefined();
      expect(await lease()).toMatchObject({ phase: 'acting', actingAt: at(60).toISOString() });
    });

    it('throws LeaseLost naming the new owner when another run took the lease over, and leaves its lease alone', async () => {
      await acquire(plan, lagClaim('partition'), T0);
      await acquire(plan, claim('outage'), at(600));

      await expect(markActing(plan, exec('partition'), at(900))).rejects.toMatchObject({ name: 'LeaseLost', message: expect.stringContaining(`${exec('outage')} holds it now`) });
      expect(await lease()).toMatchObject({ ownerId: exec('outage'), phase: 'deciding' });
    });

    it('throws LeaseLost saying who took and released the lease when that run already finished (cool-down included)', async () => {
      await acquire(plan, lagClaim('partition'), T0);
      await acquire(plan, claim('outage'), at(600));
      await release(plan, exec('outage'), at(1200), { failedOver: true });

      await expect(markActing(plan, exec('partition'), at(1300))).rejects.toMatchObject({
        name: 'LeaseLost',
        message: expect.stringContaining(`${exec('outage')} held it since and released it at ${at(1200).toISOString()}, cool-down until ${at(3000).toISOString()}`),
      });
    });

    it('throws LeaseLost when the run never held the lease', async () => {
      await expect(markActing(plan, exec('stranger'), T0)).rejects.toMatchObject({ name: 'LeaseLost', message: expect.stringContaining('nobody holds it now') });
    });
  });

  describe('single flight: release (every notify path)', () => {
    it('frees the lease without a cool-down when traffic did not move', async () => {
      await acquire(plan, claim('first'), T0);

      await expect(release(plan, exec('first'), at(60), { failedOver: false })).resolves.toEqual({ released: true });

      expect(await lease()).toEqual({ leaseId: 'failover#payments', lastOwnerId: exec('first'), releasedAt: at(60).toISOString() });
      await expect(acquire(plan, manualClaim('operator'), at(61))).resolves.toEqual({ acquired: true, leaseId: 'failover#payments' });
    });

    it('does not free a lease this run does not hold (it lost it, or never took it)', async () => {
      await acquire(plan, lagClaim('partition'), T0);
      await acquire(plan, claim('outage'), at(600));

      await expect(release(plan, exec('partition'), at(900), { failedOver: false })).resolves.toEqual({ released: false, detail: `held by ${exec('outage')}` });
      expect((await lease())!.ownerId).toBe(exec('outage'));
    });

    it('recognises its own earlier release (a retried notification) without changing the cool-down', async () => {
      await acquire(plan, claim('first'), T0);
      await release(plan, exec('first'), at(600), { failedOver: true });

      await expect(release(plan, exec('first'), at(630), { failedOver: true })).resolves.toEqual({ released: true, cooldownUntil: at(2400).toISOString() });
      expect((await lease())!.cooldownUntil).toBe(at(2400).toISOString());
    });

    it('still starts the cool-down when traffic moved but the lease had expired and was taken', async () => {
      await acquire(plan, claim('slow'), T0);
      await acquire(plan, manualClaim('operator'), at(3600));

      await expect(release(plan, exec('slow'), at(3700), { failedOver: true })).resolves.toMatchObject({ released: false, cooldownUntil: at(5500).toISOString() });
      expect(await lease()).toMatchObject({ ownerId: exec('operator'), cooldownUntil: at(5500).toISOString() });
    });

    it('never throws: without a table it reports and logs the failure', async () => {
      delete process.env.LEASE_TABLE;

      await expect(release(plan, exec('first'), T0, { failedOver: true })).resolves.toMatchObject({ released: false, detail: expect.stringContaining('LEASE_TABLE is not set') });
    });
  });

  describe('single flight: configuration', () => {
    it('fails with ConfigurationError naming LEASE_TABLE when it is not set', async () => {
      delete process.env.LEASE_TABLE;

      await expect(acquire(plan, claim('first'), T0)).rejects.toMatchObject({ name: 'ConfigurationError', message: expect.stringContaining('LEASE_TABLE') });
    });
  });
});

describe('single flight: decide (pure)', () => {
  const held = (overrides: Partial<Lease> = {}): Lease => ({
    leaseId: 'failover#payments',
    ownerId: exec('owner'),
    incidentKey: REPLICATION,
    precedence: 0,
    phase: 'deciding',
    expiresAt: at(3600).toISOString(),
    ...overrides,
  });

  it.each([
    ['a free lease', 'take', { leaseId: 'failover#payments' }],
    ['an expired lease', 'take', held({ expiresAt: T0.toISOString() })],
    ['a free lease cooling down', 'cooldown', { leaseId: 'failover#payments', cooldownUntil: at(1).toISOString() }],
    ['a free lease whose cool-down ended', 'take', { leaseId: 'failover#payments', cooldownUntil: T0.toISOString() }],
    ['a deciding holder of a less serious incident', 'takeover', held()],
    ['a deciding holder of an equally serious other incident', 'takeover', held({ incidentKey: 'manual:failover:bob:x', precedence: 1 })],
    ['a holder of the same incident', 'duplicate', held({ incidentKey: HEALTH, precedence: 1 })],
    ['an acting holder', 'duplicate', held({ phase: 'acting' })],
  ] as const)('%s → %s', (_what, kind, holder) => {
    expect(decide(holder, claim('me'), T0).kind).toBe(kind);
  });

  it('a replication-lag claim against a deciding failing-primary holder → duplicate', () => {
    expect(decide(held({ incidentKey: HEALTH, precedence: 1 }), lagClaim('me'), T0)).toMatchObject({ kind: 'duplicate', of: exec('owner') });
  });
});

describe('single flight: one round trip on AWS (ReturnValuesOnConditionCheckFailure ALL_OLD)', () => {
  let ddb: AwsClientStub<DynamoDBClient>;
  const item = (lease: Lease): Record<string, AttributeValue> => ({
    leaseId: { S: lease.leaseId },
    ...(lease.ownerId ? { ownerId: { S: lease.ownerId } } : {}),
    ...(lease.incidentKey ? { incidentKey: { S: lease.incidentKey } } : {}),
    ...(lease.precedence !== undefined ? { precedence: { N: String(lease.precedence) } } : {}),
    ...(lease.phase ? { phase: { S: lease.phase } } : {}),
    ...(lease.expiresAt ? { expiresAt: { S: lease.expiresAt } } : {}),
  });
  const refused = (lease: Lease) => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {}, Item: item(lease) });

  beforeAll(() => {
    resetClients();
    process.env.LEASE_TABLE = 'failover-orchestrator-test-leases';
    ddb = mockClient(DynamoDBClient);
  });
  beforeEach(() => ddb.reset());
  afterAll(() => {
    ddb.restore();
    delete process.env.LEASE_TABLE;
  });

  it('learns the holder from the failed write itself: one UpdateItem, no read, in the orchestrator’s region', async () => {
    ddb
      .on(UpdateItemCommand)
      .rejects(refused({ leaseId: 'failover#payments', ownerId: exec('owner'), incidentKey: HEALTH, precedence: 1, phase: 'deciding', expiresAt: at(3600).toISOString() }));

    await expect(acquire(plan, claim('me'), T0)).resolves.toMatchObject({ acquired: false, duplicateOf: exec('owner') });

    expect(ddb).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
    expect(ddb).toHaveReceivedCommandWith(UpdateItemCommand, { Key: { leaseId: { S: 'failover#payments' } }, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' });
    expect(ddb).not.toHaveReceivedCommand(GetItemCommand);
    await expect((ddb.commandCalls(UpdateItemCommand)[0]!.thisValue as DynamoDBClient).config.region()).resolves.toBe('eu-west-1');
  });

  it('takes over conditional on the observed owner still deciding, and yields when it started acting in between', async () => {
    ddb
      .on(UpdateItemCommand)
      .rejectsOnce(
        refused({ leaseId: 'failover#payments', ownerId: exec('partition'), incidentKey: REPLICATION, precedence: 0, phase: 'deciding', expiresAt: at(3600).toISOString() }),
      )
      .rejectsOnce(
        refused({ leaseId: 'failover#payments', ownerId: exec('partition'), incidentKey: REPLICATION, precedence: 0, phase: 'acting', expiresAt: at(3600).toISOString() }),
      );

    await expect(acquire(plan, claim('outage'), T0)).resolves.toMatchObject({
      acquired: false,
      duplicateOf: exec('partition'),
      reason: expect.stringContaining('already failing over'),
    });

    const takeover = ddb.commandCalls(UpdateItemCommand)[1]!.args[0].input;
    expect(takeover.ConditionExpression).toBe('#ownerId = :holder AND #phase = :deciding');
    expect(takeover.ExpressionAttributeValues).toMatchObject({ ':holder': { S: exec('partition') }, ':deciding': { S: 'deciding' } });
  });

  it('names a throttled write TransientAwsError (the state machine retries it)', async () => {
    ddb
      .on(UpdateItemCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException', $retryable: {}, $metadata: { httpStatusCode: 400 } }));

    await expect(acquire(plan, claim('me'), T0)).rejects.toMatchObject({ name: 'TransientAwsError', message: expect.stringContaining('take lease') });
  });

  it('gives up with TransientAwsError when the lease keeps changing hands', async () => {
    ddb.on(UpdateItemCommand).callsFake((input: { ConditionExpression?: string }) => {
      const other = ddb.commandCalls(UpdateItemCommand).length % 2 === 0 ? 'a' : 'b';
      if (input.ConditionExpression?.startsWith('#ownerId = :holder'))
        throw refused({
          leaseId: 'failover#payments',
          ownerId: exec(other),
          incidentKey: `manual:failover:${other}:x`,
          precedence: 1,
          phase: 'deciding',
          expiresAt: at(3600).toISOString(),
        });
      throw refused({
        leaseId: 'failover#payments',
        ownerId: exec(other),
        incidentKey: `manual:failover:${other}:x`,
        precedence: 1,
        phase: 'deciding',
        expiresAt: at(3600).toISOString(),
      });
    });

    await expect(acquire(plan, claim('me'), T0)).rejects.toMatchObject({ name: 'TransientAwsError', message: expect.stringContaining('changed hands') });
  });

  it('does not fail a release when DynamoDB is unreachable', async () => {
    ddb.on(UpdateItemCommand).rejects(Object.assign(new Error('connect ETIMEDOUT'), { name: 'TimeoutError' }));

    await expect(release(plan, exec('me'), T0, { failedOver: true })).resolves.toMatchObject({ released: false, detail: expect.stringContaining('TimeoutError') });
  });
});
