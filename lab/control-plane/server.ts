/**
 * The simulated AWS control plane's protocol layer: an HTTP server on 127.0.0.1 that speaks the
 * real wire protocols of the services the handlers call, so that unmodified AWS clients (SDK v3,
 * the AWS CLI) pointed at it (`AWS_ENDPOINT_URL`, `--endpoint-url`) serialize requests, parse
 * responses and name errors exactly as they do against AWS. What is true is decided by the
 * `ControlPlaneBackend`; this file only translates, and enforces the request rules AWS enforces
 * whatever the state (JSON task output, execution input, event detail).
 *
 *   RDS                     awsQuery      form body `Action=…`, XML `<XResponse><XResult>…`, errors `<ErrorResponse><Error><Code>`
 *   Route 53                restXml       method + path, XML bodies (lab/control-plane/route53.ts)
 *   CloudWatch              awsJson1_0    X-Amz-Target GraniteServiceVersion20100801.* (query-compatible errors)
 *                           awsQuery      `Action=GetMetricData…`, XML in http://monitoring.amazonaws.com/doc/2010-08-01/
 *   Route 53 ARC cluster    awsJson1_0    ToggleCustomerAPI.*
 *   Step Functions          awsJson1_0    AWSStepFunctions.*
 *   DynamoDB                awsJson1_0    DynamoDB_20120810.*, forwarded unchanged to dynalite (backend.dynamodb)
 *   ECS                     awsJson1_1    AmazonEC2ContainerServiceV20141113.*
 *   Application Auto Scaling awsJson1_1   AnyScaleFrontendService.*
 *   EventBridge             awsJson1_1    AWSEvents.*
 *   SSM                     awsJson1_1    AmazonSSM.*
 *   Lambda                  restJson1     POST /2015-03-31/functions/{name}/invocations
 * JSON protocols carry timestamps as epoch seconds, XML ones as ISO-8601; both arrive at the
 * backend as `Date`s and leave it as `Date`s.
 *
 * Region and service come from the SigV4 credential scope (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`);
 * signatures are not verified. `backend.reachable()` is asked first for every request: 'refuse'
 * destroys the socket without an answer (ECONNRESET: a region that is down); 'hang' keeps the
 * accepted request unanswered until the client gives up or the server closes (a region that is
 * dying: only the client's own timeout ends the call). Both are recorded in `calls`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import {
  AwsApiError,
  type CallContext,
  type ControlPlaneBackend,
  type DbInstanceView,
  type ExecutionView,
  type HistoryEventView,
  type PutMetricDatum,
  type Reachability,
  type ServiceView,
} from '../../local/aws/backend';
import { aggregate } from './metrics';
import { route53Routes, type RestAnswer, type RestRoute } from './route53';
import { extraScalars, formToObject, jsonToXmlValue, xml, XmlList, type XmlValue } from './xml';

/** The account id in every ARN the server makes up (as LocalStack does). */
export const LAB_ACCOUNT_ID = '000000000000';

export interface ControlPlaneCall {
  region: string;
  service: string;
  operation: string;
  /** When the request arrived (epoch ms). */
  at: number;
  /** HTTP status answered; 0 when the request was never answered (see `unanswered`). */
  status: number;
  /** The error code answered, if any. */
  error?: string;
  /** Why there was no answer: the region refused the connection, or held the request. */
  unanswered?: 'refused' | 'held';
  /** For a held request: when the client closed the connection (gave up), or the server closed (epoch ms). */
  closedAt?: number;
}

export interface ControlPlane {
  /** `http://127.0.0.1:<port>`: the value for AWS_ENDPOINT_URL. */
  url: string;
  port: number;
  /** Closes the server; held requests are dropped, so this never waits on a hanging call. */
  close(): Promise<void>;
  /** Every request, in arrival order. */
  calls: ControlPlaneCall[];
}

export interface ControlPlaneOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** One line per request: `eu-west-1 rds PromoteReadReplica 200 3ms`. */
  log?: (line: string) => void;
}

type Protocol = 'query' | 'restXml' | 'restJson' | 'json1.0' | 'json1.1';

interface ServiceSpec {
  /** The protocol of requests that carry no X-Amz-Target / no JSON. */
  protocol: Protocol;
  /** X-Amz-Target prefix and JSON flavour, for services spoken in JSON. */
  target?: string;
  json?: 'json1.0' | 'json1.1';
  /** XML namespace (awsQuery services). */
  xmlns?: string;
  /** CloudWatch's JSON protocol is query-compatible: errors also carry `x-amzn-query-error`. */
  queryCompatible?: boolean;
}

/** Keyed by SigV4 signing name. */
const SERVICES: Record<string, ServiceSpec> = {
  rds: { protocol: 'query', xmlns: 'http://rds.amazonaws.com/doc/2014-10-31/' },
  route53: { protocol: 'restXml' },
  monitoring: { protocol: 'query', xmlns: 'http://monitoring.amazonaws.com/doc/2010-08-01/', json: 'json1.0', target: 'GraniteServiceVersion20100801', queryCompatible: true },
  'route53-recovery-cluster': { protocol: 'json1.0', json: 'json1.0', target: 'ToggleCustomerAPI' },
  states: { protocol: 'json1.0', json: 'json1.0', target: 'AWSStepFunctions' },
  dynamodb: { protocol: 'json1.0', json: 'json1.0', target: 'DynamoDB_20120810' },
  ecs: { protocol: 'json1.1', json: 'json1.1', target: 'AmazonEC2ContainerServiceV20141113' },
  'application-autoscaling': { protocol: 'json1.1', json: 'json1.1', target: 'AnyScaleFrontendService' },
  events: { protocol: 'json1.1', json: 'json1.1', target: 'AWSEvents' },
  ssm: { protocol: 'json1.1', json: 'json1.1', target: 'AmazonSSM' },
  lambda: { protocol: 'restJson' },
};

const MAX_BODY_BYTES = 10 * 1024 * 1024;

