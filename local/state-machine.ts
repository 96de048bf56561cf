/**
 * Runs the real failover state machine locally (aws-local-stepfunctions) with every Task bound by
 * state name to its real handler — the same code that deploys to AWS. Used by the lab and by the
 * state machine tests.
 *
 * The approval gates (`lambda:invoke.waitForTaskToken`) call the real request-approval handler,
 * then wait until SendTaskSuccess / SendTaskFailure settles their task token (`TaskTokens`), which
 * is what the Slack callback sends through the (simulated or mocked) Step Functions API.
 * Executions are recorded (status, events with timestamps) so ListExecutions / DescribeExecution
 * can be answered and stage timings measured.
 */
import { StateMachine } from 'aws-local-stepfunctions';
import './polyfills';
import { handler as acceptStartRequest } from '../functions/accept-start-request';
import { handler as confirmRegionFailure } from '../functions/confirm-region-failure';
import { handler as fenceUsWriters } from '../functions/fence-us-writers';
import { handler as flipTraffic } from '../functions/flip-traffic';
import { handler as notify } from '../functions/notify';
import { handler as promoteEuDatabase } from '../functions/promote-eu-database';
import { handler as requestApproval } from '../functions/request-approval';
import { handler as scaleEuCompute } from '../functions/scale-eu-compute';
import { handler as smokeTest } from '../functions/smoke-test';

type TaskOutcome = { ok: true; output: unknown } | { ok: false; error: string; cause: string };

/** A modelled Step Functions error for SendTask* on a token nobody waits for. */
export class TaskTokenError extends Error {
  constructor(name: 'TaskTimedOut' | 'TaskDoesNotExist' | 'InvalidToken', message: string) {
    super(message);
    this.name = name;
  }
}

/**
 * Task tokens the state machine is waiting on, settled by SendTaskSuccess / SendTaskFailure.
 * Like Step Functions (https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html):
 * a token that was issued but is no longer waited on (timed out, already used) fails with
 * TaskTimedOut; a token that was never issued fails with InvalidToken.
 */
export class TaskTokens {
  private waiting = new Map<string, (outcome: TaskOutcome) => void>();
  private readonly issued = new Set<string>();

  wait(token: string): Promise<unknown> {
    this.issued.add(token);
    return new Promise((resolve, reject) => {
      this.waiting.set(token, (outcome) => {
        if (outcome.ok) resolve(outcome.output);
        else reject(Object.assign(new Error(outcome.cause), { name: outcome.error }));
      });
    });
  }

  settle(token: string, outcome: TaskOutcome): void {
    const resolve = this.waiting.get(token);
    if (!resolve) {
      if (this.issued.has(token)) throw new TaskTokenError('TaskTimedOut', 'Task Timed Out');
      throw new TaskTokenError('InvalidToken', `Invalid Token: '${token.slice(0, 40)}'`);
    }
    this.waiting.delete(token);
    resolve(outcome);
  }

  /** The gate is over (timed out or settled): a later SendTask* must fail. */
  expire(token: string): void {
    this.waiting.delete(token);
  }
}

