/**
 * Issue 7: loss accounting (item 4), the auditor's fields (item 7), progress lines in order and the
 * one-line explanation of a second execution, and what Ctrl-C cleaned up ("First hour"). Synthetic
 * transaction logs, executions and observations: no lab runs here.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interruptedLine, ProgressNarrator, summaryLines } from '../../lab/drill';
import { rpo, settleLog } from '../../lab/measure';
import type { ExecutionEvent, ExecutionRecord } from '../../local/state-machine';
import { auditOf, canonicalJson, executedPlan, orchestratorVersion, planSha256, type AuditedExecution } from '../../lab/report/audit';
import { renderReportHtml } from '../../lab/report/html';
import { samplePartitionReport, sampleReport } from '../../lab/report/sample';
import type { TxRecord } from '../../lab/traffic';

const tx = (id: string, doneAt: number, region: string, regionAcknowledgedAt?: number): TxRecord => ({
  id,
  account: 'a',
  amount: 1,
  sentAt: doneAt - 100,
  doneAt,
  status: 201,
  ok: true,
  region,
  ...(regionAcknowledgedAt === undefined ? {} : { regionAcknowledgedAt }),
});

describe('loss accounting (issue 7, item 4)', () => {
  const fault = 10_000;

  it("measures how far back the loss reaches by the region's acknowledgement time, not the client's", () => {
    // Committed and acknowledged by us-east-1 at 9.70 s and 9.85 s; the client saw both after the fault (80 ms link).
    const log = [tx('a', 9_000, 'us-east-1', 8_990), tx('b', 10_060, 'us-east-1', 9_700), tx('c', 10_090, 'us-east-1', 9_850)];
    expect(rpo(log, new Set(['a']), fault, 'us-east-1')).toEqual({ lostAcknowledged: 2, seconds: 0.3, lostIds: ['b', 'c'] });
  });

  it('falls back to the client time only for a record without the region time', () => {
    expect(rpo([tx('b', 9_800, 'us-east-1')], new Set(), fault, 'us-east-1').seconds).toBe(0.2);
  });

  it('never counts a write acknowledged by the surviving EU primary as lost, even when the survivor read missed it', () => {
    const log = [tx('old', 9_900, 'us-east-1', 9_880), tx('eu-1', 25_000, 'eu-west-1', 24_990), tx('eu-2', 25_010, 'eu-west-1', 25_000)];
    expect(rpo(log, new Set(['old']), fault, 'us-east-1')).toEqual({ lostAcknowledged: 0, seconds: 0, lostIds: [] });
    expect(rpo(log, new Set(), fault, 'us-east-1')).toEqual({ lostAcknowledged: 1, seconds: 0.12, lostIds: ['old'] });
  });

  it('waits for the requests in flight before counting, and freezes the log it counts', async () => {
    const traffic = { log: [tx('a', 1, 'us-east-1')], sent: 3 };
    let sleeps = 0;
    const settled = await settleLog(traffic, 10_000, async () => {
      sleeps += 1;
      if (sleeps === 2) traffic.log.push(tx('b', 2, 'eu-west-1'));
      if (sleeps === 4) traffic.log.push(tx('c', 3, 'eu-west-1'));
    });
    expect(sleeps).toBe(4);
    expect(settled.unsettled).toBe(0);
    expect(settled.log.map((r) => r.id)).toEqual(['a', 'b', 'c']);
    traffic.log.push(tx('late', 4, 'eu-west-1'));
    traffic.log[0]!.ok = false;
    expect(settled.log.map((r) => r.id)).toEqual(['a', 'b', 'c']);
    expect(settled.log[0]!.ok).toBe(true);
  });

  it('gives up at its bound and reports the requests still unanswered as unsettled', async () => {
    let clock = 0;
    const settled = await settleLog(
      { log: [tx('a', 1, 'us-east-1')], sent: 2 },
      1_000,
      async (ms) => {
        clock += ms;
      },
      () => clock,
    );
    expect(settled).toEqual({ log: [expect.objectContaining({ id: 'a' })], unsettled: 1 });
    expect(clock).toBe(1_000);
  });
});

const ARN = 'arn:aws:states:eu-west-1:000000000000:execution:failover-lab:run-1';
const PLAN = { name: 'payments', primaryRegion: 'us-east-1', recoveryRegion: 'eu-west-1', approval: { automatic: ['region-outage'] } };
const DETECTION = {
  classification: 'region-outage',
  action: 'failover',
  approvalRequired: false,
  reasons: ['3 of 3 probes failing'],
  evidence: {
    probes: [
      { name: 'eu-self', url: 'http://eu', healthy: true, status: 200, attempts: 1 },
      { name: 'us-api', url: 'http://us', healthy: false, error: 'ECONNREFUSED', attempts: 3 },
    ],
    alarms: [{ name: 'payments-health', state: 'ALARM' }],
    replication: [],
    trafficOnRecovery: false,
  },
};
const ev = (type: string, state: string | undefined, at: number, extra: Partial<ExecutionEvent> = {}): ExecutionEvent => ({
  type,
  ...(state ? { state } : {}),
  stateType: 'Task',
  at,
  nested: false,
  ...extra,
});

function execution(events: ExecutionEvent[], output?: Record<string, unknown>): AuditedExecution {
  return { executionArn: ARN, startDate: new Date(5_000), events, ...(output ? { output } : {}) };
}

const BASE_EVENTS = [
  ev('ExecutionStarted', undefined, 5_000),
  ev('StateExited', 'LoadPlan', 5_001, { output: { request: {}, plan: PLAN } }),
  ev('StateEntered', 'ConfirmRegionFailure', 5_010, { input: { plan: PLAN } }),
  ev('StateExited', 'ConfirmRegionFailure', 5_100, { output: { plan: PLAN, detection: DETECTION } }),
];

describe("the auditor's fields (issue 7, item 7)", () => {
  it('hashes the canonical JSON of the executed plan: key order does not change it', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: [1, { f: 1, e: 2 }] } })).toBe('{"a":{"c":[1,{"e":2,"f":1}],"d":2},"b":1}');
    expect(planSha256({ b: 1, a: 2 })).toBe(createHash('sha256').update('{"a":2,"b":1}').digest('hex'));
    expect(planSha256({ a: 2, b: 1 })).toBe(planSha256({ b: 1, a: 2 }));
    expect(planSha256({ a: 2, b: 1 })).not.toBe(planSha256({ a: 2, b: 2 }));
    expect(executedPlan(execution(BASE_EVENTS))).toEqual(PLAN);
  });

  it("names the orchestrator's version from package.json and the commit, or unknown", () => {
    const root = mkdtempSync(join(tmpdir(), 'audit-'));
    writeFileSync(join(root, 'package.json'), '{"version":"9.8.7"}');
    const sha = 'a'.repeat(40);
    expect(orchestratorVersion(root, () => `${sha}\n`)).toEqual({ version: '9.8.7', commit: sha });
    expect(
      orchestratorVersion(root, () => {
        throw new Error('not a git repository');
      }),
    ).toEqual({ version: '9.8.7', commit: 'unknown' });
    expect(orchestratorVersion(join(root, 'missing'), () => 'fatal: bad')).toEqual({ version: 'unknown', commit: 'unknown' });
  });

  it('carries the classification with its evidence, the alarms between fault and start, automatic approval, plan hash and the notification', () => {
    const events = [...BASE_EVENTS, ev('StateEntered', 'FenceUsWriters', 5_200)];
    const audit = auditOf({
      execution: execution(events, { notification: { detailType: 'Failover Succeeded', eventId: 'evt-1', slackTs: '1.2' } }),
      alarms: [
        { at: 3_000, name: 'old-alarm', state: 'OK', matched: false }, // before the fault
        { at: 4_500, name: 'payments-health', state: 'ALARM', matched: true },
        { at: 6_000, name: 'late', state: 'ALARM', matched: true }, // after the start
      ],
      faultAt: 4_000,
      t0: 1_000,
      busEvents: [
        { detailType: 'Failover Succeeded', detail: { executionId: 'arn:other', idempotencyKey: 'arn:other:succeeded' } },
        { detailType: 'Failover Succeeded', detail: { executionId: ARN, idempotencyKey: `${ARN}:succeeded`, outcome: 'succeeded' } },
      ],
      orchestrator: { version: '0.1.0', commit: 'unknown' },
    });
    expect(audit).toEqual({
      detection: {
        classification: 'region-outage',
        action: 'failover',
        approvalRequired: false,
        reasons: ['3 of 3 probes failing'],
        probes: [
          { name: 'us-api', healthy: false, error: 'ECONNREFUSED', attempts: 3 },
          { name: 'eu-self', healthy: true, status: 200, attempts: 1 },
        ],
        alarms: [{ name: 'payments-health', state: 'ALARM' }],
      },
      alarmsBeforeStart: [{ t: 3.5, name: 'payments-health', state: 'ALARM', matched: true }],
      approval: { mode: 'automatic', approved: true, policy: expect.stringContaining('region-outage') },
      planSha256: planSha256(PLAN),
      orchestrator: { version: '0.1.0', commit: 'unknown' },
      notification: { detailType: 'Failover Succeeded', idempotencyKey: `${ARN}:succeeded`, eventId: 'evt-1', slackTs: '1.2', outcome: 'succeeded' },
    });
  });

  const audit = (events: ExecutionEvent[], output?: Record<string, unknown>) =>
    auditOf({ execution: execution(events, output), alarms: [], faultAt: 0, t0: 0, busEvents: [], orchestrator: { version: '0.1.0', commit: 'unknown' } });

  it('says who approved, via what and when; who rejected (from the SendTaskFailure cause); a timeout; or that no gate was reached', () => {
    const approval = { approved: true, decidedBy: 'U0ALICE', decidedAt: '2026-01-01T00:00:09.000Z', via: 'slack' };
    const withGate = { ...DETECTION, approvalRequired: true };
    const gated = [...BASE_EVENTS.slice(0, 3), ev('StateExited', 'ConfirmRegionFailure', 5_100, { output: { detection: withGate } })];
    expect(audit([...gated, ev('StateExited', 'RequestFailoverApproval', 9_000, { output: { detection: withGate, approval } })]).approval).toEqual({
      mode: 'decided',
      ...approval,
    });
    expect(audit(gated, { approval: { ...approval, via: 'cli', decidedBy: 'bob' } }).approval).toMatchObject({ mode: 'decided', approved: true, decidedBy: 'bob', via: 'cli' });
    expect(
      audit([...gated, ev('StateFailed', 'RequestFailoverApproval', 9_000, { error: 'ApprovalRejected', cause: 'Rejected in Slack by U0BOB (bob): not during the sale' })])
        .approval,
    ).toEqual({
      mode: 'decided',
      approved: false,
      decidedBy: 'U0BOB',
      via: 'slack',
      decidedAt: new Date(9_000).toISOString(),
      comment: 'Rejected in Slack by U0BOB (bob): not during the sale',
    });
    expect(audit([...gated, ev('StateEntered', 'ApprovalTimedOut', 9_000)]).approval).toMatchObject({ mode: 'decided', approved: false, via: 'timeout-policy' });
    // A manual start is its own approval when the plan says so: not the alarm policy.
    const manual = [
      ...BASE_EVENTS,
      ev('StateExited', 'AcceptStartRequest', 5_005, { output: { start: { trigger: 'manual', requestedBy: 'carol' } } }),
      ev('StateEntered', 'FenceUsWriters', 5_200),
    ];
    expect(audit(manual).approval).toEqual({ mode: 'automatic', approved: true, policy: 'the manual start by carol is the approval (plan.approval.manualStartIsApproval)' });
    // Asked for approval, nobody answered yet: not automatic, even though the fence never ran.
    expect(audit(gated).approval).toEqual({ mode: 'not-reached' });
    expect(audit(BASE_EVENTS.slice(0, 2)).approval).toEqual({ mode: 'not-reached' });
    expect(audit(BASE_EVENTS).notification).toBeNull();
  });

  it('report.html shows the audit section; the summary prints it', () => {
    const html = renderReportHtml(sampleReport());
    expect(html).toMatch(/id="audit-classification"><strong>region-outage<\/strong>/);
    expect(html).toMatch(/<li data-healthy="false">[^<]*<span class="pill tone-fail">failing<\/span> payments-api/);
    expect(html).toMatch(/id="audit-alarms"><div>T\+13(\.0)? ?s payments-health → ALARM/);
    expect(html).toMatch(/id="audit-approval" data-mode="automatic">automatic: plan\.approval\.automatic allows &quot;region-outage&quot;/);
    expect(html).toContain(`id="audit-plan-sha256">${sampleReport().audit!.planSha256}<`);
    expect(html).toContain('id="audit-orchestrator">0.1.0 @ f478028c0ffee0000000000000000000000000aa<');
    expect(html).toContain(`idempotency key <span class="mono wrap">${sampleReport().audit!.notification!.idempotencyKey}</span>`);
    expect(renderReportHtml(samplePartitionReport())).toMatch(/id="audit-approval" data-mode="decided">rejected by timeout-policy via timeout-policy at /);
    expect(renderReportHtml(sampleReport({ audit: undefined }))).not.toContain('id="audit"');

    const text = summaryLines(sampleReport()).join('\n');
    expect(text).toMatch(/Classification\s+region-outage \(1 probe\(s\) failing: payments-api\)/);
    expect(text).toMatch(/Approval\s+automatic: plan\.approval\.automatic allows "region-outage"/);
    expect(text).toMatch(/Plan sha256 \/ orchestrator\s+3f0c7d1e\w+ \/ 0\.1\.0 @ f478028c/);
    expect(text).toMatch(/Notification\s+Failover Succeeded \(idempotency key arn:aws:states:.*:succeeded\)/);
  });
});

describe('progress lines in order (issue 7, first hour)', () => {
  const record = (name: string, startAt: number, alarmId?: string): ExecutionRecord =>
    ({
      executionArn: `arn:x:execution:sm:${name}`,
      name,
      startDate: new Date(startAt),
      input: alarmId ? { id: alarmId } : {},
      events: [],
      status: 'RUNNING',
    }) as unknown as ExecutionRecord;
  const narrate = (order: ExecutionRecord[]) => {
    const lines: string[] = [];
    const alarms: Record<string, { at: number; name: string; state: string }> = {
      'al-1': { at: 900, name: 'health', state: 'ALARM' },
      'al-2': { at: 950, name: 'db', state: 'ALARM' },
      'al-3': { at: 30_000, name: 'eu-health', state: 'ALARM' },
    };
    const narrator = new ProgressNarrator({
      say: (l) => lines.push(l),
      rel: (at) => at / 1000,
      ordinalOf: (e) => order.indexOf(e) + 1,
      alarmOf: (e) => alarms[(e.input as { id?: string }).id ?? ''],
    });
    return { lines, on: (e: ExecutionRecord, type: string, state?: string, at = 0, extra: Partial<ExecutionEvent> = {}) => narrator.onEvent(ev(type, state, at, extra), e) };
  };

  it('prints the alarm and the start before the first stage, flip-traffic on its own line, and a duplicate in one line', () => {
    const a = record('a', 1_000, 'al-1');
    const b = record('b', 1_010, 'al-2');
    const { lines, on } = narrate([a, b]);
    on(a, 'ExecutionStarted', undefined, 1_000);
    on(a, 'StateEntered', 'AcceptStartRequest', 1_001);
    on(b, 'ExecutionStarted', undefined, 1_010);
    on(b, 'StateEntered', 'AcceptStartRequest', 1_011);
    // b won the lease; a is its duplicate (single flight).
    on(b, 'StateExited', 'AcceptStartRequest', 1_020, { output: { start: {} } });
    on(a, 'StateExited', 'AcceptStartRequest', 1_030, { output: { start: { duplicateOf: b.executionArn } } });
    on(a, 'StateEntered', 'DuplicateStart', 1_031);
    on(a, 'ExecutionSucceeded', undefined, 1_032);
    on(b, 'StateEntered', 'RecoverInParallel', 2_000);
    on(b, 'StateEntered', 'FlipTraffic', 3_000, { nested: true });
    on(b, 'StateEntered', 'FlipTrafficToEu', 3_001, { nested: true });
    on(b, 'StateExited', 'FlipTraffic', 4_000, { nested: true });
    on(b, 'StateExited', 'RecoverInParallel', 4_100);
    expect(lines).toEqual([
      '⚑ t=0.9 s alarm db → ALARM; EventBridge rule matched',
      '▶ t=1.0 s execution b started',
      '  … accept-start-request',
      expect.stringMatching(/^ {2}✓ accept-start-request +0\.0 s$/),
      '· execution #1 a (alarm health → ALARM at t=0.9 s) is a duplicate of b: single flight, it ends as DuplicateStart and changes nothing',
      '  … promote-and-scale',
      '  … flip-traffic',
      expect.stringMatching(/^ {2}✓ flip-traffic +1\.0 s$/),
      expect.stringMatching(/^ {2}✓ promote-and-scale +2\.1 s$/),
    ]);
  });

  it("explains a later execution (the old region's alarm after a switchover) in one line at its end", () => {
    const first = record('switch', 1_000);
    const later = record('late', 30_100, 'al-3');
    const { lines, on } = narrate([first, later]);
    on(first, 'ExecutionStarted', undefined, 1_000);
    on(first, 'StateEntered', 'AcceptStartRequest', 1_001);
    on(first, 'StateExited', 'AcceptStartRequest', 1_002, { output: { start: {} } });
    on(first, 'ExecutionSucceeded', undefined, 20_000);
    const before = lines.length;
    on(later, 'ExecutionStarted', undefined, 30_100);
    on(later, 'StateEntered', 'AcceptStartRequest', 30_101);
    on(later, 'StateExited', 'AcceptStartRequest', 30_102, { output: { start: {} } });
    on(later, 'StateEntered', 'ConfirmRegionFailure', 30_103);
    on(later, 'StateExited', 'ConfirmRegionFailure', 30_200, { output: { detection: { classification: 'already-failed-over' } } });
    on(later, 'StateEntered', 'NotifyNoFailover', 30_201);
    on(later, 'StateExited', 'NotifyNoFailover', 30_300);
    on(later, 'ExecutionSucceeded', undefined, 30_301);
    expect(lines.slice(before)).toEqual([
      '· execution #2 late (alarm eu-health → ALARM at t=30.0 s): classified already-failed-over, ended SUCCEEDED after accept-start-request → confirm-region-failure → notify',
    ]);
  });
});

describe('Ctrl-C says what it cleaned up (issue 7, first hour)', () => {
  const servers = (running: boolean[]) => [
    { name: 'us-east-1', dataDir: '/w/data/us-east-1', running: running[0]! },
    { name: 'eu-west-1', dataDir: '/w/data/eu-west-1', running: running[1]! },
  ];

  it("reports the servers the lab's stop stopped and the directory it removed, as observed", () => {
    expect(
      interruptedLine(
        { servers: servers([true, true]), dirs: [{ path: '/w/data', exists: true, kept: false }] },
        { servers: servers([false, false]), dirs: [{ path: '/w/data', exists: false, kept: false }] },
      ),
    ).toBe('interrupted: stopped 2 PostgreSQL servers (us-east-1, eu-west-1), removed /w/data');
  });

  it('does not claim what did not happen: a crashed server was not "stopped", a survivor is named, a kept directory is kept', () => {
    expect(
      interruptedLine(
        { servers: servers([false, true]), dirs: [{ path: '/w/data', exists: true, kept: true }] },
        { servers: servers([false, true]), dirs: [{ path: '/w/data', exists: true, kept: true }] },
      ),
    ).toBe('interrupted: stopped 0 PostgreSQL servers, kept /w/data (--keep-data), STILL RUNNING: eu-west-1 (pg_ctl -D /w/data/eu-west-1 stop)');
  });
});
