/**
 * How the orchestrator reads CloudWatch: replication-lag datapoints (Period 60 s, Maximum, timestamps
 * = period START, EndTime exclusive — https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html)
 * and alarm states (MISSING when the alarm does not exist).
 */
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { alarmStates, lagAt, latestLag, scaled, type MetricRef } from '../../../functions/adapters/cloudwatch';
import { metricSeries, perMinute, perPeriod } from '../../helpers/rds-responses';

const cloudwatch = mockClient(CloudWatchClient);
const REGION = 'eu-west-1';
const LAG: MetricRef = { namespace: 'AWS/RDS', name: 'ReplicaLag', dimensions: { DBInstanceIdentifier: 'payments-accounts-euw1' } };

/**
 * A primary that died at 10:00:30: steady lag, then the clock running. RDS PostgreSQL's ReplicaLag is
 * `now() - pg_last_xact_replay_timestamp()` on the replica
 * (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PostgreSQL.Replication.ReadReplicas.Monitor.html),
 * so the period starting 10:00 (which holds the fault) already has a Maximum of ~30 s that is time since
 * the last commit, not data lost.
 */
const series = perMinute('2025-03-04T09:57:00.000Z', [2, 3, 5, 34, 94, 154]); // 09:57 … 10:02 (period starts)
const FAULT = new Date('2025-03-04T10:00:30.000Z');

beforeEach(() => {
  cloudwatch.reset();
  cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: series }));
});

/** GetMetricData answering exactly these datapoints (timestamp = period start), in this order. */
const returns = (points: Array<[string, number]>) =>
  cloudwatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [{ Id: 'm', Timestamps: points.map(([at]) => new Date(at)), Values: points.map(([, v]) => v) }] });

