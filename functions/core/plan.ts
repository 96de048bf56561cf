/**
 * The plan: a typed, validated description of one deployment (config/<stage>.yml).
 *
 * It is validated twice with the same schema: when packaging (scripts/serverless-config.js renders
 * it into the state machine definition, so an invalid plan fails `serverless package`) and when a
 * Lambda starts working on an execution (the plan travels in the execution input, so the plan that
 * was executed is in the execution history). An invalid plan fails with the path of the bad field
 * and the reason: `databases[0].replicaRegion: eu-west-9 is not an AWS region`.
 *
 * Adding a resource kind touches its adapter (functions/adapters/) and this schema, nothing else.
 */
import { z } from 'zod';
import { InvalidPlanError } from './errors';

export const AWS_REGIONS = [
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'ca-central-1',
  'ca-west-1',
  'mx-central-1',
  'sa-east-1',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'eu-central-1',
  'eu-central-2',
  'eu-north-1',
  'eu-south-1',
  'eu-south-2',
  'me-south-1',
  'me-central-1',
  'il-central-1',
  'af-south-1',
  'ap-east-1',
  'ap-east-2',
  'ap-south-1',
  'ap-south-2',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-southeast-3',
  'ap-southeast-4',
  'ap-southeast-5',
  'ap-southeast-7',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-northeast-3',
  'us-gov-east-1',
  'us-gov-west-1',
] as const;

const region = z.string().refine((v) => (AWS_REGIONS as readonly string[]).includes(v), {
  error: (issue) => `${String(issue.input)} is not an AWS region`,
});

const name = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes (max 63)');
const seconds = (max: number) => z.number().int().min(1).max(max);
const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL');
const arn = (service: string) => z.string().regex(new RegExp(`^arn:aws[a-z-]*:${service}:`), `must be an ARN of ${service}`);
const slackId = (prefix: string, what: string) => z.string().regex(new RegExp(`^${prefix}[A-Z0-9]{6,}$`), `must be a Slack ${what} id (${prefix}…)`);

/** Aurora PostgreSQL global database: one writer cluster in the primary region, a secondary in the recovery region. */
const auroraGlobal = z.object({
  kind: z.literal('aurora-global'),
  name,
  globalClusterIdentifier: z.string().min(1),
  primaryClusterArn: arn('rds'),
  recoveryClusterArn: arn('rds'),
  /**
   * DB cluster parameter group attached to the primary cluster; fencing sets
   * default_transaction_read_only=1 in it and checks it is attached and in-sync (best effort).
   */
  primaryClusterParameterGroup: z.string().min(1).optional(),
  residency: z.enum(['any', 'eu']).default('any'),
  promotionTimeoutSeconds: seconds(3600).default(600),
});

/** RDS PostgreSQL with a cross-region read replica: promotion is irreversible and reboots the replica. */
const rdsReplica = z.object({
  kind: z.literal('rds-replica'),
  name,
  primaryInstanceIdentifier: z.string().min(1),
  replicaInstanceIdentifier: z.string().min(1),
  /**
   * Parameter group of the primary; fencing sets default_transaction_read_only=1 in it and checks
   * that it is attached to primaryInstanceIdentifier and in-sync (best effort).
   */
  primaryParameterGroup: z.string().min(1).optional(),
  residency: z.enum(['any', 'eu']).default('any'),
  // No backup retention here: PromoteReadReplica is called without BackupRetentionPeriod, so backups
  // must already be enabled on the replica (checked by detection and drills).
  promotionTimeoutSeconds: seconds(3600).default(1200),
});

export const databaseSchema = z.discriminatedUnion('kind', [auroraGlobal, rdsReplica]);

const recordTarget = z.union([
  z.object({ value: z.string().min(1) }).strict(),
  z.object({ aliasDnsName: z.string().min(1), aliasHostedZoneId: z.string().min(1), evaluateTargetHealth: z.boolean().default(true) }).strict(),
]);

