// Loads a TypeScript module from this repository in plain Node (20 or 22), compiled in memory by
// esbuild — the compiler that bundles the Lambdas — so scripts need no build step.

const Module = require('node:module');
const { resolve } = require('node:path');
const { buildSync } = require('esbuild');
const ROOT = resolve(__dirname, '..', '..');

function requireTs(entry) {
  const file = resolve(ROOT, entry);
  const out = buildSync({
    entryPoints: [file],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    logLevel: 'silent',
    sourcemap: 'inline',
    packages: 'external',
  });
  const m = new Module(file, module);
  m.filename = file;
  m.paths = Module._nodeModulePaths(ROOT);
  m._compile(out.outputFiles[0].text, file);
  return m.exports;
}

module.exports = { requireTs };

// `node scripts/lib/require-ts.js some/file.ts args…` runs the file's exported `main(argv)`.
if (require.main === module) {
  const [entry, ...argv] = process.argv.slice(2);
  Promise.resolve()
    .then(() => requireTs(entry).main(argv))
    .then((code) => process.exit(typeof code === 'number' ? code : 0))
    .catch((error) => {
      console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
      process.exit(1);
    });
}
