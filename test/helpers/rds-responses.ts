import type { DescribeDBClustersCommandOutput, DescribeDBInstancesCommandOutput, DescribeGlobalClustersCommandOutput } from '@aws-sdk/client-rds';

export const LEDGER_PRIMARY = 'arn:aws:rds:us-east-1:111122223333:cluster:payments-ledger-use1';
export const LEDGER_RECOVERY = 'arn:aws:rds:eu-west-1:111122223333:cluster:payments-ledger-euw1';

/** DescribeGlobalClusters for the example plan's ledger, with the writer in the given region. */
export function ledgerGlobalCluster(writer: 'primary' | 'recovery'): Partial<DescribeGlobalClustersCommandOutput> {
  return {
    GlobalClusters: [
      {
        GlobalClusterIdentifier: 'payments-ledger-global',
        Status: 'available',
        GlobalClusterMembers: [
          { DBClusterArn: LEDGER_PRIMARY, IsWriter: writer === 'primary' },
          { DBClusterArn: LEDGER_RECOVERY, IsWriter: writer === 'recovery', ...(writer === 'primary' ? { SynchronizationStatus: 'connected' as const } : {}) },
        ],
      },
    ],
  };
}

/** DescribeDBInstances for the example plan's accounts replica in eu-west-1, still replicating, backups kept 7 days. */
export function accountsReplicaReplicating(overrides: { backupRetentionPeriod?: number } = {}): Partial<DescribeDBInstancesCommandOutput> {
  return {
    DBInstances: [
      {
        DBInstanceIdentifier: 'payments-accounts-euw1',
        DBInstanceStatus: 'available',
        BackupRetentionPeriod: overrides.backupRetentionPeriod ?? 7,
        ReadReplicaSourceDBInstanceIdentifier: 'arn:aws:rds:us-east-1:111122223333:db:payments-accounts-use1',
        StatusInfos: [{ StatusType: 'read replication', Status: 'replicating', Normal: true }],
      },
    ],
  };
}

/**
 * DescribeDBInstances for the example plan's accounts primary in us-east-1: the plan's parameter
 * group (payments-accounts-pg15) attached with the given apply status, or another group attached.
 */
export function accountsPrimary(group: { name?: string; applyStatus?: string } = {}): Partial<DescribeDBInstancesCommandOutput> {
  return {
    DBInstances: [
      {
        DBInstanceIdentifier: 'payments-accounts-use1',
        DBInstanceStatus: 'available',
        DBParameterGroups: [{ DBParameterGroupName: group.name ?? 'payments-accounts-pg15', ParameterApplyStatus: group.applyStatus ?? 'in-sync' }],
      },
    ],
  };
}

/** DescribeDBClusters for the example plan's ledger primary cluster in us-east-1 and its members' apply status. */
export function ledgerPrimaryCluster(group: { name?: string; memberStatus?: string[] } = {}): Partial<DescribeDBClustersCommandOutput> {
  return {
    DBClusters: [
      {
        DBClusterIdentifier: 'payments-ledger-use1',
        Status: 'available',
        DBClusterParameterGroup: group.name ?? 'payments-ledger-apg15',
        DBClusterMembers: (group.memberStatus ?? ['in-sync', 'in-sync']).map((status, i) => ({
          DBInstanceIdentifier: `payments-ledger-use1-${i + 1}`,
          IsClusterWriter: i === 0,
          DBClusterParameterGroupStatus: status,
        })),
      },
    ],
  };
}

/**
 * A GetMetricData fake that answers like CloudWatch from a per-period series: only the periods whose
 * start lies in [StartTime, EndTime) are returned, newest first, timestamps = period start. Each
 * series is picked by metric name (`ReplicaLag`, `AuroraGlobalDBRPOLag`, …).
 */
export function metricSeries(series: Record<string, Array<[string, number]>>) {
  return (input: { StartTime?: Date; EndTime?: Date; MetricDataQueries?: Array<{ Id?: string; MetricStat?: { Metric?: { MetricName?: string } } }> }) => ({
    MetricDataResults: (input.MetricDataQueries ?? []).map((q) => {
      const points = (series[q.MetricStat?.Metric?.MetricName ?? ''] ?? [])
        .map(([at, value]) => ({ at: new Date(at), value }))
        .filter((p) => p.at.getTime() >= (input.StartTime?.getTime() ?? 0) && p.at.getTime() < (input.EndTime?.getTime() ?? Infinity))
        .sort((a, b) => b.at.getTime() - a.at.getTime());
      return { Id: q.Id, StatusCode: 'Complete' as const, Timestamps: points.map((p) => p.at), Values: points.map((p) => p.value) };
    }),
  });
}

/** Per-minute points from `from` (ISO, a minute boundary) on: `values[i]` is the period starting i minutes later. */
export function perMinute(from: string, values: number[]): Array<[string, number]> {
  return perPeriod(from, 60, values);
}

/** Points every `seconds` from `from` (a period boundary) on: `values[i]` is the period starting i periods later. */
export function perPeriod(from: string, seconds: number, values: number[]): Array<[string, number]> {
  return values.map((v, i) => [new Date(Date.parse(from) + i * seconds * 1000).toISOString(), v]);
}

/** DescribeDBInstances for the accounts replica with the given read-replication status (undefined: no StatusInfos at all). */
export function accountsReplicaWithStatus(status: string | undefined): Partial<DescribeDBInstancesCommandOutput> {
  const out = accountsReplicaReplicating();
  const instance = out.DBInstances![0]!;
  return { DBInstances: [{ ...instance, StatusInfos: status === undefined ? [] : [{ StatusType: 'read replication', Status: status, Normal: status === 'replicating' }] }] };
}
