import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/** The SDK's browser bundle: what a frontend's bundler ships for `import { createClient, connectRealtime } from '@glavito/client'`. */
const LIMIT_BYTES = 20 * 1024;

describe('browser bundle of @glavito/client', () => {
  it(`is at most ${LIMIT_BYTES} bytes gzipped, without zod and with no contracts module but the zod-free ones`, async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL('../src/index.ts', import.meta.url))],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      // Workspace sources, as a bundler sees them in this repository (the published package resolves to dist).
      conditions: ['development'],
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const code = result.outputFiles[0]!.contents;
    const gzipped = gzipSync(code, { level: 9 }).length;
    console.log(`SDK browser bundle: ${gzipped} bytes gzipped (${code.length} bytes minified)`);

    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((p) => /(^|[\\/])zod([@\\/]|$)/.test(p))).toEqual([]);
    const contracts = inputs.filter((p) => p.includes('contracts/src/')).map((p) => p.slice(p.indexOf('contracts/src/')));
    expect(contracts.sort()).toEqual(['contracts/src/route-paths.ts', 'contracts/src/ws-names.ts']);
    expect(gzipped).toBeLessThanOrEqual(LIMIT_BYTES);
  });
});
