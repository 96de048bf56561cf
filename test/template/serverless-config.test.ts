/**
 * The variables serverless.yml resolves from scripts/serverless-config.js, called directly (fast:
 * no packaging): least-privilege IAM per function for plans with and without each traffic kind,
 * the deploy-region check, and the stack resources rendered from the plan. package.test.ts checks
 * the same things once in the real packaged template.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { rawExamplePlan, route53WeightedTraffic } from '../helpers/plan';

const config = require('../../scripts/serverless-config.js') as Record<string, (ctx: unknown) => Promise<any>>;

type Statement = { Effect: 'Allow' | 'Deny'; Action: string[]; Resource: unknown; Condition?: Record<string, unknown> };

let configDir: string;
const ENV_BEFORE = process.env.FAILOVER_CONFIG_DIR;

/** A resolver context for stage `stage`, as the Framework passes it. */
function ctx(stage: string, options: Record<string, string> = {}) {
  const environment: Record<string, string> = { POWERTOOLS_METRICS_NAMESPACE: 'FailoverOrchestrator', POWERTOOLS_SERVICE_NAME: 'failover-orchestrator' };
  const context = {
    options: { stage, ...options },
    resolveVariable: async (v: string): Promise<unknown> => {
      const m = /^self:provider\.environment\.(\w+)$/.exec(v);
      if (m) return environment[m[1]!];
      // serverless.yml: custom.plan is `${file(./scripts/serverless-config.js):plan}`; the other resolvers wait for it.
      if (v === 'self:custom.plan') return config.plan!(context);
      throw new Error(`unexpected variable ${v}`);
    },
  };
  return context;
}

/** Writes config/<stage>.yml into the temporary config folder: the example plan changed by `edit`. */
function writePlan(stage: string, edit: (raw: Record<string, any>) => void = () => {}): void {
  const raw = rawExamplePlan();
  edit(raw);
  writeFileSync(join(configDir, `${stage}.yml`), stringify(raw));
}

beforeAll(() => {
  configDir = mkdtempSync(join(tmpdir(), 'failover-config-'));
  process.env.FAILOVER_CONFIG_DIR = configDir;
  writePlan('example');
  writePlan('dns', (raw) => {
    raw.traffic = [route53WeightedTraffic()];
  });
});

afterAll(() => {
  if (ENV_BEFORE === undefined) delete process.env.FAILOVER_CONFIG_DIR;
  else process.env.FAILOVER_CONFIG_DIR = ENV_BEFORE;
  rmSync(configDir, { recursive: true, force: true });
});

const actionsOf = (statements: Statement[]) => statements.flatMap((s) => s.Action);
const statementsWith = (statements: Statement[], action: string) => statements.filter((s) => s.Action.includes(action));
const text = (value: unknown) => JSON.stringify(value);

