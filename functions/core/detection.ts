/**
 * Detection from the recovery region, as a pure function of the plan: the CloudWatch alarms the
 * stack creates (serverless.yml renders each spec into an AWS::CloudWatch::Alarm) and how the
 * scheduled probe Lambda (functions/probe-primary.ts) samples the primary so those alarms have data.
 *
 * Why the recovery region: an alarm can only watch metrics of its own region, and an EventBridge
 * rule only sees its own region's events. Metrics that live in the primary region (the US writer's
 * AWS/RDS metrics, Route 53 health-check metrics, which are published in us-east-1) cannot drive an
 * alarm in eu-west-1, and would vanish with the region anyway. So the stack alarms on:
 *   - the probe metric its own probe Lambda publishes from the recovery region
 *     (`<plan.detection.metricNamespace>/ProbeSuccess`, dimensions Plan + Probe: 1 = the primary
 *     endpoint answered as expected, 0 = it did not, including "accepted and never answered");
 *   - each database's replication metric that AWS publishes in the recovery region: RDS
 *     `ReplicaLag` of the cross-region replica, Aurora `AuroraGlobalDBRPOLag` of the secondary
 *     cluster (secondary-region only, in milliseconds).
 *
 * CloudWatch semantics relied on (Amazon CloudWatch User Guide):
 *   - "Alarm evaluation" — https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html
 *     Period, Evaluation Periods (N) and Datapoints to Alarm (M): the alarm goes to ALARM when M of
 *     the last N periods breach ("M out of N"); the breaching datapoints need not be consecutive.
 *   - "Configuring how CloudWatch alarms treat missing data" —
 *     https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html
 *     With `missing`, CloudWatch evaluates the most recent real datapoints of the evaluation range
 *     (looking further back when some periods have none) and goes to INSUFFICIENT_DATA only when
 *     every datapoint of the range is missing; `breaching` turns an all-missing range into ALARM.
 *   - "High-resolution alarms": a period of 10 or 30 s needs a high-resolution metric (published
 *     with StorageResolution 1); otherwise a multiple of 60 s.
 *     https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/publishingMetrics.html#high-resolution-metrics
 *   - PutMetricAlarm: EvaluationPeriods × Period may not exceed one day.
 *     https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
 */
import { InvalidPlanError } from './errors';
import type { AuroraGlobalResource, LagAlarm, Plan, ProbeAlarm, RdsReplicaResource } from './plan';

/** Name of the probe metric the probe Lambda publishes (1 = healthy, 0 = failed). */
export const PROBE_METRIC = 'ProbeSuccess';

/** What an alarm watches, in the words of CloudWatch's PutMetricAlarm. */
export interface AlarmSpec {
  /** The plan's alarm name (the EventBridge rules match alarm state changes on these names). */
  name: string;
  kind: 'health' | 'database' | 'replication-lag';
  description: string;
  /** Always the plan's recovery region: the stack is deployed there, and so is every alarm. */
  region: string;
  namespace: string;
  metricName: string;
  /** Dimension name → value, in a stable order. */
  dimensions: Record<string, string>;
  statistic: 'Minimum' | 'Maximum';
  periodSeconds: number;
  evaluationPeriods: number;
  datapointsToAlarm: number;
  threshold: number;
  comparison: 'LessThanThreshold' | 'GreaterThanThreshold';
  treatMissingData: 'missing' | 'breaching' | 'notBreaching' | 'ignore';
  /** Why missing data is treated this way (kept next to the setting, and rendered into the alarm description). */
  treatMissingDataReason: string;
  /** A 10 / 30 s period: needs a metric published with StorageResolution 1. */
  highResolution: boolean;
}

/**
 * A probe alarm's missing data is `missing`, never `breaching`: no datapoint means the probe Lambda
 * did not report (not deployed yet, throttled, failed to publish), not that the primary is down —
 * a dead or hanging primary still produces datapoints (0), because every probe ends at its own
 * timeout. `breaching` would put every probe alarm in ALARM as soon as the stack creates it (an
 * all-missing evaluation range is breaching), starting a failover run on each deploy. A probe Lambda
 * that fails is reported by the StageFailures alarm instead, and an alarm left in INSUFFICIENT_DATA
 * is reported as not ready by the drill.
 */
