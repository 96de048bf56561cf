import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeDBInstancesCommand, DescribeGlobalClustersCommand, RDSClient } from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand, Route53Client } from '@aws-sdk/client-route-53';
import { GetRoutingControlStateCommand, Route53RecoveryClusterClient, type GetRoutingControlStateCommandInput } from '@aws-sdk/client-route53-recovery-cluster';
import { mockClient } from 'aws-sdk-client-mock';
import { classify, confirmRegionFailure, faultTime, type Evidence } from '../../functions/confirm-region-failure';
import { alarmNames } from '../../functions/core/plan';
import { faultTimeOf, type AlarmEvent, type ProbeResult, type ReplicationObservation, type StartResult } from '../../functions/core/contract';
import { startFixture } from '../helpers/fixtures';
import { examplePlan, route53WeightedTraffic } from '../helpers/plan';
import { mockFetch, networkError, NOW, stageContext } from '../helpers/stage';
import { accountsReplicaReplicating, ledgerGlobalCluster, metricSeries, perMinute, perPeriod } from '../helpers/rds-responses';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/plan';

const cloudwatch = mockClient(CloudWatchClient);
const rds = mockClient(RDSClient);
const route53 = mockClient(Route53Client);
const arc = mockClient(Route53RecoveryClusterClient);

const plan = examplePlan();

// ---- evidence builders for the pure classification ----

const probesUp: ProbeResult[] = [
  { name: 'api-us', url: 'https://api-use1.payments.example.com/healthz', healthy: true, status: 200, attempts: 1 },
  { name: 'ledger-us', url: 'https://ledger-use1.payments.example.com/healthz', healthy: true, status: 200, attempts: 1 },
  { name: 'ledger-db-us', url: 'https://ledger-use1.payments.example.com/healthz/db', healthy: true, status: 200, attempts: 1 },
];
/** Nothing in the primary region answers HTTP (refused or hanging). */
const probesDown: ProbeResult[] = probesUp.map((p) => ({ name: p.name, url: p.url, healthy: false, error: 'TypeError ECONNREFUSED: fetch failed', attempts: 3 }));
/** The region answers, but everything behind the database is failing: 503s. */
const probes503: ProbeResult[] = probesUp.map((p) => ({ name: p.name, url: p.url, healthy: false, status: 503, error: `GET ${p.url}: HTTP 503, expected 200`, attempts: 3 }));

const alarms = (inAlarm: string[] = []) => alarmNames(plan).all.map((name) => ({ name, state: inAlarm.includes(name) ? 'ALARM' : 'OK' }));

const replicating = (ledgerLag = 2, accountsLag = 1): ReplicationObservation[] => [
  { database: 'ledger', kind: 'aurora-global', status: 'replicating', lagSeconds: ledgerLag, detail: `lag ${ledgerLag} s` },
  { database: 'accounts', kind: 'rds-replica', status: 'replicating', lagSeconds: accountsLag, detail: `lag ${accountsLag} s` },
];

const HEALTH_ALARM = 'payments-us-east-1-api-health';
const LAG_ALARM = 'payments-ledger-replication-lag';
const DB_ALARM = 'payments-us-east-1-ledger-writer-down';

function evidence(overrides: Partial<Evidence> = {}): Evidence {
  return { probes: probesUp, alarms: alarms(), replication: replicating(), trafficOnRecovery: false, ...overrides };
}

const healthAlarmStart = startFixture();
const manualStart = (mode: StartResult['mode']) =>
  startFixture({ trigger: 'manual', mode, alarmName: undefined, alarmKind: undefined, requestedBy: 'alice@example.com', reason: 'declared by incident commander' });

