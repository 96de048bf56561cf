/**
 * The resource kinds a plan can name, by layer. A stage looks its resources' adapter up here; adding
 * a kind is one adapter module, its schema in functions/core/plan.ts, and one line in this file.
 */
import type { ComputeResource, DatabaseResource, Plan, TrafficResource } from '../core/plan';
import * as arcRoutingControl from './arc-routing-control';
import * as auroraGlobal from './aurora-global';
import * as ecsService from './ecs-service';
import * as rdsReplica from './rds-replica';
import * as route53Record from './route53-record';
import type { DatabaseAdapter, Fencer } from './types';
import type { ReconcileAdapter } from '../core/reconcile';

export const databaseKinds: { [K in DatabaseResource['kind']]: DatabaseAdapter<Extract<DatabaseResource, { kind: K }>> } = {
  'aurora-global': auroraGlobal.database,
  'rds-replica': rdsReplica.database,
};

export const computeKinds: {
  [K in ComputeResource['kind']]: { scale: ReconcileAdapter<Extract<ComputeResource, { kind: K }>>; fencer: Fencer<Extract<ComputeResource, { kind: K }>> };
} = {
  'ecs-service': { scale: ecsService.scale, fencer: ecsService.fencer },
};

/**
 * `pointsAtRecovery(resource, plan?)`: true when the resource already sends traffic to the recovery
 * region. Pass the plan: the ARC kind then reads from the endpoints outside the primary region first.
 */
export interface TrafficKind<R> {
  flip: ReconcileAdapter<R>;
  pointsAtRecovery: (r: R, plan?: Plan) => Promise<boolean>;
}

export const trafficKinds: { [K in TrafficResource['kind']]: TrafficKind<Extract<TrafficResource, { kind: K }>> } = {
  'route53-record': { flip: route53Record.flip, pointsAtRecovery: route53Record.pointsAtRecovery },
  'arc-routing-control': { flip: arcRoutingControl.flip, pointsAtRecovery: arcRoutingControl.pointsAtRecovery },
};

/** The adapter set of one database resource (typed by its kind). */
export function databaseKind(db: DatabaseResource): DatabaseAdapter<DatabaseResource> {
  return databaseKinds[db.kind] as DatabaseAdapter<DatabaseResource>;
}
export function computeKind(svc: ComputeResource) {
  return computeKinds[svc.kind] as { scale: ReconcileAdapter<ComputeResource>; fencer: Fencer<ComputeResource> };
}
export function trafficKind(rec: TrafficResource): TrafficKind<TrafficResource> {
  return trafficKinds[rec.kind] as TrafficKind<TrafficResource>;
}
