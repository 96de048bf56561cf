/**
 * Runs the real statemachines/failover.asl.json (rendered exactly as packaging renders it) with
 * aws-local-stepfunctions, every Task bound by state name to its real handler. The approval gates
 * (`lambda:invoke.waitForTaskToken`) call the real request-approval handler and then wait for the
 * task token to be settled by SendTaskSuccess / SendTaskFailure, which the real Slack callback sends.
 */
import { createHmac } from 'node:crypto';
import { StateMachine } from 'aws-local-stepfunctions';
import { handler as acceptStartRequest } from '../../functions/accept-start-request';
import { handler as confirmRegionFailure } from '../../functions/confirm-region-failure';
import { handler as fenceUsWriters } from '../../functions/fence-us-writers';
import { handler as flipTraffic } from '../../functions/flip-traffic';
import { handler as notify } from '../../functions/notify';
import type { Plan } from '../../functions/core/plan';
import { handler as promoteEuDatabase } from '../../functions/promote-eu-database';
import { handler as requestApproval } from '../../functions/request-approval';
import { handler as scaleEuCompute } from '../../functions/scale-eu-compute';
import { handler as slackCallback } from '../../functions/slack-callback';
import { handler as smokeTest } from '../../functions/smoke-test';
import { renderFailoverDefinition } from '../../scripts/lib/definitions';
import { SIGNING_SECRET, type FakePlatform } from './fake-platform';

export const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:111122223333:stateMachine:failover-orchestrator-test-failover';

/** Lambda state name → real handler. */
const TASKS: Record<string, (input: any) => Promise<unknown>> = {
  AcceptStartRequest: acceptStartRequest,
  ConfirmRegionFailure: confirmRegionFailure,
  FenceUsWriters: fenceUsWriters,
  PromoteEuDatabase: promoteEuDatabase,
  ScaleEuService: scaleEuCompute,
  FlipTrafficToEu: flipTraffic,
  SmokeTestEu: smokeTest,
  NotifySuccess: notify,
  NotifyNoFailover: notify,
  NotifyFailure: notify,
};
const GATES = ['RequestFailoverApproval', 'ApproveUnfencedPromotion'];

export function renderLocalDefinition(plan: Plan): Record<string, any> {
  return renderFailoverDefinition(plan, (key) => `arn:aws:lambda:eu-west-1:111122223333:function:failover-orchestrator-test-${key}`);
}

export interface GateRequest {
  state: string;
  approvalId: string;
  payload: { taskToken: string; gate: string; [k: string]: unknown };
}

export interface RunResult {
  status: 'SUCCEEDED' | 'FAILED';
  output?: any;
  error?: string;
  cause?: string;
  /** States entered, in order (Map and Parallel iterations included). */
  states: string[];
  gates: GateRequest[];
}

let executionSeq = 0;

/**
 * Runs one execution. `onGate` is called after the real request-approval handler ran, with what it
 * was given; the test answers (or not) through the platform's Slack callback.
 */
export async function runFailover(
  plan: Plan,
  platform: FakePlatform,
  input: unknown,
  options: { onGate?: (gate: GateRequest) => Promise<void> | void } = {},
): Promise<RunResult> {
  const definition = renderLocalDefinition(plan);
  const machine = new StateMachine(definition as never, { validationOptions: { checkArn: true, checkPaths: true } });
  executionSeq += 1;
  const name = `test-${executionSeq}-${Date.now()}`;
  const executionArn = `arn:aws:states:eu-west-1:111122223333:execution:failover-orchestrator-test-failover:${name}`;
  const gates: GateRequest[] = [];
  let tokenSeq = 0;

  const taskHandlers: Record<string, (input: any) => Promise<unknown>> = { ...TASKS };
  for (const state of GATES) {
    taskHandlers[state] = async (invoke: { FunctionName: string; Payload: GateRequest['payload'] }) => {
      // Step Functions issues a fresh token per attempt; the context supplies one per run, so make it unique here.
      const payload = { ...invoke.Payload, taskToken: `${invoke.Payload.taskToken}-${state}-${++tokenSeq}` };
      const settled = platform.tokens.wait(payload.taskToken);
      const posted = (await requestApproval(payload)) as { approvalId: string };
      const gate = { state, payload, approvalId: posted.approvalId };
      gates.push(gate);
      await options.onGate?.(gate);
      try {
        return await settled;
      } finally {
        platform.tokens.expire(payload.taskToken);
      }
    };
  }

  const retryIntervalOverrides: Record<string, number> = {};
  for (const state of [...Object.keys(TASKS), ...GATES]) retryIntervalOverrides[state] = 0;
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: taskHandlers,
      waitTimeOverrides: { WaitForPromotion: 5, WaitForSteadyState: 5, WaitForDnsSync: 5 },
      retryIntervalOverrides,
    },
    context: {
      Execution: { Id: executionArn, Name: name },
      StateMachine: { Id: STATE_MACHINE_ARN, Name: 'failover-orchestrator-test-failover' },
      Task: { Token: 'AQCEAAAAKgAAAAMAAAAAAAAAAtaskToken' },
    },
  } as never);

  const states: string[] = [];
  const collecting = (async () => {
    for await (const event of execution.eventLogs as AsyncIterable<{ type: string; state?: { name: string } }>) {
      if (event.type === 'StateEntered' && event.state) states.push(event.state.name);
    }
  })();
  try {
    const output = await execution.result;
    await collecting;
    return { status: 'SUCCEEDED', output, states, gates };
  } catch (error) {
    await collecting.catch(() => undefined);
    const cause = (error as { cause?: Error }).cause ?? (error as Error);
    return { status: 'FAILED', error: cause.name, cause: cause.message, states, gates };
  }
}

/** Clicks a Slack button as `userId`: a correctly signed interactivity request to the real callback. */
export async function clickSlackButton(gate: GateRequest, action: 'approve' | 'reject', userId: string, signingSecret = SIGNING_SECRET) {
  const { approvalId } = gate;
  const payload = {
    type: 'block_actions',
    user: { id: userId, username: `user-${userId}` },
    response_url: 'https://hooks.slack.com/actions/T000/1/abc',
    actions: [{ action_id: action === 'approve' ? 'failover_approve' : 'failover_reject', value: approvalId }],
    message: { blocks: [] },
  };
  const rawBody = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`;
  return slackCallback({
    version: '2.0',
    routeKey: 'POST /slack/interactions',
    rawPath: '/slack/interactions',
    rawQueryString: '',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': timestamp, 'x-slack-signature': signature },
    requestContext: {} as never,
    body: rawBody,
    isBase64Encoded: false,
  });
}
