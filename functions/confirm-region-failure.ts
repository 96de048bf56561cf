/**
 * Stage 1 — detect: confirm the failure from the recovery region and decide what to do.
 *
 * An alarm is a claim, not a confirmation. This stage looks from the recovery region (probes of the
 * primary's health endpoints, the recovery region's alarms, each database's replication status and
 * gap, where traffic points) and classifies: region-outage | database-failure | partition |
 * lag-only | planned | healthy | already-failed-over. Then it applies the plan's policy: fail over,
 * ask a human first, or only notify. A partition never fails over without a human; a replication
 * gap above the RPO budget blocks automatic failover.
 *
 * The replication gap is read AT THE FAULT (the first failing signal, `start.faultAt`, else the
 * execution start): RDS PostgreSQL's ReplicaLag grows with the clock once the primary is gone, so
 * the gap at detection would overstate the data lost. Where no valid datapoint exists the gap is
 * said to be unknown, database by database. A drill is a readiness check: a plan alarm that is
 * MISSING or INSUFFICIENT_DATA, or a replica without backups, ends it with `DrillNotReady`.
 */
import { z } from 'zod';
import { databaseKind, trafficKind } from './adapters';
import { alarmStates } from './adapters/cloudwatch';
import type { DetectionResult, ProbeResult, ReplicationObservation, StartResult } from './core/contract';
import { DrillNotReadyError, SwitchoverUnsafeError } from './core/errors';
import { httpCheck } from './core/http-check';
import { alarmNames, type Classification, type Plan } from './core/plan';
import { logger } from './core/powertools';
import { stageHandler, stateParts, type StageContext } from './core/stage';

const inputSchema = z.object({ plan: stateParts.plan, start: stateParts.start });
export type ConfirmInput = z.infer<typeof inputSchema>;

const PROBE_RETRY_DELAY_MS = 1000;

/** Whether another probe attempt (its timeout plus the pause before it) still ends before the stage deadline. */
const fitsBeforeDeadline = (ctx: StageContext, ms: number): boolean => ctx.deadlineAt === undefined || Date.now() + ms <= ctx.deadlineAt;

/**
 * Probes one primary-region endpoint up to `attempts` times, 1 s apart. Keeps the last HTTP status
 * even when unhealthy: "the region answers HTTP" is evidence for the classification. Retries stop
 * when the next one would end after the stage deadline (the first attempt always runs).
 */
async function probe(p: Plan['detection']['probes'][number], attempts: number, ctx: StageContext): Promise<ProbeResult> {
  let last = '';
  let status: number | undefined;
  let tried = 0;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1 && !fitsBeforeDeadline(ctx, PROBE_RETRY_DELAY_MS + p.timeoutMs)) {
      last += ` (${attempts - tried} more attempts not made: stage deadline)`;
      break;
    }
    if (attempt > 1) await ctx.sleep(PROBE_RETRY_DELAY_MS);
    const r = await httpCheck({ url: p.url, expectStatus: p.expectStatus, timeoutMs: p.timeoutMs });
    tried = attempt;
    if (r.ok) return { name: p.name, url: p.url, healthy: true, status: r.status, attempts: attempt };
    last = r.detail;
    status = r.status ?? status;
  }
  return { name: p.name, url: p.url, healthy: false, ...(status !== undefined ? { status } : {}), error: last, attempts: tried };
}

/** When the primary was first seen failing: the start's fault time (an alarm's first failing period), else the execution start. */
export function faultTime(start: StartResult): { at: Date; source: string } {
  const started = new Date(start.startedAt);
  const fault = start.faultAt ? new Date(start.faultAt) : undefined;
  if (fault && Number.isFinite(fault.getTime()) && fault.getTime() <= started.getTime()) {
    return { at: fault, source: `first failing signal${start.alarmName ? ` of ${start.alarmName}` : ''}` };
  }
  return { at: started, source: 'execution start (no earlier failing signal known)' };
}

/** What makes the plan not ready to fail over: alarms that could not start it, replicas that should not be promoted yet. */
export function readiness(ev: Pick<Evidence, 'alarms' | 'replication'>): { alarms: string[]; databases: string[] } {
  const alarms = ev.alarms
    .filter((a) => a.state === 'MISSING' || a.state === 'INSUFFICIENT_DATA')
    .map((a) =>
      a.state === 'MISSING'
        ? `alarm ${a.name} is MISSING: nothing would detect this failure or start a failover`
        : `alarm ${a.name} is INSUFFICIENT_DATA: its metric is not being published, so it cannot fire`,
    );
  const databases = ev.replication.filter((r) => r.status !== 'promoted').flatMap((r) => (r.notReady ?? []).map((why) => `${r.database}: ${why}`));
  return { alarms, databases };
}

