/**
 * What the drill prints and report.html / report.json say, from synthetic reports and events
 * (issue 7, "Figures and reports" items 1, 2, 3, 6 and 8). No lab runs here.
 */
import { fenceOutcome, progressLines, summaryLines } from '../../lab/drill';
import type { ExecutionEvent } from '../../local/state-machine';
import { renderReportHtml, seriesSteps } from '../../lab/report/html';
import { samplePartitionReport, sampleReport, sampleSmokeFailureReport } from '../../lab/report/sample';
import { asExpected, SCENARIOS } from '../../lab/scenarios';

const ev = (type: string, state: string, at: number, extra: Partial<ExecutionEvent> = {}): ExecutionEvent => ({ type, state, stateType: 'Task', at, nested: false, ...extra });

/** A FenceResult as functions/core/contract.ts defines it: one step confirmed, one unconfirmed, one skipped. */
const FENCE_OUTPUT = {
  confirmed: false,
  approvalNeeded: false,
  budgetSeconds: 20,
  steps: [
    { resource: 'payments-db', kind: 'rds-replica', status: 'confirmed', confirmed: true, action: 'read-only', detail: 'default_transaction_read_only = 1' },
    { resource: 'payments-api', kind: 'ecs-service', status: 'unconfirmed', confirmed: false, action: 'scale to 0', detail: 'ECS did not answer' },
    { resource: 'worker', kind: 'ecs-service', status: 'skipped', confirmed: true, action: 'none', detail: 'not in the old region' },
  ],
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:00:20.000Z',
};

