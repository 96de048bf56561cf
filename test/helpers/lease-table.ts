/**
 * The single-flight lease table on dynalite, an in-memory DynamoDB on 127.0.0.1 (free port), so that
 * the lease's conditional writes (functions/core/single-flight.ts) are judged by a DynamoDB engine,
 * not by our own reading of the expressions. Shared by the tests of the lease and of the stage that
 * takes it (accept-start-request).
 */
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Server } from 'node:http';
import { resetClients } from '../../functions/core/clients';
import { startDynalite } from '../../local/aws/dynamodb-local';

/**
 * Registers, in the calling describe block (or the file's top level), the hooks that start dynalite
 * once and point the SDK at it (AWS_ENDPOINT_URL_DYNAMODB), give every test a fresh, empty lease
 * table (env LEASE_TABLE, hash key leaseId, as the stack and the lab create it) and clients built
 * afresh, and stop the server and clear the environment at the end.
 */
export function useDynaliteLeaseTable(): void {
  let server: Server;
  let raw: DynamoDBClient;
  let tableSeq = 0;

  beforeAll(async () => {
    const started = await startDynalite();
    server = started.server;
    const endpoint = `http://127.0.0.1:${started.port}`;
    process.env.AWS_ENDPOINT_URL_DYNAMODB = endpoint;
    raw = new DynamoDBClient({ region: 'eu-west-1', endpoint });
  });

  afterAll(async () => {
    delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
    delete process.env.LEASE_TABLE;
    resetClients();
    raw.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(async () => {
    resetClients();
    const name = `failover-orchestrator-test-leases-${++tableSeq}`;
    await raw.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: [{ AttributeName: 'leaseId', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'leaseId', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    while ((await raw.send(new DescribeTableCommand({ TableName: name }))).Table?.TableStatus !== 'ACTIVE') await new Promise((r) => setTimeout(r, 5));
    process.env.LEASE_TABLE = name;
  });
}
