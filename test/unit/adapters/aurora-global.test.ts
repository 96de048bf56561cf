import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import {
  DescribeDBClusterParametersCommand,
  DescribeDBClustersCommand,
  DescribeGlobalClustersCommand,
  ModifyDBClusterParameterGroupCommand,
  FailoverGlobalClusterCommand,
  GlobalClusterNotFoundFault,
  InvalidGlobalClusterStateFault,
  RDSClient,
  SwitchoverGlobalClusterCommand,
  type GlobalCluster,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import type { Mode, ResourceStep, StartResult } from '../../../functions/core/contract';
import type { AuroraGlobalResource } from '../../../functions/core/plan';
import { promoteEuDatabase } from '../../../functions/promote-eu-database';
import { NOW, previousStep, reconcileInput, regionOf, stageContext } from '../../helpers/stage';
import { ledgerPrimaryCluster, metricSeries, perMinute, perPeriod } from '../../helpers/rds-responses';
import { examplePlan } from '../../helpers/plan';
import type { FenceContext } from '../../../functions/adapters/types';
import { fencer, replication } from '../../../functions/adapters/aurora-global';
import { commandNames } from '../../helpers/commands';

const rds = mockClient(RDSClient);
const cloudwatch = mockClient(CloudWatchClient);

const GLOBAL = 'payments-ledger-global';
const PRIMARY = 'arn:aws:rds:us-east-1:111122223333:cluster:payments-ledger-use1';
const RECOVERY = 'arn:aws:rds:eu-west-1:111122223333:cluster:payments-ledger-euw1';

const ledger = (mode?: Mode, previous?: ResourceStep) => reconcileInput((plan) => plan.databases[0] as AuroraGlobalResource, { mode, previous });

function globalCluster(state: { writer: 'primary' | 'recovery'; status?: string; failover?: 'pending' | 'failing-over' | 'cancelling' | 'switching-over' }): GlobalCluster {
  return {
    GlobalClusterIdentifier: GLOBAL,
    Status: state.status ?? 'available',
    GlobalClusterMembers: [
      { DBClusterArn: PRIMARY, IsWriter: state.writer === 'primary' },
      { DBClusterArn: RECOVERY, IsWriter: state.writer === 'recovery', SynchronizationStatus: 'connected' },
    ],
    ...(state.failover ? { FailoverState: { Status: state.failover as 'pending', FromDbClusterArn: PRIMARY, ToDbClusterArn: RECOVERY, IsDataLossAllowed: true } } : {}),
  };
}

const ctx = stageContext();

beforeEach(() => {
  rds.reset();
  cloudwatch.reset();
  rds.on(DescribeGlobalClustersCommand).resolves({ GlobalClusters: [globalCluster({ writer: 'primary' })] });
  rds.on(FailoverGlobalClusterCommand).resolves({ GlobalCluster: globalCluster({ writer: 'primary', status: 'failing-over' }) });
  rds.on(SwitchoverGlobalClusterCommand).resolves({ GlobalCluster: globalCluster({ writer: 'primary', status: 'switching-over' }) });
  cloudwatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [{ Id: 'm', Values: [3200], Timestamps: [new Date(NOW.getTime() - 30_000)] }] });
});

