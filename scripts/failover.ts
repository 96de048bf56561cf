/**
 * The operator CLI (Step Functions API): start a failover, switchover or drill by hand, follow an
 * execution, decide an approval gate without Slack, or check a plan. A bad start request fails here,
 * before anything is sent, with the same schema and the same named error (`InvalidInput`) the state
 * machine would give.
 *
 *   npm run failover -- start --stage prod --mode failover --reason "us-east-1 down" --requested-by alice@example.com
 *   npm run failover -- start --stage prod --mode drill --reason "readiness check" --requested-by bob --dry-run
 *   npm run failover -- status --stage prod --execution-arn arn:aws:states:…
 *   npm run failover -- approve --stage prod --approval-id 0123…cdef --as U0123ABC --reason "Slack is down; bridge call agreed"
 *   npm run failover -- reject --stage prod --approval-id 0123…cdef --as U0123ABC --reason "US recovering, hold"
 *   npm run failover -- validate-plan --stage prod
 *   npm run failover -- --help          # every command and option, one line each
 *
 * `approve` / `reject` are the Slack buttons for when Slack does not work: the same rules, in the same
 * code (functions/slack/decision.ts): the Slack id given with `--as` must be on the approval's own
 * approver list, the approval is claimed with the same conditional write in the approvals table, and
 * the gate gets the same SendTaskSuccess output (`via: 'cli'`) or SendTaskFailure `ApprovalRejected`.
 * The reason and the operator's local user and host are stored with the decision and sent with it.
 * They need AWS credentials allowed dynamodb:GetItem/UpdateItem on the approvals table and
 * states:SendTaskSuccess/SendTaskFailure on the state machine, in the recovery region.
 */
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, ListStateMachinesCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { configureApprovalsStore } from '../functions/slack/approvals-store';
import { manualStartSchema, type ManualStart } from '../functions/core/contract';
import { InvalidInputError } from '../functions/core/errors';
import { formatIssues, type Plan } from '../functions/core/plan';
import { decideApproval, type DecisionResult, type OperatorIdentity } from '../functions/slack/decision';
import { argsErrorMessage } from './lib/cli-args';
import { loadPlan } from './lib/plan-file';

const SERVICE = 'failover-orchestrator';

/** One entry per command: its synopsis and what it does, in one line each (`--help`). */
const COMMAND_HELP: Array<[command: string, synopsis: string, what: string]> = [
  [
    'start',
    '--stage STAGE --mode failover|switchover|drill --reason TEXT --requested-by WHO [--region R] [--state-machine-arn ARN] [--dry-run]',
    "start an execution of the stage's state machine",
  ],
  ['status', '--stage STAGE --execution-arn ARN [--region R]', "show an execution's status and its current or last state"],
  ['approve', '--stage STAGE --approval-id ID --as SLACK_USER_ID --reason TEXT [--region R] [--approvals-table NAME]', 'approve a waiting gate without Slack'],
  ['reject', '--stage STAGE --approval-id ID --as SLACK_USER_ID --reason TEXT [--region R] [--approvals-table NAME]', 'reject a waiting gate without Slack'],
  ['validate-plan', '--stage STAGE', 'check config/STAGE.yml against the plan schema'],
];

const COMMANDS = COMMAND_HELP.map(([command]) => command);

/** Every option, one line each; parseArgs is configured from this table, so the help cannot miss one. */
const OPTIONS: Array<[name: string, spec: { type: 'string' | 'boolean'; short?: string }, value: string, what: string]> = [
  ['stage', { type: 'string' }, 'STAGE', 'all commands (required): the plan is config/STAGE.yml (or $FAILOVER_CONFIG_DIR/STAGE.yml)'],
  ['mode', { type: 'string' }, 'MODE', 'start: failover, switchover or drill'],
  ['reason', { type: 'string' }, 'TEXT', 'start, approve, reject: why (stored with the request or the decision)'],
  ['requested-by', { type: 'string' }, 'WHO', 'start: who asks for it (name or e-mail)'],
  ['region', { type: 'string' }, 'R', "start, status, approve, reject: AWS region to call (default: the plan's recoveryRegion)"],
  ['state-machine-arn', { type: 'string' }, 'ARN', 'start: the state machine (default: found by name, SERVICE-STAGE-failover)'],
  ['execution-arn', { type: 'string' }, 'ARN', 'status: the execution to show'],
  ['dry-run', { type: 'boolean' }, '', 'start: validate and print the input, send nothing'],
  ['approval-id', { type: 'string' }, 'ID', 'approve, reject: the 32-character approval id (Slack message or gate output)'],
  ['as', { type: 'string' }, 'SLACK_USER_ID', "approve, reject: your Slack user id, as listed in the plan's approval.approvers"],
  ['approvals-table', { type: 'string' }, 'NAME', 'approve, reject: the approvals table (default: SERVICE-STAGE-approvals)'],
  ['help', { type: 'boolean', short: 'h' }, '', 'print this help and exit'],
];

