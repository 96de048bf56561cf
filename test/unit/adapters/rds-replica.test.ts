import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeDBInstancesCommand, InvalidDBInstanceStateFault, DBInstanceNotFoundFault, PromoteReadReplicaCommand, RDSClient, type DBInstance } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import type { Mode, ResourceStep } from '../../../functions/core/contract';
import type { RdsReplicaResource } from '../../../functions/core/plan';
import { promoteEuDatabase } from '../../../functions/promote-eu-database';
import { NOW, previousStep, reconcileInput, regionOf, stageContext } from '../../helpers/stage';
import { accountsReplicaWithStatus, metricSeries, perMinute, perPeriod } from '../../helpers/rds-responses';
import { examplePlan } from '../../helpers/plan';
import { replication } from '../../../functions/adapters/rds-replica';
import { commandNames } from '../../helpers/commands';

const rds = mockClient(RDSClient);
const cloudwatch = mockClient(CloudWatchClient);

const REPLICA = 'payments-accounts-euw1';

const accounts = (mode?: Mode, previous?: ResourceStep) => reconcileInput((plan) => plan.databases[1] as RdsReplicaResource, { mode, previous });

/** The primary died at 09:59:30 (its first failing signal); the run started at 10:00:00 and promotes at NOW (10:05). */
const FAULT = '2025-03-04T09:59:30.000Z';
const atFault = (mode: Mode = 'failover', previous?: ResourceStep) => {
  const input = accounts(mode, previous);
  return { ...input, start: { ...input.start, faultAt: FAULT } };
};

/**
 * ReplicaLag as RDS PostgreSQL publishes it around a crash at 09:59:30: a few seconds while the
 * primary lives, then `now() - pg_last_xact_replay_timestamp()` growing with the clock
 * (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PostgreSQL.Replication.ReadReplicas.Monitor.html):
 * the period starting 09:59 holds the fault, so its Maximum (34 s) is already 30 s of clock.
 */
const crashSeries = perMinute('2025-03-04T09:56:00.000Z', [2, 3, 4, 34, 94, 154, 214, 274, 334]);

/** The recovery-region instance: a replica (replicating) until promoted, then standalone. */
function instance(state: { replica: boolean; status?: string }): DBInstance {
  return {
    DBInstanceIdentifier: REPLICA,
    DBInstanceStatus: state.status ?? 'available',
    ...(state.replica
      ? {
          ReadReplicaSourceDBInstanceIdentifier: 'arn:aws:rds:us-east-1:111122223333:db:payments-accounts-use1',
          StatusInfos: [{ StatusType: 'read replication', Status: 'replicating', Normal: true }],
        }
      : {}),
  };
}

function replicaLag(seconds: number | null) {
  cloudwatch
    .on(GetMetricDataCommand)
    .resolves({ MetricDataResults: [{ Id: 'm', Values: seconds === null ? [] : [seconds], Timestamps: seconds === null ? [] : [new Date(NOW.getTime() - 30_000)] }] });
}

const promotingStep = (overrides: Partial<ResourceStep> = {}) => previousStep({ resource: 'accounts', kind: 'rds-replica', ...overrides });

const ctx = stageContext();

beforeEach(() => {
  rds.reset();
  cloudwatch.reset();
  rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [instance({ replica: true })] });
  rds.on(PromoteReadReplicaCommand).resolves({ DBInstance: instance({ replica: true, status: 'modifying' }) });
  replicaLag(4);
});

