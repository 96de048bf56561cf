/**
 * What the state-machine tests (test/statemachine/*.test.ts) share: the environment the handlers
 * read, the sample start events, a lab-sized example plan, and the fake platform installed per test
 * and restored after it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Plan } from '../../functions/core/plan';
import { installFakePlatform, type FakePlatform, type World } from './fake-platform';
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
