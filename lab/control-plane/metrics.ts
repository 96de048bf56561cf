/**
 * CloudWatch metric storage and GetMetricData aggregation, as CloudWatch does it: datapoints are
 * stored as published (PutMetricData, or a service publishing its own metric once per minute) and
 * a query groups them into buckets of its Period, aligned to the period from the start time
 * (rounded down to the minute), each bucket answered with the requested statistic and stamped
 * with the bucket's start. Buckets without datapoints are absent (CloudWatch does not fill gaps).
 *
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricStat.html
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html
 */
import { AwsApiError, type MetricDatum, type MetricQuery, type PutMetricDatum } from '../../local/aws/backend';

const key = (namespace: string, name: string, dimensions: Record<string, string>): string =>
  JSON.stringify([namespace, name, Object.entries(dimensions).sort(([a], [b]) => a.localeCompare(b))]);

/** Datapoints per metric (namespace, name and the exact set of dimensions, as CloudWatch identifies a metric). */
export class MetricStore {
  private readonly series = new Map<string, MetricDatum[]>();

  /** Stores PutMetricData datums (validated by the caller); `now` stamps datums without Timestamp. */
  put(namespace: string, data: PutMetricDatum[], now = new Date()): void {
    for (const d of data) {
      const at = d.Timestamp ?? now;
      let values: Array<{ value: number; count: number }> = [];
      if (d.Value !== undefined) values = [{ value: d.Value, count: 1 }];
      else if (d.Values) values = d.Values.map((value, i) => ({ value, count: d.Counts?.[i] ?? 1 }));
      this.add(namespace, d.MetricName, d.Dimensions, { at, values, ...(d.StatisticValues ? { statistics: d.StatisticValues } : {}), ...(d.Unit ? { unit: d.Unit } : {}) });
    }
  }

  add(namespace: string, name: string, dimensions: Record<string, string>, datum: MetricDatum): void {
    const k = key(namespace, name, dimensions);
    const list = this.series.get(k) ?? [];
    list.push(datum);
    this.series.set(k, list);
  }

  /** Datapoints with `start <= at < end` (GetMetricData's StartTime is inclusive, EndTime exclusive). */
  query(q: MetricQuery): MetricDatum[] {
    return (this.series.get(key(q.namespace, q.name, q.dimensions)) ?? []).filter((d) => d.at >= q.start && d.at < q.end);
  }
}

/** Periods CloudWatch accepts: 1, 5, 10, 20, 30, 60 or any multiple of 60 (API_MetricStat.html). */
export function validPeriod(period: number): boolean {
  return Number.isInteger(period) && (period % 60 === 0 ? period > 0 : [1, 5, 10, 20, 30].includes(period));
}

const PERCENTILE = /^p(\d{1,2}(\.\d{1,2})?|100)$/;

/** The statistics the lab answers: the five basic ones and percentiles (pNN, pNN.NN). */
export function validStat(stat: string): boolean {
  return ['Average', 'Minimum', 'Maximum', 'Sum', 'SampleCount'].includes(stat) || PERCENTILE.test(stat);
}

interface Bucket {
  sum: number;
  count: number;
  min: number;
  max: number;
  /** Raw values with their counts; undefined once a statistic set (which has no distribution) joined the bucket. */
  raw?: Array<{ value: number; count: number }>;
}

function addToBucket(b: Bucket, d: MetricDatum): void {
  for (const { value, count } of d.values) {
    b.sum += value * count;
    b.count += count;
    b.min = Math.min(b.min, value);
    b.max = Math.max(b.max, value);
    b.raw?.push({ value, count });
  }
  if (d.statistics) {
    b.sum += d.statistics.Sum;
    b.count += d.statistics.SampleCount;
    b.min = Math.min(b.min, d.statistics.Minimum);
    b.max = Math.max(b.max, d.statistics.Maximum);
    b.raw = undefined;
  }
}

/** Nearest-rank percentile over weighted values; undefined when the bucket has no distribution. */
function percentile(b: Bucket, p: number): number | undefined {
  if (!b.raw || b.count === 0) return undefined;
  const sorted = [...b.raw].sort((x, y) => x.value - y.value);
  const rank = Math.max(1, Math.ceil((p / 100) * b.count));
  let seen = 0;
  for (const { value, count } of sorted) {
    seen += count;
    if (seen >= rank) return value;
  }
  return sorted[sorted.length - 1]!.value;
}

function statOf(b: Bucket, stat: string): number | undefined {
  if (b.count === 0) return undefined;
  switch (stat) {
    case 'Average':
      return b.sum / b.count;
    case 'Minimum':
      return b.min;
    case 'Maximum':
      return b.max;
    case 'Sum':
      return b.sum;
    case 'SampleCount':
      return b.count;
    default:
      return percentile(b, Number(stat.slice(1)));
  }
}

/**
 * The start CloudWatch uses for a query: StartTime rounded down to the whole minute (a start less
 * than 15 days ago, the lab's case), or to the period for high-resolution periods below a minute.
 */
export function effectiveStart(start: Date, period: number): number {
  const s = Math.floor(start.getTime() / 1000);
  return period >= 60 ? s - (((s % 60) + 60) % 60) : s - (((s % period) + period) % period);
}

/**
 * GetMetricData for one MetricStat: one value per period bucket that holds datapoints, stamped with
 * the bucket start, newest first unless `ascending` (ScanBy TimestampAscending).
 */
export function aggregate(
  data: MetricDatum[],
  q: { start: Date; end: Date; period: number; stat: string; unit?: string; ascending?: boolean },
): { timestamps: Date[]; values: number[] } {
  if (!validPeriod(q.period)) {
    throw new AwsApiError('InvalidParameterValue', `The value ${q.period} for parameter Period is not valid: use 1, 5, 10, 20, 30, 60 or a multiple of 60 seconds.`, 400);
  }
  if (!validStat(q.stat))
    throw new AwsApiError('InvalidParameterValue', `The value ${q.stat} for parameter Stat is not supported by the lab (Average, Minimum, Maximum, Sum, SampleCount, pNN).`, 400);
  const from = effectiveStart(q.start, q.period);
  const to = q.end.getTime() / 1000;
  const buckets = new Map<number, Bucket>();
  for (const d of data) {
    if (q.unit && d.unit && d.unit !== q.unit) continue;
    const t = d.at.getTime() / 1000;
    if (t < from || t >= to) continue;
    const start = from + Math.floor((t - from) / q.period) * q.period;
    let b = buckets.get(start);
    if (!b) {
      b = { sum: 0, count: 0, min: Infinity, max: -Infinity, raw: [] };
      buckets.set(start, b);
    }
    addToBucket(b, d);
  }
  const rows = [...buckets.entries()]
    .map(([start, b]) => ({ start, value: statOf(b, q.stat) }))
    .filter((r): r is { start: number; value: number } => r.value !== undefined)
    .sort((a, b) => (q.ascending ? a.start - b.start : b.start - a.start));
  return { timestamps: rows.map((r) => new Date(r.start * 1000)), values: rows.map((r) => r.value) };
}