describe('classify', () => {
  it('fails over a confirmed region outage automatically when the plan allows it and the gap is within the RPO budget', () => {
    const decision = classify(plan, healthAlarmStart, evidence({ probes: probesDown, alarms: alarms([HEALTH_ALARM]) }), []);

    expect(decision).toMatchObject({ classification: 'region-outage', action: 'failover', approvalRequired: false, rpoAtRisk: false, replicationGapSeconds: 2 });
  });

  it('asks a human before failing over a region outage whose replication gap exceeds the RPO budget, and says why', () => {
    const decision = classify(plan, healthAlarmStart, evidence({ probes: probesDown, alarms: alarms([HEALTH_ALARM]), replication: replicating(75) }), []);

    expect(decision).toMatchObject({ classification: 'region-outage', action: 'failover', approvalRequired: true, rpoAtRisk: true, replicationGapSeconds: 75 });
    expect(decision.reasons).toContain('largest replication gap 75.0 s (RPO budget 60 s)');
    expect(decision.reasons).toContainEqual(expect.stringContaining('automatic failover blocked: replication gap above the RPO budget'));
  });

  it('marks the RPO at risk when a replication gap is unknown (the link still replicating: a missing datapoint is not a broken link)', () => {
    const unknown: ReplicationObservation[] = [
      {
        database: 'ledger',
        kind: 'aurora-global',
        status: 'replicating',
        lagDetail: 'unknown: no AuroraGlobalDBRPOLag datapoint from a period that ended at or before 2025-03-04T09:59:30Z',
        detail: 'synchronization connected',
      },
      replicating()[1]!,
    ];

    const decision = classify(plan, healthAlarmStart, evidence({ probes: probesDown, replication: unknown }), []);

    expect(decision).toMatchObject({ classification: 'region-outage', rpoAtRisk: true, approvalRequired: true });
    expect(decision.reasons).toContain('replication gap unknown for at least one database');
  });

  it('classifies a database alarm as database-failure and asks a human (not in the plan automatic list)', () => {
    const start = startFixture({ alarmName: DB_ALARM, alarmKind: 'database' });

    const decision = classify(plan, start, evidence({ alarms: alarms([DB_ALARM]), probes: [probesUp[0]!, probesUp[1]!, probes503[2]!] }), []);

    expect(decision).toMatchObject({ classification: 'database-failure', action: 'failover', approvalRequired: true, onApprovalTimeout: 'abort' });
  });

  it('lets a database alarm outrank failing probes while the primary region still answers HTTP (503s): health endpoints that check the database go down with it', () => {
    const decision = classify(plan, healthAlarmStart, evidence({ probes: probes503, alarms: alarms([HEALTH_ALARM, DB_ALARM]) }), []);

    expect(decision).toMatchObject({ classification: 'database-failure', approvalRequired: true });
  });

  it('classifies a database alarm as a region outage when nothing in the primary region answers HTTP: the database probe fails with the region', () => {
    const start = startFixture({ alarmName: DB_ALARM, alarmKind: 'database' });

    const decision = classify(plan, start, evidence({ probes: probesDown, alarms: alarms([HEALTH_ALARM, DB_ALARM]) }), []);

    expect(decision).toMatchObject({ classification: 'region-outage', action: 'failover', approvalRequired: false });
    expect(decision.reasons).toContain('database alarm fired, but no probe of us-east-1 got an HTTP answer: the whole region is down, not only its database');
  });

  it('classifies healthy probes with broken replication as a partition: approval required, and an unanswered approval aborts even when the plan says proceed', () => {
    const proceedPlan = examplePlan((raw) => {
      raw.approval.onTimeout = 'proceed';
    });
    const broken: ReplicationObservation[] = [{ ...replicating()[0]!, status: 'broken', detail: 'pending-resync' }, replicating()[1]!];

    const decision = classify(proceedPlan, healthAlarmStart, evidence({ alarms: alarms([HEALTH_ALARM]), replication: broken }), []);

    expect(decision).toMatchObject({ classification: 'partition', action: 'failover', approvalRequired: true, onApprovalTimeout: 'abort' });
  });

  it('does not call healthy probes with a replicating link whose gap is unknown a partition: the gap is unknown and the RPO at risk, nothing is broken', () => {
    const unknownGap: ReplicationObservation[] = [
      replicating()[0]!,
      {
        database: 'accounts',
        kind: 'rds-replica',
        status: 'replicating',
        lagDetail: 'unknown: no ReplicaLag datapoint from a period that ended at or before 2025-03-04T10:00:00Z',
        detail: 'read replication replicating',
      },
    ];

    const decision = classify(plan, healthAlarmStart, evidence({ alarms: alarms([HEALTH_ALARM]), replication: unknownGap }), []);

    expect(decision).toMatchObject({ classification: 'healthy', action: 'notify-only', rpoAtRisk: true });
    expect(decision.reasons).not.toContainEqual(expect.stringContaining('replication of accounts'));
  });

  it('applies the plan timeout policy to anything but a partition', () => {
    const proceedPlan = examplePlan((raw) => {
      raw.approval.onTimeout = 'proceed';
    });

    const decision = classify(proceedPlan, startFixture({ alarmKind: 'database', alarmName: DB_ALARM }), evidence({ alarms: alarms([DB_ALARM]) }), []);

    expect(decision.onApprovalTimeout).toBe('proceed');
  });

  it('only notifies on a replication-lag alarm, marking the RPO at risk', () => {
    const start = startFixture({ alarmName: LAG_ALARM, alarmKind: 'replication-lag' });

    const decision = classify(plan, start, evidence({ alarms: alarms([LAG_ALARM]), replication: replicating(30) }), []);

    expect(decision).toMatchObject({ classification: 'lag-only', action: 'notify-only', approvalRequired: false, rpoAtRisk: true });
    expect(decision.reasons).toContainEqual(expect.stringContaining('replication lag alone never fails over'));
  });

  it('only notifies when the recovery region cannot confirm an alarm', () => {
    const decision = classify(plan, healthAlarmStart, evidence({ alarms: alarms([HEALTH_ALARM]) }), []);

    expect(decision).toMatchObject({ classification: 'healthy', action: 'notify-only', approvalRequired: false, rpoAtRisk: false });
    expect(decision.reasons).toContain('alarm not confirmed from eu-west-1: no failover');
  });

  it('fails over on a manual start even when everything looks healthy, without approval when the manual start is the approval', () => {
    const decision = classify(plan, manualStart('failover'), evidence(), []);

    expect(decision).toMatchObject({ classification: 'healthy', action: 'failover', approvalRequired: false });
  });

  it('asks Slack on a manual start when the plan says a manual start is not an approval', () => {
    const asking = examplePlan((raw) => {
      raw.approval.manualStartIsApproval = false;
    });

    const decision = classify(asking, manualStart('failover'), evidence(), []);

    expect(decision).toMatchObject({ action: 'failover', approvalRequired: true });
  });

  it('classifies a manual switchover as planned', () => {
    const decision = classify(plan, manualStart('switchover'), evidence(), []);

    expect(decision).toMatchObject({ classification: 'planned', action: 'switchover', approvalRequired: false, onApprovalTimeout: 'abort' });
  });

  it('refuses a switchover while replication is broken with SwitchoverUnsafe', () => {
    const broken: ReplicationObservation[] = [replicating()[0]!, { ...replicating()[1]!, status: 'broken', detail: 'read replication error' }];

    expect(() => classify(plan, manualStart('switchover'), evidence({ replication: broken }), [])).toThrow(
      expect.objectContaining({ name: 'SwitchoverUnsafe', message: expect.stringContaining('accounts broken') }),
    );
  });

  it('only notifies when every database is promoted and traffic already points at the recovery region', () => {
    const promoted: ReplicationObservation[] = replicating().map((r) => ({ database: r.database, kind: r.kind, status: 'promoted', detail: 'already the writer' }));

    const decision = classify(plan, healthAlarmStart, evidence({ probes: probesDown, replication: promoted, trafficOnRecovery: true }), []);

    expect(decision).toMatchObject({ classification: 'already-failed-over', action: 'notify-only', approvalRequired: false, rpoAtRisk: false });
  });

  it('runs a drill without approval whatever it observes', () => {
    const decision = classify(plan, manualStart('drill'), evidence({ probes: probesDown }), []);

    expect(decision).toMatchObject({ classification: 'region-outage', action: 'drill', approvalRequired: false });
  });

  it('explains each probe and broken replication in the reasons', () => {
    const broken: ReplicationObservation[] = [{ ...replicating()[0]!, status: 'broken', detail: 'pending-resync' }, replicating()[1]!];

    const decision = classify(plan, healthAlarmStart, evidence({ probes: probesDown, replication: broken }), []);

    expect(decision.reasons).toEqual(
      expect.arrayContaining(['probe api-us: down after 3 attempts (TypeError ECONNREFUSED: fetch failed)', 'replication of ledger: broken (pending-resync)']),
    );
  });
});