describe('rds-replica promotion', () => {
  it('promotes the replica with PromoteReadReplica without BackupRetentionPeriod (backups must already be on), in the recovery region', async () => {
    const step = await promoteEuDatabase(accounts('failover'), ctx);

    expect(rds).toHaveReceivedCommandWith(PromoteReadReplicaCommand, { DBInstanceIdentifier: REPLICA });
    expect(rds.commandCalls(PromoteReadReplicaCommand)[0]!.args[0].input).not.toHaveProperty('BackupRetentionPeriod');
    expect(rds).toHaveReceivedCommandTimes(PromoteReadReplicaCommand, 1);
    expect(commandNames(rds)).toEqual(['DescribeDBInstancesCommand', 'PromoteReadReplicaCommand'] /* one read, one promotion, nothing else */);
    await expect(regionOf(rds.commandCalls(PromoteReadReplicaCommand)[0]!)).resolves.toBe('eu-west-1');
    expect(step).toMatchObject({ resource: 'accounts', done: false, phase: 'started', mutated: true });
  });

  it('records ReplicaLag AT THE FAULT as the data-loss estimate, not the lag when promoting (which grows with the clock once the primary is gone)', async () => {
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: crashSeries }));

    const step = await promoteEuDatabase(atFault('failover'), ctx);

    // The last period that ENDED by the fault (09:59:30) starts 09:58; the one starting 09:59 holds the fault (34 s of
    // clock), and 334 s is the clock running at 10:04.
    expect(step).toMatchObject({
      mutated: true,
      lagSecondsAtPromotion: 4,
      detail: expect.stringContaining('ReplicaLag 4 s (Maximum of the 60 s period starting 2025-03-04T09:58:00Z)'),
    });
    expect(cloudwatch).toHaveReceivedCommandWith(GetMetricDataCommand, {
      StartTime: new Date('2025-03-04T09:54:30.000Z'),
      EndTime: new Date('2025-03-04T09:59:30.001Z'),
      MetricDataQueries: [
        expect.objectContaining({
          MetricStat: { Metric: { Namespace: 'AWS/RDS', MetricName: 'ReplicaLag', Dimensions: [{ Name: 'DBInstanceIdentifier', Value: REPLICA }] }, Period: 60, Stat: 'Maximum' },
        }),
      ],
    });
  });

  it('reads the lag at the execution start when the start names no earlier failing signal', async () => {
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: crashSeries }));

    const step = await promoteEuDatabase(accounts('failover'), ctx);

    expect(step.lagSecondsAtPromotion).toBe(34); // the period 09:59–10:00, the last one ended by the execution start (10:00:00)
  });

  it('keeps the lag at the fault through an approval wait: a later poll reads the same period', async () => {
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: crashSeries }));

    const step = await promoteEuDatabase(atFault('failover'), stageContext(new Date('2025-03-04T10:30:00.000Z')));

    expect(step.lagSecondsAtPromotion).toBe(4);
  });

  it('says the gap is unknown (null, and why, in the step detail) when a negative ReplicaLag is the datapoint at the fault', async () => {
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: perMinute('2025-03-04T09:57:00.000Z', [3, -1, 300]) }));

    const step = await promoteEuDatabase(atFault('failover'), ctx);

    expect(step).toMatchObject({
      mutated: true,
      lagSecondsAtPromotion: null,
      detail: expect.stringContaining('data-loss estimate (gap at the fault): unknown: invalid negative ReplicaLag datapoint -1'),
    });
  });

  it('records an unknown data-loss estimate as null when no ReplicaLag period ended by the fault (only the one holding it exists)', async () => {
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: perMinute('2025-03-04T09:59:00.000Z', [34, 94]) }));

    const step = await promoteEuDatabase(atFault('failover'), ctx);

    expect(step).toMatchObject({
      mutated: true,
      lagSecondsAtPromotion: null,
      detail: expect.stringContaining('unknown: no ReplicaLag datapoint from a period that ended at or before 2025-03-04T09:59:30Z'),
    });
  });

  it("uses the plan's detection.lagPeriodSeconds as the Period and for the 'ended at or before the fault' rule", async () => {
    const plan = examplePlan((raw) => {
      raw.detection.lagPeriodSeconds = 5;
    });
    // 5 s periods: the one starting 09:59:25 ends 09:59:30 (the fault); the one starting 09:59:30 holds it.
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: perPeriod('2025-03-04T09:59:20.000Z', 5, [1, 2, 6, 11]) }));
    const input = reconcileInput((p) => p.databases[1] as RdsReplicaResource, { mode: 'failover', plan });

    const step = await promoteEuDatabase({ ...input, start: { ...input.start, faultAt: FAULT } }, ctx);

    expect(step).toMatchObject({
      mutated: true,
      lagSecondsAtPromotion: 2,
      detail: expect.stringContaining('ReplicaLag 2 s (Maximum of the 5 s period starting 2025-03-04T09:59:25Z)'),
    });
    expect(cloudwatch).toHaveReceivedCommandWith(GetMetricDataCommand, {
      MetricDataQueries: [expect.objectContaining({ MetricStat: expect.objectContaining({ Period: 5, Stat: 'Maximum' }) })],
    });
  });

  it('is done without a mutating call when the instance is already a standalone writer', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [instance({ replica: false })] });

    const step = await promoteEuDatabase(accounts('failover'), ctx);

    expect(step).toMatchObject({ done: true, phase: 'promoted', mutated: false });
    expect(rds).not.toHaveReceivedCommand(PromoteReadReplicaCommand);
  });

  it('waits without a second call while the promoted instance reboots', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [instance({ replica: false, status: 'rebooting' })] });

    const step = await promoteEuDatabase(accounts('failover', promotingStep({ lagSecondsAtPromotion: 4 })), ctx);

    expect(step).toMatchObject({ done: false, phase: 'promoting', mutated: true, lagSecondsAtPromotion: 4 });
    expect(rds).not.toHaveReceivedCommand(PromoteReadReplicaCommand);
  });

  it('keeps the lag seen at promotion, not a later reading, once the promotion is done', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [instance({ replica: false })] });
    replicaLag(0);

    const step = await promoteEuDatabase(accounts('failover', promotingStep({ lagSecondsAtPromotion: 4 })), ctx);

    expect(step).toMatchObject({ done: true, mutated: true, lagSecondsAtPromotion: 4 });
  });

  it('treats InvalidDBInstanceStateFault on PromoteReadReplica as a promotion already under way, without throwing', async () => {
    rds.on(PromoteReadReplicaCommand).rejects(new InvalidDBInstanceStateFault({ message: 'DB Instance is not a read replica.', $metadata: { httpStatusCode: 400 } }));

    const step = await promoteEuDatabase(accounts('failover'), ctx);

    expect(step).toMatchObject({ done: false, mutated: true, detail: expect.stringContaining('already in progress') });
  });

  it('fails with TransientAwsError when PromoteReadReplica is throttled', async () => {
    rds.on(PromoteReadReplicaCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } }));

    await expect(promoteEuDatabase(accounts('failover'), ctx)).rejects.toMatchObject({ name: 'TransientAwsError', message: expect.stringContaining('rds:PromoteReadReplica') });
  });

  it('fails with ResourceStateError when the replica does not exist', async () => {
    rds.on(DescribeDBInstancesCommand).rejects(new DBInstanceNotFoundFault({ message: `DBInstance ${REPLICA} not found.`, $metadata: { httpStatusCode: 404 } }));

    await expect(promoteEuDatabase(accounts('failover'), ctx)).rejects.toMatchObject({ name: 'ResourceStateError' });
  });

  it('in a planned switchover, waits for ReplicaLag 0 before promoting (phase catching-up, no PromoteReadReplica)', async () => {
    replicaLag(3);

    const step = await promoteEuDatabase(accounts('switchover'), ctx);

    expect(step).toMatchObject({ done: false, phase: 'catching-up', mutated: false });
    expect(rds).not.toHaveReceivedCommand(PromoteReadReplicaCommand);
  });

  it('in a planned switchover, waits while ReplicaLag is unknown', async () => {
    replicaLag(null);

    const step = await promoteEuDatabase(accounts('switchover'), ctx);

    expect(step.phase).toBe('catching-up');
    expect(rds).not.toHaveReceivedCommand(PromoteReadReplicaCommand);
  });

  it('in a planned switchover, promotes once ReplicaLag reads 0, recording no data loss', async () => {
    replicaLag(0);

    const step = await promoteEuDatabase(accounts('switchover', promotingStep({ phase: 'catching-up', mutated: false, lagSecondsAtPromotion: 3 })), ctx);

    expect(rds).toHaveReceivedCommandWith(PromoteReadReplicaCommand, { DBInstanceIdentifier: REPLICA });
    expect(step).toMatchObject({ mutated: true, lagSecondsAtPromotion: 0 });
  });

  it('in a planned switchover, does not trust a ReplicaLag of 0 from a period that started before the fence', async () => {
    // Fenced at 10:04:10: the period starting 10:04:00 began before the fence, even though its 0 was published after.
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: perMinute('2025-03-04T10:02:00.000Z', [2, 1, 0]) }));
    const input = { ...accounts('switchover'), fencedAt: '2025-03-04T10:04:10.000Z' };

    const step = await promoteEuDatabase(input, ctx);

    expect(step).toMatchObject({
      done: false,
      phase: 'catching-up',
      mutated: false,
      detail: expect.stringContaining('unknown: no ReplicaLag datapoint from a period starting at or after 2025-03-04T10:04:10Z'),
    });
    expect(rds).not.toHaveReceivedCommand(PromoteReadReplicaCommand);
  });

  it('in a planned switchover, promotes on a 0 from a period that started at or after the fence (Period 60, Maximum)', async () => {
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: perMinute('2025-03-04T10:02:00.000Z', [2, 1, 0]) }));
    const input = { ...accounts('switchover'), fencedAt: '2025-03-04T10:03:58.000Z' };

    const step = await promoteEuDatabase(input, stageContext(new Date('2025-03-04T10:05:01.000Z')));

    expect(step).toMatchObject({ mutated: true, lagSecondsAtPromotion: 0 });
    expect(cloudwatch).toHaveReceivedCommandWith(GetMetricDataCommand, {
      MetricDataQueries: [expect.objectContaining({ MetricStat: expect.objectContaining({ Period: 60, Stat: 'Maximum' }) })],
    });
  });

  it('treats a ReplicaLag datapoint more than three minutes before the fault as unknown, not as the gap', async () => {
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: [['2025-03-04T09:55:00.000Z', 0.2]] }));

    const step = await promoteEuDatabase(atFault('failover'), ctx);

    expect(step).toMatchObject({ mutated: true, lagSecondsAtPromotion: null });
  });

  it('fails fast on a replica status that waiting cannot fix (storage-full), without promoting', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [instance({ replica: true, status: 'storage-full' })] });

    await expect(promoteEuDatabase(accounts('failover'), ctx)).rejects.toMatchObject({ name: 'ResourceStateError', message: expect.stringContaining('storage-full') });
    expect(rds).not.toHaveReceivedCommand(PromoteReadReplicaCommand);
  });

  it('fails with ReplicaCatchUpDeadlineExceeded when the replica has not caught up by the deadline', async () => {
    replicaLag(3);
    const previous = promotingStep({ phase: 'catching-up', mutated: false, startedAt: '2025-03-04T09:40:00.000Z', deadline: '2025-03-04T10:00:00.000Z' });

    await expect(promoteEuDatabase(accounts('switchover', previous), ctx)).rejects.toMatchObject({ name: 'ReplicaCatchUpDeadlineExceeded' });
    expect(rds).not.toHaveReceivedCommand(PromoteReadReplicaCommand);
  });

  it('fails with PromotionDeadlineExceeded when the promotion is still running after the deadline', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [instance({ replica: false, status: 'modifying' })] });
    const previous = promotingStep({ startedAt: '2025-03-04T09:40:00.000Z', deadline: '2025-03-04T10:00:00.000Z' });

    await expect(promoteEuDatabase(accounts('failover', previous), ctx)).rejects.toMatchObject({
      name: 'PromotionDeadlineExceeded',
      message: expect.stringContaining('rds-replica accounts not done by 2025-03-04T10:00:00.000Z'),
    });
  });

  it('in a drill, says what it would do and makes no mutating call', async () => {
    const step = await promoteEuDatabase(accounts('drill'), ctx);

    expect(step).toMatchObject({ done: true, phase: 'drill', mutated: false, wouldDo: `PromoteReadReplica ${REPLICA} (irreversible; reboots)` });
    expect(rds).not.toHaveReceivedCommand(PromoteReadReplicaCommand);
  });
});

