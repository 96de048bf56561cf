// Variables for serverless.yml, resolved when packaging: `${file(./scripts/serverless-config.js):NAME}`.
// The plan (config/<stage>.yml) is validated here, so an invalid plan fails `serverless package`
// with the path of the bad field and the reason.
'use strict';
const { renderAlarmPattern, renderFailoverDefinition } = require('./lib/definitions');
const { loadPlan } = require('./lib/load-plan');

async function stageOf({ options, resolveVariable }) {
  return options.stage || (await resolveVariable('sls:stage'));
}

/** serverless.yml function key → CloudFormation logical id (the Framework's own naming rule). */
function logicalId(functionKey) {
  const normalized = functionKey.charAt(0).toUpperCase() + functionKey.slice(1);
  return `${normalized.replace(/-/g, 'Dash').replace(/_/g, 'Underscore')}LambdaFunction`;
}

const SERVICE = 'failover-orchestrator';
const sub = (text) => ({ 'Fn::Sub': text });
const allow = (actions, resources) => ({ Effect: 'Allow', Action: actions, Resource: resources });

/**
 * Least-privilege IAM statements per function, scoped to the plan's own resources. No statement
 * uses a wildcard action (a template test checks it). `Resource: '*'` appears only for the read
 * APIs that do not support resource-level permissions (cloudwatch:GetMetricData).
 */
