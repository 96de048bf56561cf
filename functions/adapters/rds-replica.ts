/**
 * RDS PostgreSQL with a cross-region read replica (RDS API, plus CloudWatch for `ReplicaLag`).
 *
 * `PromoteReadReplica` is irreversible and reboots the replica: the instance goes through
 * `modifying` / `rebooting` before it is `available` without a replication source. It is called
 * without `BackupRetentionPeriod`, so backups must already be enabled on the replica: detection
 * and drills report a replica without them as not ready (see {@link backupProblems}).
 *
 * The replication gap is `ReplicaLag` = `now() - pg_last_xact_replay_timestamp()` on the replica
 * (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PostgreSQL.Replication.ReadReplicas.Monitor.html):
 * once the primary is gone it grows with the clock, so an unplanned failover reads it AT THE FAULT
 * (the data lost), and a planned switchover waits for a 0 from a period that started after the fence.
 *
 * Fencing sets `default_transaction_read_only = 1` (dynamic, applied immediately) in the primary's
 * parameter group, and trusts it only when DescribeDBInstances shows that group attached to the
 * primary instance and `in-sync` — best effort: it needs the primary region's control plane.
 */
import { DescribeDBInstancesCommand, DescribeDBParametersCommand, ModifyDBParameterGroupCommand, PromoteReadReplicaCommand, type DBInstance } from '@aws-sdk/client-rds';
import type { ReplicationObservation } from '../core/contract';
import { rds } from '../core/clients';
import { awsCall, ResourceStateError, toNamedAwsError } from '../core/errors';
import type { Plan, RdsReplicaResource } from '../core/plan';
import { lagAt, latestLag, type LagReading, type MetricRef } from './cloudwatch';
import { failure, fenceOutcome, unreadable, type DatabaseAdapter, type FenceContext, type Fencer, type ReplicationQuery } from './types';
import type { Observation, ReconcileAdapter } from '../core/reconcile';

/** The parameter the database fence sets; `1` makes every new transaction read-only. */
export const READ_ONLY_PARAMETER = 'default_transaction_read_only';
/** How often the fence re-reads the apply status while it is `applying`. */
export const APPLY_POLL_MS = 1_000;

async function describe(id: string, region: string, signal?: AbortSignal): Promise<DBInstance> {
  const out = await awsCall(`rds:DescribeDBInstances ${id} ${region}`, () =>
    rds(region).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }), signal ? { abortSignal: signal } : {}),
  );
  const instance = out.DBInstances?.[0];
  if (!instance) throw new ResourceStateError(`DB instance ${id} not found in ${region}`);
  return instance;
}

const isReplica = (i: DBInstance): boolean => !!i.ReadReplicaSourceDBInstanceIdentifier;
const replicationStatus = (i: DBInstance): string | undefined => i.StatusInfos?.find((s) => s.StatusType === 'read replication')?.Status;

/**
 * Read-replication statuses in which the replica still receives the primary's changes
 * (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBInstanceStatusInfo.html;
 * RDS user guide, "Monitoring read replication": `replication degraded` is PostgreSQL's
 * "receiving data, some of it not yet applied"). `error`, `stopped`, `terminated` and the
 * stop-point states are a broken link for failover purposes.
 */
const RECEIVING = new Set(['replicating', 'replication degraded']);
const replicaLag = (db: RdsReplicaResource): MetricRef => ({ namespace: 'AWS/RDS', name: 'ReplicaLag', dimensions: { DBInstanceIdentifier: db.replicaInstanceIdentifier } });

/**
 * Why the replica is not ready to be promoted by this orchestrator. PromoteReadReplica is called
 * without BackupRetentionPeriod, and AWS recommends enabling backups and completing at least one
 * backup BEFORE promotion: the first backup's duration grows with the changes since the previous
 * one, and a replica cannot be promoted while `backing-up`
 * (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_PromoteReadReplica.html).
 * A payments writer without point-in-time recovery is not an acceptable end state either.
 */
export function backupProblems(db: RdsReplicaResource, instance: DBInstance): string[] {
  const days = instance.BackupRetentionPeriod;
  if (typeof days === 'number' && days > 0) return [];
  return [
    `backups are not enabled on the replica ${db.replicaInstanceIdentifier} (BackupRetentionPeriod ${days ?? 'not reported'}): ` +
      'PromoteReadReplica is called without BackupRetentionPeriod, so the promoted writer would start without a completed backup ' +
      '(AWS: enable backups and complete one before promoting; a replica cannot be promoted while backing-up)',
  ];
}

