import type { ReconcileInput, ResourceStep, StartResult } from '../../functions/core/contract';
import type { Plan } from '../../functions/core/plan';
import type { StageContext } from '../../functions/core/stage';
import { startFixture } from './fixtures';
import { examplePlan } from './plan';

/** The wall clock every unit test sees (five minutes after `startFixture().startedAt`). */
export const NOW = new Date('2025-03-04T10:05:00.000Z');

/** A stage context with a fixed clock and no real sleeping. */
export function stageContext(now: Date = NOW): StageContext & { sleep: jest.Mock<Promise<void>, [number]> } {
  return { now: () => now, sleep: jest.fn(async (_ms: number) => {}) };
}

/** The previous poll of a reconcile loop: a mutating call made a minute ago, deadline still ahead. */
export function previousStep(overrides: Partial<ResourceStep> = {}): ResourceStep {
  return {
    resource: 'ledger',
    kind: 'aurora-global',
    done: false,
    phase: 'started',
    detail: 'mutating call made',
    mutated: true,
    startedAt: '2025-03-04T10:04:00.000Z',
    deadline: '2025-03-04T10:14:00.000Z',
    ...overrides,
  };
}

/** One Map iteration's input for a plan resource picked by `pick`. */
export function reconcileInput<R>(pick: (plan: Plan) => R, options: { mode?: StartResult['mode']; previous?: ResourceStep; plan?: Plan } = {}): ReconcileInput<R> {
  const plan = options.plan ?? examplePlan();
  const start = startFixture(options.mode ? { mode: options.mode, ...(options.mode === 'failover' ? {} : { trigger: 'manual' as const }) } : {});
  return { resource: pick(plan), plan, start, ...(options.previous ? { previous: options.previous } : {}) };
}

/** The URL of a fetch call, whatever form it was given in. */
export function urlOf(input: Parameters<typeof fetch>[0]): string {
  if (typeof input === 'string') return input;
  if (input instanceof URL) return input.href;
  return input.url;
}

/** Routes `fetch` by URL to `respond`; returns the spy (restore it with jest.restoreAllMocks). */
export function mockFetch(respond: (url: string, init?: RequestInit) => Response | Promise<Response>): jest.SpiedFunction<typeof fetch> {
  return jest.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => respond(urlOf(input), init));
}

/** What `fetch` throws when a host does not answer (undici's shape). */
export function networkError(code = 'ECONNREFUSED'): TypeError {
  return new TypeError('fetch failed', { cause: Object.assign(new Error(`connect ${code} 10.0.0.1:443`), { code }) });
}

/** The region a mocked SDK client instance was created for (aws-sdk-client-mock records the instance as `thisValue`). */
export async function regionOf(call: { thisValue: unknown }): Promise<string> {
  const config = (call.thisValue as { config: { region: () => Promise<string> } }).config;
  return config.region();
}
