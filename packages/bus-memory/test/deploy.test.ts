import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The in-process bus is for embedded mode and tests: a service's production build must not carry it.
 * These tests look at what a deploy really ships (`pnpm deploy --prod`, the image's node_modules) and at
 * what each service declares and imports.
 */

const root = path.resolve(import.meta.dirname, '../../..');
const run = promisify(execFile);
const MEMORY_FILE = /memory-bus|bus-memory/;

/** Every file under dir (symlinks not followed: the deploy's .pnpm directory holds each package once). */
async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(path.join(entry.parentPath, entry.name));
  }
  return out;
}

async function services(): Promise<string[]> {
  return (await readdir(path.join(root, 'services'), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
}

describe('the production build of a service', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('pnpm --filter @glavito/session deploy --prod ships the bus without its in-memory adapter', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'glavito-deploy-'));
    dirs.push(dir);
    await run('pnpm', ['--filter', '@glavito/session', 'deploy', '--prod', dir], { cwd: root, maxBuffer: 16 * 1024 * 1024 });

    const all = await files(dir);
    // The scan sees the deployed bus itself (where the adapter used to live), so an absence below means something.
    const bus = all.filter((f) => f.includes(`${path.sep}@glavito${path.sep}bus${path.sep}`));
    expect(bus.some((f) => f.endsWith(`${path.sep}event-bus.ts`) || f.endsWith(`${path.sep}event-bus.js`))).toBe(true);

    const shipped = all.map((f) => path.relative(dir, f)).filter((f) => MEMORY_FILE.test(f));
    // A dist/memory-bus.js here is usually build output left from before the adapter moved: rm -rf packages/bus/dist.
    expect(shipped, 'in-memory bus files in the deploy output').toEqual([]);
    const glavito = all.filter((f) => f.includes(`${path.sep}@glavito${path.sep}`) && /\.[cm]?[jt]s$/.test(f));
    const mentions: string[] = [];
    for (const f of glavito) if ((await readFile(f, 'utf8')).includes('createMemoryBus')) mentions.push(path.relative(dir, f));
    expect(mentions, 'deployed @glavito files naming createMemoryBus').toEqual([]);
  }, 180_000);

  it('no service depends on the in-memory bus outside its tests, and no service source imports it', async () => {
    const offenders: string[] = [];
    for (const name of await services()) {
      const manifestPath = path.join(root, 'services', name, 'package.json');
      if (!existsSync(manifestPath)) continue;
      const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { dependencies?: Record<string, string> };
      if (manifest.dependencies?.['@glavito/bus-memory']) offenders.push(`${name}/package.json dependencies`);
      const src = path.join(root, 'services', name, 'src');
      if (!existsSync(src)) continue;
      for (const f of await files(src)) {
        const text = await readFile(f, 'utf8');
        if (text.includes('@glavito/bus-memory') || text.includes('createMemoryBus')) offenders.push(path.relative(root, f));
      }
    }
    expect(offenders).toEqual([]);
  });
});
