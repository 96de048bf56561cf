/**
 * The two-region lab on one machine: real PostgreSQL primary ("us-east-1") and streaming standby
 * ("eu-west-1") joined by a latency proxy, an app per region, a front door that follows DNS, the
 * simulated control plane, Slack, probes, and the real failover state machine with the real
 * handlers. Everything binds 127.0.0.1 and is torn down by `stop()`, data directories included.
 */
import { Console } from 'node:console';
import { chmodSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { alarmNames, parsePlan, type Plan, type EcsServiceResource } from '../functions/core/plan';
import { handler as slackCallback } from '../functions/slack-callback';
import { logger, metrics } from '../functions/core/powertools';
import { ROOT, renderAlarmPattern, renderFailoverDefinition } from '../scripts/lib/definitions';
import type { ControlPlaneBackend } from '../local/aws/backend';
import { startControlPlane } from './control-plane/server';
import { matchesEventPattern } from '../local/event-pattern';
import { FrontDoor } from './front-door';
import { LocalOrchestrator, TaskTokens, type ExecutionEvent, type ExecutionRecord, type GateRequest } from '../local/state-machine';
import { PgServer, freePort, killStray, prepareDir } from './postgres';
import { Probes, type AlarmEvent } from './probes';
import { RegionApp, TRANSACTIONS_DDL } from './region-app';
import { SlackInteractivityEndpoint, SlackReceiver } from './slack';
import { LatencyLink } from './tcp-proxy';
import { LabWorld, type LabState } from './world';

/** Ports config/lab.yml is written with: the us-east-1 app, the eu-west-1 app, the control plane (ARC cluster endpoints). */
const NOMINAL_PORTS = { primary: 47001, recovery: 47002, controlPlane: 47003 };
export const LAB_ACCOUNT = '000000000000';
const SIGNING_SECRET = 'lab-signing-secret-not-a-real-secret-0000';
/** DynamoDB tables of the stack, as the lab creates them (hash keys as in serverless.yml). */
export const LAB_TABLES = { approvals: { name: 'lab-approvals', key: 'approvalId' }, leases: { name: 'lab-leases', key: 'leaseId' } } as const;
/** The Slack callback's function name (serverless.yml `slackCallback`, stage lab): it invokes itself by it. */
export const SLACK_CALLBACK_FUNCTION = 'failover-orchestrator-lab-slackCallback';

export interface LabOptions {
  latencyMs: number;
  /** One probe tick: every alarm of the plan gets one datapoint per tick (lab-sized alarm period). */
  probeIntervalMs: number;
  /**
   * How long resolvers cache the front door's DNS answer. A lab setting, not the plan's: ARC
   * routing controls have no TTL of their own (the pre-built records they drive have one).
   */
  dnsTtlSeconds: number;
  /**
   * Seconds between the replica's AWS/RDS ReplicaLag datapoints, and the Period the orchestrator
   * reads them with (the plan's `detection.lagPeriodSeconds` is set to it, so both always agree).
   * RDS publishes once a minute; the lab plan says 5 (lab-sized, like its TTL and polls; the report
   * says so). `--lag-period 60` drills at AWS's pace.
   */
  replicaLagPeriodSeconds?: number;
  /** Wait-state duration in the lab (the ASL's 1 s polls, lab-sized). */
  pollMs: number;
  /** Retry pauses in the lab (lab-sized backoff). */
  retryMs: number;
  dnsSyncMs: number;
  taskStartMs: number;
  /** Where data directories and logs go (removed by stop() unless keepData). */
  workDir?: string;
  keepData?: boolean;
  /** Edits to the lab plan (config/lab.yml) for a scenario. */
  editPlan?: (raw: Record<string, any>) => void;
  /** Approval policy of the lab's approver: answer gates automatically, or not at all. */
  approver?: (gate: GateRequest) => Promise<'approve' | 'reject' | 'none'> | 'approve' | 'reject' | 'none';
  onExecutionEvent?: (event: ExecutionEvent, execution: ExecutionRecord) => void;
  onLog?: (line: string) => void;
}

export const DEFAULT_LAB_OPTIONS: LabOptions = {
  latencyMs: 80,
  probeIntervalMs: 1000,
  dnsTtlSeconds: 0.5,
  pollMs: 250,
  retryMs: 250,
  dnsSyncMs: 250,
  taskStartMs: 150,
};

/** config/lab.yml with the nominal ports replaced by the real ones, validated. */
export function labPlan(ports: { primary: number; recovery: number; controlPlane?: number }, edit?: (raw: Record<string, any>) => void): Plan {
  const text = readFileSync(join(ROOT, 'config', 'lab.yml'), 'utf8')
    .replaceAll(`:${NOMINAL_PORTS.primary}/`, `:${ports.primary}/`)
    .replaceAll(`:${NOMINAL_PORTS.recovery}/`, `:${ports.recovery}/`)
    .replaceAll(`:${NOMINAL_PORTS.controlPlane}/`, `:${ports.controlPlane ?? NOMINAL_PORTS.controlPlane}/`);
  const raw = parse(text) as Record<string, any>;
  edit?.(raw);
  return parsePlan(raw, 'config/lab.yml');
}

/**
 * One simulated control plane and one Slack receiver per process, whatever the number of labs:
 * the handlers' SDK clients and Slack base URL are created once per process (as in a Lambda
 * container), so each new lab swaps the backend behind the same endpoints instead.
 */
let shared:
  | { controlPlane: { url: string; port: number; close(): Promise<void> }; slack: SlackReceiver; holder: { backend?: ControlPlaneBackend; log?: (line: string) => void } }
  | undefined;

async function sharedServices() {
  if (!shared) {
    const holder: { backend?: ControlPlaneBackend; log?: (line: string) => void } = {};
    // Every operation is looked up on the running lab's world when it is called, not when the control
    // plane starts (it starts before any lab, and asks which operations exist once).
    const delegate = new Proxy({} as ControlPlaneBackend, {
      get: (_target, key) => {
        if (typeof key !== 'string' || key === 'then') return undefined;
        return (...args: unknown[]) => {
          const backend = holder.backend as unknown as Record<string, unknown> | undefined;
          if (!backend) throw new Error('no lab is running');
          const member = backend[key];
          if (typeof member !== 'function') throw new Error(`the lab world has no ${key}`);
          return (member as (...a: unknown[]) => unknown).apply(backend, args);
        };
      },
    });
    const controlPlane = await startControlPlane(delegate, { log: (line) => holder.log?.(`control-plane: ${line}`) });
    const slack = new SlackReceiver();
    await slack.start();
    shared = { controlPlane, slack, holder };
  }
  return shared;
}

const runningLabs = new Set<Lab>();

/** Stops every lab of this process (Ctrl-C, SIGTERM): no PostgreSQL or data directory is left behind. */
export async function stopAllLabs(): Promise<void> {
  await Promise.all([...runningLabs].map((lab) => lab.stop()));
}

/** Closes the per-process control plane and Slack receiver (end of the drill, or of a test file). */
export async function closeSharedServices(): Promise<void> {
  const s = shared;
  shared = undefined;
  if (s) await Promise.all([s.controlPlane.close(), s.slack.close()]);
}

export class Lab {
  readonly options: LabOptions;
  plan!: Plan;
  state!: LabState;
  frontDoor!: FrontDoor;
  link!: LatencyLink;
  slack!: SlackReceiver;
  orchestrator!: LocalOrchestrator;
  startedExecutions: Array<{ execution: ExecutionRecord; done: Promise<ExecutionRecord> }> = [];
  readonly alarmEvents: Array<{ at: number; event: AlarmEvent; matched: boolean }> = [];
  workDir = '';
  private interactivity?: SlackInteractivityEndpoint;
  private probes?: Probes;

  /** Resolves once the next probe round has finished (see Probes.afterNextTick). */
  afterProbeRound(): Promise<void> {
    return this.probes ? this.probes.afterNextTick() : Promise.resolve();
  }
  private services?: Awaited<ReturnType<typeof sharedServices>>;
  private logStream?: WriteStream;
  private patterns: Array<Record<string, unknown>> = [];
  private stopping?: Promise<void>;
  readonly timings: Record<string, number> = {};

  constructor(options: Partial<LabOptions> = {}) {
    const merged = { ...DEFAULT_LAB_OPTIONS, ...options };
    const period = merged.replicaLagPeriodSeconds;
    const edit = merged.editPlan;
    this.options =
      period === undefined
        ? merged
        : {
            ...merged,
            editPlan: (raw) => {
              edit?.(raw);
              raw.detection.lagPeriodSeconds = period;
            },
          };
  }

  /** Seconds between ReplicaLag datapoints in this lab (and the Period the orchestrator reads them with). */
  get lagPeriodSeconds(): number {
    return this.plan.detection.lagPeriodSeconds;
  }

  private log(line: string): void {
    this.logStream?.write(`${new Date().toISOString()} ${line}\n`);
    this.options.onLog?.(line);
  }

  /** Brings the whole lab up: databases replicating, apps serving, orchestrator armed. */
  async start(): Promise<void> {
    const t0 = Date.now();
    runningLabs.add(this);
    this.workDir = this.options.workDir ?? mkdtempSync(join(tmpdir(), 'failover-lab-'));
    mkdirSync(this.workDir, { recursive: true });
    chmodSync(this.workDir, 0o755); // the postgres user must reach its data directories
    prepareDir(join(this.workDir, 'data'));
    chmodSync(join(this.workDir, 'data'), 0o755);
    this.logStream = createWriteStream(join(this.workDir, 'lab.log'));
    this.redirectPowertools();

    // Data plane: primary, replication link, standby.
    const primaryDb = new PgServer({ name: 'us-east-1', dataDir: join(this.workDir, 'data', 'us-east-1'), port: await freePort() });
    await primaryDb.init();
    await primaryDb.start();
    await primaryDb.query(TRANSACTIONS_DDL);
    this.link = new LatencyLink({ targetPort: primaryDb.port, latencyMs: this.options.latencyMs });
    await this.link.start();
    const standbyDb = await primaryDb.makeStandby({ name: 'eu-west-1', dataDir: join(this.workDir, 'data', 'eu-west-1'), port: await freePort() }, this.link.port);
    this.timings.databasesMs = Date.now() - t0;

    // Apps. The plan is rendered with their ports.
    const draft = labPlan({ primary: NOMINAL_PORTS.primary, recovery: NOMINAL_PORTS.recovery }, this.options.editPlan);
    const svc = draft.compute[0] as EcsServiceResource;
    const dbConfig = (db: PgServer) => ({ host: '127.0.0.1', port: db.port, user: 'postgres', database: 'postgres' });
    const primaryApp = new RegionApp({ region: draft.primaryRegion, db: dbConfig(primaryDb), desiredCount: svc.failoverDesiredCount, taskStartMs: this.options.taskStartMs });
    const recoveryApp = new RegionApp({ region: draft.recoveryRegion, db: dbConfig(standbyDb), desiredCount: svc.standbyDesiredCount, taskStartMs: this.options.taskStartMs });
    await primaryApp.start();
    await recoveryApp.start();
    this.services = await sharedServices();
    this.plan = labPlan({ primary: primaryApp.port, recovery: recoveryApp.port, controlPlane: this.services.controlPlane.port }, this.options.editPlan);

    const tokens = new TaskTokens();
    this.state = {
      plan: this.plan,
      primary: { name: this.plan.primaryRegion, db: primaryDb, app: primaryApp, dbAlive: true },
      recovery: { name: this.plan.recoveryRegion, db: standbyDb, app: recoveryApp, dbAlive: true },
      alarms: new Map(),
      lag: [],
      regionsDown: new Set(),
      regionsBlackholed: new Set(),
      startExecution: (input, name) => this.startExecution(input, name),
      dnsWeights: { [this.plan.primaryRegion]: 100, [this.plan.recoveryRegion]: 0 },
      orchestrator: () => this.orchestrator,
      tokens,
      secrets: { [this.plan.slack.botTokenParameter]: 'xoxb-lab-bot-token-not-a-real-token', [this.plan.slack.signingSecretParameter]: SIGNING_SECRET },
      events: [],
      marks: {},
      dnsSyncMs: this.options.dnsSyncMs,
      log: (line) => this.log(line),
    };

    // Front door following DNS.
    this.frontDoor = new FrontDoor(
      () => ({ weights: { ...this.state.dnsWeights }, ttlSeconds: this.options.dnsTtlSeconds }),
      () => ({ [this.plan.primaryRegion]: this.state.primary.app.port, [this.plan.recoveryRegion]: this.state.recovery.app.port }),
      // Longer than the clients' own 2 s: a request to a hanging region ends by the client's timeout, as it would.
      { upstreamTimeoutMs: 5000 },
    );
    await this.frontDoor.start();

    // Control plane, Slack, environment of the handlers (the SDK's standard settings; no lab branch in handler code).
    const world = new LabWorld(this.state, { replicaLagPublishSeconds: this.plan.detection.lagPeriodSeconds });
    this.services.holder.backend = world;
    this.services.holder.log = (line) => this.log(line);
    this.slack = this.services.slack;
    this.slack.messages.length = 0;
    const cp = this.services.controlPlane;
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: cp.url,
      AWS_REGION: this.plan.recoveryRegion,
      AWS_ACCESS_KEY_ID: 'lab',
      AWS_SECRET_ACCESS_KEY: 'lab',
      AWS_SESSION_TOKEN: '',
      SLACK_API_URL: `${this.slack.url}/api`,
      APPROVALS_TABLE: LAB_TABLES.approvals.name,
      LEASE_TABLE: LAB_TABLES.leases.name,
      SLACK_SIGNING_SECRET_PARAMETER: this.plan.slack.signingSecretParameter,
    });
    delete process.env.AWS_PROFILE;
    // The stack's DynamoDB tables, fresh with this lab's world (hash keys as in serverless.yml).
    for (const table of Object.values(LAB_TABLES)) await world.ensureTable(table.name, table.key);
    // Lambda Invoke of the Slack callback's self-invocation (answer Slack first, update the message after).
    world.registerFunction(SLACK_CALLBACK_FUNCTION, (event) => this.asSlackCallback(() => slackCallback(event as never)));
    this.interactivity = new SlackInteractivityEndpoint((event) => this.asSlackCallback(() => slackCallback(event)));
    await this.interactivity.start();

    // Orchestrator: the real definition, rendered with the lab plan.
    const stateMachineArn = `arn:aws:states:${this.plan.recoveryRegion}:${LAB_ACCOUNT}:stateMachine:failover-orchestrator-lab-failover`;
    const definition = renderFailoverDefinition(this.plan, (key) => `arn:aws:lambda:${this.plan.recoveryRegion}:${LAB_ACCOUNT}:function:failover-orchestrator-lab-${key}`);
    this.orchestrator = new LocalOrchestrator({
      definition,
      stateMachineArn,
      tokens,
      waitMs: this.options.pollMs,
      retryMs: this.options.retryMs,
      onGate: (gate) => this.answerGate(gate),
      onEvent: (event, execution) => this.options.onExecutionEvent?.(event, execution),
    });
    this.patterns = [renderAlarmPattern([...alarmNames(this.plan).health, ...alarmNames(this.plan).database]), renderAlarmPattern(alarmNames(this.plan).replicationLag)];

    // Wait until the standby has replayed the schema, then arm the probes.
    await this.waitFor(
      async () => (await standbyDb.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'transactions'`))[0]!.n === 1,
      10_000,
      'standby replays the schema',
    );
    this.probes = new Probes({ intervalMs: this.options.probeIntervalMs, state: this.state, onEvent: (e) => this.routeEvent(e) });
    this.probes.start();
    this.timings.upMs = Date.now() - t0;
    this.log(`lab up in ${this.timings.upMs} ms (databases ${this.timings.databasesMs} ms)`);
  }

  /**
   * Runs the Slack callback as its Lambda would run: with AWS_LAMBDA_FUNCTION_NAME set to its own
   * function name, which it invokes asynchronously to update the message after answering Slack (the
   * control plane's Lambda Invoke runs the handler the lab registered under that name).
   */
  private async asSlackCallback<T>(run: () => Promise<T>): Promise<T> {
    const previous = process.env.AWS_LAMBDA_FUNCTION_NAME;
    process.env.AWS_LAMBDA_FUNCTION_NAME = SLACK_CALLBACK_FUNCTION;
    try {
      return await run();
    } finally {
      if (previous === undefined) delete process.env.AWS_LAMBDA_FUNCTION_NAME;
      else process.env.AWS_LAMBDA_FUNCTION_NAME = previous;
    }
  }

  /** Powertools writes to the lab log, not the terminal (the terminal shows progress). */
  private redirectPowertools(): void {
    const sink = new Console({ stdout: this.logStream!, stderr: this.logStream! });
    (logger as unknown as { console: Console }).console = sink;
    (metrics as unknown as { console: Console }).console = sink;
    logger.setLogLevel('INFO');
  }

  /** An alarm event goes where EventBridge would send it: to the state machine, if a rule matches. */
  routeEvent(event: AlarmEvent): void {
    const matched = this.patterns.some((p) => matchesEventPattern(p, event));
    this.alarmEvents.push({ at: Date.now(), event, matched });
    if (matched && !this.stopping) this.startExecution(event);
  }

  startExecution(input: unknown, name?: string): { execution: ExecutionRecord; done: Promise<ExecutionRecord> } {
    const started = this.orchestrator.start(input, name);
    this.startedExecutions.push(started);
    this.log(`states: execution ${started.execution.name} started`);
    return started;
  }

  private async answerGate(gate: GateRequest): Promise<void> {
    const decision = (await this.options.approver?.(gate)) ?? 'none';
    this.log(`slack: approval ${gate.approvalId} (${gate.state}) → ${decision}`);
    if (decision === 'none') return;
    const status = await this.interactivity!.click({
      approvalId: gate.approvalId,
      action: decision,
      userId: this.plan.approval.approvers[0]!,
      signingSecret: SIGNING_SECRET,
      responseUrl: `${this.slack.url}/response/${gate.approvalId}`,
    });
    this.log(`slack: callback answered HTTP ${status}`);
  }

  /** The simulated control plane's endpoint (AWS_ENDPOINT_URL of the handlers). */
  get controlPlaneUrl(): string {
    if (!this.services) throw new Error('the lab is not started');
    return this.services.controlPlane.url;
  }

  async waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string, everyMs = 50): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if (await check()) return;
      } catch {
        /* not yet */
      }
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  // --- faults ---------------------------------------------------------------------------------

  /** The primary region is gone and says so: its database crashes, its app and control plane refuse connections. */
  async killPrimaryRegion(): Promise<void> {
    this.state.regionsDown.add(this.plan.primaryRegion);
    this.state.primary.dbAlive = false;
    await Promise.all([this.state.primary.app.kill(), this.state.primary.db.stop('immediate')]);
    this.log('fault: us-east-1 region down (database crashed, app gone, control plane unreachable)');
  }

  /**
   * The primary region is blackholed, as a dying AWS region usually is: every endpoint in it —
   * the app (health and database probes, the front door's traffic), its control plane (RDS, ECS,
   * CloudWatch, Route 53's API, its ARC cluster endpoint) and the replication link — accepts TCP and
   * never answers, holding the sockets until the lab stops.
   *
   * The database crashes as in `killPrimaryRegion` (so region-outage and region-blackhole lose the
   * same writes and can be compared): nothing outside the region can tell a crashed database from
   * an unreachable one, and no lab path may reach a dead region's database by a back door. Its
   * replication link hangs rather than closes, so the standby notices only when its
   * wal_receiver_timeout expires, as a real replica would.
   */
  async blackholePrimaryRegion(): Promise<void> {
    this.state.regionsBlackholed ??= new Set();
    this.state.regionsBlackholed.add(this.plan.primaryRegion);
    this.state.primary.dbAlive = false;
    this.link.blackhole();
    await Promise.all([this.state.primary.app.hang(), this.state.primary.db.stop('immediate')]);
    this.log('fault: us-east-1 blackholed (database crashed; app, control plane and replication link accept and never answer)');
  }

  /** Only the primary database crashes. */
  async killPrimaryDatabase(): Promise<void> {
    this.state.primary.dbAlive = false;
    await this.state.primary.db.stop('immediate');
    this.log('fault: us-east-1 database crashed');
  }

  /** Stops everything; a second call (Ctrl-C during the drill's own teardown) waits for the same stop. */
  stop(): Promise<void> {
    this.stopping ??= this.stopOnce();
    return this.stopping;
  }

  private async stopOnce(): Promise<void> {
    runningLabs.delete(this);
    this.probes?.stop();
    const quietly = async (f?: () => Promise<unknown> | undefined) => {
      try {
        await f?.();
      } catch {
        /* best effort */
      }
    };
    await quietly(() => this.frontDoor?.close());
    await quietly(() => this.state?.primary.app.stop());
    await quietly(() => this.state?.recovery.app.stop());
    await quietly(() => this.interactivity?.close());
    // The world owns per-lab resources (its DynamoDB, hanging requests of a blackholed region): released with the lab.
    const world = this.services?.holder.backend as { close?: () => Promise<void> } | undefined;
    await quietly(() => world?.close?.());
    if (this.services) Object.assign(this.services.holder, { backend: undefined, log: undefined });
    await quietly(() => this.link?.close());
    await quietly(() => this.state?.primary.db.stop('immediate'));
    await quietly(() => this.state?.recovery.db.stop('immediate'));
    if (this.workDir) killStray(this.workDir);
    await quietly(() => new Promise<void>((resolve) => (this.logStream ? this.logStream.end(resolve) : resolve())));
    if (this.workDir && !this.options.keepData) rmSync(join(this.workDir, 'data'), { recursive: true, force: true });
    if (this.workDir && !this.options.keepData && !this.options.workDir) rmSync(this.workDir, { recursive: true, force: true });
  }
}
