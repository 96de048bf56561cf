/**
 * The alarms the stack creates from the plan, in the recovery region (functions/core/detection.ts),
 * and how the probe Lambda samples so those alarms get a datapoint every period.
 */
import { detectionAlarms, PROBE_METRIC, probeLambdaTimeoutSeconds, probeSampling, scheduleIntervalSeconds, type AlarmSpec } from '../../../functions/core/detection';
import { alarmNames } from '../../../functions/core/plan';
import { examplePlan } from '../../helpers/plan';

const byName = (specs: AlarmSpec[], name: string): AlarmSpec => {
  const spec = specs.find((s) => s.name === name);
  if (!spec) throw new Error(`no alarm ${name}`);
  return spec;
};

describe('detectionAlarms (example plan)', () => {
  const plan = examplePlan();
  const specs = detectionAlarms(plan);

  it('creates exactly one alarm per alarm name of the plan, in plan order', () => {
    expect(specs.map((s) => s.name)).toEqual(alarmNames(plan).all);
  });

  it('puts every alarm in the recovery region and none on a primary-region resource (an alarm only sees its own region)', () => {
    for (const spec of specs) {
      expect(spec.region).toBe('eu-west-1');
      expect(Object.values(spec.dimensions).join(' ')).not.toMatch(/use1|us-east-1/);
    }
  });

  it('alarms a health probe on ProbeSuccess (Minimum < 1) of its probe, M of N from the plan', () => {
    expect(byName(specs, 'payments-us-east-1-api-health')).toEqual({
      name: 'payments-us-east-1-api-health',
      kind: 'health',
      description: expect.stringContaining('probe api-us'),
      region: 'eu-west-1',
      namespace: 'FailoverOrchestrator/Detection',
      metricName: PROBE_METRIC,
      dimensions: { Plan: 'payments', Probe: 'api-us' },
      statistic: 'Minimum',
      periodSeconds: 60,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      threshold: 1,
      comparison: 'LessThanThreshold',
      treatMissingData: 'missing',
      treatMissingDataReason: expect.stringContaining('not that the primary is down'),
      highResolution: false,
    });
  });

  it('alarms a database probe on its own probe, with kind database', () => {
    expect(byName(specs, 'payments-us-east-1-ledger-writer-down')).toMatchObject({
      kind: 'database',
      dimensions: { Plan: 'payments', Probe: 'ledger-db-us' },
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
    });
  });

  it('alarms Aurora on AuroraGlobalDBRPOLag of the secondary cluster, in milliseconds (RPO budget 60 s → 60000)', () => {
    expect(byName(specs, 'payments-ledger-replication-lag')).toMatchObject({
      kind: 'replication-lag',
      namespace: 'AWS/RDS',
      metricName: 'AuroraGlobalDBRPOLag',
      dimensions: { DBClusterIdentifier: 'payments-ledger-euw1' },
      statistic: 'Maximum',
      threshold: 60_000,
      comparison: 'GreaterThanThreshold',
      periodSeconds: 60,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: 'missing',
    });
  });

  it('alarms an RDS replica on ReplicaLag of the replica, in seconds', () => {
    expect(byName(specs, 'payments-accounts-replication-lag')).toMatchObject({
      namespace: 'AWS/RDS',
      metricName: 'ReplicaLag',
      dimensions: { DBInstanceIdentifier: 'payments-accounts-euw1' },
      statistic: 'Maximum',
      threshold: 60,
      comparison: 'GreaterThanThreshold',
    });
  });

  it('never treats missing data as breaching (an alarm created with no data would start a failover on every deploy)', () => {
    for (const spec of specs) expect(spec.treatMissingData).toBe('missing');
  });
});