// ---- the edges of each rule: mutation testing (issue 7) found these untested ----

describe('classify: the edge of each rule', () => {
  const promotedAll = (): ReplicationObservation[] => replicating().map((r) => ({ database: r.database, kind: r.kind, status: 'promoted', detail: 'already the writer' }));

  it('is not already-failed-over while one database still replicates, even with traffic on the recovery region', () => {
    const mixed: ReplicationObservation[] = [promotedAll()[0]!, replicating()[1]!];

    const decision = classify(plan, healthAlarmStart, evidence({ probes: probesDown, alarms: alarms([HEALTH_ALARM]), replication: mixed, trafficOnRecovery: true }), []);

    expect(decision).toMatchObject({ classification: 'region-outage', action: 'failover' });
  });

  it('is not already-failed-over while traffic still points at the primary, even with every database promoted', () => {
    const decision = classify(plan, healthAlarmStart, evidence({ probes: probesDown, alarms: alarms([HEALTH_ALARM]), replication: promotedAll(), trafficOnRecovery: false }), []);

    expect(decision).toMatchObject({ classification: 'region-outage', action: 'failover', replicationGapSeconds: null });
  });

  it('needs EVERY probe down for a region outage: one endpoint failing while the others answer is not an outage', () => {
    const oneDown = [probesDown[0]!, probesUp[1]!, probesUp[2]!];

    const decision = classify(plan, healthAlarmStart, evidence({ probes: oneDown, alarms: alarms([HEALTH_ALARM]) }), []);

    expect(decision).toMatchObject({ classification: 'healthy', action: 'notify-only' });
  });

  it('with no probes in the plan, a health alarm in ALARM is the outage; without it the region is healthy', () => {
    expect(classify(plan, healthAlarmStart, evidence({ probes: [], alarms: alarms([HEALTH_ALARM]) }), [])).toMatchObject({ classification: 'region-outage', action: 'failover' });
    expect(classify(plan, healthAlarmStart, evidence({ probes: [], alarms: alarms() }), [])).toMatchObject({ classification: 'healthy', action: 'notify-only' });
  });

  it('with no probes in the plan, a database alarm is a database failure (nothing says the region is gone)', () => {
    const decision = classify(plan, healthAlarmStart, evidence({ probes: [], alarms: alarms([DB_ALARM]) }), []);

    expect(decision).toMatchObject({ classification: 'database-failure', approvalRequired: true });
  });

  it('treats one probe answering 503 among refused ones as "the region answers": a database alarm stays a database failure', () => {
    const mixed = [probes503[0]!, probesDown[1]!, probesDown[2]!];

    const decision = classify(plan, healthAlarmStart, evidence({ probes: mixed, alarms: alarms([DB_ALARM]) }), []);

    expect(decision).toMatchObject({ classification: 'database-failure' });
  });

  it('keeps a run started by a database alarm a database failure after that alarm has cleared, while the region answers', () => {
    const start = startFixture({ alarmName: DB_ALARM, alarmKind: 'database' });

    const decision = classify(plan, start, evidence({ probes: probes503, alarms: alarms() }), []);

    expect(decision).toMatchObject({ classification: 'database-failure', approvalRequired: true });
  });

  it('explains a database-alarm start that turned out to be a region outage, and only then', () => {
    const dbStart = startFixture({ alarmName: DB_ALARM, alarmKind: 'database' });
    const line = 'database alarm fired, but no probe of us-east-1 got an HTTP answer: the whole region is down, not only its database';

    expect(classify(plan, dbStart, evidence({ probes: probesDown, alarms: alarms() }), []).reasons).toContain(line);
    expect(classify(plan, healthAlarmStart, evidence({ probes: probesDown, alarms: alarms([HEALTH_ALARM]) }), []).reasons).not.toContain(line);
  });

  it('calls replication whose status is unknown a partition when the primary answers (it is not known to be replicating)', () => {
    const unknownStatus: ReplicationObservation[] = [{ ...replicating()[0]!, status: 'unknown', detail: 'DescribeGlobalClusters: AccessDenied' }, replicating()[1]!];

    const decision = classify(plan, healthAlarmStart, evidence({ alarms: alarms([HEALTH_ALARM]), replication: unknownStatus }), []);

    expect(decision).toMatchObject({ classification: 'partition', approvalRequired: true, onApprovalTimeout: 'abort' });
    expect(decision.reasons).toContain('replication of ledger: unknown (DescribeGlobalClusters: AccessDenied)');
  });

  it('calls it lag-only on any one of: a lag alarm in ALARM, a start by a lag alarm that has cleared, a gap above the budget with no alarm', () => {
    const lagStart = startFixture({ alarmName: LAG_ALARM, alarmKind: 'replication-lag' });

    expect(classify(plan, healthAlarmStart, evidence({ alarms: alarms([LAG_ALARM]) }), []).classification).toBe('lag-only');
    expect(classify(plan, lagStart, evidence({ alarms: alarms() }), []).classification).toBe('lag-only');
    expect(classify(plan, healthAlarmStart, evidence({ replication: replicating(61) }), []).classification).toBe('lag-only');
  });

  it('holds a gap of exactly the RPO budget within it (at risk only above it): automatic failover, lag-only never reached', () => {
    const atBudget = classify(plan, healthAlarmStart, evidence({ probes: probesDown, alarms: alarms([HEALTH_ALARM]), replication: replicating(60) }), []);
    const healthyAtBudget = classify(plan, healthAlarmStart, evidence({ replication: replicating(60) }), []);
    const justAbove = classify(plan, healthAlarmStart, evidence({ probes: probesDown, alarms: alarms([HEALTH_ALARM]), replication: replicating(60.1) }), []);

    expect(atBudget).toMatchObject({ rpoAtRisk: false, approvalRequired: false, replicationGapSeconds: 60 });
    expect(healthyAtBudget.classification).toBe('healthy');
    expect(justAbove).toMatchObject({ rpoAtRisk: true, approvalRequired: true });
  });

  it('takes the largest KNOWN gap when another is unknown, and no gap at all when none is known', () => {
    const oneUnknown: ReplicationObservation[] = [replicating(7)[0]!, { ...replicating()[1]!, lagSeconds: undefined, lagDetail: 'unknown: no datapoint' }];
    const allUnknown = oneUnknown.map((r) => ({ ...r, lagSeconds: undefined, lagDetail: 'unknown: no datapoint' }));

    const one = classify(plan, healthAlarmStart, evidence({ probes: probesDown, replication: oneUnknown }), []);
    const none = classify(plan, healthAlarmStart, evidence({ probes: probesDown, replication: allUnknown }), []);

    expect(one).toMatchObject({ replicationGapSeconds: 7, rpoAtRisk: true });
    expect(none).toMatchObject({ replicationGapSeconds: null, rpoAtRisk: true });
    expect(none.reasons).not.toContainEqual(expect.stringContaining('largest replication gap'));
  });

  it('fails over automatically only on an ALARM start: a manual start whose plan wants approval asks, even for a region outage', () => {
    const asking = examplePlan((raw) => {
      raw.approval.manualStartIsApproval = false;
    });

    const decision = classify(asking, manualStart('failover'), evidence({ probes: probesDown, alarms: alarms([HEALTH_ALARM]) }), []);

    expect(decision).toMatchObject({ classification: 'region-outage', action: 'failover', approvalRequired: true });
    expect(decision.reasons).not.toContainEqual(expect.stringContaining('automatic failover blocked'));
  });

  it('says "automatic failover blocked" only where the failover would have been automatic', () => {
    const noBackups: ReplicationObservation[] = [replicating(75)[0]!, { ...replicating()[1]!, notReady: ['backups are not enabled'] }];
    const dbStart = startFixture({ alarmName: DB_ALARM, alarmKind: 'database' });

    const decision = classify(plan, dbStart, evidence({ probes: probes503, alarms: alarms([DB_ALARM]), replication: noBackups }), []);

    expect(decision).toMatchObject({ classification: 'database-failure', approvalRequired: true, rpoAtRisk: true });
    expect(decision.reasons).not.toContainEqual(expect.stringContaining('automatic failover blocked'));
  });

  it('gives the complete evidence of a confirmed region outage, line by line and in order', () => {
    const decision = classify(plan, healthAlarmStart, evidence({ probes: probesDown, alarms: alarms([HEALTH_ALARM]) }), [
      'replication gaps read at 2025-03-04T09:59:30.000Z (first failing signal)',
    ]);

    expect(decision.reasons).toEqual([
      'replication gaps read at 2025-03-04T09:59:30.000Z (first failing signal)',
      'replication gap of ledger at the fault: 2.0 s',
      'replication gap of accounts at the fault: 1.0 s',
      'largest replication gap 2.0 s (RPO budget 60 s)',
      `health alarms in ALARM: ${HEALTH_ALARM}`,
      'probe api-us: down after 3 attempts (TypeError ECONNREFUSED: fetch failed)',
      'probe ledger-us: down after 3 attempts (TypeError ECONNREFUSED: fetch failed)',
      'probe ledger-db-us: down after 3 attempts (TypeError ECONNREFUSED: fetch failed)',
    ]);
    expect(decision.notReady).toEqual([]);
  });

  it('lists every alarm kind in ALARM and each healthy probe with its status', () => {
    const decision = classify(plan, healthAlarmStart, evidence({ alarms: alarms([HEALTH_ALARM, DB_ALARM, LAG_ALARM]) }), []);

    expect(decision.reasons).toEqual(
      expect.arrayContaining([
        `health alarms in ALARM: ${HEALTH_ALARM}`,
        `database alarms in ALARM: ${DB_ALARM}`,
        `replication-lag alarms in ALARM: ${LAG_ALARM}`,
        'probe api-us: healthy (HTTP 200)',
      ]),
    );
  });

  it('does not hold a promoted database against readiness (its replica checks no longer apply)', () => {
    const promotedNoBackups: ReplicationObservation[] = [promotedAll()[0]!, { ...promotedAll()[1]!, notReady: ['backups are not enabled'] }];

    expect(classify(plan, manualStart('drill'), evidence({ replication: promotedNoBackups }), [])).toMatchObject({ action: 'drill', notReady: [] });
  });

  it('prints an unknown gap without repeating "unknown:" and a known one without an empty note', () => {
    const r: ReplicationObservation[] = [
      { ...replicating()[0]!, lagDetail: undefined },
      { ...replicating()[1]!, lagSeconds: undefined, lagDetail: 'unknown: no datapoint' },
    ];

    const decision = classify(plan, healthAlarmStart, evidence({ probes: probesDown, replication: r }), []);

    expect(decision.reasons).toEqual(expect.arrayContaining(['replication gap of ledger at the fault: 2.0 s', 'replication gap of accounts at the fault: unknown (no datapoint)']));
  });
});