const PROBE_MISSING_DATA_REASON = 'missing: no datapoint means the probe did not report, not that the primary is down (a down or hanging primary reports 0)';

/**
 * A lag alarm's missing data is `missing` too: no ReplicaLag / AuroraGlobalDBRPOLag datapoint means
 * nothing is replicating to measure (the replica was promoted, the secondary became primary) or the
 * metric is late, not that the lag is high; a dead primary is the health alarms' job, and the
 * confirm stage counts an unknown gap as RPO at risk on its own.
 */
const LAG_MISSING_DATA_REASON = 'missing: no lag datapoint means nothing is measured (replica promoted, metric late), not that the lag is high';

/** AWS/RDS publishes its metrics once a minute: a shorter alarm period would see mostly missing data. */
const AWS_METRIC_PERIOD_SECONDS = 60;

/** A probe Lambda invocation may spend at most this long sampling (Lambda's hard limit is 900 s). */
export const MAX_SAMPLING_WINDOW_SECONDS = 600;

/** The cluster identifier of an RDS cluster ARN (`arn:aws:rds:eu-west-1:111122223333:cluster:payments-ledger-euw1`). */
export function clusterIdOf(clusterArn: string): string {
  const match = /:cluster:([^:/]+)$/.exec(clusterArn);
  const id = match?.[1];
  if (!id) throw new InvalidPlanError(`${clusterArn} is not an RDS cluster ARN (arn:…:rds:<region>:<account>:cluster:<id>)`);
  return id;
}

/** Dimensions of one probe's metric. */
export function probeDimensions(plan: Plan, probe: string): Record<string, string> {
  return { Plan: plan.name, Probe: probe };
}

/** Every alarm the stack creates from the plan's detection, in plan order (health, replication lag, database). */
export function detectionAlarms(plan: Plan): AlarmSpec[] {
  const specs: AlarmSpec[] = [
    ...plan.detection.healthAlarms.map((a, i) => probeAlarm(plan, a, 'health', `detection.healthAlarms[${i}]`)),
    ...plan.detection.replicationLagAlarms.map((a, i) => lagAlarm(plan, a, `detection.replicationLagAlarms[${i}]`)),
    ...plan.detection.databaseAlarms.map((a, i) => probeAlarm(plan, a, 'database', `detection.databaseAlarms[${i}]`)),
  ];
  for (const spec of specs) checkEvaluationWindow(spec);
  probeSampling(plan); // a schedule that cannot feed the alarms fails here too, at packaging
  return specs;
}

function probeAlarm(plan: Plan, alarm: ProbeAlarm, kind: 'health' | 'database', path: string): AlarmSpec {
  const probe = plan.detection.probes.find((p) => p.name === alarm.probe);
  if (!probe) throw new InvalidPlanError(`${path}.probe: ${alarm.probe} is not a probe of this plan (detection.probes)`);
  const what = kind === 'health' ? 'the primary region is unhealthy' : 'the primary database is down';
  return {
    name: alarm.name,
    kind,
    description: `${what}: probe ${probe.name} (${probe.url}) failed in ${alarm.datapointsToAlarm} of ${alarm.evaluationPeriods} periods of ${alarm.periodSeconds} s, seen from ${plan.recoveryRegion}`,
    region: plan.recoveryRegion,
    namespace: plan.detection.metricNamespace,
    metricName: PROBE_METRIC,
    dimensions: probeDimensions(plan, probe.name),
    // Minimum < 1: one failed sample makes the period breaching (a period can hold several samples).
    statistic: 'Minimum',
    periodSeconds: alarm.periodSeconds,
    evaluationPeriods: alarm.evaluationPeriods,
    datapointsToAlarm: alarm.datapointsToAlarm,
    threshold: 1,
    comparison: 'LessThanThreshold',
    treatMissingData: 'missing',
    treatMissingDataReason: PROBE_MISSING_DATA_REASON,
    highResolution: alarm.periodSeconds < 60,
  };
}

type LagMetric = Pick<AlarmSpec, 'metricName' | 'dimensions' | 'threshold'>;

