/**
 * `npm run drill`: a live two-region platform on this machine takes the seed's peak traffic, loses
 * its US region (or whatever the scenario says), and is failed over by the same state machine and
 * handlers that deploy to AWS. Prints each stage as it runs, then a summary, and writes
 * report.json, report.html, the lab log and the client log to the output folder.
 *
 *   npm run drill -- [--scenario NAME] [--rate 167] [--latency-ms 80] [--out DIR] [--json] [--keep-data] [--lag-period S]
 */
import './quiet-warnings';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { closeSharedServices, Lab, stopAllLabs } from './lab';
import { longestAckGapSeconds, orchestrationOverheadMs, rpo, rtoSeconds, settleLog, stages, STAGE_OF_STATE, throughput, timeline, withFenceStatus } from './measure';
import type { ExecutionEvent, ExecutionRecord } from '../local/state-machine';
import { auditOf, orchestratorVersion } from './report/audit';
import { renderReportHtml } from './report/html';
import type { Audit, DrillReport, DrillSummary, FenceStep, Outcome, TimelineEvent } from './report/types';
import { asExpected, SCENARIOS, type Scenario } from './scenarios';
import { TrafficGenerator } from './traffic';
import { argsErrorMessage } from '../scripts/lib/cli-args';
import { ROOT } from '../scripts/lib/definitions';
import type { RdsReplicaResource } from '../functions/core/plan';

export interface DrillOptions {
  scenario: string;
  rate: number;
  latencyMs: number;
  outDir: string;
  /** The clients ramp up to the asked rate over this long (ms) before the warm-up starts. */
  rampMs: number;
  /** Traffic at the asked rate before the fault (ms); the pre-fault load is measured over it. */
  warmupMs: number;
  /** Traffic after the execution ended (ms), to see the recovery. */
  settleMs: number;
  keepData: boolean;
  /** Seconds between ReplicaLag datapoints (60: RDS basic monitoring). */
  /** ReplicaLag period; default: the lab plan's `detection.lagPeriodSeconds` (5 s, lab-sized). */
  lagPeriodSeconds?: number;
  progress: (line: string) => void;
}

export const DEFAULT_DRILL: Omit<DrillOptions, 'outDir' | 'progress'> = {
  scenario: 'region-outage',
  rate: 167,
  latencyMs: 80,
  rampMs: 2000,
  warmupMs: 3000,
  settleMs: 2500,
  keepData: false,
};

/**
 * How long a drill waits for its execution. A planned switchover waits for a ReplicaLag of 0
 * published after the fence, and RDS publishes ReplicaLag once a minute: up to about two minutes.
 */
const EXECUTION_LIMIT_MS = 240_000;

/**
 * How long the loss check waits for requests still in flight to get an outcome (their own timeout is
 * 2 s; the traffic's stop waits 5 s): past it, they are reported as unsettled, never as lost.
 */
const SETTLE_LIMIT_MS = 10_000;

const ABORTED = new Set(['ApprovalRejected', 'ApprovalTimedOut', 'FenceUnconfirmed', 'SwitchoverUnsafe']);

