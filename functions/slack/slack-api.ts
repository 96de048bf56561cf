/**
 * The one module that talks to Slack: `chat.postMessage`, `chat.update`, and replies through an
 * interaction's `response_url`.
 *
 * Slack's Web API answers HTTP 200 with `{ ok: false, error }` when it refuses a call; that becomes
 * `NotificationFailed` naming the method and Slack's error code. Rate limiting, 5xx, timeouts and
 * network failures become `SlackUnavailable`, which a state machine may retry. The bot token goes in
 * the Authorization header and nowhere else: never in a log line or an error message.
 *
 * The base URL comes from `SLACK_API_URL` (default `https://slack.com/api`), which is how the local
 * lab points the unchanged code at its Slack receiver.
 */
import { NotificationFailedError, SlackUnavailableError } from '../core/errors';
import { logger, redact } from '../core/powertools';

const TIMEOUT_MS = 5_000;

/** Slack error codes that mean "try again later" rather than "this will never work". */
const TRANSIENT_SLACK_ERRORS = new Set(['ratelimited', 'rate_limited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout']);

/** A Block Kit block. Kept loose on purpose: Slack validates blocks, we only build them. */
export type Block = Record<string, unknown>;

export interface SlackMessage {
  text: string;
  blocks?: Block[];
}

let baseUrl: string | undefined;

/** `SLACK_API_URL`, read once per container. */
function apiBase(): string {
  if (baseUrl === undefined) baseUrl = (process.env.SLACK_API_URL || 'https://slack.com/api').replace(/\/+$/, '');
  return baseUrl;
}

/** Posts a message to a channel; returns where it landed, so the message can be updated later. */
export async function postMessage(token: string, message: SlackMessage & { channel: string }): Promise<{ channel: string; ts: string }> {
  const body = await callApi(token, 'chat.postMessage', { channel: message.channel, text: message.text, blocks: message.blocks });
  if (typeof body.ts !== 'string' || typeof body.channel !== 'string') {
    throw new NotificationFailedError('Slack chat.postMessage: response has no channel/ts');
  }
  return { channel: body.channel, ts: body.ts };
}

/** Replaces a message the bot posted earlier (a retried approval request updates its own message). */
export async function updateMessage(token: string, message: SlackMessage & { channel: string; ts: string }): Promise<{ channel: string; ts: string }> {
  const body = await callApi(token, 'chat.update', { channel: message.channel, ts: message.ts, text: message.text, blocks: message.blocks });
  return { channel: typeof body.channel === 'string' ? body.channel : message.channel, ts: typeof body.ts === 'string' ? body.ts : message.ts };
}

export interface ResponseUrlMessage extends SlackMessage {
  /** `true` replaces the message the button was on; `false` adds a new one. */
  replace_original: boolean;
  /** `ephemeral` shows the reply only to the user who clicked. */
  response_type?: 'ephemeral' | 'in_channel';
}

/**
 * Answers an interaction through its `response_url` (valid 30 minutes, 5 uses). The URL itself is the
 * credential, so it is never logged either.
 */
export async function respond(responseUrl: string, message: ResponseUrlMessage): Promise<void> {
  if (!/^https?:\/\//.test(responseUrl)) throw new NotificationFailedError('Slack response_url: not an http(s) URL');
  const response = await send('response_url', responseUrl, { 'Content-Type': 'application/json; charset=utf-8' }, message);
  const text = await response.text().catch(() => '');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return; // response_url answers a plain `ok`
  }
  if (parsed && typeof parsed === 'object' && (parsed as { ok?: unknown }).ok === false) {
    const error = String((parsed as { error?: unknown }).error ?? 'unknown_error');
    throw slackRefused('response_url', error);
  }
}

async function callApi(token: string, method: string, payload: Record<string, unknown>): Promise<Record<string, unknown>> {
  const response = await send(method, `${apiBase()}/${method}`, { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json; charset=utf-8' }, payload);
  let body: Record<string, unknown>;
  try {
    body = (await response.json()) as Record<string, unknown>;
  } catch (error) {
    throw new SlackUnavailableError(`Slack ${method}: response is not JSON`, { cause: error });
  }
  if (body?.ok !== true) throw slackRefused(method, String(body?.error ?? 'unknown_error'));
  return body;
}

/** One HTTP POST with a timeout; classifies transport failures and non-2xx statuses. */
async function send(method: string, url: string, headers: Record<string, string>, payload: unknown): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(payload), signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    const name = error instanceof Error ? error.name : 'Error';
    // fetch may quote the URL it failed on; a response_url is a credential, so it never reaches a log or an error.
    const message = error instanceof Error ? redact(error.message.split(url).join(`[${method} url]`)) : 'unknown';
    logger.warn('Slack call failed', { method, error: { name, message } });
    throw new SlackUnavailableError(`Slack ${method}: ${name}: ${message}`, { cause: error });
  }
  if (response.status === 429 || response.status >= 500) {
    const retryAfter = response.headers.get('retry-after');
    logger.warn('Slack call refused', { method, status: response.status, retryAfter });
    throw new SlackUnavailableError(`Slack ${method}: HTTP ${response.status}${retryAfter ? ` (retry after ${retryAfter} s)` : ''}`);
  }
  if (!response.ok) {
    logger.warn('Slack call refused', { method, status: response.status });
    throw new NotificationFailedError(`Slack ${method}: HTTP ${response.status}`);
  }
  return response;
}

function slackRefused(method: string, error: string): Error {
  const code = redact(error).slice(0, 100);
  logger.warn('Slack refused the call', { method, slackError: code });
  return TRANSIENT_SLACK_ERRORS.has(code) ? new SlackUnavailableError(`Slack ${method}: ${code}`) : new NotificationFailedError(`Slack ${method}: ${code}`);
}
