/**
 * Single flight (Step Functions API). EventBridge delivers at least once, so the same alarm can
 * start two executions; operators may also press "start" while an alarm-driven run is going. The
 * oldest running non-drill execution of the state machine owns the failover: every other one sees it
 * and ends as a duplicate. A drill yields to any real run and to an older drill; nothing real yields
 * to a drill. Deterministic on both sides of a race (ordered by start time, then ARN), so exactly
 * one of two simultaneous executions of the same kind goes on.
 */
import { DescribeExecutionCommand, ListExecutionsCommand, type ExecutionListItem } from '@aws-sdk/client-sfn';
import { sfn } from './clients';
import { awsCall } from './errors';

export interface SelfRef {
  executionArn: string;
  stateMachineArn: string;
  startTime: string;
  /** This execution is a drill: it yields to anything running, and nothing yields to it. */
  isDrill: boolean;
}

const before = (a: ExecutionListItem, self: SelfRef): boolean => {
  const at = a.startDate ? a.startDate.getTime() : 0;
  const selfAt = Date.parse(self.startTime);
  return at < selfAt || (at === selfAt && (a.executionArn ?? '') < self.executionArn);
};

/** The ARN of the execution that owns the failover, when it is not this one. */
export async function findOwner(region: string, self: SelfRef): Promise<string | undefined> {
  const client = sfn(region);
  const running: ExecutionListItem[] = [];
  let nextToken: string | undefined;
  do {
    const page = await awsCall('states:ListExecutions', () =>
      client.send(new ListExecutionsCommand({ stateMachineArn: self.stateMachineArn, statusFilter: 'RUNNING', maxResults: 100, nextToken })),
    );
    running.push(...(page.executions ?? []));
    nextToken = page.nextToken;
  } while (nextToken);

  const others = running.filter((e) => e.executionArn !== self.executionArn);
  for (const other of others.sort((a, b) => (a.startDate?.getTime() ?? 0) - (b.startDate?.getTime() ?? 0))) {
    const older = before(other, self);
    // A real run yields only to an older real run; a drill yields to any real run and to an older drill.
    if (!self.isDrill && !older) continue;
    const described = await awsCall('states:DescribeExecution', () => client.send(new DescribeExecutionCommand({ executionArn: other.executionArn })));
    const otherIsDrill = isDrillInput(described.input);
    if (self.isDrill ? !otherIsDrill || older : !otherIsDrill) return other.executionArn;
  }
  return undefined;
}

function isDrillInput(input: string | undefined): boolean {
  try {
    return (JSON.parse(input ?? '{}') as { mode?: unknown }).mode === 'drill';
  } catch {
    return false;
  }
}