describe('faultTime (when the gap is read)', () => {
  it('accepts a fault time equal to the execution start, and ignores one after it', () => {
    expect(faultTime(startFixture({ faultAt: '2025-03-04T10:00:00.000Z' }))).toEqual({
      at: new Date('2025-03-04T10:00:00.000Z'),
      source: `first failing signal of ${HEALTH_ALARM}`,
    });
    expect(faultTime(startFixture({ faultAt: '2025-03-04T10:00:00.001Z' }))).toEqual({
      at: new Date('2025-03-04T10:00:00.000Z'),
      source: 'execution start (no earlier failing signal known)',
    });
    expect(faultTime(startFixture({ faultAt: 'not a time' })).source).toBe('execution start (no earlier failing signal known)');
    expect(faultTime(startFixture({ faultAt: '2025-03-04T09:59:00.000Z', alarmName: undefined })).source).toBe('first failing signal');
  });
});

// ---- readiness (drills) and backups ----

describe('readiness', () => {
  const noBackups: ReplicationObservation[] = [
    replicating()[0]!,
    {
      ...replicating()[1]!,
      notReady: ['backups are not enabled on the replica payments-accounts-euw1 (BackupRetentionPeriod 0): PromoteReadReplica is called without BackupRetentionPeriod'],
    },
  ];

  it('ends a drill with DrillNotReady listing every alarm that is MISSING or INSUFFICIENT_DATA and every replica without backups', () => {
    const states = alarms().map((a) => (a.name === LAG_ALARM ? { ...a, state: 'MISSING' } : a.name === DB_ALARM ? { ...a, state: 'INSUFFICIENT_DATA' } : a));

    expect(() => classify(plan, manualStart('drill'), evidence({ alarms: states, replication: noBackups }), [])).toThrow(
      expect.objectContaining({
        name: 'DrillNotReady',
        message: expect.stringMatching(
          /3 reason\(s\) the plan is NOT READY to fail over: alarm payments-ledger-replication-lag is MISSING.*; alarm payments-us-east-1-ledger-writer-down is INSUFFICIENT_DATA.*; accounts: backups are not enabled on the replica payments-accounts-euw1/,
        ),
      }),
    );
  });

  it('lets a drill of a ready plan succeed', () => {
    expect(classify(plan, manualStart('drill'), evidence(), [])).toMatchObject({ action: 'drill', notReady: [] });
  });

  it('asks a human before an automatic failover when a replica has no backups, saying why', () => {
    const decision = classify(plan, healthAlarmStart, evidence({ probes: probesDown, alarms: alarms([HEALTH_ALARM]), replication: noBackups }), []);

    expect(decision).toMatchObject({ classification: 'region-outage', action: 'failover', approvalRequired: true, rpoAtRisk: false });
    expect(decision.reasons).toContainEqual(expect.stringContaining('automatic failover blocked: a database is not ready to be promoted (accounts: backups are not enabled'));
  });

  it('reports a MISSING alarm during a real failover without blocking it (the alarm that started the run exists)', () => {
    const states = alarms([HEALTH_ALARM]).map((a) => (a.name === LAG_ALARM ? { ...a, state: 'MISSING' } : a));

    const decision = classify(plan, healthAlarmStart, evidence({ probes: probesDown, alarms: states }), []);

    expect(decision).toMatchObject({ approvalRequired: false, notReady: [expect.stringContaining(`alarm ${LAG_ALARM} is MISSING`)] });
  });

  it('says, database by database, what the gap at the fault is, or that it is unknown and why (the line is never dropped)', () => {
    const mixed: ReplicationObservation[] = [
      { ...replicating()[0]!, lagSeconds: 2.5, lagDetail: 'AuroraGlobalDBRPOLag 2500 ms (Maximum of the 60 s period starting 2025-03-04T09:58:00Z)' },
      {
        ...replicating()[1]!,
        lagSeconds: undefined,
        lagDetail: 'unknown: invalid negative ReplicaLag datapoint -1 (period starting 2025-03-04T09:58:00Z; -1 means replication is not active)',
      },
    ];

    const decision = classify(plan, healthAlarmStart, evidence({ probes: probesDown, replication: mixed }), []);

    expect(decision.reasons).toEqual(
      expect.arrayContaining([
        'replication gap of ledger at the fault: 2.5 s (AuroraGlobalDBRPOLag 2500 ms (Maximum of the 60 s period starting 2025-03-04T09:58:00Z))',
        'replication gap of accounts at the fault: unknown (invalid negative ReplicaLag datapoint -1 (period starting 2025-03-04T09:58:00Z; -1 means replication is not active))',
      ]),
    );
  });
});

