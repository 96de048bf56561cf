/**
 * DynamoDB for tests: the lab's DynamoLocal (dynalite in memory, local/aws/dynamodb-local.ts)
 * behind a small HTTP endpoint on 127.0.0.1 (free port). The handlers' real DynamoDBClient
 * (functions/core/clients.ts) reaches it through the SDK's standard `AWS_ENDPOINT_URL_DYNAMODB`, so
 * condition and update expressions are judged by a maintained DynamoDB implementation, not by our
 * own reading of them, and a failed condition carries the item when ReturnValuesOnConditionCheckFailure
 * is ALL_OLD, as on AWS (DynamoLocal fills that dynalite gap).
 *
 * The endpoint exists (rather than pointing the SDK at dynalite directly) so a synchronous
 * `resetTables()` can empty the tables before the next request: every request waits until the
 * resets queued before it are done. The fake platform's `installFakePlatform` is synchronous and
 * runs the handlers right after, so this is what gives each installed platform empty tables.
 *
 * Lifecycle: `startTestDynamoDb()` in a beforeAll (test/setup-dynamodb.js does it for the
 * statemachine project), `stopTestDynamoDb()` in the afterAll.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { resetClients } from '../../functions/core/clients';
import { DynamoLocal, LAB_AUTHORIZATION } from '../../local/aws/dynamodb-local';

/** A table as the stack creates it: a string hash key, PAY_PER_REQUEST. */
export interface TableSpec {
  name: string;
  hashKey: string;
}

type Item = Record<string, AttributeValue>;

/** Headers dynalite requires on requests the helper itself sends (it does not verify signatures). */
const OWN_HEADERS = { 'content-type': 'application/x-amz-json-1.0', authorization: LAB_AUTHORIZATION, 'x-amz-date': '20250101T000000Z' };
/** Hop-by-hop headers of dynalite's answer, which belong to its connection, not to ours. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date']);

export class TestDynamoDb {
  private readonly dynamo = new DynamoLocal();
  private server?: Server;
  /** Resets queued so far; every request waits for it. */
  private resets: Promise<void> = Promise.resolve();
  endpoint = '';

  /** Starts the endpoint (and dynalite) on 127.0.0.1, a free port. */
  async start(): Promise<string> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    server.unref();
    this.server = server;
    this.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.endpoint;
  }

  /**
   * Creates each table unless it exists and deletes every item in it, before any later request is
   * answered. Synchronous on purpose (see the file comment); `await ready()` to see a failure.
   */
  resetTables(tables: TableSpec[]): void {
    this.resets = this.resets
      .catch(() => undefined)
      .then(async () => {
        for (const t of tables) await this.emptyTable(t);
      });
  }

  /** Resolves once the queued resets are done (rejects with the reset's error). */
  ready(): Promise<void> {
    return this.resets;
  }

  /** Every item of a table (one Scan page; test tables hold a handful of items). */
  async items(table: string): Promise<Item[]> {
    await this.ready();
    const out = await this.call('Scan', { TableName: table, ConsistentRead: true });
    return (out as { Items?: Item[] }).Items ?? [];
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await this.dynamo.close();
  }

  private async emptyTable(table: TableSpec): Promise<void> {
    await this.dynamo.ensureTable(table.name, table.hashKey);
    const out = (await this.call('Scan', { TableName: table.name, ConsistentRead: true })) as { Items?: Item[] };
    for (const item of out.Items ?? []) await this.call('DeleteItem', { TableName: table.name, Key: { [table.hashKey]: item[table.hashKey] } });
  }

  /** One DynamoDB call of the helper's own, straight to dynalite (not waiting for the resets). */
  private async call(operation: string, input: object): Promise<unknown> {
    const answer = await this.dynamo.forward({ target: `DynamoDB_20120810.${operation}`, body: JSON.stringify(input), headers: OWN_HEADERS });
    if (answer.status !== 200) throw new Error(`dynalite ${operation} failed: ${answer.status} ${answer.body}`);
    return JSON.parse(answer.body);
  }

  /** Answers one SDK request with dynalite's answer, after the resets queued before it. */
  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const body = await readBody(req);
      await this.resets;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      const answer = await this.dynamo.forward({ target: headers['x-amz-target'] ?? '', body, headers });
      const out = Object.fromEntries(Object.entries(answer.headers).filter(([k]) => !HOP_BY_HOP.has(k)));
      res.writeHead(answer.status, { ...out, 'content-length': String(Buffer.byteLength(answer.body)) }).end(answer.body);
    } catch (error) {
      // A failed reset or a dynalite failure: visible to the handler as a 500, and in the test's output.
      const body = JSON.stringify({ __type: 'InternalServerError', message: `test DynamoDB: ${(error as Error).message}` });
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(body);
    }
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

let current: TestDynamoDb | undefined;

/** Starts this test file's DynamoDB and points the SDK at it (AWS_ENDPOINT_URL_DYNAMODB; cached clients forgotten). */
export async function startTestDynamoDb(): Promise<TestDynamoDb> {
  if (current) return current;
  const db = new TestDynamoDb();
  process.env.AWS_ENDPOINT_URL_DYNAMODB = await db.start();
  resetClients();
  current = db;
  return db;
}

/** The running test DynamoDB; throws when the test file did not start one. */
export function testDynamoDb(): TestDynamoDb {
  if (!current) throw new Error('no test DynamoDB: call startTestDynamoDb() in a beforeAll (the statemachine project does it in test/setup-dynamodb.js)');
  return current;
}

/** Closes it and takes the endpoint away again (jest reuses the worker's process.env for the next file). */
export async function stopTestDynamoDb(): Promise<void> {
  const db = current;
  current = undefined;
  delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
  resetClients();
  await db?.close();
}