describe('iam (example plan: ARC routing controls, no route53-record)', () => {
  let iam: Record<string, Statement[]>;
  beforeAll(async () => {
    iam = await config.iam!(ctx('example'));
  });

  it('has statements for every function, the probe included', () => {
    expect(Object.keys(iam).sort()).toEqual(
      [
        'acceptStartRequest',
        'confirmRegionFailure',
        'fenceUsWriters',
        'flipTraffic',
        'notify',
        'probePrimary',
        'promoteEuDatabase',
        'requestApproval',
        'scaleEuCompute',
        'slackCallback',
        'smokeTest',
      ].sort(),
    );
  });

  it('grants no Route 53 control-plane action when the plan has no route53-record', () => {
    for (const [fn, statements] of Object.entries(iam)) {
      expect({ fn, route53: actionsOf(statements).filter((a) => a.startsWith('route53:')) }).toEqual({ fn, route53: [] });
    }
  });

  it('lets flipTraffic read and update exactly the plan’s two routing controls, and never override a safety rule', () => {
    const controls = [
      'arn:aws:route53-recovery-control::111122223333:controlpanel/0123abcd/routingcontrol/api-use1',
      'arn:aws:route53-recovery-control::111122223333:controlpanel/0123abcd/routingcontrol/api-euw1',
    ];
    const allows = iam.flipTraffic!.filter((s) => s.Effect === 'Allow' && s.Action.some((a) => a.startsWith('route53-recovery-cluster:')));
    expect(allows).toEqual([
      {
        Effect: 'Allow',
        Action: ['route53-recovery-cluster:GetRoutingControlState', 'route53-recovery-cluster:UpdateRoutingControlStates'],
        Resource: controls,
      },
    ]);
    expect(iam.flipTraffic!.filter((s) => s.Effect === 'Deny')).toEqual([
      {
        Effect: 'Deny',
        Action: ['route53-recovery-cluster:UpdateRoutingControlState', 'route53-recovery-cluster:UpdateRoutingControlStates'],
        Resource: controls,
        Condition: { Bool: { 'route53-recovery-cluster:AllowSafetyRulesOverrides': 'true' } },
      },
    ]);
  });

  it('lets confirmRegionFailure only read the routing controls', () => {
    const arc = actionsOf(iam.confirmRegionFailure!).filter((a) => a.startsWith('route53-recovery-cluster:'));
    expect(arc).toEqual(['route53-recovery-cluster:GetRoutingControlState']);
  });

  it('lets the probe publish metrics only in the plan’s detection namespace', () => {
    expect(statementsWith(iam.probePrimary!, 'cloudwatch:PutMetricData')).toEqual([
      { Effect: 'Allow', Action: ['cloudwatch:PutMetricData'], Resource: '*', Condition: { StringEquals: { 'cloudwatch:namespace': 'FailoverOrchestrator/Detection' } } },
    ]);
    expect(actionsOf(iam.probePrimary!).sort()).toEqual(['cloudwatch:PutMetricData', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
  });

  it('gives the lease table to acceptStartRequest, fenceUsWriters (markActing) and notify only, read and conditional update only', () => {
    const onLease = Object.entries(iam)
      .filter(([, statements]) => text(statements).includes('table/failover-orchestrator-example-leases'))
      .map(([fn]) => fn);
    expect(onLease.sort()).toEqual(['acceptStartRequest', 'fenceUsWriters', 'notify']);
    for (const fn of onLease) expect(statementsWith(iam[fn]!, 'dynamodb:UpdateItem')[0]!.Action).toEqual(['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    // ListExecutions is eventually consistent: no longer the single-flight mechanism, so no longer granted.
    expect(actionsOf(iam.acceptStartRequest!)).not.toContain('states:ListExecutions');
  });

  it('lets the Slack callback invoke itself (answer first, update later) and no other function', () => {
    expect(statementsWith(iam.slackCallback!, 'lambda:InvokeFunction')).toEqual([
      {
        Effect: 'Allow',
        Action: ['lambda:InvokeFunction'],
        Resource: [{ 'Fn::Sub': 'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:failover-orchestrator-example-slackCallback' }],
      },
    ]);
    const others = Object.entries(iam).filter(([fn, statements]) => fn !== 'slackCallback' && actionsOf(statements).includes('lambda:InvokeFunction'));
    expect(others).toEqual([]);
  });

  it('lets the fence change the primary’s parameter groups (instance and Aurora cluster) and read their attachment', () => {
    const fence = text(iam.fenceUsWriters);
    expect(text(statementsWith(iam.fenceUsWriters!, 'rds:ModifyDBClusterParameterGroup'))).toContain('rds:us-east-1:${AWS::AccountId}:cluster-pg:payments-ledger-apg15');
    expect(text(statementsWith(iam.fenceUsWriters!, 'rds:ModifyDBParameterGroup'))).toContain('rds:us-east-1:${AWS::AccountId}:pg:payments-accounts-pg15');
    expect(text(statementsWith(iam.fenceUsWriters!, 'rds:DescribeDBInstances'))).toContain('rds:us-east-1:${AWS::AccountId}:db:payments-accounts-use1');
    expect(text(statementsWith(iam.fenceUsWriters!, 'rds:DescribeDBClusters'))).toContain('arn:aws:rds:us-east-1:111122223333:cluster:payments-ledger-use1');
    expect(text(statementsWith(iam.fenceUsWriters!, 'rds:DescribeDBParameters'))).toContain(':pg:payments-accounts-pg15');
    expect(fence).toContain('application-autoscaling:DescribeScalableTargets');
  });

  it('lets the smoke test read the old primary but change nothing there', () => {
    const actions = actionsOf(iam.smokeTest!);
    expect(actions).toEqual(expect.arrayContaining(['rds:DescribeDBInstances', 'rds:DescribeDBClusters', 'rds:DescribeDBParameters', 'rds:DescribeDBClusterParameters']));
    expect(actions.filter((a) => !/:(Describe|Get|List)/.test(a) && !a.startsWith('xray:'))).toEqual([]);
  });

  it('lets the scale-up read the scalable targets', () => {
    expect(actionsOf(iam.scaleEuCompute!)).toEqual(expect.arrayContaining(['application-autoscaling:DescribeScalableTargets', 'application-autoscaling:RegisterScalableTarget']));
  });
});

describe('iam (a plan that flips a route53-record)', () => {
  let iam: Record<string, Statement[]>;
  beforeAll(async () => {
    iam = await config.iam!(ctx('dns'));
  });

  it('keeps the Route 53 statements, scoped to the plan’s hosted zone, and grants no ARC action', () => {
    expect(text(statementsWith(iam.flipTraffic!, 'route53:ChangeResourceRecordSets'))).toContain('hostedzone/Z0123456789ABCDEFGHIJ');
    expect(actionsOf(iam.flipTraffic!)).toContain('route53:GetChange');
    expect(actionsOf(iam.confirmRegionFailure!)).toContain('route53:ListResourceRecordSets');
    for (const statements of Object.values(iam)) expect(actionsOf(statements).filter((a) => a.startsWith('route53-recovery-cluster:'))).toEqual([]);
  });
});

describe('iam (any plan)', () => {
  it.each(['example', 'dns'])('%s: no wildcard action, and Resource "*" only for actions without resource-level permissions', async (stage) => {
    const iam: Record<string, Statement[]> = await config.iam!(ctx(stage));
    const unscoped = new Set([
      'cloudwatch:GetMetricData',
      'cloudwatch:PutMetricData',
      'application-autoscaling:DescribeScalableTargets',
      'application-autoscaling:RegisterScalableTarget',
      'xray:PutTraceSegments',
      'xray:PutTelemetryRecords',
    ]);
    for (const [fn, statements] of Object.entries(iam)) {
      for (const s of statements) {
        expect({ fn, wildcard: s.Action.filter((a) => a.includes('*')) }).toEqual({ fn, wildcard: [] });
        if (s.Resource === '*') expect({ fn, actions: s.Action.filter((a) => !unscoped.has(a)) }).toEqual({ fn, actions: [] });
        if (Array.isArray(s.Resource)) expect(s.Resource.length).toBeGreaterThan(0);
      }
    }
  });
});

describe('deployRegion', () => {
  it('is the plan’s recoveryRegion, with or without a matching --region', async () => {
    await expect(config.deployRegion!(ctx('example'))).resolves.toBe('eu-west-1');
    await expect(config.deployRegion!(ctx('example', { region: 'eu-west-1' }))).resolves.toBe('eu-west-1');
  });

  it('refuses a --region other than the plan’s recoveryRegion, naming both', async () => {
    await expect(config.deployRegion!(ctx('example', { region: 'us-east-1' }))).rejects.toThrow(/Deploy region us-east-1 differs from the plan's recoveryRegion eu-west-1/);
  });
});

describe('an invalid plan', () => {
  // osls prints `error.stack` of a rejection from a `${file(...)}` function: the stack must be the message alone.
  it('is reported by custom.plan without stack frames, and every other resolver rejects with that same error', async () => {
    writePlan('broken', (raw) => {
      raw.recoveryRegion = 'eu-west-9';
    });
    const error = await config.plan!(ctx('broken')).catch((e: Error) => e);

    expect(error).toMatchObject({ name: 'InvalidPlan', message: expect.stringContaining('recoveryRegion: eu-west-9 is not an AWS region') });
    expect((error as Error).stack).toBe(`InvalidPlan: ${(error as Error).message}`);
    for (const resolver of ['iam', 'deployRegion', 'probeTimeout', 'stackResources', 'failoverDefinition', 'healthAlarmPattern', 'replicationLagAlarmPattern']) {
      const context = ctx('broken');
      const asked: string[] = [];
      const resolveVariable = context.resolveVariable;
      context.resolveVariable = async (v: string) => (asked.push(v), resolveVariable(v));
      await expect(config[resolver]!(context)).rejects.toMatchObject({ name: 'InvalidPlan' });
      expect(asked).toContain('self:custom.plan');
    }
  });
});

describe('stackResources', () => {
  it('renders a high-resolution probe alarm and a probe Lambda timeout that covers six 10 s rounds', async () => {
    writePlan('fast', (raw) => {
      raw.detection.healthAlarms[0].periodSeconds = 10;
    });
    const { Resources } = await config.stackResources!(ctx('fast'));
    const alarm = Object.values(Resources as Record<string, any>).find((r) => r.Properties?.AlarmName === 'payments-us-east-1-api-health');
    expect(alarm.Properties).toMatchObject({ MetricName: 'ProbeSuccess', Period: 10, Statistic: 'Minimum', Threshold: 1, ComparisonOperator: 'LessThanThreshold' });
    await expect(config.probeTimeout!(ctx('fast'))).resolves.toBe(91);
  });

  it('fails packaging with the plan path when the probe schedule cannot feed the alarms', async () => {
    writePlan('slow', (raw) => {
      raw.detection.probeSchedule = 'rate(1 hour)';
    });
    await expect(config.stackResources!(ctx('slow'))).rejects.toMatchObject({ name: 'InvalidPlan', message: expect.stringContaining('detection.probeSchedule') });
  });
});
