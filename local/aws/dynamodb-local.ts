/**
 * DynamoDB for the lab: a real, well-kept implementation (dynalite, in memory) instead of a
 * hand-written expression evaluator. The control plane forwards each DynamoDB request to it as it
 * arrived and returns its answer unchanged, so condition and update expressions, validation
 * messages and error codes are dynalite's, which follows DynamoDB's.
 *
 * One gap is filled here: dynalite ignores `ReturnValuesOnConditionCheckFailure`, which DynamoDB
 * honours by returning the item in the ConditionalCheckFailedException
 * (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html,
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PutItem.html). When a request
 * asks for ALL_OLD and fails its condition, the current item is read back (consistently) and added.
 */
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { RawJsonRequest, RawJsonResponse } from './backend';

// dynalite has no type declarations: it returns an http.Server.
const dynalite = require('dynalite') as (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

/** Signature-shaped header dynalite requires (it does not verify signatures, as the rest of the lab). */
export const LAB_AUTHORIZATION = 'AWS4-HMAC-SHA256 Credential=lab/20250101/eu-west-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32 of a body: DynamoDB answers carry it in `x-amz-crc32`, and botocore (the AWS CLI) checks it. */
export function crc32(text: string): number {
  let c = 0xffffffff;
  for (const byte of Buffer.from(text, 'utf8')) c = (CRC_TABLE[(c ^ byte) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const FORWARDED_HEADERS = ['content-type', 'x-amz-target', 'authorization', 'x-amz-date', 'x-amz-security-token'];

/**
 * Starts one dynalite (in memory, tables ACTIVE at once) on 127.0.0.1, a free port. Shared by the
 * lab (DynamoLocal) and the tests (test/helpers/dynamodb.ts), so DynamoDB starts the same way everywhere.
 */
export function startDynalite(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      // Never what keeps a process alive (a drill that forgot close() still exits).
      server.unref();
      resolve({ server, port: (server.address() as AddressInfo).port });
    });
  });
}

export class DynamoLocal {
  private started?: Promise<{ server: Server; port: number }>;

  /** Starts dynalite on 127.0.0.1 (a free port) at first use. */
  private start(): Promise<{ server: Server; port: number }> {
    this.started ??= startDynalite();
    return this.started;
  }

  private async send(target: string, body: string, headers: Record<string, string>): Promise<RawJsonResponse> {
    const { port } = await this.start();
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method: 'POST', path: '/', agent: false, headers: { ...headers, 'x-amz-target': target, 'content-length': String(Buffer.byteLength(body)) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const out: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') out[k] = v;
            resolve({ status: res.statusCode ?? 500, headers: out, body: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Forwards one DynamoDB request and returns dynalite's answer (plus the item on a failed condition when asked). */
  async forward(req: RawJsonRequest): Promise<RawJsonResponse> {
    const headers: Record<string, string> = {};
    for (const h of FORWARDED_HEADERS) {
      const value = req.headers[h];
      if (value !== undefined) headers[h] = value;
    }
    const answer = await this.send(req.target, req.body, headers);
    return this.withOldItemOnConditionFailure(req, headers, answer);
  }

  private async withOldItemOnConditionFailure(req: RawJsonRequest, headers: Record<string, string>, answer: RawJsonResponse): Promise<RawJsonResponse> {
    if (answer.status !== 400 || !answer.body.includes('ConditionalCheckFailedException')) return answer;
    let input: { TableName?: string; Key?: unknown; Item?: Record<string, unknown>; ReturnValuesOnConditionCheckFailure?: string };
    try {
      input = JSON.parse(req.body);
    } catch {
      return answer;
    }
    if (input.ReturnValuesOnConditionCheckFailure !== 'ALL_OLD' || !input.TableName) return answer;
    const key = input.Key ?? (await this.keyOf(input.TableName, input.Item ?? {}, headers));
    if (!key) return answer;
    const got = await this.send('DynamoDB_20120810.GetItem', JSON.stringify({ TableName: input.TableName, Key: key, ConsistentRead: true }), headers);
    const item = (JSON.parse(got.body) as { Item?: unknown }).Item;
    if (got.status !== 200 || !item) return answer;
    const body = JSON.stringify({ ...(JSON.parse(answer.body) as object), Item: item });
    return { ...answer, body, headers: { ...answer.headers, 'content-length': String(Buffer.byteLength(body)), 'x-amz-crc32': String(crc32(body)) } };
  }

  /** The key attributes of a PutItem's item, from the table's schema. */
  private async keyOf(table: string, item: Record<string, unknown>, headers: Record<string, string>): Promise<Record<string, unknown> | undefined> {
    const described = await this.send('DynamoDB_20120810.DescribeTable', JSON.stringify({ TableName: table }), headers);
    const schema = (JSON.parse(described.body) as { Table?: { KeySchema?: Array<{ AttributeName: string }> } }).Table?.KeySchema;
    if (!schema) return undefined;
    return Object.fromEntries(schema.map((k) => [k.AttributeName, item[k.AttributeName]]));
  }

  /**
   * Creates a table with a string hash key (and an optional string range key) unless it exists,
   * as the stack would (PAY_PER_REQUEST). Resolves once the table is ACTIVE (dynalite: at once).
   */
  async ensureTable(name: string, hashKey: string, rangeKey?: string): Promise<void> {
    const headers = { 'content-type': 'application/x-amz-json-1.0', authorization: LAB_AUTHORIZATION, 'x-amz-date': '20250101T000000Z' };
    const keys = [{ AttributeName: hashKey, KeyType: 'HASH' }, ...(rangeKey ? [{ AttributeName: rangeKey, KeyType: 'RANGE' }] : [])];
    const body = JSON.stringify({
      TableName: name,
      KeySchema: keys,
      AttributeDefinitions: keys.map((k) => ({ AttributeName: k.AttributeName, AttributeType: 'S' })),
      BillingMode: 'PAY_PER_REQUEST',
    });
    const answer = await this.send('DynamoDB_20120810.CreateTable', body, headers);
    if (answer.status !== 200 && !answer.body.includes('ResourceInUseException')) throw new Error(`dynalite CreateTable ${name} failed: ${answer.status} ${answer.body}`);
    // A new table is CREATING before it is ACTIVE (even with createTableMs 0 the switch happens on a
    // later tick), and item calls on a CREATING table answer ResourceNotFoundException, as on AWS:
    // wait for ACTIVE (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html).
    for (let attempt = 0; attempt < 200; attempt++) {
      const described = await this.send('DynamoDB_20120810.DescribeTable', JSON.stringify({ TableName: name }), headers);
      if (described.status === 200 && (JSON.parse(described.body) as { Table?: { TableStatus?: string } }).Table?.TableStatus === 'ACTIVE') return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error(`dynalite table ${name} did not become ACTIVE`);
  }

  async close(): Promise<void> {
    const started = this.started;
    this.started = undefined;
    if (!started) return;
    const { server } = await started;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