/** A Route 53 record (weighted pair, or a single simple record) that the flip points at the recovery region. */
const route53Record = z.object({
  kind: z.literal('route53-record'),
  name,
  hostedZoneId: z.string().regex(/^Z[A-Z0-9]{4,31}$/, 'must be a Route 53 hosted zone id (Z…)'),
  recordName: z.string().min(1),
  recordType: z.enum(['A', 'AAAA', 'CNAME']),
  ttl: seconds(86400).default(60),
  routing: z.enum(['weighted', 'simple']),
  primary: recordTarget.and(z.object({ setIdentifier: z.string().min(1).optional() })),
  recovery: recordTarget.and(z.object({ setIdentifier: z.string().min(1).optional() })),
  healthCheckIds: z.object({ primary: z.string().optional(), recovery: z.string().optional() }).default({}),
  syncTimeoutSeconds: seconds(1800).default(300),
});

const arcArn = (what: string) => z.string().regex(new RegExp(`^arn:aws[a-z-]*:route53-recovery-control::[0-9]{12}:${what}`), `must be a Route 53 ARC ${what} ARN`);

/**
 * Route 53 Application Recovery Controller routing controls: the data-plane flip. Pre-built Route 53
 * records (failover or weighted) carry health checks that follow the routing controls; turning the
 * recovery control On and the primary Off moves traffic without Route 53's control plane (us-east-1).
 * The flip calls UpdateRoutingControlStates against the cluster's regional endpoints, each in turn.
 */
const arcRoutingControl = z.object({
  kind: z.literal('arc-routing-control'),
  name,
  clusterArn: arcArn('cluster'),
  /** The cluster's regional data-plane endpoints (DescribeCluster → ClusterEndpoints); tried in turn. */
  clusterEndpoints: z.array(z.object({ region, endpoint: httpUrl })).min(1),
  primaryRoutingControlArn: arcArn('controlpanel'),
  recoveryRoutingControlArn: arcArn('controlpanel'),
  /** The DNS name whose pre-built records follow the routing controls (reported; not edited). */
  recordName: z.string().min(1).optional(),
  syncTimeoutSeconds: seconds(1800).default(120),
});

export const trafficSchema = z.discriminatedUnion('kind', [route53Record, arcRoutingControl]);

const ecsRef = z.object({ cluster: z.string().min(1), service: z.string().min(1) });

/** An ECS service present in both regions: fenced (scaled to 0) in the primary when it writes, scaled up in the recovery region. */
const ecsService = z.object({
  kind: z.literal('ecs-service'),
  name,
  writer: z.boolean().default(true),
  primary: ecsRef,
  recovery: ecsRef,
  standbyDesiredCount: z.number().int().min(0).max(5000),
  failoverDesiredCount: z.number().int().min(1).max(5000),
  steadyTimeoutSeconds: seconds(3600).default(600),
  /**
   * The services have Application Auto Scaling targets. Scaling policies would undo a bare desired
   * count (scale the fenced primary back up in a partition, or scale the recovery region back in),
   * so the fence pins the primary to 0..0 and the scale-up raises the recovery minimum.
   */
  autoScaling: z.boolean().default(false),
});

export const computeSchema = z.discriminatedUnion('kind', [ecsService]);

const smokeTest = z.object({
  name,
  url: httpUrl,
  method: z.enum(['GET', 'POST', 'PUT']).default('GET'),
  expectStatus: z.number().int().min(100).max(599).default(200),
  /** A synthetic write: a JSON body sent with the request, marked so the platform can tell it from real money. */
  body: z.record(z.string(), z.unknown()).optional(),
  /** A substring the response body must contain. */
  expectBodyContains: z.string().optional(),
  timeoutMs: z.number().int().min(100).max(30000).default(5000),
});

const probe = z.object({
  name,
  /** A health endpoint in the primary region, probed from the recovery region (the vantage that matters). */
  url: httpUrl,
  expectStatus: z.number().int().min(100).max(599).default(200),
  timeoutMs: z.number().int().min(100).max(30000).default(3000),
});

/** CloudWatch periods an alarm may use: high-resolution 10 / 30 s, or a multiple of 60 s. */
const alarmPeriod = z
  .number()
  .int()
  .refine((p) => p === 10 || p === 30 || (p >= 60 && p % 60 === 0), 'must be 10, 30 or a multiple of 60 seconds');

/**
 * An alarm the stack creates in the recovery region on the probe metric of one probe (the scheduled
 * probe Lambda publishes it from the recovery region): ALARM when the probe fails
 * `datapointsToAlarm` of `evaluationPeriods` periods.
 */
