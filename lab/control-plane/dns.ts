/**
 * The lab's DNS, as Route 53 and Route 53 ARC make it: a record store (lab/control-plane/route53.ts),
 * routing controls (On / Off switches hosted on an ARC cluster), and health checks that follow the
 * routing controls. Where the front-door name resolves is computed from all three, as Route 53
 * answers a weighted or failover query: among the records of the name, only those whose health
 * check is healthy answer; if none is healthy, all of them do; weight 0 everywhere means equal
 * weights.
 *
 * https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/routing-policy-weighted.html
 * https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-complex-configs.html
 * https://docs.aws.amazon.com/r53recovery/latest/dg/routing-control.html
 * https://docs.aws.amazon.com/r53recovery/latest/dg/routing-control.safety-rules.html
 */
import type { ArcRoutingControlResource, Plan, Route53RecordResource } from '../../functions/core/plan';
import { AwsApiError, type RecordSetView, type RoutingControlView } from '../../local/aws/backend';
import { normalName, RecordStore } from './route53';

/** The hosted zone the lab makes for an arc-routing-control plan (the plan names no zone). */
export const LAB_ARC_ZONE_ID = 'Z0LABARC000000000001';

export interface HealthCheck {
  id: string;
  /** A routing control health check is healthy exactly when its routing control is On. */
  routingControlArn?: string;
}

/** An ARC assertion rule: at least `atLeast` of `asserted` must be On after every update. */
export interface SafetyRule {
  arn: string;
  asserted: string[];
  atLeast: number;
}

export interface TrafficSeed {
  zoneId: string;
  /** The name the front door resolves. */
  recordName: string;
  records: RecordSetView[];
  controls: RoutingControlView[];
  healthChecks: HealthCheck[];
  safetyRules: SafetyRule[];
  /** Record value (target) → region. */
  targets: Record<string, string>;
}

const bareValue = (v: string): string => v.replace(/\.$/, '').toLowerCase();

/** `arn:…:controlpanel/<id>/routingcontrol/<name>` → the control panel's ARN and the control's name. */
function controlParts(arn: string): { panelArn: string; panelName: string; name: string } {
  const m = /^(.*:controlpanel\/([^/]+))\/routingcontrol\/(.+)$/.exec(arn);
  return m ? { panelArn: m[1]!, panelName: m[2]!, name: m[3]! } : { panelArn: arn, panelName: 'lab', name: arn.split('/').pop()! };
}

/**
 * The seed of a lab plan's traffic resource: route53-record → its records (a weighted pair at
 * 100 / 0, or a simple record at the primary); arc-routing-control → two routing controls
 * (primary On, recovery Off), a health check on each, two weighted records of `recordName` (equal
 * weights: the health checks decide) and an assertion rule "at least one On" (ARC's guard against
 * failing open, which a flip that turns the primary Off first runs into).
 */
export function seedFromPlan(plan: Plan, options: { safetyRule?: boolean } = {}): TrafficSeed {
  const traffic = plan.traffic[0];
  if (!traffic) throw new Error('the lab plan has no traffic resource');
  if (traffic.kind === 'route53-record') return seedRecord(plan, traffic);
  return seedArc(plan, traffic, options.safetyRule ?? true);
}

