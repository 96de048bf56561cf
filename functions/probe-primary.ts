/**
 * The scheduled probe of the primary region, run FROM the recovery region (EventBridge Scheduler,
 * `plan.detection.probeSchedule`, with the plan as input). It probes every plan probe and publishes
 * one `ProbeSuccess` datapoint per probe and round (1 = answered as expected, 0 = anything else,
 * including an endpoint that accepts and never answers: each probe ends at its own `timeoutMs`).
 * The health and database alarms the stack creates (functions/core/detection.ts) watch that metric
 * in the recovery region, so detection keeps working when the primary region, its CloudWatch and
 * Route 53's health-check metrics (us-east-1) are gone.
 *
 * One invocation covers one schedule interval: `rounds` rounds `sampleSeconds` apart, so that an
 * alarm with a 10 s period gets a datapoint every 10 s although the Scheduler fires at most once a
 * minute. Round k is stamped with the schedule's own slot (`scheduledTime` + k × sampleSeconds) so
 * each alarm period holds a datapoint even when the Scheduler delivers a few seconds late.
 *
 * Each probe is tried once per round (not `probeAttempts` times): the alarms' M-of-N already
 * smooths a single failed sample, and the confirm stage re-probes with `probeAttempts` before
 * anything moves. A failing PutMetricData is a named error (TransientAwsError / ResourceStateError):
 * the remaining rounds still run, then the invocation fails, which the StageFailures alarm reports.
 */
import { PutMetricDataCommand, StandardUnit } from '@aws-sdk/client-cloudwatch';
import { z } from 'zod';
import { cloudwatch } from './core/clients';
import { PROBE_METRIC, probeDimensions, probeSampling } from './core/detection';
import { awsCall } from './core/errors';
import { httpCheck } from './core/http-check';
import type { Plan } from './core/plan';
import { logger } from './core/powertools';
import { stageHandler, stateParts, type StageContext } from './core/stage';

const inputSchema = z.object({
  plan: stateParts.plan,
  /**
   * EventBridge Scheduler's `<aws.scheduler.scheduled-time>` context attribute
   * (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html).
   * Optional: a manual invocation stamps its rounds from the time it runs.
   */
  scheduledTime: z.string().optional(),
});
export type ProbePrimaryInput = z.infer<typeof inputSchema>;

export interface ProbeSample {
  probe: string;
  healthy: boolean;
  status?: number;
  detail: string;
}

export interface ProbeRound {
  /** The datapoints' timestamp (the round's slot). */
  at: string;
  samples: ProbeSample[];
  published: boolean;
}

export interface ProbePrimaryResult {
  plan: string;
  region: string;
  rounds: ProbeRound[];
}

/** One probe, one attempt, bounded by the probe's own timeout (a hanging endpoint is a failed sample). */
async function sample(p: Plan['detection']['probes'][number]): Promise<ProbeSample> {
  const r = await httpCheck({ url: p.url, expectStatus: p.expectStatus, timeoutMs: p.timeoutMs });
  return { probe: p.name, healthy: r.ok, ...(r.status !== undefined ? { status: r.status } : {}), detail: r.detail };
}

/** One datapoint per probe, high-resolution for probes whose alarms have a 10 / 30 s period. */
async function publish(plan: Plan, samples: ProbeSample[], at: Date, highResolution: Set<string>): Promise<void> {
  if (samples.length === 0) return;
  const namespace = plan.detection.metricNamespace;
  await awsCall(`cloudwatch:PutMetricData ${namespace} ${plan.recoveryRegion}`, () =>
    cloudwatch(plan.recoveryRegion).send(
      new PutMetricDataCommand({
        Namespace: namespace,
        MetricData: samples.map((s) => ({
          MetricName: PROBE_METRIC,
          Dimensions: Object.entries(probeDimensions(plan, s.probe)).map(([Name, Value]) => ({ Name, Value })),
          Timestamp: at,
          Value: s.healthy ? 1 : 0,
          Unit: StandardUnit.Count,
          StorageResolution: highResolution.has(s.probe) ? 1 : 60,
        })),
      }),
    ),
  );
}

/**
 * Where round 0 stands: the scheduled slot when the Scheduler delivered within one sample period of
 * it, otherwise now (a late or manual invocation must not stamp datapoints into periods it did not see).
 */
function firstSlot(scheduledTime: string | undefined, now: Date, sampleMs: number): number {
  const scheduled = scheduledTime ? Date.parse(scheduledTime) : Number.NaN;
  const lateBy = now.getTime() - scheduled;
  return Number.isFinite(scheduled) && lateBy >= 0 && lateBy < sampleMs ? scheduled : now.getTime();
}

export async function probePrimary(input: ProbePrimaryInput, ctx: StageContext): Promise<ProbePrimaryResult> {
  const { plan } = input;
  const sampling = probeSampling(plan);
  const sampleMs = sampling.sampleSeconds * 1000;
  const highResolution = new Set(sampling.highResolutionProbes);
  const base = firstSlot(input.scheduledTime, ctx.now(), sampleMs);
  const rounds: ProbeRound[] = [];
  const failures: unknown[] = [];

  for (let k = 0; k < sampling.rounds; k++) {
    const slot = base + k * sampleMs;
    const wait = slot - ctx.now().getTime();
    if (wait > 0) await ctx.sleep(wait);
    const samples = await Promise.all(plan.detection.probes.map(sample));
    const at = new Date(slot);
    let published = true;
    try {
      await publish(plan, samples, at, highResolution);
    } catch (error) {
      published = false;
      failures.push(error);
      logger.error('probe datapoints not published', { round: k, at: at.toISOString(), error: error instanceof Error ? { name: error.name, message: error.message } : error });
    }
    const down = samples.filter((s) => !s.healthy);
    if (down.length > 0) logger.warn('primary probes failing', { round: k, at: at.toISOString(), down: down.map((s) => ({ probe: s.probe, detail: s.detail })) });
    rounds.push({ at: at.toISOString(), samples, published });
  }

  if (failures.length > 0) {
    // Every round ran; the first publishing error (already named) tells Lambda and the StageFailures alarm.
    throw failures[0];
  }
  return { plan: plan.name, region: plan.recoveryRegion, rounds };
}

export const handler = stageHandler('probe-primary', inputSchema, probePrimary);