function lagAlarm(plan: Plan, alarm: LagAlarm, path: string): AlarmSpec {
  const db = plan.databases.find((d) => d.name === alarm.database);
  if (!db) throw new InvalidPlanError(`${path}.database: ${alarm.database} is not a database of this plan`);
  if (alarm.periodSeconds < AWS_METRIC_PERIOD_SECONDS) {
    throw new InvalidPlanError(
      `${path}.periodSeconds: ${alarm.periodSeconds} s is shorter than the ${AWS_METRIC_PERIOD_SECONDS} s at which AWS/RDS publishes its metrics (use 60 or a multiple)`,
    );
  }
  const thresholdSeconds = alarm.thresholdSeconds ?? plan.rpoBudgetSeconds;
  const metric = db.kind === 'rds-replica' ? rdsReplicaLag(db, thresholdSeconds) : auroraRpoLag(db, thresholdSeconds);
  return {
    name: alarm.name,
    kind: 'replication-lag',
    description: `RPO at risk: ${metric.metricName} of ${db.name} above ${thresholdSeconds} s in ${alarm.datapointsToAlarm} of ${alarm.evaluationPeriods} periods of ${alarm.periodSeconds} s (${plan.recoveryRegion})`,
    region: plan.recoveryRegion,
    namespace: 'AWS/RDS',
    ...metric,
    // The worst lag of the period is what data would be lost at that moment.
    statistic: 'Maximum',
    periodSeconds: alarm.periodSeconds,
    evaluationPeriods: alarm.evaluationPeriods,
    datapointsToAlarm: alarm.datapointsToAlarm,
    comparison: 'GreaterThanThreshold',
    treatMissingData: 'missing',
    treatMissingDataReason: LAG_MISSING_DATA_REASON,
    highResolution: false,
  };
}

/**
 * RDS `ReplicaLag` of the cross-region replica, in seconds, dimension DBInstanceIdentifier
 * (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html). For PostgreSQL it is
 * `now() - pg_last_xact_replay_timestamp()`, so it also grows after the primary dies.
 */
function rdsReplicaLag(db: RdsReplicaResource, thresholdSeconds: number): LagMetric {
  return { metricName: 'ReplicaLag', dimensions: { DBInstanceIdentifier: db.replicaInstanceIdentifier }, threshold: thresholdSeconds };
}

/**
 * Aurora `AuroraGlobalDBRPOLag` of the secondary (recovery-region) cluster, dimension
 * DBClusterIdentifier, in MILLISECONDS, published only in secondary regions: the time by which the
 * last commit stored on the secondary trails the primary, i.e. what a failover now would lose
 * (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.AuroraMonitoring.Metrics.html,
 * https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-global-database-disaster-recovery.html).
 */
function auroraRpoLag(db: AuroraGlobalResource, thresholdSeconds: number): LagMetric {
  return { metricName: 'AuroraGlobalDBRPOLag', dimensions: { DBClusterIdentifier: clusterIdOf(db.recoveryClusterArn) }, threshold: thresholdSeconds * 1000 };
}

function checkEvaluationWindow(spec: AlarmSpec): void {
  if (spec.periodSeconds * spec.evaluationPeriods > 86_400) {
    throw new InvalidPlanError(`alarm ${spec.name}: evaluationPeriods × periodSeconds (${spec.evaluationPeriods} × ${spec.periodSeconds} s) exceeds CloudWatch's one day`);
  }
}

/** How the probe Lambda samples so that every alarm period gets a datapoint. */
export interface ProbeSampling {
  /** Seconds between two schedule invocations (EventBridge Scheduler's `probeSchedule`). */
  scheduleSeconds: number;
  /** Seconds between two probe rounds within one invocation: the shortest probe-alarm period, at most the schedule interval. */
  sampleSeconds: number;
  /** Rounds per invocation, spaced `sampleSeconds` apart, covering one schedule interval. */
  rounds: number;
  /** Probes whose metric is published high-resolution (StorageResolution 1): an alarm on them has a 10 / 30 s period. */
  highResolutionProbes: string[];
}

