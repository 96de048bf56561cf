/**
 * report.html: pure checks on the rendered string, then a real headless Chromium that lays the page
 * out (the page's own script publishes how many stage bars got a rendered width) and screenshots it.
 * Chromium comes from scripts/ensure-chromium.sh, which installs Debian's package when it is missing.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderReportHtml } from '../../lab/report/html';
import { samplePartitionReport, sampleReport, sampleSmokeFailureReport } from '../../lab/report/sample';

const ROOT = resolve(__dirname, '..', '..');

// ---------------------------------------------------------------------------------------------
// Helpers: what the HTML references, and what it draws

/** XML namespace declarations: identifiers, never fetched. */
const NAMESPACE_DECLARATION = /\sxmlns(?::[a-z]+)?="http:\/\/www\.w3\.org\/(?:2000\/svg|1999\/xlink|1999\/xhtml)"/gi;

/**
 * Every reference that would make a browser fetch something that is not in the file:
 *  - in start tags, a resource attribute (src, href, …) whose value is not a fragment (#id) or a
 *    data: URI, and a CSS url() in any attribute (style=, fill=, …) that is not a fragment or data:;
 *  - in <style> blocks, any such url() and any @import.
 * Only real start tags are looked at: escaped text (`&lt;img src=&quot;http://…`) never forms one,
 * so a URL shown as text is rightly not reported.
 */
