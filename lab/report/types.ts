/**
 * report.json: the evidence of one lab drill. The first fields are the `--json` contract printed as
 * the last stdout line; the rest is what report.html draws.
 */
export type Outcome = 'succeeded' | 'failed' | 'aborted' | 'no-failover';

export interface StageTiming {
  name: string;
  status: string;
  /** ISO-8601 */
  startedAt: string;
  /** From the first attempt's start to the last attempt's end: every attempt and the Retry pauses between them. */
  durationMs: number;
  /** Every attempt of the stage, in order (more than one when its Retry ran it again). */
  attempts?: Array<{ startedAt: string; durationMs: number; status: 'succeeded' | 'failed' | 'unfinished'; error?: string }>;
}

/** One step of the fence, as the fence stage reported it (functions/core/contract.ts FenceResult). */
export interface FenceStep {
  resource: string;
  kind: string;
  status: 'confirmed' | 'unconfirmed' | 'skipped';
  action: string;
  detail: string;
}

export interface DrillSummary {
  scenario: string;
  mode: string;
  outcome: Outcome;
  /** The outcome the scenario documents (lab/scenarios.ts). */
  expectedOutcome: Outcome;
  /**
   * Whether the documented outcome happened: the outcome is the expected one, a promotion happened
   * exactly when expected, and no other execution acted alongside. The drill's exit code follows it.
   */
  asExpected: boolean;
  /** Whether the scenario interrupts writes at all. false: writes were never meant to stop, there is no RTO. */
  outage: boolean;
  /** Fault → first acknowledged write after it, as the client saw it; null when no write was acknowledged after the fault. */
  rtoSeconds: number | null;
  rpo: {
    /** Acknowledged transactions missing from the surviving primary (client log vs. database). */
    lostAcknowledged: number;
    /** Fault time minus the acknowledgement time of the oldest lost transaction (0 when none was lost). */
    seconds: number;
    /** The orchestrator's own estimate (replication gap at promotion), for comparison. */
    estimatedSeconds: number | null;
  };
  acknowledged: number;
  errors: number;
  splitBrain: boolean;
  /**
   * The fence as the execution reported it: `confirmed`, or the steps it could not confirm within
   * the plan's fence budget (a dead region cannot confirm; the plan's policy decides). null when
   * the run did not reach the fence.
   */
  fence: { confirmed: boolean; unconfirmed: string[]; budgetSeconds?: number; steps?: FenceStep[] } | null;
  orchestrationOverheadMs: number;
  /**
   * `txPerSecond` averages over the whole run (outage included); `preFault` is the load before the
   * fault, after the clients' ramp: offered (sent) and achieved (acknowledged) per second, the same
   * figures as `preFaultWindow`.
   */
  throughput: {
    txPerSecond: number;
    p50Ms: number;
    p99Ms: number;
    preFault?: { offeredPerSecond: number; achievedPerSecond: number; seconds: number };
    /** The traffic generator's own view of the window before the fault: asked, sent, acknowledged, errors, latency, and whether the lab held the rate. */
    preFaultWindow?: import('../traffic').LoadWindow;
  };
  stages: StageTiming[];
  /** Path of report.html */
  report: string;
}

export interface TimelinePoint {
  /** Seconds since the lab's traffic started. */
  t: number;
  acknowledged: number;
  errors: number;
  /**
   * Replication lag of the standby (seconds), as RDS's ReplicaLag reads it: after the primary dies it
   * keeps growing with the clock (time since the last replayed transaction). null when there is no
   * datapoint (promoted, or the standby did not answer).
   */
  lagSeconds: number | null;
  /** Length of the bucket [t, t + seconds) when it is not 1 s (the first or last, partial): rates are counts / seconds. */
  seconds?: number;
}

export interface TimelineEvent {
  /** Seconds since the lab's traffic started. */
  t: number;
  label: string;
  kind: 'fault' | 'alarm' | 'execution' | 'recovered' | 'note';
}