describe('aurora-global promotion', () => {
  it('fails over with FailoverGlobalCluster, allowing data loss, to the recovery cluster ARN in the recovery region', async () => {
    const step = await promoteEuDatabase(ledger('failover'), ctx);

    expect(rds).toHaveReceivedCommandWith(FailoverGlobalClusterCommand, { GlobalClusterIdentifier: GLOBAL, TargetDbClusterIdentifier: RECOVERY, AllowDataLoss: true });
    expect(rds).toHaveReceivedCommandTimes(FailoverGlobalClusterCommand, 1);
    expect(commandNames(rds)).toEqual(['DescribeGlobalClustersCommand', 'FailoverGlobalClusterCommand'] /* one read, one promotion, nothing else */);
    await expect(regionOf(rds.commandCalls(FailoverGlobalClusterCommand)[0]!)).resolves.toBe('eu-west-1');
    expect(step).toMatchObject({ resource: 'ledger', kind: 'aurora-global', done: false, phase: 'started', mutated: true });
  });

  it('records AuroraGlobalDBRPOLag (ms) from the last period that ENDED by the fault as the data-loss estimate in seconds, not the period holding it nor a later reading', async () => {
    // Fault at 09:59:40: the period starting 09:58 ended at 09:59; the one starting 09:59 holds the fault (its Maximum is post-fault growth).
    cloudwatch.on(GetMetricDataCommand).callsFake(
      metricSeries({
        AuroraGlobalDBRPOLag: perMinute('2025-03-04T09:58:00.000Z', [3200, 23_200, 83_200, 143_200]),
        AuroraGlobalDBReplicationLag: perMinute('2025-03-04T09:58:00.000Z', [1, 1, 1, 1]),
      }),
    );
    const input = ledger('failover');

    const start: StartResult = { ...input.start, faultAt: '2025-03-04T09:59:40.000Z' };

    const step = await promoteEuDatabase({ ...input, start }, ctx);

    expect(step.lagSecondsAtPromotion).toBe(3.2);
    expect(step.detail).toContain('data-loss estimate (gap at the fault): AuroraGlobalDBRPOLag 3200 ms (Maximum of the 60 s period starting 2025-03-04T09:58:00Z)');
    expect(cloudwatch).toHaveReceivedCommandWith(GetMetricDataCommand, {
      EndTime: new Date('2025-03-04T09:59:40.001Z'),
      MetricDataQueries: [
        expect.objectContaining({
          MetricStat: {
            Metric: { Namespace: 'AWS/RDS', MetricName: 'AuroraGlobalDBRPOLag', Dimensions: [{ Name: 'DBClusterIdentifier', Value: 'payments-ledger-euw1' }] },
            Period: 60,
            Stat: 'Maximum',
          },
        }),
      ],
    });
  });

  it("uses the plan's detection.lagPeriodSeconds as the Period and for the 'ended at or before the fault' rule", async () => {
    const plan = examplePlan((raw) => {
      raw.detection.lagPeriodSeconds = 5;
    });
    // 5 s periods around a fault at 09:59:40: the one starting 09:59:35 ends at the fault; the one starting 09:59:40 holds it.
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ AuroraGlobalDBRPOLag: perPeriod('2025-03-04T09:59:30.000Z', 5, [1200, 1500, 6500, 11_500]) }));
    const input = reconcileInput((p) => p.databases[0] as AuroraGlobalResource, { mode: 'failover', plan });

    const step = await promoteEuDatabase({ ...input, start: { ...input.start, faultAt: '2025-03-04T09:59:40.000Z' } }, ctx);

    expect(step.lagSecondsAtPromotion).toBe(1.5);
    expect(step.detail).toContain('AuroraGlobalDBRPOLag 1500 ms (Maximum of the 5 s period starting 2025-03-04T09:59:35Z)');
    expect(cloudwatch).toHaveReceivedCommandWith(GetMetricDataCommand, {
      MetricDataQueries: [expect.objectContaining({ MetricStat: expect.objectContaining({ Period: 5, Stat: 'Maximum' }) })],
    });
  });

  it('switches over with SwitchoverGlobalCluster in a planned switchover, never FailoverGlobalCluster', async () => {
    await promoteEuDatabase(ledger('switchover'), ctx);

    expect(rds).toHaveReceivedCommandWith(SwitchoverGlobalClusterCommand, { GlobalClusterIdentifier: GLOBAL, TargetDbClusterIdentifier: RECOVERY });
    expect(rds).not.toHaveReceivedCommand(FailoverGlobalClusterCommand);
  });

  it('is done without a mutating call when the recovery cluster is already the writer', async () => {
    rds.on(DescribeGlobalClustersCommand).resolves({ GlobalClusters: [globalCluster({ writer: 'recovery' })] });

    const step = await promoteEuDatabase(ledger('failover'), ctx);

    expect(step).toMatchObject({ done: true, phase: 'promoted', mutated: false, finishedAt: ctx.now().toISOString() });
    expect(rds).not.toHaveReceivedCommand(FailoverGlobalClusterCommand);
    expect(rds).not.toHaveReceivedCommand(SwitchoverGlobalClusterCommand);
  });

  it('reports a failover in progress as not done and does not call FailoverGlobalCluster a second time', async () => {
    rds.on(DescribeGlobalClustersCommand).resolves({ GlobalClusters: [globalCluster({ writer: 'primary', status: 'failing-over', failover: 'failing-over' })] });
    const previous = previousStep({ lagSecondsAtPromotion: 3.2 });

    const step = await promoteEuDatabase(ledger('failover', previous), ctx);

    expect(step).toMatchObject({ done: false, phase: 'promoting', mutated: true, startedAt: previous.startedAt, deadline: previous.deadline, lagSecondsAtPromotion: 3.2 });
    expect(rds).not.toHaveReceivedCommand(FailoverGlobalClusterCommand);
  });

  it('treats a switchover under way on an available global cluster as in progress and does not start another', async () => {
    rds.on(DescribeGlobalClustersCommand).resolves({ GlobalClusters: [globalCluster({ writer: 'primary', status: 'available', failover: 'switching-over' })] });

    const step = await promoteEuDatabase(ledger('switchover', previousStep({})), ctx);

    expect(step).toMatchObject({ done: false, phase: 'promoting' });
    expect(rds).not.toHaveReceivedCommand(SwitchoverGlobalClusterCommand);
  });

  it('treats a pending failover on an available global cluster as in progress', async () => {
    rds.on(DescribeGlobalClustersCommand).resolves({ GlobalClusters: [globalCluster({ writer: 'primary', failover: 'pending' })] });

    const step = await promoteEuDatabase(ledger('failover', previousStep()), ctx);

    expect(step.done).toBe(false);
    expect(rds).not.toHaveReceivedCommand(FailoverGlobalClusterCommand);
  });

  it('keeps the data-loss estimate of the failover call once the promotion is done', async () => {
    rds.on(DescribeGlobalClustersCommand).resolves({ GlobalClusters: [globalCluster({ writer: 'recovery' })] });

    const step = await promoteEuDatabase(ledger('failover', previousStep({ lagSecondsAtPromotion: 3.2 })), ctx);

    expect(step).toMatchObject({ done: true, mutated: true, lagSecondsAtPromotion: 3.2 });
  });

  it('fails with PromotionDeadlineExceeded when the promotion is still running after its deadline', async () => {
    rds.on(DescribeGlobalClustersCommand).resolves({ GlobalClusters: [globalCluster({ writer: 'primary', status: 'failing-over', failover: 'failing-over' })] });
    const previous = previousStep({ startedAt: '2025-03-04T09:50:00.000Z', deadline: '2025-03-04T10:00:00.000Z' });

    await expect(promoteEuDatabase(ledger('failover', previous), ctx)).rejects.toMatchObject({
      name: 'PromotionDeadlineExceeded',
      message: expect.stringContaining('aurora-global ledger not done by 2025-03-04T10:00:00.000Z'),
    });
    expect(rds).not.toHaveReceivedCommand(FailoverGlobalClusterCommand);
  });

  it('sets the deadline from the plan promotion timeout on the first call', async () => {
    const step = await promoteEuDatabase(ledger('failover'), ctx);

    expect(step).toMatchObject({ startedAt: '2025-03-04T10:05:00.000Z', deadline: '2025-03-04T10:15:00.000Z' });
  });

  it('in a drill, says what it would do and makes no mutating call', async () => {
    const step = await promoteEuDatabase(ledger('drill'), ctx);

    expect(step).toMatchObject({ done: true, phase: 'drill', mutated: false, wouldDo: `FailoverGlobalCluster ${GLOBAL} → payments-ledger-euw1 (AllowDataLoss; unplanned)` });
    expect(rds).not.toHaveReceivedCommand(FailoverGlobalClusterCommand);
    expect(rds).not.toHaveReceivedCommand(SwitchoverGlobalClusterCommand);
  });

  it('fails with ResourceStateError when the global cluster does not exist', async () => {
    rds.on(DescribeGlobalClustersCommand).rejects(new GlobalClusterNotFoundFault({ message: `Global cluster ${GLOBAL} not found`, $metadata: { httpStatusCode: 404 } }));

    await expect(promoteEuDatabase(ledger('failover'), ctx)).rejects.toMatchObject({ name: 'ResourceStateError', message: expect.stringContaining('GlobalClusterNotFoundFault') });
  });

  it('treats InvalidGlobalClusterStateFault on the failover call as a change already under way (an SDK retry of an accepted call): no error, the next poll decides', async () => {
    rds.on(FailoverGlobalClusterCommand).rejects(new InvalidGlobalClusterStateFault({ message: 'The global cluster is not in a valid state', $metadata: { httpStatusCode: 400 } }));

    const step = await promoteEuDatabase(ledger('failover'), ctx);

    expect(step).toMatchObject({ done: false, mutated: true, detail: expect.stringContaining('already under way') });
  });

  it('fails with ResourceStateError when Aurora refuses the failover for another reason', async () => {
    rds.on(FailoverGlobalClusterCommand).rejects(new GlobalClusterNotFoundFault({ message: 'GlobalCluster payments-ledger-global not found', $metadata: { httpStatusCode: 404 } }));

    await expect(promoteEuDatabase(ledger('failover'), ctx)).rejects.toMatchObject({ name: 'ResourceStateError' });
  });

  it('fails with TransientAwsError when the RDS API is unavailable', async () => {
    rds.on(DescribeGlobalClustersCommand).rejects(Object.assign(new Error('Service unavailable'), { name: 'InternalFailure', $metadata: { httpStatusCode: 500 } }));

    await expect(promoteEuDatabase(ledger('failover'), ctx)).rejects.toMatchObject({ name: 'TransientAwsError' });
  });
});

