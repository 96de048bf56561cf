/**
 * The Slack callback answers Slack before it talks to Slack, proven over real sockets:
 *   - the click's `response_url` is a real 127.0.0.1 server that accepts connections and never answers;
 *   - the Lambda API (`AWS_ENDPOINT_URL_LAMBDA`) is a real 127.0.0.1 server, so the hand-off is the
 *     real SDK request (`POST /2015-03-31/functions/{name}/invocations`, `X-Amz-Invocation-Type: Event`).
 * DynamoDB, Step Functions and SSM are aws-sdk-client-mock stubs. No wall-clock assertion: "did not
 * wait" is shown by what the servers had received when the handler returned, and jest's timeout is the
 * bound where something would otherwise hang.
 *
 * Slack: answer within 3 s, later changes through response_url
 * (https://docs.slack.dev/interactivity/handling-user-interaction); Lambda Invoke, InvocationType Event
 * (https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html).
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { resetClients } from '../../functions/core/clients';
import { createSlackCallbackHandler, UPDATE_TASK_KIND, type SlackUpdateTask } from '../../functions/slack-callback';
import { approvalAttributes, approvalFixture } from '../helpers/fixtures';

const ddb = mockClient(DynamoDBClient);
const sfn = mockClient(SFNClient);
const ssm = mockClient(SSMClient);

const SIGNING_SECRET = 'e3b0c44298fc1c149afbf4c8996fb924';
const NOW_MS = Date.parse('2025-03-04T10:05:00.000Z');
const FUNCTION_NAME = 'failover-orchestrator-example-slackCallback';
const item = approvalFixture();
const handler = createSlackCallbackHandler(() => NOW_MS);

const savedEnv = { ...process.env };
beforeAll(() => {
  process.env.APPROVALS_TABLE = 'failover-approvals';
  process.env.SLACK_SIGNING_SECRET_PARAMETER = '/failover/example/slack-signing-secret';
  process.env.AWS_LAMBDA_FUNCTION_NAME = FUNCTION_NAME;
});
afterAll(() => {
  process.env = savedEnv;
  resetClients();
});

interface Recorded {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A real HTTP server on 127.0.0.1 (port 0) that records what reaches it; `answer` undefined = never answers. */
class LocalServer {
  readonly requests: Recorded[] = [];
  connections = 0;
  url = '';
  private readonly server: Server;

  constructor(private readonly answer?: (req: Recorded, res: ServerResponse) => void) {
    this.server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      this.requests.push(recorded);
      this.answer?.(recorded, res); // no answer: the socket stays open, as a hanging endpoint's does
    });
    this.server.on('connection', () => (this.connections += 1));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const servers: LocalServer[] = [];
async function server(answer?: (req: Recorded, res: ServerResponse) => void): Promise<LocalServer> {
  const s = await new LocalServer(answer).start();
  servers.push(s);
  return s;
}

/** The Lambda API as far as an `Event` invocation goes: 202, empty body. */
const lambdaAccepts = (_req: Recorded, res: ServerResponse) => {
  res.writeHead(202, { 'content-type': 'application/json', 'x-amzn-requestid': 'req-1' });
  res.end();
};
/** A Slack response_url that takes the message. */
const slackTakes = (_req: Recorded, res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('ok');
};

/** Points the callback's Lambda client at `lambdaApi` (the SDK's service-specific endpoint setting). */
function useLambdaApi(lambdaApi: LocalServer): void {
  process.env.AWS_ENDPOINT_URL_LAMBDA = lambdaApi.url;
  resetClients();
}