/** Statuses from which a replica will not become promotable by waiting: fail fast instead of polling to the deadline. */
const TERMINAL = new Set([
  'failed',
  'storage-full',
  'incompatible-parameters',
  'incompatible-restore',
  'incompatible-network',
  'incompatible-option-group',
  'inaccessible-encryption-credentials',
  'restore-error',
  'deleting',
  'stopped',
]);

/** The gap at the fault (unplanned failover, detection), or the newest (planned switchover after the fence). */
function readLag(db: RdsReplicaResource, plan: Plan, now: Date, at: { faultAt?: Date; notBefore?: Date }): Promise<LagReading> {
  const period = plan.detection.lagPeriodSeconds;
  return at.faultAt ? lagAt(plan.recoveryRegion, replicaLag(db), at.faultAt, 's', period) : latestLag(plan.recoveryRegion, replicaLag(db), now, at.notBefore, 's', period);
}

export async function replication(db: RdsReplicaResource, plan: Plan, now: Date, query: ReplicationQuery = {}): Promise<ReplicationObservation> {
  const instance = await describe(db.replicaInstanceIdentifier, plan.recoveryRegion);
  if (!isReplica(instance)) {
    return { database: db.name, kind: db.kind, status: 'promoted', detail: `${db.replicaInstanceIdentifier} is no longer a replica (${instance.DBInstanceStatus})` };
  }
  const status = replicationStatus(instance);
  const lag = await readLag(db, plan, now, { faultAt: query.faultAt });
  const notReady = backupProblems(db, instance);
  const backups = notReady.length === 0 ? `backups kept ${instance.BackupRetentionPeriod} days` : 'backups NOT enabled';
  return {
    database: db.name,
    kind: db.kind,
    // The link's state is RDS's own read-replication status; a missing lag datapoint (a young replica,
    // a metric not yet published) makes the gap unknown — RPO at risk — not the replication broken.
    status: status !== undefined && RECEIVING.has(status) ? 'replicating' : status === undefined ? 'unknown' : 'broken',
    ...(lag.value !== null ? { lagSeconds: lag.value } : {}),
    lagDetail: lag.detail,
    detail: `read replication ${status ?? 'unknown'}, gap ${query.faultAt ? 'at the fault ' : ''}${lag.detail}; ${backups}`,
    notReady,
  };
}

export const promote: ReconcileAdapter<RdsReplicaResource> = {
  async observe(db, ctx): Promise<Observation> {
    const instance = await describe(db.replicaInstanceIdentifier, ctx.plan.recoveryRegion);
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
    if (ctx.mode === 'switchover') {
      // Promote only on a ReplicaLag of 0 from a period that started after the fence: an older zero says nothing about the last writes.
      const lag = await readLag(db, ctx.plan, ctx.now, { notBefore: ctx.fencedAt });
      if (lag.value !== 0) {
        return {
          done: false,
          inProgress: false,
          waiting: true,
          phase: 'catching-up',
          detail: `planned switchover waits for a ReplicaLag of 0 from a period starting after the fence (now: ${lag.detail})`,
          lagSeconds: lag.value,
        };
      }
      return { done: false, inProgress: false, phase: 'ready', detail: `${db.replicaInstanceIdentifier} caught up: ${lag.detail}`, lagSeconds: 0, lagDetail: lag.detail };
    }
    // Unplanned: the data lost is the gap at the fault, not the gap now (which grows with the clock once the primary is gone).
    const lag = await readLag(db, ctx.plan, ctx.now, { faultAt: ctx.faultAt ?? ctx.now });
    return {
      done: false,
      inProgress: false,
      phase: 'ready',
      detail: `${db.replicaInstanceIdentifier} replicating; gap at the fault ${lag.detail}`,
      lagSeconds: lag.value,
      lagDetail: lag.detail,
    };
  },
  async act(db, ctx, observation) {
    const estimate = observation.lagDetail ? `; data-loss estimate (gap ${ctx.mode === 'switchover' ? 'after the fence' : 'at the fault'}): ${observation.lagDetail}` : '';
    try {
      await rds(ctx.plan.recoveryRegion).send(new PromoteReadReplicaCommand({ DBInstanceIdentifier: db.replicaInstanceIdentifier }));
    } catch (error) {
      // Promotion already under way (a duplicate or retried call): the next observe sees it.
      if (error instanceof Error && error.name === 'InvalidDBInstanceStateFault') {
        return { detail: `PromoteReadReplica ${db.replicaInstanceIdentifier}: already in progress (${error.message})${estimate}` };
      }
      throw toNamedAwsError(error, `rds:PromoteReadReplica ${db.replicaInstanceIdentifier}`);
    }
    return { detail: `PromoteReadReplica ${db.replicaInstanceIdentifier} (irreversible; the instance reboots)${estimate}` };
  },
  describeAction(db) {
    return `PromoteReadReplica ${db.replicaInstanceIdentifier} (irreversible; reboots)`;
  },
};

