/**
 * How the orchestrator reads CloudWatch: replication-lag datapoints (Period 60 s, Maximum, timestamps
 * = period START, EndTime exclusive — https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html)
 * and alarm states (MISSING when the alarm does not exist).
 */
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { alarmStates, lagAt, latestLag, scaled, type MetricRef } from '../../functions/adapters/cloudwatch';
import { metricSeries, perMinute } from '../helpers/rds-responses';

const cloudwatch = mockClient(CloudWatchClient);
const REGION = 'eu-west-1';
const LAG: MetricRef = { namespace: 'AWS/RDS', name: 'ReplicaLag', dimensions: { DBInstanceIdentifier: 'payments-accounts-euw1' } };

/** A primary that died at 10:00:30: steady lag, then the clock running (now() - pg_last_xact_replay_timestamp()). */
const series = perMinute('2025-03-04T09:57:00.000Z', [2, 3, 5, 4, 64, 124]); // 09:57 … 10:02 (period starts)

beforeEach(() => {
  cloudwatch.reset();
  cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: series }));
});

describe('lagAt (the gap at the fault)', () => {
  it('queries Period 60 / Maximum over the five minutes up to just after the fault, newest first', async () => {
    await lagAt(REGION, LAG, new Date('2025-03-04T10:00:30.000Z'));

    expect(cloudwatch).toHaveReceivedCommandWith(GetMetricDataCommand, {
      StartTime: new Date('2025-03-04T09:55:30.000Z'),
      EndTime: new Date('2025-03-04T10:00:30.001Z'),
      ScanBy: 'TimestampDescending',
      MetricDataQueries: [
        {
          Id: 'm',
          MetricStat: { Metric: { Namespace: 'AWS/RDS', MetricName: 'ReplicaLag', Dimensions: [{ Name: 'DBInstanceIdentifier', Value: 'payments-accounts-euw1' }] }, Period: 60, Stat: 'Maximum' },
        },
      ],
    });
  });

  it('takes the last period that STARTED at or before the fault, not the newest datapoint', async () => {
    const reading = await lagAt(REGION, LAG, new Date('2025-03-04T10:00:30.000Z'));

    expect(reading).toEqual({ value: 4, at: new Date('2025-03-04T10:00:00.000Z'), detail: 'ReplicaLag 4 s (Maximum of the 60 s period starting 2025-03-04T10:00:00Z)' });
  });

  it('ignores a period starting after the fault even when the service returns it (EndTime rounding)', async () => {
    cloudwatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [{ Id: 'm', Timestamps: [new Date('2025-03-04T10:01:00.000Z'), new Date('2025-03-04T10:00:00.000Z')], Values: [64, 4] }],
    });

    await expect(lagAt(REGION, LAG, new Date('2025-03-04T10:00:30.000Z'))).resolves.toMatchObject({ value: 4 });
  });

  it('does not depend on the order the service returns the datapoints in', async () => {
    cloudwatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [{ Id: 'm', Timestamps: [new Date('2025-03-04T09:58:00.000Z'), new Date('2025-03-04T09:59:00.000Z')], Values: [3, 5] }],
    });

    await expect(lagAt(REGION, LAG, new Date('2025-03-04T10:00:30.000Z'))).resolves.toMatchObject({ value: 5 });
  });

  it('rejects a negative datapoint as invalid: the gap is unknown, with the reason', async () => {
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: perMinute('2025-03-04T09:59:00.000Z', [3, -1]) }));

    await expect(lagAt(REGION, LAG, new Date('2025-03-04T10:00:30.000Z'))).resolves.toEqual({
      value: null,
      detail: 'unknown: invalid negative ReplicaLag datapoint -1 (period starting 2025-03-04T10:00:00Z; -1 means replication is not active)',
    });
  });

  it('says unknown when no datapoint exists at or before the fault', async () => {
    await expect(lagAt(REGION, LAG, new Date('2025-03-04T09:50:00.000Z'))).resolves.toEqual({
      value: null,
      detail: 'unknown: no ReplicaLag datapoint at or before 2025-03-04T09:50:00Z',
    });
  });

  it('says unknown when the last datapoint before the fault is more than three minutes older than it', async () => {
    cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries({ ReplicaLag: [['2025-03-04T09:56:00.000Z', 2]] }));

    await expect(lagAt(REGION, LAG, new Date('2025-03-04T10:00:30.000Z'))).resolves.toMatchObject({ value: null, detail: expect.stringContaining('270 s earlier (more than 180 s)') });
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

    await alarmStates(REGION, Array.from({ length: 150 }, (_, i) => `alarm-${i}`));

    expect(cloudwatch.commandCalls(DescribeAlarmsCommand).map((c) => c.args[0].input.AlarmNames?.length)).toEqual([100, 50]);
  });
});