function signedClick(responseUrl: string): APIGatewayProxyEventV2 {
  const payload = {
    type: 'block_actions',
    user: { id: 'U0123ABCDEF', username: 'alice' },
    response_url: responseUrl,
    message: {
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: item.summary } },
        { type: 'actions', block_id: 'approval_actions', elements: [] },
      ],
    },
    actions: [{ type: 'button', action_id: 'failover_approve', value: item.approvalId }],
  };
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = String(Math.floor(NOW_MS / 1000));
  const signature = `v0=${createHmac('sha256', SIGNING_SECRET).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return {
    version: '2.0',
    routeKey: 'POST /slack/interactions',
    rawPath: '/slack/interactions',
    rawQueryString: '',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': timestamp, 'x-slack-signature': signature },
    requestContext: {
      http: { method: 'POST', path: '/slack/interactions', protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'Slackbot' },
    } as APIGatewayProxyEventV2['requestContext'],
    body,
    isBase64Encoded: false,
  };
}

beforeEach(() => {
  ddb.reset();
  sfn.reset();
  ssm.reset();
  ssm.on(GetParameterCommand).resolves({ Parameter: { Value: SIGNING_SECRET } });
  ddb.on(GetItemCommand).resolves({ Item: approvalAttributes(item) });
  ddb.on(UpdateItemCommand, { ConditionExpression: '#status = :pending' }).resolves({ Attributes: approvalAttributes({ ...item, status: 'deciding', decidedBy: 'U0123ABCDEF' }) });
  ddb.on(UpdateItemCommand, { ConditionExpression: '#status = :from' }).resolves({});
  sfn.on(SendTaskSuccessCommand).resolves({});
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

describe('slack-callback answers Slack within its 3 s, whatever Slack does', () => {
  it('answers 200 with a response_url that accepts and never answers: decision delivered, response_url not even contacted, update queued as an Event invocation of itself', async () => {
    const responseUrl = await server(); // accepts, never answers
    const lambdaApi = await server(lambdaAccepts);
    useLambdaApi(lambdaApi);

    const result = await handler(signedClick(`${responseUrl.url}/actions/T0123/456/SECRETPART`));

    expect(result).toMatchObject({ statusCode: 200, body: '' });
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: item.taskToken });
    // Did not wait: the response_url had not been contacted at all when the answer was ready.
    expect(responseUrl.connections).toBe(0);
    expect(responseUrl.requests).toEqual([]);
    // The update went to Lambda instead, as an asynchronous invocation of this very function.
    expect(lambdaApi.requests).toHaveLength(1);
    const [invoke] = lambdaApi.requests;
    expect(invoke!.method).toBe('POST');
    expect(invoke!.path).toBe(`/2015-03-31/functions/${FUNCTION_NAME}/invocations`);
    expect(invoke!.headers['x-amz-invocation-type']).toBe('Event');
    const task = JSON.parse(invoke!.body) as SlackUpdateTask;
    expect(task).toMatchObject({ kind: UPDATE_TASK_KIND, what: 'approved', responseUrl: `${responseUrl.url}/actions/T0123/456/SECRETPART`, message: { replace_original: true } });
  });

  it('the queued invocation, delivered back to the handler as Lambda would, replaces the Slack message through the response_url', async () => {
    const slackHook = await server(slackTakes);
    const lambdaApi = await server(lambdaAccepts);
    useLambdaApi(lambdaApi);

    await handler(signedClick(`${slackHook.url}/actions/T0123/456/SECRETPART`));
    expect(slackHook.requests).toEqual([]);

    const outcome = await handler(JSON.parse(lambdaApi.requests[0]!.body) as SlackUpdateTask);

    expect(outcome).toEqual({ updated: true });
    expect(slackHook.requests).toHaveLength(1);
    const update = JSON.parse(slackHook.requests[0]!.body);
    expect(slackHook.requests[0]!.path).toBe('/actions/T0123/456/SECRETPART');
    expect(update.replace_original).toBe(true);
    expect(JSON.stringify(update.blocks)).toContain('*Approved* by <@U0123ABCDEF>');
    expect(update.blocks.some((b: { type: string }) => b.type === 'actions')).toBe(false);
  });

  it('answers even when the Lambda API itself hangs: the hand-off is abandoned within its budget and the decision stands (bound: the jest timeout)', async () => {
    const slackHook = await server(slackTakes);
    const lambdaApi = await server(); // accepts, never answers
    useLambdaApi(lambdaApi);

    const result = await handler(signedClick(`${slackHook.url}/actions/T0123/456/SECRETPART`));

    expect(result.statusCode).toBe(200);
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    expect(lambdaApi.requests).toHaveLength(1); // tried once, not retried after the abort
    expect(slackHook.requests).toEqual([]);
  }, 4_000);
});
