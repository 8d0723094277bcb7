import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The deployment files (infra/k8s manifests, docker-compose.yml, Dockerfile, .dockerignore) are checked offline
 * by infra/k8s/check.mjs; see infra/README.md for what it asserts. Runs in CI through `pnpm test`.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function runCheck(args: string[]): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, ['infra/k8s/check.mjs', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ''}` };
}

describe('deployment files', () => {
  it('pass infra/k8s/check.mjs (kustomize build when kubectl or kustomize is installed)', () => {
    const { status, output } = runCheck([]);
    expect(output).toMatch(/assertions held, 0 problem/);
    expect(status, output).toBe(0);
  });

  it('pass infra/k8s/check.mjs with its built-in kustomization reader (no external tools)', () => {
    const { status, output } = runCheck(['--no-tools']);
    expect(output).toMatch(/built-in reader/);
    expect(status, output).toBe(0);
  });
});
