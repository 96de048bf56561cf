/**
 * The unfenced-promotion gate (ApproveUnfencedPromotion): the primary could not be confirmed fenced,
 * so promoting the recovery region risks split brain and only a human may allow it. These tests pin
 * the safety rules of that gate on the real ASL with the real handlers (test/helpers/local-sfn.ts):
 *   - silence is never consent: the gate's timeout (the Task's TimeoutSeconds, caught as
 *     `States.Timeout`) ends the run with FenceUnconfirmed, whatever plan.approval.onTimeout says;
 *   - the approvals table never keeps a task token once the approval is decided or expired.
 *
 * Step Functions: a `.waitForTaskToken` Task that is not answered within its TimeoutSeconds fails with
 * `States.Timeout`, which a Catch can route
 * (https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-wait-token,
 * https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { FailoverGlobalClusterCommand, PromoteReadReplicaCommand, SwitchoverGlobalClusterCommand } from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { UpdateRoutingControlStateCommand, UpdateRoutingControlStatesCommand } from '@aws-sdk/client-route53-recovery-cluster';
import { SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import type { Plan } from '../../functions/core/plan';
import type { FakePlatform } from '../helpers/fake-platform';
import { clickSlackButton, runFailover, type GateRequest, type RunResult } from '../helpers/local-sfn';
import { APPROVER, exactly, labSizedPlan, MUTATIONS, mutatingCallsByRegion, sample, setHandlerEnvironment, useFakePlatform } from '../helpers/statemachine';

setHandlerEnvironment();

const outcome = (run: RunResult) => ({ status: run.status, ...(run.error ? { error: run.error, cause: run.cause } : {}) });

/**
 * A confirmed region outage (automatic in the example plan, so the first gate is skipped) whose primary
 * control plane does not answer: the fence is unconfirmed and the plan requires approval for that.
 */
const unfencedPlan = (edit?: (raw: Record<string, any>) => void): Plan =>
  labSizedPlan((raw) => {
    raw.approval.automatic = ['region-outage'];
    raw.approval.fenceUnconfirmed = 'require-approval';
    raw.approval.timeoutSeconds = 1;
    edit?.(raw);
  });
const UNREACHABLE_PRIMARY = { probesUp: false, primaryControlPlaneUp: false, alarms: { 'payments-us-east-1-api-health': 'ALARM' } };

/** The run changed nothing that matters: no promotion command, no traffic flip, DNS still on the primary. */
async function expectNothingPromotedOrFlipped(p: FakePlatform): Promise<void> {
  expect(p.clients.rds).not.toHaveReceivedCommand(PromoteReadReplicaCommand);
  expect(p.clients.rds).not.toHaveReceivedCommand(FailoverGlobalClusterCommand);
  expect(p.clients.rds).not.toHaveReceivedCommand(SwitchoverGlobalClusterCommand);
  expect(p.clients.arc).not.toHaveReceivedCommand(UpdateRoutingControlStatesCommand);
  expect(p.clients.arc).not.toHaveReceivedCommand(UpdateRoutingControlStateCommand);
  expect(p.clients.route53).not.toHaveReceivedCommand(ChangeResourceRecordSetsCommand);
  expect(p.world.dns).toMatchObject({ primaryWeight: 100, recoveryWeight: 0 });
  expect(await mutatingCallsByRegion(p)).toEqual(exactly(MUTATIONS.fenceUnreachable)); // the fence's one attempt; a promotion, flip or scale-up would add to it
}

/** The approvals table's items as DynamoDB stores them (raw attributes: a missing attribute stays missing). */
async function approvalItems(p: FakePlatform): Promise<Array<Record<string, AttributeValue>>> {
  return p.tableItems(process.env.APPROVALS_TABLE!);
}

const platformFor = useFakePlatform();

