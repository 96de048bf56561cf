/**
 * Single flight: at most one run of a plan's failover acts at a time, and a cool-down separates two
 * failovers.
 *
 * Why a lease and not a look at the running executions: Step Functions' `ListExecutions` "is
 * eventually consistent. The results are best effort and may not reflect very recent updates and
 * changes" (https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html),
 * so two alarms that fire together start two runs that do not see each other, and both go on (two
 * approval gates, two failovers). A DynamoDB conditional write is evaluated against the item as it
 * is, atomically (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html):
 * of two simultaneous writers exactly one wins.
 *
 * One item per plan in `LEASE_TABLE` (hash key `leaseId` = `failover#<plan>`):
 *   ownerId        execution id of the run that holds it          (absent: free)
 *   incidentKey    what that run is about (accept-start-request's incidentKey)
 *   precedence     how serious that incident is (higher takes over lower while deciding)
 *   phase          `deciding` until the run first mutates, then `acting` (markActing)
 *   acquiredAt, expiresAt   expiresAt = acquiredAt + plan.singleFlight.leaseSeconds; a crashed run's
 *                  lease is free again after it (markActing pushes it on when the run starts acting)
 *   cooldownUntil  set on release by a run that moved traffic: no new failover before it
 *   lastOwnerId, releasedAt   who released it last (makes a retried release recognisable)
 * Times are ISO-8601 UTC strings as `Date.toISOString()` writes them (fixed width), so DynamoDB's
 * string comparison orders them as time, and the on-call engineer can read the item in the console.
 *
 * Rules (acquire):
 *   free, expired, or already mine (a Lambda retry)            → mine (one conditional write)
 *   cool-down running                                          → alarm: duplicate, with the reason;
 *                                                                manual/schedule: CooldownActive
 *   held by a run for the same incident                        → duplicate of it
 *   held by a run that is acting                               → duplicate of it
 *   held by a run for another incident, still deciding,
 *     and this incident is at least as serious                 → taken over (conditional on the
 *                                                                observed owner still deciding);
 *                                                                that run fails with LeaseLost at
 *                                                                markActing, before its first mutation
 *   held by a run for a more serious incident, deciding        → duplicate (a replication-lag alarm,
 *                                                                which a real outage also raises,
 *                                                                never displaces a failing-primary run)
 * Drills never take or block the failover lease: a drill yields to a real run that holds it, and two
 * drills are kept apart by their own item (`failover-drill#<plan>`), which no real run looks at.
 *
 * A failed conditional write returns the item that made it fail when asked with
 * `ReturnValuesOnConditionCheckFailure: ALL_OLD` (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html),
 * so the holder is known in the same round trip; a store that does not return it (DynamoDB
 * emulators) costs one strongly consistent GetItem instead.
 */
