/**
 * The lab's CloudWatch alarms and the replica's lag metric, evaluated every probe tick "from the
 * recovery region":
 *
 * - every health / database alarm of the plan watches the probe it names (`detection.probes`, by
 *   URL, expected status and timeout — the same endpoints the stack's probe Lambda checks);
 * - every replication-lag alarm watches the lab's `ReplicaLag` of its database against its
 *   threshold (default: the plan's RPO budget).
 *
 * An alarm goes to ALARM when `datapointsToAlarm` of its last `evaluationPeriods` datapoints breach
 * and back to OK when fewer do; lab-sized, one period is one probe tick (1 s), not the plan's
 * `periodSeconds` (10–60 s on AWS; the report says so). A missing datapoint (no lag while the
 * replica is promoted) counts as not breaching. State changes are emitted as events shaped exactly
 * like CloudWatch's "Alarm State Change"; whether one starts the state machine is decided by the
 * project's own EventBridge patterns (events/), not here.
 *
 * The lag samples (`LabState.lag`) are produced every tick, whatever happens: the simulated
 * CloudWatch publishes them as the once-a-minute `AWS/RDS ReplicaLag` datapoints RDS publishes.
 */
import { request } from 'node:http';
import type { LagAlarm, Plan, ProbeAlarm } from '../functions/core/plan';
import type { LabState, LagSample } from './world';

export type AlarmEvent = Record<string, any>;

export interface ProbeOptions {
  intervalMs: number;
  state: LabState;
  onEvent: (event: AlarmEvent) => void;
}

type Probe = Plan['detection']['probes'][number];

/**
 * One probe: a GET on a fresh connection that must answer `expectStatus` within `timeoutMs`. A
 * region that accepts and never answers fails it by the timeout, and the socket is released.
 */
export function probeOnce(probe: Pick<Probe, 'url' | 'expectStatus' | 'timeoutMs'>): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean, detail: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ ok, detail });
    };
    const req = request(probe.url, { method: 'GET', agent: false }, (res) => {
      res.resume();
      done(res.statusCode === probe.expectStatus, `HTTP ${res.statusCode}`);
    });
    // A deadline for the whole exchange (connect + answer), not an idle timeout.
    const timer = setTimeout(() => done(false, `no answer within ${probe.timeoutMs} ms`), probe.timeoutMs);
    req.on('error', (error) => done(false, error.message));
    req.end();
  });
}

/** CloudWatch's timestamps in alarm events: `2026-11-03T03:02:11.107+0000`. */
const cwTime = (ms: number) => new Date(ms).toISOString().replace('Z', '+0000');

/** A CloudWatch "Alarm State Change" event, as EventBridge delivers it (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html). */
export function alarmEvent(opts: {
  alarmName: string;
  value: string;
  previous: string;
  reason: string;
  reasonData?: string;
  region: string;
  account?: string;
  at?: Date;
}): AlarmEvent {
  const at = opts.at ?? new Date();
  const account = opts.account ?? '000000000000';
  return {
    version: '0',
    id: `lab-${at.getTime()}-${Math.random().toString(16).slice(2, 10)}`,
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account,
    time: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: opts.region,
    resources: [`arn:aws:cloudwatch:${opts.region}:${account}:alarm:${opts.alarmName}`],
    detail: {
      alarmName: opts.alarmName,
      state: { value: opts.value, reason: opts.reason, ...(opts.reasonData ? { reasonData: opts.reasonData } : {}), timestamp: at.toISOString().replace('Z', '+0000') },
      previousState: { value: opts.previous, reason: 'lab probe', timestamp: at.toISOString().replace('Z', '+0000') },
      configuration: { description: `lab probe alarm ${opts.alarmName}` },
    },
  };
}

/** How an alarm reads its metric: one datapoint per probe tick, compared with a threshold. */
export interface AlarmRule {
  evaluationPeriods: number;
  datapointsToAlarm: number;
  /** ProbeSuccess < 1 (Minimum), or ReplicaLag > threshold (Maximum). */
  statistic: 'Minimum' | 'Maximum';
  threshold: number;
  /** The lab's period: one probe tick, in seconds. */
  periodSeconds: number;
}

/**
 * One alarm: ALARM when `datapointsToAlarm` of the last `evaluationPeriods` datapoints breach, else
 * OK. Its events carry CloudWatch's `reasonData` (the evaluated datapoints and the window's start),
 * from which the orchestrator dates the fault.
 */
