/**
 * The simulated AWS control plane's protocol layer: an HTTP server on 127.0.0.1 that speaks the
 * real wire protocols of the services the handlers call, so that unmodified SDK v3 clients pointed
 * at it (`AWS_ENDPOINT_URL`, or `endpoint` in a client's config) serialize requests, parse
 * responses and name errors exactly as they do against AWS. What is true is decided by the
 * `ControlPlaneBackend`; this file only translates.
 *
 *   RDS          awsQuery      form body `Action=…`, XML `<XResponse><XResult>…`, errors `<ErrorResponse><Error><Code>`
 *   Route 53     restXml       method + path, XML bodies, errors `<ErrorResponse><Error><Code>`
 *   CloudWatch   awsJson1_0    X-Amz-Target GraniteServiceVersion20100801.* (query-compatible errors)
 *   Step Fns     awsJson1_0    AWSStepFunctions.*
 *   DynamoDB     awsJson1_0    DynamoDB_20120810.*
 *   ECS          awsJson1_1    AmazonEC2ContainerServiceV20141113.*
 *   EventBridge  awsJson1_1    AWSEvents.*
 *   SSM          awsJson1_1    AmazonSSM.*
 * JSON protocols carry timestamps as epoch seconds, XML ones as ISO-8601; both arrive at the
 * backend as `Date`s and leave it as `Date`s.
 *
 * Region and service come from the SigV4 credential scope (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`);
 * signatures are not verified. `backend.reachable()` is asked first for every request; when it
 * says no, the socket is destroyed without an answer, which the SDK reports as a network error
 * (ECONNRESET / socket hang up), as it does for a region that is down.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { AwsApiError, type CallContext, type ControlPlaneBackend, type DbInstanceView, type ExecutionView, type RecordSetView, type ServiceView } from './backend';

/** The account id in every ARN the server makes up (as LocalStack does). */
export const LAB_ACCOUNT_ID = '000000000000';

export interface ControlPlaneCall {
  region: string;
  service: string;
  operation: string;
  /** When the request arrived (epoch ms). */
  at: number;
  /** HTTP status answered; 0 when the socket was dropped because the backend said unreachable. */
  status: number;
  /** The error code answered, if any. */
  error?: string;
}

export interface ControlPlane {
  /** `http://127.0.0.1:<port>`: the value for AWS_ENDPOINT_URL. */
  url: string;
  port: number;
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

type Protocol = 'query' | 'restXml' | 'json1.0' | 'json1.1';

interface ServiceSpec {
  protocol: Protocol;
  /** X-Amz-Target prefix (JSON protocols). */
  target?: string;
  /** XML namespace (XML protocols). */
  xmlns?: string;
  /** CloudWatch's JSON protocol is query-compatible: errors also carry `x-amzn-query-error`. */
  queryCompatible?: boolean;
}

/** Keyed by SigV4 signing name. */
const SERVICES: Record<string, ServiceSpec> = {
  rds: { protocol: 'query', xmlns: 'http://rds.amazonaws.com/doc/2014-10-31/' },
  route53: { protocol: 'restXml', xmlns: 'https://route53.amazonaws.com/doc/2013-04-01/' },
  monitoring: { protocol: 'json1.0', target: 'GraniteServiceVersion20100801', queryCompatible: true },
  states: { protocol: 'json1.0', target: 'AWSStepFunctions' },
  dynamodb: { protocol: 'json1.0', target: 'DynamoDB_20120810' },
  ecs: { protocol: 'json1.1', target: 'AmazonEC2ContainerServiceV20141113' },
  events: { protocol: 'json1.1', target: 'AWSEvents' },
  ssm: { protocol: 'json1.1', target: 'AmazonSSM' },
};

const MAX_BODY_BYTES = 10 * 1024 * 1024;

// =============================================================================================
// XML: a small builder for responses and a small parser for Route 53 request bodies

const escapeXml = (s: string): string =>
  s.replace(/[&<>"'\r]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\r': '&#x0D;' })[c]!);

/** A list with its member element name (`<DBInstances><DBInstance>…</DBInstance></DBInstances>`). */
class XmlList {
  constructor(
    readonly member: string,
    readonly items: XmlValue[],
  ) {}
}
type XmlValue = string | number | boolean | Date | null | undefined | XmlList | { [key: string]: XmlValue };

function xml(name: string, value: XmlValue): string {
  if (value === undefined || value === null) return '';
  if (value instanceof XmlList) return `<${name}>${value.items.map((v) => xml(value.member, v)).join('')}</${name}>`;
  if (value instanceof Date) return `<${name}>${value.toISOString()}</${name}>`;
  if (typeof value === 'object') {
    return `<${name}>${Object.entries(value)
      .map(([k, v]) => xml(k, v))
      .join('')}</${name}>`;
  }
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

interface XmlNode {
  name: string;
  children: XmlNode[];
  text: string;
}

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e]!;
  });
}