function seedRecord(plan: Plan, r: Route53RecordResource): TrafficSeed {
  const value = (t: Route53RecordResource['primary']): string => ('value' in t ? t.value : t.aliasDnsName);
  const set = (t: Route53RecordResource['primary'], weight: number, healthCheckId?: string): RecordSetView => ({
    Name: normalName(r.recordName),
    Type: r.recordType,
    ...(r.routing === 'weighted' && t.setIdentifier ? { SetIdentifier: t.setIdentifier, Weight: weight } : {}),
    ...('value' in t
      ? { TTL: r.ttl, ResourceRecords: [{ Value: t.value }] }
      : { AliasTarget: { DNSName: t.aliasDnsName, HostedZoneId: t.aliasHostedZoneId, EvaluateTargetHealth: t.evaluateTargetHealth } }),
    ...(healthCheckId ? { HealthCheckId: healthCheckId } : {}),
  });
  const records =
    r.routing === 'weighted' ? [set(r.primary, 100, r.healthCheckIds.primary), set(r.recovery, 0, r.healthCheckIds.recovery)] : [set(r.primary, 100, r.healthCheckIds.primary)];
  const healthChecks = [r.healthCheckIds.primary, r.healthCheckIds.recovery].filter((id): id is string => !!id).map((id) => ({ id }));
  return {
    zoneId: r.hostedZoneId,
    recordName: r.recordName,
    records,
    controls: [],
    healthChecks,
    safetyRules: [],
    targets: { [bareValue(value(r.primary))]: plan.primaryRegion, [bareValue(value(r.recovery))]: plan.recoveryRegion },
  };
}

function seedArc(plan: Plan, a: ArcRoutingControlResource, safetyRule: boolean): TrafficSeed {
  const recordName = a.recordName ?? `${a.name}.lab.internal`;
  const owner = /::(\d{12}):/.exec(a.primaryRoutingControlArn)?.[1] ?? '000000000000';
  const control = (arn: string, state: 'On' | 'Off'): RoutingControlView => {
    const p = controlParts(arn);
    return { ControlPanelArn: p.panelArn, ControlPanelName: p.panelName, RoutingControlArn: arn, RoutingControlName: p.name, RoutingControlState: state, Owner: owner };
  };
  const regions = [
    { region: plan.primaryRegion, arn: a.primaryRoutingControlArn, hc: `hc-lab-arc-${plan.primaryRegion}` },
    { region: plan.recoveryRegion, arn: a.recoveryRoutingControlArn, hc: `hc-lab-arc-${plan.recoveryRegion}` },
  ];
  const panelArn = controlParts(a.primaryRoutingControlArn).panelArn;
  return {
    zoneId: LAB_ARC_ZONE_ID,
    recordName,
    records: regions.map((r) => ({
      Name: normalName(recordName),
      Type: 'CNAME',
      SetIdentifier: r.region,
      Weight: 100,
      TTL: 1,
      ResourceRecords: [{ Value: `${r.region}.${recordName}` }],
      HealthCheckId: r.hc,
    })),
    controls: [control(a.primaryRoutingControlArn, 'On'), control(a.recoveryRoutingControlArn, 'Off')],
    healthChecks: regions.map((r) => ({ id: r.hc, routingControlArn: r.arn })),
    safetyRules: safetyRule ? [{ arn: `${panelArn}/safetyrule/lab-at-least-one-on`, asserted: [a.primaryRoutingControlArn, a.recoveryRoutingControlArn], atLeast: 1 }] : [],
    targets: Object.fromEntries(regions.map((r) => [bareValue(`${r.region}.${recordName}`), r.region])),
  };
}

/** Records, routing controls and health checks of the lab, and where the front-door name resolves. */
export class TrafficModel {
  readonly records: RecordStore;
  private readonly controls = new Map<string, RoutingControlView>();
  private readonly healthChecks = new Map<string, HealthCheck>();

  constructor(private readonly seed: TrafficSeed) {
    for (const hc of seed.healthChecks) this.healthChecks.set(hc.id, hc);
    for (const c of seed.controls) this.controls.set(c.RoutingControlArn, { ...c });
    this.records = new RecordStore((id) => this.healthChecks.has(id));
    this.records.addZone(seed.zoneId, seed.records);
  }

  get zoneId(): string {
    return this.seed.zoneId;
  }

  control(arn: string): RoutingControlView {
    const c = this.controls.get(arn);
    if (!c) throw new AwsApiError('ResourceNotFoundException', `Routing control ${arn} not found`, 404, { resourceId: arn, resourceType: 'RoutingControl' });
    return { ...c };
  }

