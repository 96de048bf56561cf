/**
 * Aurora PostgreSQL global database (RDS API, plus CloudWatch for the replication gap).
 *
 * Planned switchover uses `SwitchoverGlobalCluster` (RPO 0: Aurora waits for the secondary to catch
 * up). Unplanned failover uses `FailoverGlobalCluster` with `AllowDataLoss` (RPO = the gap at the
 * fault, which we record). Both are called in the recovery region, so they do not need the failed
 * region's control plane.
 *
 * The gap is `AuroraGlobalDBRPOLag` of the secondary cluster (milliseconds, dimension
 * DBClusterIdentifier): how far the secondary's committed transactions trail the primary's — the
 * data an outage would lose — rather than `AuroraGlobalDBReplicationLag`
 * (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-global-database-disaster-recovery.html,
 * https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.AuroraMonitoring.Metrics.html).
 *
 * Writers in the primary region are fenced by the compute layer (ECS scaled to zero) and, when the
 * plan names `primaryClusterParameterGroup`, by `default_transaction_read_only = 1` in the primary
 * cluster's parameter group, trusted only when DescribeDBClusters shows it attached and every
 * member `in-sync`. Aurora's own write fencing during a managed failover is best effort.
 */
import {
  DescribeDBClusterParametersCommand,
  DescribeDBClustersCommand,
  DescribeGlobalClustersCommand,
  FailoverGlobalClusterCommand,
  ModifyDBClusterParameterGroupCommand,
  SwitchoverGlobalClusterCommand,
  type GlobalCluster,
} from '@aws-sdk/client-rds';
import type { ReplicationObservation } from '../core/contract';
import { rds } from '../core/clients';
import { awsCall, ResourceStateError, toNamedAwsError } from '../core/errors';
import type { AuroraGlobalResource, Plan } from '../core/plan';
import { lagAt, latestLag, scaled, type LagReading, type MetricRef } from './cloudwatch';
import { applyVerdict, findUserParameter, isOn, READ_ONLY_PARAMETER, settleWhileApplying } from './rds-replica';
import { failure, fenceOutcome, unreadable, type DatabaseAdapter, type Fencer, type ReplicationQuery } from './types';
import type { AdapterContext, Observation, ReconcileAdapter } from '../core/reconcile';

const clusterIdOf = (arn: string): string => arn.split(':cluster:')[1] ?? arn;

async function describe(db: AuroraGlobalResource, region: string): Promise<GlobalCluster> {
  const out = await awsCall(`rds:DescribeGlobalClusters ${db.globalClusterIdentifier}`, () =>
    rds(region).send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: db.globalClusterIdentifier })),
  );
  const cluster = out.GlobalClusters?.[0];
  if (!cluster) throw new ResourceStateError(`global cluster ${db.globalClusterIdentifier} not found in ${region}`);
  return cluster;
}

const rpoLag = (db: AuroraGlobalResource): MetricRef => ({
  namespace: 'AWS/RDS',
  name: 'AuroraGlobalDBRPOLag',
  dimensions: { DBClusterIdentifier: clusterIdOf(db.recoveryClusterArn) },
});

/** The RPO gap of the recovery cluster in seconds (the metric is in milliseconds): at the fault, or the newest. */
async function readLag(db: AuroraGlobalResource, plan: Plan, now: Date, faultAt?: Date): Promise<LagReading> {
  const period = plan.detection.lagPeriodSeconds;
  const ms = faultAt ? await lagAt(plan.recoveryRegion, rpoLag(db), faultAt, 'ms', period) : await latestLag(plan.recoveryRegion, rpoLag(db), now, undefined, 'ms', period);
  return scaled(ms, 1 / 1000);
}

const recoveryIsWriter = (cluster: GlobalCluster, db: AuroraGlobalResource): boolean =>
  (cluster.GlobalClusterMembers ?? []).some((m) => m.DBClusterArn === db.recoveryClusterArn && m.IsWriter === true);

