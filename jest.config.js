/**
 * Jest projects, so a developer can run the fast ones alone (`npx jest --selectProjects unit`):
 *   unit          handlers and adapters against aws-sdk-client-mock
 *   statemachine  the real ASL executed by aws-local-stepfunctions with the real handlers bound to Tasks
 *                 (DynamoDB: dynalite in memory, started per test file by test/setup-dynamodb.js)
 *   template      `serverless package` of the example plan, and plan validation at packaging time
 *   lab-unit      the lab's simulated control plane (real SDK clients against it) and its measurements
 *   lab           the lab for real: PostgreSQL, traffic, failover; and the HTML report in headless Chromium
 * TypeScript is compiled by esbuild (the same compiler that bundles the Lambdas), see test/esbuild-transform.js.
 */
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': '<rootDir>/test/esbuild-transform.js' },
  moduleFileExtensions: ['ts', 'js', 'json'],
  setupFiles: ['<rootDir>/test/setup.js'],
  setupFilesAfterEnv: ['<rootDir>/test/setup-after-env.js'],
};

module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    // The fake platform's DynamoDB is a real one (dynalite, in memory): test/setup-dynamodb.js.
    {
      ...common,
      displayName: 'statemachine',
      testMatch: ['<rootDir>/test/statemachine/**/*.test.ts'],
      setupFilesAfterEnv: [...common.setupFilesAfterEnv, '<rootDir>/test/setup-dynamodb.js'],
    },
    { ...common, displayName: 'template', testMatch: ['<rootDir>/test/template/**/*.test.ts'] },
    { ...common, displayName: 'lab-unit', testMatch: ['<rootDir>/test/lab-unit/**/*.test.ts'] },
    { ...common, displayName: 'lab', testMatch: ['<rootDir>/test/lab/**/*.test.ts'] },
  ],
};
