/**
 * Packages the example plan with the real CLI (osls as `serverless`, offline, no credentials) and
 * checks the CloudFormation template a deploy would send: the Lambdas, the failover state machine,
 * the alarm rules (firing on the plan's alarms going to ALARM and on nothing else), the detection
 * the stack creates in the recovery region (probe schedule + one alarm per plan alarm name), the
 * alarms on the orchestrator's own failures, the lease table, the monthly drill schedule, the Slack
 * HTTP route, least-privilege IAM, and that packaging leaves no folder in the system temp directory.
 * Two more packages must fail: one with a broken plan (naming the bad field once, without a stack), one with a deploy region that is not the plan's recovery region (naming both).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { manualStartSchema } from '../../functions/core/contract';
import { detectionAlarms } from '../../functions/core/detection';
import { alarmNames, parsePlan } from '../../functions/core/plan';
import { matchesEventPattern } from '../../local/event-pattern';
import { examplePlan, ROOT } from '../helpers/plan';

const run = promisify(execFile);
const SERVERLESS = join(ROOT, 'node_modules', 'serverless', 'bin', 'serverless.js');
const sample = (name: string) => JSON.parse(readFileSync(join(ROOT, 'events', 'samples', name), 'utf8'));

type Resource = { Type: string; Properties: Record<string, any> };
let workDir: string;
let template: { Resources: Record<string, Resource>; Outputs: Record<string, any> };
let deployedRegion: string;
let packagePid: number;
const plan = examplePlan();

async function packageStage(stage: string, env: NodeJS.ProcessEnv = {}, extraArgs: string[] = []): Promise<{ code: number; output: string; dir: string; pid: number }> {
  const dir = join(workDir, `package-${stage}-${extraArgs.join('-') || 'default'}`);
  const running = run(process.execPath, [SERVERLESS, 'package', '--stage', stage, '--package', dir, ...extraArgs], {
    cwd: ROOT,
    env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', ...env },
    timeout: 240_000,
  });
  const pid = running.child.pid ?? -1;
  try {
    const { stdout, stderr } = await running;
    return { code: 0, output: stdout + stderr, dir, pid };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}`, dir, pid };
  }
}

/**
 * Folders a packaging process left in the system temp directory: serverless-esbuild stages each
 * function's zip in `<tmpdir>/<function key>-<pid>-<epoch ms>-<8 hex>` (scripts/serverless-esbuild-tmp-cleanup.js).
 * Only that process's folders count: other runs on this machine may be packaging at the same time.
 */
const tempFoldersOf = (pid: number) => readdirSync(tmpdir()).filter((name) => new RegExp(`^[A-Za-z0-9_]+-${pid}-\\d+-[0-9a-f]{8}$`).test(name));

const ofType = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
const policyOf = (fn: string) => JSON.stringify(template.Resources[`${fn}IamRoleLambdaExecution`]!.Properties.Policies);
const statementsOf = (fn: string): Array<{ Effect: string; Action: string[]; Resource: unknown; Condition?: unknown }> =>
  template.Resources[`${fn}IamRoleLambdaExecution`]!.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
const alarmNamed = (name: string) => ofType('AWS::CloudWatch::Alarm').find(([, r]) => r.Properties.AlarmName === name)?.[1];

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'failover-template-'));
  const packaged = await packageStage('example');
  if (packaged.code !== 0) throw new Error(`serverless package failed:\n${packaged.output}`);
  packagePid = packaged.pid;
  template = JSON.parse(readFileSync(join(packaged.dir, 'cloudformation-template-update-stack.json'), 'utf8'));
  deployedRegion = JSON.parse(readFileSync(join(packaged.dir, 'serverless-state.json'), 'utf8')).service.provider.region;
}, 300_000);

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