import { ConditionalCheckFailedException, GetItemCommand, UpdateItemCommand, type AttributeValue, type UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';
import type { Mode } from './contract';
import { dynamodb, ownRegion } from './clients';
import { ConfigurationError, CooldownActiveError, LeaseLostError, TransientAwsError, toNamedAwsError } from './errors';
import type { Plan } from './plan';
import { logger } from './powertools';

export type LeasePhase = 'deciding' | 'acting';

/** The lease item, as stored. */
export interface Lease {
  leaseId: string;
  ownerId?: string;
  incidentKey?: string;
  precedence?: number;
  phase?: LeasePhase;
  mode?: Mode;
  acquiredAt?: string;
  expiresAt?: string;
  actingAt?: string;
  tookOverFrom?: string;
  cooldownUntil?: string;
  lastOwnerId?: string;
  releasedAt?: string;
}

/** What a starting run asks for. */
export interface LeaseClaim {
  executionId: string;
  incidentKey: string;
  /** Higher is more serious: a deciding holder of lower precedence is taken over. */
  precedence: number;
  trigger: 'alarm' | 'manual' | 'schedule';
  mode: Mode;
}

export type Acquisition = { acquired: true; leaseId: string; tookOverFrom?: string } | { acquired: false; leaseId: string; duplicateOf: string; reason: string };

/** How many times a contended acquisition re-reads the holder before giving up (TransientAwsError: the state machine retries). */
const MAX_ROUNDS = 4;

/** `LEASE_TABLE`: the DynamoDB table of single-flight leases (hash key `leaseId`, S). */
export function leaseTable(): string {
  const value = process.env.LEASE_TABLE?.trim();
  if (!value) throw new ConfigurationError('LEASE_TABLE is not set (the DynamoDB table of single-flight leases, hash key leaseId)');
  return value;
}

export const failoverLeaseId = (plan: Pick<Plan, 'name'>): string => `failover#${plan.name}`;
export const drillLeaseId = (plan: Pick<Plan, 'name'>): string => `failover-drill#${plan.name}`;

const iso = (at: Date): string => at.toISOString();
const plus = (at: Date, seconds: number): string => new Date(at.getTime() + seconds * 1000).toISOString();
const client = () => dynamodb(ownRegion());

/**
 * Takes the lease for a starting run, or says which run this one duplicates. One conditional write
 * in the usual case; a takeover is a second write conditional on the holder observed by the first.
 * Throws CooldownActive for a manual (or scheduled) failover / switchover during the cool-down.
 */
export async function acquire(plan: Plan, claim: LeaseClaim, now: Date): Promise<Acquisition> {
  if (claim.mode === 'drill') return acquireForDrill(plan, claim, now);
  const leaseId = failoverLeaseId(plan);
  let write: { kind: 'take' } | { kind: 'takeover'; from: Lease & { ownerId: string } } = { kind: 'take' };
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const holder: Lease | undefined =
      write.kind === 'take' ? await take(leaseId, plan, claim, now, { honourCooldown: true }) : await takeOver(leaseId, plan, claim, now, write.from);
    if (!holder) {
      if (write.kind === 'takeover') {
        logger.warn('single-flight lease taken over from a run still deciding', {
          leaseId,
          from: write.from.ownerId,
          fromIncident: write.from.incidentKey,
          incident: claim.incidentKey,
        });
        return { acquired: true, leaseId, tookOverFrom: write.from.ownerId };
      }
      return { acquired: true, leaseId };
    }
    const next = decide(holder, claim, now);
    if (next.kind === 'duplicate') return { acquired: false, leaseId, duplicateOf: next.of, reason: next.reason };
    if (next.kind === 'cooldown') {
      const reason = `a failover by ${holder.lastOwnerId ?? 'an earlier run'} moved traffic; plan ${plan.name} is cooling down until ${holder.cooldownUntil} (singleFlight.cooldownSeconds ${plan.singleFlight.cooldownSeconds})`;
      if (claim.trigger === 'alarm') return { acquired: false, leaseId, duplicateOf: holder.lastOwnerId ?? leaseId, reason };
      throw new CooldownActiveError(`no new ${claim.mode} before ${holder.cooldownUntil}: ${reason}`);
    }
    write = next.kind === 'take' ? { kind: 'take' } : { kind: 'takeover', from: next.from };
  }
  throw new TransientAwsError(`single-flight lease ${leaseId} changed hands ${MAX_ROUNDS} times while ${claim.executionId} tried to take it`);
}

type Decision = { kind: 'take' } | { kind: 'takeover'; from: Lease & { ownerId: string } } | { kind: 'cooldown' } | { kind: 'duplicate'; of: string; reason: string };

/** What to do about the lease as it is (pure): see the rules in the module comment. */
export function decide(holder: Lease, claim: LeaseClaim, now: Date): Decision {
  if (!isHeld(holder, now) || holder.ownerId === claim.executionId) {
    return holder.cooldownUntil !== undefined && holder.cooldownUntil > iso(now) ? { kind: 'cooldown' } : { kind: 'take' };
  }
  const owner = holder.ownerId;
  if (holder.incidentKey === claim.incidentKey) return { kind: 'duplicate', of: owner, reason: `${owner} already handles the same incident (${claim.incidentKey})` };
  if (holder.phase !== 'deciding')
    return { kind: 'duplicate', of: owner, reason: `${owner} is already failing over (${holder.incidentKey}, acting since ${holder.actingAt ?? 'unknown'})` };
  if (claim.precedence < (holder.precedence ?? 0)) {
    return { kind: 'duplicate', of: owner, reason: `${owner} is deciding on a more serious incident (${holder.incidentKey}) than ${claim.incidentKey}` };
  }
  return { kind: 'takeover', from: holder };
}