describe('faultTimeOf (StartResult.faultAt from an alarm event)', () => {
  const event = (state: Partial<AlarmEvent['detail']['state']>): AlarmEvent => {
    const raw = JSON.parse(readFileSync(join(ROOT, 'events', 'samples', 'health-alarm.json'), 'utf8')) as AlarmEvent;
    return { ...raw, detail: { ...raw.detail, state: { ...raw.detail.state, ...state } } };
  };

  it('takes the start of the evaluated window in reasonData: the first failing period, not the state change', () => {
    const e = event({
      timestamp: '2026-11-03T03:02:11.110+0000',
      reasonData: JSON.stringify({ startDate: '2026-11-03T03:01:30.000+0000', evaluatedDatapoints: [{ timestamp: '2026-11-03T03:01:50.000+0000', value: 0 }] }),
    });

    expect(faultTimeOf(e)).toBe('2026-11-03T03:01:30.000Z');
  });

  it('falls back to the state change less datapointsToAlarm periods of the plan alarm when reasonData is absent or unreadable', () => {
    const e = event({ timestamp: '2026-11-03T03:02:11.110+0000', reasonData: '{not json' });

    expect(faultTimeOf(e, { periodSeconds: 60, datapointsToAlarm: 2 })).toBe('2026-11-03T03:00:11.110Z');
    expect(faultTimeOf(e)).toBe('2026-11-03T03:02:11.110Z');
  });
});

