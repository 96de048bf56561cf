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

export interface Datapoint {
  value: number;
  /** When CloudWatch says it was measured. */
  at: Date;
}

/**
 * The most recent datapoint of one metric in the last `lookbackSeconds`, or null when there is none.
 * Callers decide how old is too old (see `freshLag`): a value from before a crash or a fence is not
 * the current replication gap.
 */
export async function latestMetric(
  region: string,
  metric: { namespace: string; name: string; dimensions: Record<string, string>; stat?: string },
  now: Date,
  lookbackSeconds = 300,
): Promise<Datapoint | null> {
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
  const result = out.MetricDataResults?.[0];
  const values = result?.Values ?? [];
  const at = result?.Timestamps?.[0];
  return values.length > 0 && at ? { value: values[0]!, at } : null;
}

/** How old a replication-lag datapoint may be and still count as the current gap. */
export const MAX_LAG_AGE_SECONDS = 180;

/** The datapoint's value when it is recent enough (and, if given, measured after `notBefore`); otherwise null (unknown). */
export function freshValue(point: Datapoint | null, now: Date, notBefore?: Date): number | null {
  if (!point) return null;
  if (now.getTime() - point.at.getTime() > MAX_LAG_AGE_SECONDS * 1000) return null;
  if (notBefore && point.at.getTime() < notBefore.getTime()) return null;
  return point.value;
}
