/**
 * The drill matrix's pure parts: medians (none where no run has the figure), the table (a row per
 * run, the median row, failures shown), the summary line picked out of a drill's stdout, and the
 * command line refused before anything runs.
 */
import { main, matrixTable, median, summaryFrom, type DrillSummary, type MatrixRun } from '../../lab/drill-matrix';

const summary = (over: Partial<DrillSummary> = {}): DrillSummary => ({
  scenario: 'region-outage',
  outcome: 'succeeded',
  expectedOutcome: 'succeeded',
  asExpected: true,
  rtoSeconds: 10,
  rpo: { lostAcknowledged: 0, estimatedSeconds: 0.2 },
  orchestrationOverheadMs: 40,
  throughput: { preFaultWindow: { askedPerSecond: 167, achievedPerSecond: 166.5, holds: true } },
  ...over,
});

describe('median', () => {
  it('is the middle value, the mean of the two middle ones for an even count, and ignores missing figures', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([null, 7, undefined, 5, 6])).toBe(6);
  });

  it('is null when no run has the figure (no outage: no RTO)', () => {
    expect(median([null, null])).toBeNull();
    expect(median([])).toBeNull();
  });
});

describe('matrixTable', () => {
  it('has a row per run and a median row per scenario, with "—" where a scenario has no RTO', () => {
    const runs: MatrixRun[] = [
      { scenario: 'region-outage', run: 1, summary: summary({ rtoSeconds: 9.5 }) },
      { scenario: 'region-outage', run: 2, summary: summary({ rtoSeconds: 11.5, rpo: { lostAcknowledged: 2, estimatedSeconds: 0.4 } }) },
      { scenario: 'region-outage', run: 3, summary: summary({ rtoSeconds: 10.1 }) },
      {
        scenario: 'network-partition',
        run: 1,
        summary: summary({ scenario: 'network-partition', outcome: 'aborted', expectedOutcome: 'aborted', rtoSeconds: null, rpo: { lostAcknowledged: 0, estimatedSeconds: null } }),
      },
    ];

    const lines = matrixTable(runs).split('\n');

    expect(lines).toHaveLength(2 + 3 + 1 + 1 + 1);
    expect(lines[2]).toBe('| region-outage | 1 | succeeded (succeeded) | yes | 9.5 | 0 | 0.20 | 40 | 166.5 of 167 |');
    expect(lines[5]).toBe('| **region-outage** | **median** | | **3/3** | **10.1** | **0** | **0.20** | **40** | |');
    expect(lines[6]).toBe('| network-partition | 1 | aborted (aborted) | yes | — | 0 | — | 40 | 166.5 of 167 |');
    expect(lines[7]).toBe('| **network-partition** | **median** | | **1/1** | **—** | **0** | **—** | **40** | |');
  });

  it('says "not recovered" for an outage writes never came back from, and "—" only where there was no outage', () => {
    const runs: MatrixRun[] = [
      {
        scenario: 'approval-rejected',
        run: 1,
        summary: summary({ scenario: 'approval-rejected', outcome: 'aborted', expectedOutcome: 'aborted', outage: true, rtoSeconds: null }),
      },
      { scenario: 'lag-spike', run: 1, summary: summary({ scenario: 'lag-spike', outcome: 'no-failover', expectedOutcome: 'no-failover', outage: false, rtoSeconds: null }) },
    ];

    const text = matrixTable(runs);

    expect(text).toContain('| approval-rejected | 1 | aborted (aborted) | yes | not recovered |');
    expect(text).toContain('| **approval-rejected** | **median** | | **1/1** | **not recovered** |');
    expect(text).toContain('| lag-spike | 1 | no-failover (no-failover) | yes | — |');
    expect(text).toContain('| **lag-spike** | **median** | | **1/1** | **—** |');
  });

  it('shows a run that did not have its documented outcome, one whose lab did not hold the rate, and one without a summary', () => {
    const runs: MatrixRun[] = [
      {
        scenario: 'lag-spike',
        run: 1,
        summary: summary({
          scenario: 'lag-spike',
          outcome: 'aborted',
          expectedOutcome: 'no-failover',
          asExpected: false,
          throughput: { preFaultWindow: { askedPerSecond: 2000, achievedPerSecond: 1730.5, holds: false } },
        }),
      },
      { scenario: 'lag-spike', run: 2, error: 'exit 1: Error: no | PostgreSQL' },
    ];

    const text = matrixTable(runs);

    expect(text).toContain('| lag-spike | 1 | aborted (no-failover) | **no** |');
    expect(text).toContain('| 1730.5 of 2000 (not held) |');
    expect(text).toContain('| lag-spike | 2 | no summary: exit 1: Error: no \\| PostgreSQL | no |');
    expect(text).toContain('| **lag-spike** | **median** | | **0/2** |');
  });
});

describe('summaryFrom', () => {
  it('takes the last JSON summary line of stdout, past any other line', () => {
    const s = summary({ rtoSeconds: 12 });
    expect(summaryFrom(`npm banner\n{"not":"a summary"}\n${JSON.stringify(s)}\n`)).toEqual(s);
  });

  it('is undefined when the drill printed no summary', () => {
    expect(summaryFrom('Error: PostgreSQL did not start\n')).toBeUndefined();
    expect(summaryFrom('{broken json')).toBeUndefined();
  });
});

describe('main (command line)', () => {
  let errors: string[];
  beforeEach(() => {
    errors = [];
    jest.spyOn(console, 'error').mockImplementation((line: string) => void errors.push(line));
  });
  afterEach(() => jest.restoreAllMocks());

  it.each([
    [['--runs', '0'], '--runs must be a whole number in [1, 20], got 0'],
    [['--runs', 'x'], '--runs must be a whole number in [1, 20], got x'],
    [['--scenario', 'region-outage,moon-landing'], '--scenario must name scenarios among region-outage,'],
    [['--force'], "Unknown option '--force'"],
  ])('refuses %j before running any drill, with exit code 2', async (argv, message) => {
    await expect(main(argv)).resolves.toBe(2);
    expect(errors.join('\n')).toContain(message);
  });

  it('--help lists every option, one line each, and exits 0', async () => {
    const out: string[] = [];
    jest.spyOn(console, 'log').mockImplementation((text: string) => void out.push(text));
    await expect(main(['--help'])).resolves.toBe(0);
    for (const option of ['--runs N', '--scenario a,b', '--rate N', '--out DIR', '--json', '-h, --help']) expect(out.join('\n')).toContain(option);
  });
});