const IN_PROGRESS = new Set(['failing-over', 'switching-over', 'modifying', 'upgrading']);

export async function replication(db: AuroraGlobalResource, plan: Plan, now: Date, query: ReplicationQuery = {}): Promise<ReplicationObservation> {
  const cluster = await describe(db, plan.recoveryRegion);
  if (recoveryIsWriter(cluster, db)) {
    return { database: db.name, kind: db.kind, status: 'promoted', detail: `${clusterIdOf(db.recoveryClusterArn)} is already the writer` };
  }
  const member = (cluster.GlobalClusterMembers ?? []).find((m) => m.DBClusterArn === db.recoveryClusterArn);
  if (!member) {
    return { database: db.name, kind: db.kind, status: 'broken', detail: `${db.recoveryClusterArn} is not a member of ${db.globalClusterIdentifier}` };
  }
  const lag = await readLag(db, plan, now, query.faultAt);
  const sync = member.SynchronizationStatus;
  // Broken is Aurora's own word (pending-resync); a missing lag datapoint is an unknown gap (RPO at risk), not a broken link.
  const broken = sync === 'pending-resync';
  return {
    database: db.name,
    kind: db.kind,
    status: broken ? 'broken' : 'replicating',
    ...(lag.value !== null ? { lagSeconds: lag.value } : {}),
    lagDetail: lag.detail,
    detail: `synchronization ${sync ?? 'unknown'}, gap ${query.faultAt ? 'at the fault ' : ''}${lag.detail}`,
    notReady: [],
  };
}

export const promote: ReconcileAdapter<AuroraGlobalResource> = {
  async observe(db, ctx): Promise<Observation> {
    const cluster = await describe(db, ctx.plan.recoveryRegion);
    const status = cluster.Status ?? 'unknown';
    if (recoveryIsWriter(cluster, db) && status === 'available') {
      return { done: true, inProgress: false, phase: 'promoted', detail: `${clusterIdOf(db.recoveryClusterArn)} is the writer of ${db.globalClusterIdentifier}` };
    }
    // Any FailoverState (pending, failing-over, switching-over, cancelling) means a change is under way: never issue a second one.
    const failoverStatus = cluster.FailoverState?.Status as string | undefined;
    if (IN_PROGRESS.has(status) || failoverStatus) {
      return { done: false, inProgress: true, phase: 'promoting', detail: `global cluster ${status}, failover ${failoverStatus ?? 'n/a'}` };
    }
    const secondary = `global cluster ${status}; ${clusterIdOf(db.recoveryClusterArn)} is a secondary`;
    // SwitchoverGlobalCluster itself waits until the secondary is synchronized (RPO 0).
    if (ctx.mode !== 'failover') return { done: false, inProgress: false, phase: 'ready', detail: secondary, lagSeconds: 0 };
    const lag = await readLag(db, ctx.plan, ctx.now, ctx.faultAt ?? ctx.now);
    return {
      done: false,
      inProgress: false,
      phase: 'ready',
      detail: `${secondary}; gap at the fault ${lag.detail}`,
      lagSeconds: lag.value,
      lagDetail: `${lag.detail}${lag.value !== null ? ` = ${lag.value} s` : ''}`,
    };
  },
  async act(db, ctx, observation) {
    const estimate = observation.lagDetail ? `; data-loss estimate (gap at the fault): ${observation.lagDetail}` : '';
    const region = ctx.plan.recoveryRegion;
    const planned = ctx.mode === 'switchover';
    const what = planned ? 'SwitchoverGlobalCluster' : 'FailoverGlobalCluster';
    try {
      await rds(region).send(
        planned
          ? new SwitchoverGlobalClusterCommand({ GlobalClusterIdentifier: db.globalClusterIdentifier, TargetDbClusterIdentifier: db.recoveryClusterArn })
          : new FailoverGlobalClusterCommand({ GlobalClusterIdentifier: db.globalClusterIdentifier, TargetDbClusterIdentifier: db.recoveryClusterArn, AllowDataLoss: true }),
      );
    } catch (error) {
      // A call accepted but answered slowly is retried by the SDK; the retry finds the change under way. The next observe decides.
      if ((error as { name?: string })?.name === 'InvalidGlobalClusterStateFault') {
        return { detail: `${what} ${db.globalClusterIdentifier}: a change is already under way (${(error as Error).message})${estimate}` };
      }
      throw toNamedAwsError(error, `rds:${what} ${db.globalClusterIdentifier}`);
    }
    return { detail: planned ? `${what} to ${clusterIdOf(db.recoveryClusterArn)} (RPO 0)` : `${what} to ${clusterIdOf(db.recoveryClusterArn)} with AllowDataLoss${estimate}` };
  },
  describeAction(db, ctx: AdapterContext) {
    const target = clusterIdOf(db.recoveryClusterArn);
    return ctx.mode === 'switchover'
      ? `SwitchoverGlobalCluster ${db.globalClusterIdentifier} → ${target}`
      : `FailoverGlobalCluster ${db.globalClusterIdentifier} → ${target} (AllowDataLoss; unplanned)`;
  },
};

