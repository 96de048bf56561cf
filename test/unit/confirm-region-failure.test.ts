import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand, type GetMetricDataCommandInput } from '@aws-sdk/client-cloudwatch';
import { DescribeDBInstancesCommand, DescribeGlobalClustersCommand, RDSClient } from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand, Route53Client } from '@aws-sdk/client-route-53';
import { mockClient } from 'aws-sdk-client-mock';
import { classify, confirmRegionFailure, type Evidence } from '../../functions/confirm-region-failure';
import { alarmNames } from '../../functions/core/plan';
import type { ProbeResult, ReplicationObservation, StartResult } from '../../functions/core/contract';
import { startFixture } from '../helpers/fixtures';
import { examplePlan } from '../helpers/plan';
import { mockFetch, networkError, NOW, stageContext } from '../helpers/stage';
import { accountsReplicaReplicating, ledgerGlobalCluster } from '../helpers/rds-responses';

const cloudwatch = mockClient(CloudWatchClient);
const rds = mockClient(RDSClient);
const route53 = mockClient(Route53Client);

const plan = examplePlan();

// ---- evidence builders for the pure classification ----

const probesUp: ProbeResult[] = [
  { name: 'api-us', url: 'https://api-use1.payments.example.com/healthz', healthy: true, status: 200, attempts: 1 },
  { name: 'ledger-us', url: 'https://ledger-use1.payments.example.com/healthz', healthy: true, status: 200, attempts: 1 },
];
const probesDown: ProbeResult[] = probesUp.map((p) => ({ name: p.name, url: p.url, healthy: false, error: 'TypeError ECONNREFUSED: fetch failed', attempts: 3 }));

const alarms = (inAlarm: string[] = []) =>
  alarmNames(plan).all.map((name) => ({ name, state: inAlarm.includes(name) ? 'ALARM' : 'OK' }));

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

  it('marks the RPO at risk when a replication gap is unknown', () => {
    const unknown: ReplicationObservation[] = [
      { database: 'ledger', kind: 'aurora-global', status: 'broken', detail: 'no replication-lag datapoint in the last 5 minutes' },
      replicating()[1]!,
    ];

    const decision = classify(plan, healthAlarmStart, evidence({ probes: probesDown, replication: unknown }), []);

    expect(decision).toMatchObject({ classification: 'region-outage', rpoAtRisk: true, approvalRequired: true });
    expect(decision.reasons).toContain('replication gap unknown for at least one database');
  });

  it('classifies a database alarm as database-failure and asks a human (not in the plan automatic list)', () => {
    const start = startFixture({ alarmName: DB_ALARM, alarmKind: 'database' });

    const decision = classify(plan, start, evidence({ alarms: alarms([DB_ALARM]) }), []);

    expect(decision).toMatchObject({ classification: 'database-failure', action: 'failover', approvalRequired: true, onApprovalTimeout: 'abort' });
  });

  it('lets a database alarm outrank failing probes: health endpoints that check the database go down with it, and that is no region outage', () => {
    const decision = classify(plan, healthAlarmStart, evidence({ probes: probesDown, alarms: alarms([HEALTH_ALARM, DB_ALARM]) }), []);

    expect(decision).toMatchObject({ classification: 'database-failure', approvalRequired: true });
  });

  it('classifies healthy probes with broken replication as a partition: approval required, and an unanswered approval aborts even when the plan says proceed', () => {
    const proceedPlan = examplePlan((raw) => {
      raw.approval.onTimeout = 'proceed';
    });
    const broken: ReplicationObservation[] = [{ ...replicating()[0]!, status: 'broken', detail: 'pending-resync' }, replicating()[1]!];

    const decision = classify(proceedPlan, healthAlarmStart, evidence({ alarms: alarms([HEALTH_ALARM]), replication: broken }), []);

    expect(decision).toMatchObject({ classification: 'partition', action: 'failover', approvalRequired: true, onApprovalTimeout: 'abort' });
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
      expect.arrayContaining([
        'probe api-us: down after 3 attempts (TypeError ECONNREFUSED: fetch failed)',
        'replication of ledger: broken (pending-resync)',
      ]),
    );
  });
});

// ---- end to end, with the recovery region's APIs mocked ----


function metricName(input: GetMetricDataCommandInput): string | undefined {
  return input.MetricDataQueries?.[0]?.MetricStat?.Metric?.MetricName;
}

function platformInEu(options: { health?: string } = {}) {
  cloudwatch.on(DescribeAlarmsCommand).resolves({
    MetricAlarms: alarms(options.health ? [options.health] : []).map((a) => ({ AlarmName: a.name, StateValue: a.state as 'OK' | 'ALARM' })),
  });
  cloudwatch.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => ({
    MetricDataResults: [{ Id: 'm', Values: metricName(input) === 'AuroraGlobalDBReplicationLag' ? [2500, 1800] : [1], Timestamps: [new Date(NOW.getTime() - 30_000), new Date(NOW.getTime() - 90_000)] }],
  }));
  rds.on(DescribeGlobalClustersCommand).resolves(ledgerGlobalCluster('primary'));
  rds.on(DescribeDBInstancesCommand).resolves(accountsReplicaReplicating());
  route53.on(ListResourceRecordSetsCommand).resolves({
    IsTruncated: false,
    MaxItems: 10,
    ResourceRecordSets: [
      { Name: 'api.payments.example.com.', Type: 'CNAME', SetIdentifier: 'eu-west-1', Weight: 0, TTL: 60, ResourceRecords: [{ Value: 'api-euw1.payments.example.com' }] },
      { Name: 'api.payments.example.com.', Type: 'CNAME', SetIdentifier: 'us-east-1', Weight: 100, TTL: 60, ResourceRecords: [{ Value: 'api-use1.payments.example.com' }] },
    ],
  });
}