export class AlarmTracker {
  private readonly window: Array<{ at: number; value: number | null; breach: boolean }> = [];
  constructor(
    readonly name: string,
    private readonly rule: AlarmRule,
    private readonly state: Pick<LabState, 'alarms' | 'log' | 'plan'>,
    private readonly onEvent: (event: AlarmEvent) => void,
  ) {
    state.alarms.set(name, 'OK');
  }

  /** One datapoint (one probe tick); `value` null is a missing datapoint (not breaching). */
  sample(value: number | null, reason: string, at = Date.now()): void {
    const breach = value !== null && (this.rule.statistic === 'Minimum' ? value < this.rule.threshold : value > this.rule.threshold);
    this.window.push({ at, value, breach });
    if (this.window.length > this.rule.evaluationPeriods) this.window.shift();
    const breaching = this.window.filter((d) => d.breach).length;
    const current = this.state.alarms.get(this.name) ?? 'OK';
    const next = breaching >= this.rule.datapointsToAlarm ? 'ALARM' : 'OK';
    if (next === current) return;
    const why = next === 'ALARM' ? `${breaching} of the last ${this.window.length} datapoints breached: ${reason}` : reason;
    this.state.alarms.set(this.name, next);
    this.state.log(`cloudwatch: ${this.name} ${current} → ${next} (${why})`);
    this.onEvent(
      alarmEvent({ alarmName: this.name, value: next, previous: current, reason: why, reasonData: this.reasonData(at), region: this.state.plan.recoveryRegion, at: new Date(at) }),
    );
  }

  /** CloudWatch's reasonData: the evaluated datapoints (newest first) and where the window starts. */
  private reasonData(queryAt: number): string {
    const present = this.window.filter((d) => d.value !== null);
    return JSON.stringify({
      version: '1.0',
      queryDate: cwTime(queryAt),
      ...(this.window[0] ? { startDate: cwTime(this.window[0].at) } : {}),
      statistic: this.rule.statistic,
      period: this.rule.periodSeconds,
      recentDatapoints: present.map((d) => d.value),
      threshold: this.rule.threshold,
      evaluatedDatapoints: [...present].reverse().map((d) => ({ timestamp: cwTime(d.at), sampleCount: 1.0, value: d.value })),
    });
  }
}

/** The replica's lag as RDS reports it, from the replica alone, plus whether WAL is streaming. */
export interface LagReading {
  inRecovery: boolean;
  streaming: boolean;
  replayLsn: string | null;
  /** now() - pg_last_xact_replay_timestamp(), seconds; null before the first replayed transaction. */
  sinceLastReplaySeconds: number | null;
}

/**
 * RDS PostgreSQL `ReplicaLag` is `extract(epoch from now() - pg_last_xact_replay_timestamp())`
 * (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PostgreSQL.Replication.ReadReplicas.Monitor.html):
 * it grows with the clock whenever nothing new is replayed — after the primary died, while the link
 * is cut or replay is paused. One lab concession: a replica that has replayed everything its live
 * primary has written reads 0 (the convention of common PostgreSQL exporters), so that a primary
 * that is alive but writes nothing — before traffic starts, or fenced read-only during a planned
 * switchover — is not read as lag; the formula alone would keep growing there (on RDS too, between
 * the source's writes). When the primary cannot be asked (`primaryLsn` null: it is down or
 * unreachable), only the formula counts. A promoted instance is no replica: no datapoint (null).
 */
export function replicaLagSeconds(reading: LagReading, primaryLsn: string | null): number | null {
  if (!reading.inRecovery) return null;
  if (primaryLsn !== null && reading.replayLsn === primaryLsn) return 0;
  return reading.sinceLastReplaySeconds === null ? null : Math.max(0, reading.sinceLastReplaySeconds);
}

export class Probes {
  private timer?: NodeJS.Timeout;
  private running = false;
  private tickWaiters: Array<() => void> = [];

  /**
   * Resolves when the next probe round has finished. The drill injects every fault at this same
   * point of the probe cycle, so scenarios compare on what they do, not on where the fault happened
   * to fall between two probe rounds (up to one round of detection time either way).
   */
  afterNextTick(): Promise<void> {
    return new Promise((resolve) => this.tickWaiters.push(resolve));
  }
  private readonly probeAlarms: Array<{ tracker: AlarmTracker; probe: Probe | undefined; kind: 'health' | 'database' }>;
  private readonly lagAlarms: Array<{ tracker: AlarmTracker; alarm: LagAlarm }>;

