/**
 * The lab's CloudWatch: probes run "from the recovery region" every second — the primary's health
 * endpoint, the primary database, and the standby's replication lag — and turn consecutive
 * failures into alarm state changes, emitted as events shaped exactly like CloudWatch's "Alarm
 * State Change". Whether an event starts the state machine is decided by the project's own
 * EventBridge patterns (events/), not here.
 */
import { request } from 'node:http';
import { Client } from 'pg';
import type { LabState } from './world';

export type AlarmEvent = Record<string, any>;

export interface ProbeOptions {
  intervalMs: number;
  failuresToAlarm: number;
  state: LabState;
  onEvent: (event: AlarmEvent) => void;
}

function httpOk(port: number, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function dbOk(port: number, timeoutMs: number): Promise<boolean> {
  const client = new Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A CloudWatch "Alarm State Change" event, as EventBridge delivers it. */
export function alarmEvent(opts: { alarmName: string; value: string; previous: string; reason: string; region: string; account?: string; at?: Date }): AlarmEvent {
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
      state: { value: opts.value, reason: opts.reason, timestamp: at.toISOString().replace('Z', '+0000') },
      previousState: { value: opts.previous, reason: 'lab probe', timestamp: at.toISOString().replace('Z', '+0000') },
      configuration: { description: `lab probe alarm ${opts.alarmName}` },
    },
  };
}

/** One alarm: N consecutive breaching samples → ALARM; one good sample → OK. */
class AlarmTracker {
  private breaching = 0;
  constructor(
    private readonly name: string,
    private readonly opts: ProbeOptions,
  ) {
    opts.state.alarms.set(name, 'OK');
  }

  sample(breach: boolean, reason: string): void {
    const { state } = this.opts;
    const current = state.alarms.get(this.name) ?? 'OK';
    this.breaching = breach ? this.breaching + 1 : 0;
    const next = this.breaching >= this.opts.failuresToAlarm ? 'ALARM' : breach ? current : 'OK';
    if (next !== current) {
      state.alarms.set(this.name, next);
      state.log(`cloudwatch: ${this.name} ${current} → ${next} (${reason})`);
      this.opts.onEvent(alarmEvent({ alarmName: this.name, value: next, previous: current, reason, region: state.plan.recoveryRegion }));
    }
  }
}

export class Probes {
  private timer?: NodeJS.Timeout;
  private running = false;
  private readonly health: AlarmTracker;
  private readonly database: AlarmTracker;
  private readonly lag: AlarmTracker;

  constructor(private readonly opts: ProbeOptions) {
    const d = opts.state.plan.detection;
    this.health = new AlarmTracker(d.healthAlarms[0]!.name, opts);
    this.database = new AlarmTracker(d.databaseAlarms[0]!.name, opts);
    this.lag = new AlarmTracker(d.replicationLagAlarms[0]!.name, opts);
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs);
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const { state } = this.opts;
      const timeout = Math.min(500, this.opts.intervalMs);
      const [appUp, dbUp] = await Promise.all([httpOk(state.primary.app.port, '/healthz', timeout), dbOk(state.primary.db.port, timeout)]);
      this.health.sample(!appUp, appUp ? 'health check passed' : `3 of 3 health checks of ${state.plan.primaryRegion} failed from ${state.plan.recoveryRegion}`);
      // A database alarm means the database alone: a dead region raises the health alarm instead.
      this.database.sample(appUp && !dbUp, dbUp ? 'writer reachable' : `${state.plan.primaryRegion} writer unreachable`);
      const lag = await this.sampleLag(dbUp);
      const budget = state.plan.rpoBudgetSeconds;
      const lagBreach = dbUp && ((lag.lagSeconds !== null && lag.lagSeconds > budget) || !lag.receiverStreaming) && !this.promoted;
      this.lag.sample(lagBreach, lag.receiverStreaming ? `ReplicaLag ${lag.lagSeconds?.toFixed(1)} s > ${budget} s` : 'replication stopped (no WAL receiver)');
    } finally {
      this.running = false;
    }
  }

  private promoted = false;

  /** Replication lag of the standby: 0 when it has replayed everything the primary wrote. */
  private async sampleLag(primaryUp: boolean) {
    const { state } = this.opts;
    const sample = { at: Date.now(), lagSeconds: null as number | null, receiverStreaming: false };
    try {
      const [row] = await state.recovery.db.query<{ rec: boolean; replay: string | null; age: number | null; status: string | null }>(
        `SELECT pg_is_in_recovery() AS rec, pg_last_wal_replay_lsn()::text AS replay,
                EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 AS age,
                (SELECT status FROM pg_stat_wal_receiver) AS status`,
      );
      if (!row!.rec) {
        this.promoted = true;
      } else {
        sample.receiverStreaming = row!.status === 'streaming';
        if (primaryUp) {
          const [p] = await state.primary.db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn').catch(() => [undefined]);
          if (p) sample.lagSeconds = p.lsn === row!.replay ? 0 : Math.max(0, row!.age ?? 0);
        }
      }
    } catch {
      /* standby unreachable: unknown */
    }
    state.lag.push(sample);
    return sample;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
