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

jest.setTimeout(180_000);

const outDirs: string[] = [];
afterAll(async () => {
  await closeSharedServices();
  for (const dir of outDirs) rmSync(dir, { recursive: true, force: true });
});

async function drill(scenario: string): Promise<{ report: DrillReport; outDir: string; log: TxRecord[] }> {
  const outDir = mkdtempSync(join(tmpdir(), `lab-test-${scenario}-`));
  outDirs.push(outDir);
  const lines: string[] = [];
  const report = await runDrill({ ...DEFAULT_DRILL, scenario, outDir, progress: (l) => lines.push(l) });
  const log = readFileSync(join(outDir, 'transactions.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as TxRecord);
  return { report, outDir, log };
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

const CONTRACT_KEYS = ['scenario', 'mode', 'outcome', 'rtoSeconds', 'rpo', 'acknowledged', 'errors', 'splitBrain', 'orchestrationOverheadMs', 'throughput', 'stages', 'report'];

describe('npm run drill', () => {
  it('region-outage: fails over by itself, loses only acknowledged-but-unreplicated writes, no split-brain, cleans up', async () => {
    const { report, outDir, log } = await drill('region-outage');
    const faultAt = Math.round(Date.parse(report.startedAt) + report.faultAt! * 1000);

    expect({ outcome: report.outcome, error: report.execution.error }).toEqual({ outcome: 'succeeded', error: undefined });
    expect(report.mode).toBe('failover');
    // Writes resumed after the fault, in the recovery region.
    expect(report.rtoSeconds).not.toBeNull();
    const acksAfter = log.filter((r) => r.ok && r.sentAt > faultAt);
    expect(acksAfter.length).toBeGreaterThan(0);
    expect(new Set(acksAfter.map((r) => r.region))).toEqual(new Set(['eu-west-1']));
    // Loss: only writes us-east-1 acknowledged before the fault (the replication gap), never a write the EU acknowledged.
    // The region's own acknowledgement time is the one that counts: an answer it sent just before it died can
    // reach the client a few milliseconds after the fault, through the front door.
    const lost = report.rpo.lostAcknowledged;
    expect(lost).toBeLessThan(report.settings.rate); // under one second of traffic at an 80 ms link
    expect(report.rpo.seconds).toBeLessThan(report.budgets.rpoSeconds);
    expect(report.rpo.estimatedSeconds).not.toBeNull();
    expect(report.lost).toHaveLength(lost);
    for (const l of report.lost!) {
      expect(l.region).toBe('us-east-1');
      expect(l.regionAcknowledgedAt).toBeDefined();
      expect(Date.parse(l.regionAcknowledgedAt!)).toBeLessThanOrEqual(faultAt);
    }
    expect(report.splitBrain).toBe(false);
    expect(report.splitBrainWrites).toBe(0);
    // The runbook's order, measured from the execution.
    const names = report.stages.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['confirm-region-failure', 'fence-us-writers', 'promote-eu-database', 'scale-eu-compute', 'flip-traffic', 'smoke-test', 'notify']));
    expect(names.indexOf('fence-us-writers')).toBeLessThan(names.indexOf('flip-traffic'));
    expect(report.stages.every((s) => s.status === 'succeeded')).toBe(true);
    // Evidence on disk, and nothing left running.
    expect(Object.keys(JSON.parse(readFileSync(join(outDir, 'report.json'), 'utf8')))).toEqual(expect.arrayContaining(CONTRACT_KEYS));
    expect(readFileSync(report.report, 'utf8')).toContain('<svg');
    expect(existsSync(join(outDir, 'data'))).toBe(false);
    expect(postgresProcessesUnder(outDir)).toEqual([]);
  });

  it('planned-switchover: zero acknowledged transactions lost, every write in the new primary, no split-brain', async () => {
    const { report, outDir, log } = await drill('planned-switchover');

    expect({ outcome: report.outcome, error: report.execution.error }).toEqual({ outcome: 'succeeded', error: undefined });
    expect(report.mode).toBe('switchover');
    expect(report.rpo).toMatchObject({ lostAcknowledged: 0, seconds: 0, estimatedSeconds: 0 });
    expect(report.splitBrain).toBe(false);
    expect(log.filter((r) => r.ok).length).toBe(report.acknowledged);
    expect(log.some((r) => r.ok && r.region === 'eu-west-1')).toBe(true);
    const names = report.stages.map((s) => s.name);
    expect(names.indexOf('fence-us-writers')).toBeLessThan(names.indexOf('promote-eu-database'));
    expect(existsSync(join(outDir, 'data'))).toBe(false);
    expect(postgresProcessesUnder(outDir)).toEqual([]);
  });
});
