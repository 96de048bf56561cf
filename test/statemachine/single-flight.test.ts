/**
 * Single flight, end to end: the real failover ASL with the real handlers (local/state-machine.ts) on
 * the fake platform (test/helpers/fake-platform.ts), whose DynamoDB holds the lease table.
 *
 * Step Functions' ListExecutions "is eventually consistent" and "may not reflect very recent
 * updates" (https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html):
 * two runs started together do not see each other there. The fake's ListExecutions shows no other
 * run for the same reason, so only the DynamoDB lease (functions/core/single-flight.ts) keeps two
 * simultaneous starts to one failover and one approval gate.
 *
 * Both starts go through ONE LocalOrchestrator with explicit execution names: two `runFailover`
 * calls in the same millisecond would get the same execution ARN (`lab-<Date.now()>-1`).
 */
import { FailoverGlobalClusterCommand, PromoteReadReplicaCommand } from '@aws-sdk/client-rds';
import type { Plan } from '../../functions/core/plan';
import { LocalOrchestrator, type ExecutionRecord, type GateRequest } from '../../local/state-machine';
import { installFakePlatform, type FakePlatform, type World } from '../helpers/fake-platform';
import { clickSlackButton, renderLocalDefinition, STATE_MACHINE_ARN } from '../helpers/local-sfn';
import { APPROVER, exactly, labSizedPlan, MUTATIONS, mutatingCallsByRegion, sample, setHandlerEnvironment, useFakePlatform } from '../helpers/statemachine';

setHandlerEnvironment();

const HEALTH_ALARM = 'health-alarm.json';
const LAG_ALARM = 'replication-lag-alarm.json';

// Several executions of the real ASL per test; the bound is jest's, never a wall-clock assertion.
jest.setTimeout(30_000);

