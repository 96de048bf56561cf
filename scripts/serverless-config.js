// Variables for serverless.yml, resolved when packaging: `${file(./scripts/serverless-config.js):NAME}`.
// The plan (config/<stage>.yml) is validated here, so an invalid plan fails `serverless package`
// with the path of the bad field and the reason.

const { join } = require('node:path');
const { renderAlarmPattern, renderFailoverDefinition } = require('./lib/definitions');
const { loadPlan } = require('./lib/load-plan');
const { requireTs } = require('./lib/require-ts');

let detectionModule;
/** functions/core/detection.ts, compiled in memory: the alarms are rendered from the same code the probe Lambda runs. */
function detection() {
  if (!detectionModule) detectionModule = requireTs(join('functions', 'core', 'detection.ts'));
  return detectionModule;
}

async function stageOf({ options, resolveVariable }) {
  return options.stage || (await resolveVariable('sls:stage'));
}

/**
 * An error the person packaging must fix (an invalid plan, a wrong --region), without its stack:
 * osls prints `error.stack` of a rejection from a `${file(...)}` function, and here the message says
 * everything (74 frames of the Framework's resolver did not help anyone).
 */
function withoutStack(error) {
  // Not `instanceof Error`: the plan's errors may come from another realm (a test runner's vm context).
  if (error && typeof error === 'object' && typeof error.message === 'string') error.stack = `${error.name}: ${error.message}`;
  return error;
}

/**
 * The validated plan, for every resolver but `plan` itself. It first waits for `custom.plan`: when the
 * plan is invalid, osls hands each dependent variable custom.plan's own error object (the same one)
 * and reports it once, instead of one copy of the message (and its stack) per variable.
 */
async function validPlan(ctx) {
  await ctx.resolveVariable('self:custom.plan');
  return loadPlan(await stageOf(ctx));
}

/** serverless.yml function key → CloudFormation logical id (the Framework's own naming rule). */
function logicalId(functionKey) {
  const normalized = functionKey.charAt(0).toUpperCase() + functionKey.slice(1);
  return `${normalized.replace(/-/g, 'Dash').replace(/_/g, 'Underscore')}LambdaFunction`;
}

const SERVICE = 'failover-orchestrator';
const sub = (text) => ({ 'Fn::Sub': text });
const allow = (actions, resources, condition) => ({ Effect: 'Allow', Action: actions, Resource: resources, ...(condition ? { Condition: condition } : {}) });
const deny = (actions, resources, condition) => ({ Effect: 'Deny', Action: actions, Resource: resources, Condition: condition });
/** Deployed function name (the Framework's rule: service-stage-key). */
const functionName = (stage, key) => `${SERVICE}-${stage}-${key}`;
const leaseTableName = (stage) => `${SERVICE}-${stage}-leases`;
const stateMachineName = (stage) => `${SERVICE}-${stage}-failover`;

/**
 * Least-privilege IAM statements per function, scoped to the plan's own resources. No statement
 * uses a wildcard action (a template test checks it). `Resource: '*'` appears only for APIs without
 * resource-level permissions (Service Authorization Reference,
 * https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html):
 * cloudwatch:GetMetricData, cloudwatch:PutMetricData (narrowed by the `cloudwatch:namespace`
 * condition), application-autoscaling:DescribeScalableTargets / RegisterScalableTarget, X-Ray.
 */
