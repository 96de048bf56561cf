/**
 * What the simulated control plane needs from the lab: one method per AWS operation the handlers
 * call, in plain data. The protocol layer (lab/control-plane/server.ts) turns real requests
 * (awsQuery, restXml, restJson1, awsJson1_0/1_1) into these calls and their results (or
 * `AwsApiError`s) back into responses that unmodified AWS clients (SDK v3, the AWS CLI) parse. The
 * lab world (lab/world.ts) implements it from the state of the running lab: PostgreSQL, apps,
 * front door, probes, executions.
 *
 * DynamoDB is not modelled here: requests are forwarded unchanged to an in-memory DynamoDB
 * (dynalite, local/aws/dynamodb-local.ts) that the backend owns.
 */

/** An error the client should see as a modelled AWS error (`error.name === code`). */
export class AwsApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    /** Extra members of the modelled error (ARC's resourceId / resourceType, ValidationException's reason…). */
    readonly fields?: Record<string, unknown>,
  ) {
    super(message);
    this.name = code;
  }
}

/** Who is calling: parsed from the SigV4 Authorization header's credential scope. */
export interface CallContext {
  region: string;
  /** SigV4 signing name: rds, route53, ecs, states, events, dynamodb, ssm, monitoring, lambda, application-autoscaling, route53-recovery-cluster */
  service: string;
  operation: string;
}

/**
 * What a regional endpoint does with a request: answer it, refuse it (the socket is destroyed: a
 * region whose endpoints are down), or hang (the request is accepted and never answered: a region
 * that is dying, the usual failure, which only a client-side timeout ends).
 */
export type Reachability = 'ok' | 'refuse' | 'hang';

export interface DbInstanceView {
  DBInstanceIdentifier: string;
  DBInstanceStatus: string;
  ReadReplicaSourceDBInstanceIdentifier?: string;
  StatusInfos?: Array<{ StatusType: string; Status: string; Normal: boolean; Message?: string }>;
  /** https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBParameterGroupStatus.html */
  DBParameterGroups?: Array<{ DBParameterGroupName: string; ParameterApplyStatus: 'applying' | 'failed-to-apply' | 'in-sync' | 'pending-database-upgrade' | 'pending-reboot' }>;
  BackupRetentionPeriod?: number;
}

/** https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_Parameter.html */
export interface DbParameterView {
  ParameterName: string;
  ParameterValue?: string;
  Source: 'user' | 'system' | 'engine-default';
  ApplyType: 'static' | 'dynamic';
  DataType: string;
  IsModifiable: boolean;
  ApplyMethod?: 'immediate' | 'pending-reboot';
  AllowedValues?: string;
  Description?: string;
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
  /** PRIMARY | SECONDARY (failover routing), and any other plain field Route 53 has. */
  Failover?: string;
}

export interface ChangeInfoView {
  Id: string;
  Status: 'PENDING' | 'INSYNC';
  SubmittedAt: Date;
}

export interface RoutingControlView {
  ControlPanelArn: string;
  ControlPanelName: string;
  RoutingControlArn: string;
  RoutingControlName: string;
  RoutingControlState: 'On' | 'Off';
  Owner: string;
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

/** https://docs.aws.amazon.com/autoscaling/application/APIReference/API_ScalableTarget.html */
export interface ScalableTargetView {
  ServiceNamespace: string;
  ResourceId: string;
  ScalableDimension: string;
  MinCapacity: number;
  MaxCapacity: number;
  RoleARN: string;
  CreationTime: Date;
  SuspendedState?: { DynamicScalingInSuspended: boolean; DynamicScalingOutSuspended: boolean; ScheduledScalingSuspended: boolean };
}

export interface ExecutionView {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  startDate: Date;
  stopDate?: Date;
  input?: string;
  output?: string;
  error?: string;
  cause?: string;
}

export interface StateMachineView {
  stateMachineArn: string;
  name: string;
  type: 'STANDARD' | 'EXPRESS';
  creationDate: Date;
}

/** One event of GetExecutionHistory: https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html */
export interface HistoryEventView {
  timestamp: Date;
  type: string;
  id: number;
  previousEventId: number;
  [details: string]: unknown;
}

/** A stored CloudWatch datapoint (a raw value, or a statistic set published by PutMetricData). */
export interface MetricDatum {
  at: Date;
  /** A single value, or a statistic set (Sum / SampleCount / Minimum / Maximum), or values with counts. */
  values: Array<{ value: number; count: number }>;
  statistics?: { Sum: number; SampleCount: number; Minimum: number; Maximum: number };
  unit?: string;
}

export interface MetricQuery {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
  start: Date;
  end: Date;
}

export interface PutMetricDatum {
  MetricName: string;
  Dimensions: Record<string, string>;
  Timestamp?: Date;
  Value?: number;
  Values?: number[];
  Counts?: number[];
  StatisticValues?: { Sum: number; SampleCount: number; Minimum: number; Maximum: number };
  Unit?: string;
  StorageResolution?: number;
}

/** A DynamoDB request as it arrived (awsJson1_0), to be answered unchanged by a real implementation. */
export interface RawJsonRequest {
  target: string;
  body: string;
  headers: Record<string, string>;
}
export interface RawJsonResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface InvokeResult {
  /** 200 (RequestResponse), 202 (Event), 204 (DryRun). */
  status: 200 | 202 | 204;
  payload?: string;
  /** 'Unhandled' when the function threw (the payload then holds errorType / errorMessage). */
  functionError?: string;
}

export interface ControlPlaneBackend {
  /**
   * Called first for every request: 'refuse' destroys the socket without an answer (a region that
   * is down), 'hang' accepts the request and never answers (a region that is dying).
   */
  reachable(call: CallContext): Reachability;

