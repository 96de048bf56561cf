/**
 * The drill matrix: every scenario (or the ones named), each run N times in its own process, one
 * after the other, and a table of what happened with the median of each figure. It is the evidence an
 * SRE or an auditor asks for ("does the lab do what each scenario documents, every time, and how fast?")
 * and what a closing note quotes.
 *
 *   npm run -s drill:matrix -- [--runs 3] [--scenario a,b] [--rate 167] [--out DIR] [--json]
 *
 * Each run is `npm run drill -- --scenario S --json` (lab/drill.ts), its report kept under
 * DIR/S-k/. Exit code 0 when every run had its scenario's documented outcome (`asExpected`), 1
 * otherwise, 2 on a bad command line.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { argsErrorMessage } from '../scripts/lib/cli-args';
import { SCENARIOS } from './scenarios';

const ROOT = resolve(__dirname, '..');

/** The part of a drill's JSON summary (lab/drill.ts) the matrix reads. */
export interface DrillSummary {
  scenario: string;
  outcome: string;
  expectedOutcome: string;
  asExpected: boolean;
  /** Whether the scenario interrupts writes (false: network-partition, lag-spike: no RTO by design). */
  outage?: boolean;
  rtoSeconds: number | null;
  rpo: { lostAcknowledged: number; estimatedSeconds: number | null };
  orchestrationOverheadMs: number;
  throughput?: { preFaultWindow?: { askedPerSecond: number; achievedPerSecond: number; holds: boolean } };
}

/** One run: its summary, or why there is none (the drill crashed, printed no JSON). */
export type MatrixRun = { scenario: string; run: number; summary: DrillSummary } | { scenario: string; run: number; error: string };

/** Median of the numbers present; null when there are none (e.g. RTO of a scenario without an outage). */
export function median(values: ReadonlyArray<number | null | undefined>): number | null {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
}

const fmt = (v: number | null | undefined, digits = 1): string => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—');

/** RTO as the table shows it: seconds, "—" without an outage, "not recovered" when writes never came back. */
const rtoCell = (s: DrillSummary): string => (s.rtoSeconds === null && s.outage === true ? 'not recovered' : fmt(s.rtoSeconds));

/**
 * The table, in Markdown: a row per run, then the scenario's median row. RTO is "—" without an
 * outage and "not recovered" when writes never came back (approval-rejected: nothing promoted, by
 * design); the estimate is "—" where there is none; a run without a summary says why.
 */
export function matrixTable(runs: readonly MatrixRun[]): string {
  const lines = [
    '| scenario | run | outcome (expected) | as expected | RTO s | lost | estimate s | overhead ms | pre-fault tx/s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const scenarios = [...new Set(runs.map((r) => r.scenario))];
  for (const scenario of scenarios) {
    const mine = runs.filter((r) => r.scenario === scenario);
    const summaries: DrillSummary[] = [];
    for (const r of mine) {
      if ('error' in r) {
        lines.push(`| ${scenario} | ${r.run} | no summary: ${r.error.replace(/\|/g, '\\|')} | no | — | — | — | — | — |`);
        continue;
      }
      const s = r.summary;
      summaries.push(s);
      const w = s.throughput?.preFaultWindow;
      lines.push(
        `| ${scenario} | ${r.run} | ${s.outcome} (${s.expectedOutcome}) | ${s.asExpected ? 'yes' : '**no**'} | ${rtoCell(s)} | ${s.rpo.lostAcknowledged} | ${fmt(s.rpo.estimatedSeconds, 2)} | ${fmt(s.orchestrationOverheadMs, 0)} | ${w ? `${fmt(w.achievedPerSecond)} of ${w.askedPerSecond}${w.holds ? '' : ' (not held)'}` : '—'} |`,
      );
    }
    const expected = mine.filter((r) => 'summary' in r && r.summary.asExpected).length;
    const recovered = summaries.filter((s) => s.rtoSeconds !== null);
    const rtoMedian = recovered.length === 0 && summaries.some((s) => s.outage === true) ? 'not recovered' : fmt(median(recovered.map((s) => s.rtoSeconds)));
    lines.push(
      `| **${scenario}** | **median** | | **${expected}/${mine.length}** | **${rtoMedian}** | **${fmt(median(summaries.map((s) => s.rpo.lostAcknowledged)), 0)}** | **${fmt(median(summaries.map((s) => s.rpo.estimatedSeconds)), 2)}** | **${fmt(median(summaries.map((s) => s.orchestrationOverheadMs)), 0)}** | |`,
    );
  }
  return lines.join('\n');
}

/** The drill's JSON line: the last stdout line that parses as a summary. */
export function summaryFrom(stdout: string): DrillSummary | undefined {
  for (const line of stdout.trim().split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as DrillSummary;
      if (typeof parsed.scenario === 'string' && typeof parsed.asExpected === 'boolean') return parsed;
    } catch {
      // not the summary
    }
  }
  return undefined;
}