/** Every orchestrator a test made: runs still waiting at a gate when it ends (a failed expectation) are failed, so the worker can exit. */
let orchestrators: LocalOrchestrator[] = [];
const platformFor = useFakePlatform(async (platform) => {
  for (let round = 0; round < 250; round++) {
    const running = orchestrators.flatMap((o) => o.executions).filter((e) => e.status === 'RUNNING');
    if (running.length === 0) break;
    for (const gate of running.flatMap((e) => e.gates)) {
      try {
        platform?.tokens.settle(gate.payload.taskToken, { ok: false, error: 'TestCleanup', cause: 'test ended' });
      } catch {
        // already settled or expired
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  orchestrators = [];
});

function orchestratorFor(plan: Plan, p: FakePlatform, onGate?: (gate: GateRequest, execution: ExecutionRecord) => Promise<void> | void): LocalOrchestrator {
  const orchestrator = new LocalOrchestrator({ definition: renderLocalDefinition(plan), stateMachineArn: STATE_MACHINE_ARN, tokens: p.tokens, waitMs: 5, retryMs: 0, onGate });
  orchestrators.push(orchestrator);
  return orchestrator;
}

const statesOf = (execution: ExecutionRecord) => execution.events.filter((e) => e.type === 'StateEntered' && e.state).map((e) => e.state!);
const outcome = (execution: ExecutionRecord) => ({ status: execution.status, ...(execution.error ? { error: execution.error, cause: execution.cause } : {}) });
const sorted = (names: string[]) => [...names].sort();
/** Slack messages that carry Approve / Reject buttons (one per approval gate opened). */
const approvalMessages = (p: FakePlatform) => p.slackMessages.filter((m) => m.url.endsWith('/chat.postMessage') && JSON.stringify(m.body ?? {}).includes('failover_approve'));

/** The mutating calls one run alone makes in `world` (the baseline two simultaneous runs must not exceed). */
async function soloMutatingCalls(plan: Plan, world: Partial<World>, request: unknown, onGate?: (gate: GateRequest) => Promise<void>): Promise<string[]> {
  const solo = installFakePlatform(plan, structuredClone(world));
  try {
    const { done } = orchestratorFor(plan, solo, onGate).start(request, 'solo');
    const run = await done;
    expect(outcome(run)).toEqual({ status: 'SUCCEEDED' });
    return solo.mutatingCalls();
  } finally {
    solo.restore();
  }
}

describe('single flight (real ASL, real handlers)', () => {
  it('turns two simultaneous starts for the same outage into one failover: one run acts, the other ends as DuplicateStart', async () => {
    const plan = labSizedPlan();
    const world: Partial<World> = { probesUp: false, primaryControlPlaneUp: true, alarms: { 'payments-us-east-1-api-health': 'ALARM' } };
    const baseline = await soloMutatingCalls(plan, world, sample(HEALTH_ALARM));
    const p = platformFor(plan, structuredClone(world));
    const orchestrator = orchestratorFor(plan, p);

    const runs = await Promise.all([orchestrator.start(sample(HEALTH_ALARM), 'alarm-a').done, orchestrator.start(sample(HEALTH_ALARM), 'alarm-b').done]);

    expect(runs.map(outcome)).toEqual([{ status: 'SUCCEEDED' }, { status: 'SUCCEEDED' }]);
    const duplicates = runs.filter((r) => statesOf(r).includes('DuplicateStart'));
    const actors = runs.filter((r) => statesOf(r).includes('FenceUsWriters'));
    expect(duplicates).toHaveLength(1);
    expect(actors).toHaveLength(1);
    expect(duplicates[0]!.output.start).toMatchObject({ duplicateOf: actors[0]!.executionArn, duplicateReason: expect.stringContaining('same incident') });
    expect(p.clients.rds).toHaveReceivedCommandTimes(FailoverGlobalClusterCommand, 1);
    expect(p.clients.rds).toHaveReceivedCommandTimes(PromoteReadReplicaCommand, 1);
    expect(sorted(p.mutatingCalls())).toEqual(sorted(baseline));
    expect(p.eventDetailTypes()).toEqual(['Failover Succeeded']);
  });

  it('opens one approval gate, not two, when two simultaneous starts need a human', async () => {
    const plan = labSizedPlan();
    // The primary cannot be fenced: the run stops at ApproveUnfencedPromotion until someone approves.
    const world: Partial<World> = { probesUp: false, primaryControlPlaneUp: false, alarms: { 'payments-us-east-1-api-health': 'ALARM' } };
    const approve = async (gate: GateRequest) => {
      expect(await clickSlackButton(gate, 'approve', APPROVER)).toMatchObject({ statusCode: 200 });
    };
    const baseline = await soloMutatingCalls(plan, world, sample(HEALTH_ALARM), approve);
    const p = platformFor(plan, structuredClone(world));
    const orchestrator = orchestratorFor(plan, p, approve);

    const runs = await Promise.all([orchestrator.start(sample(HEALTH_ALARM), 'alarm-a').done, orchestrator.start(sample(HEALTH_ALARM), 'alarm-b').done]);

    expect(runs.map(outcome)).toEqual([{ status: 'SUCCEEDED' }, { status: 'SUCCEEDED' }]);
    expect(runs.flatMap((r) => r.gates).map((g) => g.state)).toEqual(['ApproveUnfencedPromotion']);
    expect(approvalMessages(p)).toHaveLength(1);
    expect(runs.filter((r) => statesOf(r).includes('DuplicateStart'))).toHaveLength(1);
    expect(p.clients.rds).toHaveReceivedCommandTimes(FailoverGlobalClusterCommand, 1);
    expect(sorted(p.mutatingCalls())).toEqual(sorted(baseline));
  });

  it('makes the replication-lag alarm a real outage also raises a duplicate of the outage run deciding at its gate', async () => {
    const plan = labSizedPlan((raw) => (raw.approval.automatic = []));
    const p = platformFor(plan, { probesUp: false, alarms: { 'payments-us-east-1-api-health': 'ALARM' } });
    let parked!: (gate: GateRequest) => void;
    const gateOpened = new Promise<GateRequest>((resolve) => (parked = resolve));
    const orchestrator = orchestratorFor(plan, p, (gate) => parked(gate));
    const outage = orchestrator.start(sample(HEALTH_ALARM), 'outage');
    const gate = await Promise.race([gateOpened, outage.done.then((run) => Promise.reject(new Error(`the outage run ended without a gate: ${JSON.stringify(outcome(run))}`)))]);
    expect(gate.state).toBe('RequestFailoverApproval');

    p.world.alarms['payments-ledger-replication-lag'] = 'ALARM';
    const lag = await orchestrator.start(sample(LAG_ALARM), 'lag').done;

    expect(statesOf(lag)).toEqual(['LoadPlan', 'AcceptStartRequest', 'IsDuplicateStart', 'DuplicateStart']);
    expect(lag.output.start.duplicateOf).toBe(outage.execution.executionArn);
    expect(await clickSlackButton(gate, 'approve', APPROVER)).toMatchObject({ statusCode: 200 });
    expect(outcome(await outage.done)).toEqual({ status: 'SUCCEEDED' });
    expect(p.clients.rds).toHaveReceivedCommandTimes(FailoverGlobalClusterCommand, 1);
    expect(await mutatingCallsByRegion(p)).toEqual(exactly(MUTATIONS.fence, MUTATIONS.recovery('FailoverGlobalClusterCommand'), MUTATIONS.flip));
    expect(approvalMessages(p)).toHaveLength(1);
  });

  it('frees the lease at the end of a run that changed nothing: a real outage right after an unconfirmed health alarm fails over', async () => {
    const plan = labSizedPlan();
    // The health alarm fires but the primary answers from eu-west-1: not confirmed, notify only.
    const p = platformFor(plan, { probesUp: true, alarms: { 'payments-us-east-1-api-health': 'ALARM' } });
    const orchestrator = orchestratorFor(plan, p);
    const unconfirmed = await orchestrator.start(sample(HEALTH_ALARM), 'unconfirmed').done;
    expect(statesOf(unconfirmed)).toContain('NoFailover');

    // Minutes later the primary really dies and the same alarm fires again: the same incident key.
    p.world.probesUp = false;
    const outage = await orchestrator.start(sample(HEALTH_ALARM), 'outage').done;

    expect(outcome(outage)).toEqual({ status: 'SUCCEEDED' });
    expect(statesOf(outage)).not.toContain('DuplicateStart');
    expect(p.clients.rds).toHaveReceivedCommandTimes(FailoverGlobalClusterCommand, 1);
    expect(await mutatingCallsByRegion(p)).toEqual(exactly(MUTATIONS.fence, MUTATIONS.recovery('FailoverGlobalClusterCommand'), MUTATIONS.flip));
  });

  it('cools down after a failover: a new alarm ends as a duplicate saying until when, a manual start fails with CooldownActive, nothing changes', async () => {
    const plan = labSizedPlan();
    const p = platformFor(plan, { probesUp: false, primaryControlPlaneUp: true, alarms: { 'payments-us-east-1-api-health': 'ALARM' } });
    const orchestrator = orchestratorFor(plan, p);
    const first = await orchestrator.start(sample(HEALTH_ALARM), 'first').done;
    expect(outcome(first)).toEqual({ status: 'SUCCEEDED' });
    const afterFailover = p.mutatingCalls();

    const alarm = await orchestrator.start(sample(HEALTH_ALARM), 'flapping-alarm').done;
    const manual = await orchestrator.start(sample('manual-failover.json'), 'manual').done;

    expect(statesOf(alarm)).toEqual(['LoadPlan', 'AcceptStartRequest', 'IsDuplicateStart', 'DuplicateStart']);
    expect(alarm.output.start).toMatchObject({ duplicateOf: first.executionArn, duplicateReason: expect.stringContaining('cooling down until') });
    expect(outcome(manual)).toEqual({ status: 'FAILED', error: 'CooldownActive', cause: expect.stringContaining('no new failover before') });
    expect(statesOf(manual)).toEqual(['LoadPlan', 'AcceptStartRequest', 'NotifyFailure', 'FailoverFailed']);
    expect(p.mutatingCalls()).toEqual(afterFailover);
  });

  describe('a partition run parked at its approval gate, then a region outage', () => {
    /**
     * Starts a replication-lag (partition) run and waits until it is parked at RequestFailoverApproval,
     * then the primary goes down and a health alarm starts a second run, which is waited for.
     */
    async function partitionThenOutage() {
      const plan = labSizedPlan();
      const p = platformFor(plan, {
        probesUp: true,
        alarms: { 'payments-accounts-replication-lag': 'ALARM' },
        rds: { isReplica: true, status: 'available', replication: 'error', lagSeconds: 400, promoteCompletes: true },
      });
      let parked!: (gate: GateRequest) => void;
      const gateOpened = new Promise<GateRequest>((resolve) => (parked = resolve));
      const orchestrator = orchestratorFor(plan, p, (gate, execution) => {
        if (execution.name === 'partition') parked(gate);
      });

      const partition = orchestrator.start(sample(LAG_ALARM), 'partition');
      // A run that ends without opening its gate fails here with how it ended, instead of waiting forever.
      const gate = await Promise.race([
        gateOpened,
        partition.done.then((run) => Promise.reject(new Error(`the partition run ended without a gate: ${JSON.stringify(outcome(run))}`))),
      ]);
      expect(gate.state).toBe('RequestFailoverApproval');
      expect(p.mutatingCalls()).toEqual([]);

      // The primary region dies: probes fail, the health alarm fires, replication is back to what the replica last saw.
      p.world.probesUp = false;
      p.world.alarms = { 'payments-us-east-1-api-health': 'ALARM' };
      p.world.rds = { isReplica: true, status: 'available', replication: 'replicating', lagSeconds: 1, promoteCompletes: true };
      const outage = await orchestrator.start(sample(HEALTH_ALARM), 'outage').done;
      return { p, gate, partition, outage };
    }

    it('does not stop the region-outage run: it takes the lease over and fails over', async () => {
      const { p, gate, partition, outage } = await partitionThenOutage();

      expect(outcome(outage)).toEqual({ status: 'SUCCEEDED' });
      expect(statesOf(outage)).not.toContain('DuplicateStart');
      expect(outage.output.start.tookOverFrom).toBe(partition.execution.executionArn);
      expect(p.clients.rds).toHaveReceivedCommandTimes(FailoverGlobalClusterCommand, 1);
      expect(await mutatingCallsByRegion(p)).toEqual(exactly(MUTATIONS.fence, MUTATIONS.recovery('FailoverGlobalClusterCommand'), MUTATIONS.flip));
      expect(p.eventDetailTypes()).toEqual(['Failover Succeeded']);

      // End the parked run (rejected) so nothing is left waiting.
      expect(await clickSlackButton(gate, 'reject', APPROVER)).toMatchObject({ statusCode: 200 });
      await partition.done;
    });

    // Needs FenceUsWriters to call markActing (functions/core/single-flight.ts) before its first mutation.
    it('makes the parked run fail with LeaseLost before any mutating call when it is approved afterwards', async () => {
      const { p, gate, partition, outage } = await partitionThenOutage();
      expect(outcome(outage)).toEqual({ status: 'SUCCEEDED' });
      const afterOutage = p.mutatingCalls();

      expect(await clickSlackButton(gate, 'approve', APPROVER)).toMatchObject({ statusCode: 200 });
      const parked = await partition.done;

      expect(outcome(parked)).toEqual({ status: 'FAILED', error: 'LeaseLost', cause: expect.stringContaining(outage.executionArn) });
      expect(p.mutatingCalls()).toEqual(afterOutage);
      expect(statesOf(parked)).not.toContain('RecoverInParallel');
      expect(p.eventDetailTypes()).toEqual(['Failover Succeeded', 'Failover Failed']);
    });

    // Needs FenceUsWriters to call markActing (functions/core/single-flight.ts) before its first mutation.
    it('never lets anything take the lease from a run that has begun to fence, not even the run it took the lease from', async () => {
      const plan = labSizedPlan();
      const p = platformFor(plan, {
        probesUp: true,
        alarms: { 'payments-accounts-replication-lag': 'ALARM' },
        rds: { isReplica: true, status: 'available', replication: 'error', lagSeconds: 400, promoteCompletes: true },
      });
      const gates = new Map<string, (gate: GateRequest) => void>();
      const gateOf = (name: string) => new Promise<GateRequest>((resolve) => gates.set(name, resolve));
      const partitionGate = gateOf('partition');
      const outageGate = gateOf('outage');
      const orchestrator = orchestratorFor(plan, p, (gate, execution) => gates.get(execution.name)?.(gate));
      const partition = orchestrator.start(sample(LAG_ALARM), 'partition');
      const parkedGate = await Promise.race([partitionGate, partition.done.then((run) => Promise.reject(new Error(`no partition gate: ${JSON.stringify(outcome(run))}`)))]);

      // The primary dies and cannot be fenced: the outage run takes the lease over, fences (acting) and waits at ApproveUnfencedPromotion.
      Object.assign(p.world, { probesUp: false, primaryControlPlaneUp: false, alarms: { 'payments-us-east-1-api-health': 'ALARM' } });
      p.world.rds = { isReplica: true, status: 'available', replication: 'replicating', lagSeconds: 1, promoteCompletes: true };
      const outage = orchestrator.start(sample(HEALTH_ALARM), 'outage');
      const unfencedGate = await Promise.race([outageGate, outage.done.then((run) => Promise.reject(new Error(`no outage gate: ${JSON.stringify(outcome(run))}`)))]);
      expect(unfencedGate.state).toBe('ApproveUnfencedPromotion');

      // Someone approves the stale partition gate: that run fails with LeaseLost, and its notification must not free the outage run's lease.
      expect(await clickSlackButton(parkedGate, 'approve', APPROVER)).toMatchObject({ statusCode: 200 });
      expect(outcome(await partition.done)).toMatchObject({ status: 'FAILED', error: 'LeaseLost' });
      // An operator's manual start (another incident, as serious) while the outage run is acting: a duplicate.
      const manual = await orchestrator.start(sample('manual-failover.json'), 'manual').done;
      expect(statesOf(manual)).toEqual(['LoadPlan', 'AcceptStartRequest', 'IsDuplicateStart', 'DuplicateStart']);
      expect(manual.output.start.duplicateOf).toBe(outage.execution.executionArn);

      expect(await clickSlackButton(unfencedGate, 'approve', APPROVER)).toMatchObject({ statusCode: 200 });
      expect(outcome(await outage.done)).toEqual({ status: 'SUCCEEDED' });
      expect(p.clients.rds).toHaveReceivedCommandTimes(FailoverGlobalClusterCommand, 1);
      expect(p.clients.rds).toHaveReceivedCommandTimes(PromoteReadReplicaCommand, 1);
      expect(await mutatingCallsByRegion(p)).toEqual(exactly(MUTATIONS.fenceUnreachable, MUTATIONS.recovery('FailoverGlobalClusterCommand'), MUTATIONS.flip));
    });
  });
});