  listControls(panelArn?: string): RoutingControlView[] {
    const all = [...this.controls.values()];
    if (panelArn !== undefined && !all.some((c) => c.ControlPanelArn === panelArn)) {
      throw new AwsApiError('ResourceNotFoundException', `Control panel ${panelArn} not found`, 404, { resourceId: panelArn, resourceType: 'ControlPanel' });
    }
    return all.filter((c) => panelArn === undefined || c.ControlPanelArn === panelArn).map((c) => ({ ...c }));
  }

  /**
   * Sets routing control states as one transaction: every control must exist, and the states after
   * the update must satisfy each safety rule that is not overridden (ARC rejects the whole update
   * otherwise; "Overriding safety rules to reroute traffic" in the ARC developer guide).
   */
  updateControls(entries: Array<{ RoutingControlArn: string; RoutingControlState: 'On' | 'Off' }>, overridden: string[]): void {
    for (const e of entries) this.control(e.RoutingControlArn);
    const after = new Map([...this.controls].map(([arn, c]) => [arn, c.RoutingControlState]));
    for (const e of entries) after.set(e.RoutingControlArn, e.RoutingControlState);
    for (const rule of this.seed.safetyRules) {
      if (overridden.includes(rule.arn)) continue;
      const on = rule.asserted.filter((arn) => after.get(arn) === 'On').length;
      if (on < rule.atLeast) {
        throw new AwsApiError(
          'ConflictException',
          `The routing control state update was blocked by safety rule ${rule.arn}: at least ${rule.atLeast} of ${rule.asserted.length} routing controls must be On.`,
          409,
          {
            resourceId: rule.arn,
            resourceType: 'SafetyRule',
          },
        );
      }
    }
    for (const e of entries) this.controls.get(e.RoutingControlArn)!.RoutingControlState = e.RoutingControlState;
  }

  private healthy(id: string | undefined): boolean {
    if (!id) return true;
    const hc = this.healthChecks.get(id);
    if (!hc?.routingControlArn) return true;
    return this.controls.get(hc.routingControlArn)?.RoutingControlState === 'On';
  }

  private regionOf(r: RecordSetView): string | undefined {
    const value = r.ResourceRecords?.[0]?.Value ?? r.AliasTarget?.DNSName;
    return (value !== undefined ? this.seed.targets[bareValue(value)] : undefined) ?? undefined;
  }

  /** Share of the front-door name's answers per region (0–100), as resolvers would get them now. */
  weights(): Record<string, number> {
    const records = this.records
      .list(this.seed.zoneId)
      .filter((r) => normalName(r.Name) === normalName(this.seed.recordName) && ['A', 'AAAA', 'CNAME'].includes(r.Type))
      .map((r) => ({ r, region: this.regionOf(r), healthy: this.healthy(r.HealthCheckId) }))
      .filter((x): x is { r: RecordSetView; region: string; healthy: boolean } => x.region !== undefined);
    const out: Record<string, number> = Object.fromEntries(Object.values(this.seed.targets).map((region) => [region, 0]));
    if (records.length === 0) return out;
    const failover = records.filter((x) => x.r.Failover);
    if (failover.length > 0) {
      const primary = failover.find((x) => x.r.Failover === 'PRIMARY');
      const chosen = primary?.healthy ? primary : (failover.find((x) => x.r.Failover === 'SECONDARY') ?? primary);
      if (chosen) out[chosen.region] = 100;
      return out;
    }
    const healthy = records.filter((x) => x.healthy);
    const answering = healthy.length > 0 ? healthy : records;
    const total = answering.reduce((sum, x) => sum + (x.r.Weight ?? 0), 0);
    for (const x of answering) {
      const share = total === 0 ? 1 / answering.length : x.r.SetIdentifier === undefined ? 1 : (x.r.Weight ?? 0) / total;
      out[x.region] = (out[x.region] ?? 0) + Math.round(share * 100);
    }
    return out;
  }
}