const USAGE = ['usage: npm run failover -- COMMAND --stage STAGE [options]', ...COMMAND_HELP.map(([command, synopsis]) => `  failover ${command} ${synopsis}`)].join('\n');

/** The full help: commands and every option, one line each. */
const HELP = [
  USAGE,
  '',
  'commands:',
  ...COMMAND_HELP.map(([command, , what]) => `  ${command.padEnd(15)}${what}`),
  '',
  'options:',
  ...OPTIONS.map(([name, spec, value, what]) => `  ${`${spec.short ? `-${spec.short}, ` : ''}--${name}${value ? ` ${value}` : ''}`.padEnd(34)}${what}`),
].join('\n');

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  sfn: (region: string) => SFNClient;
  loadPlan: (stage: string) => Plan;
  now: () => Date;
  /** Who runs the CLI where (local account and host name), recorded with an approve / reject. */
  operator: () => OperatorIdentity;
}

/** The local account and host; an account without a passwd entry (containers) falls back to $USER. */
function localOperator(): OperatorIdentity {
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    user = process.env.USER ?? process.env.USERNAME;
  }
  return { user: user || 'unknown', host: hostname() || 'unknown' };
}

const defaultIo: Io = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  sfn: (region) => new SFNClient({ region }),
  loadPlan: (stage) => loadPlan(stage, process.env.FAILOVER_CONFIG_DIR || resolve(__dirname, '..', 'config')),
  now: () => new Date(),
  operator: localOperator,
};

/** The manual start input, validated exactly as AcceptStartRequest validates it. */
export function buildStartInput(values: { mode?: string; reason?: string; requestedBy?: string }): ManualStart {
  const parsed = manualStartSchema.safeParse({ mode: values.mode, reason: values.reason, requestedBy: values.requestedBy, origin: 'cli' });
  if (!parsed.success) throw new InvalidInputError(`start request is invalid: ${formatIssues(parsed.error, 'request')}`);
  return parsed.data;
}

/** What `approve` / `reject` were given, checked before anything is read or sent. */
export interface DecisionOptions {
  approvalId: string;
  as: string;
  reason: string;
  approvalsTable?: string;
}

/** Slack user ids (U…, or W… on Enterprise Grid), the form `approval.approvers` holds. */
const SLACK_USER_ID = /^[UW][A-Z0-9]{2,}$/;

/** Validates `approve` / `reject` options; the first bad one is named (`InvalidInput`). */
export function parseDecisionOptions(values: Record<string, string | boolean | undefined>): DecisionOptions {
  const text = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string).trim() : undefined);
  const approvalId = text('approval-id');
  if (!approvalId || !/^[0-9a-f]{32}$/.test(approvalId)) {
    throw new InvalidInputError('--approval-id must be the 32-character approval id shown in the Slack message ("Approval `…`") or in the gate\'s output');
  }
  const as = text('as');
  if (!as || !SLACK_USER_ID.test(as)) throw new InvalidInputError("--as must be your Slack user id (like U0123ABC), as listed in the plan's approval.approvers");
  const reason = text('reason');
  if (!reason || reason.length < 3) throw new InvalidInputError('--reason must say why (at least 3 characters)');
  if (reason.length > 500) throw new InvalidInputError('--reason must be at most 500 characters');
  if (values['dry-run']) throw new InvalidInputError('--dry-run is not available for approve / reject: a decision is either sent or not');
  const approvalsTable = text('approvals-table');
  if (values['approvals-table'] !== undefined && !approvalsTable) throw new InvalidInputError('--approvals-table must name a DynamoDB table');
  return { approvalId, as, reason, ...(approvalsTable ? { approvalsTable } : {}) };
}

/** The approvals table of a stage, as serverless.yml names it (`custom.approvalsTable`). */
export function approvalsTableName(stage: string): string {
  return `${SERVICE}-${stage}-approvals`;
}

/**
 * Decides an approval gate from the terminal: the same rules, claim and Step Functions call as a
 * Slack click (functions/slack/decision.ts). Prints the decision as one JSON line on stdout and a
 * sentence on stderr; 0 when the gate took it, 1 when nothing was decided.
 */
