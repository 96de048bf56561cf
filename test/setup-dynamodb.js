/**
 * statemachine project (after setup-after-env.js): one in-memory DynamoDB (dynalite, on 127.0.0.1)
 * per test file, which the handlers' real DynamoDBClient reaches through AWS_ENDPOINT_URL_DYNAMODB.
 * test/helpers/fake-platform.ts empties its tables whenever a test installs the platform.
 */
const { startTestDynamoDb, stopTestDynamoDb } = require('./helpers/dynamodb');

beforeAll(async () => {
  await startTestDynamoDb();
});

afterAll(async () => {
  await stopTestDynamoDb();
});
