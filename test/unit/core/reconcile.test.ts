/**
 * The reconcile loop behind promote, scale and flip (functions/core/reconcile.ts), driven directly
 * with a hand-written adapter: each test says what the resource looks like (the observation) and
 * checks what the loop did with it (act or not) and what step it returned for the next poll.
 */
import type { ReconcileInput, ResourceStep, StartResult } from '../../../functions/core/contract';
import { PromotionDeadlineExceededError, type FailoverError } from '../../../functions/core/errors';
import { reconcile, type ActResult, type AdapterContext, type Observation, type ReconcileAdapter, type ReconcileOptions } from '../../../functions/core/reconcile';
import { startFixture } from '../../helpers/fixtures';
import { examplePlan } from '../../helpers/plan';
import { NOW, previousStep, stageContext } from '../../helpers/stage';

interface FakeResource {
  name: string;
  kind: string;
}

const resource: FakeResource = { name: 'ledger', kind: 'aurora-global' };
const plan = examplePlan();

/** An adapter that reports `observation` and records every call it gets. */
class FakeAdapter implements ReconcileAdapter<FakeResource> {
  readonly observed: AdapterContext[] = [];
  readonly acted: { ctx: AdapterContext; observation: Observation }[] = [];
  readonly described: AdapterContext[] = [];

  constructor(
    private readonly observation: Observation,
    private readonly actResult: ActResult = { detail: 'promotion requested', ref: 'change-1' },
  ) {}

  async observe(_resource: FakeResource, ctx: AdapterContext): Promise<Observation> {
    this.observed.push(ctx);
    return this.observation;
  }

  async act(_resource: FakeResource, ctx: AdapterContext, observation: Observation): Promise<ActResult> {
    this.acted.push({ ctx, observation });
    return this.actResult;
  }

  describeAction(_resource: FakeResource, ctx: AdapterContext): string {
    this.described.push(ctx);
    return 'would promote ledger in eu-west-1';
  }
}

const done: Observation = { done: true, inProgress: false, phase: 'available', detail: 'writer in eu-west-1' };
const notStarted: Observation = { done: false, inProgress: false, phase: 'replicating', detail: 'secondary still read-only' };
const inProgress: Observation = { done: false, inProgress: true, phase: 'promoting', detail: 'failover under way', ref: 'change-1' };
const waiting: Observation = { done: false, inProgress: false, waiting: true, phase: 'catching-up', detail: 'replica 3 s behind', ref: 'wait-1' };

const options: ReconcileOptions = {
  timeoutSeconds: 600,
  deadlineError: (message, step) => Object.assign(new PromotionDeadlineExceededError(message), { step }),
};

function input(overrides: { mode?: StartResult['mode']; previous?: ResourceStep; fencedAt?: string } = {}): ReconcileInput<FakeResource> {
  const start = startFixture(overrides.mode ? { mode: overrides.mode, trigger: 'manual' } : {});
  return {
    resource,
    plan,
    start,
    ...(overrides.previous ? { previous: overrides.previous } : {}),
    ...(overrides.fencedAt ? { fencedAt: overrides.fencedAt } : {}),
  };
}