function runDrill(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(ROOT, 'scripts', 'lib', 'require-ts.js'), 'lab/drill.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

const USAGE = 'usage: npm run -s drill:matrix -- [--runs N] [--scenario a,b,…] [--rate N] [--out DIR] [--json]';

export async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        runs: { type: 'string' },
        scenario: { type: 'string' },
        rate: { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    console.error(`${argsErrorMessage(e)}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(
      [
        USAGE,
        '',
        '  --runs N          runs of each scenario, whole in [1, 20] (default 3)',
        `  --scenario a,b    scenarios to run (default all: ${Object.keys(SCENARIOS).join(', ')})`,
        '  --rate N          transactions per second (passed to the drill; default its own, 167)',
        '  --out DIR         where each run keeps its report (default .lab/matrix-TIME/SCENARIO-RUN)',
        '  --json            print the runs as one JSON line on stdout instead of the table',
        '  -h, --help        print this help and exit',
      ].join('\n'),
    );
    return 0;
  }
  const runs = Number(values.runs ?? '3');
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) {
    console.error(`--runs must be a whole number in [1, 20], got ${String(values.runs)}\n${USAGE}`);
    return 2;
  }
  const scenarios = values.scenario === undefined ? Object.keys(SCENARIOS) : String(values.scenario).split(',').filter(Boolean);
  const unknown = scenarios.filter((s) => !SCENARIOS[s]);
  if (unknown.length > 0 || scenarios.length === 0) {
    console.error(`--scenario must name scenarios among ${Object.keys(SCENARIOS).join(', ')}, got ${String(values.scenario)}\n${USAGE}`);
    return 2;
  }
  const out = resolve(String(values.out ?? join(ROOT, '.lab', `matrix-${new Date().toISOString().replace(/[:.]/g, '-')}`)));
  mkdirSync(out, { recursive: true });

  const results: MatrixRun[] = [];
  for (const scenario of scenarios) {
    for (let run = 1; run <= runs; run++) {
      const args = ['--scenario', scenario, '--json', '--out', join(out, `${scenario}-${run}`), ...(values.rate !== undefined ? ['--rate', String(values.rate)] : [])];
      const { code, stdout, stderr } = await runDrill(args);
      const summary = summaryFrom(stdout);
      const result: MatrixRun = summary ? { scenario, run, summary } : { scenario, run, error: `exit ${code}: ${stderr.trim().split('\n').pop() ?? ''}` };
      results.push(result);
      console.error(
        `${scenario} #${run}: ${'summary' in result ? `${result.summary.outcome}, as expected: ${result.summary.asExpected}, RTO ${rtoCell(result.summary)}` : result.error}`,
      );
    }
  }
  if (values.json) console.log(JSON.stringify({ out, runs: results }));
  else console.log(matrixTable(results));
  return results.every((r) => 'summary' in r && r.summary.asExpected) ? 0 : 1;
}
