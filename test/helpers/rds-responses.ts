import type { DescribeDBInstancesCommandOutput, DescribeGlobalClustersCommandOutput } from '@aws-sdk/client-rds';

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

/** DescribeDBInstances for the example plan's accounts replica in eu-west-1, still replicating. */
export function accountsReplicaReplicating(): Partial<DescribeDBInstancesCommandOutput> {
  return {
    DBInstances: [
      {
        DBInstanceIdentifier: 'payments-accounts-euw1',
        DBInstanceStatus: 'available',
        ReadReplicaSourceDBInstanceIdentifier: 'arn:aws:rds:us-east-1:111122223333:db:payments-accounts-use1',
        StatusInfos: [{ StatusType: 'read replication', Status: 'replicating', Normal: true }],
      },
    ],
  };
}
