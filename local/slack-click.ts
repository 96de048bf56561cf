/**
 * A click on an approval message's Approve or Reject button, as Slack sends it to the interactivity
 * endpoint: a form-encoded `payload` (block_actions) signed with the app's signing secret
 * (https://api.slack.com/authentication/verifying-requests-from-slack: v0 HMAC-SHA256 of
 * `v0:{timestamp}:{body}`). The lab's approver and the state-machine tests click through it; the
 * real Slack callback verifies it like any request from Slack.
 */
import { createHmac } from 'node:crypto';

export interface SlackClick {
  approvalId: string;
  action: 'approve' | 'reject';
  userId: string;
  username?: string;
  responseUrl: string;
  signingSecret: string;
  /** Seconds since the epoch (default now): Slack's request timestamp. */
  timestamp?: number;
}

/** The request body and the headers Slack sends with it. */
export function signedClick(click: SlackClick): { rawBody: string; headers: Record<string, string> } {
  const payload = {
    type: 'block_actions',
    user: { id: click.userId, username: click.username ?? click.userId.toLowerCase() },
    response_url: click.responseUrl,
    actions: [{ action_id: click.action === 'approve' ? 'failover_approve' : 'failover_reject', value: click.approvalId }],
    message: { blocks: [] },
  };
  const rawBody = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const timestamp = String(click.timestamp ?? Math.floor(Date.now() / 1000));
  const signature = `v0=${createHmac('sha256', click.signingSecret).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`;
  return { rawBody, headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': timestamp, 'x-slack-signature': signature } };
}