describe('no outage, no RTO (item 1)', () => {
  const partition = samplePartitionReport();

  it('the CLI prints no "not recovered" RTO, no "n/a s" estimate and no fence line of a fence that did not run', () => {
    const text = summaryLines(partition).join('\n');
    expect(text).toMatch(/RTO \(fault → first acknowledged write\)\s+none: no outage/);
    expect(text).not.toMatch(/no write acknowledged after the fault|n\/a/);
    expect(text).not.toMatch(/\[budget \d+ s\]/);
    // Where the orchestrator gave no estimate in a real outage, it says so in words.
    expect(summaryLines(sampleReport({ rpo: { lostAcknowledged: 3, seconds: 0.2, estimatedSeconds: null } })).join('\n')).toContain('no estimate from the orchestrator');
  });

  it('the HTML has no RTO card, no outage band, no RTO label or budget line', () => {
    const html = renderReportHtml(partition);
    expect(html).not.toContain('id="fig-rto"');
    expect(html).not.toContain('not recovered');
    expect(html).not.toContain('class="outage-window"');
    expect(html).not.toContain('class="rto-span-label"');
    expect(html).not.toMatch(/class="rto-budget/);
    expect(html).not.toContain('fault → first acknowledged write');
    expect(html).toMatch(/id="fig-no-outage"[\s\S]*?<div class="figure-value">none<\/div>/);
    // The outage report keeps all of them.
    const outage = renderReportHtml(sampleReport());
    for (const hook of ['id="fig-rto"', 'class="outage-window"', 'class="rto-span-label"', 'class="rto-budget"']) expect(outage).toContain(hook);
  });
});

describe('fence status per step (item 2)', () => {
  it('report.json carries each step with its status and the budget', () => {
    expect(fenceOutcome({ output: { fence: FENCE_OUTPUT } })).toEqual({
      confirmed: false,
      budgetSeconds: 20,
      unconfirmed: ['payments-api: ECS did not answer'],
      steps: [
        { resource: 'payments-db', kind: 'rds-replica', status: 'confirmed', action: 'read-only', detail: 'default_transaction_read_only = 1' },
        { resource: 'payments-api', kind: 'ecs-service', status: 'unconfirmed', action: 'scale to 0', detail: 'ECS did not answer' },
        { resource: 'worker', kind: 'ecs-service', status: 'skipped', action: 'none', detail: 'not in the old region' },
      ],
    });
    expect(fenceOutcome({ output: {} })).toBeNull();
    // A failed execution (smoke test) has no output: the fence stage's own output is the evidence.
    const fromStage = fenceOutcome({ output: undefined, events: [ev('StateExited', 'FenceUsWriters', 1, { output: { fence: FENCE_OUTPUT } })] });
    expect(fromStage).toMatchObject({ confirmed: false, unconfirmed: ['payments-api: ECS did not answer'] });
  });

  it('the CLI progress shows an unconfirmed fence with its steps, not a plain ✓', () => {
    const open = new Map();
    progressLines(ev('StateEntered', 'FenceUsWriters', 0), 'x', open);
    const lines = progressLines(ev('StateExited', 'FenceUsWriters', 20_000, { output: { fence: FENCE_OUTPUT } }), 'x', open);
    expect(lines[0]).toMatch(/^ {2}⚠ fence-us-writers\s+20\.0 s UNCONFIRMED$/);
    expect(lines.slice(1).map((l) => l.trim())).toEqual([
      '✓ payments-db (rds-replica) CONFIRMED: default_transaction_read_only = 1',
      '⚠ payments-api (ecs-service) UNCONFIRMED: ECS did not answer',
      '· worker (ecs-service) SKIPPED: not in the old region',
    ]);
    const summary = summaryLines(sampleReport({ fence: fenceOutcome({ output: { fence: FENCE_OUTPUT } }) })).join('\n');
    expect(summary).toMatch(/Fence\s+UNCONFIRMED \(1 step\(s\); budget 20 s\)\n\s+✓ payments-db[^\n]*\n\s+⚠ payments-api[^\n]*UNCONFIRMED[^\n]*\n\s+· worker[^\n]*SKIPPED/);
  });

  it('the HTML lists the steps and never draws an unconfirmed fence as a green success', () => {
    const html = renderReportHtml(
      sampleReport({
        fence: fenceOutcome({ output: { fence: FENCE_OUTPUT } }),
        stageBars: [{ name: 'fence-us-writers', status: 'unconfirmed', start: 14.6, end: 15.9 }],
      }),
    );
    expect([...html.matchAll(/<table id="fence-steps">[\s\S]*?<\/table>/g)]).toHaveLength(1);
    expect([...html.matchAll(/<tr data-resource="([^"]+)" data-status="([^"]+)">/g)].map((m) => [m[1], m[2]])).toEqual([
      ['payments-db', 'confirmed'],
      ['payments-api', 'unconfirmed'],
      ['worker', 'skipped'],
    ]);
    expect(html).toMatch(/<rect class="stage-bar tone-warn" data-stage="fence-us-writers" data-status="unconfirmed"/);
    expect(html).toMatch(/id="fig-fence"[\s\S]*?1 confirmed, 1 unconfirmed, 1 skipped/);
  });
});

describe('retries visible (item 3)', () => {
  it('the CLI prints every failed attempt with the time since the stage began', () => {
    const open = new Map();
    const events = [
      ev('StateEntered', 'SmokeTestEu', 0),
      ev('StateFailed', 'SmokeTestEu', 80, { error: 'SmokeTestFailed' }),
      ev('StateRetried', 'SmokeTestEu', 440),
      ev('StateFailed', 'SmokeTestEu', 520, { error: 'SmokeTestFailed' }),
      ev('StateRetried', 'SmokeTestEu', 880),
      ev('StateFailed', 'SmokeTestEu', 1400, { error: 'SmokeTestFailed' }),
      ev('StateCaught', 'SmokeTestEu', 1400),
      ev('StateExited', 'SmokeTestEu', 1400),
    ];
    const lines = events.flatMap((e) => progressLines(e, 'k', open)).map((l) => l.replace(/\s+/g, ' ').trim());
    expect(lines).toEqual([
      '… smoke-test',
      '✗ smoke-test 0.1 s (attempt 1: SmokeTestFailed)',
      '↻ smoke-test attempt 2 (Retry)',
      '✗ smoke-test 0.5 s (attempt 2: SmokeTestFailed)',
      '↻ smoke-test attempt 3 (Retry)',
      '✗ smoke-test 1.4 s (attempt 3: SmokeTestFailed)',
    ]);
  });

  it('the summary and the HTML list the attempts under the stage, whose time covers them all', () => {
    const report = sampleSmokeFailureReport();
    const text = summaryLines(report).join('\n');
    expect(text).toMatch(/smoke\s+failed\s+1\.40 s\s+4 attempts\n(\s+attempt \d: failed \(SmokeTestFailed\) 0\.08 s\n){4}/);
    const html = renderReportHtml(report);
    expect(html).toMatch(/<tr data-stage="smoke">[\s\S]*?4 attempts[\s\S]*?1\.4 s<\/td>\n<\/tr>\n<tr class="attempts-row" data-attempts-of="smoke">/);
    expect(html.match(/<li class="attempt" data-status="failed">/g)).toHaveLength(4);
    expect(html).toMatch(/class="stage-duration"[^>]*>1\.4 s · failed · 4 attempts</);
  });
});

describe('throughput drawn per bucket and the tx/s card (item 6)', () => {
  it('draws each bucket as a step from its start to its end: the value before the fault holds up to the fault', () => {
    const steps = seriesSteps([
      { t: 1.3, w: 1, v: 100 },
      { t: 2.3, w: 1, v: 0 },
      { t: 3.3, w: 1, v: null },
      { t: 4.3, w: 0.7, v: 100 },
    ]);
    expect(steps).toEqual([
      [
        { from: 1.3, to: 2.3, v: 100 },
        { from: 2.3, to: 3.3, v: 0 },
      ],
      [{ from: 4.3, to: 5, v: 100 }],
    ]);
  });

  it('the card shows the rate before the fault and the offered load, not the average over the outage', () => {
    const report = sampleReport();
    const html = renderReportHtml(report);
    const pre = report.throughput.preFault!;
    expect(pre.achievedPerSecond).toBeGreaterThan(report.throughput.txPerSecond);
    expect(html).toMatch(new RegExp(`id="fig-throughput"[\\s\\S]*?Throughput before the fault[\\s\\S]*?${pre.achievedPerSecond} tx/s[\\s\\S]*?offered 167 tx/s`));
    expect(summaryLines(report).join('\n')).toMatch(new RegExp(`offered 167 tx/s; before the fault 167 sent, ${pre.achievedPerSecond} acknowledged per s`));
  });
});

describe('expected outcome per scenario (item 8)', () => {
  it('every scenario documents its outcome', () => {
    expect(Object.fromEntries(Object.values(SCENARIOS).map((s) => [s.name, s.expectedOutcome]))).toEqual({
      'region-outage': 'succeeded',
      'region-blackhole': 'succeeded',
      'database-failure': 'succeeded',
      'network-partition': 'aborted',
      'lag-spike': 'no-failover',
      'planned-switchover': 'succeeded',
      'approval-rejected': 'aborted',
      'approval-timeout': 'aborted',
      'smoke-test-failure': 'failed',
    });
  });

  it('an approval-rejected run that aborted without promoting is a pass; anything else is not', () => {
    const rejected = SCENARIOS['approval-rejected']!;
    expect(asExpected(rejected, { outcome: 'aborted', promoted: false, otherActed: false })).toBe(true);
    expect(asExpected(rejected, { outcome: 'succeeded', promoted: true, otherActed: false })).toBe(false);
    expect(asExpected(rejected, { outcome: 'aborted', promoted: true, otherActed: false })).toBe(false);
    expect(asExpected(SCENARIOS['region-outage']!, { outcome: 'succeeded', promoted: true, otherActed: true })).toBe(false);
    expect(asExpected(SCENARIOS['smoke-test-failure']!, { outcome: 'failed', promoted: true, otherActed: false })).toBe(true);
  });

  it('the summary says whether the documented outcome happened', () => {
    expect(summaryLines(sampleReport())[1]).toBe('Scenario region-outage (failover): SUCCEEDED — as expected');
    expect(summaryLines(sampleReport({ outcome: 'failed', asExpected: false }))[1]).toBe('Scenario region-outage (failover): FAILED — NOT AS EXPECTED (documented: succeeded)');
  });
});
