import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { serviceEntryArgs, servicesFrom } from '../src/service-entry.js';

describe('where tests run a service process from', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'service-entry-'));

  it('the sources through tsx by default, the build output with TEST_SERVICES_FROM=build', () => {
    expect(servicesFrom({})).toBe('source');
    expect(servicesFrom({ TEST_SERVICES_FROM: 'build' })).toBe('build');
    expect(() => servicesFrom({ TEST_SERVICES_FROM: 'dist' })).toThrow(/TEST_SERVICES_FROM must be "source" or "build", not "dist"/);
  });

  it('runs src/<entry>.ts or dist/<entry>.js, and refuses a build that is not there', () => {
    expect(serviceEntryArgs(dir, 'server', 'source')).toEqual(['--conditions=development', '--import', 'tsx', path.join(dir, 'src', 'server.ts')]);
    expect(() => serviceEntryArgs(dir, 'rebuild', 'build')).toThrow(/dist\/rebuild\.js does not exist: run `pnpm build` first/);
    mkdirSync(path.join(dir, 'dist'));
    writeFileSync(path.join(dir, 'dist', 'rebuild.js'), '');
    expect(serviceEntryArgs(dir, 'rebuild', 'build')).toEqual([path.join(dir, 'dist', 'rebuild.js')]);
  });
});