/** Enough XML for what the SDK sends: elements, text, entities, CDATA; attributes are ignored. */
function parseXml(text: string): XmlNode {
  let i = 0;
  const root: XmlNode = { name: '#document', children: [], text: '' };
  const stack: XmlNode[] = [root];
  const malformed = (): never => {
    throw new AwsApiError('InvalidInput', `Could not parse the XML request body near offset ${i}`, 400);
  };
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    if (lt < 0) {
      stack[stack.length - 1]!.text += decodeEntities(text.slice(i));
      break;
    }
    if (lt > i) stack[stack.length - 1]!.text += decodeEntities(text.slice(i, lt));
    if (text.startsWith('<?', lt)) {
      const end = text.indexOf('?>', lt);
      if (end < 0) malformed();
      i = end + 2;
    } else if (text.startsWith('<!--', lt)) {
      const end = text.indexOf('-->', lt);
      if (end < 0) malformed();
      i = end + 3;
    } else if (text.startsWith('<![CDATA[', lt)) {
      const end = text.indexOf(']]>', lt);
      if (end < 0) malformed();
      stack[stack.length - 1]!.text += text.slice(lt + 9, end);
      i = end + 3;
    } else if (text.startsWith('</', lt)) {
      const end = text.indexOf('>', lt);
      if (end < 0) malformed();
      const name = text.slice(lt + 2, end).trim();
      const open = stack.pop();
      if (!open || open.name !== name || stack.length === 0) malformed();
      i = end + 1;
    } else {
      const end = text.indexOf('>', lt);
      if (end < 0) malformed();
      const selfClosing = text[end - 1] === '/';
      const inner = text.slice(lt + 1, selfClosing ? end - 1 : end).trim();
      const name = inner.split(/\s/)[0]!;
      if (!name) malformed();
      const node: XmlNode = { name, children: [], text: '' };
      stack[stack.length - 1]!.children.push(node);
      if (!selfClosing) stack.push(node);
      i = end + 1;
    }
  }
  if (stack.length !== 1 || root.children.length !== 1) malformed();
  return root.children[0]!;
}

const child = (n: XmlNode | undefined, name: string): XmlNode | undefined => n?.children.find((c) => c.name === name);
const childText = (n: XmlNode | undefined, name: string): string | undefined => {
  const c = child(n, name);
  return c ? c.text.trim() : undefined;
};

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

/** JSON protocols send timestamps as epoch seconds (number); accept ISO strings too. */
function jsonDate(value: unknown, field: string): Date {
  const d = typeof value === 'number' ? new Date(value * 1000) : typeof value === 'string' ? new Date(/^\d+(\.\d+)?$/.test(value) ? Number(value) * 1000 : value) : undefined;
  if (!d || Number.isNaN(d.getTime())) throw new AwsApiError('ValidationException', `Invalid timestamp in ${field}: ${String(value)}`, 400);
  return d;
}

const trailingDot = (name: string): string => (name.endsWith('.') ? name : `${name}.`);

