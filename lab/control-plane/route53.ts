/**
 * Route 53 as AWS has it: a record store per hosted zone whose ChangeResourceRecordSets honours
 * Action, Name, Type and SetIdentifier (a batch applies all or nothing), and the restXml routes
 * that list (sorted and paged as Route 53 does), change and track changes.
 *
 * https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html
 * https://docs.aws.amazon.com/Route53/latest/APIReference/API_Change.html
 * https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListResourceRecordSets.html
 * https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetChange.html
 */
import { AwsApiError, type CallContext, type ChangeInfoView, type ControlPlaneBackend, type RecordSetView } from '../../local/aws/backend';
import { child, childText, extraScalars, parseXml, xml, XmlList, type XmlNode, type XmlValue } from './xml';

export const ROUTE53_XMLNS = 'https://route53.amazonaws.com/doc/2013-04-01/';

export const trailingDot = (name: string): string => (name.endsWith('.') ? name : `${name}.`);
/** DNS names compare case-insensitively, with the trailing dot Route 53 always answers. */
export const normalName = (name: string): string => trailingDot(name).toLowerCase();
export const bareZoneId = (id: string): string => id.replace(/^\/?hostedzone\//, '');

export type Change = { Action: 'CREATE' | 'DELETE' | 'UPSERT'; ResourceRecordSet: RecordSetView };

/** How Route 53 names a record set in InvalidChangeBatch messages. */
function describeSet(r: RecordSetView): string {
  return `[name='${normalName(r.Name)}', type='${r.Type}'${r.SetIdentifier !== undefined ? `, set-identifier='${r.SetIdentifier}'` : ''}]`;
}

const sameSet = (a: RecordSetView, b: RecordSetView): boolean => normalName(a.Name) === normalName(b.Name) && a.Type === b.Type && a.SetIdentifier === b.SetIdentifier;

/** Every field of a record set in a canonical form: DELETE must match the current set exactly. */
function canonical(r: RecordSetView): string {
  const fields: Record<string, unknown> = { ...r, Name: normalName(r.Name) };
  if (r.AliasTarget) fields.AliasTarget = { ...r.AliasTarget, DNSName: normalName(r.AliasTarget.DNSName), HostedZoneId: bareZoneId(r.AliasTarget.HostedZoneId) };
  if (r.ResourceRecords) fields.ResourceRecords = r.ResourceRecords.map((v) => v.Value).sort();
  return JSON.stringify(
    Object.fromEntries(
      Object.entries(fields)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => a.localeCompare(b)),
    ),
  );
}

function stored(r: RecordSetView): RecordSetView {
  return {
    ...r,
    Name: normalName(r.Name),
    ...(r.AliasTarget ? { AliasTarget: { ...r.AliasTarget, DNSName: trailingDot(r.AliasTarget.DNSName), HostedZoneId: bareZoneId(r.AliasTarget.HostedZoneId) } } : {}),
  };
}

/** Problems of one record set on its own (the subset of Route 53's validation the lab needs). */
function shapeProblem(r: RecordSetView): string | undefined {
  if (!r.AliasTarget && !(r.ResourceRecords && r.ResourceRecords.length > 0))
    return `Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=?, Name=${normalName(r.Name)}, Type=${r.Type}]`;
  if (r.AliasTarget && r.ResourceRecords)
    return `Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords]], but found more than one for ${describeSet(r)}`;
  if (r.Type === 'CNAME' && (r.ResourceRecords?.length ?? 0) > 1)
    return `RRSet of type CNAME with DNS name ${normalName(r.Name)} is not permitted to contain more than one resource record`;
  if (r.SetIdentifier !== undefined && r.Weight === undefined && r.Failover === undefined && !(r as { Region?: string }).Region) {
    return `Invalid request: Missing field 'Weight' (or another routing policy) in ResourceRecordSet with SetIdentifier ${r.SetIdentifier}`;
  }
  return undefined;
}

/**
 * The record sets of each hosted zone. `apply` validates a whole batch against a copy and commits
 * it only when every change is valid (Route 53's transactional change batches).
 */
export class RecordStore {
  private readonly zones = new Map<string, RecordSetView[]>();

  constructor(private readonly healthCheckExists: (id: string) => boolean = () => true) {}

  addZone(zoneId: string, records: RecordSetView[] = []): void {
    this.zones.set(bareZoneId(zoneId), records.map(stored));
  }

  hasZone(zoneId: string): boolean {
    return this.zones.has(bareZoneId(zoneId));
  }

  list(zoneId: string): RecordSetView[] {
    const records = this.zones.get(bareZoneId(zoneId));
    if (!records) throw new AwsApiError('NoSuchHostedZone', `No hosted zone found with ID: ${bareZoneId(zoneId)}`, 404);
    return records.map((r) => structuredClone(r));
  }

