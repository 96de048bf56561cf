/**
 * One AWS SDK client per service and region, created on first use and reused for the life of the
 * container (tracer-wrapped). Regions always come from the plan, never from a default: the
 * orchestrator runs in the recovery region and talks to both.
 *
 * A failing region usually *hangs* rather than refusing: it accepts the TCP connection and never
 * answers. `@smithy/node-http-handler` only logs a warning when `requestTimeout` passes unless
 * `throwOnRequestTimeout` is set, so without it a call into a dead region waits for the Lambda's own
 * timeout (`Lambda.Unknown` / `States.Timeout` to Step Functions) instead of failing as a catchable
 * `TimeoutError`. Every client here therefore has a connection timeout, a request timeout that
 * throws, and a bounded number of attempts: one call ends within
 * `maxAttempts × (connectionTimeout + requestTimeout) + backoff`, well below every stage's deadline
 * (functions/core/stage.ts), which is itself below the Lambda timeout.
 *
 * Endpoints follow the SDK's standard `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` settings,
 * which is how the local lab points the unchanged handlers at its simulated control plane.
 */
import { ApplicationAutoScalingClient } from '@aws-sdk/client-application-auto-scaling';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RDSClient } from '@aws-sdk/client-rds';
import { Route53Client } from '@aws-sdk/client-route-53';
import { Route53RecoveryClusterClient } from '@aws-sdk/client-route53-recovery-cluster';
import { SFNClient } from '@aws-sdk/client-sfn';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { tracer } from './powertools';

/** Time limits of one HTTP attempt. */
export interface CallLimits {
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
  maxAttempts: number;
}

/** Default limits: a call into a hanging region ends after at most 3 × (3 s + 5 s) plus backoff. */
export const DEFAULT_LIMITS: CallLimits = { connectionTimeoutMs: 3_000, requestTimeoutMs: 5_000, maxAttempts: 3 };

/**
 * Route 53 ARC cluster endpoints are tried in turn by the caller, so each one gets a single short
 * attempt: the next endpoint is a better retry than the same one (ARC developer guide, "Getting and
 * updating routing control states": try each of the cluster's five regional endpoints).
 */
export const ARC_ENDPOINT_LIMITS: CallLimits = { connectionTimeoutMs: 2_000, requestTimeoutMs: 3_000, maxAttempts: 1 };

/** The client configuration that makes a hanging endpoint fail as `TimeoutError` within `limits`. */
export function clientConfig(region: string, limits: CallLimits = DEFAULT_LIMITS) {
  return {
    region,
    maxAttempts: limits.maxAttempts,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: limits.connectionTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      throwOnRequestTimeout: true,
    }),
  };
}

type Ctor<T> = new (config: ReturnType<typeof clientConfig> & { endpoint?: string }) => T;

const cache = new Map<string, unknown>();

function client<T>(ctor: Ctor<T>, key: string, region: string, extra: { endpoint?: string; limits?: CallLimits } = {}): T {
  const id = `${key}:${region}:${extra.endpoint ?? ''}`;
  let found = cache.get(id) as T | undefined;
  if (!found) {
    found = tracer.captureAWSv3Client(new ctor({ ...clientConfig(region, extra.limits), ...(extra.endpoint ? { endpoint: extra.endpoint } : {}) }));
    cache.set(id, found);
  }
  return found;
}

export const rds = (region: string): RDSClient => client(RDSClient, 'rds', region);
export const ecs = (region: string): ECSClient => client(ECSClient, 'ecs', region);
export const applicationAutoScaling = (region: string): ApplicationAutoScalingClient => client(ApplicationAutoScalingClient, 'application-autoscaling', region);
export const cloudwatch = (region: string): CloudWatchClient => client(CloudWatchClient, 'cloudwatch', region);
export const sfn = (region: string): SFNClient => client(SFNClient, 'sfn', region);
export const eventbridge = (region: string): EventBridgeClient => client(EventBridgeClient, 'eventbridge', region);
export const dynamodb = (region: string): DynamoDBClient => client(DynamoDBClient, 'dynamodb', region);
export const lambda = (region: string): LambdaClient => client(LambdaClient, 'lambda', region);
/** Route 53 is global, but its control plane is served from us-east-1 (see README: the Route 53 trap). */
export const route53 = (): Route53Client => client(Route53Client, 'route53', 'us-east-1');
/** One Route 53 ARC cluster endpoint (data plane): signed for its own region, one short attempt. */
export const arcCluster = (endpoint: { region: string; endpoint: string }): Route53RecoveryClusterClient =>
  client(Route53RecoveryClusterClient, 'route53-recovery-cluster', endpoint.region, { endpoint: endpoint.endpoint, limits: ARC_ENDPOINT_LIMITS });

/** Forgets every client (tests that change endpoints between cases). */
export function resetClients(): void {
  cache.clear();
}

/** The region this Lambda runs in (the recovery region, where the orchestrator is deployed). */
export function ownRegion(): string {
  const region = process.env.AWS_REGION;
  if (!region) throw new Error('AWS_REGION is not set');
  return region;
}
