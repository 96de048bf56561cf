/**
 * DynamoDB condition and update expressions over AttributeValue JSON (`{ S: 'x' }`, `{ N: '1' }`,
 * `{ SS: [...] }`, `{ M: {...} }`, …), and `DynamoTables`, an in-memory set of tables with the
 * PutItem / GetItem / UpdateItem semantics the approvals store relies on.
 *
 * Parsed with a real tokenizer and recursive-descent parser, not regexes, so what DynamoDB rejects
 * is rejected here too (as `ValidationException`s the SDK names the same way):
 *   conditions  OR / AND / NOT / parentheses; = <> < <= > >=; BETWEEN; IN; attribute_exists,
 *               attribute_not_exists, attribute_type, begins_with, contains, size
 *   updates     SET (path = operand, a + b, a - b, if_not_exists, list_append), REMOVE, ADD, DELETE;
 *               every right-hand side is evaluated against the item as it was before the update
 *   paths       #alias or bare names, nested `a.b` and `a[0]`
 *   requests    undefined / unused #names and :values, empty ExpressionAttributeValues, overlapping
 *               update paths, updating a key attribute, a missing or mistyped key, empty sets and
 *               empty string keys are all ValidationExceptions, as in DynamoDB
 * Not checked: DynamoDB's reserved words (use #aliases anyway), item size limits, numeric precision
 * (N values are compared as JavaScript numbers).
 *
 * The lab no longer uses this file: its DynamoDB is dynalite (lab/control-plane/dynamodb-local.ts).
 * It stays, unchanged in behaviour, for test/helpers/fake-platform.ts (applyUpdate / conditionHolds)
 * until that fake moves to a real implementation too; then it can go.
 */
import { AwsApiError } from './backend';

/** DynamoDB AttributeValue JSON maps, passed through untouched. */
export type AttributeMap = Record<string, unknown>;

/** One AttributeValue in its JSON form, e.g. `{ S: 'x' }`. */
export type AttributeValueJson = Record<string, unknown>;
type Item = Record<string, unknown>;
type Names = Record<string, string> | undefined;
type Values = Record<string, unknown> | undefined;
type PathElement = string | number;
type Path = PathElement[];

const validation = (message: string): AwsApiError => new AwsApiError('ValidationException', message, 400);

// ---------------------------------------------------------------------------------------------
// Tokenizer

type TokenKind = 'alias' | 'value' | 'ident' | 'number' | 'punct' | 'eof';
interface Token {
  kind: TokenKind;
  text: string;
  pos: number;
}

const PUNCT = ['<>', '<=', '>=', '=', '<', '>', '(', ')', ',', '.', '[', ']', '+', '-'];

function tokenize(text: string, what: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const rest = text.slice(i);
    const m = /^#[A-Za-z0-9_]+/.exec(rest) ?? /^:[A-Za-z0-9_]+/.exec(rest) ?? /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest) ?? /^[0-9]+/.exec(rest);
    if (m) {
      const kind: TokenKind = c === '#' ? 'alias' : c === ':' ? 'value' : /[0-9]/.test(c) ? 'number' : 'ident';
      tokens.push({ kind, text: m[0], pos: i });
      i += m[0].length;
      continue;
    }
    const p = PUNCT.find((s) => rest.startsWith(s));
    if (!p) throw validation(`Invalid ${what}: Syntax error; token: "${c}", near: "${text.slice(Math.max(0, i - 5), i + 5)}"`);
    tokens.push({ kind: 'punct', text: p, pos: i });
    i += p.length;
  }
  tokens.push({ kind: 'eof', text: '<EOF>', pos: text.length });
  return tokens;
}

/** Names and values an expression refers to, for the defined / unused checks. */
interface Refs {
  names: Set<string>;
  values: Set<string>;
}