describe('lagAt (the gap at the fault)', () => {
  it('queries Period 60 / Maximum over the five minutes up to just after the fault, newest first', async () => {
    await lagAt(REGION, LAG, FAULT);

    expect(cloudwatch).toHaveReceivedCommandWith(GetMetricDataCommand, {
      StartTime: new Date('2025-03-04T09:55:30.000Z'),
      EndTime: new Date('2025-03-04T10:00:30.001Z'),
      ScanBy: 'TimestampDescending',
      MetricDataQueries: [
        {
          Id: 'm',
          MetricStat: {
            Metric: { Namespace: 'AWS/RDS', MetricName: 'ReplicaLag', Dimensions: [{ Name: 'DBInstanceIdentifier', Value: 'payments-accounts-euw1' }] },
            Period: 60,
            Stat: 'Maximum',
          },
        },
      ],
    });
  });

  it('takes the last period that ENDED at or before the fault (09:59–10:00), not the one holding it nor the newest datapoint', async () => {
    const reading = await lagAt(REGION, LAG, FAULT);

    expect(reading).toEqual({ value: 5, at: new Date('2025-03-04T09:59:00.000Z'), detail: 'ReplicaLag 5 s (Maximum of the 60 s period starting 2025-03-04T09:59:00Z)' });
  });

  it('excludes the period that holds the fault even when the service returns it: its Maximum is the post-fault growth, not the data lost', async () => {
    returns([
      ['2025-03-04T10:00:00.000Z', 34],
      ['2025-03-04T09:59:00.000Z', 5],
    ]);

    await expect(lagAt(REGION, LAG, FAULT)).resolves.toMatchObject({ value: 5, at: new Date('2025-03-04T09:59:00.000Z') });
  });

  it('counts a period that ended exactly at the fault, and not one that ends a millisecond after it', async () => {
    returns([
      ['2025-03-04T10:00:00.000Z', 34],
      ['2025-03-04T09:59:00.000Z', 5],
    ]);

    await expect(lagAt(REGION, LAG, new Date('2025-03-04T10:01:00.000Z'))).resolves.toMatchObject({ value: 34 });
    await expect(lagAt(REGION, LAG, new Date('2025-03-04T10:00:59.999Z'))).resolves.toMatchObject({ value: 5 });
  });

  it('says unknown when the only datapoint near the fault is the period that holds it', async () => {
    returns([['2025-03-04T10:00:00.000Z', 34]]);

    await expect(lagAt(REGION, LAG, FAULT)).resolves.toEqual({
      value: null,
      detail: 'unknown: no ReplicaLag datapoint from a period that ended at or before 2025-03-04T10:00:30Z',
    });
  });

  it('ignores a period starting after the fault even when the service returns it (EndTime rounding)', async () => {
    returns([
      ['2025-03-04T10:01:00.000Z', 94],
      ['2025-03-04T10:00:00.000Z', 34],
      ['2025-03-04T09:59:00.000Z', 5],
    ]);

    await expect(lagAt(REGION, LAG, FAULT)).resolves.toMatchObject({ value: 5 });
  });

  it('does not depend on the order the service returns the datapoints in', async () => {
    returns([
      ['2025-03-04T09:58:00.000Z', 3],
      ['2025-03-04T10:00:00.000Z', 34],
      ['2025-03-04T09:59:00.000Z', 5],
    ]);

    await expect(lagAt(REGION, LAG, FAULT)).resolves.toMatchObject({ value: 5 });
  });

  it('rejects a negative datapoint as invalid: the gap is unknown, with the reason', async () => {
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: perMinute('2025-03-04T09:58:00.000Z', [3, -1, 34]) }));

    await expect(lagAt(REGION, LAG, FAULT)).resolves.toEqual({
      value: null,
      detail: 'unknown: invalid negative ReplicaLag datapoint -1 (period starting 2025-03-04T09:59:00Z; -1 means replication is not active)',
    });
  });

  it('says unknown when no datapoint exists before the fault', async () => {
    await expect(lagAt(REGION, LAG, new Date('2025-03-04T09:50:00.000Z'))).resolves.toEqual({
      value: null,
      detail: 'unknown: no ReplicaLag datapoint from a period that ended at or before 2025-03-04T09:50:00Z',
    });
  });

  it('says unknown when the last datapoint before the fault is more than three minutes older than it', async () => {
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: [['2025-03-04T09:56:00.000Z', 2]] }));

    await expect(lagAt(REGION, LAG, FAULT)).resolves.toMatchObject({ value: null, detail: expect.stringContaining('270 s earlier (more than 180 s)') });
  });

  describe("with a custom period (the plan's detection.lagPeriodSeconds)", () => {
    /** 5 s periods around a fault at 10:00:02.5: the period starting 10:00:00 holds it. */
    const fiveSecond = perPeriod('2025-03-04T09:59:50.000Z', 5, [1, 2, 4.5, 9.5]);
    const fault = new Date('2025-03-04T10:00:02.500Z');

    beforeEach(() => {
      cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: fiveSecond }));
    });

    it('sends it as the Period of the query (same lookback: at least five minutes)', async () => {
      await lagAt(REGION, LAG, fault, 's', 5);

      expect(cloudwatch).toHaveReceivedCommandWith(GetMetricDataCommand, {
        StartTime: new Date('2025-03-04T09:55:02.500Z'),
        EndTime: new Date('2025-03-04T10:00:02.501Z'),
        MetricDataQueries: [expect.objectContaining({ MetricStat: expect.objectContaining({ Period: 5, Stat: 'Maximum' }) })],
      });
    });

    it('uses it for the "ended at or before the fault" rule: the 5 s period ending 10:00:00, not the one holding the fault', async () => {
      await expect(lagAt(REGION, LAG, fault, 's', 5)).resolves.toEqual({
        value: 2,
        at: new Date('2025-03-04T09:59:55.000Z'),
        detail: 'ReplicaLag 2 s (Maximum of the 5 s period starting 2025-03-04T09:59:55Z)',
      });
    });

    it('still allows a datapoint 180 s old (max age is max(180 s, 3 periods))', async () => {
      cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: [['2025-03-04T09:57:05.000Z', 1]] }));

      await expect(lagAt(REGION, LAG, new Date('2025-03-04T10:00:05.000Z'), 's', 5)).resolves.toMatchObject({ value: 1 });
      await expect(lagAt(REGION, LAG, new Date('2025-03-04T10:00:05.001Z'), 's', 5)).resolves.toMatchObject({ value: null, detail: expect.stringContaining('(more than 180 s)') });
    });

    it('allows three periods of age when that is more than 180 s (Period 120: 360 s)', async () => {
      cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: [['2025-03-04T09:55:00.000Z', 7]] }));

      await expect(lagAt(REGION, LAG, new Date('2025-03-04T10:00:30.000Z'), 's', 120)).resolves.toMatchObject({ value: 7 });
      await expect(lagAt(REGION, LAG, new Date('2025-03-04T10:01:00.001Z'), 's', 120)).resolves.toMatchObject({
        value: null,
        detail: expect.stringContaining('(more than 360 s)'),
      });
    });
  });

  it('scales Aurora milliseconds to seconds, keeping an unknown unknown', () => {
    expect(scaled({ value: 2500, at: new Date(0), detail: 'x' }, 1 / 1000)).toMatchObject({ value: 2.5 });
    expect(scaled({ value: null, detail: 'unknown: y' }, 1 / 1000)).toEqual({ value: null, detail: 'unknown: y' });
  });
});