  // RDS (awsQuery)
  describeDBInstances(call: CallContext, id: string): Promise<DbInstanceView>; // AwsApiError('DBInstanceNotFound', …, 404) when unknown
  promoteReadReplica(call: CallContext, id: string, backupRetentionPeriod?: number): Promise<DbInstanceView>; // 'InvalidDBInstanceState' when not a replica
  modifyDBParameterGroup(call: CallContext, name: string, parameters: Array<{ ParameterName: string; ParameterValue: string; ApplyMethod?: string }>): Promise<void>;
  /** 'DBParameterGroupNotFound' (404) when unknown. */
  describeDBParameters?(call: CallContext, name: string, source?: string): Promise<DbParameterView[]>;

  // CloudWatch (awsJson1_0 target GraniteServiceVersion20100801, and awsQuery)
  /** `names` is empty when the request names no alarms (DescribeAlarms without AlarmNames: all of them). `AlarmType` defaults to MetricAlarm. */
  describeAlarms(
    call: CallContext,
    names: string[],
  ): Promise<Array<{ AlarmName: string; StateValue: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA'; AlarmType?: 'MetricAlarm' | 'CompositeAlarm' }>>;
  /** Every datapoint stored for one metric with `start <= at < end`; the server aggregates them by Period and Stat. */
  getMetricData(call: CallContext, q: MetricQuery): Promise<MetricDatum[]>;
  putMetricData?(call: CallContext, namespace: string, data: PutMetricDatum[]): Promise<void>;

  // Route 53 (restXml), served from us-east-1
  /** Every record set of the zone (any order; the server sorts and pages). 'NoSuchHostedZone' (404). */
  listResourceRecordSets(call: CallContext, zoneId: string): Promise<RecordSetView[]>;
  /** All or nothing: 'InvalidChangeBatch' when one change is not valid. */
  changeResourceRecordSets(
    call: CallContext,
    zoneId: string,
    changes: Array<{ Action: 'CREATE' | 'DELETE' | 'UPSERT'; ResourceRecordSet: RecordSetView }>,
  ): Promise<ChangeInfoView>;
  getChange(call: CallContext, id: string): Promise<ChangeInfoView>; // AwsApiError('NoSuchChange', …, 404)

  // Route 53 ARC cluster data plane (awsJson1_0, target ToggleCustomerAPI), one endpoint per region
  getRoutingControlState?(call: CallContext, arn: string): Promise<RoutingControlView>;
  updateRoutingControlStates?(call: CallContext, entries: Array<{ RoutingControlArn: string; RoutingControlState: 'On' | 'Off' }>, safetyRulesToOverride: string[]): Promise<void>;
  listRoutingControls?(call: CallContext, controlPanelArn?: string): Promise<RoutingControlView[]>;

  // ECS (awsJson1_1, target AmazonEC2ContainerServiceV20141113)
  describeServices(call: CallContext, cluster: string, services: string[]): Promise<{ services: ServiceView[]; failures: Array<{ arn: string; reason: string }> }>;
  updateService(call: CallContext, cluster: string, service: string, desiredCount: number): Promise<ServiceView>; // 'ServiceNotFoundException'

  // Application Auto Scaling (awsJson1_1, target AnyScaleFrontendService)
  describeScalableTargets?(call: CallContext, q: { ServiceNamespace: string; ResourceIds?: string[]; ScalableDimension?: string }): Promise<ScalableTargetView[]>;
  registerScalableTarget?(
    call: CallContext,
    req: { ServiceNamespace: string; ResourceId: string; ScalableDimension: string; MinCapacity?: number; MaxCapacity?: number; RoleARN?: string },
  ): Promise<{ ScalableTargetARN: string }>;

  // Step Functions (awsJson1_0, target AWSStepFunctions)
  listStateMachines?(call: CallContext): Promise<StateMachineView[]>;
  startExecution?(call: CallContext, stateMachineArn: string, input: string, name?: string): Promise<{ executionArn: string; startDate: Date }>;
  getExecutionHistory?(call: CallContext, executionArn: string): Promise<HistoryEventView[]>;
  listExecutions(call: CallContext, stateMachineArn: string, statusFilter?: string): Promise<ExecutionView[]>;
  describeExecution(call: CallContext, executionArn: string): Promise<ExecutionView>; // 'ExecutionDoesNotExist'
  sendTaskSuccess(call: CallContext, taskToken: string, output: string): Promise<void>; // 'TaskTimedOut' / 'TaskDoesNotExist' / 'InvalidToken'
  sendTaskFailure(call: CallContext, taskToken: string, error?: string, cause?: string): Promise<void>;

  // EventBridge (awsJson1_1, target AWSEvents)
  putEvents(
    call: CallContext,
    entries: Array<{ Source?: string; DetailType?: string; Detail?: string; EventBusName?: string; Resources?: string[]; Time?: Date }>,
  ): Promise<Array<{ EventId?: string; ErrorCode?: string; ErrorMessage?: string }>>;

  // DynamoDB (awsJson1_0, target DynamoDB_20120810): forwarded unchanged to a real implementation
  dynamodb(call: CallContext, request: RawJsonRequest): Promise<RawJsonResponse>;

  // SSM (awsJson1_1, target AmazonSSM)
  getParameter(call: CallContext, name: string, withDecryption: boolean): Promise<{ Name: string; Type: 'String' | 'SecureString'; Value: string; Version: number }>; // 'ParameterNotFound'

  // Lambda (restJson1): POST /2015-03-31/functions/{name}/invocations
  invoke?(call: CallContext, functionName: string, invocationType: string, payload: string): Promise<InvokeResult>; // 'ResourceNotFoundException' (404)
}