describe('unfenced-promotion gate: silence never promotes', () => {
  it('fails with FenceUnconfirmed when nobody answers the unfenced-promotion gate: no promotion command, no flip', async () => {
    const plan = unfencedPlan();
    const p = platformFor(plan, UNREACHABLE_PRIMARY);

    const run = await runFailover(plan, p, sample('health-alarm.json')); // nobody clicks

    expect(outcome(run)).toEqual({ status: 'FAILED', error: 'FenceUnconfirmed', cause: expect.stringContaining('nobody approved promoting anyway before the timeout') });
    expect(run.gates.map((g) => g.state)).toEqual(['ApproveUnfencedPromotion']);
    expect(run.states).toEqual(expect.arrayContaining(['FenceUsWriters', 'CheckFence', 'ApproveUnfencedPromotion', 'UnfencedApprovalTimedOut', 'NotifyFailure']));
    expect(run.states).not.toContain('RecoverInParallel');
    expect(run.states).not.toContain('FlipTraffic');
    expect(p.clients.sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
    await expectNothingPromotedOrFlipped(p);
    expect(p.eventDetailTypes()).toEqual(['Failover Failed']);
  });

  it('aborts at the unfenced-promotion gate on timeout even when the plan says approval.onTimeout: proceed (that policy is for the failover gate only)', async () => {
    const plan = unfencedPlan((raw) => (raw.approval.onTimeout = 'proceed'));
    const p = platformFor(plan, UNREACHABLE_PRIMARY);

    const run = await runFailover(plan, p, sample('health-alarm.json'));

    expect(run.output).toBeUndefined();
    expect(outcome(run)).toEqual({ status: 'FAILED', error: 'FenceUnconfirmed', cause: expect.any(String) });
    expect(run.gates.map((g) => g.state)).toEqual(['ApproveUnfencedPromotion']);
    await expectNothingPromotedOrFlipped(p);
    // What the approvers were told, and what the table records for the expiry message: abort, not proceed.
    const [item] = await approvalItems(p);
    expect(item).toMatchObject({ gate: { S: 'unfenced-promotion' }, onTimeout: { S: 'abort' } });
    const request = p.slackMessages.find((m) => m.url === 'https://slack.com/api/chat.postMessage' && JSON.stringify(m.body).includes('NOT'));
    expect(JSON.stringify(request?.body.blocks)).toContain('→ abort');
    expect(JSON.stringify(request?.body.blocks)).not.toContain('→ proceed');
  });
});

describe('unfenced-promotion gate: a decided approval keeps no task token', () => {
  /** Runs to the unfenced gate and answers it with `answer` (or not), returning the run and the gate. */
  async function runAndAnswer(plan: Plan, p: FakePlatform, answer?: (gate: GateRequest) => Promise<void>) {
    let gate: GateRequest | undefined;
    const run = await runFailover(plan, p, sample('health-alarm.json'), {
      onGate: async (g) => {
        gate = g;
        await answer?.(g);
      },
    });
    return { run, gate: gate! };
  }

  /** The one approvals item, with its status; its task token must be gone (never kept after a decision). */
  async function expectTokenGone(p: FakePlatform, gate: GateRequest, status: string): Promise<void> {
    const items = await approvalItems(p);
    expect(items.map((i) => ({ approvalId: i.approvalId?.S, status: i.status?.S }))).toEqual([{ approvalId: gate.approvalId, status }]);
    expect(Object.keys(items[0]!)).not.toContain('taskToken');
    expect(JSON.stringify(items)).not.toContain(gate.payload.taskToken);
  }

  it('removes the stored task token when the unfenced promotion is approved in Slack', async () => {
    const plan = unfencedPlan((raw) => (raw.approval.timeoutSeconds = 600));
    const p = platformFor(plan, UNREACHABLE_PRIMARY);

    const { run, gate } = await runAndAnswer(plan, p, async (g) => {
      // While the gate waits, the token is stored (the Slack button carries only the approval id).
      expect((await approvalItems(p))[0]).toMatchObject({ status: { S: 'pending' }, taskToken: { S: g.payload.taskToken } });
      expect(await clickSlackButton(g, 'approve', APPROVER)).toMatchObject({ statusCode: 200 });
    });

    expect(outcome(run)).toEqual({ status: 'SUCCEEDED' });
    await expectTokenGone(p, gate, 'approved');
  });

  it('removes the stored task token when the unfenced promotion is rejected in Slack', async () => {
    const plan = unfencedPlan((raw) => (raw.approval.timeoutSeconds = 600));
    const p = platformFor(plan, UNREACHABLE_PRIMARY);

    const { run, gate } = await runAndAnswer(plan, p, async (g) => {
      expect(await clickSlackButton(g, 'reject', APPROVER)).toMatchObject({ statusCode: 200 });
    });

    expect(outcome(run)).toEqual({ status: 'FAILED', error: 'ApprovalRejected', cause: expect.any(String) });
    await expectNothingPromotedOrFlipped(p);
    await expectTokenGone(p, gate, 'rejected');
  });

  it('removes the stored task token when a late click finds the approval expired', async () => {
    const plan = unfencedPlan();
    const p = platformFor(plan, UNREACHABLE_PRIMARY);

    const { run, gate } = await runAndAnswer(plan, p);
    expect(outcome(run)).toMatchObject({ status: 'FAILED', error: 'FenceUnconfirmed' });
    // The gate timed out (1 s); the click comes after it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await clickSlackButton(gate, 'approve', APPROVER)).toMatchObject({ statusCode: 200 });

    expect(p.clients.sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
    await expectNothingPromotedOrFlipped(p);
    await expectTokenGone(p, gate, 'expired');
  });
});