type Json = Record<string, unknown>;

// =============================================================================================
// Small helpers

const unknownOperation = (protocol: Protocol, what: string): AwsApiError =>
  protocol === 'query'
    ? new AwsApiError('InvalidAction', `The lab control plane does not implement ${what}`, 400)
    : new AwsApiError('UnknownOperationException', `The lab control plane does not implement ${what}`, 400);

function missing(protocol: Protocol, field: string): AwsApiError {
  if (protocol === 'query') return new AwsApiError('MissingParameter', `The request must contain the parameter ${field}`, 400);
  if (protocol === 'restXml') return new AwsApiError('InvalidInput', `The request must contain ${field}`, 400);
  return new AwsApiError('ValidationException', `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`, 400);
}

function requireString(protocol: Protocol, value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw missing(protocol, field);
  return value;
}

/** JSON protocols send timestamps as epoch seconds (number); query ones ISO strings. */
function jsonDate(value: unknown, field: string): Date {
  const d = typeof value === 'number' ? new Date(value * 1000) : typeof value === 'string' ? new Date(/^\d+(\.\d+)?$/.test(value) ? Number(value) * 1000 : value) : undefined;
  if (!d || Number.isNaN(d.getTime())) throw new AwsApiError('ValidationException', `Invalid timestamp in ${field}: ${String(value)}`, 400);
  return d;
}

/** A number from JSON (number) or from an awsQuery form (string). */
function num(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value);
  return undefined;
}

const arr = <T = unknown>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);

type OptionalOperation = {
  [K in keyof ControlPlaneBackend]-?: undefined extends ControlPlaneBackend[K] ? K : never;
}[keyof ControlPlaneBackend];

/**
 * An operation the backend may not implement, looked up when a request arrives (the lab swaps
 * backends behind one server): missing, it is answered as an operation the service does not have.
 */
function optional<K extends OptionalOperation>(backend: ControlPlaneBackend, name: K, protocol: Protocol = 'json1.1'): NonNullable<ControlPlaneBackend[K]> {
  return ((...args: unknown[]) => {
    const fn = backend[name] as ((...a: unknown[]) => unknown) | undefined;
    if (typeof fn !== 'function') throw unknownOperation(protocol, `${String(name)} (this backend does not model it)`);
    return fn.apply(backend, args);
  }) as NonNullable<ControlPlaneBackend[K]>;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function pageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset }), 'utf8').toString('base64');
}
function readPageToken(token: unknown, code = 'InvalidToken'): number {
  if (token === undefined || token === null) return 0;
  try {
    const offset = (JSON.parse(Buffer.from(String(token), 'base64').toString('utf8')) as { offset?: unknown }).offset;
    if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // fall through
  }
  throw new AwsApiError(code, `Invalid Token: '${String(token)}'`, 400);
}

/** A page of `all` by `maxResults` / `nextToken` (the awsJson services' paging). */
function paged<T>(all: T[], input: Json, max: { default: number; limit: number }, tokenError = 'InvalidToken'): { page: T[]; nextToken?: string } {
  const size = num(input.maxResults ?? input.MaxResults);
  const limit = size !== undefined && size > 0 ? Math.min(size, max.limit) : max.default;
  const offset = readPageToken(input.nextToken ?? input.NextToken, tokenError);
  return { page: all.slice(offset, offset + limit), ...(offset + limit < all.length ? { nextToken: pageToken(offset + limit) } : {}) };
}

// =============================================================================================
// RDS (awsQuery)

type QueryHandler = (ctx: CallContext, form: URLSearchParams) => Promise<XmlValue>;

function dbInstanceXml(ctx: CallContext, db: DbInstanceView): XmlValue {
  return {
    DBInstanceIdentifier: db.DBInstanceIdentifier,
    DBInstanceArn: `arn:aws:rds:${ctx.region}:${LAB_ACCOUNT_ID}:db:${db.DBInstanceIdentifier}`,
    DBInstanceStatus: db.DBInstanceStatus,
    ReadReplicaSourceDBInstanceIdentifier: db.ReadReplicaSourceDBInstanceIdentifier,
    BackupRetentionPeriod: db.BackupRetentionPeriod,
    DBParameterGroups: db.DBParameterGroups
      ? new XmlList(
          'DBParameterGroup',
          db.DBParameterGroups.map((g) => ({ DBParameterGroupName: g.DBParameterGroupName, ParameterApplyStatus: g.ParameterApplyStatus })),
        )
      : undefined,
    StatusInfos: db.StatusInfos
      ? new XmlList(
          'DBInstanceStatusInfo',
          db.StatusInfos.map((s) => ({ StatusType: s.StatusType, Normal: s.Normal, Status: s.Status, Message: s.Message })),
        )
      : undefined,
    ...extraScalars(db, ['DBInstanceIdentifier', 'DBInstanceStatus', 'ReadReplicaSourceDBInstanceIdentifier', 'StatusInfos', 'DBParameterGroups', 'BackupRetentionPeriod']),
  };
}

/** `Prefix.Member.N.Field` entries of a query form as an array of records (N from 1). */
function queryList(form: URLSearchParams, prefix: string, member: string): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  const re = new RegExp(`^${prefix}\\.(?:${member}|member)\\.(\\d+)\\.(\\w+)$`);
  for (const [k, v] of form) {
    const m = re.exec(k);
    if (!m) continue;
    const index = Number(m[1]) - 1;
    const entry = out[index] ?? {};
    out[index] = entry;
    entry[m[2]!] = v;
  }
  return out.filter((x) => x !== undefined);
}