class Parser {
  private i = 0;
  private readonly tokens: Token[];
  constructor(
    private readonly text: string,
    private readonly what: string,
    readonly refs: Refs,
  ) {
    this.tokens = tokenize(text, what);
  }
  peek(offset = 0): Token {
    return this.tokens[Math.min(this.i + offset, this.tokens.length - 1)]!;
  }
  next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.i++;
    return t;
  }
  isKeyword(word: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.kind === 'ident' && t.text.toUpperCase() === word;
  }
  isPunct(p: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.kind === 'punct' && t.text === p;
  }
  expectPunct(p: string): void {
    if (!this.isPunct(p)) this.fail();
    this.next();
  }
  expectKeyword(word: string): void {
    if (!this.isKeyword(word)) this.fail();
    this.next();
  }
  atEnd(): boolean {
    return this.peek().kind === 'eof';
  }
  fail(): never {
    const t = this.peek();
    throw validation(`Invalid ${this.what}: Syntax error; token: "${t.text}", near: "${this.text.slice(Math.max(0, t.pos - 10), t.pos + 10)}"`);
  }

  /** `#alias` or bare name, then `.name` / `[n]` elements. */
  path(): Path {
    const out: Path = [this.pathName()];
    for (;;) {
      if (this.isPunct('.')) {
        this.next();
        out.push(this.pathName());
      } else if (this.isPunct('[')) {
        this.next();
        const t = this.next();
        if (t.kind !== 'number') this.fail();
        this.expectPunct(']');
        out.push(Number(t.text));
      } else {
        return out;
      }
    }
  }
  private pathName(): string {
    const t = this.peek();
    if (t.kind === 'alias') {
      this.next();
      this.refs.names.add(t.text);
      return t.text; // resolved at evaluation time
    }
    if (t.kind === 'ident' && !KEYWORDS.has(t.text.toUpperCase()) && !FUNCTIONS.has(t.text)) {
      this.next();
      return `=${t.text}`; // a literal name (marked so it cannot collide with an alias)
    }
    return this.fail();
  }
  valueRef(): string {
    const t = this.next();
    if (t.kind !== 'value') {
      this.i--;
      this.fail();
    }
    this.refs.values.add(t.text);
    return t.text;
  }
}

const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'BETWEEN', 'IN', 'SET', 'REMOVE', 'ADD', 'DELETE']);
const FUNCTIONS = new Set(['attribute_exists', 'attribute_not_exists', 'attribute_type', 'begins_with', 'contains', 'size', 'if_not_exists', 'list_append']);

// ---------------------------------------------------------------------------------------------
// Conditions

type Operand = { path: Path } | { value: string } | { size: Path };
type Condition =
  | { kind: 'or' | 'and'; left: Condition; right: Condition }
  | { kind: 'not'; inner: Condition }
  | { kind: 'compare'; op: string; left: Operand; right: Operand }
  | { kind: 'between'; subject: Operand; low: Operand; high: Operand }
  | { kind: 'in'; subject: Operand; list: Operand[] }
  | { kind: 'function'; name: string; path: Path; arg?: Operand };

const COMPARATORS = new Set(['=', '<>', '<', '<=', '>', '>=']);

function parseCondition(text: string, refs: Refs, what = 'ConditionExpression'): Condition {
  const p = new Parser(text, what, refs);
  if (p.atEnd()) throw validation(`Invalid ${what}: The expression can not be empty;`);
  const cond = orExpr(p);
  if (!p.atEnd()) p.fail();
  return cond;
}

function orExpr(p: Parser): Condition {
  let left = andExpr(p);
  while (p.isKeyword('OR')) {
    p.next();
    left = { kind: 'or', left, right: andExpr(p) };
  }
  return left;
}

function andExpr(p: Parser): Condition {
  let left = notExpr(p);
  while (p.isKeyword('AND')) {
    p.next();
    left = { kind: 'and', left, right: notExpr(p) };
  }
  return left;
}

function notExpr(p: Parser): Condition {
  if (p.isKeyword('NOT')) {
    p.next();
    return { kind: 'not', inner: notExpr(p) };
  }
  return primary(p);
}

function primary(p: Parser): Condition {
  if (p.isPunct('(')) {
    p.next();
    const inner = orExpr(p);
    p.expectPunct(')');
    return inner;
  }
  const t = p.peek();
  if (t.kind === 'ident' && FUNCTIONS.has(t.text) && t.text !== 'size' && p.isPunct('(', 1)) {
    if (t.text === 'if_not_exists' || t.text === 'list_append') p.fail();
    p.next();
    p.expectPunct('(');
    const path = p.path();
    let arg: Operand | undefined;
    if (t.text === 'attribute_type' || t.text === 'begins_with' || t.text === 'contains') {
      p.expectPunct(',');
      arg = operand(p);
    }
    p.expectPunct(')');
    return { kind: 'function', name: t.text, path, ...(arg ? { arg } : {}) };
  }
  const subject = operand(p);
  if (p.isKeyword('BETWEEN')) {
    p.next();
    const low = operand(p);
    p.expectKeyword('AND');
    return { kind: 'between', subject, low, high: operand(p) };
  }
  if (p.isKeyword('IN')) {
    p.next();
    p.expectPunct('(');
    const list = [operand(p)];
    while (p.isPunct(',')) {
      p.next();
      list.push(operand(p));
    }
    p.expectPunct(')');
    return { kind: 'in', subject, list };
  }
  const op = p.peek();
  if (op.kind !== 'punct' || !COMPARATORS.has(op.text)) p.fail();
  p.next();
  return { kind: 'compare', op: op.text, left: subject, right: operand(p) };
}

