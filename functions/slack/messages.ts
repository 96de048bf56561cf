/**
 * Block Kit messages of the approval gate (pure builders, no I/O).
 *
 * The request message has to let an approver decide in one read: what was detected and why, the
 * evidence, the data a failover would lose against the RPO budget, whether the US primary is fenced,
 * who started it, and what silence means. The buttons carry only the approval id: a Step Functions
 * task token can be 2,048 characters, more than Slack's 2,000-character button value, so the token
 * stays in DynamoDB (functions/slack/approvals-store.ts).
 */
import type { ApprovalGate } from './approvals-store';
import type { DetectionResult, FenceResult, StartResult } from '../core/contract';
import type { Plan } from '../core/plan';
import type { Block, SlackMessage } from './slack-api';

export const APPROVE_ACTION_ID = 'failover_approve';
export const REJECT_ACTION_ID = 'failover_reject';
/** block_id of the buttons, so a decision can remove them from the original message. */
export const ACTIONS_BLOCK_ID = 'approval_actions';
export const DECISION_BLOCK_ID = 'approval_decision';

/** Slack limits (Block Kit reference). */
const LIMITS = { header: 150, section: 3000, context: 2000, confirmText: 300, blocks: 50, buttonValue: 2000, text: 3000 };

export interface ApprovalRequestInput {
  approvalId: string;
  gate: ApprovalGate;
  plan: Plan;
  start: StartResult;
  detection: DetectionResult;
  /** The fence result (the unfenced-promotion gate lists its unconfirmed steps). */
  fence?: FenceResult;
  /** What silence means; defaults to the detection's policy. */
  onTimeout?: 'abort' | 'proceed';
}

/** The first line of the request: the header block, the notification text, and the summary kept with the approval. */
export function approvalTitle(plan: Pick<Plan, 'name' | 'primaryRegion' | 'recoveryRegion'>): string {
  return `Failover approval needed: ${plan.name} ${plan.primaryRegion} → ${plan.recoveryRegion}`;
}

/**
 * The message that asks for a decision. Approve carries a confirm dialog (an accidental click
 * promotes a database irreversibly); Reject does not need one.
 */
