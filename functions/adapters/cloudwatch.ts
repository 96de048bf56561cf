/**
 * CloudWatch reads: alarm states for detection and replication-lag datapoints for the database
 * adapters. Always called in the recovery region, whose metrics and alarms still answer when the
 * primary region is down.
 *
 * How a lag datapoint is read (GetMetricData, https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html):
 * every query states its Period (60 s, RDS basic monitoring) and Stat (Maximum: the worst gap in the
 * period); a returned timestamp is the START of its period (the bucket holds [t, t + 60 s));
 * StartTime is inclusive and EndTime exclusive. Negative values are not a gap (RDS reports -1 when
 * replication is not active) and count as no datapoint. What is not known is said to be unknown,
 * with the reason, never replaced by a guess.
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

export interface MetricRef {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
}

export interface Datapoint {
  value: number;
  /** Start of the period the value aggregates (CloudWatch's timestamp). */
  at: Date;
}

/** Period of every lag query: RDS publishes its metrics once a minute (basic monitoring). */
export const LAG_PERIOD_SECONDS = 60;
/** The statistic of every lag query: the worst gap seen in the period. */
export const LAG_STAT = 'Maximum';
/** How far back a lag query looks. */
export const LAG_LOOKBACK_SECONDS = 300;
/** How old (period start, against the time asked about) a lag datapoint may be and still count. */
export const MAX_LAG_AGE_SECONDS = 180;

/** The datapoints of one metric in [start, end), newest first (Period 60 s, Stat Maximum). */
export async function lagSeries(region: string, metric: MetricRef, window: { start: Date; end: Date }): Promise<Datapoint[]> {
  const out = await awsCall(`cloudwatch:GetMetricData ${metric.namespace}/${metric.name} ${region}`, () =>
    cloudwatch(region).send(
      new GetMetricDataCommand({
        StartTime: window.start,
        EndTime: window.end,
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
              Period: LAG_PERIOD_SECONDS,
              Stat: LAG_STAT,
            },
          },
        ],
      }),
    ),
  );
  const result = out.MetricDataResults?.[0];
  const values = result?.Values ?? [];
  const stamps = result?.Timestamps ?? [];
  const points: Datapoint[] = [];
  for (let i = 0; i < Math.min(values.length, stamps.length); i++) {
    const at = new Date(stamps[i]!);
    if (Number.isFinite(at.getTime()) && typeof values[i] === 'number' && Number.isFinite(values[i])) points.push({ value: values[i]!, at });
  }
  // Newest first whatever order the service used.
  return points.sort((a, b) => b.at.getTime() - a.at.getTime());
}

/** A replication gap read from CloudWatch: a value with the period it came from, or unknown with the reason. */
export type LagReading = { value: number; at: Date; detail: string } | { value: null; detail: string };

const iso = (d: Date) => d.toISOString().replace('.000Z', 'Z');
const describe = (metric: MetricRef, p: Datapoint, unit: string) =>
  `${metric.name} ${p.value} ${unit} (${LAG_STAT} of the ${LAG_PERIOD_SECONDS} s period starting ${iso(p.at)})`;

/** A reading from the newest datapoint, unless it is negative (invalid) or older than allowed relative to `reference`. */
function judge(metric: MetricRef, newest: Datapoint | undefined, reference: Date, unit: string, what: string): LagReading {
  if (!newest) return { value: null, detail: `unknown: no ${metric.name} datapoint ${what}` };
  if (newest.value < 0) {
    return { value: null, detail: `unknown: invalid negative ${metric.name} datapoint ${newest.value} (period starting ${iso(newest.at)}; -1 means replication is not active)` };
  }
  const age = (reference.getTime() - newest.at.getTime()) / 1000;
  if (age > MAX_LAG_AGE_SECONDS) {
    return { value: null, detail: `unknown: the last ${metric.name} datapoint ${what} is from the period starting ${iso(newest.at)}, ${Math.round(age)} s earlier (more than ${MAX_LAG_AGE_SECONDS} s)` };
  }
  return { value: newest.value, at: newest.at, detail: describe(metric, newest, unit) };
}

/**
 * The gap at time `at` (the fault): the last datapoint whose period started at or before `at`.
 * The window ends just after `at`, so samples taken after the fault, when RDS PostgreSQL's lag
 * grows with the clock, do not count where CloudWatch can leave them out. A period that began
 * before the fault may still hold later samples: the value is then an upper bound (conservative).
 */
export async function lagAt(region: string, metric: MetricRef, at: Date, unit = 's'): Promise<LagReading> {
  const points = await lagSeries(region, metric, { start: new Date(at.getTime() - LAG_LOOKBACK_SECONDS * 1000), end: new Date(at.getTime() + 1) });
  const newest = points.find((p) => p.at.getTime() <= at.getTime());
  return judge(metric, newest, at, unit, `at or before ${iso(at)}`);
}

/**
 * The newest gap measured up to `now`; with `notBefore` (a switchover's fence), only a period that
 * STARTED at or after it counts: a period that began before the fence mixes writes from before it.
 */
export async function latestLag(region: string, metric: MetricRef, now: Date, notBefore?: Date, unit = 's'): Promise<LagReading> {
  const points = await lagSeries(region, metric, { start: new Date(now.getTime() - LAG_LOOKBACK_SECONDS * 1000), end: now });
  const eligible = notBefore ? points.filter((p) => p.at.getTime() >= notBefore.getTime()) : points;
  const reading = judge(metric, eligible[0], now, unit, notBefore ? `from a period starting at or after ${iso(notBefore)}` : `before ${iso(now)}`);
  if (reading.value === null && notBefore && points[0]) {
    return { value: null, detail: `${reading.detail} (newest: period starting ${iso(points[0].at)}, before it)` };
  }
  return reading;
}

/** Scales a reading (Aurora's lag metrics are in milliseconds; the orchestrator speaks seconds). */
export function scaled(reading: LagReading, factor: number): LagReading {
  return reading.value === null ? reading : { ...reading, value: reading.value * factor };
}