function rdsHandlers(backend: ControlPlaneBackend): Record<string, QueryHandler> {
  const handlers: Record<string, QueryHandler> = {
    async DescribeDBInstances(ctx, form) {
      const id = form.get('DBInstanceIdentifier');
      if (!id) {
        throw new AwsApiError('InvalidParameterCombination', 'The lab control plane answers DescribeDBInstances for one DBInstanceIdentifier only (no listing, no Filters)', 400);
      }
      const db = await backend.describeDBInstances(ctx, id);
      return { DBInstances: new XmlList('DBInstance', [dbInstanceXml(ctx, db)]) };
    },
    async PromoteReadReplica(ctx, form) {
      const id = requireString('query', form.get('DBInstanceIdentifier'), 'DBInstanceIdentifier');
      const retention = form.get('BackupRetentionPeriod');
      // AWS accepts BackupRetentionPeriod here (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_PromoteReadReplica.html); it is passed on.
      const db = await backend.promoteReadReplica(ctx, id, retention === null ? undefined : Number(retention));
      return { DBInstance: dbInstanceXml(ctx, db) };
    },
    async ModifyDBParameterGroup(ctx, form) {
      const name = requireString('query', form.get('DBParameterGroupName'), 'DBParameterGroupName');
      const parameters = queryList(form, 'Parameters', 'Parameter').map((p) => ({
        ParameterName: p.ParameterName ?? '',
        ParameterValue: p.ParameterValue ?? '',
        ...(p.ApplyMethod !== undefined ? { ApplyMethod: p.ApplyMethod } : {}),
      }));
      if (parameters.length === 0) throw missing('query', 'Parameters');
      await backend.modifyDBParameterGroup(ctx, name, parameters);
      return { DBParameterGroupName: name };
    },
    async DescribeGlobalClusters() {
      // The lab has no Aurora global databases.
      return { GlobalClusters: new XmlList('GlobalClusterMember', []) };
    },
  };
  {
    const describe = optional(backend, 'describeDBParameters', 'query');
    // https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBParameters.html
    handlers.DescribeDBParameters = async (ctx, form) => {
      const name = requireString('query', form.get('DBParameterGroupName'), 'DBParameterGroupName');
      const source = form.get('Source') ?? undefined;
      if (source !== undefined && !['user', 'system', 'engine-default'].includes(source)) {
        throw new AwsApiError('InvalidParameterValue', `Invalid value ${source} for Source: use user, system or engine-default`, 400);
      }
      const params = await describe(ctx, name, source);
      return {
        Parameters: new XmlList(
          'Parameter',
          params.map((p) => ({ ...p }) as XmlValue),
        ),
      };
    };
  }
  return handlers;
}

// =============================================================================================
// JSON services (awsJson1_0 / awsJson1_1); CloudWatch's handlers also serve its awsQuery protocol

type JsonHandler = (ctx: CallContext, input: Json, protocol: Protocol) => Promise<Json | undefined>;

function serviceJson(ctx: CallContext, cluster: string, s: ServiceView): Json {
  const clusterName = (s.clusterArn ?? cluster).split('/').pop()!;
  const extra = s as ServiceView & { serviceArn?: string; launchType?: string };
  return {
    ...s,
    serviceArn: extra.serviceArn ?? `arn:aws:ecs:${ctx.region}:${LAB_ACCOUNT_ID}:service/${clusterName}/${s.serviceName}`,
    clusterArn: s.clusterArn ?? `arn:aws:ecs:${ctx.region}:${LAB_ACCOUNT_ID}:cluster/${clusterName}`,
    launchType: extra.launchType ?? 'FARGATE',
  };
}

function executionListItem(e: ExecutionView): Json {
  return { executionArn: e.executionArn, stateMachineArn: e.stateMachineArn, name: e.name, status: e.status, startDate: e.startDate, stopDate: e.stopDate };
}

function dimensionsOf(value: unknown): Record<string, string> {
  return Object.fromEntries(arr<Json>(value).map((d) => [String(d.Name), String(d.Value)]));
}

