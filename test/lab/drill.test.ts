/**
 * The lab for real: PostgreSQL primary and streaming standby, traffic at the seed's peak, the real
 * state machine and handlers over the simulated control plane. Asserts the measured facts (what the
 * clients saw against what the databases hold), never wall-clock targets: the figures are reported
 * by `npm run drill`. Each run must leave no process and no data directory behind.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDrill, DEFAULT_DRILL } from '../../lab/drill';
import { closeSharedServices } from '../../lab/lab';
import type { DrillReport } from '../../lab/report/types';
import type { TxRecord } from '../../lab/traffic';

jest.setTimeout(300_000); // a planned switchover waits for a one-minute ReplicaLag datapoint after its fence

const outDirs: string[] = [];
afterAll(async () => {
  await closeSharedServices();
  for (const dir of outDirs) rmSync(dir, { recursive: true, force: true });
});

/** One failover at a time: any other execution (a second alarm of the incident, an alarm the failover itself raised) must not act. */
function expectNoOtherRunActed(report: DrillReport): void {
  expect((report.otherExecutions ?? []).filter((e) => e.acted)).toEqual([]);
  // The scenario's documented outcome happened: what the drill's exit code reports.
  expect({ expectedOutcome: report.expectedOutcome, asExpected: report.asExpected }).toEqual({ expectedOutcome: report.outcome, asExpected: true });
}

/** Every stage succeeded, except a fence that could not confirm every step: unconfirmed, never a plain success. */
const stageStatuses = (report: DrillReport) => report.stages.map((s) => `${s.name}: ${s.status}`);
const expectedStatuses = (report: DrillReport) =>
  report.stages.map((s) => `${s.name}: ${s.name === 'fence-us-writers' && report.fence?.confirmed === false ? 'unconfirmed' : 'succeeded'}`);

/** The failover succeeded and writes resumed after the fault (epoch ms), acknowledged by the recovery region only. */
function expectFailedOverToEu(report: DrillReport, log: TxRecord[], faultAt: number): void {
  expect({ outcome: report.outcome, error: report.execution.error }).toEqual({ outcome: 'succeeded', error: undefined });
  expect(report.mode).toBe('failover');
  expect(report.rtoSeconds).not.toBeNull();
  const acksAfter = log.filter((r) => r.ok && r.sentAt > faultAt);
  expect(acksAfter.length).toBeGreaterThan(0);
  expect(new Set(acksAfter.map((r) => r.region))).toEqual(new Set(['eu-west-1']));
}

