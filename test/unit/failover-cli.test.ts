import { ListStateMachinesCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { main, type Io } from '../../scripts/failover';
import { examplePlan } from '../helpers/plan';

const sfn = mockClient(SFNClient);

function io(): Io & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines,
    errors,
    out: (l) => lines.push(l),
    err: (l) => errors.push(l),
    sfn: (region) => new SFNClient({ region }),
    loadPlan: () => examplePlan(),
    now: () => new Date('2026-11-22T03:04:05Z'),
  };
}

beforeEach(() => sfn.reset());

describe('failover CLI', () => {
  it('refuses a bad manual start before sending anything, naming the field (InvalidInput)', async () => {
    const cli = io();

    const code = await main(['start', '--stage', 'example', '--mode', 'sideways', '--reason', 'because', '--requested-by', 'alice'], cli);

    expect(code).toBe(2);
    expect(cli.errors.join('\n')).toMatch(/^InvalidInput: .*request\.mode/);
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('starts the stage state machine in the recovery region with the validated input', async () => {
    sfn.on(ListStateMachinesCommand).resolves({ stateMachines: [{ name: 'failover-orchestrator-example-failover', stateMachineArn: 'arn:aws:states:eu-west-1:111122223333:stateMachine:failover-orchestrator-example-failover', type: 'STANDARD', creationDate: new Date() }] });
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:failover-orchestrator-example-failover:manual-failover-20261122030405', startDate: new Date() });
    const cli = io();

    const code = await main(['start', '--stage', 'example', '--mode', 'failover', '--reason', 'us-east-1 down', '--requested-by', 'alice@example.com'], cli);

    expect(code).toBe(0);
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: 'arn:aws:states:eu-west-1:111122223333:stateMachine:failover-orchestrator-example-failover',
      name: 'manual-failover-20261122030405',
      input: JSON.stringify({ mode: 'failover', reason: 'us-east-1 down', requestedBy: 'alice@example.com', origin: 'cli' }),
    });
    expect(cli.lines[0]).toContain(':execution:');
  });

  it('prints the input and sends nothing with --dry-run', async () => {
    const cli = io();

    const code = await main(['start', '--stage', 'example', '--mode', 'drill', '--reason', 'readiness', '--requested-by', 'bob', '--dry-run'], cli);

    expect(code).toBe(0);
    expect(JSON.parse(cli.lines[0]!)).toEqual({ mode: 'drill', reason: 'readiness', requestedBy: 'bob', origin: 'cli' });
    expect(sfn.calls()).toHaveLength(0);
  });

  it('rejects unknown flags with the usage', async () => {
    const cli = io();

    expect(await main(['start', '--stage', 'example', '--force'], cli)).toBe(2);
    expect(cli.errors.join('\n')).toContain('usage:');
  });
});
