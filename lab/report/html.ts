/**
 * report.html: one self-contained page for a lab drill, readable at 3 a.m.
 *
 * No network at all: no external fonts, scripts, images or stylesheets; the timeline is inline SVG,
 * and a Content-Security-Policy (`default-src 'none'`) makes the browser refuse any fetch should
 * one ever slip in. The only script is pinned by its SHA-256 in that policy: after load it counts the
 * stage bars that have a rendered width and writes the count to `body[data-timeline-drawn]`, which
 * is how a browser test proves the timeline was laid out.
 *
 * Stable hooks for tests: svg#timeline, rect.stage-bar[data-stage][data-status], line.fault-marker,
 * line.rto-budget or text.rto-budget-offchart, g.event[data-kind], path.throughput, path.errors,
 * path.lag, table#stages (tr.attempts-row[data-attempts-of] under a retried stage), table#fence-steps
 * tr[data-status], #fig-rto (absent when the scenario has no outage), #execution, ul#notes.
 */
import { createHash } from 'node:crypto';
import type { DrillReport, TimelineEvent, TimelinePoint } from './types';

// ---------------------------------------------------------------------------------------------
// Text

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML/SVG content and (double- or single-quoted) attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const esc = escapeHtml;

function finite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** 0.31 s, 12.9 s, 95 s, 15 min 30 s */
function fmtSeconds(value: number | null | undefined): string {
  if (!finite(value)) return '—';
  const abs = Math.abs(value);
  if (abs >= 120) {
    const minutes = Math.floor(abs / 60);
    const seconds = Math.round(abs - minutes * 60);
    return `${value < 0 ? '-' : ''}${minutes} min${seconds ? ` ${seconds} s` : ''}`;
  }
  if (abs >= 100) return `${Math.round(value)} s`;
  if (abs >= 10) return `${trim(value.toFixed(1))} s`;
  return `${trim(value.toFixed(2))} s`;
}

function fmtMs(value: number | null | undefined): string {
  if (!finite(value)) return '—';
  if (Math.abs(value) >= 1000) return fmtSeconds(value / 1000);
  return `${trim(value < 10 ? value.toFixed(1) : value.toFixed(0))} ms`;
}