function operand(p: Parser): Operand {
  const t = p.peek();
  if (t.kind === 'value') return { value: p.valueRef() };
  if (t.kind === 'ident' && t.text === 'size' && p.isPunct('(', 1)) {
    p.next();
    p.next();
    const path = p.path();
    p.expectPunct(')');
    return { size: path };
  }
  return { path: p.path() };
}

// ---------------------------------------------------------------------------------------------
// Updates

type UpdateValue =
  | { kind: 'operand'; operand: Operand }
  | { kind: 'if_not_exists'; path: Path; fallback: UpdateValue }
  | { kind: 'list_append'; left: UpdateValue; right: UpdateValue }
  | { kind: 'plus' | 'minus'; left: UpdateValue; right: UpdateValue };

type UpdateAction =
  | { kind: 'SET'; path: Path; value: UpdateValue }
  | { kind: 'REMOVE'; path: Path }
  | { kind: 'ADD' | 'DELETE'; path: Path; value: string };

function parseUpdate(text: string, refs: Refs): UpdateAction[] {
  const what = 'UpdateExpression';
  const p = new Parser(text, what, refs);
  if (p.atEnd()) throw validation(`Invalid ${what}: The expression can not be empty;`);
  const actions: UpdateAction[] = [];
  const seen = new Set<string>();
  while (!p.atEnd()) {
    const t = p.next();
    const section = t.kind === 'ident' ? t.text.toUpperCase() : '';
    if (!['SET', 'REMOVE', 'ADD', 'DELETE'].includes(section)) {
      throw validation(`Invalid ${what}: Syntax error; token: "${t.text}", near: "${text.slice(Math.max(0, t.pos - 10), t.pos + 10)}"`);
    }
    if (seen.has(section)) throw validation(`Invalid ${what}: The "${section}" section can only be used once in an update expression;`);
    seen.add(section);
    for (;;) {
      const path = p.path();
      if (section === 'SET') {
        p.expectPunct('=');
        actions.push({ kind: 'SET', path, value: setValue(p) });
      } else if (section === 'REMOVE') {
        actions.push({ kind: 'REMOVE', path });
      } else {
        actions.push({ kind: section as 'ADD' | 'DELETE', path, value: p.valueRef() });
      }
      if (!p.isPunct(',')) break;
      p.next();
    }
  }
  return actions;
}

function setValue(p: Parser): UpdateValue {
  const left = setOperand(p);
  if (p.isPunct('+') || p.isPunct('-')) {
    const op = p.next().text;
    return { kind: op === '+' ? 'plus' : 'minus', left, right: setOperand(p) };
  }
  return left;
}

function setOperand(p: Parser): UpdateValue {
  const t = p.peek();
  if (t.kind === 'ident' && (t.text === 'if_not_exists' || t.text === 'list_append') && p.isPunct('(', 1)) {
    p.next();
    p.next();
    if (t.text === 'if_not_exists') {
      const path = p.path();
      p.expectPunct(',');
      const fallback = setOperand(p);
      p.expectPunct(')');
      return { kind: 'if_not_exists', path, fallback };
    }
    const left = setOperand(p);
    p.expectPunct(',');
    const right = setOperand(p);
    p.expectPunct(')');
    return { kind: 'list_append', left, right };
  }
  if (t.kind === 'value') return { kind: 'operand', operand: { value: p.valueRef() } };
  return { kind: 'operand', operand: { path: p.path() } };
}

// ---------------------------------------------------------------------------------------------
// Evaluation

function resolvePath(path: Path, names: Names): Path {
  return path.map((e) => {
    if (typeof e === 'number') return e;
    if (e.startsWith('=')) return e.slice(1);
    const name = names?.[e];
    if (name === undefined) throw validation(`An expression attribute name used in the document path is not defined; attribute name: ${e}`);
    return name;
  });
}

function checkDefined(refs: Refs, names: Names, values: Values): void {
  for (const n of refs.names) {
    if (names?.[n] === undefined) throw validation(`An expression attribute name used in the document path is not defined; attribute name: ${n}`);
  }
  for (const v of refs.values) {
    if (values?.[v] === undefined) throw validation(`An expression attribute value used in expression is not defined; attribute value: ${v}`);
  }
}

const typeOf = (v: AttributeValueJson | undefined): string | undefined => (v ? Object.keys(v)[0] : undefined);

function getAt(item: Item | undefined, path: Path): AttributeValueJson | undefined {
  let current: unknown = item ? { M: item } : undefined;
  for (const e of path) {
    const av = current as AttributeValueJson | undefined;
    if (!av) return undefined;
    if (typeof e === 'number') current = Array.isArray(av.L) ? av.L[e] : undefined;
    else current = av.M && typeof av.M === 'object' ? (av.M as Item)[e] : undefined;
  }
  return current as AttributeValueJson | undefined;
}