// ---- the database fence ---------------------------------------------------------------------

/**
 * What a parameter group's apply status means for the fence
 * (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBParameterGroupStatus.html):
 * `in-sync` = the change is in force; `applying` = not yet (poll again); `pending-reboot`,
 * `pending-database-upgrade`, `failed-to-apply` = not in force, and waiting will not change that.
 */
export function applyVerdict(status: string | undefined): 'in-force' | 'applying' | 'not-in-force' {
  if (status === 'in-sync') return 'in-force';
  if (status === 'applying') return 'applying';
  return 'not-in-force';
}

/** PostgreSQL booleans that mean "on". */
export const isOn = (value: string | undefined): boolean => value !== undefined && ['1', 'on', 'true', 'yes'].includes(value.trim().toLowerCase());

interface GroupState {
  attached: boolean;
  applyStatus?: string;
  summary: string;
}

/**
 * Whether the plan's parameter group is attached to the primary instance, and its apply status.
 * Used by the fence (before and after the change) and by the re-check after promotion, whose
 * verdicts are: in-sync with the parameter at 1 = refuses writes; not attached, parameter not 1,
 * pending-reboot / failed-to-apply = accepts writes; still applying = not proven (recorded).
 */
async function primaryGroup(db: RdsReplicaResource, region: string, group: string, signal: AbortSignal): Promise<GroupState> {
  const instance = await describe(db.primaryInstanceIdentifier, region, signal);
  const groups = instance.DBParameterGroups ?? [];
  const ours = groups.find((g) => g.DBParameterGroupName === group);
  const where = `${db.primaryInstanceIdentifier} (${instance.DBInstanceStatus ?? 'status unknown'})`;
  if (!ours) {
    const attached = groups.map((g) => g.DBParameterGroupName).join(', ') || 'none listed';
    return { attached: false, summary: `${group} is NOT attached to ${where}; attached: ${attached}` };
  }
  return { attached: true, applyStatus: ours.ParameterApplyStatus, summary: `${group} attached to ${where}, ${ours.ParameterApplyStatus ?? 'apply status not reported'}` };
}

/**
 * The value of one parameter the user set in a (cluster) parameter group: reads every page that
 * `page(marker)` returns (DescribeDBParameters / DescribeDBClusterParameters, Source `user`).
 */
export async function findUserParameter(
  name: string,
  page: (marker: string | undefined) => Promise<{ Parameters?: Array<{ ParameterName?: string; ParameterValue?: string }>; Marker?: string }>,
): Promise<string | undefined> {
  let marker: string | undefined;
  for (let n = 0; n < 50; n++) {
    const out = await page(marker);
    const found = out.Parameters?.find((p) => p.ParameterName === name);
    if (found) return found.ParameterValue;
    marker = out.Marker;
    if (!marker) return undefined;
  }
  return undefined;
}

/** The value of one parameter the user set in a DB parameter group (Source `user`, every page). */
function userParameter(group: string, name: string, region: string, signal: AbortSignal): Promise<string | undefined> {
  return findUserParameter(name, (marker) =>
    rds(region).send(new DescribeDBParametersCommand({ DBParameterGroupName: group, Source: 'user', ...(marker ? { Marker: marker } : {}) }), { abortSignal: signal }),
  );
}