/**
 * The link's state comes from RDS's own read-replication status (DBInstanceStatusInfo, StatusType
 * `read replication`: https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBInstanceStatusInfo.html);
 * a missing ReplicaLag datapoint makes the GAP unknown (RPO at risk), not the replication broken.
 */
describe('rds-replica replication (detection)', () => {
  const plan = examplePlan();
  const db = plan.databases[1] as RdsReplicaResource;
  const fault = { faultAt: new Date(FAULT) };

  it("is 'replicating' with the gap unknown (no lagSeconds, the reason kept) when the status is replicating and ReplicaLag has no datapoint", async () => {
    replicaLag(null);

    const observed = await replication(db, plan, NOW, fault);

    expect(observed).toMatchObject({
      database: 'accounts',
      status: 'replicating',
      lagDetail: 'unknown: no ReplicaLag datapoint from a period that ended at or before 2025-03-04T09:59:30Z',
    });
    expect(observed).not.toHaveProperty('lagSeconds');
  });

  it("is 'replicating' with the gap unknown when the only ReplicaLag datapoint is -1 (invalid, not a broken link)", async () => {
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: perMinute('2025-03-04T09:58:00.000Z', [-1]) }));

    const observed = await replication(db, plan, NOW, fault);

    expect(observed).toMatchObject({ status: 'replicating', lagDetail: expect.stringContaining('invalid negative ReplicaLag datapoint -1') });
    expect(observed).not.toHaveProperty('lagSeconds');
  });

  it("is 'broken' when RDS says read replication is in error, even with a fresh lag datapoint", async () => {
    rds.on(DescribeDBInstancesCommand).resolves(accountsReplicaWithStatus('error'));
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: crashSeries }));

    await expect(replication(db, plan, NOW, fault)).resolves.toMatchObject({ status: 'broken', lagSeconds: 4, detail: expect.stringContaining('read replication error') });
  });

  // https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBInstanceStatusInfo.html: PostgreSQL's "replication degraded" still receives data.
  it("is 'replicating' when RDS says 'replication degraded' (still receiving), and 'broken' at a replication stop point", async () => {
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: crashSeries }));
    rds.on(DescribeDBInstancesCommand).resolves(accountsReplicaWithStatus('replication degraded'));
    await expect(replication(db, plan, NOW, fault)).resolves.toMatchObject({ status: 'replicating', lagSeconds: 4 });
    rds.on(DescribeDBInstancesCommand).resolves(accountsReplicaWithStatus('replication stop point reached'));
    await expect(replication(db, plan, NOW, fault)).resolves.toMatchObject({ status: 'broken' });
  });

  it("is 'unknown' when RDS reports no read-replication status, whatever the lag", async () => {
    rds.on(DescribeDBInstancesCommand).resolves(accountsReplicaWithStatus(undefined));
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: crashSeries }));

    await expect(replication(db, plan, NOW, fault)).resolves.toMatchObject({ status: 'unknown', lagSeconds: 4 });
  });
});
