import { createHmac } from 'node:crypto';
import { SlackSignatureInvalidError } from '../../../functions/core/errors';
import { verifySlackRequest } from '../../../functions/slack/verify-request';

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

const verify = (rawBody: string, h: Record<string, string | undefined>) => verifySlackRequest({ rawBody, headers: h, signingSecret: SECRET, now: () => NOW_MS });

/**
 * What `verify` threw: fails the test when it did not throw at all, so every refusal below asserts the
 * exact error (class, `name`, full `message`), never just "something threw".
 */
function refusal(rawBody: string, h: Record<string, string | undefined>): SlackSignatureInvalidError {
  try {
    verify(rawBody, h);
  } catch (error) {
    return error as SlackSignatureInvalidError;
  }
  throw new Error('expected verifySlackRequest to refuse the request, but it accepted it');
}

/** Asserts the request is refused with exactly SlackSignatureInvalid and `message`. */
function expectRefused(rawBody: string, h: Record<string, string | undefined>, message: string): void {
  const error = refusal(rawBody, h);
  expect(error).toBeInstanceOf(SlackSignatureInvalidError);
  expect({ name: error.name, message: error.message }).toEqual({ name: 'SlackSignatureInvalid', message });
}

describe('verifySlackRequest', () => {
  it('accepts a request signed with the signing secret within the window', () => {
    expect(() => verify(BODY, headers(NOW_S, sign(BODY, NOW_S)))).not.toThrow();
  });

  it('rejects a body changed after signing', () => {
    expectRefused(`${BODY}x`, headers(NOW_S, sign(BODY, NOW_S)), 'bad signature');
  });

  it('rejects a signature made with another secret', () => {
    expectRefused(BODY, headers(NOW_S, sign(BODY, NOW_S, 'not-the-secret')), 'bad signature');
  });

  it('rejects a correctly signed request older than 300 s (replay)', () => {
    const old = NOW_S - 301;
    expectRefused(BODY, headers(old, sign(BODY, old)), 'stale timestamp: more than 300 s from now');
  });

  it('rejects a correctly signed request more than 300 s in the future', () => {
    const future = NOW_S + 301;
    expectRefused(BODY, headers(future, sign(BODY, future)), 'stale timestamp: more than 300 s from now');
  });

  it('accepts a request exactly 300 s old (the edge of the window)', () => {
    const edge = NOW_S - 300;
    expect(() => verify(BODY, headers(edge, sign(BODY, edge)))).not.toThrow();
  });

  it('rejects a request without the signature header', () => {
    expectRefused(BODY, { 'x-slack-request-timestamp': String(NOW_S) }, 'missing x-slack-signature header');
  });

  it('rejects a request without the timestamp header', () => {
    expectRefused(BODY, { 'x-slack-signature': sign(BODY, NOW_S) }, 'missing x-slack-request-timestamp header');
  });

  it('finds the headers whatever their case', () => {
    const h = { 'X-Slack-Request-Timestamp': String(NOW_S), 'X-SLACK-SIGNATURE': sign(BODY, NOW_S) };
    expect(() => verify(BODY, h)).not.toThrow();
  });

  it('rejects a signature of the wrong length without throwing a crypto error', () => {
    expectRefused(BODY, headers(NOW_S, 'v0=abcd'), 'bad signature');
  });

  it('rejects a timestamp header that is not a number of seconds', () => {
    expectRefused(BODY, { 'x-slack-request-timestamp': `${NOW_S}.5`, 'x-slack-signature': sign(BODY, NOW_S) }, 'malformed x-slack-request-timestamp header');
  });

  it('rejects a signature of another version than v0, even with the right HMAC', () => {
    expectRefused(BODY, headers(NOW_S, sign(BODY, NOW_S).replace(/^v0=/, 'v1=')), 'malformed x-slack-signature header');
  });

  it('rejects a signature that is not hex', () => {
    expectRefused(BODY, headers(NOW_S, `v0=${'z'.repeat(64)}`), 'malformed x-slack-signature header');
  });

  it('rejects an empty signature header as missing', () => {
    expectRefused(BODY, headers(NOW_S, ''), 'missing x-slack-signature header');
  });

  it('never puts the secret or the expected signature in the error message', () => {
    const expected = sign(BODY, NOW_S);
    const { name, message } = refusal(BODY, headers(NOW_S, sign(BODY, NOW_S, 'other')));
    expect({ name, message }).toEqual({ name: 'SlackSignatureInvalid', message: 'bad signature' });
    expect(message).not.toContain(SECRET);
    expect(message).not.toContain(expected.slice(3));
  });
});
