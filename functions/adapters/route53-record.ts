/**
 * Route 53 records (Route 53 API): point a record at the recovery region — a weighted pair becomes
 * 0 (primary) / 100 (recovery), a simple record gets the recovery target — and wait for INSYNC.
 *
 * The trap: Route 53's control plane (ChangeResourceRecordSets, GetChange) is served from
 * us-east-1, so this edit can fail exactly when us-east-1 is impaired. The state machine retries it
 * with backoff and then escalates through the failure notification; plans that must not depend on
 * it use the data-plane kind `arc-routing-control` (functions/adapters/arc-routing-control.ts).
 *
 * Copy, do not rebuild: an UPSERT replaces the whole record set with the values in the request
 * (ChangeResourceRecordSets / Change API reference,
 * https://docs.aws.amazon.com/Route53/latest/APIReference/API_Change.html), so a set built from the
 * plan would silently drop what the zone has and the plan does not say: HealthCheckId, a TTL changed
 * since, extra values of a multi-value record, EvaluateTargetHealth. The flip therefore reads the
 * record sets as listed (ListResourceRecordSets, every page) and changes only the weight (weighted)
 * or only the value (simple).
 */
import { ChangeResourceRecordSetsCommand, GetChangeCommand, ListResourceRecordSetsCommand, type ResourceRecordSet } from '@aws-sdk/client-route-53';
import { route53 } from '../core/clients';
import { awsCall, ResourceStateError } from '../core/errors';
import type { Route53RecordResource } from '../core/plan';
import type { AdapterContext, Observation, ReconcileAdapter } from '../core/reconcile';

type Target = Route53RecordResource['primary'];

const norm = (name: string): string => name.toLowerCase().replace(/\.$/, '');

function targetValue(t: Target): string {
  return 'value' in t ? t.value : t.aliasDnsName;
}

function recordValue(r: ResourceRecordSet): string | undefined {
  return r.AliasTarget?.DNSName ?? r.ResourceRecords?.[0]?.Value;
}

/** Record sets asked for per ListResourceRecordSets page (the API's maximum is 300). */
const PAGE_SIZE = 100;
/** A record with more sets than this is not one the flip was designed for; also stops a listing that never ends. */
const MAX_PAGES = 20;

const matches = (rec: Route53RecordResource) => (r: ResourceRecordSet) => norm(r.Name ?? '') === norm(rec.recordName) && r.Type === rec.recordType;

/**
 * Every record set of the record's name and type, read page by page: a truncated page names the
 * next set by NextRecordName / NextRecordType and, for sets with a routing policy, NextRecordIdentifier
 * (ListResourceRecordSets API reference,
 * https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListResourceRecordSets.html). Sets are
 * listed in order from the start name and type, so reading stops at the first page whose next set
 * has another name or type.
 */
export async function currentRecords(rec: Route53RecordResource): Promise<ResourceRecordSet[]> {
  const found: ResourceRecordSet[] = [];
  let start: { StartRecordName: string; StartRecordType: ResourceRecordSet['Type']; StartRecordIdentifier?: string } = {
    StartRecordName: rec.recordName,
    StartRecordType: rec.recordType,
  };
  const seen = new Set([`${norm(rec.recordName)}|${rec.recordType}|`]);
  for (let page = 1; ; page++) {
    const out = await awsCall(`route53:ListResourceRecordSets ${rec.recordName}`, () =>
      route53().send(new ListResourceRecordSetsCommand({ HostedZoneId: rec.hostedZoneId, ...start, MaxItems: PAGE_SIZE })),
    );
    found.push(...(out.ResourceRecordSets ?? []).filter(matches(rec)));
    if (!out.IsTruncated || !out.NextRecordName || norm(out.NextRecordName) !== norm(rec.recordName) || out.NextRecordType !== rec.recordType) return found;
    const next = `${norm(out.NextRecordName)}|${out.NextRecordType}|${out.NextRecordIdentifier ?? ''}`;
    if (seen.has(next) || page >= MAX_PAGES) {
      throw new ResourceStateError(`route53:ListResourceRecordSets ${rec.recordName}: paging did not advance (next ${next} after ${page} page(s))`);
    }
    seen.add(next);
    start = { StartRecordName: out.NextRecordName, StartRecordType: out.NextRecordType, ...(out.NextRecordIdentifier ? { StartRecordIdentifier: out.NextRecordIdentifier } : {}) };
  }
}

/** True when the record already sends traffic to the recovery region. */
export async function pointsAtRecovery(rec: Route53RecordResource): Promise<boolean> {
  return pointsAtRecoveryIn(rec, await currentRecords(rec));
}

