/**
 * RDS PostgreSQL with a cross-region read replica (RDS API, plus CloudWatch for `ReplicaLag`).
 *
 * `PromoteReadReplica` is irreversible and reboots the replica: the instance goes through
 * `modifying` / `rebooting` before it is `available` without a replication source. A planned
 * switchover fences the primary first and promotes only once `ReplicaLag` reads 0 (zero loss).
 * Fencing sets `default_transaction_read_only = 1` (a dynamic parameter, applied immediately) in
 * the primary's parameter group — best effort: it needs the primary region's control plane.
 */
import { DescribeDBInstancesCommand, ModifyDBParameterGroupCommand, PromoteReadReplicaCommand, type DBInstance } from '@aws-sdk/client-rds';
import type { ReplicationObservation } from '../core/contract';
import { rds } from '../core/clients';
import { awsCall, ResourceStateError, toNamedAwsError } from '../core/errors';
import type { Plan, RdsReplicaResource } from '../core/plan';
import { freshValue, latestMetric } from './cloudwatch';
import type { Fencer, Observation, ReconcileAdapter } from './types';

async function describe(db: RdsReplicaResource, region: string): Promise<DBInstance> {
  const out = await awsCall(`rds:DescribeDBInstances ${db.replicaInstanceIdentifier}`, () =>
    rds(region).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: db.replicaInstanceIdentifier })),
  );
  const instance = out.DBInstances?.[0];
  if (!instance) throw new ResourceStateError(`DB instance ${db.replicaInstanceIdentifier} not found in ${region}`);
  return instance;
}

const isReplica = (i: DBInstance): boolean => !!i.ReadReplicaSourceDBInstanceIdentifier;
const replicationStatus = (i: DBInstance): string | undefined => i.StatusInfos?.find((s) => s.StatusType === 'read replication')?.Status;

/** ReplicaLag (seconds) when a recent datapoint exists (and, for a switchover, one measured after the fence); else null. */
async function lagSeconds(db: RdsReplicaResource, plan: Plan, now: Date, notBefore?: Date): Promise<number | null> {
  const point = await latestMetric(plan.recoveryRegion, { namespace: 'AWS/RDS', name: 'ReplicaLag', dimensions: { DBInstanceIdentifier: db.replicaInstanceIdentifier } }, now);
  return freshValue(point, now, notBefore);
}

/** Statuses from which a replica will not become promotable by waiting: fail fast instead of polling to the deadline. */
const TERMINAL = new Set(['failed', 'storage-full', 'incompatible-parameters', 'incompatible-restore', 'incompatible-network', 'incompatible-option-group', 'inaccessible-encryption-credentials', 'restore-error', 'deleting', 'stopped']);

export async function replication(db: RdsReplicaResource, plan: Plan, now: Date): Promise<ReplicationObservation> {
  const instance = await describe(db, plan.recoveryRegion);
  if (!isReplica(instance)) {
    return { database: db.name, kind: db.kind, status: 'promoted', detail: `${db.replicaInstanceIdentifier} is no longer a replica (${instance.DBInstanceStatus})` };
  }
  const status = replicationStatus(instance);
  const lag = await lagSeconds(db, plan, now);
  return {
    database: db.name,
    kind: db.kind,
    status: status === 'replicating' && lag !== null ? 'replicating' : status === undefined ? 'unknown' : 'broken',
    lagSeconds: lag ?? undefined,
    detail: `read replication ${status ?? 'unknown'}, lag ${lag === null ? 'unknown (no recent datapoint)' : `${lag} s`}`,
  };
}

export const promote: ReconcileAdapter<RdsReplicaResource> = {
  async observe(db, ctx): Promise<Observation> {
    const instance = await describe(db, ctx.plan.recoveryRegion);
    const status = instance.DBInstanceStatus ?? 'unknown';
    if (!isReplica(instance)) {
      return status === 'available'
        ? { done: true, inProgress: false, phase: 'promoted', detail: `${db.replicaInstanceIdentifier} is a standalone writer` }
        : { done: false, inProgress: true, phase: 'promoting', detail: `${db.replicaInstanceIdentifier} is ${status} after promotion` };
    }
    if (TERMINAL.has(status)) {
      throw new ResourceStateError(`${db.replicaInstanceIdentifier} is ${status}: it cannot be promoted by waiting`);
    }
    if (status !== 'available') {
      return { done: false, inProgress: true, phase: 'promoting', detail: `${db.replicaInstanceIdentifier} is ${status}` };
    }
    // A planned switchover promotes only on a ReplicaLag of 0 measured after the fence: an older zero says nothing about the last writes.
    const lag = await lagSeconds(db, ctx.plan, ctx.now, ctx.mode === 'switchover' ? ctx.fencedAt : undefined);
    if (ctx.mode === 'switchover' && lag !== 0) {
      return {
        done: false,
        inProgress: false,
        waiting: true,
        phase: 'catching-up',
        detail: `planned switchover waits for a ReplicaLag of 0 measured after the fence (now ${lag === null ? 'no such datapoint yet' : `${lag} s`})`,
        lagSeconds: lag,
      };
    }
    return { done: false, inProgress: false, phase: 'ready', detail: `${db.replicaInstanceIdentifier} replicating, lag ${lag ?? 'unknown'} s`, lagSeconds: lag };
  },
  async act(db, ctx) {
    try {
      await rds(ctx.plan.recoveryRegion).send(
        new PromoteReadReplicaCommand({ DBInstanceIdentifier: db.replicaInstanceIdentifier }),
      );
    } catch (error) {
      // Promotion already under way (a duplicate or retried call): the next observe sees it.
      if (error instanceof Error && error.name === 'InvalidDBInstanceStateFault') {
        return { detail: `PromoteReadReplica ${db.replicaInstanceIdentifier}: already in progress (${error.message})` };
      }
      throw toNamedAwsError(error, `rds:PromoteReadReplica ${db.replicaInstanceIdentifier}`);
    }
    return { detail: `PromoteReadReplica ${db.replicaInstanceIdentifier} (irreversible; the instance reboots)` };
  },
  describeAction(db) {
    return `PromoteReadReplica ${db.replicaInstanceIdentifier} (irreversible; reboots)`;
  },
};

export const fencer: Fencer<RdsReplicaResource> = {
  async fence(db, plan) {
    if (!db.primaryParameterGroup) {
      return { confirmed: true, action: 'none', detail: 'no primaryParameterGroup in the plan: writers are fenced by the compute layer' };
    }
    try {
      await rds(plan.primaryRegion).send(
        new ModifyDBParameterGroupCommand({
          DBParameterGroupName: db.primaryParameterGroup,
          Parameters: [{ ParameterName: 'default_transaction_read_only', ParameterValue: '1', ApplyMethod: 'immediate' }],
        }),
      );
      return { confirmed: true, action: 'read-only', detail: `default_transaction_read_only=1 in ${db.primaryParameterGroup} (${plan.primaryRegion})` };
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      return { confirmed: false, action: 'read-only', detail: `could not set ${db.primaryParameterGroup} read-only in ${plan.primaryRegion}: ${e.name}: ${e.message}` };
    }
  },
  describeFence(db, plan) {
    return db.primaryParameterGroup
      ? `ModifyDBParameterGroup ${db.primaryParameterGroup} default_transaction_read_only=1 (${plan.primaryRegion})`
      : 'nothing at the database (no primaryParameterGroup)';
  },
};
