/**
 * The auditor's section of report.json / report.html (issue 7, item 7), read from the execution's
 * own record (its events' inputs and outputs, as Step Functions' history would show them) and the
 * lab's EventBridge: never from what the drill expected to happen.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionEvent } from '../../local/state-machine';
import type { Audit, AuditAlarm } from './types';

/**
 * JSON with object keys sorted at every level and no whitespace (the ordering rule of RFC 8785, JCS):
 * the same plan always hashes the same, whatever order its YAML or the runner put the keys in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** sha256 (hex) of the plan's canonical JSON. */
export function planSha256(plan: unknown): string {
  return createHash('sha256').update(canonicalJson(plan), 'utf8').digest('hex');
}

/** The orchestrator that ran: package.json's version and the checked-out commit ("unknown" outside a git work tree). */
export function orchestratorVersion(
  root: string,
  revParse: () => string = () => execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString(),
): { version: string; commit: string } {
  let version = 'unknown';
  try {
    version = String((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: unknown }).version ?? 'unknown');
  } catch {
    /* no package.json: unknown */
  }
  let commit = 'unknown';
  try {
    const out = revParse().trim();
    if (/^[0-9a-f]{40}$/.test(out)) commit = out;
  } catch {
    /* git missing or not a work tree */
  }
  return { version, commit };
}

/** What auditOf reads from an execution (ExecutionRecord fits). */
export interface AuditedExecution {
  executionArn?: string;
  startDate: Date;
  events: ExecutionEvent[];
  output?: Record<string, any>;
  error?: string;
}

type Obj = Record<string, any>;
const asObj = (v: unknown): Obj | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);

/** The last top-level event of `state` of type `type`. */
function lastEvent(events: ExecutionEvent[], state: string, type: string): ExecutionEvent | undefined {
  return events.filter((e) => !e.nested && e.state === state && e.type === type).pop();
}

/** A field of the execution's state as the latest top-level state output (or the execution's output) carries it. */
function stateField(execution: AuditedExecution, field: string): unknown {
  if (execution.output && field in execution.output) return execution.output[field];
  const withField = execution.events.filter((e) => !e.nested && e.type === 'StateExited' && asObj(e.output)?.[field] !== undefined).pop();
  return asObj(withField?.output)?.[field];
}

/** The plan the execution ran with: LoadPlan injects it, every state carries it (`$.plan`). */
export function executedPlan(execution: AuditedExecution): unknown {
  const loaded = asObj(lastEvent(execution.events, 'LoadPlan', 'StateExited')?.output)?.plan;
  if (loaded !== undefined) return loaded;
  const carried = execution.events.find((e) => !e.nested && asObj(e.input)?.plan !== undefined);
  return asObj(carried?.input)?.plan ?? execution.output?.plan;
}

function detectionOf(execution: AuditedExecution): Audit['detection'] {
  const d = asObj(stateField(execution, 'detection'));
  if (!d || typeof d.classification !== 'string') return null;
  const evidence = asObj(d.evidence) ?? {};
  const probes = (Array.isArray(evidence.probes) ? evidence.probes : []).map((p: Obj) => ({
    name: String(p.name ?? '?'),
    healthy: p.healthy === true,
    ...(typeof p.status === 'number' ? { status: p.status } : {}),
    ...(p.error ? { error: String(p.error) } : {}),
    ...(typeof p.attempts === 'number' ? { attempts: p.attempts } : {}),
  }));
  return {
    classification: d.classification,
    ...(typeof d.action === 'string' ? { action: d.action } : {}),
    ...(typeof d.approvalRequired === 'boolean' ? { approvalRequired: d.approvalRequired } : {}),
    reasons: Array.isArray(d.reasons) ? d.reasons.map(String) : [],
    probes: [...probes.filter((p: { healthy: boolean }) => !p.healthy), ...probes.filter((p: { healthy: boolean }) => p.healthy)],
    alarms: (Array.isArray(evidence.alarms) ? evidence.alarms : []).map((a: Obj) => ({ name: String(a.name ?? '?'), state: String(a.state ?? '?') })),
  };
}

/** A decision as the gates record it (functions/core/contract.ts ApprovalDecision). */
function decisionOf(raw: unknown): { approved: boolean; decidedBy?: string; via?: string; decidedAt?: string; comment?: string } | undefined {
  const a = asObj(raw);
  if (!a || typeof a.approved !== 'boolean') return undefined;
  return {
    approved: a.approved,
    ...(a.decidedBy ? { decidedBy: String(a.decidedBy) } : {}),
    ...(a.via ? { via: String(a.via) } : {}),
    ...(a.decidedAt ? { decidedAt: String(a.decidedAt) } : {}),
    ...(a.comment ? { comment: String(a.comment) } : {}),
  };
}