/** Plain scalar fields of a view object beyond the ones serialized explicitly (XML has no schema to lean on). */
function extraScalars(view: object, known: string[]): Record<string, XmlValue> {
  const out: Record<string, XmlValue> = {};
  for (const [k, v] of Object.entries(view)) {
    if (known.includes(k)) continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v instanceof Date) out[k] = v;
  }
  return out;
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
    StatusInfos: db.StatusInfos
      ? new XmlList(
          'DBInstanceStatusInfo',
          db.StatusInfos.map((s) => ({ StatusType: s.StatusType, Normal: s.Normal, Status: s.Status, Message: s.Message })),
        )
      : undefined,
    ...extraScalars(db, ['DBInstanceIdentifier', 'DBInstanceStatus', 'ReadReplicaSourceDBInstanceIdentifier', 'StatusInfos']),
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
    (out[index] ??= {})[m[2]!] = v;
  }
  return out.filter((x) => x !== undefined);
}

function rdsHandlers(backend: ControlPlaneBackend): Record<string, QueryHandler> {
  return {
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
}

// =============================================================================================
// Route 53 (restXml)

interface RestRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: string;
}
type RestHandler = (ctx: CallContext, req: RestRequest, params: string[]) => Promise<string>;
interface RestRoute {
  operation: string;
  method: string;
  path: RegExp;
  handler: RestHandler;
}

function recordSetXml(r: RecordSetView): XmlValue {
  return {
    Name: trailingDot(r.Name),
    Type: r.Type,
    SetIdentifier: r.SetIdentifier,
    Weight: r.Weight,
    ...extraScalars(r, ['Name', 'Type', 'SetIdentifier', 'Weight', 'TTL', 'ResourceRecords', 'AliasTarget', 'HealthCheckId']),
    TTL: r.TTL,
    ResourceRecords: r.ResourceRecords ? new XmlList('ResourceRecord', r.ResourceRecords.map((v) => ({ Value: v.Value }))) : undefined,
    AliasTarget: r.AliasTarget
      ? { HostedZoneId: r.AliasTarget.HostedZoneId, DNSName: trailingDot(r.AliasTarget.DNSName), EvaluateTargetHealth: r.AliasTarget.EvaluateTargetHealth }
      : undefined,
    HealthCheckId: r.HealthCheckId,
  };
}

function parseRecordSet(n: XmlNode | undefined): RecordSetView {
  if (!n) throw missing('restXml', 'ResourceRecordSet');
  const num = (name: string): number | undefined => {
    const t = childText(n, name);
    return t === undefined ? undefined : Number(t);
  };
  const alias = child(n, 'AliasTarget');
  const records = child(n, 'ResourceRecords');
  const view: RecordSetView = {
    Name: requireString('restXml', childText(n, 'Name'), 'ResourceRecordSet.Name'),
    Type: requireString('restXml', childText(n, 'Type'), 'ResourceRecordSet.Type'),
  };
  const known = ['Name', 'Type', 'SetIdentifier', 'Weight', 'TTL', 'ResourceRecords', 'AliasTarget', 'HealthCheckId'];
  if (childText(n, 'SetIdentifier') !== undefined) view.SetIdentifier = childText(n, 'SetIdentifier');
  if (num('Weight') !== undefined) view.Weight = num('Weight');
  if (num('TTL') !== undefined) view.TTL = num('TTL');
  if (records) view.ResourceRecords = records.children.filter((c) => c.name === 'ResourceRecord').map((c) => ({ Value: childText(c, 'Value') ?? '' }));
  if (alias) {
    view.AliasTarget = {
      HostedZoneId: childText(alias, 'HostedZoneId') ?? '',
      DNSName: childText(alias, 'DNSName') ?? '',
      EvaluateTargetHealth: childText(alias, 'EvaluateTargetHealth') === 'true',
    };
  }
  if (childText(n, 'HealthCheckId') !== undefined) view.HealthCheckId = childText(n, 'HealthCheckId');
  // Anything else (Failover, Region, MultiValueAnswer, …) is passed on as text.
  for (const c of n.children) if (!known.includes(c.name) && c.children.length === 0) (view as unknown as Record<string, string>)[c.name] = c.text.trim();
  return view;
}

const changeId = (id: string): string => (id.startsWith('/change/') ? id : `/change/${id}`);

