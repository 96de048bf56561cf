/**
 * Route 53 ARC routing controls (the data-plane flip): turn the recovery region's routing control On
 * and the primary region's Off, in one UpdateRoutingControlStates call, against the cluster's
 * regional endpoints. Pre-built Route 53 records carry health checks that follow the routing
 * controls, so DNS moves without Route 53's control plane (which is served from us-east-1).
 *
 * Endpoints. A cluster has five regional endpoints; ARC keeps at least three of them reachable, and
 * a caller is expected to try each in turn until one answers ("Getting and updating routing control
 * states using the ARC API",
 * https://docs.aws.amazon.com/r53recovery/latest/dg/routing-control.update.api.html). The order here
 * puts the endpoints outside the plan's primary region first and the primary region's last: in a
 * real outage that is the endpoint most likely to hang, and each endpoint tried costs up to its
 * connection + request timeout (functions/core/clients.ts, ARC_ENDPOINT_LIMITS, one attempt each).
 *
 * Errors (UpdateRoutingControlStates / GetRoutingControlState API reference,
 * https://docs.aws.amazon.com/routing-control/latest/APIReference/API_UpdateRoutingControlStates.html):
 * - try the next endpoint: EndpointTemporarilyUnavailableException ("try another cluster
 *   endpoint"), ThrottlingException, InternalServerException, and timeouts / network errors;
 * - stop: ValidationException, ResourceNotFoundException, AccessDeniedException,
 *   ServiceLimitExceededException and ConflictException, which is how a safety rule (assertion or
 *   gating rule) rejects the change; its message names the rule's ARN ("Overriding safety rules",
 *   https://docs.aws.amazon.com/r53recovery/latest/dg/routing-control.override-safety-rule.html).
 *   The orchestrator never overrides a safety rule (SafetyRulesToOverride is a human's break-glass
 *   decision), so a blocked change is a ResourceStateError naming the rule.
 * Every endpoint failing is a TransientAwsError naming each endpoint's failure (the state machine
 * retries it with backoff).
 *
 * The change is synchronous on the data plane: the flip is done when a read shows the recovery
 * control On and the primary Off. Resolvers then follow within the health checks' interval and the
 * records' TTL.
 */
import { GetRoutingControlStateCommand, UpdateRoutingControlStatesCommand, type RoutingControlState } from '@aws-sdk/client-route53-recovery-cluster';
import { arcCluster } from '../core/clients';
import { type FailoverError, ResourceStateError, TransientAwsError, isTransient } from '../core/errors';
import type { ArcRoutingControlResource, Plan } from '../core/plan';
import { logger } from '../core/powertools';
import type { ActResult, AdapterContext, Observation, ReconcileAdapter } from '../core/reconcile';

type ClusterEndpoint = ArcRoutingControlResource['clusterEndpoints'][number];

/** Errors after which another cluster endpoint may answer (API reference: server faults, throttling, the endpoint itself). */
const TRY_NEXT_ENDPOINT = new Set(['EndpointTemporarilyUnavailableException', 'ThrottlingException', 'InternalServerException']);

/** Errors that another endpoint would answer the same way: the request, the permissions or a safety rule is the problem. */
const STOP = new Set(['ValidationException', 'ResourceNotFoundException', 'AccessDeniedException', 'ConflictException', 'ServiceLimitExceededException']);

const SAFETY_RULE_ARN = /arn:aws[a-z-]*:route53-recovery-control::\d{12}:controlpanel\/[^\s/]+\/safetyrule\/[^\s,;.)"']+/g;

/**
 * The order in which the cluster endpoints are tried: endpoints outside the primary region first (in
 * the plan's order), the primary region's last. Without a plan, the plan's order.
 */
export function endpointOrder(rec: ArcRoutingControlResource, primaryRegion?: string): ClusterEndpoint[] {
  if (!primaryRegion) return [...rec.clusterEndpoints];
  return [...rec.clusterEndpoints.filter((e) => e.region !== primaryRegion), ...rec.clusterEndpoints.filter((e) => e.region === primaryRegion)];
}