/** Held by someone right now: an owner whose lease has not expired. */
/** A lease some run holds now: it has an owner, and it has not expired. */
export function isHeld(lease: Lease | undefined, now: Date): lease is Lease & { ownerId: string } {
  return !!lease?.ownerId && (lease.expiresAt === undefined || lease.expiresAt > iso(now));
}

/** The attributes a lease has while a run owns it (set on taking it, removed on release). */
const OWNER_FIELDS = ['ownerId', 'incidentKey', 'precedence', 'phase', 'mode', 'acquiredAt', 'expiresAt'] as const;
/** Set while acting / after a takeover: removed on release with the owner fields. */
const RUN_FIELDS = [...OWNER_FIELDS, 'actingAt', 'tookOverFrom'] as const;

/** `#name` placeholders for ExpressionAttributeNames. */
const attributeNames = (fields: readonly string[]): Record<string, string> => Object.fromEntries(fields.map((f) => [`#${f}`, f]));

/** The SET clause and values that make `claim` the owner. */
function ownerAttributes(plan: Plan, claim: LeaseClaim, now: Date) {
  return {
    set: '#ownerId = :me, #incidentKey = :incident, #precedence = :precedence, #phase = :deciding, #mode = :mode, #acquiredAt = :now, #expiresAt = :expires',
    names: attributeNames(OWNER_FIELDS),
    values: {
      ':me': { S: claim.executionId },
      ':incident': { S: claim.incidentKey },
      ':precedence': { N: String(claim.precedence) },
      ':deciding': { S: 'deciding' },
      ':mode': { S: claim.mode },
      ':now': { S: iso(now) },
      ':expires': { S: plus(now, plan.singleFlight.leaseSeconds) },
    } satisfies Record<string, AttributeValue>,
  };
}

/** Free, expired or mine (and, for a real run, no cool-down running) → mine. Returns the holder when refused. */
async function take(leaseId: string, plan: Plan, claim: LeaseClaim, now: Date, options: { honourCooldown: boolean }): Promise<Lease | undefined> {
  const owner = ownerAttributes(plan, claim, now);
  const free = '(attribute_not_exists(#ownerId) OR #expiresAt <= :now OR #ownerId = :me)';
  const cool = '(attribute_not_exists(#cooldownUntil) OR #cooldownUntil <= :now)';
  return conditionalUpdate('dynamodb:UpdateItem (take lease)', {
    TableName: leaseTable(),
    Key: { leaseId: { S: leaseId } },
    UpdateExpression: `SET ${owner.set}`,
    ConditionExpression: options.honourCooldown ? `${free} AND ${cool}` : free,
    ExpressionAttributeNames: { ...owner.names, ...(options.honourCooldown ? { '#cooldownUntil': 'cooldownUntil' } : {}) },
    ExpressionAttributeValues: owner.values,
  });
}

/** Takes the lease from `from`, only if it still owns it and is still deciding. Returns the holder when refused. */
async function takeOver(leaseId: string, plan: Plan, claim: LeaseClaim, now: Date, from: Lease & { ownerId: string }): Promise<Lease | undefined> {
  const owner = ownerAttributes(plan, claim, now);
  return conditionalUpdate('dynamodb:UpdateItem (take lease over)', {
    TableName: leaseTable(),
    Key: { leaseId: { S: leaseId } },
    UpdateExpression: `SET ${owner.set}, #tookOverFrom = :from`,
    ConditionExpression: '#ownerId = :holder AND #phase = :deciding',
    ExpressionAttributeNames: { ...owner.names, '#tookOverFrom': 'tookOverFrom' },
    ExpressionAttributeValues: { ...owner.values, ':holder': { S: from.ownerId }, ':from': { S: from.ownerId } },
  });
}

/**
 * A drill never takes the failover lease and never blocks a real run: it only reads it (strongly
 * consistent GetItem) and yields while a real run holds it; two drills are kept apart by the drill item.
 */
async function acquireForDrill(plan: Plan, claim: LeaseClaim, now: Date): Promise<Acquisition> {
  const real = await readLease(failoverLeaseId(plan));
  if (real && isHeld(real, now)) {
    return {
      acquired: false,
      leaseId: failoverLeaseId(plan),
      duplicateOf: real.ownerId,
      reason: `a real run (${real.ownerId}, ${real.incidentKey}) holds the failover lease; the drill yields`,
    };
  }
  const leaseId = drillLeaseId(plan);
  const holder = await take(leaseId, plan, claim, now, { honourCooldown: false });
  if (!holder) return { acquired: true, leaseId };
  if (!isHeld(holder, now)) throw new TransientAwsError(`drill lease ${leaseId} was released while ${claim.executionId} tried to take it`);
  return { acquired: false, leaseId, duplicateOf: holder.ownerId, reason: `drill ${holder.ownerId} is already running` };
}