/** Re-reads a parameter group's state while `applying(state)`, polling within the fence budget. */
export async function settleWhileApplying<S extends { attached: boolean }>(read: () => Promise<S>, applying: (state: S) => boolean, ctx: FenceContext): Promise<S> {
  let state = await read();
  const polls = Math.ceil((ctx.budgetSeconds * 1000) / APPLY_POLL_MS);
  for (let i = 0; i < polls && state.attached && applying(state); i++) {
    await ctx.sleep(APPLY_POLL_MS);
    state = await read();
  }
  return state;
}

export const fencer: Fencer<RdsReplicaResource> = {
  async fence(db, plan, ctx) {
    const group = db.primaryParameterGroup;
    if (!group) return fenceOutcome('skipped', 'none', 'no primaryParameterGroup in the plan: the database is fenced by the compute layer only');
    const region = plan.primaryRegion;
    const done: string[] = [];
    let doing = `DescribeDBInstances ${db.primaryInstanceIdentifier} (${region})`;
    try {
      const before = await primaryGroup(db, region, group, ctx.signal);
      done.push(`before: ${before.summary}`);
      if (!before.attached) return fenceOutcome('unconfirmed', 'read-only', `${done.join('; ')}; no change made: changing a group the primary does not use fences nothing`);
      doing = `ModifyDBParameterGroup ${group} (${region})`;
      await rds(region).send(
        new ModifyDBParameterGroupCommand({ DBParameterGroupName: group, Parameters: [{ ParameterName: READ_ONLY_PARAMETER, ParameterValue: '1', ApplyMethod: 'immediate' }] }),
        { abortSignal: ctx.signal },
      );
      done.push(`ModifyDBParameterGroup ${group} ${READ_ONLY_PARAMETER}=1 (immediate)`);
      doing = `waiting for ${group} to be in-sync on ${db.primaryInstanceIdentifier}`;
      const after = await settleWhileApplying(
        () => primaryGroup(db, region, group, ctx.signal),
        (s) => applyVerdict(s.applyStatus) === 'applying',
        ctx,
      );
      done.push(`after: ${after.summary}`);
      const inForce = after.attached && applyVerdict(after.applyStatus) === 'in-force';
      return fenceOutcome(inForce ? 'confirmed' : 'unconfirmed', 'read-only', inForce ? done.join('; ') : `${done.join('; ')}: the read-only setting is not shown in force`);
    } catch (error) {
      return fenceOutcome('unconfirmed', 'read-only', [...done, failure(error, ctx, doing)].join('; '));
    }
  },
  describeFence(db, plan) {
    return db.primaryParameterGroup
      ? `ModifyDBParameterGroup ${db.primaryParameterGroup} ${READ_ONLY_PARAMETER}=1, confirmed when attached to ${db.primaryInstanceIdentifier} and in-sync (${plan.primaryRegion})`
      : 'nothing at the database (no primaryParameterGroup): fenced by the compute layer only';
  },
  async recheck(db, plan, ctx) {
    const group = db.primaryParameterGroup;
    if (!group) return { status: 'no-database-fence', detail: 'no primaryParameterGroup in the plan: the old primary is fenced by the compute layer only' };
    const region = plan.primaryRegion;
    let doing = `DescribeDBInstances ${db.primaryInstanceIdentifier} (${region})`;
    try {
      const state = await primaryGroup(db, region, group, ctx.signal);
      const verdict = state.attached ? applyVerdict(state.applyStatus) : 'not-in-force';
      // Still applying: the instance has not taken the change (a crashed primary never does, and takes no writes either). Not proven either way.
      if (verdict === 'applying')
        return { status: 'unreachable', detail: `${state.summary}: the read-only change is still applying, so the instance could not be shown to refuse writes (down?)` };
      if (verdict === 'not-in-force') return { status: 'accepts-writes', detail: `${state.summary}: the read-only setting is not in force` };
      doing = `DescribeDBParameters ${group} (${region})`;
      const value = await userParameter(group, READ_ONLY_PARAMETER, region, ctx.signal);
      if (!isOn(value)) return { status: 'accepts-writes', detail: `${state.summary}, but ${READ_ONLY_PARAMETER} is ${value ?? 'not set'} in it` };
      return { status: 'refuses-writes', detail: `${state.summary}, ${READ_ONLY_PARAMETER}=${value}` };
    } catch (error) {
      return unreadable(error, ctx, doing);
    }
  },
};

export const database: DatabaseAdapter<RdsReplicaResource> = { promote, replication, fencer };