function iamStatements(plan, stage) {
  const P = plan.primaryRegion;
  const R = plan.recoveryRegion;
  const stateMachineName = `${SERVICE}-${stage}-failover`;
  const stateMachine = sub(`arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:stateMachine:${stateMachineName}`);
  const executions = sub(`arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:execution:${stateMachineName}:*`);
  const table = sub(`arn:\${AWS::Partition}:dynamodb:\${AWS::Region}:\${AWS::AccountId}:table/${SERVICE}-${stage}-approvals`);
  const ssm = (name) => sub(`arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${name}`);
  const rdsArn = (region, type, id) => sub(`arn:\${AWS::Partition}:rds:${region}:\${AWS::AccountId}:${type}:${id}`);
  const aurora = plan.databases.filter((d) => d.kind === 'aurora-global');
  const replicas = plan.databases.filter((d) => d.kind === 'rds-replica');
  const globalClusters = aurora.map((d) => sub(`arn:\${AWS::Partition}:rds::\${AWS::AccountId}:global-cluster:${d.globalClusterIdentifier}`));
  const recoveryClusters = aurora.map((d) => d.recoveryClusterArn);
  const replicaInstances = replicas.map((d) => rdsArn(R, 'db', d.replicaInstanceIdentifier));
  const parameterGroups = replicas.filter((d) => d.primaryParameterGroup).map((d) => rdsArn(P, 'pg', d.primaryParameterGroup));
  const ecsService = (region, ref) => sub(`arn:\${AWS::Partition}:ecs:${region}:\${AWS::AccountId}:service/${ref.cluster}/${ref.service}`);
  const primaryServices = plan.compute.filter((c) => c.writer).map((c) => ecsService(P, c.primary));
  const recoveryServices = plan.compute.map((c) => ecsService(R, c.recovery));
  const zones = [...new Set(plan.traffic.map((t) => t.hostedZoneId))].map((z) => sub(`arn:\${AWS::Partition}:route53:::hostedzone/${z}`));
  const alarms = [...plan.detection.healthAlarms, ...plan.detection.replicationLagAlarms, ...plan.detection.databaseAlarms].map(({ name: a }) =>
    sub(`arn:\${AWS::Partition}:cloudwatch:${R}:\${AWS::AccountId}:alarm:${a}`),
  );
  const bus = sub(`arn:\${AWS::Partition}:events:\${AWS::Region}:\${AWS::AccountId}:event-bus/${plan.notifications.eventBusName}`);
  const describeDatabases = [
    ...(aurora.length ? [allow(['rds:DescribeGlobalClusters'], globalClusters)] : []),
    ...(replicas.length ? [allow(['rds:DescribeDBInstances'], replicaInstances)] : []),
    allow(['cloudwatch:GetMetricData'], '*'),
  ];
  // Application Auto Scaling has no resource-level permission for RegisterScalableTarget on ECS services.
  const autoScaling = plan.compute.some((c) => c.autoScaling) ? [allow(['application-autoscaling:RegisterScalableTarget'], '*')] : [];
  const nonEmpty = (statements) => statements.filter((s) => !Array.isArray(s.Resource) || s.Resource.length > 0);
  // Active tracing (provider.tracing.lambda) needs these on every function's own role; X-Ray has no resource-level permissions.
  const xray = allow(['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], '*');
  const withTracing = (byFunction) => Object.fromEntries(Object.entries(byFunction).map(([fn, statements]) => [fn, [...statements, xray]]));
  return withTracing({
    acceptStartRequest: [allow(['states:ListExecutions'], [stateMachine]), allow(['states:DescribeExecution'], [executions])],
    confirmRegionFailure: nonEmpty([...describeDatabases, allow(['cloudwatch:DescribeAlarms'], alarms), allow(['route53:ListResourceRecordSets'], zones)]),
    requestApproval: [allow(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], [table]), allow(['ssm:GetParameter'], [ssm(plan.slack.botTokenParameter)])],
    fenceUsWriters: nonEmpty([
      allow(['ecs:DescribeServices', 'ecs:UpdateService'], primaryServices),
      ...autoScaling,
      allow(['rds:ModifyDBParameterGroup'], parameterGroups),
    ]),
    promoteEuDatabase: nonEmpty([
      ...describeDatabases,
      allow(['rds:FailoverGlobalCluster', 'rds:SwitchoverGlobalCluster'], [...globalClusters, ...recoveryClusters]),
      allow(['rds:PromoteReadReplica'], replicaInstances),
    ]),
    scaleEuCompute: nonEmpty([allow(['ecs:DescribeServices', 'ecs:UpdateService'], recoveryServices), ...autoScaling]),
    flipTraffic: [
      allow(['route53:ListResourceRecordSets', 'route53:ChangeResourceRecordSets'], zones),
      allow(['route53:GetChange'], [sub('arn:\${AWS::Partition}:route53:::change/*')]),
    ],
    smokeTest: nonEmpty(describeDatabases),
    notify: [allow(['events:PutEvents'], [bus]), allow(['ssm:GetParameter'], [ssm(plan.slack.botTokenParameter)])],
    slackCallback: [
      allow(['dynamodb:GetItem', 'dynamodb:UpdateItem'], [table]),
      allow(['states:SendTaskSuccess', 'states:SendTaskFailure'], [stateMachine]),
      allow(['ssm:GetParameter'], [ssm(plan.slack.signingSecretParameter)]),
    ],
  });
}

module.exports = {
  async iam(ctx) {
    const stage = await stageOf(ctx);
    return iamStatements(loadPlan(stage), stage);
  },
  async plan(ctx) {
    return loadPlan(await stageOf(ctx));
  },
  async failoverDefinition(ctx) {
    const plan = loadPlan(await stageOf(ctx));
    return renderFailoverDefinition(plan, (key) => ({ 'Fn::GetAtt': [logicalId(key), 'Arn'] }));
  },
  async healthAlarmPattern(ctx) {
    const plan = loadPlan(await stageOf(ctx));
    return renderAlarmPattern([...plan.detection.healthAlarms, ...plan.detection.databaseAlarms].map((a) => a.name));
  },
  async replicationLagAlarmPattern(ctx) {
    const plan = loadPlan(await stageOf(ctx));
    const lag = plan.detection.replicationLagAlarms.map((a) => a.name);
    return renderAlarmPattern(lag.length > 0 ? lag : ['__no-replication-lag-alarm-in-plan__']);
  },
};
