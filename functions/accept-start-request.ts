/**
 * Stage 0 — accept the start request.
 *
 * The failover state machine is started four ways: a CloudWatch alarm through an EventBridge rule,
 * by hand (console / CLI), by the monthly drill schedule, and (resumed) by Slack. This stage turns
 * the raw execution input into one `StartResult`, fails fast with `InvalidInput` naming what was
 * wrong, and takes the plan's single-flight lease (functions/core/single-flight.ts): a duplicate start
 * (EventBridge delivers at least once; one incident raises several alarms) ends as `duplicateOf`
 * the run that owns the failover, and a manual start during the post-failover cool-down fails fast
 * with `CooldownActive`.
 */
import { z } from 'zod';
import { alarmEventSchema, faultTimeOf, manualStartSchema, type StartResult } from './core/contract';
import { InvalidInputError } from './core/errors';
import { alarmNames, formatIssues, type Plan } from './core/plan';
import { logger } from './core/powertools';
import { acquire } from './core/single-flight';
import { stageHandler, stateParts, type StageContext } from './core/stage';

const inputSchema = z.object({
  request: z.unknown(),
  plan: stateParts.plan,
  execution: z.object({ id: z.string().min(1), startTime: z.string().min(1), stateMachineId: z.string().min(1) }),
});
export type AcceptStartInput = z.infer<typeof inputSchema>;

/** Reads the execution input (alarm event, manual start or schedule) into a StartResult. */
export function interpretRequest(request: unknown, plan: Plan): Omit<StartResult, 'executionId' | 'startedAt'> {
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    throw new InvalidInputError(`request: must be a JSON object like {"mode":"failover","reason":"…","requestedBy":"…"}, got ${JSON.stringify(request)}`);
  }
  const r = request as Record<string, unknown>;
  if (r.source === 'aws.cloudwatch') {
    const parsed = alarmEventSchema.safeParse(request);
    if (!parsed.success) throw new InvalidInputError(`request is not a CloudWatch Alarm State Change event: ${formatIssues(parsed.error, 'request')}`);
    const { alarmName, state } = parsed.data.detail;
    const names = alarmNames(plan);
    const alarmKind = names.health.includes(alarmName)
      ? 'health'
      : names.replicationLag.includes(alarmName)
        ? 'replication-lag'
        : names.database.includes(alarmName)
          ? 'database'
          : undefined;
    if (!alarmKind) throw new InvalidInputError(`request.detail.alarmName: ${alarmName} is not an alarm of plan ${plan.name}`);
    if (state.value !== 'ALARM') throw new InvalidInputError(`request.detail.state.value: ${state.value}, only ALARM starts a failover`);
    // The gap that an unplanned failover loses is read at the first failing signal, not at detection.
    const planAlarm = [...plan.detection.healthAlarms, ...plan.detection.databaseAlarms, ...plan.detection.replicationLagAlarms].find((a) => a.name === alarmName);
    const faultAt = faultTimeOf(parsed.data, planAlarm);
    return { trigger: 'alarm', mode: 'failover', alarmName, alarmKind, reason: state.reason ?? `${alarmName} in ALARM`, requestedBy: `alarm:${alarmName}`, faultAt };
  }
  const parsed = manualStartSchema.safeParse(request);
  if (!parsed.success) throw new InvalidInputError(`manual start input is invalid: ${formatIssues(parsed.error, 'request')}`);
  const { mode, reason, requestedBy, origin } = parsed.data;
  return { trigger: origin === 'schedule' ? 'schedule' : 'manual', mode, reason, requestedBy };
}

/**
 * Which incident a start request belongs to: alarms of the same family (a failing primary: health or
 * database alarms; replication: lag alarms) are one incident; a manual start is its own request.
 */
export function incidentKey(request: Omit<StartResult, 'executionId' | 'startedAt'>): string {
  if (request.trigger === 'alarm') return request.alarmKind === 'replication-lag' ? 'alarm:replication' : 'alarm:primary-unhealthy';
  return `${request.trigger}:${request.mode}:${request.requestedBy}:${request.reason}`;
}

/**
 * How serious an incident is, for the single-flight lease: a run deciding on a less serious incident
 * is taken over by a more (or equally) serious one, never the other way round. A replication-lag
 * alarm ranks lowest: it may be a partition or lag alone, and a real outage raises it too (RDS
 * `ReplicaLag` grows with the clock once the primary is gone), so it must never displace a run for
 * a failing primary or an operator's request.
 */
export function incidentPrecedence(request: Omit<StartResult, 'executionId' | 'startedAt'>): number {
  return request.trigger === 'alarm' && request.alarmKind === 'replication-lag' ? 0 : 1;
}

/** The start result, with why single flight ended this run as a duplicate (or whose lease it took over). */
export type AcceptedStart = StartResult & { duplicateReason?: string; tookOverFrom?: string };

export async function acceptStartRequest(input: AcceptStartInput, ctx: StageContext): Promise<AcceptedStart> {
  const interpreted = interpretRequest(input.request, input.plan);
  const now = ctx.now();
  const lease = await acquire(
    input.plan,
    { executionId: input.execution.id, incidentKey: incidentKey(interpreted), precedence: incidentPrecedence(interpreted), trigger: interpreted.trigger, mode: interpreted.mode },
    now,
  );
  if (!lease.acquired) logger.info('duplicate start: another run owns the failover', { duplicateOf: lease.duplicateOf, reason: lease.reason });
  return {
    ...interpreted,
    executionId: input.execution.id,
    startedAt: now.toISOString(),
    ...(lease.acquired ? (lease.tookOverFrom ? { tookOverFrom: lease.tookOverFrom } : {}) : { duplicateOf: lease.duplicateOf, duplicateReason: lease.reason }),
  };
}

export const handler = stageHandler('accept-start-request', inputSchema, acceptStartRequest);