/**
 * Moves this run's lease to `acting` before its first mutation (the fence), and pushes its expiry
 * to `now + leaseSeconds` so a long failover is not taken for a crashed one. Conditional on this run
 * still owning it: when another run took it over (or took it after it expired), throws LeaseLost and
 * this run must change nothing. Idempotent (a Lambda retry). Not for drills: they hold no failover lease.
 */
export async function markActing(plan: Plan, executionId: string, now: Date): Promise<void> {
  const leaseId = failoverLeaseId(plan);
  const holder = await conditionalUpdate('dynamodb:UpdateItem (lease acting)', {
    TableName: leaseTable(),
    Key: { leaseId: { S: leaseId } },
    UpdateExpression: 'SET #phase = :acting, #actingAt = if_not_exists(#actingAt, :now), #expiresAt = :expires',
    ConditionExpression: '#ownerId = :me',
    ExpressionAttributeNames: { '#phase': 'phase', '#actingAt': 'actingAt', '#expiresAt': 'expiresAt', '#ownerId': 'ownerId' },
    ExpressionAttributeValues: { ':acting': { S: 'acting' }, ':now': { S: iso(now) }, ':expires': { S: plus(now, plan.singleFlight.leaseSeconds) }, ':me': { S: executionId } },
  });
  if (holder) {
    const who = holder.ownerId
      ? `${holder.ownerId} holds it now (${holder.incidentKey}, ${holder.phase})`
      : holder.lastOwnerId
        ? `${holder.lastOwnerId} held it since and released it at ${holder.releasedAt}${holder.cooldownUntil && holder.cooldownUntil > iso(now) ? `, cool-down until ${holder.cooldownUntil}` : ''}`
        : 'nobody holds it now';
    throw new LeaseLostError(`${executionId} no longer holds the single-flight lease ${leaseId} of plan ${plan.name}: ${who}; this run changes nothing`);
  }
  logger.info('single-flight lease acting', { leaseId });
}

export interface ReleaseResult {
  released: boolean;
  /** Set when this release started (or confirmed) a cool-down. */
  cooldownUntil?: string;
  /** Why the lease was not released by this call (not held by this run, or the call failed). */
  detail?: string;
}

/**
 * Frees this run's lease at the end of the run (every notify path). When the run moved traffic the
 * cool-down starts: `cooldownUntil = now + cooldownSeconds`, also when the lease was no longer
 * this run's (it expired and another run took it), because traffic did move. Never throws: a
 * failed release must not fail the notification; the lease's expiry frees it anyway.
 */
export async function release(plan: Plan, executionId: string, now: Date, options: { failedOver: boolean; drill?: boolean }): Promise<ReleaseResult> {
  const leaseId = options.drill ? drillLeaseId(plan) : failoverLeaseId(plan);
  const cooling = options.failedOver && !options.drill && plan.singleFlight.cooldownSeconds > 0;
  const until = plus(now, plan.singleFlight.cooldownSeconds);
  try {
    const holder = await conditionalUpdate('dynamodb:UpdateItem (release lease)', {
      TableName: leaseTable(),
      Key: { leaseId: { S: leaseId } },
      UpdateExpression: `SET #lastOwnerId = :me, #releasedAt = :now${cooling ? ', #cooldownUntil = :until' : ''} REMOVE ${RUN_FIELDS.map((f) => `#${f}`).join(', ')}`,
      ConditionExpression: '#ownerId = :me',
      ExpressionAttributeNames: attributeNames(['lastOwnerId', 'releasedAt', ...RUN_FIELDS, ...(cooling ? ['cooldownUntil'] : [])]),
      ExpressionAttributeValues: { ':me': { S: executionId }, ':now': { S: iso(now) }, ...(cooling ? { ':until': { S: until } } : {}) },
    });
    if (!holder) {
      logger.info('single-flight lease released', { leaseId, ...(cooling ? { cooldownUntil: until } : {}) });
      return { released: true, ...(cooling ? { cooldownUntil: until } : {}) };
    }
    if (holder.lastOwnerId === executionId && holder.ownerId === undefined) {
      logger.info('single-flight lease already released by this run (retried notification)', { leaseId });
      return { released: true, ...(holder.cooldownUntil ? { cooldownUntil: holder.cooldownUntil } : {}) };
    }
    const detail = holder.ownerId ? `held by ${holder.ownerId}` : 'not held';
    logger.info('single-flight lease not held by this run: nothing to release', { leaseId, detail });
    if (cooling) await startCooldown(leaseId, executionId, now, until);
    return { released: false, detail, ...(cooling ? { cooldownUntil: until } : {}) };
  } catch (error) {
    const named = toNamedAwsError(error, `release single-flight lease ${leaseId}`);
    logger.error('single-flight lease release failed; it expires by itself', { leaseId, error: { name: named.name, message: named.message } });
    return { released: false, detail: named.message };
  }
}