describe('serverless package --stage example', () => {
  it('leaves no staging folder in the system temp directory (serverless-esbuild leaves one per function)', () => {
    expect(packagePid).toBeGreaterThan(0);
    expect(tempFoldersOf(packagePid)).toEqual([]);
  });

  it('has at least 8 Lambda functions on nodejs22.x, one per stage plus the Slack callback and the detection probe', () => {
    const functions = ofType('AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThanOrEqual(8);
    expect(functions.map(([id]) => id).sort()).toEqual(
      [
        'AcceptStartRequestLambdaFunction',
        'ConfirmRegionFailureLambdaFunction',
        'FenceUsWritersLambdaFunction',
        'FlipTrafficLambdaFunction',
        'NotifyLambdaFunction',
        'ProbePrimaryLambdaFunction',
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
        if (s.Type === 'Parallel') for (const b of s.Branches) walk(b.States);
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
    expect(tasks.filter(([, t]) => t.Resource === 'arn:aws:states:::lambda:invoke.waitForTaskToken').map(([n]) => n)).toEqual([
      'RequestFailoverApproval',
      'ApproveUnfencedPromotion',
    ]);
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
    const machine = ofType('AWS::StepFunctions::StateMachine')[0]![0];
    const schedules = ofType('AWS::Scheduler::Schedule').filter(([, s]) => JSON.stringify(s.Properties.Target.Arn) === JSON.stringify({ Ref: machine }));
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
    expect(functionRoles).toHaveLength(11);
    for (const [id, role] of functionRoles) {
      const actions = (role.Properties.Policies ?? []).flatMap((p: any) => p.PolicyDocument.Statement.flatMap((st: any) => [].concat(st.Action)));
      expect({ id, actions }).toEqual({ id, actions: expect.arrayContaining(['xray:PutTraceSegments', 'xray:PutTelemetryRecords']) });
    }
  });

  it('scopes the mutating permissions to the plan resources of their own stage', () => {
    expect(policyOf('PromoteEuDatabase')).toContain('rds:FailoverGlobalCluster');
    expect(policyOf('PromoteEuDatabase')).toContain('payments-ledger-global');
    expect(policyOf('FenceUsWriters')).toContain('ecs:us-east-1');
    expect(policyOf('FenceUsWriters')).not.toContain('rds:PromoteReadReplica');
    expect(policyOf('ScaleEuCompute')).toContain('ecs:eu-west-1');
    expect(policyOf('SlackCallback')).toContain('states:SendTaskSuccess');
    expect(policyOf('Notify')).not.toContain('states:');
  });
});

describe('serverless package --stage example: detection in the recovery region', () => {
  it('is packaged for the plan’s recovery region, so every alarm it creates lives there', () => {
    expect(deployedRegion).toBe(plan.recoveryRegion);
  });

  it('schedules the probe Lambda with the plan as input (valid with the plan schema) and the scheduled time, without retries', () => {
    const schedules = ofType('AWS::Scheduler::Schedule').filter(([, s]) => JSON.stringify(s.Properties.Target.Arn).includes('ProbePrimaryLambdaFunction'));
    expect(schedules).toHaveLength(1);
    const [, schedule] = schedules[0]!;
    expect(schedule.Properties).toMatchObject({ ScheduleExpression: plan.detection.probeSchedule, State: 'ENABLED', FlexibleTimeWindow: { Mode: 'OFF' } });
    expect(schedule.Properties.Target.RetryPolicy).toEqual({ MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 });
    const invokeConfig = (fn: string) => ofType('AWS::Lambda::EventInvokeConfig').find(([, c]) => c.Properties.FunctionName?.Ref === fn)?.[1].Properties;
    expect(invokeConfig('ProbePrimaryLambdaFunction')).toMatchObject({ MaximumRetryAttempts: 0 });
    // The Slack callback's async self-invocation carries a response_url (valid 30 min): no older event, no destination that would store it.
    expect(invokeConfig('SlackCallbackLambdaFunction')).toMatchObject({ MaximumEventAgeInSeconds: 1800, MaximumRetryAttempts: 2, DestinationConfig: {} });
    const input = JSON.parse(schedule.Properties.Target.Input);
    expect(parsePlan(input.plan)).toEqual(plan);
    expect(input.scheduledTime).toBe('<aws.scheduler.scheduled-time>');
    const role = template.Resources[schedule.Properties.Target.RoleArn['Fn::GetAtt'][0]]!;
    expect(role.Properties.AssumeRolePolicyDocument.Statement[0].Principal).toEqual({ Service: 'scheduler.amazonaws.com' });
    expect(role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement)).toEqual([
      { Effect: 'Allow', Action: ['lambda:InvokeFunction'], Resource: [{ 'Fn::GetAtt': ['ProbePrimaryLambdaFunction', 'Arn'] }] },
    ]);
  });

  it('has one CloudWatch alarm per alarm name of the plan, on the metric, namespace and period detection specifies', () => {
    const names = alarmNames(plan).all;
    expect(names.length).toBe(5);
    for (const spec of detectionAlarms(plan)) {
      const alarm = alarmNamed(spec.name);
      expect({ name: spec.name, found: !!alarm }).toEqual({ name: spec.name, found: true });
      expect(alarm!.Properties).toMatchObject({
        Namespace: spec.namespace,
        MetricName: spec.metricName,
        Dimensions: Object.entries(spec.dimensions).map(([Name, Value]) => ({ Name, Value })),
        Statistic: spec.statistic,
        Period: spec.periodSeconds,
        EvaluationPeriods: spec.evaluationPeriods,
        DatapointsToAlarm: spec.datapointsToAlarm,
        Threshold: spec.threshold,
        ComparisonOperator: spec.comparison,
        TreatMissingData: 'missing',
      });
    }
    expect(alarmNamed('payments-us-east-1-api-health')!.Properties).toMatchObject({ Namespace: 'FailoverOrchestrator/Detection', MetricName: 'ProbeSuccess', Period: 60 });
    expect(alarmNamed('payments-ledger-replication-lag')!.Properties).toMatchObject({ Namespace: 'AWS/RDS', MetricName: 'AuroraGlobalDBRPOLag', Threshold: 60_000 });
    expect(alarmNamed('payments-accounts-replication-lag')!.Properties).toMatchObject({ Namespace: 'AWS/RDS', MetricName: 'ReplicaLag', Threshold: 60 });
  });

  it('alarms on failed executions (AWS/States ExecutionsFailed of the state machine) to the operators’ topic', () => {
    const alarm = ofType('AWS::CloudWatch::Alarm').find(([, r]) => r.Properties.MetricName === 'ExecutionsFailed')?.[1];
    expect(alarm!.Properties).toMatchObject({
      Namespace: 'AWS/States',
      Dimensions: [
        { Name: 'StateMachineArn', Value: { 'Fn::Sub': 'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:failover-orchestrator-example-failover' } },
      ],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: 'OperatorAlertsTopic' }],
    });
    expect(template.Resources.OperatorAlertsTopic!.Type).toBe('AWS::SNS::Topic');
    expect(template.Outputs.OperatorAlertsTopicArn.Value).toEqual({ Ref: 'OperatorAlertsTopic' });
  });

  it('alarms on the Powertools StageFailures metric of every stage (service + stage dimensions) to the operators’ topic', () => {
    const alarm = ofType('AWS::CloudWatch::Alarm').find(([, r]) => JSON.stringify(r.Properties.Metrics ?? []).includes('StageFailures'))?.[1];
    expect(alarm!.Properties.Metrics).toEqual([
      {
        Id: 'failures',
        Expression: `SELECT SUM(StageFailures) FROM SCHEMA("FailoverOrchestrator", service, stage) WHERE service = 'failover-orchestrator'`,
        Period: 60,
        ReturnData: true,
      },
    ]);
    expect(alarm!.Properties).toMatchObject({ Threshold: 1, TreatMissingData: 'notBreaching', AlarmActions: [{ Ref: 'OperatorAlertsTopic' }] });
    // The query's namespace and service are the ones Powertools publishes under (provider.environment).
    const env = template.Resources.NotifyLambdaFunction!.Properties.Environment.Variables;
    expect(alarm!.Properties.Metrics[0].Expression).toContain(`"${env.POWERTOOLS_METRICS_NAMESPACE}"`);
    expect(alarm!.Properties.Metrics[0].Expression).toContain(`'${env.POWERTOOLS_SERVICE_NAME}'`);
  });

  it('has the single-flight lease table (hash key leaseId, on demand, PITR, encrypted), given to acceptStartRequest and notify', () => {
    const table = template.Resources.LeaseTable!;
    expect(table.Properties).toMatchObject({
      TableName: 'failover-orchestrator-example-leases',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'leaseId', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'leaseId', KeyType: 'HASH' }],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    for (const fn of ['AcceptStartRequest', 'Notify']) {
      expect(template.Resources[`${fn}LambdaFunction`]!.Properties.Environment.Variables.LEASE_TABLE).toBe('failover-orchestrator-example-leases');
      expect(policyOf(fn)).toContain('table/failover-orchestrator-example-leases');
    }
  });

  it('lets the flip update the example plan’s ARC routing controls, and grants no Route 53 record change (the plan has no route53-record)', () => {
    const controls = plan.traffic.flatMap((t) => (t.kind === 'arc-routing-control' ? [t.primaryRoutingControlArn, t.recoveryRoutingControlArn] : []));
    expect(controls).toHaveLength(2);
    const update = statementsOf('FlipTraffic').find((s) => s.Effect === 'Allow' && s.Action.includes('route53-recovery-cluster:UpdateRoutingControlStates'));
    expect(update!.Resource).toEqual(controls);
    const everyAction = ofType('AWS::IAM::Role').flatMap(([, role]) =>
      (role.Properties.Policies ?? []).flatMap((p: any) => p.PolicyDocument.Statement.flatMap((st: any) => [].concat(st.Action))),
    ) as string[];
    expect(everyAction).not.toContain('route53:ChangeResourceRecordSets');
  });

  it('lets the probe publish only in the plan’s detection namespace', () => {
    expect(statementsOf('ProbePrimary').find((s) => s.Action.includes('cloudwatch:PutMetricData'))).toEqual({
      Effect: 'Allow',
      Action: ['cloudwatch:PutMetricData'],
      Resource: '*',
      Condition: { StringEquals: { 'cloudwatch:namespace': plan.detection.metricNamespace } },
    });
  });

  it('starts failovers on exactly the plan’s alarm names: each fires one rule, the orchestrator’s own alarms fire none', () => {
    const rules = ofType('AWS::Events::Rule').map(([, r]) => r.Properties.EventPattern as { detail: { alarmName: string[] } });
    const named = rules.flatMap((p) => p.detail.alarmName).filter((n) => !n.startsWith('__'));
    expect(named.sort()).toEqual([...alarmNames(plan).all].sort());
    const alarmEvent = (name: string) => {
      const event = sample('health-alarm.json');
      event.detail.alarmName = name;
      event.resources = [`arn:aws:cloudwatch:eu-west-1:111122223333:alarm:${name}`];
      return event;
    };
    for (const name of alarmNames(plan).all) {
      expect({ name, firing: rules.filter((p) => matchesEventPattern(p, alarmEvent(name))).length }).toEqual({ name, firing: 1 });
    }
    const own = ofType('AWS::CloudWatch::Alarm')
      .map(([, r]) => r.Properties.AlarmName as string)
      .filter((n) => !alarmNames(plan).all.includes(n));
    expect(own.sort()).toEqual(['failover-orchestrator-example-executions-failed', 'failover-orchestrator-example-stage-failures']);
    for (const name of own) expect({ name, firing: rules.filter((p) => matchesEventPattern(p, alarmEvent(name))).length }).toEqual({ name, firing: 0 });
  });
});