function changeInfoXml(info: { Id: string; Status: string; SubmittedAt: Date }, comment?: string): XmlValue {
  return { Id: changeId(info.Id), Status: info.Status, SubmittedAt: info.SubmittedAt, Comment: comment };
}

const R53 = SERVICES.route53!.xmlns!;
const r53Doc = (root: string, body: Record<string, XmlValue>): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${R53}">${Object.entries(body)
    .map(([k, v]) => xml(k, v))
    .join('')}</${root}>`;

function route53Routes(backend: ControlPlaneBackend): RestRoute[] {
  return [
    {
      operation: 'ListResourceRecordSets',
      method: 'GET',
      path: /^\/2013-04-01\/hostedzone\/([^/]+)\/rrset\/?$/,
      async handler(ctx, req, [zone]) {
        const maxRaw = req.query.get('maxitems');
        const max = maxRaw === null ? 300 : Number(maxRaw);
        if (!Number.isInteger(max) || max < 1) throw new AwsApiError('InvalidInput', `maxitems must be a positive integer (got ${maxRaw})`, 400);
        const name = req.query.get('name') ?? undefined;
        const type = req.query.get('type') ?? undefined;
        if (type && !name) throw new AwsApiError('InvalidInput', 'The type parameter requires the name parameter', 400);
        const all = await backend.listResourceRecordSets(ctx, zone!, name, type);
        const page = all.slice(0, max);
        const next = all[max];
        return r53Doc('ListResourceRecordSetsResponse', {
          ResourceRecordSets: new XmlList('ResourceRecordSet', page.map(recordSetXml)),
          IsTruncated: next !== undefined,
          NextRecordName: next ? trailingDot(next.Name) : undefined,
          NextRecordType: next?.Type,
          NextRecordIdentifier: next?.SetIdentifier,
          MaxItems: max,
        });
      },
    },
    {
      operation: 'ChangeResourceRecordSets',
      method: 'POST',
      path: /^\/2013-04-01\/hostedzone\/([^/]+)\/rrset\/?$/,
      async handler(ctx, req, [zone]) {
        const doc = parseXml(req.body);
        const batch = child(doc, 'ChangeBatch');
        if (!batch) throw missing('restXml', 'ChangeBatch');
        const changes = (child(batch, 'Changes')?.children ?? [])
          .filter((c) => c.name === 'Change')
          .map((c) => {
            const action = childText(c, 'Action');
            if (action !== 'CREATE' && action !== 'DELETE' && action !== 'UPSERT') throw new AwsApiError('InvalidInput', `Invalid Action ${action ?? '(none)'}`, 400);
            return { Action: action as 'CREATE' | 'DELETE' | 'UPSERT', ResourceRecordSet: parseRecordSet(child(c, 'ResourceRecordSet')) };
          });
        if (changes.length === 0) throw new AwsApiError('InvalidInput', 'ChangeBatch.Changes must contain at least one Change', 400);
        const info = await backend.changeResourceRecordSets(ctx, zone!, changes);
        return r53Doc('ChangeResourceRecordSetsResponse', { ChangeInfo: changeInfoXml(info, childText(batch, 'Comment')) });
      },
    },
    {
      operation: 'GetChange',
      method: 'GET',
      path: /^\/2013-04-01\/change\/(.+)$/,
      async handler(ctx, _req, [id]) {
        const bare = id!.replace(/^\/?change\//, '');
        const info = await backend.getChange(ctx, bare);
        return r53Doc('GetChangeResponse', { ChangeInfo: changeInfoXml(info) });
      },
    },
  ];
}

// =============================================================================================
// JSON services

type Json = Record<string, unknown>;
type JsonHandler = (ctx: CallContext, input: Json) => Promise<Json>;

const arr = <T = unknown>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);

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

function pageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset }), 'utf8').toString('base64');
}
function readPageToken(token: unknown): number {
  if (token === undefined || token === null) return 0;
  try {
    const offset = (JSON.parse(Buffer.from(String(token), 'base64').toString('utf8')) as { offset?: unknown }).offset;
    if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // fall through
  }
  throw new AwsApiError('InvalidToken', `Invalid Token: '${String(token)}'`, 400);
}

function jsonHandlers(backend: ControlPlaneBackend): Record<string, Record<string, JsonHandler>> {
  return {
    monitoring: {
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
      async GetMetricData(ctx, input) {
        const start = jsonDate(input.StartTime, 'StartTime');
        const end = jsonDate(input.EndTime, 'EndTime');
        const ascending = input.ScanBy === 'TimestampAscending';
        const queries = arr<Json>(input.MetricDataQueries);
        if (queries.length === 0) throw missing('json1.0', 'metricDataQueries');
        const results: Json[] = [];
        for (const q of queries) {
          const stat = q.MetricStat as Json | undefined;
          if (!stat) {
            throw new AwsApiError('InvalidParameterValue', `The lab control plane answers GetMetricData MetricStat queries only (query ${String(q.Id)} has no MetricStat; metric math is not supported)`, 400);
          }
          const metric = (stat.Metric ?? {}) as Json;
          const period = typeof stat.Period === 'number' && stat.Period > 0 ? stat.Period : 60;
          const points = await backend.getMetricValues(ctx, {
            namespace: requireString('json1.0', metric.Namespace, 'Namespace'),
            name: requireString('json1.0', metric.MetricName, 'MetricName'),
            dimensions: Object.fromEntries(arr<Json>(metric.Dimensions).map((d) => [String(d.Name), String(d.Value)])),
            start,
            end,
            stat: typeof stat.Stat === 'string' ? stat.Stat : undefined,
            period,
          });
          if (q.ReturnData === false) continue;
          // Latest first: one datapoint per period, the newest in the last whole period before EndTime.
          const endSec = end.getTime() / 1000;
          let newest = Math.floor(endSec / period) * period;
          if (newest >= endSec) newest -= period;
          const values = points.map((p) => (typeof p === 'number' ? p : p.value));
          const timestamps = points.map((p, i) => (typeof p === 'number' ? new Date((newest - i * period) * 1000) : p.at));
          results.push({
            Id: q.Id,
            Label: q.Label ?? metric.MetricName,
            Timestamps: ascending ? [...timestamps].reverse() : timestamps,
            Values: ascending ? [...values].reverse() : values,
            StatusCode: 'Complete',
          });
        }
        return { MetricDataResults: results, Messages: [] };
      },
    },
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
    states: {
      async ListExecutions(ctx, input) {
        const arn = requireString('json1.0', input.stateMachineArn, 'stateMachineArn');
        const max = typeof input.maxResults === 'number' && input.maxResults > 0 ? Math.min(input.maxResults, 1000) : 100;
        const offset = readPageToken(input.nextToken);
        const all = await backend.listExecutions(ctx, arn, typeof input.statusFilter === 'string' ? input.statusFilter : undefined);
        const page = all.slice(offset, offset + max);
        return { executions: page.map(executionListItem), ...(offset + max < all.length ? { nextToken: pageToken(offset + max) } : {}) };
      },
      async DescribeExecution(ctx, input) {
        const e = await backend.describeExecution(ctx, requireString('json1.0', input.executionArn, 'executionArn'));
        return { ...e, ...(e.input !== undefined ? { inputDetails: { included: true } } : {}) };
      },
      async SendTaskSuccess(ctx, input) {
        await backend.sendTaskSuccess(ctx, requireString('json1.0', input.taskToken, 'taskToken'), requireString('json1.0', input.output, 'output'));
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
    },
    events: {
      async PutEvents(ctx, input) {
        const entries = arr<Json>(input.Entries);
        if (entries.length < 1 || entries.length > 10) {
          throw new AwsApiError('ValidationException', `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10 (got ${entries.length})`, 400);
        }
        const results = await backend.putEvents(
          ctx,
          entries.map((e) => ({
            ...(typeof e.Source === 'string' ? { Source: e.Source } : {}),
            ...(typeof e.DetailType === 'string' ? { DetailType: e.DetailType } : {}),
            ...(typeof e.Detail === 'string' ? { Detail: e.Detail } : {}),
            ...(typeof e.EventBusName === 'string' ? { EventBusName: e.EventBusName } : {}),
            ...(Array.isArray(e.Resources) ? { Resources: e.Resources.map(String) } : {}),
            ...(e.Time !== undefined ? { Time: jsonDate(e.Time, 'Time') } : {}),
          })),
        );
        return { FailedEntryCount: results.filter((r) => r.ErrorCode !== undefined).length, Entries: results };
      },
    },
    dynamodb: {
      async PutItem(ctx, input) {
        await backend.putItem(ctx, {
          TableName: requireString('json1.0', input.TableName, 'tableName'),
          Item: (input.Item ?? {}) as Json,
          ...dynamoExpressionFields(input),
        });
        return {};
      },
      async GetItem(ctx, input) {
        const item = await backend.getItem(ctx, { TableName: requireString('json1.0', input.TableName, 'tableName'), Key: (input.Key ?? {}) as Json });
        return item ? { Item: item } : {};
      },
      async UpdateItem(ctx, input) {
        const attributes = await backend.updateItem(ctx, {
          TableName: requireString('json1.0', input.TableName, 'tableName'),
          Key: (input.Key ?? {}) as Json,
          ...(typeof input.UpdateExpression === 'string' ? { UpdateExpression: input.UpdateExpression } : {}),
          ...(typeof input.ReturnValues === 'string' ? { ReturnValues: input.ReturnValues } : {}),
          ...dynamoExpressionFields(input),
        });
        const wanted = typeof input.ReturnValues === 'string' && input.ReturnValues !== 'NONE';
        return wanted && attributes ? { Attributes: attributes } : {};
      },
    },
    ssm: {
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

function dynamoExpressionFields(input: Json) {
  return {
    ...(typeof input.ConditionExpression === 'string' ? { ConditionExpression: input.ConditionExpression } : {}),
    ...(input.ExpressionAttributeNames !== undefined ? { ExpressionAttributeNames: input.ExpressionAttributeNames as Record<string, string> } : {}),
    ...(input.ExpressionAttributeValues !== undefined ? { ExpressionAttributeValues: input.ExpressionAttributeValues as Json } : {}),
    ...(typeof input.ReturnValuesOnConditionCheckFailure === 'string' ? { ReturnValuesOnConditionCheckFailure: input.ReturnValuesOnConditionCheckFailure } : {}),
  };
}

/** JSON with Dates as epoch seconds, as the awsJson protocols carry timestamps. */
function toJson(value: unknown): string {
  return JSON.stringify(value, function replacer(this: Record<string, unknown>, key: string, v: unknown) {
    const raw = this[key];
    return raw instanceof Date ? raw.getTime() / 1000 : v;
  });
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
  const fields = (error as { fields?: unknown }).fields;
  const extra = fields && typeof fields === 'object' ? (fields as Record<string, unknown>) : {};
  const type = error.status >= 500 ? 'Receiver' : 'Sender';
  if (protocol === 'query' || protocol === 'restXml') {
    const scalarExtras = Object.fromEntries(Object.entries(extra).filter(([, v]) => v === null || typeof v !== 'object')) as Record<string, XmlValue>;
    const ns = spec?.xmlns ? ` xmlns="${spec.xmlns}"` : '';
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse${ns}>${xml('Error', { Type: type, Code: error.code, Message: error.message, ...scalarExtras })}${xml('RequestId', requestId)}</ErrorResponse>`;
    return { status: error.status, headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }, body, error: error.code };
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

