/**
 * The repository's layers run one way (issue 8): functions/ ← local/ ← test/ and lab/.
 *
 * - functions/ (what deploys) imports nothing outside functions/; inside it, core/ is the bottom
 *   (it imports no adapter, Slack module or stage handler), adapters/ import only core/, slack/
 *   only core/ and slack/.
 * - local/ (what runs the product locally: the state-machine runner, the event-pattern matcher, the
 *   AWS backend seam, local servers) imports only functions/, scripts/lib and itself.
 * - scripts/ imports only functions/ and scripts/.
 * - lab/ is imported only by the lab's own tests (test/lab, test/lab-unit).
 *
 * Read from the import statements of every .ts/.js file git tracks or would (untracked, not ignored) (types included: a type-only arrow
 * back up is still an arrow). A failure names each offending edge: file, line, what it imports.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { ROOT } from '../helpers/plan';

interface Edge {
  from: string;
  line: number;
  to: string;
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\(\s*|\bjest\.mock\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

/** Every relative import of every tracked source file, resolved to a repository path. */
function edges(): Edge[] {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts', '*.js', '*.mjs'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  const out: Edge[] = [];
  for (const from of files) {
    if (!existsSync(join(ROOT, from))) continue;
    const lines = readFileSync(join(ROOT, from), 'utf8').split('\n');
    lines.forEach((text, i) => {
      for (const m of text.matchAll(IMPORT)) out.push({ from, line: i + 1, to: normalize(join(dirname(from), m[1]!)) });
    });
  }
  return out;
}

/** The layer a repository path belongs to. */
function area(path: string): string {
  const p = relative('.', path);
  if (p.startsWith('functions/core/')) return 'functions/core';
  if (p.startsWith('functions/adapters')) return 'functions/adapters';
  if (p.startsWith('functions/slack/')) return 'functions/slack';
  if (p.startsWith('functions/')) return 'functions/handlers';
  if (p.startsWith('scripts/lib/')) return 'scripts/lib';
  for (const top of ['local', 'scripts', 'lab']) if (p.startsWith(`${top}/`)) return top;
  if (p.startsWith('test/lab/') || p.startsWith('test/lab-unit/')) return 'test/lab';
  if (p.startsWith('test/')) return 'test';
  return 'other';
}

/** Which layers each layer may import (itself always). */
const ALLOWED: Record<string, string[]> = {
  'functions/core': [],
  'functions/adapters': ['functions/core'],
  'functions/slack': ['functions/core'],
  'functions/handlers': ['functions/core', 'functions/adapters', 'functions/slack'],
  'scripts/lib': ['functions/core', 'functions/adapters', 'functions/slack', 'functions/handlers', 'scripts'],
  scripts: ['functions/core', 'functions/adapters', 'functions/slack', 'functions/handlers', 'scripts/lib'],
  local: ['functions/core', 'functions/adapters', 'functions/slack', 'functions/handlers', 'scripts/lib'],
  lab: ['functions/core', 'functions/adapters', 'functions/slack', 'functions/handlers', 'scripts/lib', 'scripts', 'local'],
  test: ['functions/core', 'functions/adapters', 'functions/slack', 'functions/handlers', 'scripts/lib', 'scripts', 'local'],
  'test/lab': ['functions/core', 'functions/adapters', 'functions/slack', 'functions/handlers', 'scripts/lib', 'scripts', 'local', 'lab', 'test'],
};

/** The edges a layer may not have, as "file:line → target" lines. */
function violations(all: Edge[]): string[] {
  return all
    .filter((e) => {
      const from = area(e.from);
      const to = area(e.to);
      if (from === to || from === 'other') return false;
      return !(ALLOWED[from] ?? []).includes(to);
    })
    .map((e) => `${e.from}:${e.line} (${area(e.from)}) → ${e.to} (${area(e.to)})`);
}

describe('layers (functions/ ← local/ ← test/ and lab/)', () => {
  const all = edges();

  it('reads the imports of the whole tree (the check is not vacuous)', () => {
    const areas = new Set(all.map((e) => `${area(e.from)}→${area(e.to)}`));
    for (const expected of ['functions/handlers→functions/core', 'functions/adapters→functions/core', 'local→functions/handlers', 'lab→local', 'test→local', 'test/lab→lab']) {
      expect(areas).toContain(expected);
    }
  });

  it('has no import running against the layers', () => {
    expect(violations(all)).toEqual([]);
  });

  it('names an edge that would run back up (core → adapters, functions → lab, test → lab, local → test)', () => {
    const bad: Edge[] = [
      { from: 'functions/core/reconcile.ts', line: 8, to: 'functions/adapters/types' },
      { from: 'functions/notify.ts', line: 3, to: 'lab/world' },
      { from: 'test/unit/x.test.ts', line: 1, to: 'lab/orchestrator' },
      { from: 'local/state-machine.ts', line: 2, to: 'test/helpers/plan' },
      { from: 'lab/lab.ts', line: 4, to: 'local/state-machine' },
    ];
    expect(violations(bad)).toEqual([
      'functions/core/reconcile.ts:8 (functions/core) → functions/adapters/types (functions/adapters)',
      'functions/notify.ts:3 (functions/handlers) → lab/world (lab)',
      'test/unit/x.test.ts:1 (test) → lab/orchestrator (lab)',
      'local/state-machine.ts:2 (local) → test/helpers/plan (test)',
    ]);
  });
});