function outcomeOf(execution: ExecutionRecord | undefined): Outcome {
  if (!execution) return 'no-failover';
  if (execution.status === 'SUCCEEDED') {
    const detailType = execution.output?.notification?.detailType;
    return detailType === 'Failover Succeeded' ? 'succeeded' : 'no-failover';
  }
  return execution.error && ABORTED.has(execution.error) ? 'aborted' : 'failed';
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Runs one scenario end to end and returns its report (also written to options.outDir). */
export async function runDrill(options: DrillOptions): Promise<DrillReport> {
  const scenario: Scenario | undefined = SCENARIOS[options.scenario];
  if (!scenario) throw new Error(`unknown scenario "${options.scenario}"; one of: ${Object.keys(SCENARIOS).join(', ')}`);
  mkdirSync(options.outDir, { recursive: true });
  const say = options.progress;
  let t0 = Date.now();
  const rel = (at: number) => (at - t0) / 1000;
  const events: TimelineEvent[] = [];

  const narrator = new ProgressNarrator({
    say,
    rel,
    ordinalOf: (execution) => lab.startedExecutions.findIndex((e) => e.execution === execution) + 1,
    alarmOf: (execution) => {
      const id = (execution.input as { id?: unknown } | undefined)?.id;
      const alarm = id === undefined ? undefined : lab.alarmEvents.find((a) => a.event.id === id);
      return alarm && { at: alarm.at, name: String(alarm.event.detail?.alarmName ?? '?'), state: String(alarm.event.detail?.state?.value ?? '?') };
    },
  });
  const onExecutionEvent = (event: ExecutionEvent, execution: ExecutionRecord) => narrator.onEvent(event, execution);
  const lab = new Lab({
    latencyMs: options.latencyMs,
    workDir: options.outDir,
    keepData: options.keepData,
    replicaLagPeriodSeconds: options.lagPeriodSeconds,
    editPlan: scenario.editPlan,
    approver: () => scenario.approver,
    onExecutionEvent,
  });
  drillLabs.add(lab);
  let traffic: TrafficGenerator | undefined;
  try {
    say(`▶ scenario ${scenario.name}: ${scenario.description}`);
    await lab.start();
    say(
      `▶ lab up in ${secs(lab.timings.upMs!)}: us-east-1 primary :${lab.state.primary.db.port} → eu-west-1 standby :${lab.state.recovery.db.port} streaming over a ${options.latencyMs} ms link; apps, front door, control plane, Slack ready`,
    );
    await scenario.prepare?.(lab);

    traffic = new TrafficGenerator({ port: lab.frontDoor.port, ratePerSecond: options.rate, rampMs: options.rampMs, maxDurationMs: EXECUTION_LIMIT_MS + 60_000 });
    t0 = traffic.start();
    say(`▶ traffic: ${options.rate} tx/s through the front door (5 KB payments), reached over ${secs(options.rampMs)}`);
    await new Promise((r) => setTimeout(r, options.rampMs + options.warmupMs));
    // A replica in service has a history of ReplicaLag datapoints; a lab that just started has none,
    // and the orchestrator would (rightly) call the gap at the fault unknown. Wait for the first one.
    {
      const waited = await waitForReplicaLagDatapoint(lab);
      say(
        `▶ t=${rel(Date.now()).toFixed(1)} s the replica's first ReplicaLag datapoint is published (waited ${secs(waited)}: one every ${lab.lagPeriodSeconds} s${lab.lagPeriodSeconds === 60 ? ', as RDS' : '; RDS: 60 s'})`,
      );
    }

    // Same phase of the probe cycle for every scenario, so their detection times compare.
    await lab.afterProbeRound();
    const faultAt = Date.now();
    // Did the lab hold the asked rate before the fault? If not, this run measures the lab's saturation, not the failover.
    const pre = traffic.window(t0 + options.rampMs, faultAt);
    say(
      pre.holds
        ? `▶ before the fault: ${pre.achievedPerSecond} of ${pre.askedPerSecond} tx/s acknowledged, 0 errors, p50 ${pre.p50Ms} ms, p99 ${pre.p99Ms} ms`
        : `⚠ the lab cannot hold ${pre.askedPerSecond} tx/s: before the fault ${pre.offeredPerSecond}/s sent, ${pre.achievedPerSecond}/s acknowledged, ${pre.errors} errors, p50 ${pre.p50Ms} ms, p99 ${pre.p99Ms} ms; this run measures the lab's saturation, not the failover`,
    );
    const label = await scenario.inject(lab);
    events.push({ t: rel(faultAt), label, kind: 'fault' });
    say(`✖ t=${rel(faultAt).toFixed(1)} s ${label}`);

    // Wait for the orchestrator: the first execution that starts, to its end — or, when single flight
    // made it a duplicate (one incident raises several alarms), the execution that owns the failover.
    const startDeadline = Date.now() + scenario.quietPeriodMs;
    await lab.waitFor(() => lab.startedExecutions.length > 0 || Date.now() > startDeadline, scenario.quietPeriodMs + 1000, 'an execution starts');
    const first = lab.startedExecutions[0];
    let execution: ExecutionRecord | undefined;
    const duplicates: ExecutionRecord[] = [];
    if (first) {
      // The alarm and the start were printed by the narrator, before the first stage.
      const alarm = lab.alarmEvents.find((a) => a.matched);
      if (alarm) events.push({ t: rel(alarm.at), label: `${alarm.event.detail.alarmName} → ALARM`, kind: 'alarm' });
      const until = Date.now() + EXECUTION_LIMIT_MS;
      let current: Started | undefined = first;
      while (current) {
        let limit: NodeJS.Timeout | undefined;
        execution = await Promise.race([current.done, new Promise<undefined>((r) => (limit = setTimeout(() => r(undefined), Math.max(0, until - Date.now()))))]);
        clearTimeout(limit);
        if (!execution) throw new Error(`the execution did not end within ${EXECUTION_LIMIT_MS / 1000} s`);
        const owner = ownerOf(lab, execution);
        if (!owner || duplicates.includes(owner.execution)) break;
        duplicates.push(execution); // the narrator explained it in one line
        current = owner;
      }
      events.push({ t: rel(execution!.startDate.getTime()), label: 'execution started', kind: 'execution' });
      execution = execution!;
      events.push({ t: rel(execution.stopDate!.getTime()), label: `execution ${execution.status.toLowerCase()}`, kind: 'execution' });
      say(
        `${execution.status === 'SUCCEEDED' ? '✓' : '✗'} t=${rel(execution.stopDate!.getTime()).toFixed(1)} s execution ${execution.status}${execution.error ? `: ${execution.error}` : ''}`,
      );
    } else {
      say(`· no execution started within ${secs(scenario.quietPeriodMs)}`);
    }
    await new Promise((r) => setTimeout(r, options.settleMs));
    await traffic.stop();
    const endAt = Date.now();
    await scenario.after?.(lab);

    // Measure: client log against the surviving database. Every request sent first gets its outcome
    // (bounded): the log is frozen before the survivor is read, so a write acknowledged after the
    // read cannot be counted as lost.
    const settled = await settleLog(traffic, SETTLE_LIMIT_MS);
    const log = settled.log;
    const promoted = !(await lab.state.recovery.db.isInRecovery().catch(() => true));
    if (lab.state.marks.promotedAt) events.push({ t: rel(lab.state.marks.promotedAt), label: 'eu-west-1 promoted', kind: 'recovered' });
    if (lab.state.marks.flippedAt) events.push({ t: rel(lab.state.marks.flippedAt), label: 'DNS INSYNC', kind: 'recovered' });
    const survivor = promoted || !lab.state.primary.dbAlive ? lab.state.recovery.db : lab.state.primary.db;
    await lab.waitFor(async () => (await survivor.query('SELECT 1')).length === 1, 5000, 'the surviving database answers');
    if (!promoted && survivor === lab.state.recovery.db) {
      // Let a standby that is still connected replay what it has received, so only the truly missing count.
      await new Promise((r) => setTimeout(r, 500));
    }
    const ids = new Set((await survivor.query<{ id: string }>('SELECT id FROM transactions WHERE NOT synthetic')).map((r) => r.id));
    const measuredLoss = rpo(log, ids, scenario.name === 'planned-switchover' ? null : faultAt, lab.plan.primaryRegion);
    // With the primary dead and nothing promoted there is no surviving primary yet: those writes are at risk, not lost.
    const noSurvivor = !promoted && !lab.state.primary.dbAlive;
    const loss = noSurvivor ? { lostAcknowledged: 0, seconds: 0, lostIds: [] as string[] } : measuredLoss;
    const promotedAt = lab.state.marks.promotedAt;
    let splitBrainWrites = 0;
    if (promotedAt) {
      // Any write the old side acknowledged after the new side became writable, whenever it was sent.
      splitBrainWrites += log.filter((r) => r.ok && r.region === lab.plan.primaryRegion && r.doneAt > promotedAt).length;
      if (lab.state.primary.dbAlive) {
        const rows = await lab.state.primary.db
          .query<{ n: number }>('SELECT count(*)::int AS n FROM transactions WHERE created_at > to_timestamp($1::float8 / 1000)', [promotedAt])
          .catch(() => [{ n: 0 }]);
        splitBrainWrites = Math.max(splitBrainWrites, rows[0]!.n);
      }
    }
    const execEvents = execution?.events ?? [];
    const stageList = stages(execEvents);
    // The orchestrator's estimate: the largest gap it measured at promotion, or (when the run failed) what its notification said.
    const lagsAtPromotion = (execution?.output?.recovery?.promotion ?? [])
      .map((s: { lagSecondsAtPromotion?: number | null }) => s.lagSecondsAtPromotion)
      .filter((v: unknown): v is number => typeof v === 'number');
    const fromEvent = lab.state.events
      .map((e) => (e.detail as { estimatedDataLossSeconds?: unknown } | undefined)?.estimatedDataLossSeconds)
      .find((v): v is number => typeof v === 'number');
    const estimatedWorst = lagsAtPromotion.length > 0 ? Math.max(...lagsAtPromotion) : fromEvent;
    const reportPath = join(options.outDir, 'report.html');
    const fence = fenceOutcome(execution);
    const outcome = outcomeOf(execution);
    const otherActed = lab.startedExecutions.some((e) => e.execution !== execution && describeOther(e.execution).acted);
    const fenceExitedAt = execEvents.find((e) => !e.nested && e.state === 'FenceUsWriters' && e.type === 'StateExited')?.at;
    const fenceToPromotedSeconds = fenceExitedAt !== undefined && promotedAt !== undefined ? Math.round((promotedAt - fenceExitedAt) / 100) / 10 : null;
    const summary: DrillSummary = {
      scenario: scenario.name,
      mode: execution?.output?.start?.mode ?? (scenario.name === 'planned-switchover' ? 'switchover' : 'failover'),
      outcome,
      expectedOutcome: scenario.expectedOutcome,
      asExpected: asExpected(scenario, { outcome, promoted, otherActed }),
      outage: scenario.outage,
      // No RTO where writes were never interrupted; a planned switchover's outage starts when the fence stops writes.
      rtoSeconds: scenario.outage ? rtoSeconds(log, scenario.name === 'planned-switchover' ? (lab.state.marks.fencedAt ?? faultAt) : faultAt, lab.plan.primaryRegion) : null,
      rpo: { lostAcknowledged: loss.lostAcknowledged, seconds: loss.seconds, estimatedSeconds: typeof estimatedWorst === 'number' ? estimatedWorst : null },
      acknowledged: log.filter((r) => r.ok).length,
      errors: log.filter((r) => !r.ok).length,
      splitBrain: splitBrainWrites > 0,
      fence,
      orchestrationOverheadMs: execution
        ? orchestrationOverheadMs(execEvents, execution.startDate.getTime(), execution.stopDate!.getTime(), {
            WaitForPromotion: lab.state.marks.promotedAt,
            WaitForDnsSync: lab.state.marks.flippedAt,
            WaitForSteadyState: lab.state.recovery.app.steadyAt,
          })
        : 0,
      throughput: { ...throughput(log), preFault: { offeredPerSecond: pre.offeredPerSecond, achievedPerSecond: pre.achievedPerSecond, seconds: pre.seconds }, preFaultWindow: pre },
      stages: withFenceStatus(stageList, fence).map(({ name, status, startedAt, durationMs, attempts }) => ({ name, status, startedAt, durationMs, attempts })),
      report: reportPath,
    };
    const notes = [
      `Lab-sized settings: probes every ${lab.options.probeIntervalMs} ms, each alarm evaluated once per probe (${alarmRule(lab)}), DNS TTL ${lab.options.dnsTtlSeconds} s, state machine Wait states overridden to ${lab.options.pollMs} ms (the lab plan's polling says 1 s), retry pauses ${lab.options.retryMs} ms, DNS change in sync after ${lab.options.dnsSyncMs} ms, fence budget ${lab.plan.fence.timeoutSeconds} s, ReplicaLag published every ${lab.lagPeriodSeconds} s${lab.lagPeriodSeconds === 60 ? ' (as RDS)' : ' (RDS: 60 s)'}. On AWS these are 10–60 s each: see README, "Where the minutes go on AWS".`,
      ...(scenario.outage
        ? [
            `Writes unavailable (longest gap between acknowledged writes after the ${scenario.name === 'planned-switchover' ? 'start' : 'fault'}): ${longestAckGapSeconds(log, faultAt, endAt)} s.`,
          ]
        : []),
      ...(scenario.name === 'planned-switchover' ? ['For the planned switchover, RTO is measured from the moment the fence stopped writes in us-east-1.'] : []),
      ...(execution
        ? [
            'Orchestration overhead is execution time outside Tasks and outside the part of each poll Wait while the system was not yet done. A Task retried by its Retry counts with all its attempts and the pauses between them (listed per stage), not as overhead.',
          ]
        : []),
      ...(scenario.expectPromotion || promoted
        ? [`Replication: asynchronous streaming over a ${options.latencyMs} ms link; acknowledged-but-unreplicated transactions are the expected loss of an unplanned failover.`]
        : []),
    ];
    if (!scenario.outage) notes.push('No outage in this scenario: writes were never meant to stop, so no RTO is reported.');
    if (!pre.holds)
      notes.push(
        `The lab did not hold the asked ${pre.askedPerSecond} tx/s before the fault (${pre.achievedPerSecond}/s acknowledged, ${pre.errors} errors): these figures measure the lab's saturation as much as the failover.`,
      );
    if (settled.unsettled > 0)
      notes.push(`${settled.unsettled} request(s) still had no answer ${SETTLE_LIMIT_MS / 1000} s after the traffic stopped: counted neither as acknowledged nor as lost.`);
    if (loss.lostAcknowledged > 0)
      notes.push(
        `Lost: writes acknowledged by the old primary (${lab.plan.primaryRegion}) and missing from the survivor; how far back they reach is measured by the region's own acknowledgement time, not the client's.`,
      );
    if (noSurvivor && measuredLoss.lostAcknowledged > 0)
      notes.push(`${measuredLoss.lostAcknowledged} acknowledged transactions are at risk: they exist only on the failed primary (nothing was promoted).`);
    if (fence && lab.plan.approval.fenceUnconfirmed === 'proceed')
      notes.push('The lab plan lets an unconfirmed fence proceed (a dead region cannot confirm it); the notification says so.');
    if (fence && !fence.confirmed)
      notes.push(`Fence unconfirmed within its ${lab.plan.fence.timeoutSeconds} s budget (lab-sized; a dead region cannot confirm it): ${fence.unconfirmed.join('; ')}.`);
    if (fenceToPromotedSeconds !== null) {
      notes.push(
        scenario.name === 'planned-switchover'
          ? `Catch-up wait: ${fenceToPromotedSeconds} s from the fence to the promotion, writes stopped meanwhile. A planned switchover promotes only on a ReplicaLag of 0 from a period that started after the fence, and ReplicaLag is published once per period (${lab.lagPeriodSeconds} s here; RDS: 60 s, so one to two minutes on AWS).`
          : `${fenceToPromotedSeconds} s from the end of the fence to the promotion.`,
      );
    }
    if (execution?.error) notes.push(`Execution ended with ${execution.error}: ${execution.cause ?? ''}`);
    if (promoted && typeof estimatedWorst !== 'number') {
      notes.push(
        `The orchestrator reported the data-loss estimate as unknown: no ReplicaLag period that ended before the fault had a valid datapoint (ReplicaLag is published every ${lab.lagPeriodSeconds} s here; RDS: 60 s). It said so rather than guess.`,
      );
    }
    const actedAlongside = lab.startedExecutions.filter((e) => e.execution !== execution && describeOther(e.execution).acted);
    if (actedAlongside.length > 0)
      notes.push(
        `UNEXPECTED: ${actedAlongside.map((e) => e.execution.name).join(', ')} acted (fence, promotion or flip) alongside ${execution?.name ?? 'the drill'}: one failover at a time is broken.`,
      );
    if (duplicates.length > 0)
      notes.push(
        `Single flight: ${duplicates.map((d) => d.name).join(', ')} started by the same incident and ended as duplicate(s) of ${execution!.name}, whose figures these are.`,
      );
    if (promoted !== scenario.expectPromotion) notes.push(`UNEXPECTED: promotion ${promoted ? 'happened' : 'did not happen'} in scenario ${scenario.name}.`);
    if (outcome !== scenario.expectedOutcome) notes.push(`UNEXPECTED: the run ${outcome}; scenario ${scenario.name} documents ${scenario.expectedOutcome}.`);

    const report: DrillReport = {
      ...summary,
      generatedAt: new Date().toISOString(),
      startedAt: new Date(t0).toISOString(),
      faultAt: rel(faultAt),
      budgets: { rtoSeconds: lab.plan.rtoBudgetSeconds, rpoSeconds: lab.plan.rpoBudgetSeconds },
      settings: {
        rate: options.rate,
        latencyMs: options.latencyMs,
        probeIntervalMs: lab.options.probeIntervalMs,
        failuresToAlarm: lab.plan.detection.healthAlarms[0]!.datapointsToAlarm,
        dnsTtlSeconds: lab.options.dnsTtlSeconds,
        pollSeconds: lab.options.pollMs / 1000,
        fenceBudgetSeconds: lab.plan.fence.timeoutSeconds,
      },
      fenceToPromotedSeconds,
      splitBrainWrites,
      lost: log
        .filter((r) => loss.lostIds.includes(r.id))
        .map((r) => ({
          id: r.id,
          account: r.account,
          amount: r.amount,
          acknowledgedAt: new Date(r.doneAt).toISOString(),
          regionAcknowledgedAt: r.regionAcknowledgedAt === undefined ? undefined : new Date(r.regionAcknowledgedAt).toISOString(),
          region: r.region,
        })),
      execution: { status: execution?.status ?? 'NOT_STARTED', error: execution?.error, cause: execution?.cause, executionArn: execution?.executionArn },
      timeline: { points: timeline(log, lab.state.lag, t0, endAt, faultAt), events: events.sort((a, b) => a.t - b.t) },
      stageBars: withFenceStatus(stageList, fence).map((s) => ({ name: s.name, status: s.status, start: rel(s.start), end: rel(s.end) })),
      audit: auditOf({
        execution,
        alarms: lab.alarmEvents.map((a) => ({ at: a.at, name: String(a.event.detail?.alarmName ?? '?'), state: String(a.event.detail?.state?.value ?? '?'), matched: a.matched })),
        faultAt,
        t0,
        busEvents: lab.state.events,
        orchestrator: orchestratorVersion(ROOT),
      }),
      otherExecutions: lab.startedExecutions.filter((e) => e.execution !== execution).map(({ execution: e }) => describeOther(e)),
      notes,
    };
    writeFileSync(join(options.outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(reportPath, renderReportHtml(report));
    writeFileSync(join(options.outDir, 'transactions.jsonl'), `${log.map((r) => JSON.stringify(r)).join('\n')}\n`);
    return report;
  } finally {
    await traffic?.stop().catch(() => undefined);
    await lab.stop();
    drillLabs.delete(lab);
  }
}

type Started = Lab['startedExecutions'][number];

/**
 * Waits until CloudWatch (the lab's, through the real API) has a ReplicaLag datapoint of the replica,
 * as it has for any replica in service. Returns how long it waited (ms).
 */
async function waitForReplicaLagDatapoint(lab: Lab): Promise<number> {
  const started = Date.now();
  const replica = (lab.plan.databases[0] as RdsReplicaResource).replicaInstanceIdentifier;
  const cw = new CloudWatchClient({ region: lab.plan.recoveryRegion, endpoint: lab.controlPlaneUrl, credentials: { accessKeyId: 'lab', secretAccessKey: 'lab' }, maxAttempts: 1 });
  try {
    await lab.waitFor(
      async () => {
        const now = new Date();
        const out = await cw.send(
          new GetMetricDataCommand({
            StartTime: new Date(now.getTime() - 10 * 60_000),
            EndTime: now,
            MetricDataQueries: [
              {
                Id: 'lag',
                MetricStat: {
                  Metric: { Namespace: 'AWS/RDS', MetricName: 'ReplicaLag', Dimensions: [{ Name: 'DBInstanceIdentifier', Value: replica }] },
                  Period: lab.lagPeriodSeconds,
                  Stat: 'Maximum',
                },
              },
            ],
          }),
        );
        return (out.MetricDataResults?.[0]?.Values?.length ?? 0) > 0;
      },
      130_000,
      'the replica has a ReplicaLag datapoint',
      1000,
    );
  } finally {
    cw.destroy();
  }
  return Date.now() - started;
}

/** The execution that owns the failover when `execution` ended as a duplicate of it (single flight), else undefined. */
function ownerOf(lab: Lab, execution: ExecutionRecord): Started | undefined {
  const of = execution.output?.start?.duplicateOf as string | undefined;
  if (!of || of === execution.executionArn) return undefined;
  return lab.startedExecutions.find((e) => e.execution.executionArn === of);
}

/** States whose entry means a run acted on the platform (not only looked or asked). */
const ACTING_STATES = new Set(['FenceUsWriters', 'RecoverInParallel', 'FlipTraffic']);

/** Another execution, as the report lists it. Still running: as far as it got when the drill measured. */
function describeOther(e: ExecutionRecord): NonNullable<DrillReport['otherExecutions']>[number] {
  const entered = e.events.filter((ev) => !ev.nested && ev.type === 'StateEntered' && ev.state).map((ev) => ev.state!);
  return {
    name: e.name,
    status: e.status,
    ...(e.error ? { error: e.error } : {}),
    ...(e.output?.start?.duplicateOf ? { duplicateOf: String(e.output.start.duplicateOf) } : {}),
    acted: entered.some((s) => ACTING_STATES.has(s)),
    stages: [...new Set(entered.filter((s) => s in STAGE_OF_STATE).map((s) => STAGE_OF_STATE[s]!))],
  };
}

/** How the lab's alarms evaluate, from the plan: "3 of 3 probes failing". */
function alarmRule(lab: Lab): string {
  const a = lab.plan.detection.healthAlarms[0]!;
  return `${a.datapointsToAlarm} of ${a.evaluationPeriods} probes failing to alarm`;
}

const FENCE_STATUSES = new Set(['confirmed', 'unconfirmed', 'skipped']);

/**
 * The fence as the execution reported it: confirmed, each step's status, and which were not
 * confirmed (null when it did not run). A failed execution has no output: then the fence stage's
 * own output (its StateExited event) is the evidence.
 */
export function fenceOutcome(execution: (Pick<ExecutionRecord, 'output'> & Partial<Pick<ExecutionRecord, 'events'>>) | undefined): DrillSummary['fence'] {
  const exited = (execution?.events ?? []).filter((e) => !e.nested && e.state === 'FenceUsWriters' && e.type === 'StateExited').pop();
  return fenceOf(execution?.output?.fence ?? (exited?.output as { fence?: unknown } | undefined)?.fence);
}

/** A FenceResult (functions/core/contract.ts) as the report shows it; null when there is none. */
function fenceOf(raw: unknown): DrillSummary['fence'] {
  const fence = raw as
    | { confirmed?: unknown; budgetSeconds?: unknown; steps?: Array<{ resource?: string; kind?: string; status?: string; confirmed?: boolean; action?: string; detail?: string }> }
    | undefined;
  if (!fence || typeof fence.confirmed !== 'boolean') return null;
  const steps: FenceStep[] = (fence.steps ?? []).map((s) => ({
    resource: s.resource ?? '?',
    kind: s.kind ?? '?',
    // Older fence outputs had only `confirmed`.
    status: (FENCE_STATUSES.has(s.status ?? '') ? s.status : s.confirmed === false ? 'unconfirmed' : 'confirmed') as FenceStep['status'],
    action: s.action ?? '',
    detail: s.detail ?? '',
  }));
  const unconfirmed = steps.filter((s) => s.status === 'unconfirmed').map((s) => `${s.resource}: ${s.detail || 'unconfirmed'}`);
  return { confirmed: fence.confirmed, unconfirmed, ...(typeof fence.budgetSeconds === 'number' ? { budgetSeconds: fence.budgetSeconds } : {}), steps };
}

/** One fence step as a progress / summary line. */
const fenceStepLine = (s: FenceStep) =>
  `${s.status === 'confirmed' ? '✓' : s.status === 'skipped' ? '·' : '⚠'} ${s.resource} (${s.kind}) ${s.status.toUpperCase()}${s.detail ? `: ${s.detail}` : ''}`;

/**
 * Progress lines for one top-level stage event. A retried stage prints each failed attempt with the
 * time since the stage was entered, then its end: the stage's time covers all its attempts. The
 * fence prints one line per step with its status: an unconfirmed fence is never a plain ✓.
 */
export function progressLines(event: ExecutionEvent, key: string, entered: Map<string, { at: number; attempt: number; failed: boolean }>, tag = ''): string[] {
  const stage = STAGE_OF_STATE[event.state ?? ''];
  if (!stage) return [];
  const open = entered.get(key);
  switch (event.type) {
    case 'StateEntered':
      entered.set(key, { at: event.at, attempt: 1, failed: false });
      return [`  … ${stage}${tag}`];
    case 'StateFailed':
      if (!open || open.failed) return [];
      open.failed = true;
      return [
        `  ✗ ${stage.padEnd(28)} ${secs(event.at - open.at)}${open.attempt > 1 || event.error ? ` (attempt ${open.attempt}${event.error ? `: ${event.error}` : ''})` : ''}${tag}`,
      ];
    case 'StateRetried':
      if (!open) return [];
      open.attempt += 1;
      open.failed = false;
      return [`  ↻ ${stage.padEnd(28)} attempt ${open.attempt} (Retry)${tag}`];
    case 'StateExited': {
      if (!open) return [];
      entered.delete(key);
      if (open.failed) return []; // caught: the failure was printed
      const fence = event.state === 'FenceUsWriters' ? fenceOf((event.output as { fence?: unknown } | undefined)?.fence) : null;
      const mark = fence && !fence.confirmed ? '⚠' : '✓';
      const attempts = open.attempt > 1 ? ` (${open.attempt} attempts)` : '';
      return [
        `  ${mark} ${stage.padEnd(28)} ${secs(event.at - open.at)}${fence && !fence.confirmed ? ' UNCONFIRMED' : ''}${attempts}${tag}`,
        ...(fence?.steps ?? []).map((s) => `      ${fenceStepLine(s)}`),
      ];
    }
    default:
      return [];
  }
}

/** States inside the recovery Parallel that are stages of their own: flip-traffic gets its own line. */
const BRANCH_STAGES = new Set(['PromoteEuDatabases', 'ScaleEuCompute', 'FlipTraffic']);

const EXECUTION_ENDS = new Set(['ExecutionSucceeded', 'ExecutionFailed', 'ExecutionAborted', 'ExecutionTimeout']);

interface NarratedRun {
  ordinal: number;
  /** pending: lines held until AcceptStartRequest says whether this run owns the failover. */
  mode: 'pending' | 'live' | 'duplicate' | 'other';
  buffer: string[];
  stages: string[];
  classification?: string;
  alarm?: { at: number; name: string; state: string };
}

/**
 * The drill's progress lines, in the order things happened: for the execution that owns the
 * failover, the alarm that started it and its start, then each stage as it runs (flip-traffic on
 * its own line, though it runs inside the recovery Parallel). Every other execution (a second alarm
 * of the same incident ending as DuplicateStart, the old region's alarm after a switchover) is
 * explained in one line, not interleaved stage by stage. A run's lines are held until its
 * AcceptStartRequest says whether it is a duplicate (milliseconds).
 */
export class ProgressNarrator {
  private readonly runs = new Map<ExecutionRecord, NarratedRun>();
  private readonly entered = new Map<string, { at: number; attempt: number; failed: boolean }>();
  private live?: ExecutionRecord;

  constructor(
    private readonly o: {
      say: (line: string) => void;
      /** Seconds since traffic start. */
      rel: (at: number) => number;
      ordinalOf: (execution: ExecutionRecord) => number;
      /** The alarm event that started this execution, if an alarm did. */
      alarmOf: (execution: ExecutionRecord) => { at: number; name: string; state: string } | undefined;
    },
  ) {}

  onEvent(event: ExecutionEvent, execution: ExecutionRecord): void {
    let run = this.runs.get(execution);
    if (!run) {
      const alarm = this.o.alarmOf(execution);
      run = { ordinal: this.o.ordinalOf(execution), mode: 'pending', buffer: [], stages: [], ...(alarm ? { alarm } : {}) };
      this.runs.set(execution, run);
      if (alarm) run.buffer.push(`⚑ t=${this.o.rel(alarm.at).toFixed(1)} s alarm ${alarm.name} → ${alarm.state}; EventBridge rule matched`);
      run.buffer.push(`▶ t=${this.o.rel(execution.startDate.getTime()).toFixed(1)} s execution ${execution.name} started`);
    }
    if (event.type === 'StateEntered' && event.state && event.state in STAGE_OF_STATE && !run.stages.includes(STAGE_OF_STATE[event.state]!))
      run.stages.push(STAGE_OF_STATE[event.state]!);
    const output = event.output as { start?: { duplicateOf?: unknown }; detection?: { classification?: unknown } } | undefined;
    if (event.type === 'StateExited' && event.state === 'ConfirmRegionFailure' && typeof output?.detection?.classification === 'string')
      run.classification = output.detection.classification;
    const staged = event.state && event.state in STAGE_OF_STATE && (!event.nested || BRANCH_STAGES.has(event.state));
    const lines = staged ? progressLines(event, `${execution.executionArn}:${event.state}`, this.entered) : [];
    if (run.mode === 'live') for (const l of lines) this.o.say(l);
    else if (run.mode === 'pending') run.buffer.push(...lines);
    if (run.mode === 'pending' && event.type === 'StateExited' && event.state === 'AcceptStartRequest') {
      const of = output?.start?.duplicateOf;
      if (typeof of === 'string' && of !== execution.executionArn) {
        run.mode = 'duplicate';
        const owner = [...this.runs.keys()].find((e) => e.executionArn === of);
        this.o.say(
          `· execution #${run.ordinal} ${execution.name}${this.cause(run)} is a duplicate of ${owner?.name ?? of}: single flight, it ends as DuplicateStart and changes nothing`,
        );
      } else this.decide(execution, run);
    }
    if (EXECUTION_ENDS.has(event.type)) {
      if (run.mode === 'pending') this.decide(execution, run);
      if (run.mode === 'other') {
        const acted = run.stages.filter((s) => ['fence-us-writers', 'promote-and-scale', 'flip-traffic'].includes(s));
        this.o.say(
          `· execution #${run.ordinal} ${execution.name}${this.cause(run)}: ${run.classification ? `classified ${run.classification}, ` : ''}ended ${event.type.replace('Execution', '').toUpperCase()}${event.error ? ` (${event.error})` : ''} after ${run.stages.join(' → ') || 'no stage'}${acted.length ? ` — UNEXPECTED: it acted (${acted.join(', ')})` : ''}`,
        );
      }
    }
  }

  /** The first run to own a failover is narrated live (its held lines first); any later one in one line at its end. */
  private decide(execution: ExecutionRecord, run: NarratedRun): void {
    if (!this.live) {
      this.live = execution;
      run.mode = 'live';
      for (const l of run.buffer) this.o.say(l);
    } else run.mode = 'other';
    run.buffer = [];
  }

  private cause(run: NarratedRun): string {
    return run.alarm ? ` (alarm ${run.alarm.name} → ${run.alarm.state} at t=${this.o.rel(run.alarm.at).toFixed(1)} s)` : '';
  }
}

/** The orchestrator's data-loss estimate as printed: said plainly when there is none. */
const estimateText = (seconds: number | null) => (seconds === null ? 'no estimate from the orchestrator' : `orchestrator estimated ${seconds} s`);

/** How the go-ahead was given, in words: "automatic (policy …)" or "approved by U123 via slack at …". */
export function approvalText(a: Audit['approval']): string {
  if (a.mode === 'automatic') return `automatic: ${a.policy ?? "by the plan's policy"}`;
  if (a.mode === 'not-reached') return 'not reached';
  return `${a.approved ? 'approved' : 'rejected'} by ${a.decidedBy ?? '?'} via ${a.via ?? '?'}${a.decidedAt ? ` at ${a.decidedAt}` : ''}`;
}

/** The auditor's lines of the summary: classification, approval, what ran, who was told. */
export function auditLines(a: Audit | undefined): string[] {
  if (!a) return [];
  const failing = a.detection?.probes.filter((p) => !p.healthy) ?? [];
  return [
    `  Classification                           ${a.detection ? `${a.detection.classification}${failing.length ? ` (${failing.length} probe(s) failing: ${failing.map((p) => p.name).join(', ')})` : ''}` : 'none (detection did not run)'}`,
    ...(a.alarmsBeforeStart.length ? [`      alarms between fault and start: ${a.alarmsBeforeStart.map((x) => `${x.name} → ${x.state} at t=${x.t} s`).join('; ')}`] : []),
    `  Approval                                 ${approvalText(a.approval)}`,
    ...(a.unfencedApproval ? [`  Unfenced promotion                       ${approvalText({ mode: 'decided', ...a.unfencedApproval })}`] : []),
    `  Plan sha256 / orchestrator               ${a.planSha256 ?? 'unknown'} / ${a.orchestrator.version} @ ${a.orchestrator.commit}`,
    `  Notification                             ${a.notification ? `${a.notification.detailType}${a.notification.idempotencyKey ? ` (idempotency key ${a.notification.idempotencyKey})` : ''}` : 'none sent'}`,
  ];
}

/** The terminal summary. */
export function summaryLines(r: DrillReport): string[] {
  const noOutage = r.outage === false;
  const rto = noOutage ? 'none: no outage (writes never stopped)' : r.rtoSeconds === null ? 'no write acknowledged after the fault' : `${r.rtoSeconds.toFixed(2)} s`;
  const pre = r.throughput.preFault;
  const fenceLine =
    r.fence === null
      ? 'not run'
      : r.fence.confirmed
        ? 'confirmed'
        : `UNCONFIRMED (${r.fence.unconfirmed.length} step(s); budget ${r.fence.budgetSeconds ?? r.settings.fenceBudgetSeconds ?? '?'} s)`;
  return [
    '',
    `Scenario ${r.scenario} (${r.mode}): ${r.outcome.toUpperCase()} — ${r.asExpected ? 'as expected' : `NOT AS EXPECTED (documented: ${r.expectedOutcome})`}`,
    `  RTO (fault → first acknowledged write)   ${rto}${noOutage ? '' : `   [budget ${r.budgets.rtoSeconds} s]`}`,
    `  Lost acknowledged transactions           ${r.rpo.lostAcknowledged}${noOutage && r.rpo.estimatedSeconds === null ? '' : `   (${r.rpo.seconds} s of writes; ${estimateText(r.rpo.estimatedSeconds)})`}   [RPO budget ${r.budgets.rpoSeconds} s]`,
    `  Split-brain (writes on the fenced side)  ${r.splitBrain ? `YES (${r.splitBrainWrites})` : 'none'}`,
    `  Fence                                    ${fenceLine}`,
    ...(r.fence?.steps ?? []).map((s) => `      ${fenceStepLine(s)}`),
    `  Traffic                                  ${pre ? `offered ${r.settings.rate} tx/s; before the fault ${pre.offeredPerSecond} sent, ${pre.achievedPerSecond} acknowledged per s; ` : ''}${r.acknowledged} acknowledged, ${r.errors} errors, p50 ${r.throughput.p50Ms} ms, p99 ${r.throughput.p99Ms} ms`,
    `  Orchestration overhead                   ${r.orchestrationOverheadMs} ms (retries excluded)`,
    '  Stages:',
    ...r.stages.flatMap((s) => [
      `    ${s.name.padEnd(28)} ${s.status.padEnd(11)} ${(s.durationMs / 1000).toFixed(2)} s${(s.attempts?.length ?? 1) > 1 ? `   ${s.attempts!.length} attempts` : ''}`,
      ...((s.attempts?.length ?? 1) > 1
        ? s.attempts!.map((a, i) => `      attempt ${i + 1}: ${a.status}${a.error ? ` (${a.error})` : ''} ${(a.durationMs / 1000).toFixed(2)} s`)
        : []),
    ]),
    ...auditLines(r.audit),
    ...r.notes.map((n) => `  · ${n}`),
    `  Report: ${relative(process.cwd(), r.report) || r.report}`,
  ];
}

/** Every drill option, one line each; parseArgs is configured from this table, so `--help` cannot miss one. */
const DRILL_OPTIONS: Array<[name: string, spec: { type: 'string' | 'boolean'; short?: string }, value: string, what: string]> = [
  ['scenario', { type: 'string' }, 'NAME', `what goes wrong (default ${DEFAULT_DRILL.scenario}; see scenarios below)`],
  ['rate', { type: 'string' }, 'N', `transactions per second the clients send, in (0, 2000] (default ${DEFAULT_DRILL.rate}, the seed's peak)`],
  ['latency-ms', { type: 'string' }, 'N', `one-way latency between the regions in ms, in [0, 5000] (default ${DEFAULT_DRILL.latencyMs})`],
  ['out', { type: 'string' }, 'DIR', 'where report.json, report.html and the logs go (default .lab/SCENARIO-TIME)'],
  ['json', { type: 'boolean' }, '', 'print the summary as one JSON line on stdout (progress goes to stderr); use npm run -s'],
  ['keep-data', { type: 'boolean' }, '', "keep the lab's database data directories and logs after the drill"],
  ['lag-period', { type: 'string' }, 'S', "seconds between ReplicaLag datapoints, whole in [1, 60] (RDS: 60; default: the lab plan's)"],
  ['help', { type: 'boolean', short: 'h' }, '', 'print this help and exit'],
];

const DRILL_USAGE = `usage: npm run drill -- [--scenario ${Object.keys(SCENARIOS).join('|')}] [--rate N] [--latency-ms N] [--out DIR] [--json] [--keep-data] [--lag-period S]`;

/** The drill's help: every option, then every scenario, one line each. */
export function drillHelp(): string {
  return [
    DRILL_USAGE,
    '',
    'options:',
    ...DRILL_OPTIONS.map(([name, spec, value, what]) => `  ${`${spec.short ? `-${spec.short}, ` : ''}--${name}${value ? ` ${value}` : ''}`.padEnd(20)}${what}`),
    '',
    'scenarios:',
    ...Object.entries(SCENARIOS).map(([name, scenario]) => `  ${name.padEnd(26)}${scenario.description}`),
  ].join('\n');
}

/** A drill command line, checked: what to run, the help, or what was wrong (one line naming it). */
export type DrillArgs =
  | { kind: 'run'; scenario: string; rate: number; latencyMs: number; out?: string; json: boolean; keepData: boolean; lagPeriodSeconds?: number }
  | { kind: 'help'; text: string }
  | { kind: 'error'; message: string; usage: string };

/** Parses and checks `npm run drill` arguments without side effects (main acts on the result). */
export function parseDrillArgs(argv: string[]): DrillArgs {
  const error = (message: string): DrillArgs => ({ kind: 'error', message, usage: DRILL_USAGE });
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options: Object.fromEntries(DRILL_OPTIONS.map(([name, spec]) => [name, spec])), strict: true }));
  } catch (e) {
    return error(argsErrorMessage(e));
  }
  if (values.help) return { kind: 'help', text: drillHelp() };
  const scenario = (values.scenario as string | undefined) ?? DEFAULT_DRILL.scenario;
  const rawRate = (values.rate as string | undefined) ?? String(DEFAULT_DRILL.rate);
  const rawLatency = (values['latency-ms'] as string | undefined) ?? String(DEFAULT_DRILL.latencyMs);
  const rate = Number(rawRate);
  const latencyMs = Number(rawLatency);
  if (!Number.isFinite(rate) || rate <= 0 || rate > 2000) return error(`--rate must be a number of transactions per second in (0, 2000], got ${rawRate}`);
  if (!Number.isFinite(latencyMs) || latencyMs < 0 || latencyMs > 5000) return error(`--latency-ms must be in [0, 5000], got ${rawLatency}`);
  const lagPeriodSeconds = values['lag-period'] === undefined ? undefined : Number(values['lag-period']);
  if (lagPeriodSeconds !== undefined && (!Number.isInteger(lagPeriodSeconds) || lagPeriodSeconds < 1 || lagPeriodSeconds > 60))
    return error(`--lag-period must be whole seconds in [1, 60] (RDS: 60), got ${values['lag-period']}`);
  if (!SCENARIOS[scenario]) return error(`--scenario must be one of ${Object.keys(SCENARIOS).join(', ')}, got ${scenario}`);
  return { kind: 'run', scenario, rate, latencyMs, out: values.out as string | undefined, json: values.json === true, keepData: values['keep-data'] === true, lagPeriodSeconds };
}

