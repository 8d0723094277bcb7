import { existsSync } from 'node:fs';
import path from 'node:path';

export type ServicesFrom = 'source' | 'build';

/**
 * Where tests run a service process from: `source` (the default) is its TypeScript through tsx, as `pnpm start` does,
 * so an edit is tested without a build; `build` (TEST_SERVICES_FROM=build, set by CI right after `pnpm build`) is its
 * build output, `node dist/<entry>.js`, which is what the containers run. A process then starts without compiling
 * TypeScript: 0.75 s instead of 1.35 s to load a service here, about 5 s less for each whole system a test starts.
 */
export function servicesFrom(env: NodeJS.ProcessEnv = process.env): ServicesFrom {
  const value = env.TEST_SERVICES_FROM ?? 'source';
  if (value !== 'source' && value !== 'build') throw new Error(`TEST_SERVICES_FROM must be "source" or "build", not "${value}"`);
  return value;
}

/**
 * The Node arguments that run `<serviceDir>/src/<entry>.ts` (source) or `<serviceDir>/dist/<entry>.js` (build). A
 * build that is not there is an error that says so, never a silent fall back to the sources.
 */
export function serviceEntryArgs(serviceDir: string, entry = 'server', from: ServicesFrom = servicesFrom()): string[] {
  if (from === 'source') return ['--conditions=development', '--import', 'tsx', path.join(serviceDir, 'src', `${entry}.ts`)];
  const built = path.join(serviceDir, 'dist', `${entry}.js`);
  if (!existsSync(built)) throw new Error(`TEST_SERVICES_FROM=build, but ${built} does not exist: run \`pnpm build\` first`);
  return [built];
}