/** One line per database, known or not: the gap at the fault, or "unknown" and why. */
function gapLine(r: ReplicationObservation): string {
  const why = (r.lagDetail ?? '').replace(/^unknown: /, '');
  return r.lagSeconds !== undefined
    ? `replication gap of ${r.database} at the fault: ${r.lagSeconds.toFixed(1)} s${why ? ` (${why})` : ''}`
    : `replication gap of ${r.database} at the fault: unknown${why ? ` (${why})` : ''}`;
}

/** Where traffic points (Route 53's control plane lives in us-east-1; ARC's data plane may not answer): when unreadable, say so rather than fail detection. */
async function trafficOnRecovery(plan: Plan, reasons: string[]): Promise<boolean> {
  try {
    const each = await Promise.all(plan.traffic.map((t) => trafficKind(t).pointsAtRecovery(t, plan)));
    return each.every(Boolean);
  } catch (error) {
    reasons.push(`could not read DNS records (Route 53 control plane): ${error instanceof Error ? error.message : String(error)}`);
    return false;
  }
}

export interface Evidence {
  probes: ProbeResult[];
  alarms: Array<{ name: string; state: string }>;
  replication: ReplicationObservation[];
  trafficOnRecovery: boolean;
}

/** The decision, as a pure function of the evidence (unit-tested case by case). */
export function classify(plan: Plan, start: StartResult, ev: Evidence, reasons: string[]): Omit<DetectionResult, 'evidence' | 'startedAt' | 'finishedAt' | 'faultAt'> {
  const inAlarm = (names: string[]) => ev.alarms.filter((a) => names.includes(a.name) && a.state === 'ALARM').map((a) => a.name);
  const lags = ev.replication.map((r) => r.lagSeconds).filter((l): l is number => typeof l === 'number');
  const gap = lags.length > 0 ? Math.max(...lags) : null;
  const unknownLag = ev.replication.some((r) => r.status !== 'promoted' && r.lagSeconds === undefined);
  const rpoAtRisk = unknownLag || (gap !== null && gap > plan.rpoBudgetSeconds);
  const allPromoted = ev.replication.every((r) => r.status === 'promoted');
  const broken = ev.replication.filter((r) => r.status === 'broken' || r.status === 'unknown');
  const probesDown = ev.probes.length > 0 && ev.probes.every((p) => !p.healthy);
  // Some probe got an HTTP answer (even a 503): the primary region is up, whatever failed behind it.
  const regionAnswers = ev.probes.some((p) => p.status !== undefined);
  const names = alarmNames(plan);
  const healthAlarms = inAlarm(names.health);
  const dbAlarms = inAlarm(names.database);
  const lagAlarms = inAlarm(names.replicationLag);

  for (const r of ev.replication) if (r.status !== 'promoted') reasons.push(gapLine(r));
  if (gap !== null) reasons.push(`largest replication gap ${gap.toFixed(1)} s (RPO budget ${plan.rpoBudgetSeconds} s)`);
  if (unknownLag) reasons.push('replication gap unknown for at least one database');
  const ready = readiness(ev);
  const notReady = [...ready.alarms, ...ready.databases];
  for (const why of notReady) reasons.push(`NOT READY: ${why}`);
  if (healthAlarms.length) reasons.push(`health alarms in ALARM: ${healthAlarms.join(', ')}`);
  if (dbAlarms.length) reasons.push(`database alarms in ALARM: ${dbAlarms.join(', ')}`);
  if (lagAlarms.length) reasons.push(`replication-lag alarms in ALARM: ${lagAlarms.join(', ')}`);
  for (const p of ev.probes) reasons.push(`probe ${p.name}: ${p.healthy ? `healthy (HTTP ${p.status})` : `down after ${p.attempts} attempts (${p.error})`}`);
  for (const b of broken) reasons.push(`replication of ${b.database}: ${b.status} (${b.detail})`);

  let classification: Classification;
  if (allPromoted && ev.trafficOnRecovery) classification = 'already-failed-over';
  else if (start.mode === 'switchover') classification = 'planned';
  // A database alarm outranks failing probes only while the primary region still answers HTTP: health endpoints
  // that check the database fail with it, and a database failure is handled in its region first (Multi-AZ /
  // Aurora replica). The database alarm is itself a probe of a health endpoint in the primary region, so it
  // also fires when the whole region is down: when nothing answers, that is a region outage.
  else if ((dbAlarms.length > 0 || start.alarmKind === 'database') && (regionAnswers || ev.probes.length === 0)) classification = 'database-failure';
  else if (probesDown || (ev.probes.length === 0 && healthAlarms.length > 0)) classification = 'region-outage';
  else if (broken.length > 0) classification = 'partition';
  else if (lagAlarms.length > 0 || start.alarmKind === 'replication-lag' || (gap !== null && gap > plan.rpoBudgetSeconds)) classification = 'lag-only';
  else classification = 'healthy';

  if ((dbAlarms.length > 0 || start.alarmKind === 'database') && classification === 'region-outage') {
    reasons.push(`database alarm fired, but no probe of ${plan.primaryRegion} got an HTTP answer: the whole region is down, not only its database`);
  }

  const manualApproved = start.trigger === 'manual' && plan.approval.manualStartIsApproval;
  const base = { classification, rpoAtRisk, replicationGapSeconds: gap, reasons, notReady };

  if (classification === 'already-failed-over') {
    reasons.push(`every database is promoted and traffic points at ${plan.recoveryRegion}: nothing to do`);
    return { ...base, action: 'notify-only', approvalRequired: false, onApprovalTimeout: 'abort' };
  }
  if (start.mode === 'drill') {
    // A drill is a readiness check: it must never report success on a plan that could not fail over.
    if (notReady.length > 0) throw new DrillNotReadyError(`drill found ${notReady.length} reason(s) the plan is NOT READY to fail over: ${notReady.join('; ')}`);
    return { ...base, action: 'drill', approvalRequired: false, onApprovalTimeout: 'abort' };
  }
  if (start.mode === 'switchover') {
    if (broken.length > 0) {
      throw new SwitchoverUnsafeError(`planned switchover needs healthy replication to lose nothing: ${broken.map((b) => `${b.database} ${b.status}`).join(', ')}`);
    }
    return { ...base, action: 'switchover', approvalRequired: !manualApproved, onApprovalTimeout: 'abort' };
  }
  // Alarm-started runs only fail over on a confirmed failure; a manual failover is the operator's call.
  if (start.trigger !== 'manual' && (classification === 'lag-only' || classification === 'healthy')) {
    if (classification === 'healthy') reasons.push(`alarm not confirmed from ${plan.recoveryRegion}: no failover`);
    else reasons.push('replication lag alone never fails over: RPO marked at risk, automatic failover blocked while it lasts');
    return { ...base, rpoAtRisk: classification === 'lag-only' ? true : rpoAtRisk, action: 'notify-only', approvalRequired: false, onApprovalTimeout: 'abort' };
  }
  const automatic = (plan.approval.automatic as string[]).includes(classification) && start.trigger === 'alarm';
  if (automatic && rpoAtRisk) reasons.push('automatic failover blocked: replication gap above the RPO budget (or unknown); a human must accept the data loss');
  const unready = ready.databases.length > 0;
  if (automatic && unready) reasons.push(`automatic failover blocked: a database is not ready to be promoted (${ready.databases.join('; ')}); a human must accept it`);
  const approvalRequired = manualApproved ? false : !(automatic && !rpoAtRisk && !unready);
  const onApprovalTimeout = classification === 'partition' ? 'abort' : plan.approval.onTimeout;
  return { ...base, action: 'failover', approvalRequired, onApprovalTimeout };
}