// ---- the database fence ---------------------------------------------------------------------

interface ClusterGroupState {
  attached: boolean;
  /** The members' DBClusterParameterGroupStatus: `in-sync` on every member = in force. */
  verdict: ReturnType<typeof applyVerdict>;
  summary: string;
}

/**
 * Whether the plan's cluster parameter group is the primary cluster's, and its members' apply status
 * (DBCluster.DBClusterParameterGroup, DBClusterMember.DBClusterParameterGroupStatus:
 * https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBClusterMember.html).
 */
async function primaryClusterGroup(db: AuroraGlobalResource, region: string, group: string, signal: AbortSignal): Promise<ClusterGroupState> {
  const id = clusterIdOf(db.primaryClusterArn);
  const out = await rds(region).send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }), { abortSignal: signal });
  const cluster = out.DBClusters?.[0];
  if (!cluster) throw new ResourceStateError(`DB cluster ${id} not found in ${region}`);
  const where = `${id} (${cluster.Status ?? 'status unknown'})`;
  if (cluster.DBClusterParameterGroup !== group) {
    return { attached: false, verdict: 'not-in-force', summary: `${group} is NOT the parameter group of ${where}; it uses ${cluster.DBClusterParameterGroup ?? 'none listed'}` };
  }
  const members = cluster.DBClusterMembers ?? [];
  if (members.length === 0) return { attached: true, verdict: 'not-in-force', summary: `${group} attached to ${where}, which lists no members to check` };
  const verdicts = members.map((m) => applyVerdict(m.DBClusterParameterGroupStatus));
  const verdict = verdicts.includes('not-in-force') ? 'not-in-force' : verdicts.includes('applying') ? 'applying' : 'in-force';
  const statuses = members.map((m) => `${m.DBInstanceIdentifier ?? '?'} ${m.DBClusterParameterGroupStatus ?? 'not reported'}`).join(', ');
  return { attached: true, verdict, summary: `${group} attached to ${where}; members ${statuses}` };
}

/** The value of one parameter the user set in a DB cluster parameter group (Source `user`, every page). */
function userClusterParameter(group: string, name: string, region: string, signal: AbortSignal): Promise<string | undefined> {
  return findUserParameter(name, (marker) =>
    rds(region).send(new DescribeDBClusterParametersCommand({ DBClusterParameterGroupName: group, Source: 'user', ...(marker ? { Marker: marker } : {}) }), {
      abortSignal: signal,
    }),
  );
}

