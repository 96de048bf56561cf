import { DescribeServicesCommand, ECSClient, UpdateServiceCommand, type Service } from '@aws-sdk/client-ecs';
import {
  DBParameterGroupNotFoundFault,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  ModifyDBClusterParameterGroupCommand,
  ModifyDBParameterGroupCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { ApplicationAutoScalingClient, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import type { Mode } from '../../functions/core/contract';
import type { Plan } from '../../functions/core/plan';
import { fenceUsWriters, handler } from '../../functions/fence-us-writers';
import { startFixture } from '../helpers/fixtures';
import { examplePlan } from '../helpers/plan';
import { NOW, regionOf, stageContext } from '../helpers/stage';
import { accountsPrimary, ledgerPrimaryCluster } from '../helpers/rds-responses';
import { commandNames } from '../helpers/commands';

const ecs = mockClient(ECSClient);
const rds = mockClient(RDSClient);
const autoscaling = mockClient(ApplicationAutoScalingClient);
/** The single-flight lease table (functions/core/single-flight.ts): the fence marks the lease `acting` before its first mutation. */
const ddb = mockClient(DynamoDBClient);
const LEASE_TABLE = 'failover-orchestrator-test-leases';
const OTHER_RUN = 'arn:aws:states:eu-west-1:111122223333:execution:payments-failover:0a0b0c0d-0000-4000-8000-000000000002';

/**
 * What DynamoDB throws when markActing's condition (`#ownerId = :me`) fails: with
 * `ReturnValuesOnConditionCheckFailure: ALL_OLD` the exception carries the item as it is
 * (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html).
 */
function leaseHeldBy(ownerId: string): ConditionalCheckFailedException {
  const item: Record<string, AttributeValue> = {
    leaseId: { S: 'failover#payments' },
    ownerId: { S: ownerId },
    incidentKey: { S: 'alarm:payments-us-east-1-ledger-writer-down' },
    precedence: { N: '2' },
    phase: { S: 'deciding' },
    mode: { S: 'failover' },
    acquiredAt: { S: '2025-03-04T10:04:00.000Z' },
    expiresAt: { S: '2025-03-04T12:04:00.000Z' },
  };
  return new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: { httpStatusCode: 400 }, Item: item });
}

/** Every call made to the primary region's ECS, RDS and Application Auto Scaling. */
const primaryRegionCalls = () => [...ecs.calls(), ...rds.calls(), ...autoscaling.calls()];

function usService(name: string, desired: number): Service {
  return {
    serviceName: name,
    status: 'ACTIVE',
    desiredCount: desired,
    runningCount: desired,
    pendingCount: 0,
    deployments: [{ id: 'ecs-svc/1', status: 'PRIMARY', rolloutState: 'COMPLETED' }],
  };
}

/** What the SDK throws when a region's endpoint does not answer. */
function unreachable(): Error {
  return Object.assign(new Error('connect ETIMEDOUT 3.5.0.1:443'), { name: 'TimeoutError', code: 'ETIMEDOUT', $metadata: {} });
}

function input(options: { mode?: Mode; plan?: Plan } = {}) {
  const mode = options.mode ?? 'failover';
  return { plan: options.plan ?? examplePlan(), start: startFixture(mode === 'failover' ? {} : { mode, trigger: 'manual' }) };
}

const ctx = stageContext();

beforeAll(() => {
  process.env.LEASE_TABLE = LEASE_TABLE;
});

afterAll(() => {
  delete process.env.LEASE_TABLE;
  ddb.restore();
});

beforeEach(() => {
  ddb.reset();
  ddb.on(UpdateItemCommand).resolves({});
  ecs.reset();
  rds.reset();
  autoscaling.reset();
  autoscaling.on(RegisterScalableTargetCommand).resolves({});
  ecs.on(DescribeServicesCommand).callsFake((cmd: { services: string[] }) => ({ services: [usService(cmd.services[0]!, 20)], failures: [] }));
  ecs.on(UpdateServiceCommand).resolves({});
  rds.on(ModifyDBParameterGroupCommand).resolves({ DBParameterGroupName: 'payments-accounts-pg15' });
  rds.on(DescribeDBInstancesCommand).resolves(accountsPrimary());
  rds.on(DescribeDBClustersCommand).resolves(ledgerPrimaryCluster());
  rds.on(ModifyDBClusterParameterGroupCommand).resolves({ DBClusterParameterGroupName: 'payments-ledger-apg15' });
});

