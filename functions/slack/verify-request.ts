/**
 * Slack request verification, modelled on slackapi/bolt-js `src/receivers/verify-request.ts`.
 *
 * Slack signs every request to the interactivity endpoint with the app's signing secret:
 * `x-slack-signature = v0=` + hex(HMAC-SHA256(secret, `v0:${timestamp}:${rawBody}`)). Verifying it over
 * the raw, undecoded body is the only thing that stands between the internet and SendTaskSuccess on a
 * failover gate, so this function is pure (clock injected) and tested with HMACs computed by the tests.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { SlackSignatureInvalidError } from '../core/errors';

/** Slack's replay window: a request whose timestamp is further than this from now, either way, is refused. */
export const MAX_SKEW_SECONDS = 300;

export interface VerifySlackRequestOptions {
  /** The body exactly as received (after base64 decoding when API Gateway encoded it), never re-serialised. */
  rawBody: string;
  /** Request headers; names are matched case-insensitively. */
  headers: Record<string, string | undefined>;
  signingSecret: string;
  /** Wall clock in milliseconds, injectable for tests. */
  now: () => number;
}

/**
 * Throws `SlackSignatureInvalid` unless the request carries a fresh, valid Slack signature.
 *
 * Unlike bolt-js, a timestamp too far in the *future* is refused as well: a request signed "in the
 * future" would otherwise stay replayable for longer than the window. The error message says which
 * check failed and nothing else: never the secret, never the expected signature.
 */
export function verifySlackRequest({ rawBody, headers, signingSecret, now }: VerifySlackRequestOptions): void {
  const signature = header(headers, 'x-slack-signature');
  const timestampText = header(headers, 'x-slack-request-timestamp');
  if (!signature) throw new SlackSignatureInvalidError('missing x-slack-signature header');
  if (!timestampText) throw new SlackSignatureInvalidError('missing x-slack-request-timestamp header');

  if (!/^\d{1,12}$/.test(timestampText.trim())) throw new SlackSignatureInvalidError('malformed x-slack-request-timestamp header');
  const timestamp = Number(timestampText.trim());
  const nowSeconds = Math.floor(now() / 1000);
  if (Math.abs(nowSeconds - timestamp) > MAX_SKEW_SECONDS) {
    throw new SlackSignatureInvalidError(`stale timestamp: more than ${MAX_SKEW_SECONDS} s from now`);
  }

  const [version, hash] = signature.split('=', 2);
  if (version !== 'v0' || !hash || !/^[0-9a-f]+$/i.test(hash)) throw new SlackSignatureInvalidError('malformed x-slack-signature header');

  const expected = createHmac('sha256', signingSecret).update(`v0:${timestampText.trim()}:${rawBody}`, 'utf8').digest();
  const received = Buffer.from(hash, 'hex');
  // timingSafeEqual throws on different lengths; the length of a SHA-256 digest is public anyway.
  if (received.length !== expected.length || !timingSafeEqual(received, expected)) {
    throw new SlackSignatureInvalidError('bad signature');
  }
}

/** A request header by its lower-case name (API Gateway passes them lower-cased; other callers may not). */
export function header(headers: Record<string, string | undefined>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() === name && typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}
