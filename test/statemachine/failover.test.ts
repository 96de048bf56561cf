/**
 * The real failover state machine, executed locally with every Task bound to its real handler and
 * the AWS SDK answered by a small stateful fake (test/helpers/fake-platform.ts). One test per
 * branch: each asserts the path taken, the commands sent (and not sent) and how the run ended.
 */
import { FailoverGlobalClusterCommand, PromoteReadReplicaCommand, SwitchoverGlobalClusterCommand } from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { UpdateRoutingControlStatesCommand } from '@aws-sdk/client-route53-recovery-cluster';
import { UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { SendTaskFailureCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { incidentKey, incidentPrecedence, interpretRequest } from '../../functions/accept-start-request';
import type { Plan } from '../../functions/core/plan';
import { acquire } from '../../functions/core/single-flight';
import { BOT_TOKEN, SIGNING_SECRET } from '../helpers/fake-platform';
import { clickSlackButton, runFailover, type RunResult } from '../helpers/local-sfn';
import { captureLogs } from '../helpers/logs';
import { APPROVER, exactly, labSizedPlan, MUTATIONS, mutatingCallsByRegion, sample, setHandlerEnvironment, useFakePlatform } from '../helpers/statemachine';

setHandlerEnvironment();

/** How a run ended, in one object, so a failed expectation shows the error and its cause. */
const outcome = (run: RunResult) => ({ status: run.status, ...(run.error ? { error: run.error, cause: run.cause } : {}) });

/**
 * The lab-sized example plan with 1 s replication-lag periods (AWS: 60 s), so a switchover's "0 from
 * a period that started after the fence" comes within a second or two instead of one to two minutes.
 */
const testPlan = (edit?: (raw: Record<string, any>) => void): Plan => labSizedPlan(edit, { lagPeriodSeconds: 1 });

const platformFor = useFakePlatform();

describe('failover state machine', () => {
  it('fails over automatically on a confirmed region outage when the primary can be fenced', async () => {
    const plan = testPlan();
    const p = platformFor(plan, { probesUp: false, primaryControlPlaneUp: true, alarms: { 'payments-us-east-1-api-health': 'ALARM' } });

    const run = await runFailover(plan, p, sample('health-alarm.json'));

    expect(outcome(run)).toEqual({ status: 'SUCCEEDED' });
    expect(run.gates).toHaveLength(0);
    expect(run.output.detection).toMatchObject({ classification: 'region-outage', approvalRequired: false });
    expect(run.output.fence.confirmed).toBe(true);
    expect(p.clients.rds).toHaveReceivedCommandWith(FailoverGlobalClusterCommand, {
      GlobalClusterIdentifier: 'payments-ledger-global',
      TargetDbClusterIdentifier: 'arn:aws:rds:eu-west-1:111122223333:cluster:payments-ledger-euw1',
      AllowDataLoss: true,
    });
    expect(p.clients.rds).toHaveReceivedCommandWith(PromoteReadReplicaCommand, { DBInstanceIdentifier: 'payments-accounts-euw1' });
    expect(p.clients.ecs).toHaveReceivedCommandWith(UpdateServiceCommand, { cluster: 'payments-use1', service: 'payments-api', desiredCount: 0 });
    expect(p.clients.ecs).toHaveReceivedCommandWith(UpdateServiceCommand, { cluster: 'payments-euw1', service: 'payments-api', desiredCount: 50 });
    // The example plan flips through ARC routing controls (data plane): one call for the pair, no Route 53 edit.
    expect(p.clients.arc).toHaveReceivedCommandTimes(UpdateRoutingControlStatesCommand, 1);
    expect(p.clients.route53).toHaveReceivedCommandTimes(ChangeResourceRecordSetsCommand, 0);
    expect(p.world.dns).toMatchObject({ primaryWeight: 0, recoveryWeight: 100 });
    expect(run.output.recovery.promotion.map((s: { done: boolean }) => s.done)).toEqual([true, true]);
    expect(run.output.smoke.passed).toBe(true);
    expect(p.eventDetailTypes()).toEqual(['Failover Succeeded']);
    expect(await mutatingCallsByRegion(p)).toEqual(exactly(MUTATIONS.fence, MUTATIONS.recovery('FailoverGlobalClusterCommand'), MUTATIONS.flip));
    expect(run.states.indexOf('FenceUsWriters')).toBeLessThan(run.states.indexOf('RecoverInParallel'));
    expect(run.states.indexOf('RecoverInParallel')).toBeLessThan(run.states.indexOf('FlipTraffic'));
  });

  it('asks a human before promoting when the unreachable primary could not be fenced, and goes on when approved in Slack', async () => {
    const plan = testPlan();
    const p = platformFor(plan, { probesUp: false, primaryControlPlaneUp: false });

    const run = await runFailover(plan, p, sample('health-alarm.json'), {
      onGate: async (gate) => {
        expect(await clickSlackButton(gate, 'approve', APPROVER)).toMatchObject({ statusCode: 200 });
      },
    });

    expect(outcome(run)).toEqual({ status: 'SUCCEEDED' });
    expect(run.gates.map((g) => g.state)).toEqual(['ApproveUnfencedPromotion']);
    expect(run.output.fence.confirmed).toBe(false);
    expect(run.output.fenceApproval).toMatchObject({ approved: true, decidedBy: APPROVER, via: 'slack' });
    expect(p.clients.sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    expect(p.clients.rds).toHaveReceivedCommand(FailoverGlobalClusterCommand);
    expect(await mutatingCallsByRegion(p)).toEqual(exactly(MUTATIONS.fenceUnreachable, MUTATIONS.recovery('FailoverGlobalClusterCommand'), MUTATIONS.flip));
    expect(p.eventDetailTypes()).toEqual(['Failover Succeeded']);
  });

  it('proceeds without a gate when the plan says an unconfirmed fence may proceed', async () => {
    const plan = testPlan((raw) => (raw.approval.fenceUnconfirmed = 'proceed'));
    const p = platformFor(plan, { probesUp: false, primaryControlPlaneUp: false });

    const run = await runFailover(plan, p, sample('health-alarm.json'));

    expect(outcome(run)).toEqual({ status: 'SUCCEEDED' });
    expect(run.gates).toHaveLength(0);
    expect(run.output.fence.confirmed).toBe(false);
    expect(run.output.notification.detailType).toBe('Failover Succeeded');
    expect(await mutatingCallsByRegion(p)).toEqual(exactly(MUTATIONS.fenceUnreachable, MUTATIONS.recovery('FailoverGlobalClusterCommand'), MUTATIONS.flip));
    expect(p.eventDetailTypes()).toEqual(['Failover Succeeded']);
  });

  it('runs a planned switchover with zero data loss: fence, catch up, SwitchoverGlobalCluster, never FailoverGlobalCluster', async () => {
    const plan = testPlan();
    const p = platformFor(plan, {
      probesUp: true,
      primaryControlPlaneUp: true,
      rds: { isReplica: true, status: 'available', replication: 'replicating', lagSeconds: 0, promoteCompletes: true },
    });

    const run = await runFailover(plan, p, sample('manual-switchover.json'));

    expect(outcome(run)).toEqual({ status: 'SUCCEEDED' });
    expect(run.output.detection).toMatchObject({ classification: 'planned', action: 'switchover', approvalRequired: false });
    expect(run.output.fence.confirmed).toBe(true);
    expect(p.clients.rds).toHaveReceivedCommandWith(SwitchoverGlobalClusterCommand, { GlobalClusterIdentifier: 'payments-ledger-global' });
    expect(p.clients.rds).not.toHaveReceivedCommand(FailoverGlobalClusterCommand);
    expect(p.clients.rds).toHaveReceivedCommand(PromoteReadReplicaCommand);
    expect(run.output.notification.detailType).toBe('Failover Succeeded');
    expect(await mutatingCallsByRegion(p)).toEqual(exactly(MUTATIONS.fence, MUTATIONS.recovery('SwitchoverGlobalClusterCommand'), MUTATIONS.flip));
    expect(p.eventDetailTypes()).toEqual(['Failover Succeeded']);
  });

  it('only notifies on a replication-lag alarm: RPO at risk, nothing changed', async () => {
    const plan = testPlan();
    const p = platformFor(plan, {
      probesUp: true,
      alarms: { 'payments-ledger-replication-lag': 'ALARM' },
      aurora: { writer: 'primary', status: 'available', lagMs: 95_000, sync: 'connected', promoteCompletes: true },
    });

    const run = await runFailover(plan, p, sample('replication-lag-alarm.json'));

    expect(outcome(run)).toEqual({ status: 'SUCCEEDED' });
    expect(run.output.detection).toMatchObject({ classification: 'lag-only', action: 'notify-only', rpoAtRisk: true });
    expect(run.states).toContain('NoFailover');
    expect(run.states).not.toContain('FenceUsWriters');
    expect(p.mutatingCalls()).toEqual([]);
    expect(p.eventDetailTypes()).toEqual(['Failover Not Needed']);
  });

  it('never promotes on a partition without a human: rejected in Slack, nothing changed, ends ApprovalRejected', async () => {
    const plan = testPlan();
    const p = platformFor(plan, {
      probesUp: true,
      alarms: { 'payments-accounts-replication-lag': 'ALARM' },
      rds: { isReplica: true, status: 'available', replication: 'error', lagSeconds: 400, promoteCompletes: true },
    });

    const run = await runFailover(plan, p, sample('replication-lag-alarm.json'), {
      onGate: async (gate) => {
        expect(await clickSlackButton(gate, 'reject', APPROVER)).toMatchObject({ statusCode: 200 });
      },
    });

    expect(outcome(run)).toEqual({ status: 'FAILED', error: 'ApprovalRejected', cause: expect.any(String) });
    expect(run.cause).toContain(APPROVER);
    expect(run.gates.map((g) => g.state)).toEqual(['RequestFailoverApproval']);
    expect(run.states).not.toContain('FenceUsWriters');
    expect(p.clients.sfn).toHaveReceivedCommandWith(SendTaskFailureCommand, { error: 'ApprovalRejected' });
    expect(p.mutatingCalls()).toEqual([]);
    expect(p.eventDetailTypes()).toEqual(['Failover Failed']);
  });

  it('ignores a click from someone not on the approver list and a forged request', async () => {
    const plan = testPlan((raw) => (raw.approval.timeoutSeconds = 1));
    const p = platformFor(plan, { probesUp: true, rds: { isReplica: true, status: 'available', replication: 'error', lagSeconds: 400, promoteCompletes: true } });

    const run = await runFailover(plan, p, sample('replication-lag-alarm.json'), {
      onGate: async (gate) => {
        expect(await clickSlackButton(gate, 'approve', 'U9999INTRUDER')).toMatchObject({ statusCode: 403 });
        expect(await clickSlackButton(gate, 'approve', APPROVER, 'not-the-signing-secret')).toMatchObject({ statusCode: 401 });
      },
    });

    expect(outcome(run)).toEqual({ status: 'FAILED', error: 'ApprovalTimedOut', cause: expect.any(String) });
    expect(p.clients.sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
    expect(p.mutatingCalls()).toEqual([]);
  });

  it('aborts when nobody answers before the approval timeout and the policy is abort', async () => {
    const plan = testPlan((raw) => {
      raw.approval.timeoutSeconds = 1;
      raw.approval.automatic = [];
    });
    const p = platformFor(plan, { probesUp: false });

    const run = await runFailover(plan, p, sample('health-alarm.json'));

    expect(outcome(run)).toEqual({ status: 'FAILED', error: 'ApprovalTimedOut', cause: expect.any(String) });
    expect(run.states).toEqual(expect.arrayContaining(['RequestFailoverApproval', 'OnApprovalTimeout', 'ApprovalTimedOut', 'NotifyFailure']));
    expect(p.mutatingCalls()).toEqual([]);
    expect(p.eventDetailTypes()).toEqual(['Failover Failed']);
  });

  it('proceeds when nobody answers and the plan declares on-timeout proceed (not for partitions)', async () => {
    const plan = testPlan((raw) => {
      raw.approval.timeoutSeconds = 1;
      raw.approval.automatic = [];
      raw.approval.onTimeout = 'proceed';
    });
    const p = platformFor(plan, { probesUp: false });

    const run = await runFailover(plan, p, sample('health-alarm.json'));

    expect(outcome(run)).toEqual({ status: 'SUCCEEDED' });
    expect(run.output.approval).toMatchObject({ approved: true, via: 'timeout-policy' });
    expect(await mutatingCallsByRegion(p)).toEqual(exactly(MUTATIONS.fence, MUTATIONS.recovery('FailoverGlobalClusterCommand'), MUTATIONS.flip));
    // The success is announced (and the lease released): the timeout policy's approval is a valid state part.
    expect(p.eventDetailTypes()).toEqual(['Failover Succeeded']);
  });

  it('fails with PromotionDeadlineExceeded when the database is not writable before its deadline', async () => {
    const plan = testPlan((raw) => {
      raw.databases[0].promotionTimeoutSeconds = 1;
    });
    const p = platformFor(plan, { probesUp: false, aurora: { writer: 'primary', status: 'available', lagMs: 500, sync: 'connected', promoteCompletes: false } });

    const run = await runFailover(plan, p, sample('health-alarm.json'));

    expect(outcome(run)).toEqual({ status: 'FAILED', error: 'PromotionDeadlineExceeded', cause: expect.stringContaining('aurora-global ledger not done by') });
    expect(run.cause).toContain('aurora-global ledger not done by');
    expect(run.states).not.toContain('FlipTraffic');
    expect(p.clients.route53).not.toHaveReceivedCommand(ChangeResourceRecordSetsCommand);
    expect(await mutatingCallsByRegion(p)).toEqual(exactly(MUTATIONS.fence, MUTATIONS.recovery('FailoverGlobalClusterCommand'))); // no flip
    expect(p.eventDetailTypes()).toEqual(['Failover Failed']);
  });

  it('flips traffic to the recovery region even when scale-up misses its deadline, and reports reduced capacity', async () => {
    const plan = testPlan((raw) => {
      for (const svc of raw.compute) svc.steadyTimeoutSeconds = 1;
    });
    const p = platformFor(plan, { probesUp: false, ecsConverges: false });

    const run = await runFailover(plan, p, sample('health-alarm.json'));

    expect(outcome(run)).toEqual({ status: 'SUCCEEDED' });
    expect(run.output.recovery.scale).toMatchObject({ incomplete: true, error: { Error: 'ScaleDeadlineExceeded' } });
    expect(p.world.dns).toMatchObject({ primaryWeight: 0, recoveryWeight: 100 });
    expect(run.output.notification.detailType).toBe('Failover Succeeded');
    expect(p.eventDetailTypes()).toEqual(['Failover Succeeded']);
    expect(JSON.parse(p.clients.events.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries![0]!.Detail!).capacity).toMatchObject({ complete: false });
  });

  it('still ends as succeeded when the success notification fails after a completed failover', async () => {
    const plan = testPlan();
    const p = platformFor(plan, { probesUp: false, slackOk: false });

    const run = await runFailover(plan, p, sample('health-alarm.json'));

    expect(outcome(run)).toEqual({ status: 'SUCCEEDED' });
    expect(run.states).toEqual(expect.arrayContaining(['NotifySuccess', 'SuccessNotificationFailed', 'FailoverSucceeded']));
    expect(run.states).not.toContain('NotifyFailure');
    expect(p.world.dns).toMatchObject({ primaryWeight: 0, recoveryWeight: 100 });
  });

  it('fails with SmokeTestFailed after retries when the recovery region does not answer correctly', async () => {
    const plan = testPlan();
    const p = platformFor(plan, { probesUp: false, smokeStatus: 503 });

    const run = await runFailover(plan, p, sample('health-alarm.json'));

    expect(outcome(run)).toEqual({ status: 'FAILED', error: 'SmokeTestFailed', cause: expect.any(String) });
    expect(run.cause).toContain('HTTP 503');
    expect(run.states.filter((s) => s === 'SmokeTestEu')).toHaveLength(1);
    const smokeCalls = p.fetchSpy.mock.calls.filter(([url]) => String(url).includes('/healthz') && String(url).includes('euw1'));
    expect(smokeCalls).toHaveLength(4); // the first try and 3 retries
    expect(await mutatingCallsByRegion(p)).toEqual(exactly(MUTATIONS.fence, MUTATIONS.recovery('FailoverGlobalClusterCommand'), MUTATIONS.flip));
    expect(p.eventDetailTypes()).toEqual(['Failover Failed']);
  });

  it('fails fast with InvalidInput naming the bad field on a bad manual start, before anything else runs', async () => {
    const plan = testPlan();
    const p = platformFor(plan);

    const run = await runFailover(plan, p, { mode: 'sideways', reason: 'test', requestedBy: 'oncall@example.com' });

    expect(outcome(run)).toEqual({ status: 'FAILED', error: 'InvalidInput', cause: expect.any(String) });
    expect(run.cause).toContain('request.mode');
    expect(run.states).toEqual(['LoadPlan', 'AcceptStartRequest', 'NotifyFailure', 'FailoverFailed']);
    expect(p.mutatingCalls()).toEqual([]);
  });

  it('runs a drill end to end without a single mutating call, and reports what it would do', async () => {
    const plan = testPlan();
    const p = platformFor(plan, { probesUp: true });

    const run = await runFailover(plan, p, sample('scheduled-drill.json'));

    expect(outcome(run)).toEqual({ status: 'SUCCEEDED' });
    expect(p.mutatingCalls()).toEqual([]);
    expect(run.output.recovery.promotion.every((s: { wouldDo?: string }) => !!s.wouldDo)).toBe(true);
    expect(run.output.recovery.traffic[0].wouldDo).toContain('routing controls api-euw1=On, api-use1=Off in one UpdateRoutingControlStates call');
    expect(p.fetchSpy.mock.calls.some(([, init]) => init?.method === 'POST' && !String(init?.body ?? '').includes('"channel"'))).toBe(false);
    expect(p.eventDetailTypes()).toEqual(['Failover Drill Completed']);
  });

  it('ends as a duplicate when an older execution already holds the lease for the same incident (at-least-once delivery)', async () => {
    const plan = testPlan();
    const p = platformFor(plan, { probesUp: false });
    // The first delivery of the same alarm already took the lease (a conditional write in DynamoDB).
    const first = interpretRequest(sample('health-alarm.json'), plan);
    await acquire(
      plan,
      {
        executionId: 'arn:aws:states:eu-west-1:111122223333:execution:failover-orchestrator-test-failover:first',
        incidentKey: incidentKey(first),
        precedence: incidentPrecedence(first),
        trigger: 'alarm',
        mode: 'failover',
      },
      new Date(Date.now() - 60_000),
    );

    const run = await runFailover(plan, p, sample('health-alarm.json'));

    expect(outcome(run)).toEqual({ status: 'SUCCEEDED' });
    expect(run.states).toEqual(['LoadPlan', 'AcceptStartRequest', 'IsDuplicateStart', 'DuplicateStart']);
    expect(run.output.start.duplicateOf).toContain(':first');
    expect(p.mutatingCalls()).toEqual([]);
  });

  it('logs the execution id on every stage line and never the Slack bot token, the signing secret or a task token', async () => {
    const plan = testPlan();
    // The primary cannot be fenced: the unfenced-promotion gate opens, the Slack callback loads the signing secret.
    const p = platformFor(plan, { probesUp: false, primaryControlPlaneUp: false });
    let run: RunResult | undefined;

    const logged = await captureLogs(async () => {
      run = await runFailover(plan, p, sample('health-alarm.json'), {
        onGate: async (gate) => {
          expect(await clickSlackButton(gate, 'approve', APPROVER)).toMatchObject({ statusCode: 200 });
        },
      });
    });

    expect(run && outcome(run)).toEqual({ status: 'SUCCEEDED' });
    expect(run!.gates).toHaveLength(1);
    const stageLines = logged.split('\n').filter((l) => l.includes('"stage finished"'));
    expect(stageLines.length).toBeGreaterThan(8);
    for (const line of stageLines) expect(line).toContain('"executionId":"arn:aws:states:eu-west-1:111122223333:execution:');
    expect(logged).not.toContain(BOT_TOKEN);
    expect(logged).not.toContain(SIGNING_SECRET);
    expect(logged).not.toContain(run!.gates[0]!.payload.taskToken);
  });
});