describe('reconcile', () => {
  it('returns done without acting when the first observation already shows the resource where the stage wants it, and says nothing was mutated', async () => {
    const adapter = new FakeAdapter(done);

    const step = await reconcile(adapter, input(), stageContext(), options);

    expect(adapter.acted).toHaveLength(0);
    expect(step).toMatchObject({
      resource: 'ledger',
      kind: 'aurora-global',
      done: true,
      mutated: false,
      phase: 'available',
      detail: 'writer in eu-west-1',
      startedAt: NOW.toISOString(),
      deadline: '2025-03-04T10:15:00.000Z',
      finishedAt: NOW.toISOString(),
    });
  });

  it('never calls act in a drill and reports what it would have done, so a drill cannot change anything', async () => {
    const adapter = new FakeAdapter(notStarted);

    const step = await reconcile(adapter, input({ mode: 'drill' }), stageContext(), options);

    expect(adapter.acted).toHaveLength(0);
    expect(adapter.described).toHaveLength(1);
    expect(step).toMatchObject({ done: true, phase: 'drill', mutated: false, wouldDo: 'would promote ledger in eu-west-1', detail: 'secondary still read-only' });
  });

  it('reports "nothing" in a drill when the resource is already done, instead of describing an action that is not needed', async () => {
    const adapter = new FakeAdapter(done);

    const step = await reconcile(adapter, input({ mode: 'drill' }), stageContext(), options);

    expect(adapter.acted).toHaveLength(0);
    expect(adapter.described).toHaveLength(0);
    expect(step).toMatchObject({ done: true, phase: 'drill', mutated: false, wouldDo: 'nothing: writer in eu-west-1' });
  });

  it('does not act while a change is in progress, so a retried poll never issues the mutating call twice, and carries the change ref to the next poll', async () => {
    const adapter = new FakeAdapter(inProgress);

    const step = await reconcile(adapter, input({ previous: previousStep() }), stageContext(), options);

    expect(adapter.acted).toHaveLength(0);
    expect(step).toMatchObject({ done: false, phase: 'promoting', detail: 'failover under way', ref: 'change-1', mutated: true });
  });

  it('does not act while the adapter says to wait (a replica catching up), and carries its ref', async () => {
    const adapter = new FakeAdapter(waiting);

    const step = await reconcile(adapter, input(), stageContext(), options);

    expect(adapter.acted).toHaveLength(0);
    expect(step).toMatchObject({ done: false, phase: 'catching-up', ref: 'wait-1', mutated: false });
  });

  it('calls act exactly once when the resource is neither done nor changing, and returns mutated with the act ref and detail', async () => {
    const adapter = new FakeAdapter(notStarted, { detail: 'FailoverGlobalCluster called', ref: 'arn:change-42' });

    const step = await reconcile(adapter, input(), stageContext(), options);

    expect(adapter.acted).toHaveLength(1);
    expect(adapter.acted[0]!.observation).toBe(notStarted);
    expect(step).toMatchObject({ done: false, phase: 'started', detail: 'FailoverGlobalCluster called', mutated: true, ref: 'arn:change-42' });
    expect(step.finishedAt).toBeUndefined();
  });

  it('keeps mutated true and the first startedAt and deadline on a later poll, so the deadline does not slide with each poll', async () => {
    const previous = previousStep({ startedAt: '2025-03-04T10:01:00.000Z', deadline: '2025-03-04T10:11:00.000Z' });
    const adapter = new FakeAdapter(inProgress);

    const polled = await reconcile(adapter, input({ previous }), stageContext(), options);
    const finished = await reconcile(new FakeAdapter(done), input({ previous: polled }), stageContext(), options);

    expect(polled).toMatchObject({ mutated: true, startedAt: '2025-03-04T10:01:00.000Z', deadline: '2025-03-04T10:11:00.000Z' });
    expect(finished).toMatchObject({ done: true, mutated: true, startedAt: '2025-03-04T10:01:00.000Z', deadline: '2025-03-04T10:11:00.000Z' });
  });

  it('throws the named deadline error with the pending step once the deadline has passed and the resource is still not done, without acting', async () => {
    const previous = previousStep({ startedAt: '2025-03-04T09:50:00.000Z', deadline: '2025-03-04T10:00:00.000Z' });
    const adapter = new FakeAdapter(notStarted);

    const error = (await reconcile(adapter, input({ previous }), stageContext(), options).catch((e: unknown) => e)) as FailoverError & { step: ResourceStep };

    expect(error).toBeInstanceOf(PromotionDeadlineExceededError);
    expect(error.message).toBe('aurora-global ledger not done by 2025-03-04T10:00:00.000Z (replicating: secondary still read-only)');
    expect(error.step).toMatchObject({ done: false, phase: 'replicating', mutated: true, deadline: '2025-03-04T10:00:00.000Z' });
    expect(adapter.acted).toHaveLength(0);
  });

  it('returns done even past the deadline when the resource got there, because a late success is still a success', async () => {
    const previous = previousStep({ deadline: '2025-03-04T10:00:00.000Z' });

    const step = await reconcile(new FakeAdapter(done), input({ previous }), stageContext(), options);

    expect(step).toMatchObject({ done: true, mutated: true });
  });

  describe('lagSecondsAtPromotion (the data-loss estimate)', () => {
    it('follows the observed lag while nothing has been mutated yet (waiting for a replica to catch up)', async () => {
      const previous = previousStep({ mutated: false, phase: 'catching-up', lagSecondsAtPromotion: 9 });

      const step = await reconcile(new FakeAdapter({ ...waiting, lagSeconds: 3 }), input({ previous }), stageContext(), options);

      expect(step.lagSecondsAtPromotion).toBe(3);
    });

    it('records the lag observed at the mutating call', async () => {
      const step = await reconcile(new FakeAdapter({ ...notStarted, lagSeconds: 4 }), input(), stageContext(), options);

      expect(step).toMatchObject({ mutated: true, lagSecondsAtPromotion: 4 });
    });

    it('keeps the value recorded at the mutating call on later polls, whatever the lag reads afterwards', async () => {
      const previous = previousStep({ mutated: true, lagSecondsAtPromotion: 4 });

      const polled = await reconcile(new FakeAdapter({ ...inProgress, lagSeconds: 0 }), input({ previous }), stageContext(), options);
      const finished = await reconcile(new FakeAdapter({ ...done, lagSeconds: null }), input({ previous: polled }), stageContext(), options);

      expect(polled.lagSecondsAtPromotion).toBe(4);
      expect(finished.lagSecondsAtPromotion).toBe(4);
    });

    it('keeps the recorded value on a poll whose observation carries no lag at all', async () => {
      const previous = previousStep({ mutated: true, lagSecondsAtPromotion: 4 });

      const step = await reconcile(new FakeAdapter(inProgress), input({ previous }), stageContext(), options);

      expect(step.lagSecondsAtPromotion).toBe(4);
    });

    it('reports an unknown lag as null, not as zero, so nobody reads "no data lost" into a missing reading', async () => {
      const step = await reconcile(new FakeAdapter({ ...notStarted, lagSeconds: null }), input(), stageContext(), options);

      expect(step).toHaveProperty('lagSecondsAtPromotion', null);
    });

    it('leaves the field out for resources that have no lag (scale, flip)', async () => {
      const step = await reconcile(new FakeAdapter(notStarted), input(), stageContext(), options);

      expect(step).not.toHaveProperty('lagSecondsAtPromotion');
    });
  });

  it('passes fencedAt from the input to the adapter as a Date, so a switchover trusts only lag measured after the fence', async () => {
    const adapter = new FakeAdapter(notStarted);

    await reconcile(adapter, input({ fencedAt: '2025-03-04T10:03:30.000Z' }), stageContext(), options);

    expect(adapter.observed[0]!.fencedAt).toBeInstanceOf(Date);
    expect(adapter.observed[0]!.fencedAt!.toISOString()).toBe('2025-03-04T10:03:30.000Z');
    expect(adapter.acted[0]!.ctx.fencedAt!.toISOString()).toBe('2025-03-04T10:03:30.000Z');
  });

  it('gives the adapter the stage clock, the mode and the previous step, and no fencedAt when the input has none', async () => {
    const previous = previousStep();
    const adapter = new FakeAdapter(inProgress);

    await reconcile(adapter, input({ previous }), stageContext(), options);

    expect(adapter.observed[0]).toMatchObject({ now: NOW, mode: 'failover', previous, plan });
    expect(adapter.observed[0]).not.toHaveProperty('fencedAt');
  });
});