function operandValue(o: Operand, item: Item | undefined, names: Names, values: Values): AttributeValueJson | undefined {
  if ('value' in o) return values?.[o.value] as AttributeValueJson | undefined;
  if ('path' in o) return getAt(item, resolvePath(o.path, names));
  const v = getAt(item, resolvePath(o.size, names));
  if (!v) return undefined;
  const [t, inner] = Object.entries(v)[0] ?? [];
  let n: number;
  if (t === 'S') n = Buffer.byteLength(String(inner), 'utf8');
  else if (t === 'B') n = Buffer.from(String(inner), 'base64').length;
  else if (t === 'SS' || t === 'NS' || t === 'BS' || t === 'L') n = (inner as unknown[]).length;
  else if (t === 'M') n = Object.keys(inner as object).length;
  else throw validation(`Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: size, operand type: ${t}`);
  return { N: String(n) };
}

/** Deep equality of two AttributeValues (sets compare regardless of order). */
export function attributeEquals(a: AttributeValueJson | undefined, b: AttributeValueJson | undefined): boolean {
  if (!a || !b) return false;
  const ta = typeOf(a);
  if (ta !== typeOf(b)) return false;
  const va = a[ta!];
  const vb = b[ta!];
  switch (ta) {
    case 'N':
      return Number(va) === Number(vb);
    case 'SS':
    case 'BS':
      return sameSet(va as string[], vb as string[], (x) => x);
    case 'NS':
      return sameSet(va as string[], vb as string[], (x) => String(Number(x)));
    case 'L': {
      const la = va as AttributeValueJson[];
      const lb = vb as AttributeValueJson[];
      return la.length === lb.length && la.every((x, i) => attributeEquals(x, lb[i]));
    }
    case 'M': {
      const ma = va as Record<string, AttributeValueJson>;
      const mb = vb as Record<string, AttributeValueJson>;
      const keys = Object.keys(ma);
      return keys.length === Object.keys(mb).length && keys.every((k) => attributeEquals(ma[k], mb[k]));
    }
    default:
      return va === vb;
  }
}

function sameSet(a: string[], b: string[], norm: (x: string) => string): boolean {
  const sa = new Set(a.map(norm));
  const sb = new Set(b.map(norm));
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}

/** -1 / 0 / 1 for two N, S or B values of the same type; undefined when they cannot be ordered. */
function order(a: AttributeValueJson | undefined, b: AttributeValueJson | undefined): number | undefined {
  const t = typeOf(a);
  if (!a || !b || t !== typeOf(b)) return undefined;
  if (t === 'N') return Math.sign(Number(a.N) - Number(b.N));
  if (t === 'S') return Buffer.compare(Buffer.from(String(a.S), 'utf8'), Buffer.from(String(b.S), 'utf8'));
  if (t === 'B') return Buffer.compare(Buffer.from(String(a.B), 'base64'), Buffer.from(String(b.B), 'base64'));
  return undefined;
}

function evaluate(c: Condition, item: Item | undefined, names: Names, values: Values): boolean {
  switch (c.kind) {
    case 'or':
      return evaluate(c.left, item, names, values) || evaluate(c.right, item, names, values);
    case 'and':
      return evaluate(c.left, item, names, values) && evaluate(c.right, item, names, values);
    case 'not':
      return !evaluate(c.inner, item, names, values);
    case 'compare': {
      const l = operandValue(c.left, item, names, values);
      const r = operandValue(c.right, item, names, values);
      if (c.op === '=') return attributeEquals(l, r);
      if (c.op === '<>') return !attributeEquals(l, r);
      const o = order(l, r);
      if (o === undefined) return false;
      return c.op === '<' ? o < 0 : c.op === '<=' ? o <= 0 : c.op === '>' ? o > 0 : o >= 0;
    }
    case 'between': {
      const v = operandValue(c.subject, item, names, values);
      const lo = order(v, operandValue(c.low, item, names, values));
      const hi = order(v, operandValue(c.high, item, names, values));
      return lo !== undefined && hi !== undefined && lo >= 0 && hi <= 0;
    }
    case 'in': {
      const v = operandValue(c.subject, item, names, values);
      return c.list.some((o) => attributeEquals(v, operandValue(o, item, names, values)));
    }
    case 'function': {
      const v = getAt(item, resolvePath(c.path, names));
      const arg = c.arg ? operandValue(c.arg, item, names, values) : undefined;
      switch (c.name) {
        case 'attribute_exists':
          return v !== undefined;
        case 'attribute_not_exists':
          return v === undefined;
        case 'attribute_type':
          return v !== undefined && typeOf(v) === arg?.S;
        case 'begins_with':
          if (!v || typeOf(v) !== typeOf(arg)) return false;
          if (typeOf(v) === 'S') return String(v.S).startsWith(String(arg!.S));
          if (typeOf(v) === 'B') return Buffer.from(String(v.B), 'base64').subarray(0, Buffer.from(String(arg!.B), 'base64').length).equals(Buffer.from(String(arg!.B), 'base64'));
          return false;
        case 'contains': {
          if (!v || !arg) return false;
          const t = typeOf(v);
          if (t === 'S') return typeOf(arg) === 'S' && String(v.S).includes(String(arg.S));
          if (t === 'SS' || t === 'NS' || t === 'BS') return setHas(v, arg);
          if (t === 'L') return (v.L as AttributeValueJson[]).some((e) => attributeEquals(e, arg));
          return false;
        }
      }
      return false;
    }
  }
}