/** Starts (or extends) the cool-down without touching the owner: traffic moved, whoever holds the lease now. */
async function startCooldown(leaseId: string, executionId: string, now: Date, until: string): Promise<void> {
  const refused = await conditionalUpdate('dynamodb:UpdateItem (start cool-down)', {
    TableName: leaseTable(),
    Key: { leaseId: { S: leaseId } },
    UpdateExpression: 'SET #cooldownUntil = :until, #cooldownBy = :me',
    ConditionExpression: 'attribute_not_exists(#cooldownUntil) OR #cooldownUntil < :until',
    ExpressionAttributeNames: { '#cooldownUntil': 'cooldownUntil', '#cooldownBy': 'cooldownBy' },
    ExpressionAttributeValues: { ':until': { S: until }, ':me': { S: executionId } },
  });
  logger.info('single-flight cool-down', { leaseId, cooldownUntil: refused?.cooldownUntil ?? until, at: iso(now) });
}

/** The lease item as it is now (strongly consistent read), or undefined when there is none. */
export async function readLease(leaseId: string): Promise<Lease | undefined> {
  try {
    const out = await client().send(new GetItemCommand({ TableName: leaseTable(), Key: { leaseId: { S: leaseId } }, ConsistentRead: true }));
    return out.Item ? fromItem(out.Item) : undefined;
  } catch (error) {
    throw toNamedAwsError(error, `dynamodb:GetItem (lease ${leaseId})`);
  }
}

/**
 * Sends a conditional UpdateItem. Returns undefined when it was applied, or the item that made the
 * condition fail (from ALL_OLD, else read). Other failures are named (TransientAwsError / ResourceStateError).
 */
async function conditionalUpdate(what: string, input: UpdateItemCommandInput): Promise<Lease | undefined> {
  try {
    await client().send(new UpdateItemCommand({ ...input, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }));
    return undefined;
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw toNamedAwsError(error, what);
    if (error.Item) return fromItem(error.Item);
    const key = input.Key?.leaseId?.S;
    if (!key) throw new ConfigurationError(`${what}: the update names no leaseId key`);
    return (await readLease(key)) ?? { leaseId: key };
  }
}

function isConditionalCheckFailed(error: unknown): error is ConditionalCheckFailedException {
  return error instanceof ConditionalCheckFailedException || (!!error && typeof error === 'object' && (error as { name?: unknown }).name === 'ConditionalCheckFailedException');
}

/** AttributeValue map → Lease (only the attributes this module writes). */
export function fromItem(item: Record<string, AttributeValue>): Lease {
  const s = (name: string) => item[name]?.S;
  const n = item.precedence?.N;
  const lease: Lease = { leaseId: s('leaseId') ?? '' };
  for (const name of ['ownerId', 'incidentKey', 'acquiredAt', 'expiresAt', 'actingAt', 'tookOverFrom', 'cooldownUntil', 'lastOwnerId', 'releasedAt'] as const) {
    const value = s(name);
    if (value !== undefined) lease[name] = value;
  }
  const phase = s('phase');
  if (phase === 'deciding' || phase === 'acting') lease.phase = phase;
  const mode = s('mode');
  if (mode === 'failover' || mode === 'switchover' || mode === 'drill') lease.mode = mode;
  if (n !== undefined) lease.precedence = Number(n);
  return lease;
}