// ---- end to end, with the recovery region's APIs mocked ----

/** The run of `startFixture` started at 10:00:00; the alarm's first failing period began at 09:59:30. */
const FAULT = '2025-03-04T09:59:30.000Z';
const atFault: StartResult = { ...healthAlarmStart, faultAt: FAULT };

/**
 * Lag series around a crash at 09:59:30 (published per minute, timestamp = period start): growing with
 * the clock after it, so the period starting 09:59, which holds the fault, already reads ~30 s more
 * than the data lost; the gap at the fault is the period 09:58–09:59, the last one that ended by then.
 */
const LAG = {
  AuroraGlobalDBRPOLag: perMinute('2025-03-04T09:57:00.000Z', [1800, 2500, 32_500, 92_500, 152_500, 212_500, 272_500]),
  ReplicaLag: perMinute('2025-03-04T09:57:00.000Z', [1, 1, 31, 91, 151, 211, 271]),
};

/** Lag of a healthy primary: steady, well within the RPO budget. */
const HEALTHY_LAG = {
  AuroraGlobalDBRPOLag: perMinute('2025-03-04T09:57:00.000Z', [900, 800, 1100, 900, 1000, 800, 900, 900, 1000]),
  ReplicaLag: perMinute('2025-03-04T09:57:00.000Z', [1, 1, 2, 1, 1, 1, 1, 1, 1]),
};

function platformInEu(options: { health?: string; series?: Record<string, Array<[string, number]>> } = {}) {
  cloudwatch.on(DescribeAlarmsCommand).resolves({
    MetricAlarms: alarms(options.health ? [options.health] : []).map((a) => ({ AlarmName: a.name, StateValue: a.state as 'OK' | 'ALARM' })),
  });
  cloudwatch.on(GetMetricDataCommand).callsFake(metricSeries(options.series ?? LAG));
  rds.on(DescribeGlobalClustersCommand).resolves(ledgerGlobalCluster('primary'));
  rds.on(DescribeDBInstancesCommand).resolves(accountsReplicaReplicating());
  // ARC data plane: the primary routing control On, the recovery one Off.
  arc.on(GetRoutingControlStateCommand).callsFake((input: GetRoutingControlStateCommandInput) => ({
    RoutingControlArn: input.RoutingControlArn,
    RoutingControlState: input.RoutingControlArn?.endsWith('api-use1') ? 'On' : 'Off',
  }));
}

beforeEach(() => {
  cloudwatch.reset();
  rds.reset();
  route53.reset();
  arc.reset();
});

afterEach(() => {
  jest.restoreAllMocks();
});