export const fencer: Fencer<AuroraGlobalResource> = {
  async fence(db, plan, ctx) {
    const group = db.primaryClusterParameterGroup;
    if (!group) {
      return fenceOutcome(
        'skipped',
        'none',
        "no primaryClusterParameterGroup in the plan: the database is fenced by the compute layer only (and by Aurora's best-effort write fencing during a managed failover)",
      );
    }
    const region = plan.primaryRegion;
    const id = clusterIdOf(db.primaryClusterArn);
    const done: string[] = [];
    let doing = `DescribeDBClusters ${id} (${region})`;
    try {
      const before = await primaryClusterGroup(db, region, group, ctx.signal);
      done.push(`before: ${before.summary}`);
      if (!before.attached) return fenceOutcome('unconfirmed', 'read-only', `${done.join('; ')}; no change made: changing a group the primary does not use fences nothing`);
      doing = `ModifyDBClusterParameterGroup ${group} (${region})`;
      await rds(region).send(
        new ModifyDBClusterParameterGroupCommand({
          DBClusterParameterGroupName: group,
          Parameters: [{ ParameterName: READ_ONLY_PARAMETER, ParameterValue: '1', ApplyMethod: 'immediate' }],
        }),
        { abortSignal: ctx.signal },
      );
      done.push(`ModifyDBClusterParameterGroup ${group} ${READ_ONLY_PARAMETER}=1 (immediate)`);
      doing = `waiting for ${group} to be in-sync on every member of ${id}`;
      const after = await settleWhileApplying(
        () => primaryClusterGroup(db, region, group, ctx.signal),
        (s) => s.verdict === 'applying',
        ctx,
      );
      done.push(`after: ${after.summary}`);
      const inForce = after.attached && after.verdict === 'in-force';
      return fenceOutcome(inForce ? 'confirmed' : 'unconfirmed', 'read-only', inForce ? done.join('; ') : `${done.join('; ')}: the read-only setting is not shown in force`);
    } catch (error) {
      return fenceOutcome('unconfirmed', 'read-only', [...done, failure(error, ctx, doing)].join('; '));
    }
  },
  describeFence(db, plan) {
    return db.primaryClusterParameterGroup
      ? `ModifyDBClusterParameterGroup ${db.primaryClusterParameterGroup} ${READ_ONLY_PARAMETER}=1, confirmed when it is the parameter group of ${clusterIdOf(db.primaryClusterArn)} and in-sync on every member (${plan.primaryRegion})`
      : 'nothing at the database (no primaryClusterParameterGroup): fenced by the compute layer only';
  },
  async recheck(db, plan, ctx) {
    const group = db.primaryClusterParameterGroup;
    if (!group) return { status: 'no-database-fence', detail: 'no primaryClusterParameterGroup in the plan: the old primary is fenced by the compute layer only' };
    const region = plan.primaryRegion;
    let doing = `DescribeDBClusters ${clusterIdOf(db.primaryClusterArn)} (${region})`;
    try {
      const state = await primaryClusterGroup(db, region, group, ctx.signal);
      if (state.attached && state.verdict === 'applying') {
        return { status: 'unreachable', detail: `${state.summary}: the read-only change is still applying, so the cluster could not be shown to refuse writes (down?)` };
      }
      if (!state.attached || state.verdict !== 'in-force') return { status: 'accepts-writes', detail: `${state.summary}: the read-only setting is not in force` };
      doing = `DescribeDBClusterParameters ${group} (${region})`;
      const value = await userClusterParameter(group, READ_ONLY_PARAMETER, region, ctx.signal);
      if (!isOn(value)) return { status: 'accepts-writes', detail: `${state.summary}, but ${READ_ONLY_PARAMETER} is ${value ?? 'not set'} in it` };
      return { status: 'refuses-writes', detail: `${state.summary}, ${READ_ONLY_PARAMETER}=${value}` };
    } catch (error) {
      return unreadable(error, ctx, doing);
    }
  },
};

export const database: DatabaseAdapter<AuroraGlobalResource> = { promote, replication, fencer };