describe('aurora-global fence (primary cluster parameter group)', () => {
  const plan = examplePlan();
  const db = plan.databases[0] as AuroraGlobalResource;
  const fenceCtx = (): FenceContext => ({ signal: new AbortController().signal, budgetSeconds: 20, sleep: async () => {} });

  beforeEach(() => {
    rds.on(DescribeDBClustersCommand).resolves(ledgerPrimaryCluster());
    rds.on(ModifyDBClusterParameterGroupCommand).resolves({ DBClusterParameterGroupName: 'payments-ledger-apg15' });
    rds.on(DescribeDBClusterParametersCommand).resolves({ Parameters: [{ ParameterName: 'default_transaction_read_only', ParameterValue: '1' }] });
  });

  it('sets default_transaction_read_only=1 in the primary cluster parameter group, in the primary region, and confirms it attached and in-sync on every member', async () => {
    const outcome = await fencer.fence(db, plan, fenceCtx());

    expect(rds).toHaveReceivedCommandWith(DescribeDBClustersCommand, { DBClusterIdentifier: 'payments-ledger-use1' });
    expect(rds).toHaveReceivedCommandWith(ModifyDBClusterParameterGroupCommand, {
      DBClusterParameterGroupName: 'payments-ledger-apg15',
      Parameters: [{ ParameterName: 'default_transaction_read_only', ParameterValue: '1', ApplyMethod: 'immediate' }],
    });
    await expect(regionOf(rds.commandCalls(ModifyDBClusterParameterGroupCommand)[0]!)).resolves.toBe('us-east-1');
    expect(outcome).toMatchObject({
      status: 'confirmed',
      confirmed: true,
      action: 'read-only',
      detail: expect.stringContaining('after: payments-ledger-apg15 attached to payments-ledger-use1'),
    });
  });

  it('does not change a cluster parameter group the primary does not use, and reports the fence unconfirmed', async () => {
    rds.on(DescribeDBClustersCommand).resolves(ledgerPrimaryCluster({ name: 'default.aurora-postgresql15' }));

    const outcome = await fencer.fence(db, plan, fenceCtx());

    expect(outcome).toMatchObject({
      status: 'unconfirmed',
      confirmed: false,
      detail: expect.stringContaining('payments-ledger-apg15 is NOT the parameter group of payments-ledger-use1'),
    });
    expect(rds).not.toHaveReceivedCommand(ModifyDBClusterParameterGroupCommand);
  });

  it('reports the fence unconfirmed while a member is pending-reboot (the setting is not in force)', async () => {
    rds.on(DescribeDBClustersCommand).resolves(ledgerPrimaryCluster({ memberStatus: ['in-sync', 'pending-reboot'] }));

    const outcome = await fencer.fence(db, plan, fenceCtx());

    expect(outcome).toMatchObject({ status: 'unconfirmed', detail: expect.stringContaining('payments-ledger-use1-2 pending-reboot') });
  });

  it('polls while a member is applying and confirms once every member is in-sync', async () => {
    rds
      .on(DescribeDBClustersCommand)
      .resolvesOnce(ledgerPrimaryCluster())
      .resolvesOnce(ledgerPrimaryCluster({ memberStatus: ['applying', 'in-sync'] }))
      .resolves(ledgerPrimaryCluster());

    const outcome = await fencer.fence(db, plan, fenceCtx());

    expect(outcome.status).toBe('confirmed');
    expect(rds).toHaveReceivedCommandTimes(DescribeDBClustersCommand, 3);
  });

  it('says the database is fenced by the compute layer only when the plan names no primaryClusterParameterGroup', async () => {
    const bare = examplePlan((raw) => delete raw.databases[0].primaryClusterParameterGroup);

    const outcome = await fencer.fence(bare.databases[0] as AuroraGlobalResource, bare, fenceCtx());

    expect(outcome).toMatchObject({ status: 'skipped', confirmed: true, detail: expect.stringContaining('fenced by the compute layer only') });
    expect(rds).not.toHaveReceivedCommand(DescribeDBClustersCommand);
  });

  it('re-checks after promotion: refuses writes when attached, in-sync and default_transaction_read_only is 1', async () => {
    await expect(fencer.recheck!(db, plan, fenceCtx())).resolves.toMatchObject({ status: 'refuses-writes' });
    expect(rds).toHaveReceivedCommandWith(DescribeDBClusterParametersCommand, { DBClusterParameterGroupName: 'payments-ledger-apg15', Source: 'user' });
  });

  it('re-checks after promotion: accepts writes when the read-only parameter is not set in the group', async () => {
    rds.on(DescribeDBClusterParametersCommand).resolves({ Parameters: [{ ParameterName: 'work_mem', ParameterValue: '65536' }] });

    await expect(fencer.recheck!(db, plan, fenceCtx())).resolves.toMatchObject({
      status: 'accepts-writes',
      detail: expect.stringContaining('default_transaction_read_only is not set'),
    });
  });
});

