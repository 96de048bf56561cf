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
  { name: 'fence', status: 'succeeded', start: 14.6, end: 15.9 },
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
  }));

  const report: DrillReport = {
    scenario: 'region-outage',
    mode: 'failover',
    outcome: 'succeeded',
    rtoSeconds: round(RECOVERED_AT - FAULT_AT, 1),
    rpo: { lostAcknowledged: 38, seconds: 0.31, estimatedSeconds: 0.35 },
    acknowledged,
    errors,
    splitBrain: false,
    fence: { confirmed: false, unconfirmed: ['payments-api: us-east-1 ECS did not answer within the fence budget'] },
    orchestrationOverheadMs: 1840,
    throughput: { txPerSecond: round(steady.reduce((sum, p) => sum + p.acknowledged, 0) / steady.length, 1), p50Ms: 6.2, p99Ms: 38.5 },
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
    notes: [
      'Both "regions" run on this machine: two PostgreSQL clusters with streaming replication, two app processes, a local DNS zone.',
      'The fault stops the us-east-1 database and app at t = 10 s; the load generator keeps sending at the configured rate.',
      'RPO is measured: acknowledged transactions in the client log that are missing from the surviving primary.',
    ],
  };
  return { ...report, ...overrides };
}