function setHas(set: AttributeValueJson, element: AttributeValueJson): boolean {
  const t = typeOf(set)!;
  const et = t.slice(0, 1);
  if (typeOf(element) !== et) return false;
  const norm = et === 'N' ? (x: string) => String(Number(x)) : (x: string) => x;
  return (set[t] as string[]).some((x) => norm(x) === norm(String(element[et])));
}

/**
 * True when `condition` holds for `item` (undefined: the item does not exist). No condition holds.
 * Throws a ValidationException for a malformed expression or an undefined #name / :value.
 */
export function conditionHolds(item: AttributeMap | undefined, condition: string | undefined, names?: Record<string, string>, values?: AttributeMap): boolean {
  if (condition === undefined) return true;
  const refs: Refs = { names: new Set(), values: new Set() };
  const parsed = parseCondition(condition, refs);
  checkDefined(refs, names, values);
  return evaluate(parsed, item, names, values);
}

function evaluateUpdateValue(u: UpdateValue, item: Item, names: Names, values: Values): AttributeValueJson | undefined {
  switch (u.kind) {
    case 'operand': {
      const v = operandValue(u.operand, item, names, values);
      if (v === undefined && 'path' in u.operand) {
        throw validation('The provided expression refers to an attribute that does not exist in the item');
      }
      return v;
    }
    case 'if_not_exists':
      return getAt(item, resolvePath(u.path, names)) ?? evaluateUpdateValue(u.fallback, item, names, values);
    case 'list_append': {
      const l = evaluateUpdateValue(u.left, item, names, values);
      const r = evaluateUpdateValue(u.right, item, names, values);
      if (typeOf(l) !== 'L' || typeOf(r) !== 'L') throw validation('Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append');
      return { L: [...(l!.L as unknown[]), ...(r!.L as unknown[])] };
    }
    case 'plus':
    case 'minus': {
      const l = evaluateUpdateValue(u.left, item, names, values);
      const r = evaluateUpdateValue(u.right, item, names, values);
      if (typeOf(l) !== 'N' || typeOf(r) !== 'N') {
        throw validation(`Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ${u.kind === 'plus' ? '+' : '-'}`);
      }
      const n = u.kind === 'plus' ? Number(l!.N) + Number(r!.N) : Number(l!.N) - Number(r!.N);
      return { N: String(n) };
    }
  }
}

/** Sets (or with `value` undefined, removes) the value at `path`; parents must exist. */
function putAt(item: Item, path: Path, value: AttributeValueJson | undefined): void {
  let container: unknown = item;
  for (let i = 0; i < path.length - 1; i++) {
    const e = path[i]!;
    const next: AttributeValueJson | undefined = Array.isArray(container)
      ? typeof e === 'number'
        ? (container[e] as AttributeValueJson | undefined)
        : undefined
      : typeof e === 'string'
        ? ((container as Item)[e] as AttributeValueJson | undefined)
        : undefined;
    const nextPath = path[i + 1]!;
    const inner = typeof nextPath === 'number' ? next?.L : next?.M;
    if (!inner || typeof inner !== 'object') {
      if (value === undefined) return; // removing below a missing parent is a no-op
      throw validation('The document path provided in the update expression is invalid for update');
    }
    container = inner;
  }
  const last = path[path.length - 1]!;
  if (Array.isArray(container)) {
    if (typeof last !== 'number') throw validation('The document path provided in the update expression is invalid for update');
    if (value === undefined) {
      if (last < container.length) container.splice(last, 1);
    } else if (last >= container.length) container.push(value);
    else container[last] = value;
    return;
  }
  if (typeof last !== 'string') throw validation('The document path provided in the update expression is invalid for update');
  if (value === undefined) delete (container as Item)[last];
  else (container as Item)[last] = value;
}

