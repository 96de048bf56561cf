/**
 * The XML and form plumbing of the AWS XML protocols (awsQuery, restXml): a small builder for
 * responses, a small parser for request bodies, and the awsQuery form → object mapping
 * (`A.member.1.B=…` → `{ A: [{ B: … }] }`), so that one handler can serve a JSON and a query
 * request alike.
 */
import { AwsApiError } from '../../local/aws/backend';

const escapeXml = (s: string): string => s.replace(/[&<>"'\r]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\r': '&#x0D;' })[c]!);

/** A list with its member element name (`<DBInstances><DBInstance>…</DBInstance></DBInstances>`). */
export class XmlList {
  constructor(
    readonly member: string,
    readonly items: XmlValue[],
  ) {}
}
export type XmlValue = string | number | boolean | Date | null | undefined | XmlList | { [key: string]: XmlValue };

/** Plain scalar fields of a view object beyond the ones serialized explicitly (XML has no schema to lean on). */
export function extraScalars(view: object, known: string[]): Record<string, XmlValue> {
  const out: Record<string, XmlValue> = {};
  for (const [k, v] of Object.entries(view)) {
    if (known.includes(k)) continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v instanceof Date) out[k] = v;
  }
  return out;
}

/** One element and its content; undefined / null values are left out, as AWS leaves out absent members. */
export function xml(name: string, value: XmlValue): string {
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

/**
 * A JSON-shaped value as awsQuery XML: arrays become `<member>` lists (the query protocol's default
 * list serialization), Dates ISO-8601. Lets one handler answer both CloudWatch protocols.
 */
export function jsonToXmlValue(value: unknown): XmlValue {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return new XmlList('member', value.map(jsonToXmlValue));
  if (value instanceof Date) return value;
  if (typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonToXmlValue(v)]));
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return String(value);
}

export interface XmlNode {
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

/** Enough XML for what clients send: elements, text, entities, CDATA; attributes are ignored. */
export function parseXml(text: string): XmlNode {
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

export const child = (n: XmlNode | undefined, name: string): XmlNode | undefined => n?.children.find((c) => c.name === name);
export const childText = (n: XmlNode | undefined, name: string): string | undefined => {
  const c = child(n, name);
  return c ? c.text.trim() : undefined;
};

/**
 * An awsQuery form as the object a JSON request would carry: `Names.member.2=b` → `{ Names: [ , 'b'] }`,
 * `A.B=c` → `{ A: { B: 'c' } }`. Values stay strings (the handlers convert the numbers they expect).
 * `entry` lists (`Attributes.entry.1.key`) are read like `member` lists.
 */
export function formToObject(form: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of form) {
    if (key === 'Action' || key === 'Version') continue;
    const parts = key.split('.');
    let node: Record<string, unknown> | unknown[] = out;
    for (let p = 0; p < parts.length; p += 1) {
      const part = parts[p]!;
      const last = p === parts.length - 1;
      if ((part === 'member' || part === 'entry') && /^\d+$/.test(parts[p + 1] ?? '')) continue; // the list marker: the index follows
      const isIndex = /^\d+$/.test(part) && (parts[p - 1] === 'member' || parts[p - 1] === 'entry');
      const nextIsList = (parts[p + 1] === 'member' || parts[p + 1] === 'entry') && /^\d+$/.test(parts[p + 2] ?? '');
      const slot: string | number = isIndex ? Number(part) - 1 : part;
      const container = node as Record<string | number, unknown>;
      if (last) {
        container[slot] = value;
      } else {
        container[slot] ??= nextIsList ? [] : {};
        node = container[slot] as Record<string, unknown> | unknown[];
      }
    }
  }
  return compactArrays(out) as Record<string, unknown>;
}

function compactArrays(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((v) => v !== undefined).map(compactArrays);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, compactArrays(v)]));
  return value;
}
