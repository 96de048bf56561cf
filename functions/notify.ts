/**
 * Stage 7 — notify: a Slack message for the humans and an EventBridge event on the plan's custom bus
 * for the machines ("Failover Succeeded" / "Failover Failed" / "Failover Not Needed" / "Failover
 * Drill Completed"), both with per-stage timings, fence status and the data-loss estimate. The event
 * carries an idempotency key (execution id + outcome): a retried notification may deliver twice,
 * and consumers dedupe on it.
 *
 * Every notify path (succeeded, no-failover, failed) is the end of a run, so it also releases the
 * run's single-flight lease (functions/core/single-flight.ts) and, when traffic moved, starts the
 * plan's cool-down. The release never fails the notification: the lease expires by itself.
 */
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import type { ResourceStep } from './core/contract';
import { eventbridge } from './core/clients';
import { awsCall, NotificationFailedError } from './core/errors';
import { metrics } from './core/powertools';
import { release, type ReleaseResult } from './core/single-flight';
import { stageHandler, stateParts, type StageContext } from './core/stage';
import { postMessage } from './slack/slack-api';
import { slackBotToken } from './slack/secrets';

const inputSchema = z.object({
  outcome: z.enum(['succeeded', 'failed', 'no-failover']),
  execution: z.object({ id: z.string(), startTime: z.string() }),
  state: stateParts.state,
});
export type NotifyInput = z.infer<typeof inputSchema>;

export const DETAIL_TYPES = {
  succeeded: 'Failover Succeeded',
  failed: 'Failover Failed',
  'no-failover': 'Failover Not Needed',
  drill: 'Failover Drill Completed',
} as const;

export interface StageTiming {
  name: string;
  status: 'succeeded' | 'skipped' | 'drill';
  startedAt: string;
  durationMs: number;
}

function span(name: string, steps: ResourceStep[] | undefined, drill: boolean): StageTiming | undefined {
  if (!steps || steps.length === 0) return undefined;
  const start = Math.min(...steps.map((s) => Date.parse(s.startedAt)));
  const end = Math.max(...steps.map((s) => Date.parse(s.finishedAt ?? s.startedAt)));
  return { name, status: drill ? 'drill' : 'succeeded', startedAt: new Date(start).toISOString(), durationMs: end - start };
}

function timed(name: string, part: { startedAt: string; finishedAt: string } | undefined, drill: boolean): StageTiming | undefined {
  if (!part) return undefined;
  return { name, status: drill ? 'drill' : 'succeeded', startedAt: part.startedAt, durationMs: Date.parse(part.finishedAt) - Date.parse(part.startedAt) };
}

/** Per-stage timings, the data-loss estimate and the headline of one execution (pure). */
export function summarize(input: NotifyInput, now: Date) {
  const { state } = input;
  const drill = state.start?.mode === 'drill';
  const outcome = drill && input.outcome === 'succeeded' ? 'drill' : input.outcome;
  const scale = Array.isArray(state.recovery?.scale) ? state.recovery.scale : undefined;
  const scaleIncomplete = state.recovery?.scale && !Array.isArray(state.recovery.scale) ? state.recovery.scale : undefined;
  const stages = [
    timed('confirm-region-failure', state.detection, drill),
    timed('fence-us-writers', state.fence, drill),
    span('promote-eu-database', state.recovery?.promotion, drill),
    span('scale-eu-compute', scale, drill),
    span('flip-traffic', state.recovery?.traffic, drill),
    timed('smoke-test', state.smoke, drill),
  ].filter((s): s is StageTiming => s !== undefined);
  const promoted = (state.recovery?.promotion ?? []).filter((s) => s.mutated);
  const lags = promoted.map((s) => s.lagSecondsAtPromotion).filter((l): l is number => typeof l === 'number');
  // The replication gap measured when each database was promoted (0 for a caught-up switchover).
  const estimatedDataLossSeconds = lags.length > 0 ? Math.max(...lags) : promoted.length > 0 ? (state.detection?.replicationGapSeconds ?? null) : null;
  const startedAt = state.start?.startedAt ?? input.execution.startTime;
  return {
    outcome,
    detailType: DETAIL_TYPES[outcome],
    executionId: input.execution.id,
    plan: state.plan.name,
    mode: state.start?.mode ?? 'unknown',
    trigger: state.start?.trigger ?? 'unknown',
    requestedBy: state.start?.requestedBy,
    classification: state.detection?.classification,
    reasons: state.detection?.reasons ?? [],
    from: state.plan.primaryRegion,
    to: state.plan.recoveryRegion,
    totalSeconds: Math.round((now.getTime() - Date.parse(startedAt)) / 100) / 10,
    rtoBudgetSeconds: state.plan.rtoBudgetSeconds,
    estimatedDataLossSeconds,
    rpoBudgetSeconds: state.plan.rpoBudgetSeconds,
    capacity: scaleIncomplete ? { complete: false, error: scaleIncomplete.error } : { complete: true },
    fence: state.fence ? { confirmed: state.fence.confirmed, unconfirmed: state.fence.steps.filter((s) => !s.confirmed).map((s) => `${s.resource}: ${s.detail}`) } : undefined,
    approval: state.approval,
    wouldDo: drill
      ? [
          ...(state.fence?.steps ?? []).map((s) => s.wouldDo),
          ...[...(state.recovery?.promotion ?? []), ...(scale ?? []), ...(state.recovery?.traffic ?? [])].map((s) => s.wouldDo),
        ].filter((w): w is string => !!w)
      : undefined,
    error: state.error,
    stages,
    idempotencyKey: `${input.execution.id}:${outcome}`,
  };
}
export type Summary = ReturnType<typeof summarize>;