/**
 * One schedule invocation covers one schedule interval: with `probeSchedule: rate(1 minute)` and
 * 60 s alarms, one round per minute; with a 10 s alarm, six rounds 10 s apart (EventBridge
 * Scheduler's shortest rate is one minute, so a high-resolution alarm needs several samples per
 * invocation). Rejects schedules that would keep one invocation sampling for more than
 * {@link MAX_SAMPLING_WINDOW_SECONDS}.
 */
export function probeSampling(plan: Plan): ProbeSampling {
  const scheduleSeconds = scheduleIntervalSeconds(plan.detection.probeSchedule);
  const alarms = [...plan.detection.healthAlarms, ...plan.detection.databaseAlarms];
  const shortest = alarms.length > 0 ? Math.min(...alarms.map((a) => a.periodSeconds)) : scheduleSeconds;
  const sampleSeconds = Math.min(shortest, scheduleSeconds);
  const rounds = Math.ceil(scheduleSeconds / sampleSeconds);
  if ((rounds - 1) * sampleSeconds > MAX_SAMPLING_WINDOW_SECONDS) {
    throw new InvalidPlanError(
      `detection.probeSchedule: ${plan.detection.probeSchedule} runs every ${scheduleSeconds} s, but the shortest probe alarm period is ${shortest} s: ` +
        `one invocation would sample for ${(rounds - 1) * sampleSeconds} s (at most ${MAX_SAMPLING_WINDOW_SECONDS}); schedule the probe more often`,
    );
  }
  const highResolutionProbes = [...new Set(alarms.filter((a) => a.periodSeconds < 60).map((a) => a.probe))];
  return { scheduleSeconds, sampleSeconds, rounds, highResolutionProbes };
}

/**
 * Seconds between two runs of an EventBridge Scheduler expression: `rate(N minute|minutes|hour|hours|day|days)`,
 * or a cron expression that runs every minute or every N minutes (`cron(* * * * ? *)`, `cron(0/5 * * * ? *)`).
 * Any other cron is rejected: its gaps are not regular, so the alarms could not count on a datapoint per period.
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html
 */
export function scheduleIntervalSeconds(expression: string): number {
  const rate = /^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$/.exec(expression.trim());
  if (rate) {
    const n = Number(rate[1]);
    const unitText = rate[2] ?? '';
    const unit = unitText.startsWith('minute') ? 60 : unitText.startsWith('hour') ? 3600 : 86_400;
    if (n < 1) throw new InvalidPlanError(`detection.probeSchedule: ${expression} must be at least 1`);
    return n * unit;
  }
  const cron = /^cron\((\S+)\s+(\S+)\s+\S+\s+\S+\s+\S+(?:\s+\S+)?\)$/.exec(expression.trim());
  if (cron && cron[2] === '*') {
    if (cron[1] === '*') return 60;
    const every = /^(?:\*|0)\/(\d+)$/.exec(cron[1] ?? '');
    if (every && Number(every[1]) >= 1 && 60 % Number(every[1]) === 0) return Number(every[1]) * 60;
  }
  throw new InvalidPlanError(`detection.probeSchedule: ${expression} does not run at a regular interval; use rate(N minutes) or a cron that runs every N minutes (N dividing 60)`);
}

/**
 * Worst case of one PutMetricData call with the default client limits (functions/core/clients.ts
 * DEFAULT_LIMITS: 3 attempts × (3 s connect + 5 s request) plus backoff).
 */
const PUBLISH_BUDGET_SECONDS = 30;
/** functions/core/stage.ts DEADLINE_MARGIN_MS plus a little slack for the cold start. */
const LAMBDA_MARGIN_SECONDS = 8;

/**
 * The probe Lambda's timeout: the last round starts `(rounds - 1) × sampleSeconds` after the first,
 * then waits for the slowest probe's timeout and one PutMetricData.
 */
export function probeLambdaTimeoutSeconds(plan: Plan): number {
  const { rounds, sampleSeconds } = probeSampling(plan);
  const slowestProbe = Math.max(0, ...plan.detection.probes.map((p) => p.timeoutMs)) / 1000;
  return Math.ceil((rounds - 1) * sampleSeconds + slowestProbe + PUBLISH_BUDGET_SECONDS + LAMBDA_MARGIN_SECONDS);
}
