/**
 * ECS services (ECS API, and Application Auto Scaling when the plan says the services scale). In the
 * recovery region: scale from the warm standby count to the failover count and wait for a steady
 * state. In the primary region: fence writers by scaling them to zero, best effort, because that
 * region's control plane may be the thing that is down. With auto scaling, the capacity bounds are
 * set first, so a scaling policy cannot undo the fence or scale the recovery region back in.
 */
import { DescribeScalableTargetsCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { DescribeServicesCommand, UpdateServiceCommand, type Service } from '@aws-sdk/client-ecs';
import { applicationAutoScaling, ecs } from '../core/clients';
import { awsCall, ResourceStateError } from '../core/errors';
import type { EcsServiceResource } from '../core/plan';
import { failure, fenceOutcome, type Fencer } from './types';
import type { Observation, ReconcileAdapter } from '../core/reconcile';

const signalled = (signal?: AbortSignal) => (signal ? { abortSignal: signal } : {});

async function describe(region: string, ref: { cluster: string; service: string }, signal?: AbortSignal): Promise<Service> {
  const out = await awsCall(`ecs:DescribeServices ${ref.cluster}/${ref.service} ${region}`, () =>
    ecs(region).send(new DescribeServicesCommand({ cluster: ref.cluster, services: [ref.service] }), signalled(signal)),
  );
  const service = out.services?.[0];
  if (!service || service.status === 'INACTIVE') {
    const reason = out.failures?.[0]?.reason ?? service?.status ?? 'not found';
    throw new ResourceStateError(`ECS service ${ref.cluster}/${ref.service} in ${region}: ${reason}`);
  }
  return service;
}

const target = (ref: { cluster: string; service: string }) =>
  ({ ServiceNamespace: 'ecs', ResourceId: `service/${ref.cluster}/${ref.service}`, ScalableDimension: 'ecs:service:DesiredCount' }) as const;

/** Sets the service's auto scaling bounds (RegisterScalableTarget updates only what it is given). */
async function bound(region: string, ref: { cluster: string; service: string }, min: number, max: number, signal?: AbortSignal): Promise<void> {
  await applicationAutoScaling(region).send(new RegisterScalableTargetCommand({ ...target(ref), MinCapacity: min, MaxCapacity: max }), signalled(signal));
}

/** The service's current scalable target bounds, or undefined when none is registered. */
async function currentBounds(region: string, ref: { cluster: string; service: string }): Promise<{ min?: number; max?: number } | undefined> {
  const out = await applicationAutoScaling(region).send(
    new DescribeScalableTargetsCommand({ ServiceNamespace: 'ecs', ResourceIds: [target(ref).ResourceId], ScalableDimension: 'ecs:service:DesiredCount' }),
  );
  const found = out.ScalableTargets?.find((t) => t.ResourceId === target(ref).ResourceId);
  return found ? { min: found.MinCapacity, max: found.MaxCapacity } : undefined;
}

/**
 * Raises the recovery service's bounds to hold the failover count: MinCapacity = the failover count
 * (a scaling policy cannot scale it back in), MaxCapacity at least the failover count and never
 * lowered. RegisterScalableTarget rejects a minimum above the maximum and changes only the bounds it
 * is given; a new target needs both
 * (https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html).
 */
async function raiseBounds(region: string, svc: EcsServiceResource): Promise<string> {
  const want = svc.failoverDesiredCount;
  const now = await currentBounds(region, svc.recovery);
  const max = Math.max(want, now?.max ?? want);
  await bound(region, svc.recovery, want, max);
  return now ? `auto scaling Min ${now.min ?? '?'} → ${want}, Max ${now.max ?? '?'} → ${max}` : `auto scaling target registered (none existed): Min ${want}, Max ${max}`;
}

const steady = (s: Service, want: number): boolean =>
  (s.runningCount ?? 0) >= want && (s.deployments ?? []).length <= 1 && (s.deployments?.[0]?.rolloutState ?? 'COMPLETED') === 'COMPLETED';

export const scale: ReconcileAdapter<EcsServiceResource> = {
  async observe(svc, ctx): Promise<Observation> {
    const s = await describe(ctx.plan.recoveryRegion, svc.recovery);
    const want = svc.failoverDesiredCount;
    const counts = `desired ${s.desiredCount ?? 0}, running ${s.runningCount ?? 0}, pending ${s.pendingCount ?? 0}`;
    if ((s.desiredCount ?? 0) >= want) {
      return steady(s, want) ? { done: true, inProgress: false, phase: 'steady', detail: counts } : { done: false, inProgress: true, phase: 'scaling', detail: counts };
    }
    return { done: false, inProgress: false, phase: 'standby', detail: counts };
  },
  async act(svc, ctx) {
    const bounds = svc.autoScaling
      ? await awsCall(`application-autoscaling:DescribeScalableTargets/RegisterScalableTarget ${svc.recovery.cluster}/${svc.recovery.service}`, () =>
          raiseBounds(ctx.plan.recoveryRegion, svc),
        )
      : undefined;
    await awsCall(`ecs:UpdateService ${svc.recovery.cluster}/${svc.recovery.service}`, () =>
      ecs(ctx.plan.recoveryRegion).send(new UpdateServiceCommand({ cluster: svc.recovery.cluster, service: svc.recovery.service, desiredCount: svc.failoverDesiredCount })),
    );
    const update = `UpdateService ${svc.recovery.cluster}/${svc.recovery.service} desiredCount ${svc.standbyDesiredCount} → ${svc.failoverDesiredCount}`;
    return { detail: bounds ? `${bounds}; ${update}` : update };
  },
  describeAction(svc, ctx) {
    const min = svc.autoScaling ? `auto scaling MinCapacity → ${svc.failoverDesiredCount} (MaxCapacity at least ${svc.failoverDesiredCount}), ` : '';
    return `${min}UpdateService ${svc.recovery.cluster}/${svc.recovery.service} desiredCount → ${svc.failoverDesiredCount} (${ctx.plan.recoveryRegion})`;
  },
};

export const fencer: Fencer<EcsServiceResource> = {
  async fence(svc, plan, ctx) {
    if (!svc.writer) return fenceOutcome('skipped', 'none', 'not a writer');
    const where = `${svc.primary.cluster}/${svc.primary.service} (${plan.primaryRegion})`;
    let doing = `RegisterScalableTarget ${where} 0..0`;
    try {
      if (svc.autoScaling) await bound(plan.primaryRegion, svc.primary, 0, 0, ctx.signal);
      doing = `DescribeServices ${where}`;
      const s = await describe(plan.primaryRegion, svc.primary, ctx.signal);
      if ((s.desiredCount ?? 0) !== 0) {
        doing = `UpdateService ${where} desiredCount 0`;
        await ecs(plan.primaryRegion).send(new UpdateServiceCommand({ cluster: svc.primary.cluster, service: svc.primary.service, desiredCount: 0 }), { abortSignal: ctx.signal });
      }
      const pinned = svc.autoScaling ? '; auto scaling pinned to 0..0' : '';
      return fenceOutcome('confirmed', 'scale-to-zero', `${where} desiredCount 0 (was ${s.desiredCount ?? 0}; ${s.runningCount ?? 0} tasks draining${pinned})`);
    } catch (error) {
      return fenceOutcome('unconfirmed', 'scale-to-zero', `${where} unreachable: ${failure(error, ctx, doing)}`);
    }
  },
  describeFence(svc, plan) {
    if (!svc.writer) return 'nothing (not a writer)';
    const pin = svc.autoScaling ? 'auto scaling Min/MaxCapacity → 0, ' : '';
    return `${pin}UpdateService ${svc.primary.cluster}/${svc.primary.service} desiredCount → 0 (${plan.primaryRegion})`;
  },
};