describe('latestLag (a planned switchover waiting for 0 after the fence)', () => {
  it('counts only a period that started at or after the fence', async () => {
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: perMinute('2025-03-04T10:00:00.000Z', [2, 0, 0]) }));
    const now = new Date('2025-03-04T10:03:05.000Z');

    await expect(latestLag(REGION, LAG, now, new Date('2025-03-04T10:02:00.000Z'))).resolves.toMatchObject({ value: 0, at: new Date('2025-03-04T10:02:00.000Z') });
    await expect(latestLag(REGION, LAG, now, new Date('2025-03-04T10:02:00.500Z'))).resolves.toEqual({
      value: null,
      detail: 'unknown: no ReplicaLag datapoint from a period starting at or after 2025-03-04T10:02:00.500Z (newest: period starting 2025-03-04T10:02:00Z, before it)',
    });
  });

  it('queries up to now, Period 60 and Maximum', async () => {
    await latestLag(REGION, LAG, new Date('2025-03-04T10:03:05.000Z'));

    expect(cloudwatch).toHaveReceivedCommandWith(GetMetricDataCommand, {
      EndTime: new Date('2025-03-04T10:03:05.000Z'),
      MetricDataQueries: [expect.objectContaining({ MetricStat: expect.objectContaining({ Period: 60, Stat: 'Maximum' }) })],
    });
  });

  it("sends a custom period (the plan's detection.lagPeriodSeconds) as Period", async () => {
    await latestLag(REGION, LAG, new Date('2025-03-04T10:03:05.000Z'), undefined, 's', 5);

    expect(cloudwatch).toHaveReceivedCommandWith(GetMetricDataCommand, {
      MetricDataQueries: [expect.objectContaining({ MetricStat: expect.objectContaining({ Period: 5, Stat: 'Maximum' }) })],
    });
  });
});

describe('alarmStates', () => {
  it('reports an alarm that does not exist as MISSING, in the order asked', async () => {
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [{ AlarmName: 'b', StateValue: 'INSUFFICIENT_DATA' }], CompositeAlarms: [{ AlarmName: 'a', StateValue: 'OK' }] });

    await expect(alarmStates(REGION, ['a', 'b', 'c'])).resolves.toEqual([
      { name: 'a', state: 'OK' },
      { name: 'b', state: 'INSUFFICIENT_DATA' },
      { name: 'c', state: 'MISSING' },
    ]);
  });

  it('asks for at most 100 alarm names per DescribeAlarms call', async () => {
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });

    await alarmStates(
      REGION,
      Array.from({ length: 150 }, (_, i) => `alarm-${i}`),
    );

    expect(cloudwatch.commandCalls(DescribeAlarmsCommand).map((c) => c.args[0].input.AlarmNames?.length)).toEqual([100, 50]);
  });
});
