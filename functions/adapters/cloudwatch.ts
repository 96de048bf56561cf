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

/** Period of a lag query unless the plan says otherwise: RDS publishes its metrics once a minute (basic monitoring). */
export const LAG_PERIOD_SECONDS = 60;
/** The statistic of every lag query: the worst gap seen in the period. */
export const LAG_STAT = 'Maximum';
/** How far back a lag query looks. */
export const LAG_LOOKBACK_SECONDS = 300;
/** How old (period start, against the time asked about) a lag datapoint may be and still count: 3 periods, at least 180 s. */
export const MAX_LAG_AGE_SECONDS = 180;
const maxAgeSeconds = (period: number) => Math.max(MAX_LAG_AGE_SECONDS, 3 * period);

/** The datapoints of one metric in [start, end), newest first (Stat Maximum over `period` seconds). */
export async function lagSeries(region: string, metric: MetricRef, window: { start: Date; end: Date }, period = LAG_PERIOD_SECONDS): Promise<Datapoint[]> {
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
              Period: period,
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
    const stamp = stamps[i];
    const value = values[i];
    if (stamp === undefined || typeof value !== 'number' || !Number.isFinite(value)) continue;
    const at = new Date(stamp);
    if (Number.isFinite(at.getTime())) points.push({ value, at });
  }
  // Newest first whatever order the service used.
  return points.sort((a, b) => b.at.getTime() - a.at.getTime());
}

/** A replication gap read from CloudWatch: a value with the period it came from, or unknown with the reason. */
export type LagReading = { value: number; at: Date; detail: string } | { value: null; detail: string };

const iso = (d: Date) => d.toISOString().replace('.000Z', 'Z');
const describe = (metric: MetricRef, p: Datapoint, unit: string, period: number) =>
  `${metric.name} ${p.value} ${unit} (${LAG_STAT} of the ${period} s period starting ${iso(p.at)})`;

/** A reading from the newest datapoint, unless it is negative (invalid) or older than allowed relative to `reference`. */
function judge(metric: MetricRef, newest: Datapoint | undefined, reference: Date, unit: string, what: string, period: number): LagReading {
  if (!newest) return { value: null, detail: `unknown: no ${metric.name} datapoint ${what}` };
  if (newest.value < 0) {
    return { value: null, detail: `unknown: invalid negative ${metric.name} datapoint ${newest.value} (period starting ${iso(newest.at)}; -1 means replication is not active)` };
  }
  const age = (reference.getTime() - newest.at.getTime()) / 1000;
  if (age > maxAgeSeconds(period)) {
    return {
      value: null,
      detail: `unknown: the last ${metric.name} datapoint ${what} is from the period starting ${iso(newest.at)}, ${Math.round(age)} s earlier (more than ${maxAgeSeconds(period)} s)`,
    };
  }
  return { value: newest.value, at: newest.at, detail: describe(metric, newest, unit, period) };
}

/**
 * The gap at time `at` (the fault): the last period that ENDED at or before `at`. After the primary
 * dies, RDS PostgreSQL's ReplicaLag (`now() - pg_last_xact_replay_timestamp()`) grows with the
 * clock, so the period that holds the fault mixes in samples that measure time since the last
 * commit, not data lost: it is left out. The last complete period is at most one period old.
 */
export async function lagAt(region: string, metric: MetricRef, at: Date, unit = 's', period = LAG_PERIOD_SECONDS): Promise<LagReading> {
  const lookback = Math.max(LAG_LOOKBACK_SECONDS, 5 * period);
  const points = await lagSeries(region, metric, { start: new Date(at.getTime() - lookback * 1000), end: new Date(at.getTime() + 1) }, period);
  const newest = points.find((p) => p.at.getTime() + period * 1000 <= at.getTime());
  return judge(metric, newest, at, unit, `from a period that ended at or before ${iso(at)}`, period);
}

/**
 * The newest gap measured up to `now`; with `notBefore` (a switchover's fence), only a period that
 * STARTED at or after it counts: a period that began before the fence mixes writes from before it.
 */
export async function latestLag(region: string, metric: MetricRef, now: Date, notBefore?: Date, unit = 's', period = LAG_PERIOD_SECONDS): Promise<LagReading> {
  const lookback = Math.max(LAG_LOOKBACK_SECONDS, 5 * period);
  const points = await lagSeries(region, metric, { start: new Date(now.getTime() - lookback * 1000), end: now }, period);
  const eligible = notBefore ? points.filter((p) => p.at.getTime() >= notBefore.getTime()) : points;
  const reading = judge(metric, eligible[0], now, unit, notBefore ? `from a period starting at or after ${iso(notBefore)}` : `before ${iso(now)}`, period);
  if (reading.value === null && notBefore && points[0]) {
    return { value: null, detail: `${reading.detail} (newest: period starting ${iso(points[0].at)}, before it)` };
  }
  return reading;
}

/** Scales a reading (Aurora's lag metrics are in milliseconds; the orchestrator speaks seconds). */
export function scaled(reading: LagReading, factor: number): LagReading {
  return reading.value === null ? reading : { ...reading, value: reading.value * factor };
}
