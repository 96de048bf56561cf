import { postMessage, respond, updateMessage } from '../../../functions/slack/slack-api';

const TOKEN = 'xoxb-1111-2222-abcdefghijklmnop';
const RESPONSE_URL = 'https://hooks.slack.com/actions/T0123/456/abcdef';

let fetchSpy: jest.SpiedFunction<typeof fetch>;

function answer(status: number, body: unknown, headers: Record<string, string> = {}) {
  fetchSpy.mockImplementation(() => Promise.resolve(new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers })));
}

beforeEach(() => {
  fetchSpy = jest.spyOn(globalThis, 'fetch');
  answer(200, { ok: true, channel: 'C0123FAILOVER', ts: '1741082410.000100' });
});

afterEach(() => {
  jest.restoreAllMocks();
});

describe('slack-api', () => {
  it('posts JSON to chat.postMessage with the bearer token and a timeout, and returns channel and ts', async () => {
    const result = await postMessage(TOKEN, { channel: 'C0123FAILOVER', text: 'hello', blocks: [] });

    expect(result).toEqual({ channel: 'C0123FAILOVER', ts: '1741082410.000100' });
    const [url, init] = fetchSpy.mock.calls[0]!;
    expect(url).toBe('https://slack.com/api/chat.postMessage');
    expect(init).toMatchObject({
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json; charset=utf-8' },
      signal: expect.any(AbortSignal),
    });
    expect(JSON.parse(String(init!.body))).toEqual({ channel: 'C0123FAILOVER', text: 'hello', blocks: [] });
  });

  it('sends chat.update with the message ts', async () => {
    await updateMessage(TOKEN, { channel: 'C0123FAILOVER', ts: '1741082410.000100', text: 'updated' });

    expect(fetchSpy.mock.calls[0]![0]).toBe('https://slack.com/api/chat.update');
    expect(JSON.parse(String(fetchSpy.mock.calls[0]![1]!.body))).toMatchObject({ ts: '1741082410.000100', text: 'updated' });
  });

  it('turns ok:false into NotificationFailed naming the method and Slack error code', async () => {
    answer(200, { ok: false, error: 'not_in_channel' });

    await expect(postMessage(TOKEN, { channel: 'C0123FAILOVER', text: 'x' })).rejects.toMatchObject({
      name: 'NotificationFailed',
      message: 'Slack chat.postMessage: not_in_channel',
    });
  });

  it('turns HTTP 429 into SlackUnavailable with the Retry-After hint', async () => {
    answer(429, { ok: false, error: 'ratelimited' }, { 'retry-after': '3' });

    await expect(postMessage(TOKEN, { channel: 'C0123FAILOVER', text: 'x' })).rejects.toMatchObject({
      name: 'SlackUnavailable',
      message: expect.stringContaining('retry after 3 s'),
    });
  });

  it('turns HTTP 5xx into SlackUnavailable', async () => {
    answer(503, 'upstream unavailable');

    await expect(postMessage(TOKEN, { channel: 'C0123FAILOVER', text: 'x' })).rejects.toMatchObject({ name: 'SlackUnavailable' });
  });

  it('turns a network failure into SlackUnavailable without the token in the message', async () => {
    fetchSpy.mockImplementation(() => Promise.reject(new TypeError('fetch failed')));

    const error = await postMessage(TOKEN, { channel: 'C0123FAILOVER', text: 'x' }).catch((e: Error) => e);

    expect(error).toMatchObject({ name: 'SlackUnavailable' });
    expect((error as Error).message).not.toContain(TOKEN);
  });

  it('treats a transient Slack error code as SlackUnavailable', async () => {
    answer(200, { ok: false, error: 'internal_error' });

    await expect(postMessage(TOKEN, { channel: 'C0123FAILOVER', text: 'x' })).rejects.toMatchObject({ name: 'SlackUnavailable' });
  });

  it('replies through response_url without sending the bot token', async () => {
    answer(200, 'ok');

    await respond(RESPONSE_URL, { text: 'done', replace_original: true });

    const [url, init] = fetchSpy.mock.calls[0]!;
    expect(url).toBe(RESPONSE_URL);
    expect((init!.headers as Record<string, string>).Authorization).toBeUndefined();
    expect(JSON.parse(String(init!.body))).toEqual({ text: 'done', replace_original: true });
  });

  it('turns a refused response_url reply into NotificationFailed', async () => {
    answer(200, { ok: false, error: 'expired_url' });

    await expect(respond(RESPONSE_URL, { text: 'done', replace_original: true })).rejects.toMatchObject({ name: 'NotificationFailed', message: 'Slack response_url: expired_url' });
  });

  it('uses SLACK_API_URL as the base URL when set', async () => {
    process.env.SLACK_API_URL = 'http://127.0.0.1:4010/api/';
    try {
      await jest.isolateModulesAsync(async () => {
        const fresh = require('../../../functions/slack/slack-api') as typeof import('../../../functions/slack/slack-api');
        await fresh.postMessage(TOKEN, { channel: 'C0123FAILOVER', text: 'x' });
      });
    } finally {
      delete process.env.SLACK_API_URL;
    }

    expect(fetchSpy.mock.calls[0]![0]).toBe('http://127.0.0.1:4010/api/chat.postMessage');
  });
});