function fmtNumber(value: number | null | undefined, digits = 0): string {
  if (!finite(value)) return '—';
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

function trim(fixed: string): string {
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

/** 10:00:13.300Z from an ISO time (the date is in the header). */
function fmtClock(isoTime: string): string {
  const ms = Date.parse(isoTime);
  if (!Number.isFinite(ms)) return isoTime || '—';
  return `${new Date(ms).toISOString().slice(11, 23)}Z`;
}

function fmtIso(isoTime: string): string {
  const ms = Date.parse(isoTime);
  if (!Number.isFinite(ms)) return isoTime || '—';
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

/** SVG coordinates: two decimals are plenty. */
function n(value: number): string {
  return trim(value.toFixed(2));
}

// ---------------------------------------------------------------------------------------------
// Status → colour class

type Tone = 'ok' | 'fail' | 'warn' | 'skip' | 'run' | 'info';

function statusTone(status: string): Tone {
  const s = String(status ?? '').toLowerCase();
  if (/fail|error|timed?[ _-]?out|reject|denied/.test(s)) return 'fail';
  if (/abort|cancel|unconfirmed|partial|degraded|warn/.test(s)) return 'warn';
  if (/skip|not[ _-]?run|n\/a|^none$|pending|not[ _-]?needed/.test(s)) return 'skip';
  if (/running|progress|started|waiting/.test(s)) return 'run';
  if (/succe|^ok$|done|complete|pass|confirmed|healthy|would/.test(s)) return 'ok';
  return 'info';
}

function outcomeTone(outcome: DrillReport['outcome']): Tone {
  switch (outcome) {
    case 'succeeded':
      return 'ok';
    case 'failed':
      return 'fail';
    case 'aborted':
      return 'warn';
    default:
      return 'info';
  }
}

// ---------------------------------------------------------------------------------------------
// Headline figures

interface Figure {
  label: string;
  value: string;
  detail: string;
  tone: Tone | 'plain';
  id: string;
}

/** The RTO card: none where the scenario never interrupts writes (an RTO of an outage that did not happen). */
function rtoFigure(report: DrillReport): Figure {
  const { budgets } = report;
  if (report.outage === false) {
    return { id: 'fig-no-outage', label: 'Outage', value: 'none', detail: 'writes were never meant to stop, and did not: no RTO for this scenario', tone: 'plain' };
  }
  if (report.faultAt === null) {
    return { id: 'fig-rto', label: 'RTO', value: '—', detail: `no fault injected · budget ${fmtSeconds(budgets.rtoSeconds)}`, tone: 'plain' };
  }
  if (!finite(report.rtoSeconds)) {
    return {
      id: 'fig-rto',
      label: 'RTO',
      value: 'not recovered',
      detail: `no write acknowledged after the fault · budget ${fmtSeconds(budgets.rtoSeconds)}`,
      tone: 'fail',
    };
  }
  const over = report.rtoSeconds > budgets.rtoSeconds;
  return {
    id: 'fig-rto',
    label: 'RTO',
    value: fmtSeconds(report.rtoSeconds),
    detail: `budget ${fmtSeconds(budgets.rtoSeconds)} · ${over ? 'OVER budget' : 'within budget'} · fault → first acknowledged write`,
    tone: over ? 'fail' : 'ok',
  };
}

/** What the run cost and how the fence went: lost transactions, RPO, split-brain, fence. */
function lossFigures(report: DrillReport): Figure[] {
  const { budgets } = report;
  const out: Figure[] = [];
  // RPO: transactions lost, then seconds (with the orchestrator's estimate next to it).
  const lost = report.rpo.lostAcknowledged;
  out.push({
    id: 'fig-lost',
    label: 'Transactions lost (acknowledged)',
    value: fmtNumber(lost),
    detail: `acknowledged to the client, missing from the surviving primary · of ${fmtNumber(report.acknowledged)} acknowledged`,
    tone: lost > 0 ? 'warn' : 'ok',
  });
  const rpoOver = report.rpo.seconds > budgets.rpoSeconds;
  out.push({
    id: 'fig-rpo',
    label: 'RPO (measured)',
    value: fmtSeconds(report.rpo.seconds),
    detail: `budget ${fmtSeconds(budgets.rpoSeconds)} · ${rpoOver ? 'OVER budget' : 'within budget'} · orchestrator's estimate: ${
      finite(report.rpo.estimatedSeconds) ? fmtSeconds(report.rpo.estimatedSeconds) : 'none'
    }`,
    tone: rpoOver ? 'fail' : 'ok',
  });

  out.push({
    id: 'fig-split-brain',
    label: 'Split-brain',
    value: report.splitBrain ? 'YES' : 'no',
    detail: `${fmtNumber(report.splitBrainWrites)} write${report.splitBrainWrites === 1 ? '' : 's'} accepted by the old primary after the new one took writes`,
    tone: report.splitBrain ? 'fail' : 'ok',
  });
  if (report.fence) {
    out.push({
      id: 'fig-fence',
      label: 'Fence of the old primary',
      value: report.fence.confirmed ? 'confirmed' : 'unconfirmed',
      detail:
        (report.fence.confirmed
          ? 'every writer in the old region was confirmed stopped or read-only'
          : `${fmtNumber(report.fence.unconfirmed.length)} step${report.fence.unconfirmed.length === 1 ? '' : 's'} not confirmed within the fence budget${
              finite(report.fence.budgetSeconds) ? ` of ${fmtSeconds(report.fence.budgetSeconds)}` : ''
            } (a dead region cannot confirm); the plan's policy decided`) + fenceCounts(report.fence.steps),
      tone: report.fence.confirmed ? 'ok' : 'warn',
    });
  }
  return out;
}

/** How the orchestrator and the platform performed: overhead, load before the fault. */
function loadFigures(report: DrillReport): Figure[] {
  const out: Figure[] = [];
  out.push({
    id: 'fig-overhead',
    label: 'Orchestration overhead',
    value: fmtMs(report.orchestrationOverheadMs),
    detail: 'time the orchestrator itself added (not waiting on probes, DNS or the database)',
    tone: 'plain',
  });
  // Load: what was offered, and what the platform acknowledged before the fault — not an average over the outage.
  const pre = report.throughput.preFault;
  out.push({
    id: 'fig-throughput',
    label: pre ? 'Throughput before the fault' : 'Throughput',
    value: `${fmtNumber(pre ? pre.achievedPerSecond : report.throughput.txPerSecond, 1)} tx/s`,
    detail: `${pre ? `acknowledged · offered ${fmtNumber(report.settings.rate)} tx/s (${fmtNumber(pre.offeredPerSecond, 1)} sent/s) · ` : ''}p50 ${fmtMs(
      report.throughput.p50Ms,
    )} · p99 ${fmtMs(report.throughput.p99Ms)} · ${fmtNumber(report.acknowledged)} acknowledged · ${fmtNumber(report.errors)} errors`,
    tone: 'plain',
  });
  return out;
}

function figures(report: DrillReport): Figure[] {
  return [rtoFigure(report), ...lossFigures(report), ...loadFigures(report)];
}

/** " · 1 confirmed, 1 unconfirmed" from the fence's steps. */
function fenceCounts(steps: NonNullable<DrillReport['fence']>['steps']): string {
  if (!steps?.length) return '';
  const counts = (['confirmed', 'unconfirmed', 'skipped'] as const).map((status) => [status, steps.filter((s) => s.status === status).length] as const).filter(([, c]) => c > 0);
  return ` · ${counts.map(([status, c]) => `${c} ${status}`).join(', ')}`;
}

function renderFigures(report: DrillReport): string {
  return figures(report)
    .map(
      (f) => `<div class="figure tone-${f.tone}" id="${f.id}">
  <div class="figure-label">${esc(f.label)}</div>
  <div class="figure-value">${esc(f.value)}</div>
  <div class="figure-detail">${esc(f.detail)}</div>
</div>`,
    )
    .join('\n');
}

function renderSettings(report: DrillReport): string {
  const s = report.settings;
  const rows: Array<[string, string]> = [
    ['health probes', `every ${fmtMs(s.probeIntervalMs)}, alarm after ${fmtNumber(s.failuresToAlarm)} failures`],
    ['DNS TTL', fmtSeconds(s.dnsTtlSeconds)],
    ...(finite(s.fenceBudgetSeconds) ? ([['fence budget', fmtSeconds(s.fenceBudgetSeconds)]] as Array<[string, string]>) : []),
    ['poll interval', fmtSeconds(s.pollSeconds)],
    ['load', `${fmtNumber(s.rate)} tx/s`],
    ['injected latency', fmtMs(s.latencyMs)],
  ];
  return `<aside class="settings" id="settings">
  <h2>Lab-sized settings</h2>
  <p class="muted">Chosen so a drill takes seconds; AWS's are minutes (alarm periods, Route 53 TTLs, Aurora failover). Read the figures with these in mind.</p>
  <dl>
${rows.map(([k, v]) => `    <dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('\n')}
  </dl>
</aside>`;
}

// ---------------------------------------------------------------------------------------------
// Timeline SVG

const SVG_W = 1200;
const PLOT_LEFT = 200; // room for the longest stage name ("approve-unfenced-promotion")
const PLOT_RIGHT = 24;
const PLOT_W = SVG_W - PLOT_LEFT - PLOT_RIGHT;
const LANE_H = 15;
const ROW_H = 24;
const BAR_H = 14;
const CHART_H = 78;
const CHART_GAP = 22;
const AXIS_H = 22;
const CHAR_W = 6.1; // average glyph width of the 11px sans-serif labels, for layout estimates

function niceStep(span: number, target: number): number {
  const raw = span / Math.max(1, target);
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (m * power >= raw) return m * power;
  }
  return 10 * power;
}

function niceCeil(value: number): number {
  if (!(value > 0)) return 1;
  const step = niceStep(value, 4);
  return Math.ceil(value / step - 1e-9) * step;
}

interface Annotation {
  t: number;
  label: string;
  cls: string;
  kind?: TimelineEvent['kind'];
}

interface PlacedLabel extends Annotation {
  lane: number;
  anchor: 'start' | 'end';
  textX: number;
}

/** Puts each label in the first lane where it does not overlap the previous one (left to right). */
function placeLabels(items: Annotation[], x: (t: number) => number): PlacedLabel[] {
  const laneEnds: number[] = [];
  const placed: PlacedLabel[] = [];
  const sorted = [...items].sort((a, b) => a.t - b.t);
  for (const item of sorted) {
    const px = x(item.t);
    const width = item.label.length * CHAR_W + 14;
    // Labels run to the right of their marker unless that would leave the plot.
    const anchor: 'start' | 'end' = px + width > SVG_W - 4 ? 'end' : 'start';
    const from = anchor === 'start' ? px : px - width;
    const to = anchor === 'start' ? px + width : px;
    let lane = laneEnds.findIndex((end) => end <= from);
    if (lane < 0) {
      lane = laneEnds.length;
      laneEnds.push(to);
    } else {
      laneEnds[lane] = to;
    }
    placed.push({ ...item, lane, anchor, textX: anchor === 'start' ? px + 5 : px - 5 });
  }
  return placed;
}

interface Series {
  cls: 'throughput' | 'errors' | 'lag';
  title: string;
  unit: string;
  /** One value per bucket [t, t + w). */
  values: Array<{ t: number; w: number; v: number | null }>;
  area: boolean;
  nullNote?: string;
}

/** A bucket's length: its own when partial (the first or last), else the spacing of the points. */
function widthOf(p: TimelinePoint, bucket: number): number {
  return finite(p.seconds) && p.seconds > 0 ? p.seconds : bucket;
}

/**
 * A series as horizontal steps, one per bucket from its start to its end: a value drawn over the
 * time it was measured, so a rate changes exactly at a bucket boundary (the buckets are aligned on
 * the fault) and never slopes down before the fault as a line between bucket midpoints does.
 * Null values split the series.
 */
export function seriesSteps(values: Array<{ t: number; w: number; v: number | null }>): Array<Array<{ from: number; to: number; v: number }>> {
  const segments: Array<Array<{ from: number; to: number; v: number }>> = [];
  let current: Array<{ from: number; to: number; v: number }> = [];
  for (const p of values) {
    if (p.v === null || !finite(p.v)) {
      if (current.length) segments.push(current);
      current = [];
    } else current.push({ from: p.t, to: p.t + p.w, v: p.v });
  }
  if (current.length) segments.push(current);
  return segments;
}

/** Per-second rates: a point's count divided by the spacing of the points (1 s normally). */
function bucketSeconds(points: TimelinePoint[]): number {
  const gaps: number[] = [];
  for (let i = 1; i < points.length; i += 1) {
    const d = points[i].t - points[i - 1].t;
    if (finite(d) && d > 0) gaps.push(d);
  }
  if (!gaps.length) return 1;
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)];
}

/** Where everything on the timeline goes: the x scale, the label lanes, the rows and the charts. */
interface TimelineLayout {
  report: DrillReport;
  bars: NonNullable<DrillReport['stageBars']>;
  faultAt: number | null;
  /** No outage in the scenario: no RTO, so no outage band, no RTO label and no RTO budget line. */
  outage: boolean;
  rtoBudget: number | undefined;
  budgetAt: number | null;
  budgetFits: boolean;
  xMax: number;
  x: (t: number) => number;
  ticks: number[];
  placed: PlacedLabel[];
  series: Series[];
  bandTop: number;
  stagesTop: number;
  stagesBottom: number;
  axis1: number;
  chartsTop: number;
  chartsBottom: number;
  height: number;
}

/** The x domain: 0 … the last thing drawn, stretched a little to show the RTO budget line when it is close. */
function xDomain(report: DrillReport, points: TimelinePoint[], events: TimelineEvent[], faultAt: number | null, budgetAt: number | null): { step: number; xMax: number } {
  let dataEnd = 1;
  for (const p of points) dataEnd = Math.max(dataEnd, p.t + 1);
  for (const b of report.stageBars ?? []) if (finite(b.end)) dataEnd = Math.max(dataEnd, b.end);
  for (const e of events) dataEnd = Math.max(dataEnd, e.t);
  if (faultAt !== null) dataEnd = Math.max(dataEnd, faultAt);
  if (budgetAt !== null && budgetAt > dataEnd && budgetAt <= dataEnd * 1.25) dataEnd = budgetAt;
  const step = niceStep(dataEnd, 12);
  return { step, xMax: Math.ceil(dataEnd / step - 1e-9) * step };
}

/** Annotation labels above the stage rows: events, the fault, the RTO budget. */
function annotationsOf(events: TimelineEvent[], faultAt: number | null, budgetAt: number | null, budgetFits: boolean, rtoBudget: number | undefined, xMax: number): Annotation[] {
  const annotations: Annotation[] = events.map((e) => ({ t: e.t, label: e.label, cls: `event-label kind-${e.kind}`, kind: e.kind }));
  if (faultAt !== null && !events.some((e) => e.kind === 'fault' && Math.abs(e.t - faultAt) < 1e-6)) {
    annotations.push({ t: faultAt, label: 'fault', cls: 'event-label kind-fault', kind: 'fault' });
  }
  if (budgetAt !== null) {
    annotations.push(
      budgetFits
        ? { t: budgetAt, label: `RTO budget (fault + ${fmtSeconds(rtoBudget)})`, cls: 'budget-label' }
        : { t: xMax, label: `RTO budget off the chart at ${fmtSeconds(budgetAt)} (fault + ${fmtSeconds(rtoBudget)}) →`, cls: 'rto-budget-offchart' },
    );
  }
  return annotations;
}

/** Throughput, errors and lag, each value over its bucket. */
function timelineSeries(points: TimelinePoint[]): Series[] {
  const bucket = bucketSeconds(points);
  const per = (p: TimelinePoint, v: number | null | undefined, rate: boolean) => ({ t: p.t, w: widthOf(p, bucket), v: finite(v) ? (rate ? v / widthOf(p, bucket) : v) : null });
  return [
    { cls: 'throughput', title: 'throughput', unit: 'acknowledged tx/s', values: points.map((p) => per(p, p.acknowledged, true)), area: true },
    { cls: 'errors', title: 'errors', unit: 'errors/s', values: points.map((p) => per(p, p.errors, true)), area: true },
    { cls: 'lag', title: 'replication lag', unit: 'seconds (standby)', values: points.map((p) => per(p, p.lagSeconds, false)), area: false, nullNote: 'unknown' },
  ];
}

function timelineLayout(report: DrillReport): TimelineLayout {
  const points = (report.timeline?.points ?? []).filter((p) => finite(p.t)).sort((a, b) => a.t - b.t);
  const events = (report.timeline?.events ?? []).filter((e) => finite(e.t));
  const bars = report.stageBars ?? [];
  const faultAt = finite(report.faultAt) ? report.faultAt : null;
  const outage = report.outage !== false;
  const rtoBudget = outage ? report.budgets?.rtoSeconds : undefined;
  const budgetAt = faultAt !== null && finite(rtoBudget) ? faultAt + rtoBudget : null;
  const { step, xMax } = xDomain(report, points, events, faultAt, budgetAt);
  const x = (t: number) => PLOT_LEFT + (Math.min(Math.max(t, 0), xMax) / xMax) * PLOT_W;
  const budgetFits = budgetAt !== null && budgetAt <= xMax;
  const placed = placeLabels(annotationsOf(events, faultAt, budgetAt, budgetFits, rtoBudget, xMax), x);
  const lanes = Math.max(1, ...placed.map((p) => p.lane + 1));

  const bandTop = 6;
  const stagesTop = bandTop + lanes * LANE_H + 6 + 4;
  const stagesBottom = stagesTop + Math.max(1, bars.length) * ROW_H;
  const axis1 = stagesBottom;
  const chartsTop = axis1 + AXIS_H + 10;
  const series = timelineSeries(points);
  const chartsBottom = chartsTop + series.length * CHART_H + (series.length - 1) * CHART_GAP;
  const ticks: number[] = [];
  for (let t = 0; t <= xMax + 1e-9; t += step) ticks.push(Math.round(t * 1000) / 1000);
  return {
    report,
    bars,
    faultAt,
    outage,
    rtoBudget,
    budgetAt,
    budgetFits,
    xMax,
    x,
    ticks,
    placed,
    series,
    bandTop,
    stagesTop,
    stagesBottom,
    axis1,
    chartsTop,
    chartsBottom,
    height: chartsBottom + AXIS_H + 20,
  };
}

/** Grid lines, row stripes, and the outage window (fault → first acknowledged write, or the end when never recovered). */
function renderTimelineBackground(L: TimelineLayout): string[] {
  const { x, report, faultAt } = L;
  const parts: string[] = ['<g class="grid">'];
  for (const t of L.ticks) parts.push(`<line class="grid-line" x1="${n(x(t))}" x2="${n(x(t))}" y1="${n(L.stagesTop)}" y2="${n(L.chartsBottom)}"/>`);
  parts.push('</g>');
  // Row stripes, under the outage window so it shows through every row.
  L.bars.forEach((_, i) => {
    if (i % 2 === 1) parts.push(`<rect class="row-band" x="0" y="${n(L.stagesTop + i * ROW_H)}" width="${SVG_W}" height="${ROW_H}"/>`);
  });
  if (faultAt !== null && L.outage) {
    const recoveredAt = finite(report.rtoSeconds) ? faultAt + report.rtoSeconds : L.xMax;
    const title = finite(report.rtoSeconds) ? `no acknowledged write for ${fmtSeconds(report.rtoSeconds)} (RTO)` : 'no acknowledged write after the fault';
    parts.push(
      `<rect class="outage-window" x="${n(x(faultAt))}" y="${n(L.stagesTop)}" width="${n(Math.max(0, x(recoveredAt) - x(faultAt)))}" height="${n(L.chartsBottom - L.stagesTop)}"><title>${esc(title)}</title></rect>`,
    );
  }
  return parts;
}

/** One row per stage: its name, its bar (coloured by status) and its duration, attempts and status. */
function renderStageRows(L: TimelineLayout): string[] {
  const { x, report } = L;
  const parts: string[] = ['<g class="stages">'];
  if (!L.bars.length) parts.push(`<text class="empty-note" x="${n(PLOT_LEFT + 8)}" y="${n(L.stagesTop + ROW_H / 2 + 4)}">no stage ran</text>`);
  L.bars.forEach((bar, i) => {
    const rowTop = L.stagesTop + i * ROW_H;
    const yBar = rowTop + (ROW_H - BAR_H) / 2;
    const start = finite(bar.start) ? bar.start : 0;
    const end = finite(bar.end) ? Math.max(bar.end, start) : start;
    const x1 = x(start);
    const w = Math.max(3, x(end) - x1); // a zero-length stage still shows (and counts) as a sliver
    const tone = statusTone(bar.status);
    const dur = `${fmtSeconds(end - start)}`;
    parts.push(
      `<text class="stage-label" x="${PLOT_LEFT - 10}" y="${n(rowTop + ROW_H / 2 + 4)}" text-anchor="end">${esc(bar.name)}</text>`,
      `<rect class="stage-bar tone-${tone}" data-stage="${esc(bar.name)}" data-status="${esc(bar.status)}" x="${n(x1)}" y="${n(yBar)}" width="${n(w)}" height="${BAR_H}" rx="2"><title>${esc(
        `${bar.name}: ${bar.status}, ${fmtSeconds(start)} → ${fmtSeconds(end)} (${dur})`,
      )}</title></rect>`,
    );
    const stage = report.stages?.[i]?.name === bar.name ? report.stages[i] : undefined;
    const attempts = stage?.attempts?.length ?? 1;
    const labelText = `${dur}${tone === 'ok' ? '' : ` · ${bar.status}`}${attempts > 1 ? ` · ${attempts} attempts` : ''}`;
    const afterBar = x1 + w + 6 + labelText.length * CHAR_W <= SVG_W - 4;
    parts.push(
      `<text class="stage-duration" x="${n(afterBar ? x1 + w + 6 : x1 - 6)}" y="${n(rowTop + ROW_H / 2 + 4)}" text-anchor="${afterBar ? 'start' : 'end'}">${esc(labelText)}</text>`,
    );
  });
  parts.push('</g>');
  return parts;
}

/** The outage window, named on the throughput chart (where the dip is). */
function renderRtoSpanLabel(L: TimelineLayout): string[] {
  const { x, report, faultAt } = L;
  if (faultAt === null || !L.outage) return [];
  const text = finite(report.rtoSeconds) ? `← RTO ${fmtSeconds(report.rtoSeconds)} →` : 'no acknowledged write after the fault';
  const from = x(faultAt);
  const to = finite(report.rtoSeconds) ? x(faultAt + report.rtoSeconds) : SVG_W - PLOT_RIGHT;
  const width = text.length * CHAR_W * 1.1;
  const inside = to - from >= width + 8;
  const tx = inside ? (from + to) / 2 : Math.min(to + 6, SVG_W - PLOT_RIGHT - width);
  return [`<text class="rto-span-label" x="${n(tx)}" y="${n(L.chartsTop + CHART_H / 2 + 4)}" text-anchor="${inside ? 'middle' : 'start'}">${esc(text)}</text>`];
}

/** Event markers: a tick from the label lane down through the stage rows; the budget labels. */
function renderEventMarkers(L: TimelineLayout): string[] {
  const parts: string[] = ['<g class="events">'];
  for (const p of L.placed) {
    const px = L.x(p.t);
    const labelY = L.bandTop + p.lane * LANE_H + 11;
    if (p.cls === 'budget-label') {
      parts.push(`<text class="budget-label" x="${n(p.textX)}" y="${n(labelY)}" text-anchor="${p.anchor}">${esc(p.label)}</text>`);
      continue;
    }
    if (p.cls === 'rto-budget-offchart' && L.budgetAt !== null) {
      parts.push(`<text class="rto-budget-offchart" id="rto-budget-offchart" data-t="${n(L.budgetAt)}" x="${SVG_W - 6}" y="${n(labelY)}" text-anchor="end">${esc(p.label)}</text>`);
      continue;
    }
    const kind = p.kind ?? 'note';
    parts.push(
      `<g class="event kind-${esc(kind)}" data-kind="${esc(kind)}" data-t="${n(p.t)}"><title>${esc(`${fmtSeconds(p.t)}: ${p.label}`)}</title>` +
        `<line class="event-stem" x1="${n(px)}" x2="${n(px)}" y1="${n(labelY - 8)}" y2="${n(kind === 'fault' ? L.stagesTop : L.stagesBottom)}"/>` +
        `<circle class="event-dot" cx="${n(px)}" cy="${n(labelY - 4)}" r="3.5"/>` +
        `<text class="event-label" x="${n(p.textX)}" y="${n(labelY)}" text-anchor="${p.anchor}">${esc(p.label)}</text></g>`,
    );
  }
  parts.push('</g>');
  return parts;
}

/** Fault marker and RTO budget line, on top of everything. */
function renderFaultAndBudget(L: TimelineLayout): string[] {
  const { x, faultAt, budgetAt } = L;
  const parts: string[] = [];
  if (faultAt !== null) {
    parts.push(
      `<line class="fault-marker" id="fault-marker" data-t="${n(faultAt)}" x1="${n(x(faultAt))}" x2="${n(x(faultAt))}" y1="${n(L.stagesTop)}" y2="${n(L.chartsBottom)}"><title>${esc(
        `fault injected at ${fmtSeconds(faultAt)}`,
      )}</title></line>`,
    );
  }
  if (budgetAt !== null && L.budgetFits) {
    parts.push(
      `<line class="rto-budget" id="rto-budget" data-t="${n(budgetAt)}" x1="${n(x(budgetAt))}" x2="${n(x(budgetAt))}" y1="${n(L.bandTop + 2)}" y2="${n(L.chartsBottom)}"><title>${esc(
        `RTO budget: fault + ${fmtSeconds(L.rtoBudget)} = ${fmtSeconds(budgetAt)}`,
      )}</title></line>`,
    );
  }
  return parts;
}

function renderTimeline(report: DrillReport): string {
  const L = timelineLayout(report);
  return [
    `<svg id="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${SVG_W} ${n(L.height)}" width="100%" role="img" aria-labelledby="timeline-title" data-x-max="${n(L.xMax)}">`,
    `<title id="timeline-title">Timeline of the drill, seconds since traffic start</title>`,
    ...renderTimelineBackground(L),
    ...renderStageRows(L),
    axis(L.ticks, L.x, L.axis1, false),
    ...L.series.map((s, i) => chart(s, L.chartsTop + i * (CHART_H + CHART_GAP), L.x, L.xMax)),
    ...renderRtoSpanLabel(L),
    axis(L.ticks, L.x, L.chartsBottom, true),
    ...renderEventMarkers(L),
    ...renderFaultAndBudget(L),
    '</svg>',
  ].join('\n');
}

function axis(ticks: number[], x: (t: number) => number, y: number, withTitle: boolean): string {
  const out: string[] = [`<g class="axis">`, `<line class="axis-line" x1="${PLOT_LEFT}" x2="${SVG_W - PLOT_RIGHT}" y1="${n(y)}" y2="${n(y)}"/>`];
  for (const t of ticks) {
    out.push(
      `<line class="axis-tick" x1="${n(x(t))}" x2="${n(x(t))}" y1="${n(y)}" y2="${n(y + 4)}"/>`,
      `<text class="axis-label" x="${n(x(t))}" y="${n(y + 15)}" text-anchor="middle">${esc(trim(t.toFixed(2)))}</text>`,
    );
  }
  out.push(`<text class="axis-title" x="${PLOT_LEFT - 10}" y="${n(y + 15)}" text-anchor="end">${withTitle ? 's since start' : 's'}</text>`);
  out.push('</g>');
  return out.join('\n');
}

function chart(s: Series, top: number, x: (t: number) => number, xMax: number): string {
  const known = s.values.filter((p): p is { t: number; w: number; v: number } => p.v !== null && finite(p.v));
  const maxV = niceCeil(Math.max(0, ...known.map((p) => p.v)));
  const bottom = top + CHART_H;
  const y = (v: number) => bottom - (Math.max(0, v) / maxV) * CHART_H;
  const fmt = (v: number) => (s.cls === 'lag' ? fmtSeconds(v) : fmtNumber(v, v < 10 ? 1 : 0));
  const out: string[] = [`<g class="chart chart-${s.cls}" data-series="${s.cls}">`];
  out.push(`<rect class="chart-bg" x="${PLOT_LEFT}" y="${n(top)}" width="${PLOT_W}" height="${CHART_H}"/>`);
  out.push(
    `<text class="chart-title" x="${PLOT_LEFT - 10}" y="${n(top + 12)}" text-anchor="end">${esc(s.title)}</text>`,
    `<text class="chart-unit" x="${PLOT_LEFT - 10}" y="${n(top + 26)}" text-anchor="end">${esc(s.unit)}</text>`,
    `<line class="chart-gridline" x1="${PLOT_LEFT}" x2="${SVG_W - PLOT_RIGHT}" y1="${n(top + CHART_H / 2)}" y2="${n(top + CHART_H / 2)}"/>`,
    `<text class="chart-tick" x="${PLOT_LEFT + 3}" y="${n(top + 10)}">${esc(fmt(maxV))}</text>`,
    `<text class="chart-tick" x="${PLOT_LEFT + 3}" y="${n(top + CHART_H / 2 - 3)}">${esc(fmt(maxV / 2))}</text>`,
  );

  // Points are per bucket [t, t + w): each value is drawn as a step over its bucket (seriesSteps).
  const segments = seriesSteps(s.values);
  const gaps: Array<[number, number]> = [];
  s.values.forEach((p) => {
    if (p.v !== null && finite(p.v)) return;
    const last = gaps[gaps.length - 1];
    if (last && Math.abs(last[1] - p.t) < 1e-6) last[1] = p.t + p.w;
    else gaps.push([p.t, p.t + p.w]);
  });

  if (s.nullNote) {
    for (const [from, to] of gaps) {
      const gx = x(from);
      const gw = Math.max(1, x(Math.min(to, xMax)) - gx);
      out.push(
        `<rect class="chart-gap" x="${n(gx)}" y="${n(top)}" width="${n(gw)}" height="${CHART_H}"><title>${esc(
          `${s.title} ${s.nullNote} from ${fmtSeconds(from)} to ${fmtSeconds(to)}`,
        )}</title></rect>`,
      );
      if (gw > 60) {
        out.push(`<text class="chart-gap-label" x="${n(gx + gw / 2)}" y="${n(top + CHART_H / 2 + 4)}" text-anchor="middle">${esc(s.nullNote)}</text>`);
      }
    }
  }

  if (!known.length) {
    out.push(`<text class="empty-note" x="${n(PLOT_LEFT + PLOT_W / 2)}" y="${n(top + CHART_H / 2 + 4)}" text-anchor="middle">no data</text>`);
  } else {
    const steps = (seg: Array<{ from: number; to: number; v: number }>) => seg.map((p) => `L${n(x(p.from))},${n(y(p.v))}H${n(x(Math.min(p.to, xMax)))}`).join('');
    const line = segments.map((seg) => `M${n(x(seg[0].from))},${n(y(seg[0].v))}H${n(x(Math.min(seg[0].to, xMax)))}${steps(seg.slice(1))}`).join('');
    if (s.area) {
      const area = segments.map((seg) => `M${n(x(seg[0].from))},${n(bottom)}${steps(seg)}L${n(x(Math.min(seg[seg.length - 1].to, xMax)))},${n(bottom)}Z`).join('');
      out.push(`<path class="${s.cls}-area" d="${area}"/>`);
    }
    out.push(`<path class="${s.cls}" d="${line}"><title>${esc(`${s.title}, ${s.unit}`)}</title></path>`);
  }
  out.push(`<line class="chart-baseline" x1="${PLOT_LEFT}" x2="${SVG_W - PLOT_RIGHT}" y1="${n(bottom)}" y2="${n(bottom)}"/>`);
  out.push('</g>');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Tables

/**
 * The attempts of a retried stage, under its row: each attempt's start, status, error and duration.
 * The stage's own duration covers them all (and the Retry pauses between them).
 */
function attemptsRow(stage: string, attempts: NonNullable<DrillReport['stages'][number]['attempts']>, t0: number): string {
  const items = attempts.map((a, i) => {
    const ms = Date.parse(a.startedAt);
    const at = Number.isFinite(ms) && Number.isFinite(t0) ? `T+${fmtSeconds((ms - t0) / 1000)}` : a.startedAt;
    return `<li class="attempt" data-status="${esc(a.status)}"><span class="pill tone-${statusTone(a.status)}">${esc(a.status)}</span> attempt ${i + 1} at ${esc(at)}${
      a.error ? ` · <span class="mono">${esc(a.error)}</span>` : ''
    } · ${esc(fmtMs(a.durationMs))}</li>`;
  });
  return `<tr class="attempts-row" data-attempts-of="${esc(stage)}"><td colspan="5"><ol class="attempts">${items.join('')}</ol></td></tr>`;
}

/** The fence, step by step: confirmed / unconfirmed / skipped, never a blanket "succeeded". */
function renderFence(report: DrillReport): string {
  const fence = report.fence;
  if (!fence) return '';
  const steps = fence.steps ?? [];
  const rows = steps.length
    ? steps
        .map(
          (st) => `<tr data-resource="${esc(st.resource)}" data-status="${esc(st.status)}">
  <td class="stage-name">${esc(st.resource)}</td>
  <td class="muted">${esc(st.kind)}</td>
  <td><span class="pill tone-${statusTone(st.status)}">${esc(st.status)}</span></td>
  <td>${esc(st.detail || st.action)}</td>
</tr>`,
        )
        .join('\n')
    : `<tr><td colspan="4" class="muted">${esc(fence.confirmed ? 'confirmed (no step detail)' : fence.unconfirmed.join('; '))}</td></tr>`;
  return `<section class="fence" id="fence">
<h2>Fence <span class="pill tone-${fence.confirmed ? 'ok' : 'warn'}">${fence.confirmed ? 'confirmed' : 'unconfirmed'}</span>${
    finite(fence.budgetSeconds) ? ` <span class="muted">budget ${esc(fmtSeconds(fence.budgetSeconds))}</span>` : ''
  }</h2>
<table id="fence-steps">
<thead><tr><th>resource</th><th>kind</th><th>status</th><th>detail</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</section>`;
}

function renderStagesTable(report: DrillReport): string {
  const t0 = Date.parse(report.startedAt);
  type Row = {
    name: string;
    status: string;
    startIso: string | null;
    startT: number | null;
    durationMs: number | null;
    attempts?: NonNullable<DrillReport['stages'][number]['attempts']>;
  };
  let rows: Row[] = (report.stages ?? []).map((s) => {
    const ms = Date.parse(s.startedAt);
    return {
      name: s.name,
      status: s.status,
      startIso: s.startedAt,
      startT: Number.isFinite(ms) && Number.isFinite(t0) ? (ms - t0) / 1000 : null,
      durationMs: finite(s.durationMs) ? s.durationMs : null,
      attempts: s.attempts,
    };
  });
  if (!rows.length) {
    rows = (report.stageBars ?? []).map((b) => ({
      name: b.name,
      status: b.status,
      startIso: Number.isFinite(t0) && finite(b.start) ? new Date(t0 + b.start * 1000).toISOString() : null,
      startT: finite(b.start) ? b.start : null,
      durationMs: finite(b.start) && finite(b.end) ? (b.end - b.start) * 1000 : null,
    }));
  }
  const body = rows.length
    ? rows
        .map(
          (r) => `<tr data-stage="${esc(r.name)}">
  <td class="stage-name">${esc(r.name)}</td>
  <td><span class="pill tone-${statusTone(r.status)}">${esc(r.status)}</span>${(r.attempts?.length ?? 0) > 1 ? ` <span class="muted attempt-count">${esc(`${r.attempts!.length} attempts`)}</span>` : ''}</td>
  <td class="num">${r.startT === null ? '—' : esc(`T+${fmtSeconds(r.startT)}`)}</td>
  <td class="num muted">${r.startIso ? esc(fmtClock(r.startIso)) : '—'}</td>
  <td class="num">${esc(fmtMs(r.durationMs))}</td>
</tr>${(r.attempts?.length ?? 0) > 1 ? `\n${attemptsRow(r.name, r.attempts!, t0)}` : ''}`,
        )
        .join('\n')
    : `<tr><td colspan="5" class="muted">no stage ran</td></tr>`;
  return `<table id="stages">
<thead><tr><th>stage</th><th>status</th><th class="num">start</th><th class="num">(UTC)</th><th class="num">duration</th></tr></thead>
<tbody>
${body}
</tbody>
</table>`;
}

function renderExecution(report: DrillReport): string {
  const e = report.execution ?? { status: 'unknown' };
  const rows: string[] = [`<dt>status</dt><dd><span class="pill tone-${statusTone(e.status)}">${esc(e.status)}</span></dd>`];
  if (e.error) rows.push(`<dt>error</dt><dd class="mono error-name">${esc(e.error)}</dd>`);
  if (e.cause) rows.push(`<dt>cause</dt><dd><pre class="cause">${esc(e.cause)}</pre></dd>`);
  if (e.executionArn) rows.push(`<dt>execution</dt><dd class="mono wrap">${esc(e.executionArn)}</dd>`);
  return `<section class="execution" id="execution">
<h2>Execution</h2>
<dl>
${rows.join('\n')}
</dl>
</section>`;
}

/** How the go-ahead was given, in words (the same wording as the CLI summary). */
function approvalWords(a: NonNullable<DrillReport['audit']>['approval']): string {
  if (a.mode === 'automatic') return `automatic: ${a.policy ?? "by the plan's policy"}`;
  if (a.mode === 'not-reached') return 'not reached';
  return `${a.approved ? 'approved' : 'rejected'} by ${a.decidedBy ?? '?'} via ${a.via ?? '?'}${a.decidedAt ? ` at ${fmtIso(a.decidedAt)}` : ''}`;
}

/**
 * What an auditor asks for (issue 7, item 7): the classification and its evidence, the alarms between
 * the fault and the start, how approval went, the exact plan and orchestrator that ran, and the
 * notification with its idempotency key. The fence steps and the retries are in their own sections.
 */
function renderAudit(report: DrillReport): string {
  const a = report.audit;
  if (!a) return '';
  const d = a.detection;
  const rows: string[] = [];
  rows.push(
    `<dt>classification</dt><dd id="audit-classification">${d ? `<strong>${esc(d.classification)}</strong>${d.action ? ` <span class="muted">→ ${esc(d.action)}</span>` : ''}` : '<span class="muted">detection did not run</span>'}</dd>`,
  );
  if (d?.reasons.length) rows.push(`<dt>reasons</dt><dd><ul id="audit-reasons">${d.reasons.map((r) => `<li class="reason">${esc(r)}</li>`).join('')}</ul></dd>`);
  if (d?.probes.length) {
    rows.push(
      `<dt>probes</dt><dd><ul id="audit-probes">${d.probes
        .map(
          (p) =>
            `<li data-healthy="${p.healthy}"><span class="pill tone-${p.healthy ? 'ok' : 'fail'}">${p.healthy ? 'healthy' : 'failing'}</span> ${esc(p.name)}${p.status !== undefined ? ` HTTP ${esc(p.status)}` : ''}${p.error ? ` <span class="muted">${esc(p.error)}</span>` : ''}${p.attempts !== undefined ? ` <span class="muted">(${esc(p.attempts)} attempt(s))</span>` : ''}</li>`,
        )
        .join('')}</ul></dd>`,
    );
  }
  if (d?.alarms.length)
    rows.push(`<dt>alarms read</dt><dd id="audit-alarm-states">${d.alarms.map((x) => `<div>${esc(x.name)}: <strong>${esc(x.state)}</strong></div>`).join('')}</dd>`);
  rows.push(
    `<dt>alarms fault → start</dt><dd id="audit-alarms">${
      a.alarmsBeforeStart.length
        ? a.alarmsBeforeStart
            .map((x) => `<div>T+${esc(fmtSeconds(x.t))} ${esc(x.name)} → ${esc(x.state)}${x.matched ? '' : ' <span class="muted">(no rule matched)</span>'}</div>`)
            .join('')
        : '<span class="muted">none</span>'
    }</dd>`,
  );
  rows.push(
    `<dt>approval</dt><dd id="audit-approval" data-mode="${esc(a.approval.mode)}">${esc(approvalWords(a.approval))}${a.approval.mode === 'decided' && a.approval.comment ? `<div class="muted">${esc(a.approval.comment)}</div>` : ''}</dd>`,
  );
  if (a.unfencedApproval) rows.push(`<dt>unfenced promotion</dt><dd id="audit-unfenced-approval">${esc(approvalWords({ mode: 'decided', ...a.unfencedApproval }))}</dd>`);
  rows.push(`<dt>plan sha256</dt><dd class="mono wrap" id="audit-plan-sha256">${esc(a.planSha256 ?? 'unknown')}</dd>`);
  rows.push(`<dt>orchestrator</dt><dd class="mono wrap" id="audit-orchestrator">${esc(a.orchestrator.version)} @ ${esc(a.orchestrator.commit)}</dd>`);
  const n = a.notification;
  rows.push(
    `<dt>notification</dt><dd id="audit-notification">${
      n
        ? `${esc(n.detailType)}${n.idempotencyKey ? `<div>idempotency key <span class="mono wrap">${esc(n.idempotencyKey)}</span></div>` : ''}${n.eventId ? `<div class="muted">EventBridge event ${esc(n.eventId)}</div>` : ''}`
        : '<span class="muted">none sent</span>'
    }</dd>`,
  );
  return `<section class="execution audit" id="audit">
<h2>Audit</h2>
<dl>
${rows.join('\n')}
</dl>
</section>`;
}

function renderNotes(report: DrillReport): string {
  const notes = report.notes ?? [];
  return `<section class="notes">
<h2>Notes</h2>
${notes.length ? `<ul id="notes">\n${notes.map((note) => `<li>${esc(note)}</li>`).join('\n')}\n</ul>` : `<p class="muted" id="notes">none</p>`}
</section>`;
}

function renderLegend(report: DrillReport): string {
  const outage = report.outage !== false;
  const tones: Array<[Tone, string]> = [
    ['ok', 'succeeded'],
    ['fail', 'failed'],
    ['warn', 'aborted / unconfirmed'],
    ['skip', 'skipped'],
    ['run', 'running'],
  ];
  return `<div class="legend">
${tones.map(([tone, label]) => `<span><i class="swatch tone-${tone}"></i>${esc(label)}</span>`).join('\n')}
<span><i class="swatch fault"></i>fault</span>
${outage ? `<span><i class="swatch outage"></i>fault → first acknowledged write</span>\n<span><i class="swatch budget"></i>RTO budget</span>` : ''}
</div>`;
}

// ---------------------------------------------------------------------------------------------
// Page

const STYLE = `
:root {
  --bg: #ffffff; --fg: #111827; --muted: #4b5563; --line: #d1d5db; --panel: #f3f4f6; --band: #f9fafb;
  --ok: #15803d; --ok-bg: #dcfce7; --fail: #b91c1c; --fail-bg: #fee2e2; --warn: #b45309; --warn-bg: #fef3c7;
  --skip: #6b7280; --skip-bg: #e5e7eb; --run: #1d4ed8; --run-bg: #dbeafe; --info: #334155; --info-bg: #e2e8f0;
  --throughput: #1d4ed8; --errors: #dc2626; --lag: #7c3aed; --fault: #dc2626; --budget: #b45309;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0b1220; --fg: #e5e7eb; --muted: #9ca3af; --line: #374151; --panel: #111827; --band: #0f172a;
    --ok: #4ade80; --ok-bg: #14532d; --fail: #f87171; --fail-bg: #7f1d1d; --warn: #fbbf24; --warn-bg: #78350f;
    --skip: #9ca3af; --skip-bg: #374151; --run: #60a5fa; --run-bg: #1e3a8a; --info: #cbd5e1; --info-bg: #334155;
    --throughput: #60a5fa; --errors: #f87171; --lag: #c4b5fd; --fault: #f87171; --budget: #fbbf24;
  }
}
* { box-sizing: border-box; }
html { background: var(--bg); color: var(--fg); }
body { margin: 0 auto; padding: 20px 28px 40px; max-width: 1280px;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
h1 { font-size: 22px; margin: 0; }
h2 { font-size: 15px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.muted { color: var(--muted); }
.mono, pre { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace; font-size: 13px; }
.wrap { overflow-wrap: anywhere; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 10px 16px; padding-bottom: 12px; border-bottom: 2px solid var(--line); }
header.top .meta { width: 100%; color: var(--muted); font-size: 13px; }
.badge { display: inline-block; padding: 3px 12px; border-radius: 999px; font-weight: 700; font-size: 15px; text-transform: uppercase; letter-spacing: .05em; }
.badge.tone-ok { background: var(--ok); color: #fff; }
.badge.tone-fail { background: var(--fail); color: #fff; }
.badge.tone-warn { background: var(--warn); color: #fff; }
.badge.tone-info, .badge.tone-skip, .badge.tone-run { background: var(--info); color: var(--bg); }
.summary { display: grid; grid-template-columns: minmax(0, 1fr) 300px; gap: 16px; margin: 16px 0 20px; }
.figures { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 10px; }
.figure { background: var(--panel); border-radius: 8px; padding: 10px 12px; border-left: 5px solid var(--line); }
.figure.tone-ok { border-left-color: var(--ok); }
.figure.tone-fail { border-left-color: var(--fail); background: var(--fail-bg); }
.figure.tone-warn { border-left-color: var(--warn); }
.figure-label { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.figure-value { font-size: 26px; font-weight: 700; line-height: 1.2; margin: 2px 0; font-variant-numeric: tabular-nums; }
.figure.tone-fail .figure-value { color: var(--fail); }
.figure-detail { font-size: 12.5px; color: var(--muted); }
.settings { background: var(--panel); border-radius: 8px; padding: 10px 14px; border: 1px dashed var(--line); }
.settings p { font-size: 12.5px; margin: 0 0 8px; }
.settings dl { display: grid; grid-template-columns: auto 1fr; gap: 3px 12px; margin: 0; font-size: 13px; }
.settings dt { color: var(--muted); }
.settings dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
section { margin: 0 0 22px; }
.timeline-box { border: 1px solid var(--line); border-radius: 8px; padding: 10px 8px 2px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12.5px; color: var(--muted); margin: 0 0 6px 8px; }
.legend span { display: inline-flex; align-items: center; gap: 5px; }
.swatch { display: inline-block; width: 14px; height: 10px; border-radius: 2px; }
.swatch.tone-ok { background: var(--ok); } .swatch.tone-fail { background: var(--fail); } .swatch.tone-warn { background: var(--warn); }
.swatch.tone-skip { background: var(--skip); } .swatch.tone-run { background: var(--run); }
.swatch.fault { width: 3px; height: 14px; background: var(--fault); }
.swatch.outage { background: var(--fail-bg); border: 1px solid var(--fault); }
.swatch.budget { width: 0; height: 14px; border-left: 2px dashed var(--budget); }
svg#timeline { display: block; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", Arial, sans-serif; font-size: 11px; }
svg#timeline text { fill: var(--fg); }
svg#timeline .grid-line { stroke: var(--line); stroke-width: 1; opacity: .55; }
svg#timeline .row-band { fill: var(--band); }
svg#timeline .stage-label { font-size: 13px; font-weight: 600; }
svg#timeline .stage-duration { fill: var(--muted); font-variant-numeric: tabular-nums; }
svg#timeline .stage-bar.tone-ok { fill: var(--ok); } svg#timeline .stage-bar.tone-fail { fill: var(--fail); }
svg#timeline .stage-bar.tone-warn { fill: var(--warn); } svg#timeline .stage-bar.tone-skip { fill: var(--skip); }
svg#timeline .stage-bar.tone-run { fill: var(--run); } svg#timeline .stage-bar.tone-info { fill: var(--info); }
svg#timeline .outage-window { fill: var(--fail-bg); opacity: .55; }
svg#timeline .rto-span-label { fill: var(--fail); font-weight: 700; font-size: 12px; }
svg#timeline .fault-marker { stroke: var(--fault); stroke-width: 2.5; }
svg#timeline .rto-budget { stroke: var(--budget); stroke-width: 2; stroke-dasharray: 6 4; }
svg#timeline .budget-label, svg#timeline .rto-budget-offchart { fill: var(--budget); font-weight: 700; }
svg#timeline .event-stem { stroke: var(--muted); stroke-width: 1; stroke-dasharray: 2 3; opacity: .8; }
svg#timeline .event-dot { fill: var(--info); }
svg#timeline .kind-fault .event-dot { fill: var(--fault); }
svg#timeline .kind-fault .event-label { fill: var(--fault); font-weight: 700; }
svg#timeline .kind-alarm .event-dot { fill: var(--warn); }
svg#timeline .kind-execution .event-dot { fill: var(--run); }
svg#timeline .kind-recovered .event-dot { fill: var(--ok); }
svg#timeline .kind-recovered .event-label { fill: var(--ok); font-weight: 700; }
svg#timeline .axis-line, svg#timeline .axis-tick, svg#timeline .chart-baseline { stroke: var(--muted); stroke-width: 1; }
svg#timeline .axis-label, svg#timeline .axis-title, svg#timeline .chart-unit, svg#timeline .chart-tick { fill: var(--muted); }
svg#timeline .axis-label { font-variant-numeric: tabular-nums; }
svg#timeline .chart-bg { fill: var(--band); }
svg#timeline .chart-gridline { stroke: var(--line); stroke-dasharray: 3 3; }
svg#timeline .chart-title { font-size: 13px; font-weight: 600; }
svg#timeline .chart-gap { fill: var(--skip-bg); opacity: .6; }
svg#timeline .chart-gap-label, svg#timeline .empty-note { fill: var(--muted); font-style: italic; }
svg#timeline path.throughput, svg#timeline path.errors, svg#timeline path.lag { fill: none; stroke-width: 2; stroke-linejoin: round; stroke-linecap: round; }
svg#timeline path.throughput { stroke: var(--throughput); } svg#timeline .throughput-area { fill: var(--throughput); opacity: .15; }
svg#timeline path.errors { stroke: var(--errors); } svg#timeline .errors-area { fill: var(--errors); opacity: .15; }
svg#timeline path.lag { stroke: var(--lag); }
.columns { display: grid; grid-template-columns: minmax(0, 1.1fr) minmax(0, 1fr); gap: 24px; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.stage-name { font-weight: 600; }
ol.attempts { margin: 0 0 0 18px; padding: 0; font-size: 12.5px; } ol.attempts li { margin: 2px 0; }
section.fence { margin-bottom: 16px; }
.pill { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 12.5px; font-weight: 600; }
.pill.tone-ok { background: var(--ok-bg); color: var(--ok); } .pill.tone-fail { background: var(--fail-bg); color: var(--fail); }
.pill.tone-warn { background: var(--warn-bg); color: var(--warn); } .pill.tone-skip { background: var(--skip-bg); color: var(--skip); }
.pill.tone-run { background: var(--run-bg); color: var(--run); } .pill.tone-info { background: var(--info-bg); color: var(--info); }
.execution dl { display: grid; grid-template-columns: auto minmax(0, 1fr); gap: 6px 12px; margin: 0; }
.execution dt { color: var(--muted); }
.execution dd { margin: 0; }
.error-name { color: var(--fail); font-weight: 700; }
pre.cause { margin: 0; padding: 8px 10px; background: var(--fail-bg); border-radius: 6px; white-space: pre-wrap; overflow-wrap: anywhere; max-height: 320px; overflow: auto; }
.notes ul { margin: 0; padding-left: 20px; }
.notes li { margin: 3px 0; }
footer { color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 8px; }
@media (max-width: 900px) { .summary, .columns { grid-template-columns: minmax(0, 1fr); } .figures { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
@media print { .timeline-box { break-inside: avoid; } }
`;

/**
 * After load: count the stage bars the browser actually laid out with a width, publish it on
 * body[data-timeline-drawn]. Plain ES5 so any browser runs it.
 */
const SCRIPT = `(function () {
  function count() {
    var bars = document.querySelectorAll('svg#timeline rect.stage-bar');
    var drawn = 0;
    for (var i = 0; i < bars.length; i++) {
      var box = bars[i].getBoundingClientRect();
      if (box.width > 0 && box.height > 0) drawn++;
    }
    document.body.dataset.timelineDrawn = String(drawn);
  }
  if (document.readyState === 'complete') count();
  else window.addEventListener('load', count);
})();`;

const SCRIPT_HASH = createHash('sha256').update(SCRIPT, 'utf8').digest('base64');

/** No fetch of any kind; inline styles; only the script above (by hash); images only as data: URIs. */
const CSP = `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${SCRIPT_HASH}'; img-src data:; base-uri 'none'; form-action 'none'`;

export function renderReportHtml(report: DrillReport): string {
  const outcome = report.outcome;
  const title = `${report.scenario} · ${outcome} · failover drill`;
  const faultText = finite(report.faultAt) ? `fault at T+${fmtSeconds(report.faultAt)}` : 'no fault injected';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${esc(CSP)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body data-outcome="${esc(outcome)}">
<header class="top">
  <h1>Failover drill: <span id="scenario">${esc(report.scenario)}</span></h1>
  <span class="badge tone-${outcomeTone(outcome)}" id="outcome">${esc(outcome)}</span>
  <span class="muted">mode <strong>${esc(report.mode)}</strong> · ${esc(faultText)}</span>
  <div class="meta">traffic started ${esc(fmtIso(report.startedAt))} (T+0) · report generated ${esc(fmtIso(report.generatedAt))} · lab run on one machine, not AWS</div>
</header>

<div class="summary">
  <div class="figures">
${renderFigures(report)}
  </div>
${renderSettings(report)}
</div>

<section class="timeline">
<h2>Timeline <span class="muted">(seconds since traffic start)</span></h2>
<div class="timeline-box">
${renderLegend(report)}
${renderTimeline(report)}
</div>
</section>

<div class="columns">
<section class="stages-section">
<h2>Stages</h2>
${renderStagesTable(report)}
</section>
<div>
${renderFence(report)}
${renderExecution(report)}
${renderAudit(report)}
${renderNotes(report)}
</div>
</div>

<footer>report.html: ${esc(report.report)} · evidence also in report.json beside it · self-contained, no network</footer>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
