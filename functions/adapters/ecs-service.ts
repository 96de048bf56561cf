/**
 * ECS services (ECS API). In the recovery region: scale from the warm standby count to the failover
 * count and wait for a steady state. In the primary region: fence writers by scaling them to zero,
 * best effort, because that region's control plane may be the thing that is down.
 */
import { DescribeServicesCommand, UpdateServiceCommand, type Service } from '@aws-sdk/client-ecs';
import { ecs } from '../core/clients';
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
    await awsCall(`ecs:UpdateService ${svc.recovery.cluster}/${svc.recovery.service}`, () =>
      ecs(ctx.plan.recoveryRegion).send(
        new UpdateServiceCommand({ cluster: svc.recovery.cluster, service: svc.recovery.service, desiredCount: svc.failoverDesiredCount }),
      ),
    );
    return { detail: `UpdateService ${svc.recovery.cluster}/${svc.recovery.service} desiredCount ${svc.standbyDesiredCount} → ${svc.failoverDesiredCount}` };
  },
  describeAction(svc, ctx) {
    return `UpdateService ${svc.recovery.cluster}/${svc.recovery.service} desiredCount → ${svc.failoverDesiredCount} (${ctx.plan.recoveryRegion})`;
  },
};

export const fencer: Fencer<EcsServiceResource> = {
  async fence(svc, plan) {
    if (!svc.writer) return { confirmed: true, action: 'none', detail: 'not a writer' };
    const where = `${svc.primary.cluster}/${svc.primary.service} (${plan.primaryRegion})`;
    try {
      const s = await describe(plan.primaryRegion, svc.primary);
      if ((s.desiredCount ?? 0) !== 0) {
        await ecs(plan.primaryRegion).send(new UpdateServiceCommand({ cluster: svc.primary.cluster, service: svc.primary.service, desiredCount: 0 }));
      }
      return { confirmed: true, action: 'scale-to-zero', detail: `${where} desiredCount 0 (was ${s.desiredCount ?? 0}; ${s.runningCount ?? 0} tasks draining)` };
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      return { confirmed: false, action: 'scale-to-zero', detail: `${where} unreachable: ${e.name}: ${e.message}` };
    }
  },
  describeFence(svc, plan) {
    return svc.writer ? `UpdateService ${svc.primary.cluster}/${svc.primary.service} desiredCount → 0 (${plan.primaryRegion})` : 'nothing (not a writer)';
  },
};
