/**
 * Single flight (Step Functions API). EventBridge delivers at least once, so the same alarm can
 * start two executions, and one incident raises several alarms of the same kind. The oldest running
 * execution for the same incident owns it: a later one for the same incident ends as a duplicate.
 * "Same incident" is decided by the caller (`sameIncident`): the same kind of alarm, or the same
 * manual request. A different incident is never swallowed: a run parked at a partition's approval
 * gate does not stop a later region-outage alarm. A drill yields to any real run and to an older
 * drill; nothing real yields to a drill. Deterministic on both sides of a race (ordered by start
 * time, then ARN).
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
export async function findOwner(region: string, self: SelfRef, sameIncident: (otherInput: unknown) => boolean): Promise<string | undefined> {
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
    const input = parse(described.input);
    const otherIsDrill = (input as { mode?: unknown } | undefined)?.mode === 'drill';
    if (self.isDrill ? !otherIsDrill || older : !otherIsDrill && sameIncident(input)) return other.executionArn;
  }
  return undefined;
}

function parse(input: string | undefined): unknown {
  try {
    return JSON.parse(input ?? 'null');
  } catch {
    return undefined;
  }
}