function iamStatements(plan, stage) {
  const P = plan.primaryRegion;
  const R = plan.recoveryRegion;
  const stateMachine = sub(`arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:stateMachine:${stateMachineName(stage)}`);
  const table = (name) => sub(`arn:\${AWS::Partition}:dynamodb:\${AWS::Region}:\${AWS::AccountId}:table/${name}`);
  const approvalsTable = table(`${SERVICE}-${stage}-approvals`);
  const leaseTable = table(leaseTableName(stage));
  const ssm = (name) => sub(`arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${name}`);
  // RDS ARN formats (db, pg, cluster, cluster-pg): https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonrds.html
  const rdsArn = (region, type, id) => sub(`arn:\${AWS::Partition}:rds:${region}:\${AWS::AccountId}:${type}:${id}`);
  const aurora = plan.databases.filter((d) => d.kind === 'aurora-global');
  const replicas = plan.databases.filter((d) => d.kind === 'rds-replica');
  const globalClusters = aurora.map((d) => sub(`arn:\${AWS::Partition}:rds::\${AWS::AccountId}:global-cluster:${d.globalClusterIdentifier}`));
  const recoveryClusters = aurora.map((d) => d.recoveryClusterArn);
  const primaryClusters = aurora.map((d) => d.primaryClusterArn);
  const primaryClusterParameterGroups = aurora.filter((d) => d.primaryClusterParameterGroup).map((d) => rdsArn(P, 'cluster-pg', d.primaryClusterParameterGroup));
  const replicaInstances = replicas.map((d) => rdsArn(R, 'db', d.replicaInstanceIdentifier));
  const primaryInstances = replicas.map((d) => rdsArn(P, 'db', d.primaryInstanceIdentifier));
  const parameterGroups = replicas.filter((d) => d.primaryParameterGroup).map((d) => rdsArn(P, 'pg', d.primaryParameterGroup));
  const ecsService = (region, ref) => sub(`arn:\${AWS::Partition}:ecs:${region}:\${AWS::AccountId}:service/${ref.cluster}/${ref.service}`);
  const primaryServices = plan.compute.filter((c) => c.writer).map((c) => ecsService(P, c.primary));
  const recoveryServices = plan.compute.map((c) => ecsService(R, c.recovery));
  const records = plan.traffic.filter((t) => t.kind === 'route53-record');
  const zones = [...new Set(records.map((t) => t.hostedZoneId))].map((z) => sub(`arn:\${AWS::Partition}:route53:::hostedzone/${z}`));
  // ARC routing controls: arn:${Partition}:route53-recovery-control::${Account}:controlpanel/${ControlPanelId}/routingcontrol/${RoutingControlId}
  // (https://docs.aws.amazon.com/service-authorization/latest/reference/list_route53-recovery-cluster.html). The batch
  // UpdateRoutingControlStates requires the routingcontrol resource, so it is authorized against every control in the
  // batch: both controls of each plan resource are listed.
  const routingControls = plan.traffic.filter((t) => t.kind === 'arc-routing-control').flatMap((t) => [t.primaryRoutingControlArn, t.recoveryRoutingControlArn]);
  const alarms = [...plan.detection.healthAlarms, ...plan.detection.replicationLagAlarms, ...plan.detection.databaseAlarms].map(({ name: a }) =>
    sub(`arn:\${AWS::Partition}:cloudwatch:${R}:\${AWS::AccountId}:alarm:${a}`),
  );
  const bus = sub(`arn:\${AWS::Partition}:events:\${AWS::Region}:\${AWS::AccountId}:event-bus/${plan.notifications.eventBusName}`);
  const describeDatabases = [
    ...(aurora.length ? [allow(['rds:DescribeGlobalClusters'], globalClusters)] : []),
    ...(replicas.length ? [allow(['rds:DescribeDBInstances'], replicaInstances)] : []),
    allow(['cloudwatch:GetMetricData'], '*'),
  ];
  // Reads of the primary's databases: is the fence's parameter group attached and in-sync, does the old primary refuse writes.
  const describePrimaryDatabases = [
    allow(['rds:DescribeDBInstances'], primaryInstances),
    allow(['rds:DescribeDBParameters'], parameterGroups),
    allow(['rds:DescribeDBClusters'], primaryClusters),
    allow(['rds:DescribeDBClusterParameters'], primaryClusterParameterGroups),
  ];
  // Application Auto Scaling has no resource-level permissions for these actions on ECS services.
  const autoScaled = plan.compute.some((c) => c.autoScaling);
  const autoScaling = autoScaled ? [allow(['application-autoscaling:DescribeScalableTargets', 'application-autoscaling:RegisterScalableTarget'], '*')] : [];
  const readRoutingControls = allow(['route53-recovery-cluster:GetRoutingControlState'], routingControls);
  const updateActions = ['route53-recovery-cluster:UpdateRoutingControlState', 'route53-recovery-cluster:UpdateRoutingControlStates'];
  // The orchestrator never overrides an ARC safety rule (a human's break-glass decision): deny any update that asks to
  // (condition key route53-recovery-cluster:AllowSafetyRulesOverrides, same reference).
  const arcFlip = routingControls.length
    ? [
        // The flip sends the pair in one UpdateRoutingControlStates (functions/adapters/arc-routing-control.ts); the single-control update is not needed.
        allow(['route53-recovery-cluster:GetRoutingControlState', 'route53-recovery-cluster:UpdateRoutingControlStates'], routingControls),
        deny(updateActions, routingControls, { Bool: { 'route53-recovery-cluster:AllowSafetyRulesOverrides': 'true' } }),
      ]
    : [];
  const route53Flip = records.length
    ? [
        allow(['route53:ListResourceRecordSets', 'route53:ChangeResourceRecordSets'], zones),
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub string, not a JavaScript template
        allow(['route53:GetChange'], [sub('arn:${AWS::Partition}:route53:::change/*')]),
      ]
    : [];
  // The lease is only ever read (consistent GetItem) and changed by conditional UpdateItem (functions/core/single-flight.ts).
  const leaseItems = allow(['dynamodb:GetItem', 'dynamodb:UpdateItem'], [leaseTable]);
  const nonEmpty = (statements) => statements.filter((s) => !Array.isArray(s.Resource) || s.Resource.length > 0);
  // Active tracing (provider.tracing.lambda) needs these on every function's own role; X-Ray has no resource-level permissions.
  const xray = allow(['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], '*');
  const withTracing = (byFunction) => Object.fromEntries(Object.entries(byFunction).map(([fn, statements]) => [fn, [...nonEmpty(statements), xray]]));
  return withTracing({
    acceptStartRequest: [leaseItems],
    confirmRegionFailure: [
      ...describeDatabases,
      allow(['cloudwatch:DescribeAlarms'], alarms),
      ...(records.length ? [allow(['route53:ListResourceRecordSets'], zones)] : []),
      readRoutingControls,
    ],
    requestApproval: [allow(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], [approvalsTable]), allow(['ssm:GetParameter'], [ssm(plan.slack.botTokenParameter)])],
    fenceUsWriters: [
      allow(['ecs:DescribeServices', 'ecs:UpdateService'], primaryServices),
      ...autoScaling,
      allow(['rds:ModifyDBParameterGroup'], parameterGroups),
      allow(['rds:ModifyDBClusterParameterGroup'], primaryClusterParameterGroups),
      ...describePrimaryDatabases,
      leaseItems,
    ],
    promoteEuDatabase: [
      ...describeDatabases,
      allow(['rds:FailoverGlobalCluster', 'rds:SwitchoverGlobalCluster'], [...globalClusters, ...recoveryClusters]),
      allow(['rds:PromoteReadReplica'], replicaInstances),
    ],
    scaleEuCompute: [allow(['ecs:DescribeServices', 'ecs:UpdateService'], recoveryServices), ...autoScaling],
    flipTraffic: [...arcFlip, ...route53Flip],
    smokeTest: [...describeDatabases, ...describePrimaryDatabases],
    notify: [allow(['events:PutEvents'], [bus]), allow(['ssm:GetParameter'], [ssm(plan.slack.botTokenParameter)]), leaseItems],
    slackCallback: [
      allow(['dynamodb:GetItem', 'dynamodb:UpdateItem'], [approvalsTable]),
      allow(['states:SendTaskSuccess', 'states:SendTaskFailure'], [stateMachine]),
      allow(['ssm:GetParameter'], [ssm(plan.slack.signingSecretParameter)]),
      // Answer Slack first, update the message in an asynchronous invocation of itself (InvocationType Event).
      // By name, not Fn::GetAtt: the function depends on this role, so a GetAtt would be a circular dependency.
      allow(['lambda:InvokeFunction'], [sub(`arn:\${AWS::Partition}:lambda:\${AWS::Region}:\${AWS::AccountId}:function:${functionName(stage, 'slackCallback')}`)]),
    ],
    probePrimary: [
      // PutMetricData has no resource-level permission; the cloudwatch:namespace condition limits it to the plan's
      // detection namespace (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html).
      allow(['cloudwatch:PutMetricData'], '*', { StringEquals: { 'cloudwatch:namespace': plan.detection.metricNamespace } }),
    ],
  });
}

/** A CloudFormation logical id from an alarm name; distinct names must give distinct ids (checked). */
function alarmLogicalId(name) {
  const words = name.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return `DetectionAlarm${words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('')}`;
}

/** One AWS::CloudWatch::Alarm per detection spec (functions/core/detection.ts). No actions: EventBridge rules react to the state change. */
function detectionAlarmResources(plan) {
  const resources = {};
  for (const spec of detection().detectionAlarms(plan)) {
    const id = alarmLogicalId(spec.name);
    if (resources[id]) throw new Error(`alarm names ${resources[id].Properties.AlarmName} and ${spec.name} map to the same CloudFormation id ${id}; rename one`);
    resources[id] = {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmName: spec.name,
        AlarmDescription: `${spec.description}. Missing data: ${spec.treatMissingDataReason}.`.slice(0, 1024),
        Namespace: spec.namespace,
        MetricName: spec.metricName,
        Dimensions: Object.entries(spec.dimensions).map(([Name, Value]) => ({ Name, Value })),
        Statistic: spec.statistic,
        Period: spec.periodSeconds,
        EvaluationPeriods: spec.evaluationPeriods,
        DatapointsToAlarm: spec.datapointsToAlarm,
        Threshold: spec.threshold,
        ComparisonOperator: spec.comparison,
        TreatMissingData: spec.treatMissingData,
      },
    };
  }
  return resources;
}