export function approvalRequestMessage({ approvalId, gate, plan, start, detection, fence, onTimeout }: ApprovalRequestInput): SlackMessage {
  if (approvalId.length > LIMITS.buttonValue) throw new Error('approvalId is longer than a Slack button value');
  const title = approvalTitle(plan);
  const policy = onTimeout ?? detection.onApprovalTimeout;
  const blocks: Block[] = [];

  blocks.push({ type: 'header', text: { type: 'plain_text', text: clip(title, LIMITS.header), emoji: true } });

  const reasons = detection.reasons.length ? detection.reasons.map((r) => `• ${esc(r)}`).join('\n') : '• (no reasons recorded)';
  blocks.push(section(`*Classification:* \`${detection.classification}\` (proposed action: ${detection.action}, mode: ${start.mode})\n*Why:*\n${reasons}`));

  if (detection.classification === 'partition') {
    blocks.push(
      section(
        `:warning: *Both regions may still be up while replication is broken.* Promoting ${plan.recoveryRegion} while ${plan.primaryRegion} still accepts writes is split-brain: approve only if ${plan.primaryRegion} is known to be down or fenced.`,
      ),
    );
  }

  if (gate === 'unfenced-promotion') {
    const unconfirmed = (fence?.steps ?? []).filter((s) => !s.confirmed);
    const list = unconfirmed.length
      ? unconfirmed.map((s) => `• ${esc(s.resource)}${s.kind ? ` (${esc(s.kind)})` : ''}${s.action ? `: ${esc(s.action)}` : ''}${s.detail ? `: ${esc(s.detail)}` : ''}`).join('\n')
      : '• (the fence stage did not say which steps)';
    blocks.push(
      section(
        `:rotating_light: *The ${plan.primaryRegion} primary could not be confirmed fenced.* If it still accepts writes, promoting ${plan.recoveryRegion} creates two writers (split-brain). Unconfirmed fence steps:\n${list}`,
      ),
    );
  }

  blocks.push(section(evidenceText(plan, detection)));
  blocks.push(section(replicationText(detection)));
  blocks.push(section(dataLossText(plan, detection)));

  const requested = start.trigger === 'alarm' && start.alarmName ? `alarm \`${esc(start.alarmName)}\`` : start.trigger;
  blocks.push(context(`Started by ${requested} (${esc(start.requestedBy)}) at ${slackDate(start.startedAt)}: ${esc(start.reason)}\nExecution: \`${esc(start.executionId)}\``));
  const approvers = plan.approval.approvers.map(mention).join(', ');
  blocks.push(
    context(
      `No answer within ${duration(plan.approval.timeoutSeconds)} → ${policyText(policy)}. Approvers: ${approvers}. Approval \`${approvalId}\`.\n` +
        // The way to decide when Slack's buttons do not work (scripts/failover.ts): same list, same claim.
        `Buttons not working? \`npm run failover -- approve|reject --stage <stage> --approval-id ${approvalId} --as <your Slack id> --reason "…"\``,
    ),
  );

  blocks.push({
    type: 'actions',
    block_id: ACTIONS_BLOCK_ID,
    elements: [
      {
        type: 'button',
        action_id: APPROVE_ACTION_ID,
        style: 'primary',
        text: { type: 'plain_text', text: gate === 'unfenced-promotion' ? 'Approve unfenced promotion' : 'Approve failover', emoji: true },
        value: approvalId,
        confirm: {
          title: { type: 'plain_text', text: 'Fail over now?' },
          text: {
            type: 'mrkdwn',
            text: clip(
              `Promotes ${plan.recoveryRegion} and moves traffic there. Estimated data loss: ${gapText(detection.replicationGapSeconds)}.${gate === 'unfenced-promotion' ? ` The ${plan.primaryRegion} primary is NOT confirmed fenced.` : ''}`,
              LIMITS.confirmText,
            ),
          },
          confirm: { type: 'plain_text', text: 'Approve' },
          deny: { type: 'plain_text', text: 'Cancel' },
          style: 'danger',
        },
      },
      {
        type: 'button',
        action_id: REJECT_ACTION_ID,
        style: 'danger',
        text: { type: 'plain_text', text: 'Reject', emoji: true },
        value: approvalId,
      },
    ],
  });

  const text = clip(`${title} (${detection.classification}${gate === 'unfenced-promotion' ? ', primary NOT fenced' : ''})`, LIMITS.text);
  return { text, blocks: blocks.slice(0, LIMITS.blocks) };
}

export type Decision = { outcome: 'approved' | 'rejected'; by: string; at: string } | { outcome: 'expired'; at?: string; timeoutSeconds?: number; onTimeout?: 'abort' | 'proceed' };

export interface DecisionMessageInput {
  /** The request's title (kept with the approval), used when the original blocks are not at hand. */
  summary: string;
  decision: Decision;
  /** The blocks of the message the button was on (Slack sends them with the click). */
  originalBlocks?: unknown;
}

/** The replacement of the request message once it is decided or expired: same content, no buttons, the outcome at the end. */
export function decisionMessage({ summary, decision, originalBlocks }: DecisionMessageInput): SlackMessage {
  const outcome = decisionText(decision);
  const kept = Array.isArray(originalBlocks)
    ? (originalBlocks as unknown[]).filter((b): b is Block => !!b && typeof b === 'object' && (b as Block).type !== 'actions' && (b as Block).block_id !== DECISION_BLOCK_ID)
    : [{ type: 'header', text: { type: 'plain_text', text: clip(summary, LIMITS.header), emoji: true } }];
  const blocks = [...kept.slice(0, LIMITS.blocks - 1), { type: 'section', block_id: DECISION_BLOCK_ID, text: { type: 'mrkdwn', text: outcome } }];
  return { text: clip(`${summary}: ${stripMarkup(outcome)}`, LIMITS.text), blocks };
}

