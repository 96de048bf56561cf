/**
 * Packages the example plan with the real CLI (osls as `serverless`, offline, no credentials) and
 * checks the CloudFormation template a deploy would send: the Lambdas, the failover state machine,
 * the alarm rules (firing on the plan's alarms going to ALARM and on nothing else), the monthly
 * drill schedule, the Slack HTTP route, and least-privilege IAM. A second package with a broken
 * plan must fail and name the bad field.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { manualStartSchema } from '../../functions/core/contract';
import { matchesEventPattern } from '../../lab/event-pattern';
import { ROOT } from '../helpers/plan';

const run = promisify(execFile);
const SERVERLESS = join(ROOT, 'node_modules', 'serverless', 'bin', 'serverless.js');
const sample = (name: string) => JSON.parse(readFileSync(join(ROOT, 'events', 'samples', name), 'utf8'));

type Resource = { Type: string; Properties: Record<string, any> };
let workDir: string;
let template: { Resources: Record<string, Resource> };

async function packageStage(stage: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; output: string; dir: string }> {
  const dir = join(workDir, `package-${stage}`);
  try {
    const { stdout, stderr } = await run(process.execPath, [SERVERLESS, 'package', '--stage', stage, '--package', dir], {
      cwd: ROOT,
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', ...env },
      timeout: 240_000,
    });
    return { code: 0, output: stdout + stderr, dir };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}`, dir };
  }
}

const ofType = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'failover-template-'));
  const packaged = await packageStage('example');
  if (packaged.code !== 0) throw new Error(`serverless package failed:\n${packaged.output}`);
  template = JSON.parse(readFileSync(join(packaged.dir, 'cloudformation-template-update-stack.json'), 'utf8'));
}, 300_000);

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

describe('serverless package --stage example', () => {
  it('has at least 8 Lambda functions on nodejs22.x, one per stage plus the Slack callback', () => {
    const functions = ofType('AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThanOrEqual(8);
    expect(functions.map(([id]) => id).sort()).toEqual(
      [
        'AcceptStartRequestLambdaFunction',
        'ConfirmRegionFailureLambdaFunction',
        'FenceUsWritersLambdaFunction',
        'FlipTrafficLambdaFunction',
        'NotifyLambdaFunction',
        'PromoteEuDatabaseLambdaFunction',
        'RequestApprovalLambdaFunction',
        'ScaleEuComputeLambdaFunction',
        'SlackCallbackLambdaFunction',
        'SmokeTestLambdaFunction',
      ].sort(),
    );
    for (const [, fn] of functions) expect(fn.Properties.Runtime).toBe('nodejs22.x');
  });

  it('has the failover state machine (Standard) whose every Task has a timeout, retries and a Catch, with one approval gate resource type', () => {
    const machines = ofType('AWS::StepFunctions::StateMachine');
    expect(machines).toHaveLength(1);
    const [, machine] = machines[0]!;
    const [text] = machine.Properties.DefinitionString['Fn::Sub'] as [string, Record<string, unknown>];
    const definition = JSON.parse(text);
    const tasks: Array<[string, any]> = [];
    const walk = (states: Record<string, any>) => {
      for (const [name, s] of Object.entries(states)) {
        if (s.Type === 'Task') tasks.push([name, s]);
        if (s.Type === 'Parallel') s.Branches.forEach((b: any) => walk(b.States));
        if (s.Type === 'Map') walk((s.ItemProcessor ?? s.Iterator).States);
      }
    };
    walk(definition.States);
    expect(tasks.length).toBeGreaterThanOrEqual(10);
    for (const [, t] of tasks) {
      expect(t.TimeoutSeconds).toBeGreaterThan(0);
      expect(t.Retry.length).toBeGreaterThan(0);
      expect(t.Catch.some((c: any) => c.ErrorEquals.includes('States.ALL'))).toBe(true);
    }
    expect(tasks.filter(([, t]) => t.Resource === 'arn:aws:states:::lambda:invoke.waitForTaskToken').map(([n]) => n)).toEqual(['RequestFailoverApproval', 'ApproveUnfencedPromotion']);
    expect(machine.Properties.StateMachineType ?? 'STANDARD').toBe('STANDARD'); // waitForTaskToken needs Standard
    expect(definition.States.LoadPlan.Parameters.plan.name).toBe('payments');
  });

  describe('alarm rules', () => {
    const patterns = () => ofType('AWS::Events::Rule').map(([, r]) => r.Properties.EventPattern as Record<string, unknown>);
    const firing = (event: unknown) => patterns().filter((p) => matchesEventPattern(p, event)).length;

    it('target the failover state machine', () => {
      for (const [, rule] of ofType('AWS::Events::Rule')) {
        expect(rule.Properties.State).toBe('ENABLED');
        expect(rule.Properties.Targets[0].Arn).toEqual({ Ref: ofType('AWS::StepFunctions::StateMachine')[0]![0] });
      }
    });

    it.each(['health-alarm.json', 'replication-lag-alarm.json'])('fire on %s (a plan alarm going to ALARM)', (file) => {
      expect(firing(sample(file))).toBe(1);
    });

    it.each(['health-alarm-recovered.json', 'health-alarm-insufficient-data.json', 'unrelated-alarm.json', 'unrelated-scheduled-event.json', 'manual-failover.json'])(
      'do not fire on %s',
      (file) => {
        expect(firing(sample(file))).toBe(0);
      },
    );

    it('do not fire on an ALARM → ALARM re-notification', () => {
      const event = sample('health-alarm.json');
      event.detail.previousState.value = 'ALARM';
      expect(firing(event)).toBe(0);
    });
  });

  it('has a monthly drill schedule whose input is a valid drill start', () => {
    const schedules = ofType('AWS::Scheduler::Schedule');
    expect(schedules).toHaveLength(1);
    const [, schedule] = schedules[0]!;
    expect(schedule.Properties.ScheduleExpression).toBe('cron(0 10 ? * TUE#1 *)');
    expect(schedule.Properties.State).toBe('ENABLED');
    const input = manualStartSchema.parse(JSON.parse(schedule.Properties.Target.Input));
    expect(input).toMatchObject({ mode: 'drill', origin: 'schedule' });
  });

  it('has an HTTP route for Slack interactivity on the callback function', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties.RouteKey);
    expect(routes).toEqual(['POST /slack/interactions']);
    const integration = ofType('AWS::ApiGatewayV2::Integration')[0]![1];
    expect(JSON.stringify(integration.Properties.IntegrationUri)).toContain('SlackCallbackLambdaFunction');
  });

  it('grants no wildcard IAM action anywhere', () => {
    const actions = ofType('AWS::IAM::Role').flatMap(([, role]) =>
      (role.Properties.Policies ?? []).flatMap((p: any) => p.PolicyDocument.Statement.flatMap((s: any) => [].concat(s.Action))),
    ) as string[];
    expect(actions.length).toBeGreaterThan(20);
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
  });

  it('lets every function role write X-Ray traces (active tracing fails the deploy otherwise)', () => {
    const functionRoles = ofType('AWS::IAM::Role').filter(([id]) => id.endsWith('IamRoleLambdaExecution') && id !== 'IamRoleLambdaExecution');
    expect(functionRoles).toHaveLength(10);
    for (const [id, role] of functionRoles) {
      const actions = (role.Properties.Policies ?? []).flatMap((p: any) => p.PolicyDocument.Statement.flatMap((st: any) => [].concat(st.Action)));
      expect({ id, actions }).toEqual({ id, actions: expect.arrayContaining(['xray:PutTraceSegments', 'xray:PutTelemetryRecords']) });
    }
  });

  it('scopes the mutating permissions to the plan resources of their own stage', () => {
    const policyOf = (fn: string) => JSON.stringify(template.Resources[`${fn}IamRoleLambdaExecution`]!.Properties.Policies);
    expect(policyOf('PromoteEuDatabase')).toContain('rds:FailoverGlobalCluster');
    expect(policyOf('PromoteEuDatabase')).toContain('payments-ledger-global');
    expect(policyOf('FenceUsWriters')).toContain('ecs:us-east-1');
    expect(policyOf('FenceUsWriters')).not.toContain('rds:PromoteReadReplica');
    expect(policyOf('ScaleEuCompute')).toContain('ecs:eu-west-1');
    expect(policyOf('SlackCallback')).toContain('states:SendTaskSuccess');
    expect(policyOf('Notify')).not.toContain('states:');
  });
});

describe('serverless package with an invalid plan', () => {
  it('fails and names the bad field and why', async () => {
    const configDir = join(workDir, 'bad-config');
    mkdirSync(configDir);
    for (const f of readdirSync(join(ROOT, 'config'))) copyFileSync(join(ROOT, 'config', f), join(configDir, f));
    const broken = readFileSync(join(configDir, 'example.yml'), 'utf8').replace('recoveryRegion: eu-west-1', 'recoveryRegion: eu-west-9');
    writeFileSync(join(configDir, 'example.yml'), broken);

    const packaged = await packageStage('example', { FAILOVER_CONFIG_DIR: configDir });

    expect(packaged.code).not.toBe(0);
    expect(packaged.output).toContain('recoveryRegion: eu-west-9 is not an AWS region');
  }, 300_000);
});