function cloudwatchHandlers(backend: ControlPlaneBackend): Record<string, JsonHandler> {
  const handlers: Record<string, JsonHandler> = {
    async DescribeAlarms(ctx, input) {
      const names = arr<string>(input.AlarmNames);
      const types = input.AlarmTypes === undefined ? ['MetricAlarm'] : arr<string>(input.AlarmTypes);
      const found = await backend.describeAlarms(ctx, names);
      const out = (type: string) =>
        found
          .filter((a) => (a.AlarmType ?? 'MetricAlarm') === type)
          .map(({ AlarmType: _type, ...a }) => ({ AlarmArn: `arn:aws:cloudwatch:${ctx.region}:${LAB_ACCOUNT_ID}:alarm:${a.AlarmName}`, ...a }));
      return {
        ...(types.includes('MetricAlarm') ? { MetricAlarms: out('MetricAlarm') } : {}),
        ...(types.includes('CompositeAlarm') ? { CompositeAlarms: out('CompositeAlarm') } : {}),
      };
    },
    /** https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html */
    async GetMetricData(ctx, input, protocol) {
      const start = jsonDate(input.StartTime, 'StartTime');
      const end = jsonDate(input.EndTime, 'EndTime');
      if (end <= start) throw new AwsApiError('InvalidParameterValue', 'The parameter StartTime must be less than the parameter EndTime.', 400);
      const ascending = input.ScanBy === 'TimestampAscending';
      const queries = arr<Json>(input.MetricDataQueries);
      if (queries.length === 0) throw missing(protocol, 'MetricDataQueries');
      const results: Json[] = [];
      for (const q of queries) {
        const stat = q.MetricStat as Json | undefined;
        if (!stat) {
          throw new AwsApiError(
            'InvalidParameterValue',
            `The lab control plane answers GetMetricData MetricStat queries only (query ${String(q.Id)} has no MetricStat; metric math is not supported)`,
            400,
          );
        }
        const metric = (stat.Metric ?? {}) as Json;
        const period = num(stat.Period);
        if (period === undefined) throw missing(protocol, `MetricDataQueries.member.${String(q.Id)}.MetricStat.Period`);
        const statistic = requireString(protocol, stat.Stat, 'MetricStat.Stat');
        const data = await backend.getMetricData(ctx, {
          namespace: requireString(protocol, metric.Namespace, 'Namespace'),
          name: requireString(protocol, metric.MetricName, 'MetricName'),
          dimensions: dimensionsOf(metric.Dimensions),
          start,
          end,
        });
        const { timestamps, values } = aggregate(data, { start, end, period, stat: statistic, unit: typeof stat.Unit === 'string' ? stat.Unit : undefined, ascending });
        if (q.ReturnData === false || q.ReturnData === 'false') continue;
        results.push({ Id: q.Id, Label: q.Label ?? metric.MetricName, Timestamps: timestamps, Values: values, StatusCode: 'Complete' });
      }
      return { MetricDataResults: results, Messages: [] };
    },
  };
  {
    const put = optional(backend, 'putMetricData');
    /** https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html */
    handlers.PutMetricData = async (ctx, input, protocol) => {
      const namespace = requireString(protocol, input.Namespace, 'Namespace');
      if (namespace.startsWith('AWS/'))
        throw new AwsApiError('InvalidParameterValue', `The value ${namespace} for parameter Namespace is invalid: the AWS/ namespaces are reserved for AWS services.`, 400);
      const data = arr<Json>(input.MetricData);
      if (data.length < 1 || data.length > 1000) throw new AwsApiError('InvalidParameterValue', `MetricData must hold between 1 and 1000 datums (got ${data.length}).`, 400);
      const datums: PutMetricDatum[] = data.map((d) => {
        const value = num(d.Value);
        const values = d.Values === undefined ? undefined : arr(d.Values).map((v) => num(v) ?? NaN);
        if (value !== undefined && values !== undefined)
          throw new AwsApiError('InvalidParameterCombination', 'The parameters MetricData.member.N.Value and MetricData.member.N.Values are mutually exclusive.', 400);
        const s = d.StatisticValues as Json | undefined;
        const statistics = s ? { Sum: num(s.Sum) ?? 0, SampleCount: num(s.SampleCount) ?? 0, Minimum: num(s.Minimum) ?? 0, Maximum: num(s.Maximum) ?? 0 } : undefined;
        if (value === undefined && values === undefined && !statistics) throw new AwsApiError('MissingParameter', 'A datum needs Value, Values or StatisticValues.', 400);
        return {
          MetricName: requireString(protocol, d.MetricName, 'MetricData.member.N.MetricName'),
          Dimensions: dimensionsOf(d.Dimensions),
          ...(d.Timestamp !== undefined ? { Timestamp: jsonDate(d.Timestamp, 'Timestamp') } : {}),
          ...(value !== undefined ? { Value: value } : {}),
          ...(values !== undefined ? { Values: values, ...(d.Counts !== undefined ? { Counts: arr(d.Counts).map((c) => num(c) ?? 1) } : {}) } : {}),
          ...(statistics ? { StatisticValues: statistics } : {}),
          ...(typeof d.Unit === 'string' ? { Unit: d.Unit } : {}),
          ...(num(d.StorageResolution) !== undefined ? { StorageResolution: num(d.StorageResolution) } : {}),
        };
      });
      await put(ctx, namespace, datums);
      return undefined;
    };
  }
  return handlers;
}

/** ARC's ValidationException carries a reason and the failing fields (route53-recovery-cluster model). */
function arcValidation(message: string, field: string): AwsApiError {
  return new AwsApiError('ValidationException', message, 400, { reason: 'fieldValidationFailed', fields: [{ name: field, message }] });
}

/** https://docs.aws.amazon.com/routing-control/latest/APIReference/API_UpdateRoutingControlStates.html */
function arcHandlers(backend: ControlPlaneBackend): Record<string, JsonHandler> {
  const arnOf = (value: unknown, field: string): string => {
    if (typeof value !== 'string' || value.length < 1 || value.length > 255 || !/^[A-Za-z0-9:./_-]*$/.test(value)) {
      throw arcValidation(
        `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[A-Za-z0-9:.\\/_-]*$`,
        field,
      );
    }
    return value;
  };
  const stateOf = (value: unknown, field: string): 'On' | 'Off' => {
    if (value !== 'On' && value !== 'Off')
      throw arcValidation(`1 validation error detected: Value '${String(value)}' at '${field}' failed to satisfy constraint: Member must satisfy enum value set: [On, Off]`, field);
    return value;
  };
  const overrides = (input: Json): string[] => arr<unknown>(input.SafetyRulesToOverride).map((a, i) => arnOf(a, `safetyRulesToOverride.${i + 1}.member`));
  const handlers: Record<string, JsonHandler> = {};
  {
    const get = optional(backend, 'getRoutingControlState');
    handlers.GetRoutingControlState = async (ctx, input) => {
      const c = await get(ctx, arnOf(input.RoutingControlArn, 'routingControlArn'));
      return { RoutingControlArn: c.RoutingControlArn, RoutingControlState: c.RoutingControlState, RoutingControlName: c.RoutingControlName };
    };
  }
  {
    const update = optional(backend, 'updateRoutingControlStates');
    handlers.UpdateRoutingControlState = async (ctx, input) => {
      await update(
        ctx,
        [{ RoutingControlArn: arnOf(input.RoutingControlArn, 'routingControlArn'), RoutingControlState: stateOf(input.RoutingControlState, 'routingControlState') }],
        overrides(input),
      );
      return {};
    };
    handlers.UpdateRoutingControlStates = async (ctx, input) => {
      const entries = arr<Json>(input.UpdateRoutingControlStateEntries);
      if (entries.length === 0)
        throw arcValidation(
          "1 validation error detected: Value null at 'updateRoutingControlStateEntries' failed to satisfy constraint: Member must not be null",
          'updateRoutingControlStateEntries',
        );
      await update(
        ctx,
        entries.map((e, i) => ({
          RoutingControlArn: arnOf(e.RoutingControlArn, `updateRoutingControlStateEntries.${i + 1}.member.routingControlArn`),
          RoutingControlState: stateOf(e.RoutingControlState, `updateRoutingControlStateEntries.${i + 1}.member.routingControlState`),
        })),
        overrides(input),
      );
      return {};
    };
  }
  {
    const list = optional(backend, 'listRoutingControls');
    handlers.ListRoutingControls = async (ctx, input) => {
      const all = await list(ctx, input.ControlPanelArn === undefined ? undefined : arnOf(input.ControlPanelArn, 'controlPanelArn'));
      const { page, nextToken } = paged(all, input, { default: 500, limit: 500 }, 'ValidationException');
      return { RoutingControls: page, ...(nextToken ? { NextToken: nextToken } : {}) };
    };
  }
  return handlers;
}

