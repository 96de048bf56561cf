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
    state: z.object({ value: z.string(), reason: z.string().optional(), timestamp: z.string() }),
    previousState: z.object({ value: z.string() }).partial().optional(),
  }),
});
export type AlarmEvent = z.infer<typeof alarmEventSchema>;

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
  /** Set when another execution of this state machine is already handling the failover (at-least-once events). */
  duplicateOf?: string;
}

export interface ProbeResult {
  name: string;
  url: string;
  healthy: boolean;
  status?: number;
  error?: string;
  attempts: number;
}

export interface ReplicationObservation {
  database: string;
  kind: string;
  /** replicating | broken | promoted (recovery side already writable) | unknown */
  status: 'replicating' | 'broken' | 'promoted' | 'unknown';
  lagSeconds?: number;
  detail: string;
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
  via: 'slack' | 'manual-start' | 'timeout-policy' | 'policy';
  comment?: string;
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

export interface FenceResult {
  confirmed: boolean;
  approvalNeeded: boolean;
  steps: Array<{ resource: string; kind: string; confirmed: boolean; action: string; detail: string; wouldDo?: string }>;
  startedAt: string;
  finishedAt: string;
}

export interface SmokeResult {
  passed: boolean;
  checks: Array<{ name: string; ok: boolean; status?: number; detail: string; durationMs: number }>;
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
