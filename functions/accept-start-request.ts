/**
 * Stage 0 — accept the start request.
 *
 * The failover state machine is started four ways: a CloudWatch alarm through an EventBridge rule,
 * by hand (console / CLI), by the monthly drill schedule, and (resumed) by Slack. This stage turns
 * the raw execution input into one `StartResult`, fails fast with `InvalidInput` naming what was
 * wrong, and detects duplicate starts (at-least-once delivery) so only one execution acts.
 */
import { z } from 'zod';
import { alarmEventSchema, manualStartSchema, type StartResult } from './core/contract';
import { ownRegion } from './core/clients';
import { InvalidInputError } from './core/errors';
import { alarmNames, formatIssues, type Plan } from './core/plan';
import { findOwner } from './core/single-flight';
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
    return { trigger: 'alarm', mode: 'failover', alarmName, alarmKind, reason: state.reason ?? `${alarmName} in ALARM`, requestedBy: `alarm:${alarmName}` };
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

export async function acceptStartRequest(input: AcceptStartInput, ctx: StageContext): Promise<StartResult> {
  const interpreted = interpretRequest(input.request, input.plan);
  const key = incidentKey(interpreted);
  const sameIncident = (other: unknown): boolean => {
    try {
      return incidentKey(interpretRequest(other, input.plan)) === key;
    } catch {
      return false; // an input that was never valid owns nothing
    }
  };
  const duplicateOf = await findOwner(
    ownRegion(),
    { executionArn: input.execution.id, stateMachineArn: input.execution.stateMachineId, startTime: input.execution.startTime, isDrill: interpreted.mode === 'drill' },
    sameIncident,
  );
  return {
    ...interpreted,
    executionId: input.execution.id,
    startedAt: ctx.now().toISOString(),
    ...(duplicateOf ? { duplicateOf } : {}),
  };
}

export const handler = stageHandler('accept-start-request', inputSchema, acceptStartRequest);