function addOrDelete(kind: 'ADD' | 'DELETE', current: AttributeValueJson | undefined, operand: AttributeValueJson): AttributeValueJson | undefined {
  const t = typeOf(operand)!;
  if (kind === 'ADD' && t === 'N') {
    if (current && typeOf(current) !== 'N') throw validation('An operand in the update expression has an incorrect data type');
    return { N: String(Number(current?.N ?? 0) + Number(operand.N)) };
  }
  if (t !== 'SS' && t !== 'NS' && t !== 'BS') {
    throw validation(`Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ${kind}, operand type: ${t === 'N' ? 'NUMBER' : t}`);
  }
  if (current && typeOf(current) !== t) throw validation('An operand in the update expression has an incorrect data type');
  const norm = t === 'NS' ? (x: string) => String(Number(x)) : (x: string) => x;
  const existing = (current?.[t] as string[] | undefined) ?? [];
  const change = operand[t] as string[];
  if (kind === 'ADD') {
    const seen = new Set(existing.map(norm));
    return { [t]: [...existing, ...change.filter((x) => !seen.has(norm(x)) && seen.add(norm(x)))] };
  }
  const drop = new Set(change.map(norm));
  const left = existing.filter((x) => !drop.has(norm(x)));
  return left.length > 0 ? { [t]: left } : undefined;
}

function pathsOverlap(a: Path, b: Path): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

const showPath = (p: Path): string => `[${p.map(String).join(', ')}]`;

interface ParsedUpdate {
  actions: Array<UpdateAction & { resolved: Path }>;
}

function prepareUpdate(update: string, names: Names, values: Values, refs: Refs): ParsedUpdate {
  const parsed = parseUpdate(update, refs);
  checkDefined(refs, names, values);
  const actions = parsed.map((a) => ({ ...a, resolved: resolvePath(a.path, names) }));
  for (let i = 0; i < actions.length; i++) {
    for (let j = i + 1; j < actions.length; j++) {
      if (pathsOverlap(actions[i]!.resolved, actions[j]!.resolved)) {
        throw validation(
          `Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: ${showPath(actions[i]!.resolved)}, path two: ${showPath(actions[j]!.resolved)}`,
        );
      }
    }
  }
  return { actions };
}

function runUpdate(item: Item, parsed: ParsedUpdate, names: Names, values: Values): void {
  const before = structuredClone(item);
  // Every right-hand side sees the item as it was before this update, as in DynamoDB.
  const planned = parsed.actions.map((a) => {
    if (a.kind === 'SET') return { path: a.resolved, value: evaluateUpdateValue(a.value, before, names, values) };
    if (a.kind === 'REMOVE') return { path: a.resolved, value: undefined };
    return { path: a.resolved, value: addOrDelete(a.kind, getAt(before, a.resolved), values![a.value] as AttributeValueJson) };
  });
  // Removals of list elements go last, highest index first, so they do not shift one another.
  const lastIndex = (p: Path): number => {
    const e = p[p.length - 1];
    return typeof e === 'number' ? e : -1;
  };
  const listRemovals = planned.filter((a) => a.value === undefined && lastIndex(a.path) >= 0).sort((x, y) => lastIndex(y.path) - lastIndex(x.path));
  const others = planned.filter((a) => !listRemovals.includes(a));
  for (const { path, value } of [...others, ...listRemovals]) putAt(item, path, value === undefined ? undefined : structuredClone(value));
}

/**
 * Applies an UpdateExpression to `item` in place (and returns it). Throws a ValidationException for a
 * malformed expression, an undefined #name / :value, overlapping paths or mistyped operands; the
 * item is left untouched then.
 */
export function applyUpdate<T extends AttributeMap>(item: T, update: string, names?: Record<string, string>, values?: AttributeMap): T {
  const refs: Refs = { names: new Set(), values: new Set() };
  const parsed = prepareUpdate(update, names, values, refs);
  const copy = structuredClone(item) as Item;
  runUpdate(copy, parsed, names, values);
  for (const k of Object.keys(item)) delete (item as Item)[k];
  Object.assign(item, copy);
  return item;
}

// ---------------------------------------------------------------------------------------------
// Attribute value validation

const TYPES = new Set(['S', 'N', 'B', 'SS', 'NS', 'BS', 'M', 'L', 'NULL', 'BOOL']);

