/**
 * The shapes that travel through the failover state machine.
 *
 * The execution input is one of: a CloudWatch "Alarm State Change" event delivered by an
 * EventBridge rule, a manual start (console / CLI), or the monthly drill schedule's input. The
 * first state (`LoadPlan`) wraps it as `{ request, plan }`; each stage adds its result under its own
 * key (`start`, `detection`, `approval`, `fence`, `recovery`, `traffic`, `smoke`), so the execution
 * history holds the whole story and every handler is a function of its input.
 */
import { z } from 'zod';
import { CLASSIFICATIONS, planSchema, type Plan } from './plan';

export const MODES = ['failover', 'switchover', 'drill'] as const;
export type Mode = (typeof MODES)[number];

/** What an operator types: `{"mode":"failover|switchover|drill","reason":"…","requestedBy":"…"}`. */
export const manualStartSchema = z
  .object({
    mode: z.enum(MODES),
    reason: z.string().trim().min(3, 'must say why (at least 3 characters)').max(500),
    requestedBy: z.string().trim().min(1, 'must name who asked').max(200),
    origin: z.enum(['console', 'cli', 'schedule']).default('console'),
  })
  .strict();
export type ManualStart = z.infer<typeof manualStartSchema>;

/** The parts of a CloudWatch "Alarm State Change" event the orchestrator reads. */
export const alarmEventSchema = z.object({
  version: z.string(),
  id: z.string(),
  'detail-type': z.literal('CloudWatch Alarm State Change'),
  source: z.literal('aws.cloudwatch'),
  account: z.string(),
  time: z.string(),
  region: z.string(),
  resources: z.array(z.string()),
  detail: z.object({
    alarmName: z.string(),
    state: z.object({
      value: z.string(),
      reason: z.string().optional(),
      /** JSON text: `startDate` (start of the evaluated window), `evaluatedDatapoints[].timestamp`, `period`. */
      reasonData: z.string().optional(),
      timestamp: z.string(),
    }),
    previousState: z.object({ value: z.string() }).partial().optional(),
  }),
});
export type AlarmEvent = z.infer<typeof alarmEventSchema>;

/** CloudWatch writes `2026-11-03T03:02:11.110+0000` (no colon in the offset); epoch ms, or NaN. */
function cloudWatchTime(text: unknown): number {
  return typeof text === 'string' ? Date.parse(text.replace(/([+-]\d{2})(\d{2})$/, '$1:$2')) : Number.NaN;
}

/**
 * When the primary was first seen failing, from an alarm event: the data lost in an unplanned
 * failover is the replication lag at this moment, not at detection (RDS PostgreSQL's `ReplicaLag`
 * is `now() - pg_last_xact_replay_timestamp()` and grows with the clock once the primary is gone).
 *
 * In order of preference: the evaluated window's `startDate` or earliest evaluated datapoint in the
 * alarm's `reasonData` (the window that holds the first breaching period; event shape:
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html);
 * else the state change time less `datapointsToAlarm × period` of the plan's alarm; else the state
 * change time. Never later than the state change. For AcceptStartRequest to set `StartResult.faultAt`.
 */
export function faultTimeOf(event: AlarmEvent, alarm?: { periodSeconds: number; datapointsToAlarm: number }): string {
  const changedAt = cloudWatchTime(event.detail.state.timestamp);
  const changed = Number.isFinite(changedAt) ? changedAt : cloudWatchTime(event.time);
  const candidates: number[] = [];
  try {
    const data = event.detail.state.reasonData
      ? (JSON.parse(event.detail.state.reasonData) as { startDate?: unknown; evaluatedDatapoints?: Array<{ timestamp?: unknown }> })
      : undefined;
    for (const t of [data?.startDate, ...(Array.isArray(data?.evaluatedDatapoints) ? data.evaluatedDatapoints.map((d) => d?.timestamp) : [])]) {
      const ms = cloudWatchTime(t);
      if (Number.isFinite(ms) && ms <= changed) candidates.push(ms);
    }
  } catch {
    // reasonData is free-form JSON text: unreadable means "fall back to the alarm's own timing".
  }
  if (candidates.length === 0 && alarm) candidates.push(changed - alarm.periodSeconds * alarm.datapointsToAlarm * 1000);
  const earliest = Math.min(changed, ...candidates);
  return new Date(Number.isFinite(earliest) ? earliest : Date.now()).toISOString();
}

// ---- the state document, part by part: zod schemas, types inferred from them, parsed at each stage's entry ----
// Objects are not strict: a part written by an older version of a stage, or with keys a later
// version adds, still parses (unknown keys are dropped from what the stage reads).