beforeEach(() => {
  cloudwatch.reset();
  rds.reset();
  route53.reset();
});

afterEach(() => {
  jest.restoreAllMocks();
});

describe('confirmRegionFailure', () => {
  it('confirms a region outage from the recovery region: probes down after every attempt, health alarm in ALARM, replication within budget', async () => {
    platformInEu({ health: HEALTH_ALARM });
    const fetchSpy = mockFetch(() => Promise.reject(networkError()));
    const ctx = stageContext();

    const detection = await confirmRegionFailure({ plan, start: healthAlarmStart }, ctx);

    expect(detection).toMatchObject({
      classification: 'region-outage',
      action: 'failover',
      approvalRequired: false,
      replicationGapSeconds: 2.5,
      startedAt: NOW.toISOString(),
      finishedAt: NOW.toISOString(),
    });
    expect(detection.evidence.probes).toEqual([
      expect.objectContaining({ name: 'api-us', healthy: false, attempts: 3, error: expect.stringContaining('ECONNREFUSED') }),
      expect.objectContaining({ name: 'ledger-us', healthy: false, attempts: 3 }),
    ]);
    expect(detection.evidence.replication).toEqual([
      expect.objectContaining({ database: 'ledger', status: 'replicating', lagSeconds: 2.5 }),
      expect.objectContaining({ database: 'accounts', status: 'replicating', lagSeconds: 1 }),
    ]);
    expect(detection.evidence.trafficOnRecovery).toBe(false);
    expect(fetchSpy).toHaveBeenCalledTimes(6);
    expect(ctx.sleep).toHaveBeenCalledTimes(4);
    expect(ctx.sleep).toHaveBeenCalledWith(1000);
  });

  it('reads every plan alarm, replication status and lag, and the traffic record', async () => {
    platformInEu();
    mockFetch(() => new Response('ok', { status: 200 }));

    await confirmRegionFailure({ plan, start: healthAlarmStart }, stageContext());

    expect(cloudwatch).toHaveReceivedCommandWith(DescribeAlarmsCommand, {
      AlarmNames: [HEALTH_ALARM, 'payments-us-east-1-ledger-health', LAG_ALARM, 'payments-accounts-replication-lag', DB_ALARM],
    });
    expect(cloudwatch).toHaveReceivedCommandWith(GetMetricDataCommand, {
      EndTime: NOW,
      MetricDataQueries: [
        expect.objectContaining({
          MetricStat: expect.objectContaining({
            Metric: { Namespace: 'AWS/RDS', MetricName: 'AuroraGlobalDBReplicationLag', Dimensions: [{ Name: 'DBClusterIdentifier', Value: 'payments-ledger-euw1' }] },
          }),
        }),
      ],
    });
    expect(cloudwatch).toHaveReceivedCommandWith(GetMetricDataCommand, {
      MetricDataQueries: [
        expect.objectContaining({
          MetricStat: expect.objectContaining({
            Metric: { Namespace: 'AWS/RDS', MetricName: 'ReplicaLag', Dimensions: [{ Name: 'DBInstanceIdentifier', Value: 'payments-accounts-euw1' }] },
          }),
        }),
      ],
    });
    expect(rds).toHaveReceivedCommandWith(DescribeGlobalClustersCommand, { GlobalClusterIdentifier: 'payments-ledger-global' });
    expect(rds).toHaveReceivedCommandWith(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'payments-accounts-euw1' });
    expect(route53).toHaveReceivedCommandWith(ListResourceRecordSetsCommand, {
      HostedZoneId: 'Z0123456789ABCDEFGHIJ',
      StartRecordName: 'api.payments.example.com',
      StartRecordType: 'CNAME',
    });
  });

  it('stops probing an endpoint at its first healthy answer', async () => {
    platformInEu({ health: HEALTH_ALARM });
    const fetchSpy = mockFetch(() => new Response('ok', { status: 200 }));
    const ctx = stageContext();

    const detection = await confirmRegionFailure({ plan, start: healthAlarmStart }, ctx);

    expect(detection).toMatchObject({ classification: 'healthy', action: 'notify-only' });
    expect(fetchSpy).toHaveBeenCalledTimes(2);
    expect(ctx.sleep).not.toHaveBeenCalled();
  });

  it('still decides when the Route 53 control plane does not answer, saying it could not read DNS', async () => {
    platformInEu({ health: HEALTH_ALARM });
    route53.on(ListResourceRecordSetsCommand).rejects(Object.assign(new Error('connect ETIMEDOUT 52.94.236.248:443'), { name: 'TimeoutError' }));
    mockFetch(() => Promise.reject(networkError('ETIMEDOUT')));

    const detection = await confirmRegionFailure({ plan, start: healthAlarmStart }, stageContext());

    expect(detection).toMatchObject({ classification: 'region-outage', action: 'failover' });
    expect(detection.evidence.trafficOnRecovery).toBe(false);
    expect(detection.reasons).toContainEqual(expect.stringContaining('could not read DNS records (Route 53 control plane)'));
  });
});
