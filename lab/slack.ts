/**
 * Slack, locally: a receiver for the Web API calls the handlers make (chat.postMessage,
 * chat.update, response_url replies), and the interactivity endpoint — the real slack-callback
 * handler behind a local HTTP server, as API Gateway would run it. The lab's approver "clicks" by
 * sending a correctly signed interactivity request, exactly as Slack does.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { closeHttpServer, listenLocal } from '../local/net';
import { signedClick } from '../local/slack-click';

export interface SlackMessage {
  at: number;
  method: string;
  body: any;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The Slack Web API as the handlers see it (SLACK_API_URL = `${url}/api`). */
export class SlackReceiver {
  readonly messages: SlackMessage[] = [];
  private server?: Server;
  private ts = 0;
  url = '';
  onMessage?: (message: SlackMessage) => void;

  async start(): Promise<string> {
    this.server = createServer(async (req, res) => {
      const text = await readBody(req);
      let body: any;
      try {
        body = text ? JSON.parse(text) : {};
      } catch {
        body = { raw: text };
      }
      const method = (req.url ?? '').replace(/^\/api\//, '').replace(/^\//, '');
      const message = { at: Date.now(), method, body };
      this.messages.push(message);
      this.onMessage?.(message);
      this.ts += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, channel: body.channel ?? 'C0LAB', ts: body.ts ?? `${Math.floor(Date.now() / 1000)}.${String(this.ts).padStart(6, '0')}` }));
    });
    this.url = `http://127.0.0.1:${await listenLocal(this.server)}`;
    return this.url;
  }

  /** The approval ids of the approval requests posted so far (from the buttons' values). */
  approvalIds(): string[] {
    return this.messages
      .filter((m) => m.method === 'chat.postMessage')
      .flatMap((m) => (m.body.blocks ?? []) as Array<{ type: string; elements?: Array<{ action_id?: string; value?: string }> }>)
      .filter((b) => b.type === 'actions')
      .flatMap((b) => b.elements ?? [])
      .filter((e) => e.action_id === 'failover_approve')
      .map((e) => e.value!)
      .filter(Boolean);
  }

  async close(): Promise<void> {
    await closeHttpServer(this.server);
  }
}

type CallbackHandler = (event: APIGatewayProxyEventV2) => Promise<{ statusCode?: number; body?: string; headers?: Record<string, unknown> }>;

/** The Slack interactivity endpoint: the real slack-callback handler behind HTTP. */
export class SlackInteractivityEndpoint {
  private server?: Server;
  url = '';

  constructor(private readonly handler: CallbackHandler) {}

  async start(): Promise<string> {
    this.server = createServer(async (req, res) => {
      const body = await readBody(req);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      const result = await this.handler({
        version: '2.0',
        routeKey: 'POST /slack/interactions',
        rawPath: req.url ?? '/',
        rawQueryString: '',
        headers,
        requestContext: {} as never,
        body,
        isBase64Encoded: false,
      });
      res.writeHead(result.statusCode ?? 200, { 'content-type': 'text/plain' });
      res.end(result.body ?? '');
    });
    this.url = `http://127.0.0.1:${await listenLocal(this.server)}/slack/interactions`;
    return this.url;
  }

  /** Clicks Approve or Reject as `userId`, signed with the app's signing secret, as Slack would. */
  async click(opts: { approvalId: string; action: 'approve' | 'reject'; userId: string; signingSecret: string; responseUrl: string }): Promise<number> {
    const { rawBody, headers } = signedClick({ ...opts, username: `lab-${opts.userId.toLowerCase()}` });
    const url = new URL(this.url);
    return new Promise((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(rawBody) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(rawBody);
    });
  }

  async close(): Promise<void> {
    await closeHttpServer(this.server);
  }
}
