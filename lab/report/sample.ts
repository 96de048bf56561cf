/**
 * A realistic region-outage drill report, for tests and for working on report.html without running
 * the lab: 40 s of traffic at 167 tx/s, the primary region stopped at t = 10 s, alarm after three
 * failed 1 s probes, the orchestrator's stages, a throughput dip and an error burst until DNS moves,
 * and the standby's replication lag (unknown once the primary is gone).
 *
 * Deterministic: the jitter comes from a fixed-seed generator, so two calls give equal reports.
 */
import type { DrillReport, StageTiming, TimelineEvent, TimelinePoint } from './types';

const STARTED_AT_MS = Date.parse('2025-06-03T10:00:00.000Z');
const RATE = 167;
const DURATION_S = 40;
const FAULT_AT = 10;
/** First acknowledged write after the fault (client's view). */
const RECOVERED_AT = 22.9;

/** Park–Miller minimal standard generator: deterministic jitter in [0, 1). */
function seededRandom(seed: number): () => number {
  let state = seed % 2147483647;
  if (state <= 0) state += 2147483646;
  return () => {
    state = (state * 16807) % 2147483647;
    return (state - 1) / 2147483646;
  };
}

function iso(secondsSinceStart: number): string {
  return new Date(STARTED_AT_MS + Math.round(secondsSinceStart * 1000)).toISOString();
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function samplePoints(): TimelinePoint[] {
  const random = seededRandom(20250603);
  const points: TimelinePoint[] = [];
  for (let t = 0; t < DURATION_S; t += 1) {
    let acknowledged: number;
    let errors: number;
    let lagSeconds: number | null;
    if (t < FAULT_AT) {
      // Steady state: the generator's fixed rate, a transaction or two either side.
      acknowledged = RATE - 2 + Math.floor(random() * 4);
      errors = random() < 0.15 ? 1 : 0;
      // Streaming replication lag, with a burst just before the fault (what the RPO is made of);
      // one probe at t = 4 timed out: unknown.
      lagSeconds = t === 4 ? null : t === 9 ? 0.34 : round(0.03 + random() * 0.09, 3);
    } else if (t < Math.floor(RECOVERED_AT)) {
      // Primary gone: every attempt fails (connection refused / timeout) until DNS moves.
      acknowledged = 0;
      errors = t === FAULT_AT ? 121 : t >= 19 ? 148 + Math.floor(random() * 8) : 158 + Math.floor(random() * 9);
      lagSeconds = null;
    } else if (t === Math.floor(RECOVERED_AT)) {
      // Recovery bucket: writes start landing in eu-west-1 at 22.9 s.
      acknowledged = 17;
      errors = 139;
      lagSeconds = null;
    } else {
      acknowledged = RATE - 2 + Math.floor(random() * 4);
      errors = t === Math.floor(RECOVERED_AT) + 1 ? 3 : 0;
      // Promoted: no standby any more.
      lagSeconds = null;
    }
    points.push({ t, acknowledged, errors, lagSeconds });
  }
  return points;
}

const STAGE_BARS: DrillReport['stageBars'] = [
  { name: 'confirm', status: 'succeeded', start: 13.3, end: 14.6 },
  { name: 'fence', status: 'unconfirmed', start: 14.6, end: 15.9 },
  { name: 'promote', status: 'succeeded', start: 15.9, end: 20.1 },
  { name: 'scale', status: 'succeeded', start: 15.9, end: 18.4 },
  { name: 'flip', status: 'succeeded', start: 20.2, end: 22.5 },
  { name: 'smoke', status: 'succeeded', start: 22.5, end: 23.6 },
  { name: 'notify', status: 'succeeded', start: 23.6, end: 23.9 },
];

const EVENTS: TimelineEvent[] = [
  { t: FAULT_AT, label: 'us-east-1 stopped (primary database + app)', kind: 'fault' },
  { t: 13.0, label: 'health alarm → ALARM (3 failed probes)', kind: 'alarm' },
  { t: 13.3, label: 'execution started', kind: 'execution' },
  { t: 20.1, label: 'eu-west-1 database writable', kind: 'note' },
  { t: RECOVERED_AT, label: 'first acknowledged write', kind: 'recovered' },
  { t: 23.9, label: 'execution SUCCEEDED', kind: 'execution' },
];

export function sampleReport(overrides: Partial<DrillReport> = {}): DrillReport {
  const points = samplePoints();
  const acknowledged = points.reduce((sum, p) => sum + p.acknowledged, 0);
  const errors = points.reduce((sum, p) => sum + p.errors, 0);
  const steady = points.filter((p) => p.acknowledged >= RATE / 2);
  const stageBars = STAGE_BARS.map((bar) => ({ ...bar }));
  const stages: StageTiming[] = stageBars.map((bar) => ({
    name: bar.name,
    status: bar.status,
    startedAt: iso(bar.start),
    durationMs: Math.round((bar.end - bar.start) * 1000),
    attempts: [{ startedAt: iso(bar.start), durationMs: Math.round((bar.end - bar.start) * 1000), status: 'succeeded' as const }],
  }));

  const report: DrillReport = {
    scenario: 'region-outage',
    mode: 'failover',
    outcome: 'succeeded',
    expectedOutcome: 'succeeded',
    asExpected: true,
    outage: true,
    rtoSeconds: round(RECOVERED_AT - FAULT_AT, 1),
    rpo: { lostAcknowledged: 38, seconds: 0.31, estimatedSeconds: 0.35 },
    acknowledged,
    errors,
    splitBrain: false,
    fence: {
      confirmed: false,
      unconfirmed: ['payments-api: us-east-1 ECS did not answer within the fence budget'],
      budgetSeconds: 20,
      steps: [
        { resource: 'payments-db', kind: 'rds-replica', status: 'confirmed', action: 'read-only parameter group', detail: 'default_transaction_read_only = 1, in-sync' },
        { resource: 'payments-api', kind: 'ecs-service', status: 'unconfirmed', action: 'scale to 0', detail: 'us-east-1 ECS did not answer within the fence budget' },
      ],
    },
    orchestrationOverheadMs: 1840,
    throughput: {
      txPerSecond: round(acknowledged / DURATION_S, 1),
      p50Ms: 6.2,
      p99Ms: 38.5,
      preFault: {
        offeredPerSecond: RATE,
        achievedPerSecond: round(steady.filter((p) => p.t < FAULT_AT).reduce((sum, p) => sum + p.acknowledged, 0) / FAULT_AT, 1),
        seconds: FAULT_AT,
      },
    },
    stages,
    report: 'lab/out/region-outage/report.html',
    generatedAt: iso(DURATION_S + 2.4),
    startedAt: iso(0),
    faultAt: FAULT_AT,
    budgets: { rtoSeconds: 30, rpoSeconds: 5 },
    settings: { rate: RATE, latencyMs: 20, probeIntervalMs: 1000, failuresToAlarm: 3, dnsTtlSeconds: 2, pollSeconds: 1 },
    splitBrainWrites: 0,
    execution: {
      status: 'SUCCEEDED',
      executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:failover-lab:region-outage-20250603T100013Z',
    },
    timeline: { points, events: EVENTS.map((event) => ({ ...event })) },
    stageBars,
    audit: {
      detection: {
        classification: 'region-outage',
        action: 'failover',
        approvalRequired: false,
        reasons: ['3 of 3 probes of us-east-1 failing from eu-west-1', 'alarm payments-health in ALARM'],
        probes: [
          { name: 'payments-api', healthy: false, error: 'connect ECONNREFUSED', attempts: 3 },
          { name: 'eu-self-check', healthy: true, status: 200, attempts: 1 },
        ],
        alarms: [{ name: 'payments-health', state: 'ALARM' }],
      },
      alarmsBeforeStart: [{ t: 13.0, name: 'payments-health', state: 'ALARM', matched: true }],
      approval: { mode: 'automatic', approved: true, policy: 'plan.approval.automatic allows "region-outage" on an alarm: no human approval asked' },
      planSha256: '3f0c7d1e5a9b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d',
      orchestrator: { version: '0.1.0', commit: 'f478028c0ffee0000000000000000000000000aa' },
      notification: {
        detailType: 'Failover Succeeded',
        idempotencyKey: 'arn:aws:states:eu-west-1:123456789012:execution:failover-lab:region-outage-20250603T100013Z:succeeded',
        eventId: '6a7e8f5c-0000-4000-8000-000000000001',
        outcome: 'succeeded',
      },
    },
    notes: [
      'Both "regions" run on this machine: two PostgreSQL clusters with streaming replication, two app processes, a local DNS zone.',
      'The fault stops the us-east-1 database and app at t = 10 s; the load generator keeps sending at the configured rate.',
      'RPO is measured: acknowledged transactions in the client log that are missing from the surviving primary.',
    ],
  };
  return { ...report, ...overrides };
}

/**
 * A network partition: the replication link is cut, both regions stay up, writes never stop (flat
 * 167 tx/s, no error); the approval nobody answers times out and the run aborts. No outage: no RTO.
 */
export function samplePartitionReport(): DrillReport {
  const base = sampleReport();
  const random = seededRandom(7);
  const points: TimelinePoint[] = Array.from({ length: DURATION_S }, (_, t) => ({
    t,
    acknowledged: RATE - 2 + Math.floor(random() * 4),
    errors: 0,
    lagSeconds: t < FAULT_AT ? 0.05 : null,
  }));
  const bars: DrillReport['stageBars'] = [
    { name: 'accept-start-request', status: 'succeeded', start: 13.2, end: 13.23 },
    { name: 'confirm-region-failure', status: 'succeeded', start: 13.23, end: 13.3 },
    { name: 'request-approval', status: 'failed', start: 13.3, end: 18.3 },
    { name: 'notify-failure', status: 'succeeded', start: 18.3, end: 18.32 },
  ];
  return {
    ...base,
    scenario: 'network-partition',
    outcome: 'aborted',
    expectedOutcome: 'aborted',
    asExpected: true,
    outage: false,
    rtoSeconds: null,
    rpo: { lostAcknowledged: 0, seconds: 0, estimatedSeconds: null },
    acknowledged: points.reduce((sum, p) => sum + p.acknowledged, 0),
    errors: 0,
    fence: null,
    orchestrationOverheadMs: 3,
    throughput: { txPerSecond: RATE, p50Ms: 2, p99Ms: 17, preFault: { offeredPerSecond: RATE, achievedPerSecond: RATE, seconds: FAULT_AT } },
    stages: bars.map((b) => ({
      name: b.name,
      status: b.status,
      startedAt: iso(b.start),
      durationMs: Math.round((b.end - b.start) * 1000),
      attempts: [{ startedAt: iso(b.start), durationMs: Math.round((b.end - b.start) * 1000), status: b.status as 'succeeded' | 'failed' }],
    })),
    stageBars: bars,
    execution: { status: 'FAILED', error: 'ApprovalTimedOut', cause: 'No decision before the approval timeout; plan.approval.onTimeout is abort, so nothing was changed.' },
    timeline: {
      points,
      events: [
        { t: FAULT_AT, label: 'replication link cut', kind: 'fault' },
        { t: 13.1, label: 'payments-db-replica-lag → ALARM', kind: 'alarm' },
        { t: 13.2, label: 'execution started', kind: 'execution' },
        { t: 18.35, label: 'execution failed', kind: 'execution' },
      ],
    },
    audit: {
      ...base.audit!,
      detection: {
        classification: 'partition',
        action: 'failover',
        approvalRequired: true,
        reasons: ['replication broken while both regions answer'],
        probes: [{ name: 'payments-api', healthy: true, status: 200, attempts: 1 }],
        alarms: [{ name: 'payments-db-replica-lag', state: 'ALARM' }],
      },
      alarmsBeforeStart: [{ t: 13.1, name: 'payments-db-replica-lag', state: 'ALARM', matched: true }],
      approval: {
        mode: 'decided',
        approved: false,
        decidedBy: 'timeout-policy',
        via: 'timeout-policy',
        decidedAt: iso(18.3),
        comment: 'no decision before the approval timeout; the policy is abort',
      },
      notification: { ...base.audit!.notification!, detailType: 'Failover Failed', outcome: 'failed' },
    },
    notes: ['No outage in this scenario: writes were never meant to stop, so no RTO is reported.'],
  };
}

/**
 * A smoke-test failure: the failover ran, but the recovery region failed its synthetic write four
 * times (Retry) over 1.4 s, and the run failed loudly.
 */
export function sampleSmokeFailureReport(): DrillReport {
  const base = sampleReport();
  const smokeStart = 22.5;
  const attempts: NonNullable<StageTiming['attempts']> = [0, 0.42, 0.86, 1.32].map((at) => ({
    startedAt: iso(smokeStart + at),
    durationMs: 80,
    status: 'failed' as const,
    error: 'SmokeTestFailed',
  }));
  const bars = base.stageBars.map((b) =>
    b.name === 'smoke' ? { ...b, status: 'failed', end: smokeStart + 1.4 } : b.name === 'notify' ? { ...b, name: 'notify-failure', start: 23.9, end: 24.0 } : b,
  );
  return {
    ...base,
    scenario: 'smoke-test-failure',
    outcome: 'failed',
    expectedOutcome: 'failed',
    asExpected: true,
    stageBars: bars,
    stages: base.stages.map((s) => (s.name === 'smoke' ? { ...s, status: 'failed', startedAt: iso(smokeStart), durationMs: 1400, attempts } : s)),
    execution: { status: 'FAILED', error: 'SmokeTestFailed', cause: 'synthetic write to eu-west-1 failed: 500' },
    timeline: { ...base.timeline, events: base.timeline.events.map((e) => (e.label === 'execution SUCCEEDED' ? { ...e, label: 'execution FAILED' } : e)) },
  };
}