function externalReferences(html: string): string[] {
  const found: string[] = [];
  const local = (value: string) => value.startsWith('#') || value.startsWith('data:');
  const urls = (css: string) =>
    [...css.matchAll(/url\(\s*(['"]?)([^'")]*)\1\s*\)/gi)]
      .map((m) => m[2].trim())
      .filter((v) => !local(v))
      .map((v) => `url(${v})`);
  const resource = /^(src|href|xlink:href|srcset|action|formaction|poster|data|background|manifest|ping|longdesc|cite|codebase|archive)$/i;
  for (const [tag] of html.matchAll(/<[a-z][a-z0-9:-]*(?:\s[^>]*)?>/gi)) {
    for (const m of tag.matchAll(/\s([a-z][a-z0-9:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/gi)) {
      const value = (m[2] ?? m[3] ?? m[4] ?? '').trim();
      if (resource.test(m[1]) && !local(value)) found.push(`${m[1]}=${value}`);
      found.push(...urls(value));
    }
  }
  for (const [, css] of html.matchAll(/<style\b[^>]*>([\s\S]*?)<\/style>/gi)) {
    found.push(...urls(css));
    for (const m of css.matchAll(/@import\b[^;]*/gi)) found.push(m[0]);
  }
  return found;
}

function attr(tag: string, name: string): string | undefined {
  return new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
}

function tags(html: string, pattern: RegExp): string[] {
  return [...html.matchAll(pattern)].map((m) => m[0]);
}

const stageBarTags = (html: string) => tags(html, /<rect class="stage-bar[^"]*"[^>]*>/g);
const faultMarkerTags = (html: string) => tags(html, /<line class="fault-marker"[^>]*>/g);

// ---------------------------------------------------------------------------------------------

describe('renderReportHtml (pure)', () => {
  const report = sampleReport();
  const html = renderReportHtml(report);

  it('is one self-contained document: nothing references the network', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(externalReferences(html)).toEqual([]);
    // Stronger for the sample, whose text has no URL in it: the only http(s) string is the SVG namespace.
    const withoutNamespaces = html.replace(NAMESPACE_DECLARATION, '');
    expect(html.match(NAMESPACE_DECLARATION)).toEqual([' xmlns="http://www.w3.org/2000/svg"']);
    expect(withoutNamespaces).not.toMatch(/https?:|\/\/[a-z0-9.-]+\.[a-z]{2,}/i);
    // No element that loads anything; the one script is inline.
    expect(html).not.toMatch(/<(link|img|iframe|object|embed|audio|video|source|base|image|use|foreignObject)\b/i);
    expect(tags(html, /<script\b[^>]*>/gi)).toEqual(['<script>']);
    // And the browser is told to refuse any fetch anyway.
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;;/);
  });

  it('the external-reference check itself catches what it must and spares what it must', () => {
    expect(
      externalReferences(
        `<img src="https://cdn.example/x.png"><link rel=stylesheet href=//fonts.example/css><a href='http://x'>` +
          `<div style="background:url(http://x/y.png)"></div><style>@import "a.css";</style><use xlink:href="other.svg#a"/>`,
      ),
    ).toEqual(['src=https://cdn.example/x.png', 'href=//fonts.example/css', 'href=http://x', 'url(http://x/y.png)', 'xlink:href=other.svg#a', '@import "a.css"']);
    expect(externalReferences(`<a href="#stages">x</a><img src="data:image/png;base64,AAAA"><rect fill="url(#grad)"/>`)).toEqual([]);
    expect(externalReferences(`<pre>&lt;img src=&quot;http://evil.example/x.png&quot;&gt; src=http://x url(http://y)</pre>`)).toEqual([]);
  });

  it('escapes hostile text: scenario, stage names, error and cause', () => {
    const cause = `</pre><script>alert("pwned")</script><img src="http://evil.example/x.png" onerror='alert(1)'> & "quoted"`;
    const hostile = sampleReport({
      scenario: `<b onmouseover="alert(2)">outage</b>`,
      outcome: 'failed',
      execution: { status: 'FAILED', error: 'PromotionDeadlineExceeded<br>', cause },
      stageBars: [{ name: `fence"><script>alert(3)</script>`, status: 'failed', start: 14.6, end: 15.9 }],
      notes: ['<i>note</i> & more'],
    });
    const out = renderReportHtml(hostile);

    expect(out).toContain(
      '&lt;/pre&gt;&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;&lt;img src=&quot;http://evil.example/x.png&quot; onerror=&#39;alert(1)&#39;&gt; &amp; &quot;quoted&quot;',
    );
    expect(out).toContain('&lt;b onmouseover=&quot;alert(2)&quot;&gt;outage&lt;/b&gt;');
    expect(out).toContain('PromotionDeadlineExceeded&lt;br&gt;');
    expect(out).toContain('data-stage="fence&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;"');
    expect(out).toContain('&lt;i&gt;note&lt;/i&gt; &amp; more');
    // Nothing hostile became markup.
    expect(out).not.toMatch(/<script>alert|<img|<b onmouseover|onerror=['"]|<br>|<i>note/);
    expect(tags(out, /<script\b[^>]*>/gi)).toHaveLength(1);
    expect(externalReferences(out)).toEqual([]);
  });

  it('draws one labelled bar per stage, in order, coloured by status', () => {
    const bars = stageBarTags(html);
    expect(bars).toHaveLength(report.stageBars.length);
    expect(bars.map((t) => attr(t, 'data-stage'))).toEqual(['confirm', 'fence', 'promote', 'scale', 'flip', 'smoke', 'notify']);
    for (const t of bars) expect(Number(attr(t, 'width'))).toBeGreaterThan(0);
    // Parallel stages share their start; later stages are further right.
    const xOf = (name: string) => Number(attr(bars.find((t) => attr(t, 'data-stage') === name)!, 'x'));
    expect(xOf('promote')).toBe(xOf('scale'));
    expect(xOf('confirm')).toBeLessThan(xOf('fence'));
    expect(xOf('flip')).toBeLessThan(xOf('notify'));

    const mixed = renderReportHtml(
      sampleReport({
        stageBars: [
          { name: 'confirm', status: 'succeeded', start: 13, end: 14 },
          { name: 'promote', status: 'failed', start: 14, end: 20 },
          { name: 'notify', status: 'skipped', start: 20, end: 20 },
        ],
      }),
    );
    expect(stageBarTags(mixed).map((t) => attr(t, 'class'))).toEqual(['stage-bar tone-ok', 'stage-bar tone-fail', 'stage-bar tone-skip']);
    // A zero-length stage is still visible.
    expect(Number(attr(stageBarTags(mixed)[2], 'width'))).toBeGreaterThan(0);
    expect(tags(mixed, /<text class="stage-label"[^>]*>[^<]*<\/text>/g).map((t) => t.replace(/<[^>]+>/g, ''))).toEqual(['confirm', 'promote', 'notify']);
  });

  it('marks the fault left of the first stage, and the RTO budget line when it fits', () => {
    const [fault] = faultMarkerTags(html);
    expect(faultMarkerTags(html)).toHaveLength(1);
    expect(attr(fault, 'data-t')).toBe('10');
    const faultX = Number(attr(fault, 'x1'));
    const confirmX = Number(attr(stageBarTags(html)[0], 'x'));
    expect(faultX).toBeGreaterThan(0);
    expect(faultX).toBeLessThan(confirmX);
    expect(attr(fault, 'x2')).toBe(attr(fault, 'x1'));

    // Budget 30 s after the fault at 10 s: a dashed line at 40 s.
    expect(html).toMatch(/<line class="rto-budget" id="rto-budget" data-t="40"/);
    expect(html).not.toContain('<text class="rto-budget-offchart"');

    // The plan's 15 min budget does not fit a 40 s chart: it is named, off the chart.
    const far = renderReportHtml(sampleReport({ budgets: { rtoSeconds: 900, rpoSeconds: 5 } }));
    expect(far).not.toContain('<line class="rto-budget"');
    expect(far).toMatch(/<text class="rto-budget-offchart"[^>]*data-t="910"[^>]*>RTO budget off the chart at 15 min 10 s/);

    // No fault injected: no marker, and the RTO says so.
    const none = renderReportHtml(sampleReport({ faultAt: null, rtoSeconds: null, outcome: 'no-failover' }));
    expect(faultMarkerTags(none)).toEqual([]);
    expect(none).toContain('no fault injected');
  });

  it('draws events, throughput, errors and lag (with gaps) on the same x axis', () => {
    expect(tags(html, /<g class="event [^"]*" data-kind="[^"]+"/g)).toHaveLength(report.timeline.events.length);
    for (const cls of ['throughput', 'errors', 'lag']) expect(html).toMatch(new RegExp(`<path class="${cls}" d="M`));
    const lag = /<path class="lag" d="([^"]+)"/.exec(html)![1];
    // The null lag sample at t = 4 splits the line in two; after the fault it is unknown throughout.
    expect(lag.match(/M/g)).toHaveLength(2);
    expect(html).toContain('class="chart-gap"');
  });

  it('shows the headline figures, lab settings, stage table, execution and notes', () => {
    expect(html).toContain('<span class="badge tone-ok" id="outcome">succeeded</span>');
    expect(html).toContain('12.9 s');
    expect(html).toContain('budget 30 s');
    expect(html).toMatch(/id="fig-lost"[\s\S]*?<div class="figure-value">38<\/div>/);
    expect(html).toMatch(/id="fig-rpo"[\s\S]*?0\.31 s[\s\S]*?orchestrator&#39;s estimate: 0\.35 s/);
    expect(html).toMatch(/id="fig-split-brain"[\s\S]*?<div class="figure-value">no<\/div>/);
    // A fence a dead region could not confirm is shown as a warning, not hidden and not a failure.
    expect(html).toMatch(/class="figure tone-warn" id="fig-fence"[\s\S]*?<div class="figure-value">unconfirmed<\/div>[\s\S]*?1 step not confirmed within the fence budget/);
    expect(html).toContain('p50 6.2 ms · p99 39 ms');
    expect(html).toMatch(/id="settings"[\s\S]*every 1 s, alarm after 3 failures[\s\S]*DNS TTL<\/dt><dd>2 s/);
    expect(tags(html, /<tr data-stage="[^"]*">/g)).toHaveLength(report.stages.length);
    expect(html).toContain(report.execution.executionArn!);
    expect(tags(html, /<li>/g)).toHaveLength(report.notes.length);

    const bad = renderReportHtml(sampleReport({ outcome: 'failed', rtoSeconds: 45, splitBrain: true, splitBrainWrites: 3 }));
    expect(bad).toContain('<span class="badge tone-fail" id="outcome">failed</span>');
    expect(bad).toMatch(/class="figure tone-fail" id="fig-rto"[\s\S]*?OVER budget/);
    expect(bad).toMatch(/class="figure tone-fail" id="fig-split-brain"[\s\S]*?YES[\s\S]*?3 writes/);
  });
});

// ---------------------------------------------------------------------------------------------
// Real browser

const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const CHROMIUM_TIMEOUT_MS = 60_000;

function ensureChromium(): Promise<string> {
  return new Promise((resolvePath, reject) => {
    execFile('bash', [join(ROOT, 'scripts', 'ensure-chromium.sh')], { timeout: 10 * 60_000, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`scripts/ensure-chromium.sh failed: ${error.message}\n${stderr}`));
      const path = stdout.trim().split('\n').pop() ?? '';
      if (!path) return reject(new Error(`scripts/ensure-chromium.sh printed no path\n${stderr}`));
      resolvePath(path);
    });
  });
}

/** Processes whose command line mentions `needle` (our per-run profile dir): Chromium left behind. */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/**
 * Runs Chromium in its own process group with a hard timeout; afterwards the whole group is killed
 * (Chromium's zygote/renderer/GPU children included), so nothing outlives the call. execFile's own
 * timeout would only kill the main process, hence spawn + process-group kill.
 */
function runChromium(chromium: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(chromium, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // group already gone
      }
    };
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, CHROMIUM_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      killGroup();
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      killGroup();
      if (timedOut) return reject(new Error(`chromium timed out after ${CHROMIUM_TIMEOUT_MS} ms\n${stderr.slice(-4000)}`));
      if (code !== 0) return reject(new Error(`chromium exited with ${code ?? signal}\n${stderr.slice(-4000)}`));
      resolveRun({ stdout, stderr });
    });
  });
}

