import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * `pnpm --filter @glavito/client build`, then the built package used the way a published one is: plain node,
 * a bundler and the TypeScript compiler, none with the `development` condition (so none reads src/).
 */
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const packageDir = here('..');

beforeAll(() => {
  execFileSync('pnpm', ['run', 'build'], { cwd: packageDir, stdio: 'pipe', timeout: 240_000 });
}, 300_000);

describe('the built @glavito/client', () => {
  it('has dist/index.js and .d.ts for both entry points', () => {
    for (const f of ['index.js', 'index.d.ts', 'validate.js', 'validate.d.ts']) expect(existsSync(here(`../dist/${f}`)), f).toBe(true);
  });

  it('imports in plain node (no --conditions=development): calls go out, responses are validated', () => {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const out = execFileSync(process.execPath, [here('./fixtures/consumer.mjs')], { cwd: packageDir, env, encoding: 'utf8', timeout: 60_000 });
    const result = JSON.parse(out) as { resolved: string; seen: string[]; clients: unknown };
    expect(result.resolved).toMatch(/\/packages\/client\/dist\/index\.js$/);
    expect(result.seen[0]).toBe('PUT https://api.example.com/onboarding/step/s1/organization_setup {"companyName":"Acme","primaryColor":"#112233"}');
    expect(result.clients).toEqual({ userId: 'u1', connectedClients: 2 });
  });

  it('bundles for a browser from dist, without zod', async () => {
    const result = await build({
      stdin: { contents: "export { createClient, connectRealtime } from '@glavito/client';", resolveDir: packageDir, loader: 'js' },
      absWorkingDir: packageDir,
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs).toContain('dist/index.js');
    expect(inputs).toContain('../contracts/dist/route-paths.js');
    expect(inputs.filter((p) => /(^|\/)src\//.test(p) || /(^|[\\/])zod([@\\/]|$)/.test(p))).toEqual([]);
  });

  it('type-checks a consumer against dist/*.d.ts (typed steps included)', () => {
    const config = ts.getParsedCommandLineOfConfigFile(
      here('../tsconfig.json'),
      { customConditions: [] },
      { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined },
    )!;
    const program = ts.createProgram({ rootNames: [here('./fixtures/consumer-types.ts')], options: { ...config.options, customConditions: [] } });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diagnostics).toEqual([]);
    const resolved = program
      .getSourceFiles()
      .map((f) => f.fileName)
      .filter((f) => f.includes('/packages/client/'));
    expect(resolved.some((f) => f.endsWith('/packages/client/dist/index.d.ts'))).toBe(true);
    expect(resolved.filter((f) => f.includes('/packages/client/src/'))).toEqual([]);
  });
});