describe('serverless package with a deploy region other than the plan’s recoveryRegion', () => {
  it('fails and names both regions', async () => {
    const packaged = await packageStage('example', {}, ['--region', 'us-east-1']);

    expect(packaged.code).not.toBe(0);
    expect(packaged.output).toContain("Deploy region us-east-1 differs from the plan's recoveryRegion eu-west-1");
  }, 300_000);
});

describe('serverless package with an invalid plan', () => {
  it('fails and names the bad field and why, once and without a stack', async () => {
    const configDir = join(workDir, 'bad-config');
    mkdirSync(configDir);
    for (const f of readdirSync(join(ROOT, 'config'))) copyFileSync(join(ROOT, 'config', f), join(configDir, f));
    const broken = readFileSync(join(configDir, 'example.yml'), 'utf8').replace('recoveryRegion: eu-west-1', 'recoveryRegion: eu-west-9');
    writeFileSync(join(configDir, 'example.yml'), broken);

    const packaged = await packageStage('example', { FAILOVER_CONFIG_DIR: configDir });

    expect(packaged.code).not.toBe(0);
    expect(packaged.output).toContain('recoveryRegion: eu-west-9 is not an AWS region');
    // Once, without a stack: not once per variable that reads the plan, each with the resolver's frames.
    expect(packaged.output.split('recoveryRegion: eu-west-9 is not an AWS region')).toHaveLength(2);
    expect(packaged.output).not.toMatch(/^ +at /m);
  }, 300_000);
});