describe('report.html in a real browser (headless Chromium)', () => {
  let chromium = '';
  let work = '';
  let htmlPath = '';
  const profiles: string[] = [];
  const report = sampleReport();

  beforeAll(async () => {
    chromium = await ensureChromium();
    work = mkdtempSync(join(tmpdir(), 'report-html-'));
    htmlPath = join(work, 'report.html');
    writeFileSync(htmlPath, renderReportHtml(report));
  }, 10 * 60_000);

  afterAll(() => {
    // Nothing of ours may still run: kill stragglers by pid (only processes using our profiles), then fail loudly.
    const leftovers = profiles.flatMap((dir) => processesMentioning(dir));
    for (const pid of leftovers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of profiles) rmSync(dir, { recursive: true, force: true });
    if (work) rmSync(work, { recursive: true, force: true });
    expect(leftovers).toEqual([]);
  });

  function newProfile(): string {
    const dir = mkdtempSync(join(tmpdir(), 'report-html-chromium-'));
    profiles.push(dir);
    return dir;
  }

  it(
    'lays out the timeline: every stage bar gets a rendered width',
    async () => {
      const profile = newProfile();
      const { stdout } = await runChromium(chromium, [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, '--virtual-time-budget=5000', '--dump-dom', pathToFileURL(htmlPath).href]);
      const drawn = /<body[^>]*\sdata-timeline-drawn="(\d+)"/.exec(stdout);
      expect(drawn).not.toBeNull();
      expect(Number(drawn![1])).toBeGreaterThan(0);
      expect(Number(drawn![1])).toBe(report.stageBars.length);
      expect(stdout).toContain('<svg id="timeline"');
      expect(processesMentioning(profile)).toEqual([]);
    },
    2 * CHROMIUM_TIMEOUT_MS,
  );

  it(
    'renders a full-page screenshot',
    async () => {
      const profile = newProfile();
      const png = join(work, 'report.png');
      await runChromium(chromium, [
        ...CHROMIUM_FLAGS,
        `--user-data-dir=${profile}`,
        '--virtual-time-budget=5000',
        `--screenshot=${png}`,
        '--window-size=1280,1600',
        pathToFileURL(htmlPath).href,
      ]);
      const bytes = readFileSync(png);
      expect(statSync(png).size).toBeGreaterThan(30_000);
      expect(bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
      // IHDR: width and height of the window.
      expect(bytes.readUInt32BE(16)).toBe(1280);
      expect(bytes.readUInt32BE(20)).toBe(1600);
      expect(processesMentioning(profile)).toEqual([]);
    },
    2 * CHROMIUM_TIMEOUT_MS,
  );

  /** Lays out `report` in Chromium: the DOM after load, and a full-page screenshot checked as a PNG. */
  async function layOut(name: string, report: ReturnType<typeof sampleReport>): Promise<string> {
    const path = join(work, `${name}.html`);
    writeFileSync(path, renderReportHtml(report));
    const profile = newProfile();
    const { stdout } = await runChromium(chromium, [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, '--virtual-time-budget=5000', '--dump-dom', pathToFileURL(path).href]);
    const png = join(work, `${name}.png`);
    await runChromium(chromium, [
      ...CHROMIUM_FLAGS,
      `--user-data-dir=${newProfile()}`,
      '--virtual-time-budget=5000',
      `--screenshot=${png}`,
      '--window-size=1280,1600',
      pathToFileURL(path).href,
    ]);
    expect(statSync(png).size).toBeGreaterThan(30_000);
    expect(readFileSync(png).subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(Number(/<body[^>]*\sdata-timeline-drawn="(\d+)"/.exec(stdout)?.[1])).toBe(report.stageBars.length);
    expect(processesMentioning(profile)).toEqual([]);
    return stdout;
  }

  it(
    'network partition (writes never stopped): no RTO card, no outage band, no RTO budget line',
    async () => {
      const dom = await layOut('partition', samplePartitionReport());
      expect(dom).not.toContain('id="fig-rto"');
      expect(dom).not.toContain('not recovered');
      expect(dom).not.toContain('class="outage-window"');
      expect(dom).not.toMatch(/class="rto-(budget|span-label)/);
      expect(dom).toContain('id="fig-no-outage"');
      expect(dom).toMatch(/<path class="throughput" d="M/);
    },
    4 * CHROMIUM_TIMEOUT_MS,
  );

  it(
    'smoke-test failure: the stage covers its 4 attempts, listed under it',
    async () => {
      const dom = await layOut('smoke-failure', sampleSmokeFailureReport());
      expect(dom).toMatch(/<tr class="attempts-row" data-attempts-of="smoke">/);
      expect(dom.match(/<li class="attempt" data-status="failed">/g)).toHaveLength(4);
      expect(dom).toMatch(/<rect class="stage-bar tone-fail" data-stage="smoke" data-status="failed"/);
      expect(dom).toMatch(/1\.4 s · failed · 4 attempts/);
    },
    4 * CHROMIUM_TIMEOUT_MS,
  );
});
