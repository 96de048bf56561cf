/**
 * One AWS SDK client per service and region, created on first use and reused for the life of the
 * container (tracer-wrapped). Regions always come from the plan, never from a default: the
 * orchestrator runs in the recovery region and talks to both.
 *
 * Endpoints follow the SDK's standard `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` settings,
 * which is how the local lab points the unchanged handlers at its simulated control plane.
 */
import { ApplicationAutoScalingClient } from '@aws-sdk/client-application-auto-scaling';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { RDSClient } from '@aws-sdk/client-rds';
import { Route53Client } from '@aws-sdk/client-route-53';
import { SFNClient } from '@aws-sdk/client-sfn';
import { tracer } from './powertools';

/** Calls into a failed region must give up quickly so that fencing stays best-effort, not blocking. */
const REQUEST_TIMEOUT_MS = 5_000;
const MAX_ATTEMPTS = 3;

type Ctor<T> = new (config: { region: string; maxAttempts: number; requestHandler: { requestTimeout: number; connectionTimeout: number } }) => T;

const cache = new Map<string, unknown>();

function client<T>(ctor: Ctor<T>, key: string, region: string): T {
  const id = `${key}:${region}`;
  let found = cache.get(id) as T | undefined;
  if (!found) {
    found = tracer.captureAWSv3Client(
      new ctor({ region, maxAttempts: MAX_ATTEMPTS, requestHandler: { requestTimeout: REQUEST_TIMEOUT_MS, connectionTimeout: 3_000 } }),
    );
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
/** Route 53 is global, but its control plane is served from us-east-1 (see README: the Route 53 trap). */
export const route53 = (): Route53Client => client(Route53Client, 'route53', 'us-east-1');

/** The region this Lambda runs in (the recovery region, where the orchestrator is deployed). */
export function ownRegion(): string {
  const region = process.env.AWS_REGION;
  if (!region) throw new Error('AWS_REGION is not set');
  return region;
}