function decisionText(decision: Decision): string {
  switch (decision.outcome) {
    case 'approved':
      return `:white_check_mark: *Approved* by ${mention(decision.by)} at ${slackDate(decision.at)}`;
    case 'rejected':
      return `:x: *Rejected* by ${mention(decision.by)} at ${slackDate(decision.at)}`;
    case 'expired': {
      const within = decision.timeoutSeconds ? ` within ${duration(decision.timeoutSeconds)}` : '';
      const policy = decision.onTimeout ? `; policy: ${policyText(decision.onTimeout)}` : '';
      return `:hourglass: *Expired*: no decision${within}${policy}. Buttons no longer act.`;
    }
  }
}

function evidenceText(plan: Plan, detection: DetectionResult): string {
  const { probes, alarms } = detection.evidence;
  const down = probes.filter((p) => !p.healthy);
  const up = probes.filter((p) => p.healthy);
  const probeLine = probes.length
    ? `*Probes:* ${down.length} down${down.length ? ` (${down.map((p) => `${esc(p.name)}${p.status ? ` HTTP ${p.status}` : p.error ? `: ${esc(p.error)}` : ''}`).join(', ')})` : ''}, ${up.length} up${up.length ? ` (${up.map((p) => esc(p.name)).join(', ')})` : ''}`
    : '*Probes:* none configured';
  const inAlarm = alarms.filter((a) => a.state === 'ALARM');
  const alarmLine = `*Alarms in ALARM:* ${inAlarm.length ? inAlarm.map((a) => `\`${esc(a.name)}\``).join(', ') : 'none'} (of ${alarms.length} watched)`;
  const trafficLine = `*Traffic already on ${plan.recoveryRegion}:* ${detection.evidence.trafficOnRecovery ? 'yes' : 'no'}`;
  return [probeLine, alarmLine, trafficLine].join('\n');
}

function replicationText(detection: DetectionResult): string {
  const rows = detection.evidence.replication;
  if (!rows.length) return '*Replication:* no observation';
  return `*Replication:*\n${rows
    .map((r) => `• ${esc(r.database)} (${esc(r.kind)}): ${r.status}, lag ${r.lagSeconds === undefined ? 'unknown' : `${r.lagSeconds} s`}${r.detail ? `: ${esc(r.detail)}` : ''}`)
    .join('\n')}`;
}

function dataLossText(plan: Plan, detection: DetectionResult): string {
  const gap = detection.replicationGapSeconds;
  const line = `*Estimated data loss:* ${gapText(gap)} (RPO budget ${plan.rpoBudgetSeconds} s)`;
  const overBudget = gap === null || gap > plan.rpoBudgetSeconds;
  if (detection.rpoAtRisk || overBudget) {
    const why =
      gap === null ? 'the replication gap could not be measured' : gap > plan.rpoBudgetSeconds ? `the gap exceeds the ${plan.rpoBudgetSeconds} s budget` : 'replication is lagging';
    return `${line}\n:warning: *RPO at risk*: ${why}. Approving accepts losing up to that much acknowledged data.`;
  }
  return line;
}

function gapText(gap: number | null): string {
  return gap === null ? 'unknown' : `${gap} s of writes`;
}

function policyText(policy: 'abort' | 'proceed'): string {
  return policy === 'abort' ? 'abort (no failover)' : 'proceed (fail over without approval)';
}

/** 600 → "10 min", 90 → "90 s", 7200 → "2 h". */
export function duration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** A Slack date token (shown in each reader's time zone) with the ISO time as fallback. */
function slackDate(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return esc(iso);
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time_secs}|${new Date(ms).toISOString()}>`;
}

function mention(userId: string): string {
  return /^[UW][A-Z0-9]{2,}$/.test(userId) ? `<@${userId}>` : esc(userId);
}

function section(text: string): Block {
  return { type: 'section', text: { type: 'mrkdwn', text: clip(text, LIMITS.section) } };
}

function context(text: string): Block {
  return { type: 'context', elements: [{ type: 'mrkdwn', text: clip(text, LIMITS.context) }] };
}

/** Escapes text that came from outside (operator reasons, alarm names) so it cannot ping `<!channel>` or forge links. */
function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function stripMarkup(text: string): string {
  return text
    .replace(/<!date\^\d+\^[^|]*\|([^>]*)>/g, '$1')
    .replace(/<@([A-Z0-9]+)>/g, '$1')
    .replace(/:[a-z_]+:\s*/g, '')
    .replace(/\*/g, '');
}