  apply(zoneId: string, changes: Change[]): void {
    const current = this.list(zoneId);
    const problems: string[] = [];
    let next = current;
    for (const { Action, ResourceRecordSet: set } of changes) {
      const existing = next.find((r) => sameSet(r, set));
      if (Action !== 'DELETE') {
        const shape = shapeProblem(set);
        if (shape) {
          problems.push(shape);
          continue;
        }
        if (set.HealthCheckId !== undefined && !this.healthCheckExists(set.HealthCheckId)) {
          throw new AwsApiError('NoSuchHealthCheck', `A health check with id ${set.HealthCheckId} does not exist.`, 404);
        }
        const conflict = next.find(
          (r) =>
            normalName(r.Name) === normalName(set.Name) &&
            !sameSet(r, set) &&
            (r.Type === set.Type ? (r.SetIdentifier === undefined) !== (set.SetIdentifier === undefined) : r.Type === 'CNAME' || set.Type === 'CNAME'),
        );
        if (conflict) {
          problems.push(
            `RRSet of type ${set.Type} with DNS name ${normalName(set.Name)} is not permitted because a conflicting RRSet of type ${conflict.Type} with the same DNS name already exists in zone`,
          );
          continue;
        }
      }
      if (Action === 'CREATE') {
        if (existing) problems.push(`Tried to create resource record set ${describeSet(set)} but it already exists`);
        else next = [...next, stored(set)];
      } else if (Action === 'DELETE') {
        if (!existing) problems.push(`Tried to delete resource record set ${describeSet(set)} but it was not found`);
        else if (canonical(existing) !== canonical(stored(set)))
          problems.push(`Tried to delete resource record set ${describeSet(set)}, but the values provided do not match the current values`);
        else next = next.filter((r) => r !== existing);
      } else {
        // UPSERT replaces the whole set with what was sent: a field left out (HealthCheckId, TTL…) is gone.
        next = [...next.filter((r) => r !== existing), stored(set)];
      }
    }
    if (problems.length > 0) throw new AwsApiError('InvalidChangeBatch', `[${problems.join(', ')}]`, 400);
    this.zones.set(bareZoneId(zoneId), next);
  }
}

/** Route 53's listing order: DNS name with the labels reversed, then type, then set identifier. */
function sortKey(r: { Name: string; Type?: string; SetIdentifier?: string }): [string, string, string] {
  return [normalName(r.Name).replace(/\.$/, '').split('.').reverse().join('.'), r.Type ?? '', r.SetIdentifier ?? ''];
}
function compareKeys(a: [string, string, string], b: [string, string, string]): number {
  for (let i = 0; i < 3; i += 1) {
    if (a[i]! < b[i]!) return -1;
    if (a[i]! > b[i]!) return 1;
  }
  return 0;
}

/** One page of a zone's record sets from (name, type, identifier) on, and where the next page starts. */
export function pageRecordSets(all: RecordSetView[], start: { name?: string; type?: string; identifier?: string }, max: number): { page: RecordSetView[]; next?: RecordSetView } {
  const sorted = [...all].sort((a, b) => compareKeys(sortKey(a), sortKey(b)));
  const from: [string, string, string] | undefined = start.name ? sortKey({ Name: start.name, Type: start.type, SetIdentifier: start.identifier }) : undefined;
  const rest = from ? sorted.filter((r) => compareKeys(sortKey(r), from) >= 0) : sorted;
  return { page: rest.slice(0, max), next: rest[max] };
}

// =============================================================================================
// restXml routes

export interface RestRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: string;
  headers: Record<string, string>;
}
export interface RestAnswer {
  status: number;
  headers?: Record<string, string>;
  body: string;
}
export type RestHandler = (ctx: CallContext, req: RestRequest, params: string[]) => Promise<RestAnswer>;
export interface RestRoute {
  service: string;
  operation: string;
  method: string;
  path: RegExp;
  handler: RestHandler;
}

const KNOWN = ['Name', 'Type', 'SetIdentifier', 'Weight', 'TTL', 'ResourceRecords', 'AliasTarget', 'HealthCheckId'];

function recordSetXml(r: RecordSetView): XmlValue {
  return {
    Name: trailingDot(r.Name),
    Type: r.Type,
    SetIdentifier: r.SetIdentifier,
    Weight: r.Weight,
    ...extraScalars(r, KNOWN),
    TTL: r.TTL,
    ResourceRecords: r.ResourceRecords
      ? new XmlList(
          'ResourceRecord',
          r.ResourceRecords.map((v) => ({ Value: v.Value })),
        )
      : undefined,
    AliasTarget: r.AliasTarget
      ? { HostedZoneId: bareZoneId(r.AliasTarget.HostedZoneId), DNSName: trailingDot(r.AliasTarget.DNSName), EvaluateTargetHealth: r.AliasTarget.EvaluateTargetHealth }
      : undefined,
    HealthCheckId: r.HealthCheckId,
  };
}

const invalidInput = (message: string): AwsApiError => new AwsApiError('InvalidInput', message, 400);

