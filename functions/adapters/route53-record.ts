/**
 * Route 53 records (Route 53 API): point a record at the recovery region — a weighted pair becomes
 * 0 (primary) / 100 (recovery), a simple record gets the recovery target — and wait for INSYNC.
 *
 * The trap: Route 53's control plane (ChangeResourceRecordSets, GetChange) is served from
 * us-east-1, so this edit can fail exactly when us-east-1 is impaired. The state machine retries it
 * with backoff and then escalates through the failure notification; plans that must not depend on
 * it should pre-build failover records driven by health checks (data plane). See the README.
 */
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { route53 } from '../core/clients';
import { awsCall } from '../core/errors';
import type { Route53RecordResource } from '../core/plan';
import type { AdapterContext, Observation, ReconcileAdapter } from './types';

type Target = Route53RecordResource['primary'];

const norm = (name: string): string => name.toLowerCase().replace(/\.$/, '');

function targetValue(t: Target): string {
  return 'value' in t ? t.value : t.aliasDnsName;
}

function recordValue(r: ResourceRecordSet): string | undefined {
  return r.AliasTarget?.DNSName ?? r.ResourceRecords?.[0]?.Value;
}

async function currentRecords(rec: Route53RecordResource): Promise<ResourceRecordSet[]> {
  const out = await awsCall(`route53:ListResourceRecordSets ${rec.recordName}`, () =>
    route53().send(
      new ListResourceRecordSetsCommand({ HostedZoneId: rec.hostedZoneId, StartRecordName: rec.recordName, StartRecordType: rec.recordType, MaxItems: 10 }),
    ),
  );
  return (out.ResourceRecordSets ?? []).filter((r) => norm(r.Name ?? '') === norm(rec.recordName) && r.Type === rec.recordType);
}

/** True when the record already sends traffic to the recovery region. */
export async function pointsAtRecovery(rec: Route53RecordResource): Promise<boolean> {
  const records = await currentRecords(rec);
  if (rec.routing === 'weighted') {
    const primary = records.find((r) => r.SetIdentifier === rec.primary.setIdentifier);
    const recovery = records.find((r) => r.SetIdentifier === rec.recovery.setIdentifier);
    return (primary?.Weight ?? 0) === 0 && (recovery?.Weight ?? 0) > 0;
  }
  const value = records[0] ? recordValue(records[0]) : undefined;
  return value !== undefined && norm(value) === norm(targetValue(rec.recovery));
}

function recordSet(rec: Route53RecordResource, target: Target, extra: Partial<ResourceRecordSet>): ResourceRecordSet {
  const base: ResourceRecordSet = { Name: rec.recordName, Type: rec.recordType, ...extra };
  if ('value' in target) return { ...base, TTL: rec.ttl, ResourceRecords: [{ Value: target.value }] };
  return { ...base, AliasTarget: { DNSName: target.aliasDnsName, HostedZoneId: target.aliasHostedZoneId, EvaluateTargetHealth: target.evaluateTargetHealth } };
}

function changes(rec: Route53RecordResource): ResourceRecordSet[] {
  if (rec.routing === 'simple') return [recordSet(rec, rec.recovery, {})];
  const hc = (id?: string) => (id ? { HealthCheckId: id } : {});
  return [
    recordSet(rec, rec.primary, { SetIdentifier: rec.primary.setIdentifier, Weight: 0, ...hc(rec.healthCheckIds.primary) }),
    recordSet(rec, rec.recovery, { SetIdentifier: rec.recovery.setIdentifier, Weight: 100, ...hc(rec.healthCheckIds.recovery) }),
  ];
}

export const flip: ReconcileAdapter<Route53RecordResource> = {
  async observe(rec, ctx: AdapterContext): Promise<Observation> {
    const ref = ctx.previous?.ref;
    if (ref) {
      const out = await awsCall(`route53:GetChange ${ref}`, () => route53().send(new GetChangeCommand({ Id: ref })));
      const status = out.ChangeInfo?.Status ?? 'PENDING';
      return status === 'INSYNC'
        ? { done: true, inProgress: false, phase: 'insync', detail: `change ${ref} INSYNC`, ref }
        : { done: false, inProgress: true, phase: 'propagating', detail: `change ${ref} ${status}`, ref };
    }
    if (await pointsAtRecovery(rec)) {
      return { done: true, inProgress: false, phase: 'insync', detail: `${rec.recordName} already points at ${ctx.plan.recoveryRegion}` };
    }
    return { done: false, inProgress: false, phase: 'primary', detail: `${rec.recordName} points at ${ctx.plan.primaryRegion}` };
  },
  async act(rec, ctx) {
    const out = await awsCall(`route53:ChangeResourceRecordSets ${rec.recordName}`, () =>
      route53().send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: rec.hostedZoneId,
          ChangeBatch: {
            Comment: `failover to ${ctx.plan.recoveryRegion} by the failover orchestrator`,
            Changes: changes(rec).map((ResourceRecordSet) => ({ Action: 'UPSERT' as const, ResourceRecordSet })),
          },
        }),
      ),
    );
    return { detail: `UPSERT ${this.describeAction(rec, ctx)}`, ref: out.ChangeInfo?.Id };
  },
  describeAction(rec, ctx) {
    return rec.routing === 'weighted'
      ? `${rec.recordName} ${rec.recordType} weights ${rec.primary.setIdentifier}=0, ${rec.recovery.setIdentifier}=100`
      : `${rec.recordName} ${rec.recordType} → ${targetValue(rec.recovery)} (${ctx.plan.recoveryRegion})`;
  },
};
