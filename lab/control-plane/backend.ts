/**
 * What the simulated control plane needs from the lab: one method per AWS operation the handlers
 * call, in plain data. The protocol layer (lab/control-plane/server.ts) turns real SDK requests
 * (awsQuery, restXml, awsJson1_0/1_1) into these calls and their results (or `AwsApiError`s) back
 * into responses the unmodified SDK parses. The lab world (lab/world.ts) implements it from the
 * state of the running lab: PostgreSQL, apps, front door, probes, executions.
 */

/** An error the SDK should see as a modelled AWS error (`error.name === code`). */
export class AwsApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = code;
  }
}

/** Who is calling: parsed from the SigV4 Authorization header's credential scope. */
export interface CallContext {
  region: string;
  /** SigV4 signing name: rds, route53, ecs, states, events, dynamodb, ssm, monitoring */
  service: string;
  operation: string;
}

export interface DbInstanceView {
  DBInstanceIdentifier: string;
  DBInstanceStatus: string;
  ReadReplicaSourceDBInstanceIdentifier?: string;
  StatusInfos?: Array<{ StatusType: string; Status: string; Normal: boolean; Message?: string }>;
}

export interface RecordSetView {
  Name: string;
  Type: string;
  SetIdentifier?: string;
  Weight?: number;
  TTL?: number;
  ResourceRecords?: Array<{ Value: string }>;
  AliasTarget?: { DNSName: string; HostedZoneId: string; EvaluateTargetHealth: boolean };
  HealthCheckId?: string;
}

export interface ServiceView {
  serviceName: string;
  clusterArn?: string;
  status: 'ACTIVE' | 'DRAINING' | 'INACTIVE';
  desiredCount: number;
  runningCount: number;
  pendingCount: number;
  deployments: Array<{ status: string; rolloutState: 'COMPLETED' | 'IN_PROGRESS' | 'FAILED'; desiredCount: number; runningCount: number }>;
}

export interface ExecutionView {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  startDate: Date;
  stopDate?: Date;
  input?: string;
}

export type AttributeMap = Record<string, unknown>; // DynamoDB AttributeValue JSON, passed through untouched

export interface ControlPlaneBackend {
  /**
   * Called first for every request. Return false to simulate an unreachable regional endpoint
   * (the server then destroys the socket without answering, as a dead region does).
   */
  reachable(call: CallContext): boolean;

  // RDS (awsQuery)
  describeDBInstances(call: CallContext, id: string): Promise<DbInstanceView>; // AwsApiError('DBInstanceNotFound', …, 404) when unknown
  promoteReadReplica(call: CallContext, id: string, backupRetentionPeriod?: number): Promise<DbInstanceView>; // 'InvalidDBInstanceState' when not a replica
  modifyDBParameterGroup(call: CallContext, name: string, parameters: Array<{ ParameterName: string; ParameterValue: string; ApplyMethod?: string }>): Promise<void>;

  // CloudWatch (awsJson1_0, target GraniteServiceVersion20100801)
  /** `names` is empty when the request names no alarms (DescribeAlarms without AlarmNames: all of them). `AlarmType` defaults to MetricAlarm. */
  describeAlarms(call: CallContext, names: string[]): Promise<Array<{ AlarmName: string; StateValue: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA'; AlarmType?: 'MetricAlarm' | 'CompositeAlarm' }>>;
  /** Latest-first values of one metric in [start, end], at most one per `period` seconds (the server makes up the timestamps: newest in the last whole period before `end`). */
  /** Values latest first; give `{ value, at }` to say when each was measured (plain numbers are placed in the latest periods). */
  getMetricValues(call: CallContext, q: { namespace: string; name: string; dimensions: Record<string, string>; start: Date; end: Date; stat?: string; period?: number }): Promise<Array<number | { value: number; at: Date }>>;

  // Route 53 (restXml)
  listResourceRecordSets(call: CallContext, zoneId: string, startName?: string, startType?: string): Promise<RecordSetView[]>;
  changeResourceRecordSets(call: CallContext, zoneId: string, changes: Array<{ Action: 'CREATE' | 'DELETE' | 'UPSERT'; ResourceRecordSet: RecordSetView }>): Promise<{ Id: string; Status: 'PENDING' | 'INSYNC'; SubmittedAt: Date }>;
  getChange(call: CallContext, id: string): Promise<{ Id: string; Status: 'PENDING' | 'INSYNC'; SubmittedAt: Date }>; // AwsApiError('NoSuchChange', …, 404)

  // ECS (awsJson1_1, target AmazonEC2ContainerServiceV20141113)
  describeServices(call: CallContext, cluster: string, services: string[]): Promise<{ services: ServiceView[]; failures: Array<{ arn: string; reason: string }> }>;
  updateService(call: CallContext, cluster: string, service: string, desiredCount: number): Promise<ServiceView>; // 'ServiceNotFoundException'

  // Step Functions (awsJson1_0, target AWSStepFunctions)
  listExecutions(call: CallContext, stateMachineArn: string, statusFilter?: string): Promise<ExecutionView[]>;
  describeExecution(call: CallContext, executionArn: string): Promise<ExecutionView>; // 'ExecutionDoesNotExist'
  sendTaskSuccess(call: CallContext, taskToken: string, output: string): Promise<void>; // 'TaskTimedOut' / 'TaskDoesNotExist' / 'InvalidToken'
  sendTaskFailure(call: CallContext, taskToken: string, error?: string, cause?: string): Promise<void>;

  // EventBridge (awsJson1_1, target AWSEvents)
  putEvents(call: CallContext, entries: Array<{ Source?: string; DetailType?: string; Detail?: string; EventBusName?: string; Resources?: string[]; Time?: Date }>): Promise<Array<{ EventId?: string; ErrorCode?: string; ErrorMessage?: string }>>;

  // DynamoDB (awsJson1_0, target DynamoDB_20120810): items are AttributeValue maps, expressions evaluated by the backend
  putItem(call: CallContext, req: { TableName: string; Item: AttributeMap; ConditionExpression?: string; ExpressionAttributeNames?: Record<string, string>; ExpressionAttributeValues?: AttributeMap; ReturnValuesOnConditionCheckFailure?: string }): Promise<void>; // 'ConditionalCheckFailedException'
  getItem(call: CallContext, req: { TableName: string; Key: AttributeMap }): Promise<AttributeMap | undefined>;
  updateItem(call: CallContext, req: { TableName: string; Key: AttributeMap; UpdateExpression?: string; ConditionExpression?: string; ExpressionAttributeNames?: Record<string, string>; ExpressionAttributeValues?: AttributeMap; ReturnValues?: string; ReturnValuesOnConditionCheckFailure?: string }): Promise<AttributeMap | undefined>;

  // SSM (awsJson1_1, target AmazonSSM)
  getParameter(call: CallContext, name: string, withDecryption: boolean): Promise<{ Name: string; Type: 'String' | 'SecureString'; Value: string; Version: number }>; // 'ParameterNotFound'
}