function parseRecordSet(n: XmlNode | undefined): RecordSetView {
  if (!n) throw invalidInput('The request must contain ResourceRecordSet');
  const num = (name: string): number | undefined => {
    const t = childText(n, name);
    return t === undefined ? undefined : Number(t);
  };
  const name = childText(n, 'Name');
  const type = childText(n, 'Type');
  if (!name) throw invalidInput('The request must contain ResourceRecordSet.Name');
  if (!type) throw invalidInput('The request must contain ResourceRecordSet.Type');
  const view: RecordSetView = { Name: name, Type: type };
  const alias = child(n, 'AliasTarget');
  const records = child(n, 'ResourceRecords');
  if (childText(n, 'SetIdentifier') !== undefined) view.SetIdentifier = childText(n, 'SetIdentifier');
  if (num('Weight') !== undefined) view.Weight = num('Weight');
  if (num('TTL') !== undefined) view.TTL = num('TTL');
  if (records) view.ResourceRecords = records.children.filter((c) => c.name === 'ResourceRecord').map((c) => ({ Value: childText(c, 'Value') ?? '' }));
  if (alias) {
    view.AliasTarget = {
      HostedZoneId: bareZoneId(childText(alias, 'HostedZoneId') ?? ''),
      DNSName: childText(alias, 'DNSName') ?? '',
      EvaluateTargetHealth: childText(alias, 'EvaluateTargetHealth') === 'true',
    };
  }
  if (childText(n, 'HealthCheckId') !== undefined) view.HealthCheckId = childText(n, 'HealthCheckId');
  // Anything else (Failover, Region, MultiValueAnswer, …) is kept as text.
  for (const c of n.children) if (!KNOWN.includes(c.name) && c.children.length === 0) (view as unknown as Record<string, string>)[c.name] = c.text.trim();
  return view;
}

const changeId = (id: string): string => (id.startsWith('/change/') ? id : `/change/${id}`);

function changeInfoXml(info: ChangeInfoView, comment?: string): XmlValue {
  return { Id: changeId(info.Id), Status: info.Status, SubmittedAt: info.SubmittedAt, Comment: comment };
}

const r53Doc = (root: string, body: Record<string, XmlValue>): RestAnswer => ({
  status: 200,
  headers: { 'content-type': 'text/xml' },
  body: `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${ROUTE53_XMLNS}">${Object.entries(body)
    .map(([k, v]) => xml(k, v))
    .join('')}</${root}>`,
});

export function route53Routes(backend: ControlPlaneBackend): RestRoute[] {
  return [
    {
      service: 'route53',
      operation: 'ListResourceRecordSets',
      method: 'GET',
      path: /^\/2013-04-01\/hostedzone\/([^/]+)\/rrset\/?$/,
      async handler(ctx, req, [zone]) {
        const maxRaw = req.query.get('maxitems');
        const max = maxRaw === null ? 300 : Number(maxRaw);
        if (!Number.isInteger(max) || max < 1) throw invalidInput(`maxitems must be a positive integer (got ${maxRaw})`);
        const name = req.query.get('name') ?? undefined;
        const type = req.query.get('type') ?? undefined;
        const identifier = req.query.get('identifier') ?? undefined;
        if (type && !name) throw invalidInput('The type parameter requires the name parameter');
        if (identifier && !type) throw invalidInput('The identifier parameter requires the name and type parameters');
        const { page, next } = pageRecordSets(await backend.listResourceRecordSets(ctx, bareZoneId(zone!)), { name, type, identifier }, Math.min(max, 300));
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
      service: 'route53',
      operation: 'ChangeResourceRecordSets',
      method: 'POST',
      path: /^\/2013-04-01\/hostedzone\/([^/]+)\/rrset\/?$/,
      async handler(ctx, req, [zone]) {
        const doc = parseXml(req.body);
        const batch = child(doc, 'ChangeBatch');
        if (!batch) throw invalidInput('The request must contain ChangeBatch');
        const changes = (child(batch, 'Changes')?.children ?? [])
          .filter((c) => c.name === 'Change')
          .map((c) => {
            const action = childText(c, 'Action');
            if (action !== 'CREATE' && action !== 'DELETE' && action !== 'UPSERT')
              throw invalidInput(`Invalid XML ; cvc-enumeration-valid: Value '${action ?? ''}' is not facet-valid with respect to enumeration '[CREATE, DELETE, UPSERT]'`);
            return { Action: action as Change['Action'], ResourceRecordSet: parseRecordSet(child(c, 'ResourceRecordSet')) };
          });
        if (changes.length === 0) throw invalidInput('ChangeBatch.Changes must contain at least one Change');
        const info = await backend.changeResourceRecordSets(ctx, bareZoneId(zone!), changes);
        return r53Doc('ChangeResourceRecordSetsResponse', { ChangeInfo: changeInfoXml(info, childText(batch, 'Comment')) });
      },
    },
    {
      service: 'route53',
      operation: 'GetChange',
      method: 'GET',
      path: /^\/2013-04-01\/change\/(.+)$/,
      async handler(ctx, _req, [id]) {
        const bare = id!.replace(/^\/?change\//, '');
        return r53Doc('GetChangeResponse', { ChangeInfo: changeInfoXml(await backend.getChange(ctx, bare)) });
      },
    },
  ];
}
