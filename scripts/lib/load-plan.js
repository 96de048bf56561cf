// Loads and validates config/<stage>.yml for packaging (plain Node, no build step): the TypeScript
// loader and the zod schema the Lambdas use are compiled in memory by esbuild.

const { join } = require('node:path');
const { ROOT } = require('./definitions');
const { requireTs } = require('./require-ts');

let planFile;

/**
 * The validated plan of a stage; throws naming the file, each bad field's path and the reason.
 * Plans live in config/ unless FAILOVER_CONFIG_DIR names another folder (a private repository of
 * plans, say).
 */
function loadPlan(stage, configDir = process.env.FAILOVER_CONFIG_DIR || join(ROOT, 'config')) {
  if (!planFile) planFile = requireTs(join('scripts', 'lib', 'plan-file.ts'));
  return planFile.loadPlan(String(stage), configDir);
}

module.exports = { loadPlan };
