// Builds the browser file of shardline/client: dist/client/shardline-client.min.js
// (ESM, minified, no dependency). Run by `npm run build` after tsc.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/client/index.ts'],
  outfile: 'dist/client/shardline-client.min.js',
  bundle: true,
  minify: true,
  format: 'esm',
  // Every browser of the last four years; keeps class fields and #private native (and short).
  target: 'es2022',
  legalComments: 'none',
  logLevel: 'warning',
  // Internal members shared between the client's own classes (not part of the
  // documented API, never a key of a wire frame) are renamed too: about 120
  // bytes gzipped of a 6 KB budget. A name added here must not be a JSON key
  // of protocol v1 nor a member the README documents.
  mangleProps:
    /^(markSent|connectionDied|nextDueAt|subscribeLate|flushOutbox|listenerFailed|firstSentAt|notBefore|failAll|onEnd|abandon|applied|refused|expire|ended|progress)$/,
});
