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
import type { Classification, Plan } from './plan';

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
    const data = event.detail.state.reasonData ? (JSON.parse(event.detail.state.reasonData) as { startDate?: unknown; evaluatedDatapoints?: Array<{ timestamp?: unknown }> }) : undefined;
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

export interface ExecutionRef {
  id: string;
  name: string;
  startTime: string;
  stateMachineId: string;
}

/** Result of AcceptStartRequest (`$.start`). */
export interface StartResult {
  trigger: 'alarm' | 'manual' | 'schedule';
  mode: Mode;
  reason: string;
  requestedBy: string;
  alarmName?: string;
  alarmKind?: 'health' | 'replication-lag' | 'database';
  executionId: string;
  startedAt: string;
  /**
   * When the primary was first seen failing (see {@link faultTimeOf}); absent for manual and
   * scheduled starts, where the stages use `startedAt`. The replication gap is read at this time.
   */
  faultAt?: string;
  /** Set when another execution of this state machine is already handling the failover (at-least-once events). */
  duplicateOf?: string;
  /** Why this start is a duplicate (same incident, a run already acting, cool-down, a drill yielding). */
  duplicateReason?: string;
  /** The execution this run took the lease from (a different incident still deciding). */
  tookOverFrom?: string;
}

export interface ProbeResult {
  name: string;
  url: string;
  healthy: boolean;
  /** The last HTTP status seen, healthy or not: absent when nothing answered (the region does not answer HTTP). */
  status?: number;
  error?: string;
  attempts: number;
}

export interface ReplicationObservation {
  database: string;
  kind: string;
  /** replicating | broken | promoted (recovery side already writable) | unknown */
  status: 'replicating' | 'broken' | 'promoted' | 'unknown';
  /** The replication gap at the fault (seconds); absent when unknown (no valid datapoint), never guessed. */
  lagSeconds?: number;
  /** How the gap was read, or why it is unknown ("unknown: no ReplicaLag datapoint at or before …"). */
  lagDetail?: string;
  detail: string;
  /** Why this database is not ready to be promoted (backups disabled on an RDS replica); empty or absent when ready. */
  notReady?: string[];
}

/** Result of ConfirmRegionFailure (`$.detection`). */
export interface DetectionResult {
  classification: Classification;
  action: 'failover' | 'switchover' | 'drill' | 'notify-only';
  approvalRequired: boolean;
  onApprovalTimeout: 'abort' | 'proceed';
  rpoAtRisk: boolean;
  /** Worst replication gap seen (seconds): the data-loss estimate of an unplanned failover. */
  replicationGapSeconds: number | null;
  reasons: string[];
  /** When the primary was first seen failing (or the execution start): the replication gap is read at this time. */
  faultAt?: string;
  /** Why the plan is not ready to fail over (alarms MISSING / INSUFFICIENT_DATA, backups disabled); a failover with any needs approval. */
  notReady?: string[];
  evidence: {
    probes: ProbeResult[];
    alarms: Array<{ name: string; state: string }>;
    replication: ReplicationObservation[];
    trafficOnRecovery: boolean;
  };
  startedAt: string;
  finishedAt: string;
}

/** What a human (or the timeout policy) decided (`$.approval`). */
export interface ApprovalDecision {
  approved: boolean;
  decidedBy: string;
  decidedAt: string;
  via: 'slack' | 'cli' | 'manual-start' | 'timeout-policy' | 'policy';
  comment?: string;
  /** Who ran the operator CLI that decided (local user and host), for the audit. */
  operator?: { user: string; host: string };
}

/** One resource's step in a stage. */
export interface ResourceStep {
  resource: string;
  kind: string;
  done: boolean;
  phase: string;
  detail: string;
  /** Drill mode: what the stage would have done, with no mutating call made. */
  wouldDo?: string;
  mutated: boolean;
  startedAt: string;
  deadline: string;
  finishedAt?: string;
  /** Promotion only: the replication gap when the database was promoted (seconds), the data-loss estimate. */
  lagSecondsAtPromotion?: number | null;
  /** An identifier of the change under way (Route 53 change id), carried between polls. */
  ref?: string;
}

/** confirmed: the fence is in place (evidence read back); unconfirmed: not shown in time or not in place; skipped: nothing to fence at this layer. */
export type FenceStepStatus = 'confirmed' | 'unconfirmed' | 'skipped';

export interface FenceResult {
  /** Every step confirmed or skipped (the state machine's Choice reads this). */
  confirmed: boolean;
  approvalNeeded: boolean;
  steps: Array<{ resource: string; kind: string; status: FenceStepStatus; confirmed: boolean; action: string; detail: string; wouldDo?: string }>;
  /** The budget the whole stage had (plan.fence.timeoutSeconds, less if the stage deadline was nearer). */
  budgetSeconds?: number;
  startedAt: string;
  finishedAt: string;
}

/**
 * After promotion, whether the old primary database refuses writes, from the same control-plane
 * evidence as the fence (parameter group attached, in-sync, default_transaction_read_only = 1).
 * `unreachable` is recorded, not a failure (a dead region); `accepts-writes` fails the smoke stage
 * with `OldPrimaryWritable`; `no-database-fence` when the plan fences this database by compute only.
 */
export type FenceRecheckStatus = 'refuses-writes' | 'accepts-writes' | 'unreachable' | 'no-database-fence';

export interface SmokeResult {
  passed: boolean;
  checks: Array<{ name: string; ok: boolean; status?: number; detail: string; durationMs: number }>;
  fenceRecheck?: Array<{ database: string; kind: string; status: FenceRecheckStatus; detail: string }>;
  startedAt: string;
  finishedAt: string;
}

/** The state document that flows through the failover state machine. */
export interface FailoverState {
  request: unknown;
  plan: Plan;
  start?: StartResult;
  detection?: DetectionResult;
  approval?: ApprovalDecision;
  fence?: FenceResult;
  /** Promotion then traffic (branch 1) and scale-up (branch 2); a scale-up that missed its deadline is `ScaleIncomplete`. */
  recovery?: { promotion: ResourceStep[]; traffic: ResourceStep[]; scale: ResourceStep[] | ScaleIncomplete };
  smoke?: SmokeResult;
  error?: { Error: string; Cause: string };
}

/** Scale-up did not reach failover capacity in time: the run went on with what was running. */
export interface ScaleIncomplete {
  incomplete: true;
  error: { Error: string; Cause: string };
}

/** The input of one Map iteration of a reconcile loop (promote / scale / flip). */
export interface ReconcileInput<R> {
  resource: R;
  plan: Plan;
  start: StartResult;
  detection?: DetectionResult;
  /** When the fence stage finished (promotion only): a planned switchover trusts only lag data from after it. */
  fencedAt?: string;
  previous?: ResourceStep;
}
