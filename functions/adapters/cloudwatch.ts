/**
 * CloudWatch reads: alarm states for detection and the latest replication-lag datapoint for the
 * database adapters. Always called in the recovery region, whose metrics and alarms still answer
 * when the primary region is down.
 */
import { DescribeAlarmsCommand, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { cloudwatch } from '../core/clients';
import { awsCall } from '../core/errors';

/** The state of each named alarm (`ALARM` | `OK` | `INSUFFICIENT_DATA`, or `MISSING` when it does not exist). */
export async function alarmStates(region: string, names: string[]): Promise<Array<{ name: string; state: string }>> {
  if (names.length === 0) return [];
  const found = new Map<string, string>();
  for (let i = 0; i < names.length; i += 100) {
    const batch = names.slice(i, i + 100);
    const out = await awsCall(`cloudwatch:DescribeAlarms ${region}`, () =>
      cloudwatch(region).send(new DescribeAlarmsCommand({ AlarmNames: batch, AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] })),
    );
    for (const a of [...(out.MetricAlarms ?? []), ...(out.CompositeAlarms ?? [])]) {
      if (a.AlarmName) found.set(a.AlarmName, a.StateValue ?? 'INSUFFICIENT_DATA');
    }
  }
  return names.map((name) => ({ name, state: found.get(name) ?? 'MISSING' }));
}

/** The most recent datapoint of one metric in the last `lookbackSeconds`, or null when there is none. */
export async function latestMetric(
  region: string,
  metric: { namespace: string; name: string; dimensions: Record<string, string>; stat?: string },
  now: Date,
  lookbackSeconds = 300,
): Promise<number | null> {
  const out = await awsCall(`cloudwatch:GetMetricData ${metric.namespace}/${metric.name} ${region}`, () =>
    cloudwatch(region).send(
      new GetMetricDataCommand({
        StartTime: new Date(now.getTime() - lookbackSeconds * 1000),
        EndTime: now,
        ScanBy: 'TimestampDescending',
        MetricDataQueries: [
          {
            Id: 'm',
            MetricStat: {
              Metric: {
                Namespace: metric.namespace,
                MetricName: metric.name,
                Dimensions: Object.entries(metric.dimensions).map(([Name, Value]) => ({ Name, Value })),
              },
              Period: 60,
              Stat: metric.stat ?? 'Maximum',
            },
          },
        ],
      }),
    ),
  );
  const values = out.MetricDataResults?.[0]?.Values ?? [];
  return values.length > 0 ? values[0]! : null;
}
