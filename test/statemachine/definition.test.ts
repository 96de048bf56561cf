/**
 * Structural rules every state machine definition must keep, checked on the definition exactly as
 * packaging renders it: valid ASL, transitions inside their own scope, and on every Task a timeout,
 * the standard Lambda retry, and a Catch that reaches the failure notification.
 */
import aslValidator from 'asl-validator';
import { ERROR_NAMES } from '../../functions/core/errors';
import { renderLocalDefinition } from '../helpers/local-sfn';
import { examplePlan } from '../helpers/plan';

type State = Record<string, any>;
type Scope = { path: string; states: Record<string, State>; topLevel: boolean };

const definition = renderLocalDefinition(examplePlan());
const LAMBDA_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.ClientExecutionTimeoutException',
];

function scopes(states: Record<string, State>, path = 'States', topLevel = true): Scope[] {
  const out: Scope[] = [{ path, states, topLevel }];
  for (const [name, state] of Object.entries(states)) {
    if (state.Type === 'Parallel') {
      for (const [i, b] of (state.Branches as State[]).entries()) out.push(...scopes(b.States, `${path}.${name}.Branches[${i}]`, false));
    }
    if (state.Type === 'Map') out.push(...scopes((state.ItemProcessor ?? state.Iterator).States, `${path}.${name}.ItemProcessor`, false));
  }
  return out;
}
const all = scopes(definition.States);
const tasks = all.flatMap((scope) =>
  Object.entries(scope.states)
    .filter(([, s]) => s.Type === 'Task')
    .map(([name, state]) => ({ name, state, scope })),
);

describe('failover.asl.json', () => {
  it('is valid Amazon States Language', () => {
    const result = aslValidator(definition as never);
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it.each(all.map((s) => [s.path, s] as const))('keeps every transition of %s inside its own scope', (_path, scope) => {
    for (const [name, state] of Object.entries(scope.states)) {
      const targets = [state.Next, state.Default, ...(state.Choices ?? []).map((c: State) => c.Next), ...(state.Catch ?? []).map((c: State) => c.Next)].filter(Boolean);
      for (const target of targets) expect({ state: name, target, found: target in scope.states }).toEqual({ state: name, target, found: true });
    }
  });

  it('has Tasks', () => {
    expect(tasks.length).toBeGreaterThanOrEqual(10);
  });

  it.each(tasks.map((t) => [t.name, t] as const))('gives Task %s a timeout, the standard Lambda retry with backoff and jitter, and a Catch', (name, { state, scope }) => {
    expect(state.TimeoutSeconds).toEqual(expect.any(Number));
    expect(state.TimeoutSeconds).toBeGreaterThan(0);
    const lambdaRetry = state.Retry.find((r: State) => LAMBDA_ERRORS.every((e) => r.ErrorEquals.includes(e)));
    expect(lambdaRetry).toMatchObject({ BackoffRate: expect.any(Number), MaxAttempts: expect.any(Number), JitterStrategy: 'FULL' });
    const catchAll = state.Catch.find((c: State) => c.ErrorEquals.includes('States.ALL'));
    expect(catchAll).toBeDefined();
    if (scope.topLevel) {
      // The failure notification ends the run; a failed success notification must not turn a completed failover into a failed one.
      const expected = name === 'NotifyFailure' ? 'FailoverFailed' : name === 'NotifySuccess' ? 'SuccessNotificationFailed' : 'NotifyFailure';
      expect(catchAll.Next).toBe(expected);
      expect(catchAll.ResultPath).toMatch(/^\$\.\w+$/); // keeps the input
    } else {
      // Inside a Map or Parallel: a Fail state that keeps the error name, caught by the enclosing state.
      expect(scope.states[catchAll.Next]).toMatchObject({ Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' });
    }
  });

  it('catches every top-level Map and Parallel into the failure notification', () => {
    const containers = Object.entries(definition.States as Record<string, State>).filter(([, s]) => s.Type === 'Map' || s.Type === 'Parallel');
    expect(containers.map(([n]) => n)).toEqual(['RecoverInParallel']);
    for (const [, s] of containers) expect(s.Catch).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'NotifyFailure', ResultPath: '$.error' })]);
  });

  it('flips traffic once the databases are promoted, without waiting for scale-up, and lets a late scale-up go on as reduced capacity', () => {
    const [promoteThenFlip, scale] = definition.States.RecoverInParallel.Branches as Array<{ StartAt: string; States: Record<string, State> }>;
    expect(promoteThenFlip!.StartAt).toBe('PromoteEuDatabases');
    expect(promoteThenFlip!.States.PromoteEuDatabases!.Next).toBe('FlipTraffic');
    expect(scale!.States.ScaleEuCompute!.Catch).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'ScaleIncomplete' })]);
    expect(definition.States.SuccessNotificationFailed.Next).toBe('FailoverSucceeded');
  });

  it('matches only error names that exist (States.*, Lambda.*, or functions/core/errors.ts)', () => {
    const names = tasks.flatMap((t) => [...t.state.Retry, ...t.state.Catch].flatMap((r: State) => r.ErrorEquals as string[]));
    const unknown = names.filter((n) => !n.startsWith('States.') && !n.startsWith('Lambda.') && !(ERROR_NAMES as readonly string[]).includes(n));
    expect(unknown).toEqual([]);
  });

  it('has approval gates only as waitForTaskToken Tasks with a timeout from the plan', () => {
    const gates = tasks.filter((t) => t.state.Resource.endsWith('.waitForTaskToken'));
    expect(gates.map((g) => g.name)).toEqual(['RequestFailoverApproval', 'ApproveUnfencedPromotion']);
    for (const g of gates) {
      expect(g.state.TimeoutSeconds).toBe(examplePlan().approval.timeoutSeconds);
      expect(g.state.Parameters.Payload['taskToken.$']).toBe('$$.Task.Token');
      expect(g.state.Catch[0]).toMatchObject({ ErrorEquals: ['States.Timeout'] });
    }
  });

  it('carries the validated plan in LoadPlan so the executed plan is in the execution history', () => {
    expect(definition.States.LoadPlan.Parameters.plan).toEqual(examplePlan());
  });
});
