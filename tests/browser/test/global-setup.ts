import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { chromiumPath, consoleDist, repoRoot } from './harness.js';

function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return latest;
}

/**
 * `pnpm test` builds the console first (turbo: @glavito/browser-tests#test depends on @glavito/console#build);
 * run alone, the suite builds it when the dist is missing or older than its sources or the SDK's.
 */
export default function setup(): void {
  chromiumPath();
  const built = (() => {
    try {
      return statSync(path.join(consoleDist, 'index.html')).mtimeMs;
    } catch {
      return 0;
    }
  })();
  const sources = Math.max(
    newest(path.join(repoRoot, 'apps', 'console', 'src')),
    statSync(path.join(repoRoot, 'apps', 'console', 'index.html')).mtimeMs,
    statSync(path.join(repoRoot, 'apps', 'console', 'vite.config.ts')).mtimeMs,
    newest(path.join(repoRoot, 'packages', 'client', 'src')),
    newest(path.join(repoRoot, 'packages', 'contracts', 'src')),
  );
  if (built >= sources) return;
  execFileSync('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=@glavito/console', '--output-logs=errors-only'], {
    cwd: repoRoot,
    stdio: 'inherit',
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
  });
}
