import { DescribeServicesCommand, ECSClient, ServerException, UpdateServiceCommand, type Service } from '@aws-sdk/client-ecs';
import { ApplicationAutoScalingClient, DescribeScalableTargetsCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { mockClient } from 'aws-sdk-client-mock';
import type { Mode, ResourceStep } from '../../../functions/core/contract';
import type { EcsServiceResource } from '../../../functions/core/plan';
import { scaleEuCompute } from '../../../functions/scale-eu-compute';
import { previousStep, reconcileInput, regionOf, stageContext } from '../../helpers/stage';

const ecs = mockClient(ECSClient);
const autoscaling = mockClient(ApplicationAutoScalingClient);

const paymentsApi = (mode?: Mode, previous?: ResourceStep) => reconcileInput((plan) => plan.compute[0] as EcsServiceResource, { mode, previous });

function service(counts: { desired: number; running: number; pending?: number; rollout?: 'IN_PROGRESS' | 'COMPLETED'; deployments?: number }): Service {
  const deployments = Array.from({ length: counts.deployments ?? 1 }, (_, i) => ({
    id: `ecs-svc/${i}`,
    status: i === 0 ? 'PRIMARY' : 'ACTIVE',
    rolloutState: counts.rollout ?? 'COMPLETED',
  }));
  return {
    serviceName: 'payments-api',
    clusterArn: 'arn:aws:ecs:eu-west-1:111122223333:cluster/payments-euw1',
    status: 'ACTIVE',
    desiredCount: counts.desired,
    runningCount: counts.running,
    pendingCount: counts.pending ?? 0,
    deployments,
  };
}

/** DescribeScalableTargets for the recovery service (none registered when undefined). */
function scalableTarget(bounds?: { min: number; max: number }) {
  autoscaling.on(DescribeScalableTargetsCommand).resolves({
    ScalableTargets: bounds
      ? [
          {
            ServiceNamespace: 'ecs',
            ResourceId: 'service/payments-euw1/payments-api',
            ScalableDimension: 'ecs:service:DesiredCount',
            MinCapacity: bounds.min,
            MaxCapacity: bounds.max,
            RoleARN: 'arn:aws:iam::111122223333:role/aas',
            CreationTime: new Date(),
          },
        ]
      : [],
  });
}

const scalingStep = (overrides: Partial<ResourceStep> = {}) => previousStep({ resource: 'payments-api', kind: 'ecs-service', ...overrides });

const ctx = stageContext();

beforeEach(() => {
  ecs.reset();
  autoscaling.reset();
  autoscaling.on(RegisterScalableTargetCommand).resolves({});
  scalableTarget({ min: 10, max: 20 });
  ecs.on(DescribeServicesCommand).resolves({ services: [service({ desired: 10, running: 10 })], failures: [] });
  ecs.on(UpdateServiceCommand).resolves({ service: service({ desired: 50, running: 10, pending: 40, rollout: 'IN_PROGRESS' }) });
});

describe('ecs-service scale', () => {
  it('reads the scalable target, then raises MinCapacity to the failover count and MaxCapacity to at least it, before scaling', async () => {
    const step = await scaleEuCompute(paymentsApi('failover'), ctx);

    expect(autoscaling).toHaveReceivedCommandWith(DescribeScalableTargetsCommand, {
      ServiceNamespace: 'ecs',
      ResourceIds: ['service/payments-euw1/payments-api'],
      ScalableDimension: 'ecs:service:DesiredCount',
    });
    // A max of 20 would reject (or cap) a minimum of 50: RegisterScalableTarget keeps Min <= Max.
    expect(autoscaling).toHaveReceivedCommandWith(RegisterScalableTargetCommand, {
      ServiceNamespace: 'ecs',
      ResourceId: 'service/payments-euw1/payments-api',
      ScalableDimension: 'ecs:service:DesiredCount',
      MinCapacity: 50,
      MaxCapacity: 50,
    });
    expect(autoscaling.calls().map((c) => (c.args[0] as object).constructor.name)).toEqual(['DescribeScalableTargetsCommand', 'RegisterScalableTargetCommand']);
    await expect(regionOf(autoscaling.commandCalls(RegisterScalableTargetCommand)[0]!)).resolves.toBe('eu-west-1');
    expect(step.detail).toContain('auto scaling Min 10 → 50, Max 20 → 50');
  });

  it('never lowers a MaxCapacity already above the failover count', async () => {
    scalableTarget({ min: 10, max: 200 });

    await scaleEuCompute(paymentsApi('failover'), ctx);

    expect(autoscaling).toHaveReceivedCommandWith(RegisterScalableTargetCommand, { MinCapacity: 50, MaxCapacity: 200 });
  });

  it('registers the scalable target with both bounds when none exists (a new target needs both)', async () => {
    scalableTarget(undefined);

    const step = await scaleEuCompute(paymentsApi('failover'), ctx);

    expect(autoscaling).toHaveReceivedCommandWith(RegisterScalableTargetCommand, { MinCapacity: 50, MaxCapacity: 50 });
    expect(step.detail).toContain('auto scaling target registered (none existed)');
  });

  it('leaves auto scaling alone for a service the plan does not mark as auto scaled', async () => {
    await scaleEuCompute(
      reconcileInput((plan) => plan.compute[1] as EcsServiceResource, { mode: 'failover' }),
      ctx,
    );

    expect(autoscaling).not.toHaveReceivedCommand(RegisterScalableTargetCommand);
    expect(autoscaling).not.toHaveReceivedCommand(DescribeScalableTargetsCommand);
    expect(ecs).toHaveReceivedCommand(UpdateServiceCommand);
  });

  it('scales the recovery-region service from standby to the failover count with UpdateService', async () => {
    const step = await scaleEuCompute(paymentsApi('failover'), ctx);

    expect(ecs).toHaveReceivedCommandWith(DescribeServicesCommand, { cluster: 'payments-euw1', services: ['payments-api'] });
    expect(ecs).toHaveReceivedCommandWith(UpdateServiceCommand, { cluster: 'payments-euw1', service: 'payments-api', desiredCount: 50 });
    expect(ecs).toHaveReceivedCommandTimes(UpdateServiceCommand, 1);
    await expect(regionOf(ecs.commandCalls(UpdateServiceCommand)[0]!)).resolves.toBe('eu-west-1');
    expect(step).toMatchObject({
      resource: 'payments-api',
      kind: 'ecs-service',
      done: false,
      phase: 'started',
      mutated: true,
      detail: expect.stringContaining('desiredCount 10 → 50'),
    });
  });

  it('is done when the service runs the failover count with one completed deployment', async () => {
    ecs.on(DescribeServicesCommand).resolves({ services: [service({ desired: 50, running: 50 })] });

    const step = await scaleEuCompute(paymentsApi('failover', scalingStep()), ctx);

    expect(step).toMatchObject({ done: true, phase: 'steady', mutated: true, finishedAt: ctx.now().toISOString() });
    expect(ecs).not.toHaveReceivedCommand(UpdateServiceCommand);
  });

  it('is done without a mutating call when the service already runs at failover capacity', async () => {
    ecs.on(DescribeServicesCommand).resolves({ services: [service({ desired: 60, running: 60 })] });

    const step = await scaleEuCompute(paymentsApi('failover'), ctx);

    expect(step).toMatchObject({ done: true, mutated: false });
    expect(ecs).not.toHaveReceivedCommand(UpdateServiceCommand);
  });

  it('reports scaling while tasks are still starting, without calling UpdateService again', async () => {
    ecs.on(DescribeServicesCommand).resolves({ services: [service({ desired: 50, running: 32, pending: 18, rollout: 'IN_PROGRESS' })] });

    const step = await scaleEuCompute(paymentsApi('failover', scalingStep()), ctx);

    expect(step).toMatchObject({ done: false, phase: 'scaling', detail: 'desired 50, running 32, pending 18' });
    expect(ecs).not.toHaveReceivedCommand(UpdateServiceCommand);
  });

  it('is not steady while a second deployment is still active', async () => {
    ecs.on(DescribeServicesCommand).resolves({ services: [service({ desired: 50, running: 50, deployments: 2 })] });

    const step = await scaleEuCompute(paymentsApi('failover', scalingStep()), ctx);

    expect(step).toMatchObject({ done: false, phase: 'scaling' });
  });

  it('fails with ScaleDeadlineExceeded when the service is not steady by its deadline', async () => {
    ecs.on(DescribeServicesCommand).resolves({ services: [service({ desired: 50, running: 32, pending: 18, rollout: 'IN_PROGRESS' })] });
    const previous = scalingStep({ startedAt: '2025-03-04T09:50:00.000Z', deadline: '2025-03-04T10:00:00.000Z' });

    await expect(scaleEuCompute(paymentsApi('failover', previous), ctx)).rejects.toMatchObject({
      name: 'ScaleDeadlineExceeded',
      message: expect.stringContaining('ecs-service payments-api not done by 2025-03-04T10:00:00.000Z (scaling: desired 50, running 32, pending 18)'),
    });
  });

  it('fails with ResourceStateError naming the service when ECS does not find it', async () => {
    ecs.on(DescribeServicesCommand).resolves({ services: [], failures: [{ arn: 'arn:aws:ecs:eu-west-1:111122223333:service/payments-euw1/payments-api', reason: 'MISSING' }] });

    await expect(scaleEuCompute(paymentsApi('failover'), ctx)).rejects.toMatchObject({
      name: 'ResourceStateError',
      message: 'ECS service payments-euw1/payments-api in eu-west-1: MISSING',
    });
  });

  it('fails with TransientAwsError when ECS answers with a server error', async () => {
    ecs.on(UpdateServiceCommand).rejects(new ServerException({ message: 'Internal error', $metadata: { httpStatusCode: 500 } }));

    await expect(scaleEuCompute(paymentsApi('failover'), ctx)).rejects.toMatchObject({ name: 'TransientAwsError', message: expect.stringContaining('ecs:UpdateService') });
  });

  it('in a drill, says what it would do and makes no mutating call', async () => {
    const step = await scaleEuCompute(paymentsApi('drill'), ctx);

    expect(step).toMatchObject({
      done: true,
      phase: 'drill',
      mutated: false,
      wouldDo: 'auto scaling MinCapacity → 50 (MaxCapacity at least 50), UpdateService payments-euw1/payments-api desiredCount → 50 (eu-west-1)',
    });
    expect(ecs).not.toHaveReceivedCommand(UpdateServiceCommand);
    expect(autoscaling).not.toHaveReceivedCommand(RegisterScalableTargetCommand);
  });
});
