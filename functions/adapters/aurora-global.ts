/**
 * Aurora PostgreSQL global database (RDS API, plus CloudWatch for the replication lag).
 *
 * Planned switchover uses `SwitchoverGlobalCluster` (RPO 0: Aurora waits for the secondary to catch
 * up). Unplanned failover uses `FailoverGlobalCluster` with `AllowDataLoss` (RPO = the replication
 * gap, which we record). Both are called in the recovery region, so they do not need the failed
 * region's control plane. Writers in the primary region are fenced by the compute layer (ECS scaled
 * to zero); Aurora demotes the old writer itself when it can reach it.
 */
import { DescribeGlobalClustersCommand, FailoverGlobalClusterCommand, SwitchoverGlobalClusterCommand, type GlobalCluster } from '@aws-sdk/client-rds';
import type { ReplicationObservation } from '../core/contract';
import { rds } from '../core/clients';
import { awsCall, ResourceStateError, toNamedAwsError } from '../core/errors';
import type { AuroraGlobalResource, Plan } from '../core/plan';
import { freshValue, latestMetric } from './cloudwatch';
import type { AdapterContext, Observation, ReconcileAdapter } from './types';

const clusterIdOf = (arn: string): string => arn.split(':cluster:')[1] ?? arn;

async function describe(db: AuroraGlobalResource, region: string): Promise<GlobalCluster> {
  const out = await awsCall(`rds:DescribeGlobalClusters ${db.globalClusterIdentifier}`, () =>
    rds(region).send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: db.globalClusterIdentifier })),
  );
  const cluster = out.GlobalClusters?.[0];
  if (!cluster) throw new ResourceStateError(`global cluster ${db.globalClusterIdentifier} not found in ${region}`);
  return cluster;
}

/** Replication lag of the recovery cluster in seconds (the metric is in milliseconds); null when no recent datapoint. */
async function lagSeconds(db: AuroraGlobalResource, plan: Plan, now: Date): Promise<number | null> {
  const point = await latestMetric(
    plan.recoveryRegion,
    { namespace: 'AWS/RDS', name: 'AuroraGlobalDBReplicationLag', dimensions: { DBClusterIdentifier: clusterIdOf(db.recoveryClusterArn) } },
    now,
  );
  const ms = freshValue(point, now);
  return ms === null ? null : ms / 1000;
}

const recoveryIsWriter = (cluster: GlobalCluster, db: AuroraGlobalResource): boolean =>
  (cluster.GlobalClusterMembers ?? []).some((m) => m.DBClusterArn === db.recoveryClusterArn && m.IsWriter === true);

const IN_PROGRESS = new Set(['failing-over', 'switching-over', 'modifying', 'upgrading']);

export async function replication(db: AuroraGlobalResource, plan: Plan, now: Date): Promise<ReplicationObservation> {
  const cluster = await describe(db, plan.recoveryRegion);
  if (recoveryIsWriter(cluster, db)) {
    return { database: db.name, kind: db.kind, status: 'promoted', detail: `${clusterIdOf(db.recoveryClusterArn)} is already the writer` };
  }
  const member = (cluster.GlobalClusterMembers ?? []).find((m) => m.DBClusterArn === db.recoveryClusterArn);
  if (!member) {
    return { database: db.name, kind: db.kind, status: 'broken', detail: `${db.recoveryClusterArn} is not a member of ${db.globalClusterIdentifier}` };
  }
  const lag = await lagSeconds(db, plan, now);
  const sync = member.SynchronizationStatus;
  const broken = sync === 'pending-resync' || lag === null;
  return {
    database: db.name,
    kind: db.kind,
    status: broken ? 'broken' : 'replicating',
    lagSeconds: lag ?? undefined,
    detail: lag === null ? 'no recent replication-lag datapoint (3 minutes)' : `lag ${lag.toFixed(1)} s, synchronization ${sync ?? 'unknown'}`,
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
    if (IN_PROGRESS.has(status) || !!failoverStatus) {
      return { done: false, inProgress: true, phase: 'promoting', detail: `global cluster ${status}, failover ${failoverStatus ?? 'n/a'}` };
    }
    // SwitchoverGlobalCluster itself waits until the secondary is synchronized (RPO 0).
    const lag = ctx.mode === 'failover' ? await lagSeconds(db, ctx.plan, ctx.now) : 0;
    return { done: false, inProgress: false, phase: 'ready', detail: `global cluster ${status}; ${clusterIdOf(db.recoveryClusterArn)} is a secondary`, lagSeconds: lag };
  },
  async act(db, ctx) {
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
        return { detail: `${what} ${db.globalClusterIdentifier}: a change is already under way (${(error as Error).message})` };
      }
      throw toNamedAwsError(error, `rds:${what} ${db.globalClusterIdentifier}`);
    }
    return { detail: planned ? `${what} to ${clusterIdOf(db.recoveryClusterArn)} (RPO 0)` : `${what} to ${clusterIdOf(db.recoveryClusterArn)} with AllowDataLoss` };
  },
  describeAction(db, ctx: AdapterContext) {
    const target = clusterIdOf(db.recoveryClusterArn);
    return ctx.mode === 'switchover'
      ? `SwitchoverGlobalCluster ${db.globalClusterIdentifier} → ${target}`
      : `FailoverGlobalCluster ${db.globalClusterIdentifier} → ${target} (AllowDataLoss; unplanned)`;
  },
};