function slackText(s: Summary): string {
  const icon = { succeeded: ':white_check_mark:', failed: ':rotating_light:', 'no-failover': ':information_source:', drill: ':test_tube:' }[s.outcome];
  const lines = [
    `${icon} *${s.detailType}* — ${s.plan} ${s.from} → ${s.to} (${s.mode}, ${s.trigger}${s.requestedBy ? ` by ${s.requestedBy}` : ''})`,
    s.classification ? `Classification: *${s.classification}*` : undefined,
    `Elapsed ${s.totalSeconds} s of the ${s.rtoBudgetSeconds} s RTO budget`,
    s.estimatedDataLossSeconds !== null ? `Estimated data loss: ${s.estimatedDataLossSeconds} s (RPO budget ${s.rpoBudgetSeconds} s)` : undefined,
    s.fence && !s.fence.confirmed ? `:warning: Fence unconfirmed: ${s.fence.unconfirmed.join('; ')}` : undefined,
    !s.capacity.complete ? `:warning: Reduced capacity: scale-up did not finish (${s.capacity.error?.Error}); the warm standby is serving` : undefined,
    s.error ? `Error: \`${s.error.Error}\` ${(s.error.Cause ?? '').slice(0, 500)}` : undefined,
    s.stages.length ? `Stages: ${s.stages.map((t) => `${t.name} ${(t.durationMs / 1000).toFixed(1)} s`).join(' · ')}` : undefined,
    s.wouldDo?.length ? `Would do:\n${s.wouldDo.map((w) => `• ${w}`).join('\n')}` : undefined,
    s.outcome === 'no-failover' && s.reasons.length ? `Why: ${s.reasons.join('; ')}` : undefined,
    `Execution: ${s.executionId}`,
  ];
  return lines.filter(Boolean).join('\n');
}

/**
 * Whether this run moved traffic to the recovery region (starts the cool-down): a real run that
 * succeeded, or one that failed after a traffic step made its change (e.g. the smoke test failed
 * after the flip). A run that failed before the flip did not: an operator must be able to start
 * the failover again at once.
 */
export function trafficMoved(input: NotifyInput): boolean {
  const { state } = input;
  if (isDrill(input)) return false;
  if (input.outcome === 'succeeded') return true;
  const traffic = state.recovery?.traffic;
  return Array.isArray(traffic) && traffic.some((s) => s.mutated);
}

/** A drill, from the accepted start or, when the run failed before it was accepted, from the request. */
function isDrill(input: NotifyInput): boolean {
  const { state } = input;
  const requested = state.request && typeof state.request === 'object' && 'mode' in state.request ? state.request.mode : undefined;
  return (state.start?.mode ?? requested) === 'drill';
}

export async function notify(input: NotifyInput, ctx: StageContext): Promise<{ detailType: string; slackTs?: string; eventId?: string; lease: ReleaseResult }> {
  const plan = input.state.plan;
  const now = ctx.now();
  const summary = summarize(input, now);
  const text = slackText(summary);

  // Released whatever the outcome (conditional on this run owning it); never rejects.
  const lease = release(plan, input.execution.id, now, { failedOver: trafficMoved(input), drill: isDrill(input) });
  // Both channels are attempted; a failure of one does not silence the other.
  const [slack, event] = await Promise.allSettled([
    slackBotToken(plan.slack.botTokenParameter).then((token) =>
      postMessage(token, { channel: plan.slack.channel, text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: text.slice(0, 2900) } }] }),
    ),
    awsCall('events:PutEvents', () =>
      eventbridge(plan.recoveryRegion).send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: plan.notifications.eventBusName,
              Source: 'failover.orchestrator',
              DetailType: summary.detailType,
              Detail: JSON.stringify(summary),
              Resources: [input.execution.id],
            },
          ],
        }),
      ),
    ),
  ]);
  const released = await lease;
  if (event.status === 'fulfilled' && (event.value.FailedEntryCount ?? 0) > 0) {
    throw new NotificationFailedError(`EventBridge refused the ${summary.detailType} event: ${event.value.Entries?.[0]?.ErrorCode} ${event.value.Entries?.[0]?.ErrorMessage}`);
  }
  if (event.status === 'rejected') throw event.reason;
  if (slack.status === 'rejected') throw slack.reason;

  metrics.addMetric(`Outcome_${summary.outcome}`, MetricUnit.Count, 1);
  if (summary.outcome === 'succeeded') metrics.addMetric('FailoverDuration', MetricUnit.Seconds, summary.totalSeconds);
  if (typeof summary.estimatedDataLossSeconds === 'number') metrics.addMetric('EstimatedDataLossSeconds', MetricUnit.Seconds, summary.estimatedDataLossSeconds);
  return { detailType: summary.detailType, slackTs: slack.value.ts, eventId: event.value.Entries?.[0]?.EventId, lease: released };
}

export const handler = stageHandler('notify', inputSchema, notify);
