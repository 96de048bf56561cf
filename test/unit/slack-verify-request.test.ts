import { createHmac } from 'node:crypto';
import { verifySlackRequest } from '../../functions/slack/verify-request';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const NOW_MS = Date.parse('2025-03-04T10:00:00Z');
const NOW_S = Math.floor(NOW_MS / 1000);
const BODY = 'payload=%7B%22type%22%3A%22block_actions%22%7D';

/** Signs like Slack does: v0= hex(HMAC-SHA256(secret, "v0:<ts>:<body>")). */
function sign(body: string, timestamp: number, secret = SECRET): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

function headers(timestamp: number, signature: string): Record<string, string> {
  return { 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': signature };
}

const verify = (rawBody: string, h: Record<string, string | undefined>) =>
  verifySlackRequest({ rawBody, headers: h, signingSecret: SECRET, now: () => NOW_MS });

describe('verifySlackRequest', () => {
  it('accepts a request signed with the signing secret within the window', () => {
    expect(() => verify(BODY, headers(NOW_S, sign(BODY, NOW_S)))).not.toThrow();
  });

  it('rejects a body changed after signing', () => {
    expect(() => verify(`${BODY}x`, headers(NOW_S, sign(BODY, NOW_S)))).toThrow(expect.objectContaining({ name: 'SlackSignatureInvalid', message: 'bad signature' }));
  });

  it('rejects a signature made with another secret', () => {
    expect(() => verify(BODY, headers(NOW_S, sign(BODY, NOW_S, 'not-the-secret')))).toThrow(expect.objectContaining({ name: 'SlackSignatureInvalid', message: 'bad signature' }));
  });

  it('rejects a correctly signed request older than 300 s (replay)', () => {
    const old = NOW_S - 301;
    expect(() => verify(BODY, headers(old, sign(BODY, old)))).toThrow(expect.objectContaining({ name: 'SlackSignatureInvalid', message: expect.stringMatching(/^stale timestamp/) }));
  });

  it('rejects a correctly signed request more than 300 s in the future', () => {
    const future = NOW_S + 301;
    expect(() => verify(BODY, headers(future, sign(BODY, future)))).toThrow(expect.objectContaining({ name: 'SlackSignatureInvalid', message: expect.stringMatching(/^stale timestamp/) }));
  });

  it('accepts a request exactly 300 s old (the edge of the window)', () => {
    const edge = NOW_S - 300;
    expect(() => verify(BODY, headers(edge, sign(BODY, edge)))).not.toThrow();
  });

  it('rejects a request without the signature header', () => {
    expect(() => verify(BODY, { 'x-slack-request-timestamp': String(NOW_S) })).toThrow(
      expect.objectContaining({ name: 'SlackSignatureInvalid', message: 'missing x-slack-signature header' }),
    );
  });

  it('rejects a request without the timestamp header', () => {
    expect(() => verify(BODY, { 'x-slack-signature': sign(BODY, NOW_S) })).toThrow(
      expect.objectContaining({ name: 'SlackSignatureInvalid', message: 'missing x-slack-request-timestamp header' }),
    );
  });

  it('finds the headers whatever their case', () => {
    const h = { 'X-Slack-Request-Timestamp': String(NOW_S), 'X-SLACK-SIGNATURE': sign(BODY, NOW_S) };
    expect(() => verify(BODY, h)).not.toThrow();
  });

  it('rejects a signature of the wrong length without throwing a crypto error', () => {
    expect(() => verify(BODY, headers(NOW_S, 'v0=abcd'))).toThrow(expect.objectContaining({ name: 'SlackSignatureInvalid', message: 'bad signature' }));
  });

  it('never puts the secret or the expected signature in the error message', () => {
    const expected = sign(BODY, NOW_S);
    let message = '';
    try {
      verify(BODY, headers(NOW_S, sign(BODY, NOW_S, 'other')));
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).not.toContain(SECRET);
    expect(message).not.toContain(expected.slice(3));
  });
});