async function drill(scenario: string): Promise<{ report: DrillReport; outDir: string; log: TxRecord[]; lines: string[] }> {
  const outDir = mkdtempSync(join(tmpdir(), `lab-test-${scenario}-`));
  outDirs.push(outDir);
  const lines: string[] = [];
  const report = await runDrill({ ...DEFAULT_DRILL, scenario, outDir, progress: (l) => lines.push(l) });
  const log = readFileSync(join(outDir, 'transactions.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as TxRecord);
  return { report, outDir, log, lines };
}

function postgresProcessesUnder(dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', 'postgres'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(dir));
  } catch {
    return [];
  }
}

const CONTRACT_KEYS = [
  'scenario',
  'mode',
  'outcome',
  'rtoSeconds',
  'rpo',
  'acknowledged',
  'errors',
  'splitBrain',
  'fence',
  'orchestrationOverheadMs',
  'throughput',
  'stages',
  'report',
  'expectedOutcome',
  'asExpected',
  'outage',
];

/** The figures the lead compares across scenarios on one machine (never asserted: wall-clock). */
const figures: Record<string, unknown> = {};
afterAll(() => {
  if (Object.keys(figures).length > 0) process.stderr.write(`lab figures: ${JSON.stringify(figures)}\n`);
});

const RUNBOOK = ['confirm-region-failure', 'fence-us-writers', 'promote-eu-database', 'scale-eu-compute', 'flip-traffic', 'smoke-test', 'notify'];

describe('npm run drill', () => {
  it('region-outage: fails over by itself, loses only acknowledged-but-unreplicated writes, no split-brain, cleans up', async () => {
    const { report, outDir, log, lines } = await drill('region-outage');
    const faultAt = Math.round(Date.parse(report.startedAt) + report.faultAt! * 1000);
    figures['region-outage'] = { rtoSeconds: report.rtoSeconds, lost: report.rpo.lostAcknowledged, fence: report.fence };

    expectFailedOverToEu(report, log, faultAt);
    // Loss: only writes us-east-1 acknowledged before the fault (the replication gap), never a write the EU acknowledged.
    // The region's own acknowledgement time is the one that counts: an answer it sent just before it died can
    // reach the client a few milliseconds after the fault, through the front door.
    const lost = report.rpo.lostAcknowledged;
    expect(lost).toBeLessThan(report.settings.rate); // under one second of traffic at an 80 ms link
    expect(report.rpo.seconds).toBeLessThan(report.budgets.rpoSeconds);
    // The orchestrator's estimate is the lag at the fault, from one-minute ReplicaLag datapoints: a number, or
    // explicitly unknown when the lab had not yet run a whole minute before the fault (never a guess).
    if (report.rpo.estimatedSeconds === null) expect(report.notes.join('\n')).toMatch(/data-loss estimate as unknown/);
    else expect(report.rpo.estimatedSeconds).toBeGreaterThanOrEqual(0);
    expect(report.lost).toHaveLength(lost);
    for (const l of report.lost!) {
      expect(l.region).toBe('us-east-1');
      expect(l.regionAcknowledgedAt).toBeDefined();
      expect(Date.parse(l.regionAcknowledgedAt!)).toBeLessThanOrEqual(faultAt);
    }
    expect(report.splitBrain).toBe(false);
    expect(report.splitBrainWrites).toBe(0);
    expectNoOtherRunActed(report);
    // The runbook's order, measured from the execution.
    const names = report.stages.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(RUNBOOK));
    expect(names.indexOf('fence-us-writers')).toBeLessThan(names.indexOf('flip-traffic'));
    expect(stageStatuses(report)).toEqual(expectedStatuses(report));
    // A region that is down cannot confirm its fence: reported, and the plan's policy (proceed) applied.
    expect(report.fence).toMatchObject({ confirmed: false });
    expect(report.fence!.unconfirmed.length).toBeGreaterThan(0);
    // It refused: the clients' failures are the front door's 502s, not their own timeouts.
    expect(log.some((r) => r.sentAt >= faultAt && r.status === 502)).toBe(true);
    // Progress in order: the alarm, then the execution's start, then its first stage; flip-traffic on its own line (issue 7, first hour).
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    expect(at(/^⚑ .* alarm .* → ALARM/)).toBeGreaterThan(-1);
    expect(at(/^⚑ .* alarm/)).toBeLessThan(at(/^▶ .* execution .* started/));
    expect(at(/^▶ .* execution .* started/)).toBeLessThan(at(/… accept-start-request/));
    expect(at(/^ {2}✓ flip-traffic/)).toBeGreaterThan(at(/… promote-and-scale/));
    // The auditor's fields (issue 7, item 7), from the execution's own record.
    expect(report.audit).toMatchObject({
      detection: { classification: 'region-outage' },
      approval: { mode: 'automatic' },
      orchestrator: { version: JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')).version },
      notification: { detailType: 'Failover Succeeded', idempotencyKey: `${report.execution.executionArn}:succeeded` },
    });
    expect(report.audit!.detection!.probes.some((p) => !p.healthy)).toBe(true);
    expect(report.audit!.alarmsBeforeStart.length).toBeGreaterThan(0);
    expect(report.audit!.planSha256).toMatch(/^[0-9a-f]{64}$/);
    // Evidence on disk, and nothing left running.
    expect(Object.keys(JSON.parse(readFileSync(join(outDir, 'report.json'), 'utf8')))).toEqual(expect.arrayContaining([...CONTRACT_KEYS, 'audit']));
    expect(readFileSync(report.report, 'utf8')).toContain('<svg');
    expect(existsSync(join(outDir, 'data'))).toBe(false);
    expect(postgresProcessesUnder(outDir)).toEqual([]);
  });

  it('region-blackhole: us-east-1 accepts and never answers; fails over anyway, fence unconfirmed (not a failure), no split-brain, nothing left held', async () => {
    const { report, outDir, log } = await drill('region-blackhole');
    const faultAt = Math.round(Date.parse(report.startedAt) + report.faultAt! * 1000);
    figures['region-blackhole'] = {
      rtoSeconds: report.rtoSeconds,
      lost: report.rpo.lostAcknowledged,
      fence: report.fence,
      stages: report.stages.map((s) => `${s.name} ${s.durationMs} ms`),
    };

    expectFailedOverToEu(report, log, faultAt);
    // It hung: requests to us-east-1 after the fault ended by the clients' own timeout, never by a refusal.
    expect(log.some((r) => r.sentAt >= faultAt && r.status === 0 && r.error === 'timeout')).toBe(true);
    // The fence could not be confirmed within its budget: reported per step, and the run went on (policy: proceed).
    expect(report.fence).toMatchObject({ confirmed: false });
    expect(report.fence!.unconfirmed.length).toBeGreaterThan(0);
    expect(report.stages.find((s) => s.name === 'fence-us-writers')?.status).toBe('unconfirmed');
    expect(report.fence!.steps!.filter((s) => s.status === 'unconfirmed').length).toBe(report.fence!.unconfirmed.length);
    expect(report.stages.map((s) => s.name)).toEqual(expect.arrayContaining(RUNBOOK));
    expect(stageStatuses(report)).toEqual(expectedStatuses(report));
    expect(report.notes.join('\n')).toMatch(/Fence unconfirmed within its 1 s budget/);
    // Loss: only what us-east-1 acknowledged before the fault and never replicated.
    expect(report.rpo.lostAcknowledged).toBeLessThan(report.settings.rate);
    for (const l of report.lost!) expect(Date.parse(l.regionAcknowledgedAt!)).toBeLessThanOrEqual(faultAt);
    expect(report.splitBrain).toBe(false);
    expect(report.splitBrainWrites).toBe(0);
    expectNoOtherRunActed(report);
    expect(existsSync(join(outDir, 'data'))).toBe(false);
    expect(postgresProcessesUnder(outDir)).toEqual([]);
  });

  it('planned-switchover: zero acknowledged transactions lost, every write in the new primary, no split-brain', async () => {
    const { report, outDir, log } = await drill('planned-switchover');
    figures['planned-switchover'] = {
      rtoSeconds: report.rtoSeconds,
      fenceToPromotedSeconds: report.fenceToPromotedSeconds,
      stages: report.stages.map((s) => `${s.name} ${s.durationMs} ms`),
    };

    expect({ outcome: report.outcome, error: report.execution.error }).toEqual({ outcome: 'succeeded', error: undefined });
    expect(report.mode).toBe('switchover');
    expect(report.rpo).toMatchObject({ lostAcknowledged: 0, seconds: 0, estimatedSeconds: 0 });
    expect(report.splitBrain).toBe(false);
    // The fence stops the US writers (ECS to 0: its health endpoint answers 503), which raises the health
    // alarm: the run that alarm starts must not promote behind the switchover's catch-up wait.
    expectNoOtherRunActed(report);
    expect(log.filter((r) => r.ok).length).toBe(report.acknowledged);
    expect(log.some((r) => r.ok && r.region === 'eu-west-1')).toBe(true);
    const names = report.stages.map((s) => s.name);
    expect(names.indexOf('fence-us-writers')).toBeLessThan(names.indexOf('promote-eu-database'));
    expect(report.fence).toMatchObject({ confirmed: true, unconfirmed: [] });
    expect(report.fence!.steps!.map((s) => s.status).filter((st) => st !== 'confirmed' && st !== 'skipped')).toEqual([]);
    // The catch-up wait (fence → promoted) is measured and reported: ReplicaLag is published once a minute.
    expect(report.fenceToPromotedSeconds).not.toBeNull();
    expect(report.notes.join('\n')).toMatch(/Catch-up wait: [\d.]+ s from the fence to the promotion/);
    expect(existsSync(join(outDir, 'data'))).toBe(false);
    expect(postgresProcessesUnder(outDir)).toEqual([]);
  });
});