/** A rejection reaches the state machine as SendTaskFailure ApprovalRejected; its cause names who and how (functions/slack/decision.ts). */
function rejectionOf(event: ExecutionEvent): Audit['approval'] {
  const cause = typeof event.cause === 'string' ? event.cause : JSON.stringify(event.cause ?? '');
  const via = /in Slack/i.test(cause) ? 'slack' : /operator CLI/i.test(cause) ? 'cli' : undefined;
  const by = /\bby (\S+)/.exec(cause)?.[1];
  return {
    mode: 'decided',
    approved: false,
    ...(by ? { decidedBy: by } : {}),
    ...(via ? { via } : {}),
    decidedAt: new Date(event.at).toISOString(),
    ...(cause ? { comment: cause } : {}),
  };
}

function approvalOf(execution: AuditedExecution, detection: Audit['detection']): Audit['approval'] {
  const decided = decisionOf(stateField(execution, 'approval'));
  if (decided) return { mode: 'decided', ...decided };
  const rejected = execution.events.find((e) => !e.nested && e.state === 'RequestFailoverApproval' && e.type === 'StateFailed' && e.error === 'ApprovalRejected');
  if (rejected) return rejectionOf(rejected);
  const timedOut = execution.events.find((e) => !e.nested && e.state === 'ApprovalTimedOut' && e.type === 'StateEntered');
  if (timedOut)
    return {
      mode: 'decided',
      approved: false,
      decidedBy: 'timeout-policy',
      via: 'timeout-policy',
      decidedAt: new Date(timedOut.at).toISOString(),
      comment: 'no decision before the approval timeout; the policy is abort',
    };
  const fenced = execution.events.some((e) => !e.nested && e.state === 'FenceUsWriters' && e.type === 'StateEntered');
  if (fenced && detection && detection.approvalRequired === false) {
    // functions/confirm-region-failure.ts: a manual start is the approval when the plan says so; else the alarm policy.
    const start = asObj(stateField(execution, 'start'));
    if (start?.trigger === 'manual') {
      return {
        mode: 'automatic',
        approved: true,
        policy: `the manual start${start.requestedBy ? ` by ${String(start.requestedBy)}` : ''} is the approval (plan.approval.manualStartIsApproval)`,
      };
    }
    return { mode: 'automatic', approved: true, policy: `plan.approval.automatic allows "${detection.classification}" on an alarm: no human approval asked` };
  }
  return { mode: 'not-reached' };
}

/** The notification notify sent: its output (detail type, EventBridge event id, Slack ts) and the event's idempotency key. */
function notificationOf(execution: AuditedExecution, busEvents: Array<{ detailType?: string; detail?: unknown }>): Audit['notification'] {
  const out = asObj(stateField(execution, 'notification'));
  const mine = busEvents.filter((e) => asObj(e.detail)?.executionId !== undefined && asObj(e.detail)?.executionId === execution.executionArn);
  const event = asObj(mine[mine.length - 1]?.detail);
  if (!out && !event) return null;
  return {
    detailType: String(out?.detailType ?? mine[mine.length - 1]?.detailType ?? '?'),
    ...(event?.idempotencyKey ? { idempotencyKey: String(event.idempotencyKey) } : {}),
    ...(out?.eventId ? { eventId: String(out.eventId) } : {}),
    ...(out?.slackTs ? { slackTs: String(out.slackTs) } : {}),
    ...(event?.outcome ? { outcome: String(event.outcome) } : {}),
  };
}

/**
 * The audit of one execution. `alarms` are the lab's EventBridge alarm events (ms since epoch);
 * those from the fault up to the execution's start are listed (t = seconds since `t0`).
 */
export function auditOf(input: {
  execution: AuditedExecution | undefined;
  alarms: Array<{ at: number; name: string; state: string; matched: boolean }>;
  faultAt: number;
  t0: number;
  busEvents: Array<{ detailType?: string; detail?: unknown }>;
  orchestrator: { version: string; commit: string };
}): Audit {
  const { execution } = input;
  const until = execution ? execution.startDate.getTime() : Number.POSITIVE_INFINITY;
  const alarmsBeforeStart: AuditAlarm[] = input.alarms
    .filter((a) => a.at >= input.faultAt && a.at <= until)
    .map((a) => ({ t: Math.round((a.at - input.t0) / 100) / 10, name: a.name, state: a.state, matched: a.matched }));
  if (!execution) return { detection: null, alarmsBeforeStart, approval: { mode: 'not-reached' }, planSha256: null, orchestrator: input.orchestrator, notification: null };
  const detection = detectionOf(execution);
  const unfenced = decisionOf(stateField(execution, 'fenceApproval'));
  const plan = executedPlan(execution);
  return {
    detection,
    alarmsBeforeStart,
    approval: approvalOf(execution, detection),
    ...(unfenced ? { unfencedApproval: unfenced } : {}),
    planSha256: plan === undefined ? null : planSha256(plan),
    orchestrator: input.orchestrator,
    notification: notificationOf(execution, input.busEvents),
  };
}