function validateAttributeValue(v: unknown, where: string): void {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw validation(`One or more parameter values were invalid: ${where} is not an AttributeValue`);
  const keys = Object.keys(v);
  if (keys.length !== 1 || !TYPES.has(keys[0]!)) {
    throw validation(`Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes (${where})`);
  }
  const t = keys[0]!;
  const inner = (v as Record<string, unknown>)[t];
  if (t === 'SS' || t === 'NS' || t === 'BS') {
    const list = inner as unknown[];
    if (!Array.isArray(list) || list.length === 0) throw validation(`One or more parameter values were invalid: An ${t === 'SS' ? 'string' : t === 'NS' ? 'number' : 'binary'} set  may not be empty`);
    if (new Set(list.map(String)).size !== list.length) throw validation(`One or more parameter values were invalid: Input collection ${JSON.stringify(list)} contains duplicates.`);
  } else if (t === 'N') {
    if (typeof inner !== 'string' || !Number.isFinite(Number(inner)) || inner.trim() === '') throw validation(`The parameter cannot be converted to a numeric value: ${String(inner)}`);
  } else if (t === 'M') {
    for (const [k, x] of Object.entries(inner as object)) validateAttributeValue(x, `${where}.${k}`);
  } else if (t === 'L') {
    (inner as unknown[]).forEach((x, i) => validateAttributeValue(x, `${where}[${i}]`));
  }
}

// ---------------------------------------------------------------------------------------------
// Tables

export interface KeySchema {
  hashKey: string;
  rangeKey?: string;
}

interface ExpressionFields {
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: AttributeMap;
  ReturnValuesOnConditionCheckFailure?: string;
}
export type PutItemRequest = { TableName: string; Item: AttributeMap } & ExpressionFields;
export type GetItemRequest = { TableName: string; Key: AttributeMap };
export type UpdateItemRequest = { TableName: string; Key: AttributeMap; UpdateExpression?: string; ReturnValues?: string } & ExpressionFields;

/**
 * DynamoDB's ConditionalCheckFailedException. `fields` are extra members of the error body (the
 * control-plane server adds them to the response), here the current item when the request asked
 * for `ReturnValuesOnConditionCheckFailure: 'ALL_OLD'`; the SDK exposes it as `error.Item`.
 */
export class ConditionalCheckFailed extends AwsApiError {
  constructor(item?: AttributeMap) {
    super('ConditionalCheckFailedException', 'The conditional request failed', 400, item ? { Item: item } : {});
  }
}

/**
 * In-memory DynamoDB tables (items as AttributeValue JSON), for the lab world's DynamoDB backend.
 * Synchronous; every item going in or out is a copy. Errors are `AwsApiError`s named as DynamoDB
 * names them: ResourceNotFoundException, ValidationException, ConditionalCheckFailedException.
 */
export class DynamoTables {
  private readonly tables = new Map<string, { key: KeySchema; items: Map<string, Item> }>();

  /** `tables`: table name → key schema (or just the hash key's name). Keys are assumed to be S or N. */
  constructor(tables: Record<string, KeySchema | string> = {}) {
    for (const [name, key] of Object.entries(tables)) this.createTable(name, key);
  }

  createTable(name: string, key: KeySchema | string): void {
    this.tables.set(name, { key: typeof key === 'string' ? { hashKey: key } : key, items: new Map() });
  }

  /** Every item of a table (copies), for inspection. */
  scan(tableName: string): AttributeMap[] {
    return [...this.table(tableName).items.values()].map((i) => structuredClone(i));
  }

  putItem(req: PutItemRequest): void {
    const table = this.table(req.TableName);
    if (!req.Item || typeof req.Item !== 'object') throw validation('1 validation error detected: Value null at \'item\' failed to satisfy constraint: Member must not be null');
    for (const [k, v] of Object.entries(req.Item)) validateAttributeValue(v, k);
    const id = this.keyId(table.key, req.Item, 'item');
    const refs = this.checkRequest(req.ExpressionAttributeNames, req.ExpressionAttributeValues, [[req.ConditionExpression, 'condition']]);
    const current = table.items.get(id);
    if (req.ConditionExpression !== undefined) {
      const cond = parseCondition(req.ConditionExpression, refs);
      if (!evaluate(cond, current, req.ExpressionAttributeNames, req.ExpressionAttributeValues)) {
        throw new ConditionalCheckFailed(req.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && current ? structuredClone(current) : undefined);
      }
    }
    table.items.set(id, structuredClone(req.Item) as Item);
  }

  getItem(req: GetItemRequest): AttributeMap | undefined {
    const table = this.table(req.TableName);
    const id = this.keyId(table.key, req.Key, 'key', true);
    const item = table.items.get(id);
    return item ? structuredClone(item) : undefined;
  }

