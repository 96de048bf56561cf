import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { ApprovalItem } from '../../functions/slack/approvals-store';
import type { DetectionResult, FenceResult, StartResult } from '../../functions/core/contract';

/** `$.start` of an execution started by the US health alarm. */
export function startFixture(overrides: Partial<StartResult> = {}): StartResult {
  return {
    trigger: 'alarm',
    mode: 'failover',
    reason: 'payments-us-east-1-api-health in ALARM: 3 of 3 datapoints breaching',
    requestedBy: 'cloudwatch',
    alarmName: 'payments-us-east-1-api-health',
    alarmKind: 'health',
    executionId: 'arn:aws:states:eu-west-1:111122223333:execution:payments-failover:7f1c2d3e-0000-4000-8000-000000000001',
    startedAt: '2025-03-04T10:00:00.000Z',
    ...overrides,
  };
}

/** `$.detection` of a network partition: both regions answer, replication is broken, approval required. */
export function detectionFixture(overrides: Partial<DetectionResult> = {}): DetectionResult {
  return {
    classification: 'partition',
    action: 'failover',
    approvalRequired: true,
    onApprovalTimeout: 'abort',
    rpoAtRisk: true,
    replicationGapSeconds: 42,
    reasons: ['US probes answer from eu-west-1', 'replication to eu-west-1 is broken for ledger'],
    evidence: {
      probes: [
        { name: 'api-us', url: 'https://api-use1.payments.example.com/healthz', healthy: true, status: 200, attempts: 1 },
        { name: 'ledger-us', url: 'https://ledger-use1.payments.example.com/healthz', healthy: false, error: 'timeout', attempts: 3 },
      ],
      alarms: [
        { name: 'payments-us-east-1-api-health', state: 'OK' },
        { name: 'payments-ledger-replication-lag', state: 'ALARM' },
      ],
      replication: [
        { database: 'ledger', kind: 'aurora-global', status: 'broken', lagSeconds: 42, detail: 'no replay for 42 s' },
        { database: 'accounts', kind: 'rds-replica', status: 'replicating', lagSeconds: 2, detail: 'replica lag 2 s' },
      ],
      trafficOnRecovery: false,
    },
    startedAt: '2025-03-04T10:00:01.000Z',
    finishedAt: '2025-03-04T10:00:09.000Z',
    ...overrides,
  };
}

/** An approval as the approvals table holds it (see functions/slack/approvals-store.ts). */
export function approvalFixture(overrides: Partial<ApprovalItem> = {}): ApprovalItem {
  return {
    approvalId: '0123456789abcdef0123456789abcdef',
    taskToken: `AQCEAAAAKgAAAA${'t'.repeat(2000)}`,
    executionId: startFixture().executionId,
    gate: 'failover',
    approvers: ['U0123ABCDEF', 'U0456GHIJKL'],
    channel: 'C0123FAILOVER',
    messageTs: '1741082410.000100',
    status: 'pending',
    createdAt: '2025-03-04T10:00:10.000Z',
    expiresAt: '2025-03-04T10:10:10.000Z',
    summary: 'Failover approval needed: payments us-east-1 → eu-west-1',
    onTimeout: 'abort',
    timeoutSeconds: 600,
    ...overrides,
  };
}

/** The DynamoDB attribute map of an approval, explicit like the store's own marshalling. */
export function approvalAttributes(item: ApprovalItem): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {
    approvalId: { S: item.approvalId },
    taskToken: { S: item.taskToken },
    executionId: { S: item.executionId },
    gate: { S: item.gate },
    approvers: { SS: item.approvers },
    channel: { S: item.channel },
    status: { S: item.status },
    createdAt: { S: item.createdAt },
    expiresAt: { S: item.expiresAt },
  };
  for (const key of ['messageTs', 'decidedBy', 'decidedAt', 'summary', 'onTimeout'] as const) {
    const value = item[key];
    if (value !== undefined) out[key] = { S: value };
  }
  if (item.timeoutSeconds !== undefined) out.timeoutSeconds = { N: String(item.timeoutSeconds) };
  return out;
}

/** `$.fence` of a fence the primary region did not confirm (unreachable): the unfenced-promotion gate's input. */
export function unconfirmedFenceFixture(steps: FenceResult['steps'] = []): FenceResult {
  return { confirmed: false, approvalNeeded: true, steps, budgetSeconds: 20, startedAt: '2025-03-04T10:01:00.000Z', finishedAt: '2025-03-04T10:01:20.000Z' };
}