export async function confirmRegionFailure(input: ConfirmInput, ctx: StageContext): Promise<DetectionResult> {
  const { plan, start } = input;
  const startedAt = ctx.now();
  const fault = faultTime(start);
  const reasons: string[] = [`replication gaps read at ${fault.at.toISOString()} (${fault.source})`];
  const allAlarms = alarmNames(plan).all;
  const [probes, alarms, replication, onRecovery] = await Promise.all([
    Promise.all(plan.detection.probes.map((p) => probe(p, plan.detection.probeAttempts, ctx))),
    alarmStates(plan.recoveryRegion, allAlarms),
    Promise.all(plan.databases.map((db) => databaseKind(db).replication(db, plan, startedAt, { faultAt: fault.at }))),
    trafficOnRecovery(plan, reasons),
  ]);
  const evidence: Evidence = { probes, alarms, replication, trafficOnRecovery: onRecovery };
  const decision = classify(plan, start, evidence, reasons);
  logger.info('detection', {
    classification: decision.classification,
    action: decision.action,
    approvalRequired: decision.approvalRequired,
    notReady: decision.notReady?.length ?? 0,
  });
  return { ...decision, faultAt: fault.at.toISOString(), evidence, startedAt: startedAt.toISOString(), finishedAt: ctx.now().toISOString() };
}

export const handler = stageHandler('confirm-region-failure', inputSchema, confirmRegionFailure);