const AAS_NAMESPACES = [
  'ecs',
  'elasticmapreduce',
  'ec2',
  'appstream',
  'dynamodb',
  'rds',
  'sagemaker',
  'custom-resource',
  'comprehend',
  'lambda',
  'cassandra',
  'kafka',
  'elasticache',
  'neptune',
  'workspaces',
];

/** https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html */
function autoScalingHandlers(backend: ControlPlaneBackend): Record<string, JsonHandler> {
  const namespaceOf = (value: unknown): string => {
    if (typeof value !== 'string') throw missing('json1.1', 'serviceNamespace');
    if (!AAS_NAMESPACES.includes(value))
      throw new AwsApiError(
        'ValidationException',
        `1 validation error detected: Value '${value}' at 'serviceNamespace' failed to satisfy constraint: Member must satisfy enum value set: [${AAS_NAMESPACES.join(', ')}]`,
        400,
      );
    return value;
  };
  const handlers: Record<string, JsonHandler> = {};
  {
    const describe = optional(backend, 'describeScalableTargets');
    handlers.DescribeScalableTargets = async (ctx, input) => {
      const all = await describe(ctx, {
        ServiceNamespace: namespaceOf(input.ServiceNamespace),
        ...(input.ResourceIds !== undefined ? { ResourceIds: arr<string>(input.ResourceIds) } : {}),
        ...(typeof input.ScalableDimension === 'string' ? { ScalableDimension: input.ScalableDimension } : {}),
      });
      const { page, nextToken } = paged(all, input, { default: 50, limit: 50 }, 'InvalidNextTokenException');
      return { ScalableTargets: page, ...(nextToken ? { NextToken: nextToken } : {}) };
    };
  }
  {
    const register = optional(backend, 'registerScalableTarget');
    handlers.RegisterScalableTarget = async (ctx, input) => {
      const min = num(input.MinCapacity);
      const max = num(input.MaxCapacity);
      if (min !== undefined && max !== undefined && min > max)
        throw new AwsApiError('ValidationException', `Minimum capacity cannot be greater than maximum capacity (MinCapacity ${min}, MaxCapacity ${max})`, 400);
      if ((min !== undefined && min < 0) || (max !== undefined && max < 0)) throw new AwsApiError('ValidationException', 'MinCapacity and MaxCapacity must not be negative', 400);
      return register(ctx, {
        ServiceNamespace: namespaceOf(input.ServiceNamespace),
        ResourceId: requireString('json1.1', input.ResourceId, 'resourceId'),
        ScalableDimension: requireString('json1.1', input.ScalableDimension, 'scalableDimension'),
        ...(min !== undefined ? { MinCapacity: min } : {}),
        ...(max !== undefined ? { MaxCapacity: max } : {}),
        ...(typeof input.RoleARN === 'string' ? { RoleARN: input.RoleARN } : {}),
      });
    };
  }
  return handlers;
}

/** Step Functions: executions, task tokens (SendTask*), and what the operator CLI needs to drive the lab. */
function stepFunctionsHandlers(backend: ControlPlaneBackend): Record<string, JsonHandler> {
  const handlers: Record<string, JsonHandler> = {
    async ListExecutions(ctx, input) {
      const arn = requireString('json1.0', input.stateMachineArn, 'stateMachineArn');
      const all = await backend.listExecutions(ctx, arn, typeof input.statusFilter === 'string' ? input.statusFilter : undefined);
      const { page, nextToken } = paged(all, input, { default: 100, limit: 1000 });
      return { executions: page.map(executionListItem), ...(nextToken ? { nextToken } : {}) };
    },
    async DescribeExecution(ctx, input) {
      const e = await backend.describeExecution(ctx, requireString('json1.0', input.executionArn, 'executionArn'));
      return {
        ...e,
        ...(e.input !== undefined ? { inputDetails: { included: true } } : {}),
        ...(e.output !== undefined ? { outputDetails: { included: true } } : {}),
      };
    },
    /** https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html: output must be JSON (InvalidOutput). */
    async SendTaskSuccess(ctx, input) {
      const token = requireString('json1.0', input.taskToken, 'taskToken');
      if (typeof input.output !== 'string') throw missing('json1.0', 'output');
      if (!isJson(input.output)) throw new AwsApiError('InvalidOutput', `Invalid Output: '${input.output.slice(0, 100)}'`, 400);
      await backend.sendTaskSuccess(ctx, token, input.output);
      return {};
    },
    async SendTaskFailure(ctx, input) {
      await backend.sendTaskFailure(
        ctx,
        requireString('json1.0', input.taskToken, 'taskToken'),
        typeof input.error === 'string' ? input.error : undefined,
        typeof input.cause === 'string' ? input.cause : undefined,
      );
      return {};
    },
  };
  {
    const list = optional(backend, 'listStateMachines');
    /** https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListStateMachines.html */
    handlers.ListStateMachines = async (ctx, input) => {
      const { page, nextToken } = paged(await list(ctx), input, { default: 100, limit: 1000 });
      return { stateMachines: page, ...(nextToken ? { nextToken } : {}) };
    };
  }
  {
    const start = optional(backend, 'startExecution');
    /** https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html: input must be JSON (InvalidExecutionInput). */
    handlers.StartExecution = async (ctx, input) => {
      const arn = requireString('json1.0', input.stateMachineArn, 'stateMachineArn');
      const body = input.input === undefined ? '{}' : input.input;
      if (typeof body !== 'string' || !isJson(body)) throw new AwsApiError('InvalidExecutionInput', `Invalid State Machine Execution Input: '${String(body).slice(0, 100)}'`, 400);
      if (input.name !== undefined && (typeof input.name !== 'string' || !/^[A-Za-z0-9_-]{1,80}$/.test(input.name)))
        throw new AwsApiError('InvalidName', `Invalid Name: '${String(input.name)}'`, 400);
      return start(ctx, arn, body, typeof input.name === 'string' ? input.name : undefined);
    };
  }
  {
    const history = optional(backend, 'getExecutionHistory');
    /** https://docs.aws.amazon.com/step-functions/latest/apireference/API_GetExecutionHistory.html */
    handlers.GetExecutionHistory = async (ctx, input) => {
      let events: HistoryEventView[] = await history(ctx, requireString('json1.0', input.executionArn, 'executionArn'));
      if (input.reverseOrder === true) events = [...events].reverse();
      if (input.includeExecutionData === false) events = events.map(withoutExecutionData);
      const { page, nextToken } = paged(events, input, { default: 100, limit: 1000 });
      return { events: page, ...(nextToken ? { nextToken } : {}) };
    };
  }
  return handlers;
}

