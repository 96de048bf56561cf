/**
 * The lab's scenarios: what goes wrong, how the orchestrator is started, and what the lab's
 * approver does when Slack asks. The failover itself is never scripted here: it is the real
 * state machine reacting to what the probes and the control plane show.
 */
import type { Lab } from './lab';
import type { Outcome } from './report/types';

export interface Scenario {
  name: string;
  description: string;
  /** Changes to config/lab.yml for this scenario. */
  editPlan?: (raw: Record<string, any>) => void;
  /** What the lab's approver answers when a gate opens. */
  approver: 'approve' | 'reject' | 'none';
  /** Set-up before traffic starts. */
  prepare?: (lab: Lab) => Promise<void>;
  /** The fault (or, for a planned switchover, the operator's start). Returns a label for the timeline. */
  inject: (lab: Lab) => Promise<string>;
  /** Put things back for a clean measurement (e.g. resume WAL replay). */
  after?: (lab: Lab) => Promise<void>;
  /** Whether a promotion is expected: the report and tests check it. */
  expectPromotion: boolean;
  /**
   * The documented outcome of the run (the drill's exit code is 0 only when it happens): a rejected
   * or unanswered approval that aborted is a pass; a smoke test that failed the run is a pass.
   */
  expectedOutcome: Outcome;
  /** Whether the fault interrupts writes at all (RTO is reported only then). */
  outage: boolean;
  /** How long to keep going when no execution ever starts (ms). */
  quietPeriodMs: number;
}

/** The fault of every region-outage variant: the primary region is gone (and refuses connections). */
const regionDown = async (lab: Lab): Promise<string> => {
  await lab.killPrimaryRegion();
  return 'us-east-1 region down';
};

const manual = (mode: 'failover' | 'switchover' | 'drill', reason: string) => ({ mode, reason, requestedBy: 'lab-operator@example.com', origin: 'cli' as const });

export const SCENARIOS: Record<string, Scenario> = {
  'region-outage': {
    name: 'region-outage',
    description: 'us-east-1 is lost: its database crashes, its app stops, its control plane stops answering',
    approver: 'approve',
    inject: regionDown,
    expectPromotion: true,
    expectedOutcome: 'succeeded',
    outage: true,
    quietPeriodMs: 20_000,
  },
  'region-blackhole': {
    name: 'region-blackhole',
    description: 'us-east-1 is blackholed: its database crashes, and its app, control plane and replication link accept connections and never answer',
    approver: 'approve',
    inject: async (lab) => {
      await lab.blackholePrimaryRegion();
      return 'us-east-1 blackholed';
    },
    expectPromotion: true,
    expectedOutcome: 'succeeded',
    outage: true,
    quietPeriodMs: 20_000,
  },
  'database-failure': {
    name: 'database-failure',
    description: 'only the us-east-1 database crashes; the app and the control plane stay up',
    approver: 'approve',
    inject: async (lab) => {
      await lab.killPrimaryDatabase();
      return 'us-east-1 database crashed';
    },
    expectPromotion: true,
    expectedOutcome: 'succeeded',
    outage: true,
    quietPeriodMs: 20_000,
  },
  'network-partition': {
    name: 'network-partition',
    description: 'the replication link is cut; both regions stay up: no automatic promotion (approval required, nobody answers)',
    approver: 'none',
    inject: async (lab) => {
      lab.link.partition();
      return 'replication link cut';
    },
    after: async (lab) => lab.link.heal(),
    expectPromotion: false,
    expectedOutcome: 'aborted',
    outage: false,
    quietPeriodMs: 20_000,
  },
  'lag-spike': {
    name: 'lag-spike',
    description: 'the standby stops applying WAL for a while: the lag alarm fires, RPO is at risk, no failover',
    approver: 'none',
    inject: async (lab) => {
      await lab.state.recovery.db.query('SELECT pg_wal_replay_pause()');
      return 'standby replay paused';
    },
    after: async (lab) => {
      await lab.state.recovery.db.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
    },
    expectPromotion: false,
    expectedOutcome: 'no-failover',
    outage: false,
    quietPeriodMs: 20_000,
  },
  'planned-switchover': {
    name: 'planned-switchover',
    description: 'an operator starts a planned switchover: fence, wait for the standby to catch up, promote, flip — zero loss',
    approver: 'approve',
    inject: async (lab) => {
      lab.startExecution(manual('switchover', 'lab: planned switchover'));
      return 'switchover started by the operator';
    },
    expectPromotion: true,
    expectedOutcome: 'succeeded',
    outage: true,
    quietPeriodMs: 20_000,
  },
  'approval-rejected': {
    name: 'approval-rejected',
    description: 'region outage with a plan that requires approval; the approver rejects in Slack: nothing is promoted',
    editPlan: (raw) => (raw.approval.automatic = []),
    approver: 'reject',
    inject: regionDown,
    expectPromotion: false,
    expectedOutcome: 'aborted',
    outage: true,
    quietPeriodMs: 20_000,
  },
  'approval-timeout': {
    name: 'approval-timeout',
    description: 'region outage with a plan that requires approval; nobody answers before the timeout: the declared policy (abort) applies',
    editPlan: (raw) => (raw.approval.automatic = []),
    approver: 'none',
    inject: regionDown,
    expectPromotion: false,
    expectedOutcome: 'aborted',
    outage: true,
    quietPeriodMs: 20_000,
  },
  'smoke-test-failure': {
    name: 'smoke-test-failure',
    description: 'region outage, but the recovery region fails its synthetic write: the run fails loudly after retries',
    approver: 'approve',
    prepare: async (lab) => {
      lab.state.recovery.app.syntheticBroken = true;
    },
    inject: regionDown,
    expectPromotion: true,
    expectedOutcome: 'failed',
    outage: true,
    quietPeriodMs: 20_000,
  },
};

/**
 * Whether a run went as its scenario documents: the expected outcome, a promotion exactly when one
 * is expected, and no other execution acting alongside (one failover at a time).
 */
export function asExpected(scenario: Pick<Scenario, 'expectedOutcome' | 'expectPromotion'>, run: { outcome: Outcome; promoted: boolean; otherActed: boolean }): boolean {
  return run.outcome === scenario.expectedOutcome && run.promoted === scenario.expectPromotion && !run.otherActed;
}