describe('fence-us-writers', () => {
  it('scales every US writer service to zero in the primary region', async () => {
    await fenceUsWriters(input(), ctx);

    expect(ecs).toHaveReceivedCommandWith(UpdateServiceCommand, { cluster: 'payments-use1', service: 'payments-api', desiredCount: 0 });
    expect(ecs).toHaveReceivedCommandWith(UpdateServiceCommand, { cluster: 'payments-use1', service: 'ledger-worker', desiredCount: 0 });
    expect(ecs).toHaveReceivedCommandTimes(UpdateServiceCommand, 2);
    expect(commandNames(ecs)).toEqual(
      ['DescribeServicesCommand', 'DescribeServicesCommand', 'UpdateServiceCommand', 'UpdateServiceCommand'] /* read then scale each writer; nothing in another cluster */,
    );
    await expect(regionOf(ecs.commandCalls(UpdateServiceCommand)[0]!)).resolves.toBe('us-east-1');
  });

  it('pins an auto scaled US writer to 0..0 before scaling it to zero, so a scaling policy cannot bring it back', async () => {
    await fenceUsWriters(input(), ctx);

    expect(autoscaling).toHaveReceivedCommandWith(RegisterScalableTargetCommand, {
      ServiceNamespace: 'ecs',
      ResourceId: 'service/payments-use1/payments-api',
      ScalableDimension: 'ecs:service:DesiredCount',
      MinCapacity: 0,
      MaxCapacity: 0,
    });
    expect(autoscaling).toHaveReceivedCommandTimes(RegisterScalableTargetCommand, 1); // ledger-worker is not auto scaled
    expect(commandNames(autoscaling)).toEqual(['RegisterScalableTargetCommand']);
    await expect(regionOf(autoscaling.commandCalls(RegisterScalableTargetCommand)[0]!)).resolves.toBe('us-east-1');
  });

  it('reports the fence of an auto scaled writer unconfirmed when its scaling bounds cannot be set', async () => {
    autoscaling.on(RegisterScalableTargetCommand).rejects(unreachable());

    const result = await fenceUsWriters(input(), ctx);

    expect(result.confirmed).toBe(false);
    expect(result.steps.find((st) => st.resource === 'payments-api')).toMatchObject({ confirmed: false, detail: expect.stringContaining('unreachable') });
  });

  it('sets default_transaction_read_only in the primary database parameter group, applied immediately', async () => {
    await fenceUsWriters(input(), ctx);

    expect(rds).toHaveReceivedCommandWith(ModifyDBParameterGroupCommand, {
      DBParameterGroupName: 'payments-accounts-pg15',
      Parameters: [{ ParameterName: 'default_transaction_read_only', ParameterValue: '1', ApplyMethod: 'immediate' }],
    });
    await expect(regionOf(rds.commandCalls(ModifyDBParameterGroupCommand)[0]!)).resolves.toBe('us-east-1');
  });

  it('reports a confirmed fence with one step per writer and per database, each with its status and the budget', async () => {
    const result = await fenceUsWriters(input(), ctx);

    expect(result).toMatchObject({ confirmed: true, approvalNeeded: false, budgetSeconds: 20, startedAt: NOW.toISOString(), finishedAt: NOW.toISOString() });
    expect(result.steps.map((st) => st.resource)).toEqual(['payments-api', 'ledger-worker', 'ledger', 'accounts']);
    expect(result.steps).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ resource: 'payments-api', kind: 'ecs-service', status: 'confirmed', confirmed: true, action: 'scale-to-zero' }),
        expect.objectContaining({ resource: 'ledger-worker', kind: 'ecs-service', status: 'confirmed', confirmed: true, action: 'scale-to-zero' }),
        expect.objectContaining({ resource: 'accounts', kind: 'rds-replica', status: 'confirmed', confirmed: true, action: 'read-only' }),
      ]),
    );
    expect(result.steps.find((st) => st.resource === 'ledger')).toMatchObject({ kind: 'aurora-global', status: 'confirmed', confirmed: true, action: 'read-only' });
  });

  it('lets a planned switchover go on when its fence is confirmed: only an unconfirmed fence stops it', async () => {
    const result = await fenceUsWriters(input({ mode: 'switchover' }), ctx);

    expect(result).toMatchObject({ confirmed: true, approvalNeeded: false });
    expect(result.steps.map((st) => st.status)).toEqual(['confirmed', 'confirmed', 'confirmed', 'confirmed']);
  });

  it('trusts the RDS fence only when the plan parameter group is attached to the primary instance and in-sync, read before and after the change', async () => {
    const result = await fenceUsWriters(input(), ctx);

    const describes = rds.commandCalls(DescribeDBInstancesCommand);
    expect(describes.map((c) => c.args[0].input)).toEqual([{ DBInstanceIdentifier: 'payments-accounts-use1' }, { DBInstanceIdentifier: 'payments-accounts-use1' }]);
    await expect(regionOf(describes[0]!)).resolves.toBe('us-east-1');
    expect(result.steps.find((st) => st.resource === 'accounts')!.detail).toBe(
      'before: payments-accounts-pg15 attached to payments-accounts-use1 (available), in-sync; ModifyDBParameterGroup payments-accounts-pg15 default_transaction_read_only=1 (immediate); ' +
        'after: payments-accounts-pg15 attached to payments-accounts-use1 (available), in-sync',
    );
  });

  it('does not change a parameter group the primary instance does not use, and reports that database unconfirmed', async () => {
    rds.on(DescribeDBInstancesCommand).resolves(accountsPrimary({ name: 'default.postgres15' }));

    const result = await fenceUsWriters(input(), ctx);

    expect(rds).not.toHaveReceivedCommand(ModifyDBParameterGroupCommand);
    expect(result).toMatchObject({ confirmed: false, approvalNeeded: true });
    expect(result.steps.find((st) => st.resource === 'accounts')).toMatchObject({
      status: 'unconfirmed',
      confirmed: false,
      detail: expect.stringContaining('payments-accounts-pg15 is NOT attached to payments-accounts-use1 (available); attached: default.postgres15'),
    });
  });

  it.each(['pending-reboot', 'failed-to-apply'])('reports the RDS fence unconfirmed when the group is %s after the change (the setting is not in force)', async (status) => {
    rds
      .on(DescribeDBInstancesCommand)
      .resolvesOnce(accountsPrimary())
      .resolves(accountsPrimary({ applyStatus: status }));

    const result = await fenceUsWriters(input(), ctx);

    expect(result.steps.find((st) => st.resource === 'accounts')).toMatchObject({
      status: 'unconfirmed',
      detail: expect.stringContaining(`after: payments-accounts-pg15 attached to payments-accounts-use1 (available), ${status}`),
    });
    expect(result.confirmed).toBe(false);
  });

  it('polls while the group is applying and confirms once it is in-sync', async () => {
    rds
      .on(DescribeDBInstancesCommand)
      .resolvesOnce(accountsPrimary())
      .resolvesOnce(accountsPrimary({ applyStatus: 'applying' }))
      .resolves(accountsPrimary());
    const context = stageContext();

    const result = await fenceUsWriters(input(), context);

    expect(result.steps.find((st) => st.resource === 'accounts')!.status).toBe('confirmed');
    expect(rds).toHaveReceivedCommandTimes(DescribeDBInstancesCommand, 3);
    expect(context.sleep).toHaveBeenCalledWith(1000);
  });

  it('ends within the fence budget when the primary region accepts calls and never answers: steps unconfirmed, their calls aborted, no hang', async () => {
    const plan = examplePlan((raw) => {
      raw.fence = { timeoutSeconds: 1 };
    });
    const signals: AbortSignal[] = [];
    const hang = (_input: unknown, _getClient: unknown) => new Promise(() => {});
    ecs.on(DescribeServicesCommand).callsFake(hang);
    rds.on(DescribeDBInstancesCommand).callsFake(hang);
    rds.on(DescribeDBClustersCommand).callsFake(hang);
    autoscaling.on(RegisterScalableTargetCommand).callsFake(hang);

    const result = await fenceUsWriters(input({ plan }), ctx);

    for (const mock of [ecs, rds, autoscaling]) {
      for (const call of mock.calls()) signals.push(((call.args as unknown[])[1] as { abortSignal?: AbortSignal } | undefined)?.abortSignal as AbortSignal);
    }
    expect(result).toMatchObject({ confirmed: false, approvalNeeded: true, budgetSeconds: 1 });
    expect(result.steps.map(({ resource, status, action }) => ({ resource, status, action }))).toEqual([
      { resource: 'payments-api', status: 'unconfirmed', action: 'scale-to-zero' },
      { resource: 'ledger-worker', status: 'unconfirmed', action: 'scale-to-zero' },
      { resource: 'ledger', status: 'unconfirmed', action: 'read-only' },
      { resource: 'accounts', status: 'unconfirmed', action: 'read-only' },
    ]);
    expect(result.steps.find((st) => st.resource === 'accounts')!.detail).toContain('no answer within 1 s (fence budget)');
    expect(signals.length).toBeGreaterThan(0);
    expect(signals.every((sig) => sig?.aborted)).toBe(true);
    expect(rds).not.toHaveReceivedCommand(ModifyDBParameterGroupCommand);
  });

  it('shortens the fence budget to the stage deadline when that is nearer', async () => {
    const context = { ...stageContext(), deadlineAt: Date.now() + 4_000 };

    const result = await fenceUsWriters(input(), context);

    expect(result.budgetSeconds).toBeLessThanOrEqual(3);
  });

  it('does not call UpdateService for a writer already at zero', async () => {
    ecs.on(DescribeServicesCommand).callsFake((cmd: { services: string[] }) => ({ services: [usService(cmd.services[0]!, 0)] }));

    const result = await fenceUsWriters(input(), ctx);

    expect(result.confirmed).toBe(true);
    expect(ecs).not.toHaveReceivedCommand(UpdateServiceCommand);
  });

  it('leaves a service that does not write alone', async () => {
    const plan = examplePlan((raw) => {
      raw.compute[1].writer = false;
    });

    await fenceUsWriters(input({ plan }), ctx);

    expect(ecs).not.toHaveReceivedCommandWith(UpdateServiceCommand, { service: 'ledger-worker' });
    expect(ecs).toHaveReceivedCommandTimes(UpdateServiceCommand, 1);
  });

  it('reports an unreachable US region as an unconfirmed fence needing approval (policy require-approval), without throwing', async () => {
    ecs.on(DescribeServicesCommand).rejects(unreachable());
    rds.on(DescribeDBInstancesCommand).rejects(unreachable());
    rds.on(DescribeDBClustersCommand).rejects(unreachable());
    rds.on(ModifyDBParameterGroupCommand).rejects(unreachable());

    const result = await fenceUsWriters(input(), ctx);

    expect(result).toMatchObject({ confirmed: false, approvalNeeded: true });
    expect(result.steps).toEqual([
      expect.objectContaining({ resource: 'payments-api', confirmed: false, detail: expect.stringContaining('payments-use1/payments-api (us-east-1) unreachable') }),
      expect.objectContaining({ resource: 'ledger-worker', confirmed: false }),
      expect.objectContaining({ resource: 'ledger' }),
      expect.objectContaining({
        resource: 'accounts',
        status: 'unconfirmed',
        confirmed: false,
        detail: expect.stringContaining('DescribeDBInstances payments-accounts-use1 (us-east-1) failed: TransientAwsError'),
      }),
    ]);
  });

  it('reports a fence unconfirmed when UpdateService itself fails', async () => {
    ecs.on(UpdateServiceCommand).rejects(unreachable());

    const result = await fenceUsWriters(input(), ctx);

    expect(result.confirmed).toBe(false);
    expect(result.steps.filter((s) => !s.confirmed).map((s) => s.resource)).toEqual(['payments-api', 'ledger-worker']);
    expect(result.steps.filter((s) => s.status === 'unconfirmed').map((s) => s.resource)).toEqual(['payments-api', 'ledger-worker']);
  });

  it('proceeds without approval on an unconfirmed fence when the plan policy is proceed', async () => {
    const plan = examplePlan((raw) => {
      raw.approval.fenceUnconfirmed = 'proceed';
    });
    rds
      .on(ModifyDBParameterGroupCommand)
      .rejects(new DBParameterGroupNotFoundFault({ message: 'DBParameterGroup not found: payments-accounts-pg15', $metadata: { httpStatusCode: 404 } }));

    const result = await fenceUsWriters(input({ plan }), ctx);

    expect(result).toMatchObject({ confirmed: false, approvalNeeded: false });
  });

  it('fails with FenceUnconfirmed when the fence is unconfirmed and the plan policy is abort', async () => {
    const plan = examplePlan((raw) => {
      raw.approval.fenceUnconfirmed = 'abort';
    });
    ecs.on(DescribeServicesCommand).rejects(unreachable());

    await expect(fenceUsWriters(input({ plan }), ctx)).rejects.toMatchObject({
      name: 'FenceUnconfirmed',
      message: expect.stringContaining('fence unconfirmed and policy is abort: payments-api'),
    });
  });

  it('fails with FenceUnconfirmed in a planned switchover whatever the policy, because zero data loss depends on the fence', async () => {
    const plan = examplePlan((raw) => {
      raw.approval.fenceUnconfirmed = 'proceed';
    });
    rds.on(ModifyDBParameterGroupCommand).rejects(unreachable());

    await expect(fenceUsWriters(input({ mode: 'switchover', plan }), ctx)).rejects.toMatchObject({
      name: 'FenceUnconfirmed',
      message: expect.stringContaining('planned switchover needs a confirmed fence for zero data loss: accounts'),
    });
  });

  it('marks its single-flight lease acting (conditional on still owning it) before fencing, in the orchestrator region', async () => {
    const order: string[] = [];
    ddb.on(UpdateItemCommand).callsFake(() => {
      order.push('lease');
      return {};
    });
    ecs.on(DescribeServicesCommand).callsFake((cmd: { services: string[] }) => {
      order.push('ecs');
      return { services: [usService(cmd.services[0]!, 20)], failures: [] };
    });
    autoscaling.on(RegisterScalableTargetCommand).callsFake(() => {
      order.push('autoscaling');
      return {};
    });
    rds.on(DescribeDBInstancesCommand).callsFake(() => {
      order.push('rds');
      return accountsPrimary();
    });

    const result = await fenceUsWriters(input(), ctx);

    expect(result.confirmed).toBe(true);
    expect(ddb).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
    expect(ddb).toHaveReceivedCommandWith(UpdateItemCommand, {
      TableName: LEASE_TABLE,
      Key: { leaseId: { S: 'failover#payments' } },
      ConditionExpression: '#ownerId = :me',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    const update = ddb.commandCalls(UpdateItemCommand)[0]!.args[0].input;
    expect(update.ExpressionAttributeValues).toMatchObject({
      ':me': { S: startFixture().executionId },
      ':acting': { S: 'acting' },
      ':expires': { S: new Date(NOW.getTime() + 7200 * 1000).toISOString() }, // now + singleFlight.leaseSeconds
    });
    await expect(regionOf(ddb.commandCalls(UpdateItemCommand)[0]!)).resolves.toBe('eu-west-1');
    expect(order[0]).toBe('lease');
    expect(order.filter((o) => o === 'lease')).toHaveLength(1);
  });

  it.each<Mode>(['failover', 'switchover'])(
    'in a %s whose lease another run holds now (taken over while this one waited at its gate), fails with LeaseLost and sends no ECS, RDS or Auto Scaling command',
    async (mode) => {
      ddb.on(UpdateItemCommand).rejects(leaseHeldBy(OTHER_RUN));

      await expect(fenceUsWriters(input({ mode }), ctx)).rejects.toMatchObject({
        name: 'LeaseLost',
        message: expect.stringContaining(`${OTHER_RUN} holds it now`),
      });

      expect(primaryRegionCalls()).toHaveLength(0);
      expect(ddb).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
      expect(ddb).not.toHaveReceivedCommand(GetItemCommand); // the holder came with the failed write (ALL_OLD)
    },
  );

  it('when the lease cannot be marked acting (DynamoDB throttles), fails with a named error and sends no command to the primary region', async () => {
    ddb
      .on(UpdateItemCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException', $retryable: {}, $metadata: { httpStatusCode: 400 } }));

    await expect(fenceUsWriters(input(), ctx)).rejects.toMatchObject({ name: 'TransientAwsError' });

    expect(primaryRegionCalls()).toHaveLength(0);
  });

  it('in a drill, never touches the single-flight lease (a drill holds no failover lease)', async () => {
    ddb.on(UpdateItemCommand).rejects(leaseHeldBy(OTHER_RUN));

    const result = await fenceUsWriters(input({ mode: 'drill' }), ctx);

    expect(result.confirmed).toBe(true);
    expect(ddb.calls()).toHaveLength(0);
  });

  it('in a drill, says what it would fence and makes no call to the primary region', async () => {
    const result = await fenceUsWriters(input({ mode: 'drill' }), ctx);

    expect(result).toMatchObject({ confirmed: true, approvalNeeded: false });
    expect(result.steps.map((s) => s.wouldDo)).toEqual([
      'auto scaling Min/MaxCapacity → 0, UpdateService payments-use1/payments-api desiredCount → 0 (us-east-1)',
      'UpdateService payments-use1/ledger-worker desiredCount → 0 (us-east-1)',
      'ModifyDBClusterParameterGroup payments-ledger-apg15 default_transaction_read_only=1, confirmed when it is the parameter group of payments-ledger-use1 and in-sync on every member (us-east-1)',
      'ModifyDBParameterGroup payments-accounts-pg15 default_transaction_read_only=1, confirmed when attached to payments-accounts-use1 and in-sync (us-east-1)',
    ]);
    expect(result.steps.map(({ status, confirmed, action, detail }) => ({ status, confirmed, action, detail }))).toEqual(
      Array(4).fill({ status: 'skipped', confirmed: true, action: 'drill', detail: 'no mutating call made' }),
    );
    expect(ecs).not.toHaveReceivedCommand(DescribeServicesCommand);
    expect(ecs).not.toHaveReceivedCommand(UpdateServiceCommand);
    expect(rds).not.toHaveReceivedCommand(ModifyDBParameterGroupCommand);
    expect(rds).not.toHaveReceivedCommand(DescribeDBInstancesCommand);
  });

  it('reports a database without primaryParameterGroup as skipped: fenced by the compute layer only', async () => {
    const plan = examplePlan((raw) => {
      delete raw.databases[1].primaryParameterGroup;
    });

    const result = await fenceUsWriters(input({ plan }), ctx);

    expect(result.steps.find((s) => s.resource === 'accounts')).toMatchObject({
      status: 'skipped',
      confirmed: true,
      detail: expect.stringContaining('fenced by the compute layer only'),
    });
    expect(rds).not.toHaveReceivedCommand(ModifyDBParameterGroupCommand);
  });

  it('refuses a start result with an unknown mode through the handler with InvalidInput', async () => {
    const event = { ...input(), start: { ...startFixture(), mode: 'sideways' } };

    await expect(handler(event)).rejects.toMatchObject({ name: 'InvalidInput', message: expect.stringContaining('start.mode') });
  });
});