/** Labs of running drills (stopAllLabs stops them; the interrupt handler reports what that did). */
const drillLabs = new Set<Lab>();

/** What a lab leaves on the machine while it runs: its PostgreSQL servers and the directories its stop removes. */
export interface CleanupObservation {
  servers: Array<{ name: string; dataDir: string; running: boolean }>;
  dirs: Array<{ path: string; exists: boolean; kept: boolean }>;
}

/** Looks at the drill labs' servers (a postmaster.pid in the data directory = running) and directories. */
function observeCleanup(): CleanupObservation {
  const obs: CleanupObservation = { servers: [], dirs: [] };
  for (const lab of drillLabs) {
    for (const db of [lab.state?.primary.db, lab.state?.recovery.db]) {
      if (db) obs.servers.push({ name: db.name, dataDir: db.options.dataDir, running: existsSync(join(db.options.dataDir, 'postmaster.pid')) });
    }
    if (lab.workDir) {
      // Lab.stop removes the data directories, and the work directory itself when it made it (not --out).
      const path = lab.options.workDir ? join(lab.workDir, 'data') : lab.workDir;
      obs.dirs.push({ path, exists: existsSync(path), kept: lab.options.keepData === true });
    }
  }
  return obs;
}

/** The one line an interrupted drill ends with: what the lab's stop did, as observed, never assumed. */
export function interruptedLine(before: CleanupObservation, after: CleanupObservation): string {
  const runningAfter = new Set(after.servers.filter((s) => s.running).map((s) => s.dataDir));
  const wasRunning = before.servers.filter((s) => s.running);
  const stopped = wasRunning.filter((s) => !runningAfter.has(s.dataDir));
  const still = wasRunning.filter((s) => runningAfter.has(s.dataDir));
  const existsAfter = new Set(after.dirs.filter((d) => d.exists).map((d) => d.path));
  const removed = before.dirs.filter((d) => d.exists && !existsAfter.has(d.path));
  const kept = before.dirs.filter((d) => d.exists && existsAfter.has(d.path));
  const parts = [
    `stopped ${stopped.length} PostgreSQL server${stopped.length === 1 ? '' : 's'}${stopped.length ? ` (${stopped.map((s) => s.name).join(', ')})` : ''}`,
    ...(removed.length ? [`removed ${removed.map((d) => d.path).join(', ')}`] : []),
    ...kept.map((d) => (d.kept ? `kept ${d.path} (--keep-data)` : `could NOT remove ${d.path}`)),
    ...(still.length ? [`STILL RUNNING: ${still.map((s) => `${s.name} (pg_ctl -D ${s.dataDir} stop)`).join(', ')}`] : []),
  ];
  return `interrupted: ${parts.join(', ')}`;
}

