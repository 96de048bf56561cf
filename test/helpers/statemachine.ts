/**
 * What the state-machine tests (test/statemachine/*.test.ts) share: the environment the handlers
 * read, the sample start events, a lab-sized example plan, and the fake platform installed per test
 * and restored after it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Plan } from '../../functions/core/plan';
import { installFakePlatform, MUTATING_COMMANDS, type FakePlatform, type World } from './fake-platform';
import { examplePlan, ROOT } from './plan';

/** The tables and the Slack secret parameter the handlers read from their environment, as the stack sets them. */
export function setHandlerEnvironment(): void {
  process.env.APPROVALS_TABLE = 'failover-orchestrator-test-approvals';
  process.env.LEASE_TABLE = 'failover-orchestrator-test-leases';
  process.env.SLACK_SIGNING_SECRET_PARAMETER = '/failover/example/slack-signing-secret';
}

/** A sample start event (events/samples/<name>), as EventBridge, the scheduler or the CLI delivers it. */
export const sample = (name: string) => JSON.parse(readFileSync(join(ROOT, 'events', 'samples', name), 'utf8'));

/** The Slack user who clicks the approval buttons. */
export const APPROVER = 'U0123ABCDEF';

/**
 * The example plan with lab-sized waits: one probe attempt and fast polls, then `edit`.
 * `lagPeriodSeconds`, when given, replaces the replication-lag period (AWS: 60 s).
 */
export function labSizedPlan(edit?: (raw: Record<string, any>) => void, options: { lagPeriodSeconds?: number } = {}): Plan {
  return examplePlan((raw) => {
    raw.detection.probeAttempts = 1;
    if (options.lagPeriodSeconds !== undefined) raw.detection.lagPeriodSeconds = options.lagPeriodSeconds;
    raw.polling = { promoteIntervalSeconds: 1, trafficIntervalSeconds: 1, scaleIntervalSeconds: 1 };
    edit?.(raw);
  });
}

/**
 * Registers an afterEach that restores the fake platform a test installed (after `beforeRestore`,
 * e.g. to end runs still waiting on it), and returns the function that installs it for a plan.
 */
export function useFakePlatform(beforeRestore?: (platform: FakePlatform | undefined) => Promise<void> | void): (plan: Plan, world?: Partial<World>) => FakePlatform {
  let platform: FakePlatform | undefined;
  afterEach(async () => {
    await beforeRestore?.(platform);
    platform?.restore();
    platform = undefined;
  });
  return (plan, world = {}) => {
    platform = installFakePlatform(plan, world);
    return platform;
  };
}

/**
 * Every mutating command the run sent (failed attempts included), as `<region> <Command>`, sorted so
 * the branches of a Parallel state compare the same whatever their interleaving. Tests compare it to
 * an exact list: a count of one command would still pass if another command were sent as well.
 */
export async function mutatingCallsByRegion(p: FakePlatform): Promise<string[]> {
  const mutating = new Set<string>(MUTATING_COMMANDS.map((c) => c.name));
  const { rds, ecs, autoscaling, route53, arc } = p.clients;
  const calls = [...rds.calls(), ...ecs.calls(), ...autoscaling.calls(), ...route53.calls(), ...arc.calls()];
  const named = await Promise.all(
    calls.map(async (c) => {
      const region = await (c.thisValue as unknown as { config: { region: () => Promise<string> } }).config.region();
      return `${region} ${(c.args[0] as object).constructor.name}`;
    }),
  );
  return named.filter((n) => mutating.has(n.split(' ')[1]!)).sort();
}

/**
 * The exact mutating commands of each path of the example plan (labSizedPlan), as `<region> <Command>`
 * like `mutatingCallsByRegion`. Counting one command would still pass if another were sent too.
 */
export const MUTATIONS = {
  /** The fence, confirmed: both primary writers scaled to 0 and auto scaling pinned, both databases' parameter groups read-only. */
  fence: [
    'us-east-1 ModifyDBClusterParameterGroupCommand',
    'us-east-1 ModifyDBParameterGroupCommand',
    'us-east-1 RegisterScalableTargetCommand',
    'us-east-1 UpdateServiceCommand',
    'us-east-1 UpdateServiceCommand',
  ],
  /** The fence against an unreachable primary control plane: every fencer's first call fails; only the auto-scaled service's first call (RegisterScalableTarget 0..0) mutates. */
  fenceUnreachable: ['us-east-1 RegisterScalableTargetCommand'],
  /** Promotion of both recovery databases (Aurora by `aurora`) and the recovery region's scale-up. */
  recovery: (aurora: 'FailoverGlobalClusterCommand' | 'SwitchoverGlobalClusterCommand') => [
    `eu-west-1 ${aurora}`,
    'eu-west-1 PromoteReadReplicaCommand',
    'eu-west-1 RegisterScalableTargetCommand',
    'eu-west-1 UpdateServiceCommand',
    'eu-west-1 UpdateServiceCommand',
  ],
  /** The flip: one UpdateRoutingControlStates on the first cluster endpoint outside the primary region. */
  flip: ['us-west-2 UpdateRoutingControlStatesCommand'],
};
/** The sorted union of path parts, to compare with `mutatingCallsByRegion`. */
export const exactly = (...parts: string[][]): string[] => parts.flat().sort();
