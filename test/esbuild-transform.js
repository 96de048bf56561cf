// Compiles TypeScript for jest with esbuild, the same compiler that bundles the Lambdas.
// Type checking is `npm run typecheck` (tsc --noEmit), which `npm test` runs first.
const { transformSync } = require('esbuild');

module.exports = {
  process(source, filename) {
    const { code, map } = transformSync(source, {
      loader: 'ts',
      format: 'cjs',
      target: 'node20',
      sourcemap: 'both',
      sourcefile: filename,
    });
    return { code, map };
  },
};