/**
 * The probe schedule: EventBridge Scheduler invokes the probe Lambda with the plan (validated by the
 * Lambda with the plan schema) and the scheduled time (a context attribute Scheduler substitutes).
 * No Scheduler retry: a probe run late is worth less than the next one, due within the interval.
 * The input (the whole plan, about 4.6 KB for the example) is far below the 256 KB Scheduler allows
 * (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_Target.html).
 * The Scheduler's own role may invoke the probe function and nothing else.
 */
function probeScheduleResources(plan, stage) {
  const input = { plan, scheduledTime: '<aws.scheduler.scheduled-time>' };
  const probeFunction = logicalId('probePrimary');
  return {
    ProbePrimaryScheduleRole: {
      Type: 'AWS::IAM::Role',
      Properties: {
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { Service: 'scheduler.amazonaws.com' },
              Action: 'sts:AssumeRole',
              // Confused-deputy guard (EventBridge Scheduler User Guide, "Set up the execution role").
              Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
            },
          ],
        },
        Policies: [
          {
            PolicyName: 'invoke-probe-primary',
            PolicyDocument: { Version: '2012-10-17', Statement: [allow(['lambda:InvokeFunction'], [{ 'Fn::GetAtt': [probeFunction, 'Arn'] }])] },
          },
        ],
      },
    },
    ProbePrimarySchedule: {
      Type: 'AWS::Scheduler::Schedule',
      Properties: {
        Name: `${SERVICE}-${stage}-probe-primary`.slice(0, 64),
        Description: `Probe ${plan.primaryRegion} from ${plan.recoveryRegion} and publish ${plan.detection.metricNamespace}/ProbeSuccess`,
        ScheduleExpression: plan.detection.probeSchedule,
        ScheduleExpressionTimezone: 'UTC',
        FlexibleTimeWindow: { Mode: 'OFF' },
        State: 'ENABLED',
        Target: {
          Arn: { 'Fn::GetAtt': [probeFunction, 'Arn'] },
          RoleArn: { 'Fn::GetAtt': ['ProbePrimaryScheduleRole', 'Arn'] },
          Input: JSON.stringify(input),
          RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
        },
      },
    },
  };
}

