/**
 * The operator CLI (Step Functions API): start a failover, switchover or drill by hand, follow an
 * execution, or check a plan. A bad start request fails here, before anything is sent, with the
 * same schema and the same named error (`InvalidInput`) the state machine would give.
 *
 *   npm run failover -- start --stage prod --mode failover --reason "us-east-1 down" --requested-by alice@example.com
 *   npm run failover -- start --stage prod --mode drill --reason "readiness check" --requested-by bob --dry-run
 *   npm run failover -- status --stage prod --execution-arn arn:aws:states:…
 *   npm run failover -- validate-plan --stage prod
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, ListStateMachinesCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { manualStartSchema, type ManualStart } from '../functions/core/contract';
import { InvalidInputError } from '../functions/core/errors';
import { formatIssues, type Plan } from '../functions/core/plan';
import { loadPlan } from './lib/plan-file';

const SERVICE = 'failover-orchestrator';

const USAGE = `usage:
  failover start --stage STAGE --mode failover|switchover|drill --reason TEXT --requested-by WHO [--region R] [--state-machine-arn ARN] [--dry-run]
  failover status --stage STAGE --execution-arn ARN [--region R]
  failover validate-plan --stage STAGE`;

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  sfn: (region: string) => SFNClient;
  loadPlan: (stage: string) => Plan;
  now: () => Date;
}

const defaultIo: Io = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  sfn: (region) => new SFNClient({ region }),
  loadPlan: (stage) => loadPlan(stage, process.env.FAILOVER_CONFIG_DIR || resolve(__dirname, '..', 'config')),
  now: () => new Date(),
};

/** The manual start input, validated exactly as AcceptStartRequest validates it. */
export function buildStartInput(values: { mode?: string; reason?: string; requestedBy?: string }): ManualStart {
  const parsed = manualStartSchema.safeParse({ mode: values.mode, reason: values.reason, requestedBy: values.requestedBy, origin: 'cli' });
  if (!parsed.success) throw new InvalidInputError(`start request is invalid: ${formatIssues(parsed.error, 'request')}`);
  return parsed.data;
}

async function stateMachineArn(io: Io, region: string, stage: string, explicit?: string): Promise<string> {
  if (explicit) return explicit;
  const name = `${SERVICE}-${stage}-failover`;
  let nextToken: string | undefined;
  do {
    const page = await io.sfn(region).send(new ListStateMachinesCommand({ nextToken }));
    const found = page.stateMachines?.find((m) => m.name === name);
    if (found?.stateMachineArn) return found.stateMachineArn;
    nextToken = page.nextToken;
  } while (nextToken);
  throw new Error(`state machine ${name} not found in ${region}: deploy the stage first, or pass --state-machine-arn`);
}

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        stage: { type: 'string' },
        mode: { type: 'string' },
        reason: { type: 'string' },
        'requested-by': { type: 'string' },
        region: { type: 'string' },
        'state-machine-arn': { type: 'string' },
        'execution-arn': { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (error) {
    io.err(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const stage = values.stage as string | undefined;
  if (!command || !['start', 'status', 'validate-plan'].includes(command) || !stage) {
    io.err(USAGE);
    return 2;
  }
  let plan: Plan;
  try {
    plan = io.loadPlan(stage);
  } catch (error) {
    io.err(`InvalidPlan: ${(error as Error).message}`);
    return 2;
  }
  const region = (values.region as string | undefined) ?? plan.recoveryRegion;

  if (command === 'validate-plan') {
    io.out(`plan ${plan.name} for stage ${stage} is valid: ${plan.primaryRegion} → ${plan.recoveryRegion}, ${plan.databases.length} databases, ${plan.traffic.length} records, ${plan.compute.length} services`);
    return 0;
  }

  if (command === 'status') {
    const executionArn = values['execution-arn'] as string | undefined;
    if (!executionArn) {
      io.err(`status needs --execution-arn\n${USAGE}`);
      return 2;
    }
    const client = io.sfn(region);
    const execution = await client.send(new DescribeExecutionCommand({ executionArn }));
    const history = await client.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 50 }));
    const lastState = history.events?.find((e) => e.type?.endsWith('StateEntered'))?.stateEnteredEventDetails?.name;
    io.out(`${execution.status} ${executionArn}`);
    if (lastState) io.out(`current or last state: ${lastState}`);
    if (execution.error) io.out(`error: ${execution.error}: ${execution.cause ?? ''}`);
    return execution.status === 'FAILED' || execution.status === 'TIMED_OUT' || execution.status === 'ABORTED' ? 1 : 0;
  }

  let input: ManualStart;
  try {
    input = buildStartInput({ mode: values.mode as string, reason: values.reason as string, requestedBy: values['requested-by'] as string });
  } catch (error) {
    io.err(`${(error as Error).name}: ${(error as Error).message}`);
    return 2;
  }
  if (input.mode === 'failover' || input.mode === 'switchover') {
    io.err(`${input.mode} of ${plan.name}: ${plan.primaryRegion} → ${plan.recoveryRegion}, requested by ${input.requestedBy}: ${input.reason}`);
  }
  if (values['dry-run']) {
    io.out(JSON.stringify(input));
    return 0;
  }
  const arn = await stateMachineArn(io, region, stage, values['state-machine-arn'] as string | undefined);
  const name = `manual-${input.mode}-${io.now().toISOString().replace(/[^0-9]/g, '').slice(0, 14)}`;
  const started = await io.sfn(region).send(new StartExecutionCommand({ stateMachineArn: arn, name, input: JSON.stringify(input) }));
  io.out(started.executionArn ?? '');
  io.out(`https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${started.executionArn}`);
  return 0;
}