describe('confirmRegionFailure', () => {
  it('confirms a region outage from the recovery region: probes down after every attempt, health alarm in ALARM, gaps read at the fault within budget', async () => {
    platformInEu({ health: HEALTH_ALARM });
    const fetchSpy = mockFetch(() => Promise.reject(networkError()));
    const ctx = stageContext();

    const detection = await confirmRegionFailure({ plan, start: atFault }, ctx);

    expect(detection).toMatchObject({
      classification: 'region-outage',
      action: 'failover',
      approvalRequired: false,
      replicationGapSeconds: 2.5,
      faultAt: FAULT,
      startedAt: NOW.toISOString(),
      finishedAt: NOW.toISOString(),
    });
    expect(detection.evidence.probes).toEqual([
      expect.objectContaining({ name: 'api-us', healthy: false, attempts: 3, error: expect.stringContaining('ECONNREFUSED') }),
      expect.objectContaining({ name: 'ledger-us', healthy: false, attempts: 3 }),
      expect.objectContaining({ name: 'ledger-db-us', healthy: false, attempts: 3 }),
    ]);
    expect(detection.evidence.probes.every((p) => p.status === undefined)).toBe(true);
    expect(detection.evidence.replication).toEqual([
      expect.objectContaining({ database: 'ledger', status: 'replicating', lagSeconds: 2.5 }),
      expect.objectContaining({ database: 'accounts', status: 'replicating', lagSeconds: 1 }),
    ]);
    expect(detection.evidence.trafficOnRecovery).toBe(false);
    expect(fetchSpy).toHaveBeenCalledTimes(9);
    expect(ctx.sleep).toHaveBeenCalledTimes(6);
    expect(ctx.sleep).toHaveBeenCalledWith(1000);
  });

  it('reads the gap AT THE FAULT, not at detection: after the crash RDS PostgreSQL ReplicaLag grows with the clock, which would block every automatic failover', async () => {
    platformInEu({ health: HEALTH_ALARM });
    mockFetch(() => Promise.reject(networkError()));

    const detection = await confirmRegionFailure({ plan, start: atFault }, stageContext(new Date('2025-03-04T10:03:20.000Z')));

    expect(detection).toMatchObject({ replicationGapSeconds: 2.5, rpoAtRisk: false, approvalRequired: false });
    expect(detection.reasons[0]).toBe(`replication gaps read at ${FAULT} (first failing signal of ${HEALTH_ALARM})`);
    expect(detection.reasons).toContain('replication gap of accounts at the fault: 1.0 s (ReplicaLag 1 s (Maximum of the 60 s period starting 2025-03-04T09:58:00Z))');
    expect(detection.reasons).toContain('replication gap of ledger at the fault: 2.5 s (AuroraGlobalDBRPOLag 2500 ms (Maximum of the 60 s period starting 2025-03-04T09:58:00Z))');
  });

  it('says the gap is unknown for a database with no period that ended by the fault (only the one holding it), and marks the RPO at risk', async () => {
    platformInEu({ health: HEALTH_ALARM, series: { AuroraGlobalDBRPOLag: LAG.AuroraGlobalDBRPOLag, ReplicaLag: perMinute('2025-03-04T09:59:00.000Z', [31, 91]) } });
    mockFetch(() => Promise.reject(networkError()));

    const detection = await confirmRegionFailure({ plan, start: atFault }, stageContext());

    expect(detection).toMatchObject({ classification: 'region-outage', rpoAtRisk: true, approvalRequired: true });
    expect(detection.evidence.replication[1]).toMatchObject({ database: 'accounts', status: 'replicating' });
    expect(detection.evidence.replication[1]).not.toHaveProperty('lagSeconds');
    expect(detection.reasons).toContain('replication gap of accounts at the fault: unknown (no ReplicaLag datapoint from a period that ended at or before 2025-03-04T09:59:30Z)');
  });

  it("keeps a replica that RDS says is 'replicating' but has no ReplicaLag datapoint replicating: with healthy probes that is not a partition, the gap is unknown and the RPO at risk", async () => {
    platformInEu({ health: HEALTH_ALARM, series: { AuroraGlobalDBRPOLag: HEALTHY_LAG.AuroraGlobalDBRPOLag } });
    mockFetch(() => new Response('ok', { status: 200 }));

    const detection = await confirmRegionFailure({ plan, start: atFault }, stageContext());

    expect(detection.evidence.replication[1]).toMatchObject({
      database: 'accounts',
      status: 'replicating',
      lagDetail: expect.stringContaining('unknown: no ReplicaLag datapoint'),
    });
    expect(detection.evidence.replication[1]).not.toHaveProperty('lagSeconds');
    expect(detection.classification).not.toBe('partition');
    expect(detection).toMatchObject({ classification: 'healthy', action: 'notify-only', rpoAtRisk: true });
    expect(detection.reasons).toContain('replication gap unknown for at least one database');
  });

  it("reads the gap with the plan's detection.lagPeriodSeconds: Period 5, and the last 5 s period that ended by the fault", async () => {
    const fastPlan = examplePlan((raw) => {
      raw.detection.lagPeriodSeconds = 5;
    });
    // 5 s periods: the one starting 09:59:25 ends at the fault (09:59:30); the one starting 09:59:30 holds it.
    platformInEu({
      health: HEALTH_ALARM,
      series: {
        AuroraGlobalDBRPOLag: perPeriod('2025-03-04T09:59:20.000Z', 5, [1500, 2000, 7000, 12_000]),
        ReplicaLag: perPeriod('2025-03-04T09:59:20.000Z', 5, [1, 1.5, 6.5, 11.5]),
      },
    });
    mockFetch(() => Promise.reject(networkError()));

    const detection = await confirmRegionFailure({ plan: fastPlan, start: atFault }, stageContext());

    expect(detection).toMatchObject({ replicationGapSeconds: 2, rpoAtRisk: false, approvalRequired: false });
    expect(detection.reasons).toContain('replication gap of accounts at the fault: 1.5 s (ReplicaLag 1.5 s (Maximum of the 5 s period starting 2025-03-04T09:59:25Z))');
    for (const call of cloudwatch.commandCalls(GetMetricDataCommand)) expect(call.args[0].input.MetricDataQueries?.[0]?.MetricStat?.Period).toBe(5);
    expect(cloudwatch).toHaveReceivedCommandTimes(GetMetricDataCommand, 2);
  });

  it('reads every plan alarm, the replication status of each database, and its RPO lag with Period 60 and Maximum up to the fault', async () => {
    platformInEu();
    mockFetch(() => new Response('ok', { status: 200 }));

    await confirmRegionFailure({ plan, start: healthAlarmStart }, stageContext());

    expect(cloudwatch).toHaveReceivedCommandWith(DescribeAlarmsCommand, {
      AlarmNames: [HEALTH_ALARM, 'payments-us-east-1-ledger-health', LAG_ALARM, 'payments-accounts-replication-lag', DB_ALARM],
    });
    expect(cloudwatch).toHaveReceivedCommandWith(GetMetricDataCommand, {
      EndTime: new Date('2025-03-04T10:00:00.001Z'),
      MetricDataQueries: [
        expect.objectContaining({
          MetricStat: {
            Metric: { Namespace: 'AWS/RDS', MetricName: 'AuroraGlobalDBRPOLag', Dimensions: [{ Name: 'DBClusterIdentifier', Value: 'payments-ledger-euw1' }] },
            Period: 60,
            Stat: 'Maximum',
          },
        }),
      ],
    });
    expect(cloudwatch).toHaveReceivedCommandWith(GetMetricDataCommand, {
      MetricDataQueries: [
        expect.objectContaining({
          MetricStat: {
            Metric: { Namespace: 'AWS/RDS', MetricName: 'ReplicaLag', Dimensions: [{ Name: 'DBInstanceIdentifier', Value: 'payments-accounts-euw1' }] },
            Period: 60,
            Stat: 'Maximum',
          },
        }),
      ],
    });
    expect(rds).toHaveReceivedCommandWith(DescribeGlobalClustersCommand, { GlobalClusterIdentifier: 'payments-ledger-global' });
    expect(rds).toHaveReceivedCommandWith(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'payments-accounts-euw1' });
  });

  it('keeps the HTTP status of a failing probe, so a database alarm with the region answering 503 stays a database failure', async () => {
    platformInEu();
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: alarms([DB_ALARM]).map((a) => ({ AlarmName: a.name, StateValue: a.state as 'OK' | 'ALARM' })) });
    mockFetch((url) => new Response('db down', { status: url.endsWith('/healthz/db') ? 503 : 200 }));

    const detection = await confirmRegionFailure({ plan, start: startFixture({ alarmName: DB_ALARM, alarmKind: 'database' }) }, stageContext());

    expect(detection.classification).toBe('database-failure');
    expect(detection.evidence.probes[2]).toMatchObject({ name: 'ledger-db-us', healthy: false, status: 503 });
  });

  it('stops probing an endpoint at its first healthy answer', async () => {
    platformInEu({ health: HEALTH_ALARM, series: HEALTHY_LAG });
    const fetchSpy = mockFetch(() => new Response('ok', { status: 200 }));
    const ctx = stageContext();

    const detection = await confirmRegionFailure({ plan, start: healthAlarmStart }, ctx);

    expect(detection).toMatchObject({ classification: 'healthy', action: 'notify-only' });
    expect(fetchSpy).toHaveBeenCalledTimes(3);
    expect(ctx.sleep).not.toHaveBeenCalled();
  });

  it('makes no probe retry that would end after the stage deadline', async () => {
    platformInEu({ health: HEALTH_ALARM });
    const fetchSpy = mockFetch(() => Promise.reject(networkError()));
    const ctx = { ...stageContext(), deadlineAt: Date.now() + 2_000 }; // one 3 s probe attempt more would overrun it

    const detection = await confirmRegionFailure({ plan, start: healthAlarmStart }, ctx);

    expect(fetchSpy).toHaveBeenCalledTimes(3);
    expect(detection.evidence.probes[0]).toMatchObject({ attempts: 1, error: expect.stringContaining('2 more attempts not made: stage deadline') });
    expect(ctx.sleep).not.toHaveBeenCalled();
  });

  it('ends a drill with DrillNotReady when a plan alarm does not exist or a replica has no backups', async () => {
    platformInEu();
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [{ AlarmName: HEALTH_ALARM, StateValue: 'OK' }] });
    rds.on(DescribeDBInstancesCommand).resolves(accountsReplicaReplicating({ backupRetentionPeriod: 0 }));
    mockFetch(() => new Response('ok', { status: 200 }));

    await expect(confirmRegionFailure({ plan, start: manualStart('drill') }, stageContext())).rejects.toMatchObject({
      name: 'DrillNotReady',
      message: expect.stringMatching(
        /5 reason\(s\).*alarm payments-us-east-1-ledger-health is MISSING.*accounts: backups are not enabled on the replica payments-accounts-euw1 \(BackupRetentionPeriod 0\)/,
      ),
    });
  });

  it('says traffic is on the recovery region only when EVERY traffic item points there: one moved routing control and one record still on the primary is not', async () => {
    const twoItems = examplePlan((raw) => {
      raw.traffic = [...raw.traffic, { ...route53WeightedTraffic(), name: 'api-dns' }];
    });
    platformInEu({ health: HEALTH_ALARM });
    // The ARC routing control has moved (recovery On, primary Off) …
    arc.on(GetRoutingControlStateCommand).callsFake((input: GetRoutingControlStateCommandInput) => ({
      RoutingControlArn: input.RoutingControlArn,
      RoutingControlState: input.RoutingControlArn?.endsWith('api-use1') ? 'Off' : 'On',
    }));
    // … the weighted record has not.
    const record = (id: string, weight: number, value: string) => ({
      Name: 'api.payments.example.com.',
      Type: 'CNAME' as const,
      SetIdentifier: id,
      Weight: weight,
      TTL: 60,
      ResourceRecords: [{ Value: value }],
    });
    route53.on(ListResourceRecordSetsCommand).resolves({
      ResourceRecordSets: [record('eu-west-1', 0, 'api-euw1.payments.example.com'), record('us-east-1', 100, 'api-use1.payments.example.com')],
      IsTruncated: false,
      MaxItems: '100' as never,
    });
    mockFetch(() => Promise.reject(networkError('ECONNREFUSED')));

    const detection = await confirmRegionFailure({ plan: twoItems, start: healthAlarmStart }, stageContext());

    expect(detection.evidence.trafficOnRecovery).toBe(false);
  });

  it('still decides when the Route 53 control plane does not answer, saying it could not read DNS', async () => {
    const r53plan = examplePlan((raw) => {
      raw.traffic = [route53WeightedTraffic()];
    });
    platformInEu({ health: HEALTH_ALARM });
    route53.on(ListResourceRecordSetsCommand).rejects(Object.assign(new Error('connect ETIMEDOUT 52.94.236.248:443'), { name: 'TimeoutError' }));
    mockFetch(() => Promise.reject(networkError('ETIMEDOUT')));

    const detection = await confirmRegionFailure({ plan: r53plan, start: healthAlarmStart }, stageContext());

    expect(detection).toMatchObject({ classification: 'region-outage', action: 'failover' });
    expect(detection.evidence.trafficOnRecovery).toBe(false);
    expect(detection.reasons).toContainEqual(expect.stringContaining('could not read DNS records (Route 53 control plane)'));
  });
});