/**
 * Alarms on the orchestrator's own failures, to an SNS topic operators subscribe to (pager, email,
 * AWS Chatbot). SNS rather than the plan's event bus: an alarm action needs no Lambda of ours to
 * work, and these alarms fire precisely when ours fail. The topic is not KMS-encrypted: CloudWatch
 * alarms cannot publish to a topic under the AWS managed key alias/aws/sns (its key policy does not
 * let CloudWatch use it; https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns), and
 * the messages carry alarm names and states only, no customer data. Use a customer managed key to
 * encrypt it.
 */
function operatorAlarmResources(stage, powertools) {
  const topic = { Ref: 'OperatorAlertsTopic' };
  const actions = { ActionsEnabled: true, AlarmActions: [topic], OKActions: [topic] };
  // Both alarms fire on the first failure in a one-minute period and tell the operators' topic.
  const onAnyFailure = {
    EvaluationPeriods: 1,
    DatapointsToAlarm: 1,
    Threshold: 1,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    TreatMissingData: 'notBreaching',
    ...actions,
  };
  return {
    OperatorAlertsTopic: {
      Type: 'AWS::SNS::Topic',
      Properties: { TopicName: `${SERVICE}-${stage}-operator-alerts`, DisplayName: `Failover orchestrator (${stage})` },
    },
    // AWS/States ExecutionsFailed, dimension StateMachineArn
    // (https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html). Emitted only when
    // executions fail, so missing data is not breaching (alarms-and-missing-data: error-only metrics).
    ExecutionsFailedAlarm: {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmName: `${SERVICE}-${stage}-executions-failed`,
        AlarmDescription: 'A failover execution failed (ended in FailoverFailed or was stopped by an error): see its history and the Slack/EventBridge failure notice.',
        Namespace: 'AWS/States',
        MetricName: 'ExecutionsFailed',
        Dimensions: [{ Name: 'StateMachineArn', Value: sub(`arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:stateMachine:${stateMachineName(stage)}`) }],
        Statistic: 'Sum',
        Period: 60,
        ...onAnyFailure,
      },
    },
    // Powertools' StageFailures (functions/core/stage.ts), dimensions service + stage, summed over every stage with a
    // Metrics Insights query (one alarm however many stages there are;
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Create_Metrics_Insights_Alarm.html). It also
    // catches failures a run survives (a notification that failed after retries ends the run as succeeded) and the
    // probe Lambda's failures (detection blind).
    StageFailuresAlarm: {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmName: `${SERVICE}-${stage}-stage-failures`,
        AlarmDescription: 'A stage Lambda (or the detection probe) failed: see the Powertools logs of the stage named in the StageFailures metric.',
        Metrics: [
          {
            Id: 'failures',
            Expression: `SELECT SUM(StageFailures) FROM SCHEMA("${powertools.namespace}", service, stage) WHERE service = '${powertools.service}'`,
            Period: 60,
            ReturnData: true,
          },
        ],
        ...onAnyFailure,
      },
    },
  };
}

