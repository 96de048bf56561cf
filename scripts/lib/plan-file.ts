/**
 * Reads and validates a stage's plan file (config/<stage>.yml, or FAILOVER_CONFIG_DIR/<stage>.yml)
 * with the schema the Lambdas use. Shared by packaging (scripts/lib/load-plan.js), the operator CLI
 * and the lab.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { parsePlan, type Plan } from '../../functions/core/plan';

/** The plan of `stage` from `configDir`; throws naming the file, each bad field's path and the reason. */
export function loadPlan(stage: string, configDir: string): Plan {
  if (!/^[A-Za-z0-9-]+$/.test(stage)) throw new Error(`stage "${stage}" must be letters, digits and dashes`);
  const file = join(configDir, `${stage}.yml`);
  const shown = relative(process.cwd(), file) || file;
  if (!existsSync(file)) throw new Error(`No plan for stage "${stage}": ${shown} does not exist (copy config/example.yml)`);
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${shown} is not valid YAML: ${(error as Error).message}`);
  }
  return parsePlan(raw, shown);
}