async function decideFromCli(verdict: 'approve' | 'reject', options: DecisionOptions, stage: string, region: string, io: Io): Promise<number> {
  const table = options.approvalsTable ?? approvalsTableName(stage);
  configureApprovalsStore({ tableName: table, region });
  const operator = io.operator();
  const result = await decideApproval({
    approvalId: options.approvalId,
    decider: options.as,
    verdict,
    via: 'cli',
    now: io.now(),
    comment: options.reason,
    operator,
    sfn: io.sfn(region),
  });
  if (result.kind === 'decided') {
    io.out(
      JSON.stringify({
        approvalId: options.approvalId,
        executionId: result.item.executionId,
        outcome: result.outcome,
        decidedBy: options.as,
        decidedAt: result.decidedAt,
        via: 'cli',
        comment: options.reason,
        operator,
        recorded: result.recorded,
      }),
    );
    io.err(`${result.outcome} ${result.item.gate} approval ${options.approvalId} of ${result.item.executionId} as ${options.as} (operator ${operator.user}@${operator.host})`);
    if (!result.recorded) io.err('warning: the approval changed in the table meanwhile; the decision was delivered to the gate');
    return 0;
  }
  io.err(refusal(result, options, table, region));
  return 1;
}

/** Why nothing was decided, in the terms a Slack user would have been told. */
function refusal(result: Exclude<DecisionResult, { kind: 'decided' }>, options: DecisionOptions, table: string, region: string): string {
  switch (result.kind) {
    case 'unknown':
      return `approval ${options.approvalId} not found in ${table} (${region}); nothing was changed`;
    case 'not-an-approver':
      return `NotAnApprover: ${options.as} is not on the approver list of approval ${options.approvalId}; nothing was changed`;
    case 'not-pending': {
      const { status, decidedBy, decidedAt, decidedVia } = result.item;
      return `approval ${options.approvalId} is already ${status}${decidedBy ? ` by ${decidedBy}` : ''}${decidedVia ? ` via ${decidedVia}` : ''}${decidedAt ? ` at ${decidedAt}` : ''}; nothing was changed`;
    }
    case 'expired':
      return `approval ${options.approvalId} expired at ${result.item.expiresAt} (the gate's timeout decides); marked expired, nothing sent`;
    case 'claim-lost':
      return `approval ${options.approvalId} was claimed first${result.current?.decidedBy ? ` by ${result.current.decidedBy}` : ''} (${result.current?.status ?? 'gone'}); nothing was changed`;
    case 'gate-gone':
      return `the gate of approval ${options.approvalId} no longer waits (${result.sfnError}); marked expired`;
    case 'not-delivered': {
      const error = result.error instanceof Error ? `${result.error.name}: ${result.error.message}` : 'unknown error';
      return `Step Functions did not take the decision (${error}); the claim was released and nothing was decided: run the command again`;
    }
  }
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
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: Object.fromEntries(OPTIONS.map(([name, spec]) => [name, spec])),
      allowPositionals: true,
      strict: true,
    }));
  } catch (error) {
    io.err(`${argsErrorMessage(error)}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  const [command, ...extra] = positionals;
  if (!command) {
    io.err(`missing command: one of ${COMMANDS.join(', ')}\n${USAGE}`);
    return 2;
  }
  if (!COMMANDS.includes(command)) {
    io.err(`unknown command '${command}': expected one of ${COMMANDS.join(', ')}\n${USAGE}`);
    return 2;
  }
  if (extra.length > 0) {
    io.err(`unexpected argument '${extra[0]}' after ${command} (quote a --reason with spaces)\n${USAGE}`);
    return 2;
  }
  const stage = values.stage as string | undefined;
  if (!stage) {
    io.err(`${command} needs --stage STAGE\n${USAGE}`);
    return 2;
  }
  let decision: DecisionOptions | undefined;
  if (command === 'approve' || command === 'reject') {
    try {
      decision = parseDecisionOptions(values);
    } catch (error) {
      io.err(`${(error as Error).name}: ${(error as Error).message}`);
      return 2;
    }
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
    io.out(
      `plan ${plan.name} for stage ${stage} is valid: ${plan.primaryRegion} → ${plan.recoveryRegion}, ${plan.databases.length} databases, ${plan.traffic.length} records, ${plan.compute.length} services`,
    );
    return 0;
  }

  if (decision) return decideFromCli(command === 'approve' ? 'approve' : 'reject', decision, stage, region, io);

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
  const name = `manual-${input.mode}-${io
    .now()
    .toISOString()
    .replace(/[^0-9]/g, '')
    .slice(0, 14)}`;
  const started = await io.sfn(region).send(new StartExecutionCommand({ stateMachineArn: arn, name, input: JSON.stringify(input) }));
  io.out(started.executionArn ?? '');
  io.out(`https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${started.executionArn}`);
  return 0;
}