export async function main(argv: string[]): Promise<number> {
  const args = parseDrillArgs(argv);
  if (args.kind === 'help') {
    process.stdout.write(`${args.text}\n`);
    return 0;
  }
  if (args.kind === 'error') {
    console.error(`${args.message}\n${args.usage}`);
    return 2;
  }
  const { rate, latencyMs, lagPeriodSeconds } = args;
  const values = { scenario: args.scenario, out: args.out, json: args.json, 'keep-data': args.keepData };
  const outDir = resolve(values.out ?? join(ROOT, '.lab', `${values.scenario}-${new Date().toISOString().replace(/[:.]/g, '-')}`));
  const write = values.json ? (line: string) => process.stderr.write(`${line}\n`) : (line: string) => process.stdout.write(`${line}\n`);
  // Interrupted (Ctrl-C, a closed pipe): tear the lab down before leaving, as a finished drill does,
  // and say what was cleaned up, as observed before and after the lab's stop (stderr: stdout may be gone).
  const interrupt = (code: number) => {
    const before = observeCleanup();
    void stopAllLabs()
      .then(closeSharedServices)
      .then(() => process.stderr.write(`${interruptedLine(before, observeCleanup())}\n`))
      .catch(() => undefined)
      .finally(() => process.exit(code));
  };
  process.once('SIGINT', () => interrupt(130));
  process.once('SIGTERM', () => interrupt(143));
  process.stdout.on('error', () => interrupt(141)); // EPIPE: the reader went away
  let report: DrillReport;
  try {
    report = await runDrill({ ...DEFAULT_DRILL, scenario: values.scenario!, rate, latencyMs, outDir, keepData: values['keep-data']!, lagPeriodSeconds, progress: write });
  } finally {
    await closeSharedServices();
  }
  for (const line of summaryLines(report)) write(line);
  if (values.json) {
    const {
      scenario,
      mode,
      outcome,
      expectedOutcome,
      asExpected,
      outage,
      rtoSeconds: rto,
      rpo: loss,
      acknowledged,
      errors,
      splitBrain,
      fence,
      orchestrationOverheadMs: overhead,
      throughput: tp,
      stages: st,
      audit,
      report: path,
    } = report;
    process.stdout.write(
      `${JSON.stringify({ scenario, mode, outcome, expectedOutcome, asExpected, outage, rtoSeconds: rto, rpo: loss, acknowledged, errors, splitBrain, fence, orchestrationOverheadMs: overhead, throughput: tp, stages: st, audit, report: path })}\n`,
    );
  }
  // The exit code says whether the scenario's documented outcome happened (an approval-rejected run that aborted passes).
  return report.asExpected ? 0 : 1;
}
