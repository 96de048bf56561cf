// Loads and validates config/<stage>.yml with the same zod schema the Lambdas use
// (functions/core/plan.ts, compiled in memory by esbuild so packaging needs no build step).
'use strict';
const { existsSync, readFileSync } = require('node:fs');
const { join, relative } = require('node:path');
const Module = require('node:module');
const { buildSync } = require('esbuild');
const { parse } = require('yaml');
const { ROOT } = require('./definitions');

let planModule;

/** functions/core/plan.ts as a CommonJS module. */
function planSchemaModule() {
  if (!planModule) {
    const entry = join(ROOT, 'functions', 'core', 'plan.ts');
    const out = buildSync({ entryPoints: [entry], bundle: true, platform: 'node', format: 'cjs', target: 'node20', write: false, logLevel: 'silent' });
    const m = new Module(entry, module);
    m.filename = entry;
    m.paths = Module._nodeModulePaths(ROOT);
    m._compile(out.outputFiles[0].text, entry);
    planModule = m.exports;
  }
  return planModule;
}

/** The validated plan of a stage; throws naming the file, each bad field's path and the reason. */
function loadPlan(stage, root = ROOT) {
  const file = join(root, 'config', `${stage}.yml`);
  const shown = relative(process.cwd(), file) || file;
  if (!existsSync(file)) throw new Error(`No plan for stage "${stage}": ${shown} does not exist (copy config/example.yml)`);
  let raw;
  try {
    raw = parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${shown} is not valid YAML: ${error.message}`);
  }
  return planSchemaModule().parsePlan(raw, shown);
}

module.exports = { loadPlan, planSchemaModule };
