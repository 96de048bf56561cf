// Mutation testing (StrykerJS + jest runner) of the orchestrator's Lambda code: issue 7,
// "Tests that must catch unsafe changes". NOT part of `npm test` (it re-runs the tests once per
// mutant): run it with `npm run mutation` (all of functions/) or
// `npm run mutation -- --mutate <files>` / `MUTATE=... scripts/mutation.sh` for a subset.
// Reports: reports/mutation/mutation.html and reports/mutation/mutation.json (git-ignored).
//
// The tests that kill mutants are the jest projects `unit` and `statemachine` only (test/unit,
// test/statemachine). `template`, `lab-unit` and `lab` are left out on purpose: they package the
// stack or start PostgreSQL and would make every mutant cost minutes.
// StrykerJS 9.x: 10.x requires Node >= 22 and this project supports Node 20.
//
// Measured on the 2-core machine (2026-11-24): functions/ is ~5,400 mutants (5,228 with
// --ignoreStatic). Files whose tests are quick run at 30-65 mutants a minute
// (confirm-region-failure + fence-us-writers, 504 mutants: 13 min); files covered by tests that wait
// on real timeouts (the 7 s fence-against-a-blackhole test in test/unit/core/clients.test.ts, the
// fence budget tests, the dynalite-backed single-flight and approvals tests) run at 7-12 a minute.
// A whole-tree run takes hours: run it by file chunks (MUTATE=... MUTATION_REPORT_DIR=reports/mutation/<chunk>)
// and add up the per-file counts. A stopped run writes no report.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const jestConfig = require('./jest.config.js');
// MUTATION_PROJECTS=unit narrows the killing tests to the fast unit project (a time-boxed run on a
// busy machine); the default is both projects. MUTATION_REPORT_DIR puts a partial run's reports apart.
const MUTATION_PROJECTS = (process.env.MUTATION_PROJECTS || 'unit,statemachine').split(',');
const REPORT_DIR = process.env.MUTATION_REPORT_DIR || 'reports/mutation';

/** The repository's own jest config, narrowed to the projects whose tests judge functions/. */
function mutationJestConfig() {
  const projects = jestConfig.projects.filter((p) => MUTATION_PROJECTS.includes(p.displayName));
  if (projects.length !== MUTATION_PROJECTS.length) {
    throw new Error(`jest.config.js has no project among ${MUTATION_PROJECTS.join(', ')}`);
  }
  return { ...jestConfig, projects };
}

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  jest: {
    projectType: 'custom',
    config: mutationJestConfig(),
    // Only run the test files that import the mutated module (jest --findRelatedTests).
    enableFindRelatedTests: true,
  },
  // Everything under functions/ is mutated: no file is excluded.
  mutate: ['functions/**/*.ts'],
  coverageAnalysis: 'perTest',
  concurrency: 2,
  // Tests do not assert wall-clock time, but some wait on jest timeouts: give each mutant room.
  timeoutMS: 20000,
  timeoutFactor: 2,
  checkers: [],
  // Type errors in a mutant are not checked (no typescript-checker): esbuild strips types.
  disableTypeChecks: 'functions/**/*.ts',
  reporters: ['html', 'json', 'clear-text', 'progress'],
  htmlReporter: { fileName: `${REPORT_DIR}/mutation.html` },
  jsonReporter: { fileName: `${REPORT_DIR}/mutation.json` },
  // The sandbox is a copy of the repository: leave out the lab's data and build output.
  ignorePatterns: ['.lab', 'lab-data', 'reports', '.serverless', '.esbuild', 'dist', 'coverage'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