/** Result of AcceptStartRequest (`$.start`). */
export const startResultSchema = z.object({
  trigger: z.enum(['alarm', 'manual', 'schedule']),
  mode: z.enum(MODES),
  reason: z.string(),
  requestedBy: z.string(),
  alarmName: z.string().optional(),
  alarmKind: z.enum(['health', 'replication-lag', 'database']).optional(),
  executionId: z.string(),
  startedAt: z.string(),
  /**
   * When the primary was first seen failing (see {@link faultTimeOf}); absent for manual and
   * scheduled starts, where the stages use `startedAt`. The replication gap is read at this time.
   */
  faultAt: z.string().optional(),
  /** Set when another execution of this state machine is already handling the failover (at-least-once events). */
  duplicateOf: z.string().optional(),
  /** Why this start is a duplicate (same incident, a run already acting, cool-down, a drill yielding). */
  duplicateReason: z.string().optional(),
  /** The execution this run took the lease from (a different incident still deciding). */
  tookOverFrom: z.string().optional(),
});
export type StartResult = z.infer<typeof startResultSchema>;

export const probeResultSchema = z.object({
  name: z.string(),
  url: z.string(),
  healthy: z.boolean(),
  /** The last HTTP status seen, healthy or not: absent when nothing answered (the region does not answer HTTP). */
  status: z.number().optional(),
  error: z.string().optional(),
  attempts: z.number(),
});
export type ProbeResult = z.infer<typeof probeResultSchema>;

export const replicationObservationSchema = z.object({
  database: z.string(),
  kind: z.string(),
  /** replicating | broken | promoted (recovery side already writable) | unknown */
  status: z.enum(['replicating', 'broken', 'promoted', 'unknown']),
  /** The replication gap at the fault (seconds); absent when unknown (no valid datapoint), never guessed. */
  lagSeconds: z.number().optional(),
  /** How the gap was read, or why it is unknown ("unknown: no ReplicaLag datapoint at or before …"). */
  lagDetail: z.string().optional(),
  detail: z.string(),
  /** Why this database is not ready to be promoted (backups disabled on an RDS replica); empty or absent when ready. */
  notReady: z.array(z.string()).optional(),
});
export type ReplicationObservation = z.infer<typeof replicationObservationSchema>;

/** Result of ConfirmRegionFailure (`$.detection`). */
export const detectionResultSchema = z.object({
  classification: z.enum(CLASSIFICATIONS),
  action: z.enum(['failover', 'switchover', 'drill', 'notify-only']),
  approvalRequired: z.boolean(),
  onApprovalTimeout: z.enum(['abort', 'proceed']),
  rpoAtRisk: z.boolean(),
  /** Worst replication gap seen (seconds): the data-loss estimate of an unplanned failover. */
  replicationGapSeconds: z.number().nullable(),
  reasons: z.array(z.string()),
  /** When the primary was first seen failing (or the execution start): the replication gap is read at this time. */
  faultAt: z.string().optional(),
  /** Why the plan is not ready to fail over (alarms MISSING / INSUFFICIENT_DATA, backups disabled); a failover with any needs approval. */
  notReady: z.array(z.string()).optional(),
  evidence: z.object({
    probes: z.array(probeResultSchema),
    alarms: z.array(z.object({ name: z.string(), state: z.string() })),
    replication: z.array(replicationObservationSchema),
    trafficOnRecovery: z.boolean(),
  }),
  startedAt: z.string(),
  finishedAt: z.string(),
});
export type DetectionResult = z.infer<typeof detectionResultSchema>;

/** What a human (or the timeout policy) decided (`$.approval`). */
export const approvalDecisionSchema = z.object({
  approved: z.boolean(),
  decidedBy: z.string(),
  /** When a human decided; absent when the timeout policy did (ProceedWithoutApproval is a Pass state with no clock of its own). */
  decidedAt: z.string().optional(),
  via: z.enum(['slack', 'cli', 'manual-start', 'timeout-policy', 'policy']),
  comment: z.string().optional(),
  /** Who ran the operator CLI that decided (local user and host), for the audit. */
  operator: z.object({ user: z.string(), host: z.string() }).optional(),
});
export type ApprovalDecision = z.infer<typeof approvalDecisionSchema>;

/** One resource's step in a stage. */
export const resourceStepSchema = z.object({
  resource: z.string(),
  kind: z.string(),
  done: z.boolean(),
  phase: z.string(),
  detail: z.string(),
  /** Drill mode: what the stage would have done, with no mutating call made. */
  wouldDo: z.string().optional(),
  mutated: z.boolean(),
  startedAt: z.string(),
  deadline: z.string(),
  finishedAt: z.string().optional(),
  /** Promotion only: the replication gap when the database was promoted (seconds), the data-loss estimate. */
  lagSecondsAtPromotion: z.number().nullable().optional(),
  /** An identifier of the change under way (Route 53 change id), carried between polls. */
  ref: z.string().optional(),
});
export type ResourceStep = z.infer<typeof resourceStepSchema>;

