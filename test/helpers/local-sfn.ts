/**
 * Runs the real statemachines/failover.asl.json (rendered exactly as packaging renders it) with
 * aws-local-stepfunctions, every Task bound by state name to its real handler. The approval gates
 * (`lambda:invoke.waitForTaskToken`) call the real request-approval handler and then wait for the
 * task token to be settled by SendTaskSuccess / SendTaskFailure, which the real Slack callback sends.
 */
import { signedClick } from '../../local/slack-click';
import { LocalOrchestrator, type GateRequest } from '../../local/state-machine';
import { handler as slackCallback } from '../../functions/slack-callback';
import type { Plan } from '../../functions/core/plan';
import { renderFailoverDefinition } from '../../scripts/lib/definitions';
import { SIGNING_SECRET, type FakePlatform } from './fake-platform';

export type { GateRequest };
export const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:111122223333:stateMachine:failover-orchestrator-test-failover';

export function renderLocalDefinition(plan: Plan): Record<string, any> {
  return renderFailoverDefinition(plan, (key) => `arn:aws:lambda:eu-west-1:111122223333:function:failover-orchestrator-test-${key}`);
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

/**
 * Runs one execution of the real definition with the real handlers (local/state-machine.ts), waits
 * and retry pauses shortened. `onGate` is called after the real request-approval handler ran; the
 * test answers (or not) through the real Slack callback.
 */
export async function runFailover(plan: Plan, platform: FakePlatform, input: unknown, options: { onGate?: (gate: GateRequest) => Promise<void> | void } = {}): Promise<RunResult> {
  const orchestrator = new LocalOrchestrator({
    definition: renderLocalDefinition(plan),
    stateMachineArn: STATE_MACHINE_ARN,
    tokens: platform.tokens,
    waitMs: 5,
    retryMs: 0,
    onGate: (gate) => options.onGate?.(gate),
  });
  const { done } = orchestrator.start(input);
  const execution = await done;
  const states = execution.events.filter((e) => e.type === 'StateEntered' && e.state).map((e) => e.state!);
  return execution.status === 'SUCCEEDED'
    ? { status: 'SUCCEEDED', output: execution.output, states, gates: execution.gates }
    : { status: 'FAILED', error: execution.error, cause: execution.cause, states, gates: execution.gates };
}

/** Clicks a Slack button as `userId`: a correctly signed interactivity request to the real callback. */
export async function clickSlackButton(gate: GateRequest, action: 'approve' | 'reject', userId: string, signingSecret = SIGNING_SECRET) {
  const { rawBody, headers } = signedClick({
    approvalId: gate.approvalId,
    action,
    userId,
    username: `user-${userId}`,
    responseUrl: 'https://hooks.slack.com/actions/T000/1/abc',
    signingSecret,
  });
  return slackCallback({
    version: '2.0',
    routeKey: 'POST /slack/interactions',
    rawPath: '/slack/interactions',
    rawQueryString: '',
    headers,
    requestContext: {} as never,
    body: rawBody,
    isBase64Encoded: false,
  });
}