function errorName(error: unknown): string {
  const e = error && typeof error === 'object' ? (error as { name?: string; code?: string }) : undefined;
  return e?.name ?? e?.code ?? 'UnknownError';
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** True when the failure belongs to this endpoint (or its moment), so the next endpoint is worth a try. */
export function tryNextEndpoint(error: unknown): boolean {
  const name = errorName(error);
  if (STOP.has(name)) return false;
  return TRY_NEXT_ENDPOINT.has(name) || isTransient(error);
}

/** The named error for a failure that no other endpoint would fix. */
function stopError(error: unknown, what: string, endpoint: ClusterEndpoint): FailoverError {
  const name = errorName(error);
  const message = errorMessage(error);
  const where = `${what} at ${endpoint.region}`;
  if (name === 'ConflictException') {
    const rules = [...new Set(message.match(SAFETY_RULE_ARN) ?? [])];
    const rule = rules.length > 0 ? `safety rule ${rules.join(', ')}` : 'a safety rule of the control panel (assertion or gating rule)';
    return new ResourceStateError(
      `${where}: ${rule} blocked the routing control change (${name}: ${message}). The orchestrator does not override safety rules; ` +
        'a human may, with SafetyRulesToOverride (break glass), after checking why the rule blocks it.',
      { cause: error },
    );
  }
  return new ResourceStateError(`${where}: ${name}: ${message}`, { cause: error });
}

/**
 * Runs `call` against each cluster endpoint in turn until one answers. `first` (the endpoint that
 * answered a moment ago, in this invocation) is tried before the others.
 */
export async function onClusterEndpoints<T>(
  rec: ArcRoutingControlResource,
  what: string,
  call: (endpoint: ClusterEndpoint) => Promise<T>,
  options: { primaryRegion?: string; first?: ClusterEndpoint } = {},
): Promise<{ value: T; endpoint: ClusterEndpoint }> {
  const ordered = endpointOrder(rec, options.primaryRegion);
  const wanted = options.first;
  const first = wanted ? ordered.find((e) => e.endpoint === wanted.endpoint && e.region === wanted.region) : undefined;
  const endpoints = first ? [first, ...ordered.filter((e) => e !== first)] : ordered;
  const failures: string[] = [];
  for (const endpoint of endpoints) {
    try {
      return { value: await call(endpoint), endpoint };
    } catch (error) {
      if (!tryNextEndpoint(error)) throw stopError(error, what, endpoint);
      failures.push(`${endpoint.region} (${endpoint.endpoint}): ${errorName(error)}: ${errorMessage(error)}`);
      logger.warn('ARC cluster endpoint failed; trying the next one', { what, region: endpoint.region, error: errorName(error) });
    }
  }
  throw new TransientAwsError(`${what}: no cluster endpoint of ${rec.clusterArn} answered: ${failures.join('; ')}`);
}

interface States {
  primary: RoutingControlState | undefined;
  recovery: RoutingControlState | undefined;
}

/** Reads both routing controls from one endpoint (both or neither, so the pair is one observation). */
async function readStatesAt(rec: ArcRoutingControlResource, endpoint: ClusterEndpoint): Promise<States> {
  const client = arcCluster(endpoint);
  const [primary, recovery] = await Promise.all([
    client.send(new GetRoutingControlStateCommand({ RoutingControlArn: rec.primaryRoutingControlArn })),
    client.send(new GetRoutingControlStateCommand({ RoutingControlArn: rec.recoveryRoutingControlArn })),
  ]);
  return { primary: primary.RoutingControlState, recovery: recovery.RoutingControlState };
}

async function readStates(rec: ArcRoutingControlResource, primaryRegion?: string) {
  return onClusterEndpoints(rec, `route53-recovery-cluster:GetRoutingControlState ${rec.name}`, (e) => readStatesAt(rec, e), { primaryRegion });
}

const flipped = (s: States): boolean => s.recovery === 'On' && s.primary === 'Off';

/** The last segment of a routing control ARN (`…/routingcontrol/api-euw1` → `api-euw1`), for messages. */
function shortName(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
}

/** True when the recovery routing control is On and the primary's is Off. */
export async function pointsAtRecovery(rec: ArcRoutingControlResource, plan?: Plan): Promise<boolean> {
  const { value } = await readStates(rec, plan?.primaryRegion);
  return flipped(value);
}

/** What observe found, plus the endpoint that answered (act tries it first). */
interface ArcObservation extends Observation {
  endpoint?: ClusterEndpoint;
}

export const flip: ReconcileAdapter<ArcRoutingControlResource> = {
  async observe(rec, ctx: AdapterContext): Promise<ArcObservation> {
    const { value: states, endpoint } = await readStates(rec, ctx.plan.primaryRegion);
    const what = rec.recordName ?? rec.name;
    const read = `${shortName(rec.recoveryRoutingControlArn)}=${states.recovery ?? '?'}, ${shortName(rec.primaryRoutingControlArn)}=${states.primary ?? '?'} (read at the ${endpoint.region} endpoint)`;
    if (flipped(states)) {
      return {
        done: true,
        inProgress: false,
        phase: 'flipped',
        detail: `${what} routed to ${ctx.plan.recoveryRegion}: ${read}; DNS follows through the health checks bound to the routing controls within their check interval (plus the records' TTL)`,
        endpoint,
      };
    }
    return {
      done: false,
      inProgress: false,
      phase: states.recovery === 'On' ? 'partial' : 'primary',
      detail: `${what} not yet routed to ${ctx.plan.recoveryRegion}: ${read}`,
      endpoint,
    };
  },

  async act(rec, ctx, observation): Promise<ActResult> {
    const { endpoint } = await onClusterEndpoints(
      rec,
      `route53-recovery-cluster:UpdateRoutingControlStates ${rec.name}`,
      (e) =>
        arcCluster(e).send(
          // One call for the pair, so ARC evaluates the safety rules on the resulting state of both.
          new UpdateRoutingControlStatesCommand({
            UpdateRoutingControlStateEntries: [
              { RoutingControlArn: rec.recoveryRoutingControlArn, RoutingControlState: 'On' },
              { RoutingControlArn: rec.primaryRoutingControlArn, RoutingControlState: 'Off' },
            ],
          }),
        ),
      { primaryRegion: ctx.plan.primaryRegion, first: (observation as ArcObservation).endpoint },
    );
    return { detail: `${this.describeAction(rec, ctx)}: accepted by the ${endpoint.region} endpoint` };
  },

  describeAction(rec, ctx) {
    const order = endpointOrder(rec, ctx.plan.primaryRegion)
      .map((e) => e.region)
      .join(', ');
    return `${rec.recordName ?? rec.name} routing controls ${shortName(rec.recoveryRoutingControlArn)}=On, ${shortName(rec.primaryRoutingControlArn)}=Off in one UpdateRoutingControlStates call (endpoints in turn: ${order})`;
  },
};