/** includeExecutionData=false: the events without their input / output. */
function withoutExecutionData(e: HistoryEventView): HistoryEventView {
  const out: HistoryEventView = { ...e };
  for (const [k, v] of Object.entries(e)) {
    if (v && typeof v === 'object' && !(v instanceof Date) && k.endsWith('Details')) {
      const { input: _i, output: _o, ...rest } = v as Record<string, unknown>;
      out[k] = rest;
    }
  }
  return out;
}

/** https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html */
function eventBridgeHandlers(backend: ControlPlaneBackend): Record<string, JsonHandler> {
  return {
    async PutEvents(ctx, input) {
      const entries = arr<Json>(input.Entries);
      if (entries.length < 1 || entries.length > 10) {
        throw new AwsApiError(
          'ValidationException',
          `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10 (got ${entries.length})`,
          400,
        );
      }
      // Entries are checked one by one: a bad one fails alone (FailedEntryCount), the others go on.
      const results: Array<{ EventId?: string; ErrorCode?: string; ErrorMessage?: string } | undefined> = entries.map((e) => {
        for (const field of ['Source', 'DetailType', 'Detail'] as const) {
          if (typeof e[field] !== 'string' || e[field] === '')
            return { ErrorCode: 'InvalidArgument', ErrorMessage: `Parameter ${field} is not valid. Reason: ${field} is a required argument.` };
        }
        let detail: unknown;
        try {
          detail = JSON.parse(e.Detail as string);
        } catch {
          return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
        }
        if (!detail || typeof detail !== 'object' || Array.isArray(detail)) return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
        return undefined;
      });
      const accepted = entries
        .map((e, i) => ({ e, i }))
        .filter(({ i }) => results[i] === undefined)
        .map(({ e }) => ({
          ...(typeof e.Source === 'string' ? { Source: e.Source } : {}),
          ...(typeof e.DetailType === 'string' ? { DetailType: e.DetailType } : {}),
          ...(typeof e.Detail === 'string' ? { Detail: e.Detail } : {}),
          ...(typeof e.EventBusName === 'string' ? { EventBusName: e.EventBusName } : {}),
          ...(Array.isArray(e.Resources) ? { Resources: e.Resources.map(String) } : {}),
          ...(e.Time !== undefined ? { Time: jsonDate(e.Time, 'Time') } : {}),
        }));
      const answered = accepted.length > 0 ? await backend.putEvents(ctx, accepted) : [];
      let next = 0;
      const out = results.map((r) => r ?? answered[next++] ?? { ErrorCode: 'InternalFailure', ErrorMessage: 'no result' });
      return { FailedEntryCount: out.filter((r) => r.ErrorCode !== undefined).length, Entries: out };
    },
  };
}

function jsonHandlers(backend: ControlPlaneBackend): Record<string, Record<string, JsonHandler>> {
  return {
    monitoring: cloudwatchHandlers(backend),
    'route53-recovery-cluster': arcHandlers(backend),
    'application-autoscaling': autoScalingHandlers(backend),
    states: stepFunctionsHandlers(backend),
    events: eventBridgeHandlers(backend),
    ecs: {
      async DescribeServices(ctx, input) {
        const cluster = typeof input.cluster === 'string' ? input.cluster : 'default';
        const names = arr<string>(input.services);
        if (names.length === 0) throw new AwsApiError('InvalidParameterException', 'Services cannot be empty.', 400);
        const out = await backend.describeServices(ctx, cluster, names);
        return { services: out.services.map((s) => serviceJson(ctx, cluster, s)), failures: out.failures };
      },
      async UpdateService(ctx, input) {
        const cluster = typeof input.cluster === 'string' ? input.cluster : 'default';
        const service = requireString('json1.1', input.service, 'service');
        if (typeof input.desiredCount !== 'number') {
          throw new AwsApiError('InvalidParameterException', 'The lab control plane implements UpdateService for desiredCount only', 400);
        }
        return { service: serviceJson(ctx, cluster, await backend.updateService(ctx, cluster, service, input.desiredCount)) };
      },
    },
    ssm: {
      /** https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html */
      async GetParameter(ctx, input) {
        const name = requireString('json1.1', input.Name, 'name');
        const p = await backend.getParameter(ctx, name, input.WithDecryption === true);
        return {
          Parameter: {
            ARN: `arn:aws:ssm:${ctx.region}:${LAB_ACCOUNT_ID}:parameter${p.Name.startsWith('/') ? '' : '/'}${p.Name}`,
            DataType: 'text',
            ...p,
          },
        };
      },
    },
  };
}