export interface DrillReport extends DrillSummary {
  generatedAt: string;
  /** ISO time the traffic started: t = 0 of the timeline. */
  startedAt: string;
  /** Seconds since start; null when the scenario injects no fault. */
  faultAt: number | null;
  budgets: { rtoSeconds: number; rpoSeconds: number };
  /** Lab-sized settings, reported next to the figures (they are not AWS's). */
  settings: { rate: number; latencyMs: number; probeIntervalMs: number; failuresToAlarm: number; dnsTtlSeconds: number; pollSeconds: number; fenceBudgetSeconds?: number };
  /** From the end of the fence stage to the moment the standby was writable (null when nothing was promoted after a fence). */
  fenceToPromotedSeconds?: number | null;
  splitBrainWrites: number;
  /** The lost acknowledged transactions themselves: who can be told, and what to replay. */
  /** `acknowledgedAt`: when the client saw the acknowledgement; `regionAcknowledgedAt`: when the region sent it. */
  lost?: Array<{ id: string; account: string; amount: number; acknowledgedAt: string; regionAcknowledgedAt?: string; region?: string }>;
  execution: { status: string; error?: string; cause?: string; executionArn?: string };
  timeline: { points: TimelinePoint[]; events: TimelineEvent[] };
  /** Stage bars on the timeline: seconds since start. */
  stageBars: Array<{ name: string; status: string; start: number; end: number }>;
  /**
   * Every other execution the drill saw start (alarms of the same incident, alarms the failover
   * itself raised): whether single flight made it a duplicate, and whether it acted anyway (entered
   * the fence, promotion or flip). One failover at a time: none may act.
   */
  otherExecutions?: Array<{ name: string; status: string; error?: string; duplicateOf?: string; acted: boolean; stages: string[] }>;
  /** What an auditor asks for: why it failed over, who let it, what exactly ran, and who was told. */
  audit?: Audit;
  notes: string[];
}

/** One alarm state change the lab's EventBridge saw between the fault and the execution's start. */
export interface AuditAlarm {
  /** Seconds since traffic start. */
  t: number;
  name: string;
  state: string;
  /** Whether an EventBridge rule matched it (and so started an execution). */
  matched: boolean;
}

export interface Audit {
  /** The detection stage's output (`$.detection`): the classification and the evidence it rests on. */
  detection: {
    classification: string;
    action?: string;
    approvalRequired?: boolean;
    reasons: string[];
    /** Probes as the detection stage ran them from the recovery region; failing ones first. */
    probes: Array<{ name: string; healthy: boolean; status?: number; error?: string; attempts?: number }>;
    /** Alarm states the detection stage read. */
    alarms: Array<{ name: string; state: string }>;
  } | null;
  /** Alarm state changes between the fault and the execution's start, as the lab's EventBridge saw them. */
  alarmsBeforeStart: AuditAlarm[];
  /**
   * How the go-ahead was given: `automatic` (the plan's policy allows this classification without a
   * human), `decided` (a human or the timeout policy, via slack / cli / timeout-policy), or
   * `not-reached` (the run ended before any approval point).
   */
  approval: { mode: 'automatic' | 'decided' | 'not-reached'; approved?: boolean; decidedBy?: string; via?: string; decidedAt?: string; comment?: string; policy?: string };
  /** The unfenced-promotion gate's decision, when the fence was unconfirmed and a human had to decide. */
  unfencedApproval?: { approved: boolean; decidedBy?: string; via?: string; decidedAt?: string; comment?: string };
  /** sha256 (hex) of the canonical JSON (keys sorted, no spaces) of the plan the execution ran with; null when it was not in the history. */
  planSha256: string | null;
  orchestrator: { version: string; commit: string };
  /** The notification the run sent (notify's output) and the EventBridge event with its idempotency key; null when none was sent. */
  notification: { detailType: string; idempotencyKey?: string; eventId?: string; slackTs?: string; outcome?: string } | null;
}