describe('detectionAlarms (plan variations)', () => {
  it('uses a lag alarm thresholdSeconds over the RPO budget, converted per metric unit', () => {
    const plan = examplePlan((raw) => {
      raw.detection.replicationLagAlarms[0].thresholdSeconds = 15;
      raw.detection.replicationLagAlarms[1].thresholdSeconds = 20;
    });
    const specs = detectionAlarms(plan);
    expect(byName(specs, 'payments-ledger-replication-lag').threshold).toBe(15_000);
    expect(byName(specs, 'payments-accounts-replication-lag').threshold).toBe(20);
  });

  it('makes a 10 s probe alarm high-resolution', () => {
    const plan = examplePlan((raw) => {
      raw.detection.healthAlarms[0].periodSeconds = 10;
    });
    const spec = byName(detectionAlarms(plan), 'payments-us-east-1-api-health');
    expect(spec).toMatchObject({ periodSeconds: 10, highResolution: true });
    expect(probeSampling(plan).highResolutionProbes).toEqual(['api-us']);
  });

  it('refuses a lag alarm period below the 60 s at which AWS/RDS publishes', () => {
    const plan = examplePlan((raw) => {
      raw.detection.replicationLagAlarms[1].periodSeconds = 30;
    });
    expect(() => detectionAlarms(plan)).toThrow(
      expect.objectContaining({ name: 'InvalidPlan', message: expect.stringContaining('detection.replicationLagAlarms[1].periodSeconds') }),
    );
  });

  it('refuses an alarm whose evaluation window exceeds one day (PutMetricAlarm)', () => {
    const plan = examplePlan((raw) => {
      raw.detection.replicationLagAlarms[0].periodSeconds = 3600;
      raw.detection.replicationLagAlarms[0].evaluationPeriods = 25;
      raw.detection.replicationLagAlarms[0].datapointsToAlarm = 1;
    });
    expect(() => detectionAlarms(plan)).toThrow(expect.objectContaining({ name: 'InvalidPlan', message: expect.stringContaining('one day') }));
  });
});

describe('probeSampling', () => {
  it('samples once per minute for the example plan (rate(1 minute), 60 s alarms)', () => {
    expect(probeSampling(examplePlan())).toEqual({ scheduleSeconds: 60, sampleSeconds: 60, rounds: 1, highResolutionProbes: [] });
  });

  it('samples six times per invocation, 10 s apart, when an alarm has a 10 s period', () => {
    const plan = examplePlan((raw) => {
      raw.detection.databaseAlarms[0].periodSeconds = 10;
    });
    expect(probeSampling(plan)).toEqual({ scheduleSeconds: 60, sampleSeconds: 10, rounds: 6, highResolutionProbes: ['ledger-db-us'] });
  });

  it('covers a longer schedule interval with one round per alarm period', () => {
    const plan = examplePlan((raw) => {
      raw.detection.probeSchedule = 'rate(5 minutes)';
    });
    expect(probeSampling(plan)).toMatchObject({ scheduleSeconds: 300, sampleSeconds: 60, rounds: 5 });
  });

  it('refuses a schedule one invocation could not cover (rate(1 hour) with 60 s alarms)', () => {
    const plan = examplePlan((raw) => {
      raw.detection.probeSchedule = 'rate(1 hour)';
    });
    expect(() => probeSampling(plan)).toThrow(expect.objectContaining({ name: 'InvalidPlan', message: expect.stringContaining('detection.probeSchedule') }));
    expect(() => detectionAlarms(plan)).toThrow(expect.objectContaining({ name: 'InvalidPlan' }));
  });

  it('gives the probe Lambda a timeout that fits its last round, the slowest probe and one PutMetricData', () => {
    expect(probeLambdaTimeoutSeconds(examplePlan())).toBe(41); // 0 + 3 s probe + 30 s publish + 8 s margin
    const highRes = examplePlan((raw) => {
      raw.detection.healthAlarms[0].periodSeconds = 10;
    });
    expect(probeLambdaTimeoutSeconds(highRes)).toBe(91); // 5 × 10 s + 3 + 30 + 8
  });
});

describe('scheduleIntervalSeconds (EventBridge Scheduler expressions)', () => {
  it.each([
    ['rate(1 minute)', 60],
    ['rate(2 minutes)', 120],
    ['rate(1 hour)', 3600],
    ['rate(1 day)', 86_400],
    ['cron(* * * * ? *)', 60],
    ['cron(0/5 * * * ? *)', 300],
    ['cron(*/10 * * * ? *)', 600],
  ])('%s runs every %i s', (expression, seconds) => {
    expect(scheduleIntervalSeconds(expression)).toBe(seconds);
  });

  it.each(['cron(0 10 ? * TUE#1 *)', 'cron(0/7 * * * ? *)', 'rate(0 minutes)', 'at(2025-01-01T00:00:00)'])('refuses %s (no regular interval)', (expression) => {
    expect(() => scheduleIntervalSeconds(expression)).toThrow(expect.objectContaining({ name: 'InvalidPlan' }));
  });
});