/** JSON with Dates as epoch seconds, as the awsJson / restJson protocols carry timestamps. */
function toJson(value: unknown): string {
  return JSON.stringify(value, function replacer(this: Record<string, unknown>, key: string, v: unknown) {
    const raw = this[key];
    return raw instanceof Date ? raw.getTime() / 1000 : v;
  });
}

// =============================================================================================
// Lambda (restJson1)

/** https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html */
function lambdaRoutes(backend: ControlPlaneBackend): RestRoute[] {
  const invoke = optional(backend, 'invoke');
  return [
    {
      service: 'lambda',
      operation: 'Invoke',
      method: 'POST',
      path: /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?$/,
      async handler(ctx, req, [fn]) {
        const type = req.headers['x-amz-invocation-type'] ?? 'RequestResponse';
        if (!['RequestResponse', 'Event', 'DryRun'].includes(type)) throw new AwsApiError('InvalidParameterValueException', `Invalid InvocationType: ${type}`, 400);
        const payload = req.body === '' ? '{}' : req.body;
        if (!isJson(payload)) throw new AwsApiError('InvalidRequestContentException', 'Could not parse request body into json: Could not parse payload into json', 400);
        // FunctionName may be a name, an ARN or a partial ARN; a qualifier may follow the name.
        const name = decodeURIComponent(fn!).split(':function:').pop()!.split(':')[0]!;
        const result = await invoke(ctx, name, type, payload);
        const headers: Record<string, string> = { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST' };
        if (result.functionError) headers['x-amz-function-error'] = result.functionError;
        return { status: result.status, headers, body: result.payload ?? '' };
      },
    },
  ];
}

// =============================================================================================
// The server

/** Region and signing service from `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, …`. */
export function parseCredentialScope(authorization: string | undefined): { region: string; service: string } | undefined {
  const m = /Credential=[^/,\s]+\/\d{8}\/([^/,\s]+)\/([^/,\s]+)\/aws4_request/.exec(authorization ?? '');
  return m ? { region: m[1]!, service: m[2]! } : undefined;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
  error?: string;
}

function errorAnswer(protocol: Protocol, spec: ServiceSpec | undefined, error: AwsApiError, requestId: string): Answer {
  const extra = error.fields ?? {};
  const type = error.status >= 500 ? 'Receiver' : 'Sender';
  if (protocol === 'query' || protocol === 'restXml') {
    const scalarExtras = Object.fromEntries(Object.entries(extra).filter(([, v]) => v === null || typeof v !== 'object')) as Record<string, XmlValue>;
    const ns = protocol === 'query' && spec?.xmlns ? ` xmlns="${spec.xmlns}"` : protocol === 'restXml' ? ' xmlns="https://route53.amazonaws.com/doc/2013-04-01/"' : '';
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse${ns}>${xml('Error', { Type: type, Code: error.code, Message: error.message, ...scalarExtras })}${xml('RequestId', requestId)}</ErrorResponse>`;
    return { status: error.status, headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }, body, error: error.code };
  }
  if (protocol === 'restJson') {
    return {
      status: error.status,
      headers: { 'content-type': 'application/json', 'x-amzn-requestid': requestId, 'x-amzn-errortype': error.code },
      body: toJson({ Type: error.status >= 500 ? 'Service' : 'User', Message: error.message, ...extra }),
      error: error.code,
    };
  }
  const headers: Record<string, string> = {
    'content-type': `application/x-amz-json-${protocol === 'json1.0' ? '1.0' : '1.1'}`,
    'x-amzn-requestid': requestId,
    'x-amzn-errortype': error.code,
  };
  if (spec?.queryCompatible) headers['x-amzn-query-error'] = `${error.code};${type}`;
  return { status: error.status, headers, body: toJson({ __type: error.code, message: error.message, ...extra }), error: error.code };
}

const readBody = (req: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new AwsApiError('RequestEntityTooLarge', `request body over ${MAX_BODY_BYTES} bytes`, 413));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

/** The modelled error code of a JSON error body (`com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException` → the last part). */
function jsonErrorCode(body: string): string | undefined {
  try {
    const type = (JSON.parse(body) as { __type?: unknown }).__type;
    return typeof type === 'string' ? type.split('#').pop() : undefined;
  } catch {
    return undefined;
  }
}

function headersOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') out[k] = v;
  return out;
}

/**
 * Starts the control plane on 127.0.0.1 (a free port unless `options.port` is given). Point
 * clients at `url` (AWS_ENDPOINT_URL, --endpoint-url) with any credentials; the region comes from
 * the client's signature.
 */
export async function startControlPlane(backend: ControlPlaneBackend, options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const calls: ControlPlaneCall[] = [];
  const query = rdsHandlers(backend);
  const rest = [...route53Routes(backend), ...lambdaRoutes(backend)];
  const json = jsonHandlers(backend);
  const cloudwatch = json.monitoring!;
  const sockets = new Set<Socket>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const requestId = randomUUID();
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const scope = parseCredentialScope(req.headers.authorization);
    const target = typeof req.headers['x-amz-target'] === 'string' ? req.headers['x-amz-target'] : undefined;
    const spec = scope && Object.hasOwn(SERVICES, scope.service) ? SERVICES[scope.service] : undefined;
    // A request with X-Amz-Target is JSON; otherwise the service's own protocol (awsQuery for CloudWatch's query clients).
    const protocol: Protocol = target && spec?.json ? spec.json : (spec?.protocol ?? (target ? 'json1.1' : 'query'));

    const record = (ctx: CallContext, status: number, extra: Partial<ControlPlaneCall> = {}): ControlPlaneCall => {
      const call: ControlPlaneCall = { region: ctx.region, service: ctx.service, operation: ctx.operation, at, status, ...extra };
      calls.push(call);
      return call;
    };
    const send = (ctx: CallContext, answer: Answer): void => {
      record(ctx, answer.status, answer.error ? { error: answer.error } : {});
      options.log?.(`${ctx.region} ${ctx.service} ${ctx.operation} ${answer.status}${answer.error ? ` ${answer.error}` : ''} ${Date.now() - at}ms`);
      res.writeHead(answer.status, { ...answer.headers, 'content-length': String(Buffer.byteLength(answer.body)) });
      res.end(answer.body);
    };

    let body: string;
    try {
      body = (await readBody(req)).toString('utf8');
    } catch (error) {
      const e = error instanceof AwsApiError ? error : new AwsApiError('InternalFailure', String(error), 500);
      send({ region: scope?.region ?? '?', service: scope?.service ?? '?', operation: '?' }, errorAnswer(protocol, spec, e, requestId));
      return;
    }

    if (!scope) {
      const ctx = { region: '?', service: '?', operation: target ?? `${method} ${url.pathname}` };
      send(
        ctx,
        errorAnswer(protocol, spec, new AwsApiError('MissingAuthenticationToken', 'Request is missing Authentication Token (no SigV4 Authorization header)', 403), requestId),
      );
      return;
    }

    // Which operation: X-Amz-Target (JSON), Action= (awsQuery), method + path (REST).
    let operation: string;
    let form: URLSearchParams | undefined;
    let route: { route: RestRoute; params: string[] } | undefined;
    let known = false;
    if (protocol === 'query') {
      form = new URLSearchParams(method === 'GET' ? url.search : body);
      operation = form.get('Action') ?? '(no Action)';
      known = (scope.service === 'rds' && Object.hasOwn(query, operation)) || (scope.service === 'monitoring' && Object.hasOwn(cloudwatch, operation));
    } else if (protocol === 'restXml' || protocol === 'restJson') {
      for (const r of rest) {
        const m = r.service === scope.service && r.method === method ? r.path.exec(url.pathname) : null;
        if (m) {
          route = { route: r, params: m.slice(1).map((p) => decodeURIComponent(p)) };
          break;
        }
      }
      operation = route?.route.operation ?? `${method} ${url.pathname}`;
      known = !!route;
    } else {
      const [prefix, op] = (target ?? '').split('.');
      operation = op ?? target ?? '(no X-Amz-Target)';
      const isDynamo = scope.service === 'dynamodb' && prefix === spec?.target && !!op;
      known = isDynamo || (!!spec && prefix === spec.target && !!op && Object.hasOwn(json, scope.service) && Object.hasOwn(json[scope.service]!, op));
      if (!known && target) operation = target;
    }
    const ctx: CallContext = { region: scope.region, service: scope.service, operation };

    let reach: Reachability;
    try {
      reach = backend.reachable(ctx);
    } catch (error) {
      send(ctx, errorAnswer(protocol, spec, new AwsApiError('InternalFailure', `reachable() threw: ${String(error)}`, 500), requestId));
      return;
    }
    if (reach === 'refuse') {
      record(ctx, 0, { unanswered: 'refused' });
      options.log?.(`${ctx.region} ${ctx.service} ${ctx.operation} refused (region down)`);
      req.socket.destroy();
      return;
    }
    if (reach === 'hang') {
      // Accepted and never answered; the record says when the client (or the server's close) ended it.
      const held = record(ctx, 0, { unanswered: 'held' });
      options.log?.(`${ctx.region} ${ctx.service} ${ctx.operation} held (region blackholed)`);
      req.socket.once('close', () => {
        held.closedAt = Date.now();
      });
      return;
    }

    try {
      if (!known) throw unknownOperation(protocol, `${scope.service} ${operation}`);
      let answer: Answer;
      if (protocol === 'query') {
        const xmlns = spec!.xmlns!;
        let result: XmlValue;
        if (scope.service === 'monitoring') {
          const out = await cloudwatch[operation]!(ctx, formToObject(form!), protocol);
          result = out === undefined ? undefined : jsonToXmlValue(out);
        } else {
          result = (await query[operation]!(ctx, form!)) ?? {};
        }
        answer = {
          status: 200,
          headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
          body: `<?xml version="1.0" encoding="UTF-8"?>\n<${operation}Response xmlns="${xmlns}">${result === undefined ? '' : xml(`${operation}Result`, result)}${xml('ResponseMetadata', { RequestId: requestId })}</${operation}Response>`,
        };
      } else if (protocol === 'restXml' || protocol === 'restJson') {
        const out: RestAnswer = await route!.route.handler(ctx, { method, path: url.pathname, query: url.searchParams, body, headers: headersOf(req) }, route!.params);
        answer = { status: out.status, headers: { ...(out.headers ?? {}), 'x-amzn-requestid': requestId }, body: out.body };
      } else if (scope.service === 'dynamodb') {
        const out = await backend.dynamodb(ctx, { target: target!, body, headers: headersOf(req) });
        answer = { ...out, ...(out.status >= 400 ? { error: jsonErrorCode(out.body) ?? 'UnknownError' } : {}) };
      } else {
        let input: Json;
        try {
          const parsed: unknown = body.trim() === '' ? {} : JSON.parse(body);
          if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
          input = parsed as Json;
        } catch {
          throw new AwsApiError('SerializationException', 'Could not parse the JSON request body', 400);
        }
        const out = await json[scope.service]![operation]!(ctx, input, protocol);
        answer = {
          status: 200,
          headers: { 'content-type': `application/x-amz-json-${protocol === 'json1.0' ? '1.0' : '1.1'}`, 'x-amzn-requestid': requestId },
          body: toJson(out ?? {}),
        };
      }
      send(ctx, answer);
    } catch (error) {
      const e =
        error instanceof AwsApiError
          ? error
          : new AwsApiError('InternalFailure', `The lab control plane failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`, 500);
      if (!(error instanceof AwsApiError))
        options.log?.(`${ctx.region} ${ctx.service} ${ctx.operation} backend threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      send(ctx, errorAnswer(protocol, spec, e, requestId));
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.log?.(`control plane: unhandled ${String(error)}`);
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    calls,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Held (blackholed) requests and idle keep-alive sockets would otherwise keep close() waiting.
        for (const s of sockets) s.destroy();
      }),
  };
}
