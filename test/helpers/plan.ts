import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parsePlan, type Plan } from '../../functions/core/plan';

export const ROOT = join(__dirname, '..', '..');

/** The raw example plan (config/example.yml), before validation. */
export function rawExamplePlan(): Record<string, any> {
  return parse(readFileSync(join(ROOT, 'config', 'example.yml'), 'utf8'));
}

/** The validated example plan, optionally changed by `edit` (applied to the raw YAML object). */
export function examplePlan(edit?: (raw: Record<string, any>) => void): Plan {
  const raw = rawExamplePlan();
  edit?.(raw);
  return parsePlan(raw, 'config/example.yml');
}

/**
 * A weighted Route 53 record pair (traffic kind route53-record), for tests that put DNS traffic in
 * place of the example's ARC routing control. A new object per call: tests may change it.
 */
export function route53WeightedTraffic(): Record<string, any> {
  return {
    kind: 'route53-record',
    name: 'api',
    hostedZoneId: 'Z0123456789ABCDEFGHIJ',
    recordName: 'api.payments.example.com',
    recordType: 'CNAME',
    routing: 'weighted',
    primary: { setIdentifier: 'us-east-1', value: 'api-use1.payments.example.com' },
    recovery: { setIdentifier: 'eu-west-1', value: 'api-euw1.payments.example.com' },
  };
}
