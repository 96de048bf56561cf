import type { DescribeGlobalClustersCommandOutput } from '@aws-sdk/client-rds';

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
