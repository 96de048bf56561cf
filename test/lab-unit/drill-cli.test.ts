import { DEFAULT_DRILL, parseDrillArgs } from '../../lab/drill';
import { SCENARIOS } from '../../lab/scenarios';

/** `npm run drill` arguments (lab/drill.ts): help, defaults, and errors that name what was wrong. */
describe('drill CLI arguments', () => {
  const OPTIONS = ['scenario', 'rate', 'latency-ms', 'out', 'json', 'keep-data', 'lag-period', 'help'];

  it.each([[['--help']], [['-h']], [['--scenario', 'lag-spike', '--help']]])('%j gives the help: every option and every scenario, one line each', (argv) => {
    const args = parseDrillArgs(argv);

    expect(args.kind).toBe('help');
    const lines = (args as { text: string }).text.split('\n');
    expect(lines[0]).toMatch(/^usage: npm run drill -- /);
    for (const option of OPTIONS) expect(lines.filter((l) => new RegExp(`^  (-\\w, )?--${option}( |$)`).test(l))).toHaveLength(1);
    for (const scenario of Object.keys(SCENARIOS)) expect(lines.filter((l) => new RegExp(`^  ${scenario} +\\S`).test(l))).toHaveLength(1);
  });

  it('runs the default scenario at the seed peak with no arguments', () => {
    expect(parseDrillArgs([])).toEqual({
      kind: 'run',
      scenario: DEFAULT_DRILL.scenario,
      rate: DEFAULT_DRILL.rate,
      latencyMs: DEFAULT_DRILL.latencyMs,
      out: undefined,
      json: false,
      keepData: false,
      lagPeriodSeconds: undefined,
    });
  });

  it('takes every option', () => {
    const argv = ['--scenario', 'planned-switchover', '--rate', '50', '--latency-ms', '0', '--out', 'x', '--json', '--keep-data', '--lag-period', '60'];

    expect(parseDrillArgs(argv)).toEqual({ kind: 'run', scenario: 'planned-switchover', rate: 50, latencyMs: 0, out: 'x', json: true, keepData: true, lagPeriodSeconds: 60 });
  });

  it.each([
    [['--keepdata'], "Unknown option '--keepdata'"],
    [['region-outage'], "Unexpected argument 'region-outage'. This command does not take positional arguments"],
    [['--rate'], "Option '--rate <value>' argument missing"],
    [['--rate', '0'], '--rate must be a number of transactions per second in (0, 2000], got 0'],
    [['--latency-ms=-1'], '--latency-ms must be in [0, 5000], got -1'],
    [['--lag-period', '1.5'], '--lag-period must be whole seconds in [1, 60] (RDS: 60), got 1.5'],
    [['--scenario', 'meteor'], `--scenario must be one of ${Object.keys(SCENARIOS).join(', ')}, got meteor`],
  ])('%j is refused, naming what was wrong, with the usage', (argv, message) => {
    const args = parseDrillArgs(argv);

    expect(args).toEqual({ kind: 'error', message, usage: expect.stringMatching(/^usage: npm run drill -- /) });
  });
});
