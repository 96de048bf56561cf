/**
 * ECS services (ECS API, and Application Auto Scaling when the plan says the services scale). In the
 * recovery region: scale from the warm standby count to the failover count and wait for a steady
 * state. In the primary region: fence writers by scaling them to zero, best effort, because that
 * region's control plane may be the thing that is down. With auto scaling, the capacity bounds are
 * set first, so a scaling policy cannot undo the fence or scale the recovery region back in.
 */
import { RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { DescribeServicesCommand, UpdateServiceCommand, type Service } from '@aws-sdk/client-ecs';
import { applicationAutoScaling, ecs } from '../core/clients';
import { awsCall, ResourceStateError } from '../core/errors';
import type { EcsServiceResource } from '../core/plan';
import type { Fencer, Observation, ReconcileAdapter } from './types';

async function describe(region: string, ref: { cluster: string; service: string }): Promise<Service> {
  const out = await awsCall(`ecs:DescribeServices ${ref.cluster}/${ref.service} ${region}`, () =>
    ecs(region).send(new DescribeServicesCommand({ cluster: ref.cluster, services: [ref.service] })),
  );
  const service = out.services?.[0];
  if (!service || service.status === 'INACTIVE') {
    const reason = out.failures?.[0]?.reason ?? service?.status ?? 'not found';
    throw new ResourceStateError(`ECS service ${ref.cluster}/${ref.service} in ${region}: ${reason}`);
  }
  return service;
}

/** Sets the service's auto scaling bounds (MaxCapacity left as it is when not given). */
async function bound(region: string, ref: { cluster: string; service: string }, min: number, max?: number): Promise<void> {
  await applicationAutoScaling(region).send(
    new RegisterScalableTargetCommand({
      ServiceNamespace: 'ecs',
      ResourceId: `service/${ref.cluster}/${ref.service}`,
      ScalableDimension: 'ecs:service:DesiredCount',
      MinCapacity: min,
      ...(max !== undefined ? { MaxCapacity: max } : {}),
    }),
  );
}

const steady = (s: Service, want: number): boolean =>
  (s.runningCount ?? 0) >= want && (s.deployments ?? []).length <= 1 && (s.deployments?.[0]?.rolloutState ?? 'COMPLETED') === 'COMPLETED';

export const scale: ReconcileAdapter<EcsServiceResource> = {
  async observe(svc, ctx): Promise<Observation> {
    const s = await describe(ctx.plan.recoveryRegion, svc.recovery);
    const want = svc.failoverDesiredCount;
    const counts = `desired ${s.desiredCount ?? 0}, running ${s.runningCount ?? 0}, pending ${s.pendingCount ?? 0}`;
    if ((s.desiredCount ?? 0) >= want) {
      return steady(s, want)
        ? { done: true, inProgress: false, phase: 'steady', detail: counts }
        : { done: false, inProgress: true, phase: 'scaling', detail: counts };
    }
    return { done: false, inProgress: false, phase: 'standby', detail: counts };
  },
  async act(svc, ctx) {
    if (svc.autoScaling) {
      await awsCall(`application-autoscaling:RegisterScalableTarget ${svc.recovery.cluster}/${svc.recovery.service}`, () =>
        bound(ctx.plan.recoveryRegion, svc.recovery, svc.failoverDesiredCount),
      );
    }
    await awsCall(`ecs:UpdateService ${svc.recovery.cluster}/${svc.recovery.service}`, () =>
      ecs(ctx.plan.recoveryRegion).send(
        new UpdateServiceCommand({ cluster: svc.recovery.cluster, service: svc.recovery.service, desiredCount: svc.failoverDesiredCount }),
      ),
    );
    return { detail: `UpdateService ${svc.recovery.cluster}/${svc.recovery.service} desiredCount ${svc.standbyDesiredCount} → ${svc.failoverDesiredCount}` };
  },
  describeAction(svc, ctx) {
    const min = svc.autoScaling ? `auto scaling MinCapacity → ${svc.failoverDesiredCount}, ` : '';
    return `${min}UpdateService ${svc.recovery.cluster}/${svc.recovery.service} desiredCount → ${svc.failoverDesiredCount} (${ctx.plan.recoveryRegion})`;
  },
};

export const fencer: Fencer<EcsServiceResource> = {
  async fence(svc, plan) {
    if (!svc.writer) return { confirmed: true, action: 'none', detail: 'not a writer' };
    const where = `${svc.primary.cluster}/${svc.primary.service} (${plan.primaryRegion})`;
    try {
      if (svc.autoScaling) await bound(plan.primaryRegion, svc.primary, 0, 0);
      const s = await describe(plan.primaryRegion, svc.primary);
      if ((s.desiredCount ?? 0) !== 0) {
        await ecs(plan.primaryRegion).send(new UpdateServiceCommand({ cluster: svc.primary.cluster, service: svc.primary.service, desiredCount: 0 }));
      }
      const pinned = svc.autoScaling ? '; auto scaling pinned to 0..0' : '';
      return { confirmed: true, action: 'scale-to-zero', detail: `${where} desiredCount 0 (was ${s.desiredCount ?? 0}; ${s.runningCount ?? 0} tasks draining${pinned})` };
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      return { confirmed: false, action: 'scale-to-zero', detail: `${where} unreachable: ${e.name}: ${e.message}` };
    }
  },
  describeFence(svc, plan) {
    if (!svc.writer) return 'nothing (not a writer)';
    const pin = svc.autoScaling ? 'auto scaling Min/MaxCapacity → 0, ' : '';
    return `${pin}UpdateService ${svc.primary.cluster}/${svc.primary.service} desiredCount → 0 (${plan.primaryRegion})`;
  },
};
