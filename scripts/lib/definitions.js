// Renders the state machine and event-pattern templates under statemachines/ and events/.
//
// Templates are plain JSON with `${Name}` placeholders. A string that is exactly "${Name}" is
// replaced by the value itself (an object, an array: the plan, a list of alarm names, an
// Fn::GetAtt); a placeholder inside a longer string is replaced as text. A placeholder left
// unresolved is an error, so a template and its values cannot drift apart silently.
//
// Used by serverless.yml (through scripts/serverless-config.js) when packaging, and by the tests
// and the lab, so what runs locally is byte for byte the definition that deploys.

const { existsSync, readFileSync } = require('node:fs');
const { dirname, join } = require('node:path');

/** The repository root: found upward from here, so it stays right when this file is bundled elsewhere. */
function findRoot(from) {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'statemachines', 'failover.asl.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the repository root (statemachines/failover.asl.json) above ${from}`);
  }
}

const ROOT = findRoot(__dirname);
const WHOLE = /^\$\{([A-Za-z0-9]+)\}$/;
const INNER = /\$\{([A-Za-z0-9]+)\}/g;

/** Stage Lambdas referenced by the failover state machine: placeholder → function key in serverless.yml. */
const FAILOVER_FUNCTIONS = {
  AcceptStartRequestFunctionArn: 'acceptStartRequest',
  ConfirmRegionFailureFunctionArn: 'confirmRegionFailure',
  RequestApprovalFunctionArn: 'requestApproval',
  FenceUsWritersFunctionArn: 'fenceUsWriters',
  PromoteEuDatabaseFunctionArn: 'promoteEuDatabase',
  ScaleEuComputeFunctionArn: 'scaleEuCompute',
  FlipTrafficFunctionArn: 'flipTraffic',
  SmokeTestEuFunctionArn: 'smokeTest',
  NotifyFunctionArn: 'notify',
};

function substitute(template, values, where = 'template') {
  const missing = new Set();
  const walk = (node) => {
    if (typeof node === 'string') {
      const whole = WHOLE.exec(node);
      if (whole) {
        if (!(whole[1] in values)) missing.add(whole[1]);
        return values[whole[1]];
      }
      return node.replace(INNER, (m, key) => {
        if (!(key in values)) {
          missing.add(key);
          return m;
        }
        if (typeof values[key] !== 'string') throw new Error(`${where}: \${${key}} is inside a string but its value is not a string`);
        return values[key];
      });
    }
    if (Array.isArray(node)) return node.map(walk);
    if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v)]));
    return node;
  };
  const out = walk(template);
  if (missing.size > 0) throw new Error(`${where}: no value for ${[...missing].map((k) => `\${${k}}`).join(', ')}`);
  return out;
}

function readJson(relative) {
  return JSON.parse(readFileSync(join(ROOT, relative), 'utf8'));
}

/**
 * The failover state machine with the plan injected and each Lambda placeholder resolved by
 * `functionRef(key)` (an Fn::GetAtt when packaging, an ARN-shaped string locally).
 */
function renderFailoverDefinition(plan, functionRef) {
  // The approval gates' timeout is a static TimeoutSeconds taken from the plan (rather than a
  // TimeoutSecondsPath, whose resolution against raw vs. effective input differs between engines).
  const values = { Plan: plan, ApprovalTimeoutSeconds: plan.approval.timeoutSeconds };
  for (const [placeholder, key] of Object.entries(FAILOVER_FUNCTIONS)) values[placeholder] = functionRef(key);
  return substitute(readJson('statemachines/failover.asl.json'), values, 'statemachines/failover.asl.json');
}

/** The EventBridge pattern that starts the failover on these alarms going to ALARM, and on nothing else. */
function renderAlarmPattern(alarmNames) {
  if (!Array.isArray(alarmNames) || alarmNames.length === 0) throw new Error('events/alarm-state-change.pattern.json: needs at least one alarm name');
  return substitute(readJson('events/alarm-state-change.pattern.json'), { AlarmNames: alarmNames }, 'events/alarm-state-change.pattern.json');
}

module.exports = { ROOT, FAILOVER_FUNCTIONS, substitute, renderFailoverDefinition, renderAlarmPattern };
