/**
 * Powertools for AWS Lambda, created once per cold start and shared by every stage.
 *
 * Every log line carries the execution id (appended by `stageHandler`), the service name and the
 * stage. Secrets never reach a log: Slack tokens and signing secrets are read from SSM into memory
 * only, and `redact` scrubs anything shaped like a token from values we log about HTTP calls.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'failover-orchestrator';

export const logger = new Logger({ serviceName });
export const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'FailoverOrchestrator', serviceName });
export const tracer = new Tracer({ serviceName });

const SECRET_SHAPES: RegExp[] = [
  /xox[abposr]-[A-Za-z0-9-]+/g, // Slack tokens
  /xapp-[A-Za-z0-9-]+/g,
  /(["']?(?:token|secret|password|authorization|signature)["']?\s*[:=]\s*["']?)[^"'\s,}]+/gi,
];

/** Removes anything that looks like a credential from a string before it is logged or sent on. */
export function redact(text: string): string {
  return SECRET_SHAPES.reduce((acc, re) => acc.replace(re, (_m, prefix?: string) => (typeof prefix === 'string' ? `${prefix}[redacted]` : '[redacted]')), text);
}