/** Lambda state name → real handler. */
export const TASK_HANDLERS: Record<string, (input: unknown) => Promise<unknown>> = {
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
export const GATE_STATES = ['RequestFailoverApproval', 'ApproveUnfencedPromotion'];
export const WAIT_STATES = ['WaitForPromotion', 'WaitForSteadyState', 'WaitForDnsSync'];

export interface GateRequest {
  state: string;
  approvalId: string;
  payload: { taskToken: string; gate: string; [k: string]: unknown };
}

export interface ExecutionEvent {
  type: string;
  state?: string;
  stateType?: string;
  /** ms since epoch */
  at: number;
  /** Inside a Map iteration or Parallel branch (not a top-level state). */
  nested: boolean;
  /** The state's (or execution's) input and output, and a failure's error and cause, as the runner reported them. */
  input?: unknown;
  output?: unknown;
  error?: string;
  cause?: unknown;
}

export interface ExecutionRecord {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  input: unknown;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  startDate: Date;
  stopDate?: Date;
  // biome-ignore lint/suspicious/noExplicitAny: the execution's output is whatever the ASL produced; its readers (the drill report) pick fields
  output?: any;
  error?: string;
  cause?: string;
  events: ExecutionEvent[];
  gates: GateRequest[];
}

/** An event of aws-local-stepfunctions' event log (the fields the lab keeps). */
interface RawEvent {
  type: string;
  timestamp: number;
  state?: { name: string; type: string; input?: unknown; output?: unknown };
  index?: number;
  parentState?: unknown;
  input?: unknown;
  output?: unknown;
  Error?: string;
  Cause?: unknown;
}

function eventData(raw: RawEvent): Pick<ExecutionEvent, 'input' | 'output' | 'error' | 'cause'> {
  const out: Pick<ExecutionEvent, 'input' | 'output' | 'error' | 'cause'> = {};
  const input = raw.state?.input ?? raw.input;
  const output = raw.state?.output ?? raw.output;
  if (input !== undefined && raw.type !== 'StateExited') out.input = input;
  if (output !== undefined) out.output = output;
  if (raw.Error !== undefined) out.error = raw.Error;
  if (raw.Cause !== undefined) out.cause = raw.Cause;
  return out;
}

export interface OrchestratorOptions {
  definition: Record<string, unknown>;
  stateMachineArn: string;
  tokens: TaskTokens;
  /** Override of the Wait states' duration (ms): lab-sized polling, or 0-ish in tests. */
  waitMs?: number;
  /** Override of Retry pauses (ms). Leave undefined to keep the definition's backoff. */
  retryMs?: number;
  /** Called after the real request-approval handler ran for a gate. */
  onGate?: (gate: GateRequest, execution: ExecutionRecord) => Promise<void> | void;
  /** Called for every execution event (stage progress). */
  onEvent?: (event: ExecutionEvent, execution: ExecutionRecord) => void;
}

export class LocalOrchestrator {
  readonly executions: ExecutionRecord[] = [];
  private readonly machine: StateMachine;
  private seq = 0;

  constructor(private readonly options: OrchestratorOptions) {
    this.machine = new StateMachine(options.definition as never, { validationOptions: { checkArn: true, checkPaths: true } });
  }

  /** The state machine this orchestrator runs (ListStateMachines / StartExecution answer for it). */
  get stateMachineArn(): string {
    return this.options.stateMachineArn;
  }

  /** Starts an execution; `done` resolves when it has ended (never rejects). */
  start(input: unknown, name?: string): { execution: ExecutionRecord; done: Promise<ExecutionRecord> } {
    this.seq += 1;
    const execName = name ?? `lab-${Date.now()}-${this.seq}`;
    const smName = this.options.stateMachineArn.split(':').pop() ?? this.options.stateMachineArn;
    const arnPrefix = this.options.stateMachineArn.replace(':stateMachine:', ':execution:');
    const execution: ExecutionRecord = {
      executionArn: `${arnPrefix}:${execName}`,
      stateMachineArn: this.options.stateMachineArn,
      name: execName,
      input,
      status: 'RUNNING',
      startDate: new Date(),
      events: [],
      gates: [],
    };
    this.executions.push(execution);

    let tokenSeq = 0;
    const taskHandlers: Record<string, (input: unknown) => Promise<unknown>> = { ...TASK_HANDLERS };
    for (const state of GATE_STATES) {
      taskHandlers[state] = async (input: unknown) => {
        // What the gate state's Parameters give `lambda:invoke.waitForTaskToken` (statemachines/failover.asl.json).
        const invoke = input as { FunctionName: string; Payload: GateRequest['payload'] };
        // Step Functions issues a fresh token per attempt; the local context has one per run, so make it unique.
        const payload = { ...invoke.Payload, taskToken: `${invoke.Payload.taskToken}-${state}-${++tokenSeq}` };
        const settled = this.options.tokens.wait(payload.taskToken);
        settled.catch(() => undefined);
        try {
          const posted = (await requestApproval(payload)) as { approvalId: string };
          const gate: GateRequest = { state, payload, approvalId: posted.approvalId };
          execution.gates.push(gate);
          await this.options.onGate?.(gate, execution);
          return await settled;
        } finally {
          this.options.tokens.expire(payload.taskToken);
        }
      };
    }
    const retryIntervalOverrides: Record<string, number> = {};
    if (this.options.retryMs !== undefined) for (const state of [...Object.keys(TASK_HANDLERS), ...GATE_STATES]) retryIntervalOverrides[state] = this.options.retryMs;
    const waitTimeOverrides: Record<string, number> = {};
    if (this.options.waitMs !== undefined) for (const state of WAIT_STATES) waitTimeOverrides[state] = this.options.waitMs;

    const run = this.machine.run(
      input as never,
      {
        overrides: { taskResourceLocalHandlers: taskHandlers, waitTimeOverrides, retryIntervalOverrides },
        context: {
          Execution: { Id: execution.executionArn, Name: execName },
          StateMachine: { Id: this.options.stateMachineArn, Name: smName },
          Task: { Token: `AQCEAAAAKgAAAAMAAAAAAAAAA${execName}` },
        },
      } as never,
    );

    const topLevel = this.options.definition.States as Record<string, unknown>;
    const collecting = (async () => {
      for await (const raw of run.eventLogs as AsyncIterable<RawEvent>) {
        const nested = raw.state ? !(raw.state.name in topLevel) : raw.parentState !== undefined;
        const event: ExecutionEvent = { type: raw.type, state: raw.state?.name, stateType: raw.state?.type, at: raw.timestamp ?? Date.now(), nested, ...eventData(raw) };
        execution.events.push(event);
        this.options.onEvent?.(event, execution);
      }
    })();

    const done = (async () => {
      try {
        execution.output = await run.result;
        execution.status = 'SUCCEEDED';
      } catch (error) {
        const cause = (error as { cause?: Error }).cause ?? (error as Error);
        execution.status = 'FAILED';
        execution.error = cause.name;
        execution.cause = cause.message;
      }
      execution.stopDate = new Date();
      await collecting.catch(() => undefined);
      return execution;
    })();
    return { execution, done };
  }
}