/**
 * The link's state is Aurora's own word (GlobalClusterMember.SynchronizationStatus `pending-resync`:
 * https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_GlobalClusterMember.html); a missing
 * AuroraGlobalDBRPOLag datapoint makes the GAP unknown (RPO at risk), not the replication broken.
 */
describe('aurora-global replication (detection)', () => {
  const plan = examplePlan();
  const db = plan.databases[0] as AuroraGlobalResource;
  const fault = { faultAt: new Date('2025-03-04T09:59:40.000Z') };
  const withSync = (status: 'connected' | 'pending-resync'): GlobalCluster => {
    const cluster = globalCluster({ writer: 'primary' });
    return { ...cluster, GlobalClusterMembers: cluster.GlobalClusterMembers!.map((m) => (m.DBClusterArn === RECOVERY ? { ...m, SynchronizationStatus: status } : m)) };
  };

  it("is 'replicating' with the gap unknown (no lagSeconds, the reason kept) when connected and AuroraGlobalDBRPOLag has no datapoint", async () => {
    cloudwatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [{ Id: 'm', Values: [], Timestamps: [] }] });

    const observed = await replication(db, plan, NOW, fault);

    expect(observed).toMatchObject({
      database: 'ledger',
      status: 'replicating',
      lagDetail: 'unknown: no AuroraGlobalDBRPOLag datapoint from a period that ended at or before 2025-03-04T09:59:40Z',
    });
    expect(observed).not.toHaveProperty('lagSeconds');
  });

  it("is 'broken' when the recovery member is pending-resync, even with a lag datapoint", async () => {
    rds.on(DescribeGlobalClustersCommand).resolves({ GlobalClusters: [withSync('pending-resync')] });
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ AuroraGlobalDBRPOLag: perMinute('2025-03-04T09:58:00.000Z', [3200, 23_200]) }));

    await expect(replication(db, plan, NOW, fault)).resolves.toMatchObject({
      status: 'broken',
      lagSeconds: 3.2,
      detail: expect.stringContaining('synchronization pending-resync'),
    });
  });
});