/**
 * Starts the control plane on 127.0.0.1 (a free port unless `options.port` is given). Point SDK
 * clients at `url` (AWS_ENDPOINT_URL) with any credentials; the region comes from the client.
 */
export async function startControlPlane(backend: ControlPlaneBackend, options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const calls: ControlPlaneCall[] = [];
  const query = rdsHandlers(backend);
  const rest = route53Routes(backend);
  const json = jsonHandlers(backend);
  const sockets = new Set<Socket>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const requestId = randomUUID();
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const scope = parseCredentialScope(req.headers.authorization);
    const target = typeof req.headers['x-amz-target'] === 'string' ? req.headers['x-amz-target'] : undefined;
    const spec = scope && Object.hasOwn(SERVICES, scope.service) ? SERVICES[scope.service] : undefined;
    const protocol: Protocol = spec?.protocol ?? (target ? 'json1.1' : 'query');

    const send = (ctx: CallContext, answer: Answer): void => {
      calls.push({ region: ctx.region, service: ctx.service, operation: ctx.operation, at, status: answer.status, ...(answer.error ? { error: answer.error } : {}) });
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
      send(ctx, errorAnswer(protocol, spec, new AwsApiError('MissingAuthenticationToken', 'Request is missing Authentication Token (no SigV4 Authorization header)', 403), requestId));
      return;
    }

    // Which operation: X-Amz-Target (JSON), Action= (awsQuery), method + path (restXml).
    let operation: string;
    let form: URLSearchParams | undefined;
    let route: { route: RestRoute; params: string[] } | undefined;
    let known = false;
    if (protocol === 'query') {
      form = new URLSearchParams(method === 'GET' ? url.search : body);
      operation = form.get('Action') ?? '(no Action)';
      known = scope.service === 'rds' && Object.hasOwn(query, operation);
    } else if (protocol === 'restXml') {
      for (const r of rest) {
        const m = r.method === method ? r.path.exec(url.pathname) : null;
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
      known = !!spec && prefix === spec.target && !!op && Object.hasOwn(json, scope.service) && Object.hasOwn(json[scope.service]!, op);
      if (!known && target) operation = target;
    }
    const ctx: CallContext = { region: scope.region, service: scope.service, operation };

    let reachable: boolean;
    try {
      reachable = backend.reachable(ctx);
    } catch (error) {
      send(ctx, errorAnswer(protocol, spec, new AwsApiError('InternalFailure', `reachable() threw: ${String(error)}`, 500), requestId));
      return;
    }
    if (!reachable) {
      calls.push({ region: ctx.region, service: ctx.service, operation: ctx.operation, at, status: 0 });
      options.log?.(`${ctx.region} ${ctx.service} ${ctx.operation} dropped (unreachable)`);
      req.socket.destroy();
      return;
    }

    try {
      if (!known) throw unknownOperation(protocol, `${scope.service} ${operation}`);
      let answer: Answer;
      if (protocol === 'query') {
        const result = await query[operation]!(ctx, form!);
        const xmlns = spec!.xmlns!;
        answer = {
          status: 200,
          headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
          body: `<?xml version="1.0" encoding="UTF-8"?>\n<${operation}Response xmlns="${xmlns}">${xml(`${operation}Result`, result ?? {})}${xml('ResponseMetadata', { RequestId: requestId })}</${operation}Response>`,
        };
      } else if (protocol === 'restXml') {
        const out = await route!.route.handler(ctx, { method, path: url.pathname, query: url.searchParams, body }, route!.params);
        answer = { status: 200, headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }, body: out };
      } else {
        let input: Json;
        try {
          const parsed: unknown = body.trim() === '' ? {} : JSON.parse(body);
          if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
          input = parsed as Json;
        } catch {
          throw new AwsApiError('SerializationException', 'Could not parse the JSON request body', 400);
        }
        const out = await json[scope.service]![operation]!(ctx, input);
        answer = {
          status: 200,
          headers: { 'content-type': `application/x-amz-json-${protocol === 'json1.0' ? '1.0' : '1.1'}`, 'x-amzn-requestid': requestId },
          body: toJson(out),
        };
      }
      send(ctx, answer);
    } catch (error) {
      const e =
        error instanceof AwsApiError
          ? error
          : new AwsApiError('InternalFailure', `The lab control plane failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`, 500);
      if (!(error instanceof AwsApiError)) options.log?.(`${ctx.region} ${ctx.service} ${ctx.operation} backend threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
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
        for (const s of sockets) s.destroy();
      }),
  };
}
