/**
 * Stage 1 — detect: confirm the failure from the recovery region and decide what to do.
 *
 * An alarm is a claim, not a confirmation. This stage looks from the recovery region (probes of the
 * primary's health endpoints, the recovery region's alarms, each database's replication status and
 * gap, where traffic points) and classifies: region-outage | database-failure | partition |
 * lag-only | planned | healthy | already-failed-over. Then it applies the plan's policy: fail over,
 * ask a human first, or only notify. A partition never fails over without a human; a replication
 * gap above the RPO budget blocks automatic failover.
 */
import { z } from 'zod';
import { databaseKind, trafficKind } from './adapters';
import { alarmStates } from './adapters/cloudwatch';
import type { DetectionResult, ProbeResult, ReplicationObservation, StartResult } from './core/contract';
import { SwitchoverUnsafeError } from './core/errors';
import { httpCheck } from './core/http-check';
import { alarmNames, type Classification, type Plan } from './core/plan';
import { logger } from './core/powertools';
import { stageHandler, stateParts, type StageContext } from './core/stage';

const inputSchema = z.object({ plan: stateParts.plan, start: stateParts.start });
export type ConfirmInput = z.infer<typeof inputSchema>;

const PROBE_RETRY_DELAY_MS = 1000;

async function probe(p: Plan['detection']['probes'][number], attempts: number, ctx: StageContext): Promise<ProbeResult> {
  let last = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const r = await httpCheck({ url: p.url, expectStatus: p.expectStatus, timeoutMs: p.timeoutMs });
    if (r.ok) return { name: p.name, url: p.url, healthy: true, status: r.status, attempts: attempt };
    last = r.detail;
    if (attempt < attempts) await ctx.sleep(PROBE_RETRY_DELAY_MS);
  }
  return { name: p.name, url: p.url, healthy: false, error: last, attempts };
}

/** Route 53's control plane lives in us-east-1: when it cannot answer, say "unknown" rather than fail detection. */
async function trafficOnRecovery(plan: Plan, reasons: string[]): Promise<boolean> {
  try {
    const each = await Promise.all(plan.traffic.map((t) => trafficKind(t).pointsAtRecovery(t)));
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
export function classify(plan: Plan, start: StartResult, ev: Evidence, reasons: string[]): Omit<DetectionResult, 'evidence' | 'startedAt' | 'finishedAt'> {
  const inAlarm = (names: string[]) => ev.alarms.filter((a) => names.includes(a.name) && a.state === 'ALARM').map((a) => a.name);
  const lags = ev.replication.map((r) => r.lagSeconds).filter((l): l is number => typeof l === 'number');
  const gap = lags.length > 0 ? Math.max(...lags) : null;
  const unknownLag = ev.replication.some((r) => r.status !== 'promoted' && r.lagSeconds === undefined);
  const rpoAtRisk = unknownLag || (gap !== null && gap > plan.rpoBudgetSeconds);
  const allPromoted = ev.replication.every((r) => r.status === 'promoted');
  const broken = ev.replication.filter((r) => r.status === 'broken' || r.status === 'unknown');
  const probesDown = ev.probes.length > 0 && ev.probes.every((p) => !p.healthy);
  const names = alarmNames(plan);
  const healthAlarms = inAlarm(names.health);
  const dbAlarms = inAlarm(names.database);
  const lagAlarms = inAlarm(names.replicationLag);

  if (gap !== null) reasons.push(`largest replication gap ${gap.toFixed(1)} s (RPO budget ${plan.rpoBudgetSeconds} s)`);
  if (unknownLag) reasons.push('replication gap unknown for at least one database');
  if (healthAlarms.length) reasons.push(`health alarms in ALARM: ${healthAlarms.join(', ')}`);
  if (dbAlarms.length) reasons.push(`database alarms in ALARM: ${dbAlarms.join(', ')}`);
  if (lagAlarms.length) reasons.push(`replication-lag alarms in ALARM: ${lagAlarms.join(', ')}`);
  for (const p of ev.probes) reasons.push(`probe ${p.name}: ${p.healthy ? `healthy (HTTP ${p.status})` : `down after ${p.attempts} attempts (${p.error})`}`);
  for (const b of broken) reasons.push(`replication of ${b.database}: ${b.status} (${b.detail})`);

  let classification: Classification;
  if (allPromoted && ev.trafficOnRecovery) classification = 'already-failed-over';
  else if (start.mode === 'switchover') classification = 'planned';
  // A database alarm outranks failing probes: health endpoints that check the database fail with it, and a
  // database failure is handled in its region first (Multi-AZ / Aurora replica) before anything crosses regions.
  else if (dbAlarms.length > 0 || start.alarmKind === 'database') classification = 'database-failure';
  else if (probesDown || (ev.probes.length === 0 && healthAlarms.length > 0)) classification = 'region-outage';
  else if (broken.length > 0) classification = 'partition';
  else if (lagAlarms.length > 0 || start.alarmKind === 'replication-lag' || (gap !== null && gap > plan.rpoBudgetSeconds)) classification = 'lag-only';
  else classification = 'healthy';

  const manualApproved = start.trigger === 'manual' && plan.approval.manualStartIsApproval;
  const base = { classification, rpoAtRisk, replicationGapSeconds: gap, reasons };

  if (classification === 'already-failed-over') {
    reasons.push(`every database is promoted and traffic points at ${plan.recoveryRegion}: nothing to do`);
    return { ...base, action: 'notify-only', approvalRequired: false, onApprovalTimeout: 'abort' };
  }
  if (start.mode === 'drill') {
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
  const approvalRequired = manualApproved ? false : !(automatic && !rpoAtRisk);
  const onApprovalTimeout = classification === 'partition' ? 'abort' : plan.approval.onTimeout;
  return { ...base, action: 'failover', approvalRequired, onApprovalTimeout };
}

export async function confirmRegionFailure(input: ConfirmInput, ctx: StageContext): Promise<DetectionResult> {
  const { plan, start } = input;
  const startedAt = ctx.now();
  const reasons: string[] = [];
  const allAlarms = alarmNames(plan).all;
  const [probes, alarms, replication, onRecovery] = await Promise.all([
    Promise.all(plan.detection.probes.map((p) => probe(p, plan.detection.probeAttempts, ctx))),
    alarmStates(plan.recoveryRegion, allAlarms),
    Promise.all(plan.databases.map((db) => databaseKind(db).replication(db, plan, startedAt))),
    trafficOnRecovery(plan, reasons),
  ]);
  const evidence: Evidence = { probes, alarms, replication, trafficOnRecovery: onRecovery };
  const decision = classify(plan, start, evidence, reasons);
  logger.info('detection', { classification: decision.classification, action: decision.action, approvalRequired: decision.approvalRequired });
  return { ...decision, evidence, startedAt: startedAt.toISOString(), finishedAt: ctx.now().toISOString() };
}

export const handler = stageHandler('confirm-region-failure', inputSchema, confirmRegionFailure);