  /**
   * UpdateItem: creates the item when it does not exist (unless the condition fails). Returns what
   * `ReturnValues` asks for (NONE / absent → undefined; ALL_NEW, ALL_OLD, UPDATED_NEW, UPDATED_OLD).
   */
  updateItem(req: UpdateItemRequest): AttributeMap | undefined {
    const table = this.table(req.TableName);
    const id = this.keyId(table.key, req.Key, 'key', true);
    const names = req.ExpressionAttributeNames;
    const values = req.ExpressionAttributeValues;
    const refs = this.checkRequest(names, values, [
      [req.ConditionExpression, 'condition'],
      [req.UpdateExpression, 'update'],
    ]);
    const current = table.items.get(id);
    if (req.ConditionExpression !== undefined) {
      const cond = parseCondition(req.ConditionExpression, refs);
      if (!evaluate(cond, current, names, values)) {
        throw new ConditionalCheckFailed(req.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && current ? structuredClone(current) : undefined);
      }
    }
    const before = current ? structuredClone(current) : undefined;
    const item: Item = before ? structuredClone(before) : (structuredClone(req.Key) as Item);
    let touched: string[] = [];
    if (req.UpdateExpression !== undefined) {
      const parsed = prepareUpdate(req.UpdateExpression, names, values, { names: new Set(), values: new Set() });
      const keys = [table.key.hashKey, table.key.rangeKey].filter((k): k is string => !!k);
      for (const a of parsed.actions) {
        const top = a.resolved[0] as string;
        if (keys.includes(top)) throw validation(`One or more parameter values were invalid: Cannot update attribute ${top}. This attribute is part of the key`);
      }
      runUpdate(item, parsed, names, values);
      touched = [...new Set(parsed.actions.map((a) => a.resolved[0] as string))];
    }
    table.items.set(id, item);
    const pick = (from: Item | undefined): AttributeMap | undefined => {
      if (!from) return undefined;
      const out = Object.fromEntries(touched.filter((k) => from[k] !== undefined).map((k) => [k, structuredClone(from[k])]));
      return Object.keys(out).length > 0 ? out : undefined;
    };
    switch (req.ReturnValues ?? 'NONE') {
      case 'NONE':
        return undefined;
      case 'ALL_NEW':
        return structuredClone(item);
      case 'ALL_OLD':
        return before;
      case 'UPDATED_NEW':
        return pick(item);
      case 'UPDATED_OLD':
        return pick(before);
      default:
        throw validation(`1 validation error detected: Value '${req.ReturnValues}' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]`);
    }
  }

  private table(name: string) {
    const t = this.tables.get(name);
    if (!t) throw new AwsApiError('ResourceNotFoundException', 'Requested resource not found', 400);
    return t;
  }

  /** The stored id of an item's key; `exact`: the map must hold the key attributes and nothing else. */
  private keyId(key: KeySchema, map: AttributeMap | undefined, what: 'item' | 'key', exact = false): string {
    const names = [key.hashKey, key.rangeKey].filter((k): k is string => !!k);
    if (!map) throw validation('The provided key element does not match the schema');
    if (exact && Object.keys(map).length !== names.length) throw validation('The provided key element does not match the schema');
    const parts = names.map((n) => {
      const v = map[n] as AttributeValueJson | undefined;
      if (!v) throw validation(what === 'item' ? `One or more parameter values were invalid: Missing the key ${n} in the item` : 'The provided key element does not match the schema');
      const t = typeOf(v);
      if (t !== 'S' && t !== 'N' && t !== 'B') throw validation('The provided key element does not match the schema');
      if (v[t] === '') throw validation(`One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: ${n}`);
      return { [t]: t === 'N' ? String(Number(v.N)) : v[t] };
    });
    return JSON.stringify(parts);
  }

  /** The request-level checks DynamoDB makes before evaluating anything. */
  private checkRequest(names: Names, values: Values, expressions: Array<[string | undefined, 'condition' | 'update']>): Refs {
    if (values !== undefined && Object.keys(values).length === 0) throw validation('ExpressionAttributeValues must not be empty');
    if (names !== undefined && Object.keys(names).length === 0) throw validation('ExpressionAttributeNames must not be empty');
    const present = expressions.filter(([e]) => e !== undefined);
    if (present.length === 0 && names !== undefined) throw validation('ExpressionAttributeNames can only be specified when using expressions');
    if (present.length === 0 && values !== undefined) throw validation('ExpressionAttributeValues can only be specified when using expressions');
    for (const [k, v] of Object.entries(values ?? {})) validateAttributeValue(v, k);
    const all: Refs = { names: new Set(), values: new Set() };
    for (const [text, kind] of present) {
      if (kind === 'condition') parseCondition(text!, all);
      else parseUpdate(text!, all);
    }
    checkDefined(all, names, values);
    const unusedNames = Object.keys(names ?? {}).filter((n) => !all.names.has(n));
    if (unusedNames.length > 0) throw validation(`Value provided in ExpressionAttributeNames unused in expressions: keys: {${unusedNames.join(', ')}}`);
    const unusedValues = Object.keys(values ?? {}).filter((v) => !all.values.has(v));
    if (unusedValues.length > 0) throw validation(`Value provided in ExpressionAttributeValues unused in expressions: keys: {${unusedValues.join(', ')}}`);
    return { names: new Set(), values: new Set() };
  }
}