module.exports = {
  async iam(ctx) {
    return iamStatements(await validPlan(ctx), await stageOf(ctx));
  },
  /** custom.plan: the one place an invalid plan is reported (the other resolvers wait for it). */
  async plan(ctx) {
    const stage = await stageOf(ctx);
    try {
      return loadPlan(stage);
    } catch (error) {
      throw withoutStack(error);
    }
  },
  /**
   * provider.region: the plan's recovery region. `--region` may only repeat it: the orchestrator must
   * run where it does not depend on the failed region's control plane, and every alarm it creates
   * must live in the region whose metrics it watches.
   */
  async deployRegion(ctx) {
    const stage = await stageOf(ctx);
    const plan = await validPlan(ctx);
    const asked = ctx.options.region;
    if (asked && asked !== plan.recoveryRegion) {
      throw withoutStack(
        new Error(
          `Deploy region ${asked} differs from the plan's recoveryRegion ${plan.recoveryRegion} (stage ${stage}): ` +
            `the orchestrator and its alarms must be deployed in the recovery region; drop --region or use --region ${plan.recoveryRegion}`,
        ),
      );
    }
    return plan.recoveryRegion;
  },
  async probeTimeout(ctx) {
    return detection().probeLambdaTimeoutSeconds(await validPlan(ctx));
  },
  /** Detection (probe schedule + the plan's alarms) and the alarms on the orchestrator's own failures. */
  async stackResources(ctx) {
    const stage = await stageOf(ctx);
    const plan = await validPlan(ctx);
    const powertools = {
      namespace: await ctx.resolveVariable('self:provider.environment.POWERTOOLS_METRICS_NAMESPACE'),
      service: await ctx.resolveVariable('self:provider.environment.POWERTOOLS_SERVICE_NAME'),
    };
    return {
      Resources: { ...detectionAlarmResources(plan), ...probeScheduleResources(plan, stage), ...operatorAlarmResources(stage, powertools) },
      Outputs: { OperatorAlertsTopicArn: { Description: 'Subscribe operators here: alarms on failed executions and failed stages', Value: { Ref: 'OperatorAlertsTopic' } } },
    };
  },
  async failoverDefinition(ctx) {
    const plan = await validPlan(ctx);
    return renderFailoverDefinition(plan, (key) => ({ 'Fn::GetAtt': [logicalId(key), 'Arn'] }));
  },
  async healthAlarmPattern(ctx) {
    const plan = await validPlan(ctx);
    return renderAlarmPattern([...plan.detection.healthAlarms, ...plan.detection.databaseAlarms].map((a) => a.name));
  },
  async replicationLagAlarmPattern(ctx) {
    const plan = await validPlan(ctx);
    const lag = plan.detection.replicationLagAlarms.map((a) => a.name);
    return renderAlarmPattern(lag.length > 0 ? lag : ['__no-replication-lag-alarm-in-plan__']);
  },
};