const probeAlarm = z.object({
  name: z.string().min(1).max(255),
  probe: name,
  periodSeconds: alarmPeriod.default(60),
  evaluationPeriods: z.number().int().min(1).max(30).default(3),
  datapointsToAlarm: z.number().int().min(1).max(30).default(3),
});

/**
 * An alarm the stack creates in the recovery region on one database's replication metric there:
 * RDS `ReplicaLag` of the replica, or Aurora `AuroraGlobalDBRPOLag` of the secondary cluster.
 */
const lagAlarm = z.object({
  name: z.string().min(1).max(255),
  database: name,
  /** Default: the plan's rpoBudgetSeconds. */
  thresholdSeconds: z.number().positive().max(86400).optional(),
  periodSeconds: alarmPeriod.default(60),
  evaluationPeriods: z.number().int().min(1).max(30).default(1),
  datapointsToAlarm: z.number().int().min(1).max(30).default(1),
});

export const CLASSIFICATIONS = ['region-outage', 'database-failure', 'partition', 'lag-only', 'planned', 'healthy', 'already-failed-over'] as const;
export type Classification = (typeof CLASSIFICATIONS)[number];

const planObject = z.object({
  name,
  primaryRegion: region,
  recoveryRegion: region,
  rtoBudgetSeconds: seconds(86400),
  rpoBudgetSeconds: seconds(86400),
  detection: z.object({
    probes: z.array(probe).default([]),
    /** How many times each probe is tried (1 s apart) before it counts as down. */
    probeAttempts: z.number().int().min(1).max(10).default(3),
    /** How often the stack's probe Lambda probes the primary from the recovery region (EventBridge Scheduler). */
    probeSchedule: z
      .string()
      .regex(/^(cron|rate)\(.+\)$/, 'must be a cron(...) or rate(...) expression')
      .default('rate(1 minute)'),
    /**
     * Period (seconds) of the replication-lag metrics the orchestrator reads: RDS `ReplicaLag` and
     * Aurora `AuroraGlobalDBRPOLag` are published once a minute, so 60 on AWS. Only a lab with a
     * faster clock for its metrics sets less.
     */
    lagPeriodSeconds: z.number().int().min(1).max(300).default(60),
    /** Namespace of the probe metric the probe Lambda publishes in the recovery region. */
    metricNamespace: z
      .string()
      .regex(/^[A-Za-z0-9._/#:-]{1,255}$/, 'must be a CloudWatch namespace')
      .default('FailoverOrchestrator/Detection'),
    /** Alarms (created by the stack, in the recovery region) whose ALARM state means the primary region is unhealthy. */
    healthAlarms: z.array(probeAlarm).min(1),
    /** Alarms (created by the stack, in the recovery region) on replication lag. */
    replicationLagAlarms: z.array(lagAlarm).default([]),
    /** Alarms (created by the stack, on a probe of the primary database's health endpoint) meaning only the primary database failed. */
    databaseAlarms: z.array(probeAlarm).default([]),
  }),
  databases: z.array(databaseSchema).min(1),
  traffic: z.array(trafficSchema).min(1),
  compute: z.array(computeSchema).default([]),
  smokeTests: z.array(smokeTest).min(1),
  approval: z.object({
    /** Classifications that fail over without a human. `partition` can never be here. */
    automatic: z.array(z.enum(['region-outage', 'database-failure'])).default([]),
    /** Manual starts (console / CLI) carry their operator's decision; `false` asks Slack as well. */
    manualStartIsApproval: z.boolean().default(true),
    timeoutSeconds: seconds(86400).default(900),
    /** What an unanswered approval means. `proceed` never applies to a partition. */
    onTimeout: z.enum(['abort', 'proceed']).default('abort'),
    /** What to do when the primary region could not be confirmed fenced. */
    fenceUnconfirmed: z.enum(['proceed', 'require-approval', 'abort']).default('require-approval'),
    approvers: z.array(slackId('[UW]', 'user')).min(1),
  }),
  slack: z.object({
    channel: slackId('[CG]', 'channel'),
    botTokenParameter: z.string().regex(/^\//, 'must be an SSM parameter name starting with /'),
    signingSecretParameter: z.string().regex(/^\//, 'must be an SSM parameter name starting with /'),
  }),
  notifications: z.object({ eventBusName: z.string().regex(/^[A-Za-z0-9._-]{1,256}$/, 'must be an EventBridge bus name') }),
  drill: z.object({
    /** EventBridge Scheduler expression of the monthly drill. */
    schedule: z.string().regex(/^(cron|rate)\(.+\)$/, 'must be a cron(...) or rate(...) expression'),
    enabled: z.boolean().default(true),
  }),
  /** Fencing the primary region is best effort: steps not confirmed within this budget are reported unconfirmed. */
  // At most 40 s: the fence Lambda runs 50 s (serverless.yml) and keeps 3 s for itself; the smoke
  // test re-checks the fence within the same budget inside its 100 s.
  fence: z.object({ timeoutSeconds: seconds(40).default(20) }).default({ timeoutSeconds: 20 }),
  /**
   * Single flight: one failover at a time, by a lease (a conditional write in DynamoDB) that expires
   * by itself when a run crashes, and a cool-down after a failover before another may start.
   */
  singleFlight: z
    .object({
      /** How long a run holds the lease at most (a crashed run's lease expires after this). */
      leaseSeconds: seconds(86400).default(7200),
      /** After a run that failed over, no new failover (automatic or manual) starts for this long. */
      cooldownSeconds: z.number().int().min(0).max(604800).default(1800),
    })
    .default({ leaseSeconds: 7200, cooldownSeconds: 1800 }),
  polling: z
    .object({
      promoteIntervalSeconds: seconds(300).default(15),
      trafficIntervalSeconds: seconds(300).default(10),
      scaleIntervalSeconds: seconds(300).default(15),
    })
    .default({ promoteIntervalSeconds: 15, trafficIntervalSeconds: 10, scaleIntervalSeconds: 15 }),
});

export const planSchema = planObject.superRefine((plan, ctx) => {
  if (plan.primaryRegion === plan.recoveryRegion) {
    ctx.addIssue({ code: 'custom', path: ['recoveryRegion'], message: `must differ from primaryRegion (${plan.primaryRegion})` });
  }
  if ((plan.approval.automatic as string[]).includes('partition')) {
    ctx.addIssue({ code: 'custom', path: ['approval', 'automatic'], message: 'partition can never fail over without approval' });
  }
  plan.databases.forEach((db, i) => {
    if (db.residency === 'eu' && !(plan.primaryRegion.startsWith('eu-') && plan.recoveryRegion.startsWith('eu-'))) {
      ctx.addIssue({
        code: 'custom',
        path: ['databases', i, 'residency'],
        message: `EU-resident data must never leave the EU, but it replicates between ${plan.primaryRegion} and ${plan.recoveryRegion}`,
      });
    }
    if (db.kind === 'aurora-global') {
      if (!db.primaryClusterArn.includes(`:${plan.primaryRegion}:`)) {
        ctx.addIssue({ code: 'custom', path: ['databases', i, 'primaryClusterArn'], message: `must be in primaryRegion ${plan.primaryRegion}` });
      }
      if (!db.recoveryClusterArn.includes(`:${plan.recoveryRegion}:`)) {
        ctx.addIssue({ code: 'custom', path: ['databases', i, 'recoveryClusterArn'], message: `must be in recoveryRegion ${plan.recoveryRegion}` });
      }
    }
  });
  plan.compute.forEach((svc, i) => {
    if (svc.failoverDesiredCount < svc.standbyDesiredCount) {
      ctx.addIssue({ code: 'custom', path: ['compute', i, 'failoverDesiredCount'], message: `must be at least standbyDesiredCount (${svc.standbyDesiredCount})` });
    }
  });
  // A run parked at its gates must not outlive its lease, or a duplicate of the same incident could open a second gate.
  const minLease = 2 * plan.approval.timeoutSeconds + 300;
  if (plan.singleFlight.leaseSeconds < minLease) {
    ctx.addIssue({
      code: 'custom',
      path: ['singleFlight', 'leaseSeconds'],
      message: `must be at least ${minLease} s: twice approval.timeoutSeconds (two approval gates) plus 300 s for the stages`,
    });
  }
  const probes = new Set(plan.detection.probes.map((p) => p.name));
  for (const list of ['healthAlarms', 'databaseAlarms'] as const) {
    plan.detection[list].forEach((alarm, i) => {
      if (!probes.has(alarm.probe)) {
        ctx.addIssue({ code: 'custom', path: ['detection', list, i, 'probe'], message: `${alarm.probe} is not a probe of this plan (detection.probes)` });
      }
      if (alarm.datapointsToAlarm > alarm.evaluationPeriods) {
        ctx.addIssue({ code: 'custom', path: ['detection', list, i, 'datapointsToAlarm'], message: `must be at most evaluationPeriods (${alarm.evaluationPeriods})` });
      }
    });
  }
  const databases = new Set(plan.databases.map((d) => d.name));
  plan.detection.replicationLagAlarms.forEach((alarm, i) => {
    if (!databases.has(alarm.database)) {
      ctx.addIssue({ code: 'custom', path: ['detection', 'replicationLagAlarms', i, 'database'], message: `${alarm.database} is not a database of this plan` });
    }
  });
  const alarmNames = new Set<string>();
  for (const list of ['healthAlarms', 'replicationLagAlarms', 'databaseAlarms'] as const) {
    plan.detection[list].forEach((alarm, i) => {
      if (alarmNames.has(alarm.name)) ctx.addIssue({ code: 'custom', path: ['detection', list, i, 'name'], message: `${alarm.name} is used twice; alarm names must be unique` });
      alarmNames.add(alarm.name);
    });
  }
  plan.traffic.forEach((rec, i) => {
    if (rec.kind !== 'route53-record') return;
    if (rec.routing === 'weighted' && (!rec.primary.setIdentifier || !rec.recovery.setIdentifier)) {
      ctx.addIssue({ code: 'custom', path: ['traffic', i, 'routing'], message: 'weighted records need primary.setIdentifier and recovery.setIdentifier' });
    }
  });
  const names = new Set<string>();
  for (const [list, items] of [
    ['databases', plan.databases],
    ['traffic', plan.traffic],
    ['compute', plan.compute],
  ] as const) {
    items.forEach((item, i) => {
      if (names.has(item.name)) ctx.addIssue({ code: 'custom', path: [list, i, 'name'], message: `${item.name} is used twice; resource names must be unique` });
      names.add(item.name);
    });
  }
});

export type Plan = z.infer<typeof planSchema>;
export type PlanInput = z.input<typeof planSchema>;
export type DatabaseResource = z.infer<typeof databaseSchema>;
export type TrafficResource = z.infer<typeof trafficSchema>;
export type ComputeResource = z.infer<typeof computeSchema>;
export type AuroraGlobalResource = Extract<DatabaseResource, { kind: 'aurora-global' }>;
export type RdsReplicaResource = Extract<DatabaseResource, { kind: 'rds-replica' }>;
export type Route53RecordResource = Extract<TrafficResource, { kind: 'route53-record' }>;
export type ArcRoutingControlResource = Extract<TrafficResource, { kind: 'arc-routing-control' }>;
export type ProbeAlarm = Plan['detection']['healthAlarms'][number];
export type LagAlarm = Plan['detection']['replicationLagAlarms'][number];

/** Every alarm name of the plan's detection, by the kind of signal it is. */
export function alarmNames(plan: Plan): { health: string[]; replicationLag: string[]; database: string[]; all: string[] } {
  const health = plan.detection.healthAlarms.map((a) => a.name);
  const replicationLag = plan.detection.replicationLagAlarms.map((a) => a.name);
  const database = plan.detection.databaseAlarms.map((a) => a.name);
  return { health, replicationLag, database, all: [...health, ...replicationLag, ...database] };
}
export type EcsServiceResource = Extract<ComputeResource, { kind: 'ecs-service' }>;

/** `databases[0].replicaRegion` from zod's path array. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}

/** One line per problem: `path: reason`. */
export function formatIssues(error: z.ZodError, prefix = ''): string {
  return error.issues
    .map((issue) => {
      const path = formatPath([...(prefix ? [prefix] : []), ...issue.path]);
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}

/** Validates a plan, throwing `InvalidPlan` with every bad field's path and reason. */
export function parsePlan(raw: unknown, source = 'plan'): Plan {
  const result = planSchema.safeParse(raw);
  if (!result.success) {
    throw new InvalidPlanError(`${source} is invalid: ${formatIssues(result.error)}`);
  }
  return result.data;
}