  constructor(private readonly opts: ProbeOptions) {
    const { plan } = opts.state;
    const d = plan.detection;
    const periodSeconds = opts.intervalMs / 1000;
    const probeAlarm = (alarm: ProbeAlarm, kind: 'health' | 'database') => ({
      // As the stack's alarm on ProbeSuccess (1 = healthy): Minimum < 1 breaches.
      tracker: new AlarmTracker(alarm.name, { ...alarm, statistic: 'Minimum', threshold: 1, periodSeconds }, opts.state, opts.onEvent),
      probe: d.probes.find((p) => p.name === alarm.probe),
      kind,
    });
    this.probeAlarms = [...d.healthAlarms.map((a) => probeAlarm(a, 'health')), ...d.databaseAlarms.map((a) => probeAlarm(a, 'database'))];
    this.lagAlarms = d.replicationLagAlarms.map((alarm) => ({
      tracker: new AlarmTracker(
        alarm.name,
        { ...alarm, statistic: 'Maximum', threshold: alarm.thresholdSeconds ?? plan.rpoBudgetSeconds, periodSeconds },
        opts.state,
        opts.onEvent,
      ),
      alarm,
    }));
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs);
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const { state } = this.opts;
      const tickAt = Date.now();
      const byProbe = new Map<string, Promise<{ ok: boolean; detail: string }>>();
      const check = (probe: Probe) => {
        if (!byProbe.has(probe.name)) byProbe.set(probe.name, probeOnce(probe));
        return byProbe.get(probe.name)!;
      };
      const [results, lag] = await Promise.all([Promise.all(this.probeAlarms.map(({ probe }) => (probe ? check(probe) : Promise.resolve(undefined)))), this.sampleLag()]);
      this.probeAlarms.forEach(({ tracker, probe }, i) => {
        const r = results[i];
        if (!probe || !r) return; // a probe the plan does not have: no datapoint
        tracker.sample(
          r.ok ? 1 : 0,
          r.ok ? `probe ${probe.name} healthy (${r.detail})` : `probe ${probe.name} of ${state.plan.primaryRegion} failed from ${state.plan.recoveryRegion}: ${r.detail}`,
          tickAt,
        );
      });
      for (const { tracker, alarm } of this.lagAlarms) {
        const value = alarm.database === this.labDatabase ? lag.lagSeconds : null;
        tracker.sample(
          value,
          value === null ? 'no ReplicaLag datapoint' : `ReplicaLag ${value.toFixed(1)} s (threshold ${alarm.thresholdSeconds ?? state.plan.rpoBudgetSeconds} s)`,
          lag.at,
        );
      }
    } finally {
      this.running = false;
      const waiters = this.tickWaiters;
      this.tickWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** The lab's one replicated database (the plan's first). */
  private get labDatabase(): string | undefined {
    return this.opts.state.plan.databases[0]?.name;
  }

  /** One lag sample of the standby, always recorded (null = no datapoint). */
  private async sampleLag(): Promise<LagSample> {
    const { state } = this.opts;
    const sample: LagSample = { at: Date.now(), lagSeconds: null, receiverStreaming: false };
    try {
      const [row] = await state.recovery.db.query<{ rec: boolean; replay: string | null; age: number | null; status: string | null }>(
        `SELECT pg_is_in_recovery() AS rec, pg_last_wal_replay_lsn()::text AS replay,
                EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 AS age,
                (SELECT status FROM pg_stat_wal_receiver) AS status`,
      );
      const reading: LagReading = { inRecovery: row!.rec, streaming: row!.status === 'streaming', replayLsn: row!.replay, sinceLastReplaySeconds: row!.age };
      sample.receiverStreaming = reading.inRecovery && reading.streaming;
      sample.lagSeconds = replicaLagSeconds(reading, reading.inRecovery ? await this.primaryLsn() : null);
    } catch {
      /* standby unreachable: no datapoint */
    }
    state.lag.push(sample);
    return sample;
  }

  /** The live primary's current WAL position, when the lab can still ask it (null when it is down). */
  private async primaryLsn(): Promise<string | null> {
    const { state } = this.opts;
    if (!state.primary.dbAlive) return null;
    try {
      const [p] = await state.primary.db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      return p?.lsn ?? null;
    } catch {
      return null;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