/** confirmed: the fence is in place (evidence read back); unconfirmed: not shown in time or not in place; skipped: nothing to fence at this layer. */
export const FENCE_STEP_STATUSES = ['confirmed', 'unconfirmed', 'skipped'] as const;
export type FenceStepStatus = (typeof FENCE_STEP_STATUSES)[number];

export const fenceStepSchema = z.object({
  resource: z.string(),
  kind: z.string(),
  status: z.enum(FENCE_STEP_STATUSES),
  confirmed: z.boolean(),
  action: z.string(),
  detail: z.string(),
  wouldDo: z.string().optional(),
});

export const fenceResultSchema = z.object({
  /** Every step confirmed or skipped (the state machine's Choice reads this). */
  confirmed: z.boolean(),
  approvalNeeded: z.boolean(),
  steps: z.array(fenceStepSchema),
  /** The budget the whole stage had (plan.fence.timeoutSeconds, less if the stage deadline was nearer). */
  budgetSeconds: z.number().optional(),
  startedAt: z.string(),
  finishedAt: z.string(),
});
export type FenceResult = z.infer<typeof fenceResultSchema>;

/**
 * After promotion, whether the old primary database refuses writes, from the same control-plane
 * evidence as the fence (parameter group attached, in-sync, default_transaction_read_only = 1).
 * `unreachable` is recorded, not a failure (a dead region); `accepts-writes` fails the smoke stage
 * with `OldPrimaryWritable`; `no-database-fence` when the plan fences this database by compute only.
 */
export const FENCE_RECHECK_STATUSES = ['refuses-writes', 'accepts-writes', 'unreachable', 'no-database-fence'] as const;
export type FenceRecheckStatus = (typeof FENCE_RECHECK_STATUSES)[number];

export const smokeResultSchema = z.object({
  passed: z.boolean(),
  checks: z.array(z.object({ name: z.string(), ok: z.boolean(), status: z.number().optional(), detail: z.string(), durationMs: z.number() })),
  fenceRecheck: z.array(z.object({ database: z.string(), kind: z.string(), status: z.enum(FENCE_RECHECK_STATUSES), detail: z.string() })).optional(),
  startedAt: z.string(),
  finishedAt: z.string(),
});
export type SmokeResult = z.infer<typeof smokeResultSchema>;

/** A Step Functions error as a Catch's ResultPath records it (a timeout's Cause may be empty or absent). */
const stateErrorSchema = z.object({ Error: z.string(), Cause: z.string().optional() });

/** Scale-up did not reach failover capacity in time: the run went on with what was running. */
export const scaleIncompleteSchema = z.object({ incomplete: z.literal(true), error: stateErrorSchema });
export type ScaleIncomplete = z.infer<typeof scaleIncompleteSchema>;

/**
 * A part notify reads when it is there and matches the contract, and goes without otherwise: notify
 * must announce every run (and release the single-flight lease), including the one whose failure left
 * a part half-written. A part it cannot read is dropped, never a reason to fail the notification.
 */
const readIfValid = <S extends z.ZodType>(schema: S) => schema.optional().catch(undefined);

/**
 * The state document that flows through the failover state machine, as notify reads it on every
 * path, including a failure that ended the run before most parts existed: the plan must be valid,
 * every other part is read if it matches (readIfValid). Loose: the state machine's own keys (the
 * request, Map bookkeeping) pass through.
 */
export const failoverStateSchema = z
  .object({
    request: z.unknown().optional(),
    plan: planSchema,
    start: readIfValid(startResultSchema),
    detection: readIfValid(detectionResultSchema),
    approval: readIfValid(approvalDecisionSchema),
    fence: readIfValid(fenceResultSchema),
    /** Promotion then traffic (branch 1) and scale-up (branch 2); a scale-up that missed its deadline is `ScaleIncomplete`. */
    recovery: readIfValid(
      z.object({ promotion: z.array(resourceStepSchema), traffic: z.array(resourceStepSchema), scale: z.union([z.array(resourceStepSchema), scaleIncompleteSchema]) }),
    ),
    smoke: readIfValid(smokeResultSchema),
    error: readIfValid(stateErrorSchema),
  })
  .loose();
export type FailoverState = z.infer<typeof failoverStateSchema>;

/** The input of one Map iteration of a reconcile loop (promote / scale / flip). */
export interface ReconcileInput<R> {
  resource: R;
  plan: Plan;
  start: StartResult;
  /** When the fence stage finished (promotion only): a planned switchover trusts only lag data from after it. */
  fencedAt?: string;
  previous?: ResourceStep;
}