/** A record set built from the plan: only for a simple record the zone does not have yet (UPSERT creates it). */
function recordSet(rec: Route53RecordResource, target: Target): ResourceRecordSet {
  const base: ResourceRecordSet = { Name: rec.recordName, Type: rec.recordType };
  if ('value' in target) return { ...base, TTL: rec.ttl, ResourceRecords: [{ Value: target.value }] };
  return { ...base, AliasTarget: { DNSName: target.aliasDnsName, HostedZoneId: target.aliasHostedZoneId, EvaluateTargetHealth: target.evaluateTargetHealth } };
}

/** The listed set of one weighted target with only its weight changed; a set the zone lacks is a plan/zone mismatch. */
function reweighted(rec: Route53RecordResource, records: ResourceRecordSet[], setIdentifier: string | undefined, weight: number): ResourceRecordSet {
  const listed = records.find((r) => r.SetIdentifier === setIdentifier);
  if (!listed) {
    const have = records.map((r) => r.SetIdentifier ?? '(none)').join(', ') || 'none';
    throw new ResourceStateError(
      `${rec.recordName} ${rec.recordType}: hosted zone ${rec.hostedZoneId} has no record set with SetIdentifier ${setIdentifier} (listed: ${have}); the flip changes existing sets only`,
    );
  }
  return { ...listed, Weight: weight };
}

/** The listed simple record with only its value changed (TTL, health check and the rest as listed). */
function retargeted(rec: Route53RecordResource, listed: ResourceRecordSet | undefined): ResourceRecordSet {
  if (!listed) return recordSet(rec, rec.recovery);
  if (listed.SetIdentifier !== undefined) {
    throw new ResourceStateError(
      `${rec.recordName} ${rec.recordType}: the plan says routing: simple, but the zone's record set has SetIdentifier ${listed.SetIdentifier} (a routing policy); fix the plan`,
    );
  }
  const { ResourceRecords: _values, AliasTarget: _alias, TTL, ...rest } = listed;
  const target = rec.recovery;
  if ('value' in target) return { ...rest, TTL: TTL ?? rec.ttl, ResourceRecords: [{ Value: target.value }] };
  return { ...rest, AliasTarget: { DNSName: target.aliasDnsName, HostedZoneId: target.aliasHostedZoneId, EvaluateTargetHealth: target.evaluateTargetHealth } };
}

/** The UPSERTs of the flip, each a listed set with only the weight (weighted) or the value (simple) changed. */
export function changes(rec: Route53RecordResource, records: ResourceRecordSet[]): ResourceRecordSet[] {
  if (rec.routing === 'simple') return [retargeted(rec, records[0])];
  return [reweighted(rec, records, rec.primary.setIdentifier, 0), reweighted(rec, records, rec.recovery.setIdentifier, 100)];
}

/** What observe listed (act changes these sets rather than listing again). */
interface ListedObservation extends Observation {
  records?: ResourceRecordSet[];
}

function pointsAtRecoveryIn(rec: Route53RecordResource, records: ResourceRecordSet[]): boolean {
  if (rec.routing === 'weighted') {
    const primary = records.find((r) => r.SetIdentifier === rec.primary.setIdentifier);
    const recovery = records.find((r) => r.SetIdentifier === rec.recovery.setIdentifier);
    return (primary?.Weight ?? 0) === 0 && (recovery?.Weight ?? 0) > 0;
  }
  const value = records[0] ? recordValue(records[0]) : undefined;
  return value !== undefined && norm(value) === norm(targetValue(rec.recovery));
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
    const records = await currentRecords(rec);
    if (pointsAtRecoveryIn(rec, records)) {
      return { done: true, inProgress: false, phase: 'insync', detail: `${rec.recordName} already points at ${ctx.plan.recoveryRegion}` };
    }
    const listed: ListedObservation = { done: false, inProgress: false, phase: 'primary', detail: `${rec.recordName} points at ${ctx.plan.primaryRegion}`, records };
    return listed;
  },
  async act(rec, ctx, observation) {
    const records = (observation as ListedObservation).records ?? (await currentRecords(rec));
    const upserts = changes(rec, records);
    const out = await awsCall(`route53:ChangeResourceRecordSets ${rec.recordName}`, () =>
      route53().send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: rec.hostedZoneId,
          ChangeBatch: {
            Comment: `failover to ${ctx.plan.recoveryRegion} by the failover orchestrator`,
            Changes: upserts.map((ResourceRecordSet) => ({ Action: 'UPSERT' as const, ResourceRecordSet })),
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
