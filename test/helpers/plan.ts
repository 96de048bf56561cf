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
