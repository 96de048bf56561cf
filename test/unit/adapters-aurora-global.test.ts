import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import {
  DescribeGlobalClustersCommand,
  FailoverGlobalClusterCommand,
  GlobalClusterNotFoundFault,
  InvalidGlobalClusterStateFault,
  RDSClient,
  SwitchoverGlobalClusterCommand,
  type GlobalCluster,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import type { Mode, ResourceStep } from '../../functions/core/contract';
import type { AuroraGlobalResource } from '../../functions/core/plan';
import { promoteEuDatabase } from '../../functions/promote-eu-database';
import { NOW, previousStep, reconcileInput, regionOf, stageContext } from '../helpers/stage';

const rds = mockClient(RDSClient);
const cloudwatch = mockClient(CloudWatchClient);

const GLOBAL = 'payments-ledger-global';
const PRIMARY = 'arn:aws:rds:us-east-1:111122223333:cluster:payments-ledger-use1';
const RECOVERY = 'arn:aws:rds:eu-west-1:111122223333:cluster:payments-ledger-euw1';

const ledger = (mode?: Mode, previous?: ResourceStep) =>
  reconcileInput((plan) => plan.databases[0] as AuroraGlobalResource, { mode, previous });

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
    await expect(regionOf(rds.commandCalls(FailoverGlobalClusterCommand)[0]!)).resolves.toBe('eu-west-1');
    expect(step).toMatchObject({ resource: 'ledger', kind: 'aurora-global', done: false, phase: 'started', mutated: true });
  });

  it('records the replication gap at the moment of the failover as the data-loss estimate', async () => {
    const step = await promoteEuDatabase(ledger('failover'), ctx);

    expect(step.lagSecondsAtPromotion).toBe(3.2);
    expect(cloudwatch).toHaveReceivedCommandWith(GetMetricDataCommand, {
      MetricDataQueries: [
        expect.objectContaining({
          MetricStat: expect.objectContaining({ Metric: expect.objectContaining({ MetricName: 'AuroraGlobalDBReplicationLag', Dimensions: [{ Name: 'DBClusterIdentifier', Value: 'payments-ledger-euw1' }] }) }),
        }),
      ],
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
