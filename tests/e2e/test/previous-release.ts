import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The release the next deploy of any service must work beside: `release/previous.json` (see docs/ARCHITECTURE.md §8). */
export function previousRelease(): { commit: string; note: string } {
  return JSON.parse(readFileSync(path.join(root, 'release', 'previous.json'), 'utf8'));
}

const hasCommit = (commit: string) =>
  run('git', ['cat-file', '-e', `${commit}^{commit}`], { cwd: root }).then(
    () => true,
    () => false,
  );

/** A release is a commit this one descends from (a commit of another branch was never deployed before it). */
export async function isAncestorOfHead(commit: string): Promise<boolean> {
  return run('git', ['merge-base', '--is-ancestor', commit, 'HEAD'], { cwd: root }).then(
    () => true,
    () => false,
  );
}

async function sh(cmd: string, args: string[], cwd: string, log: string[]): Promise<void> {
  log.push(`$ ${cmd} ${args.join(' ')}`);
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd, env: { ...process.env, CI: 'true', TURBO_TELEMETRY_DISABLED: '1' }, maxBuffer: 64 * 1024 * 1024 });
    log.push(...`${stdout}${stderr}`.split('\n').slice(-15));
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${`${e.stdout ?? ''}${e.stderr ?? ''}`.slice(-4000) || e.message}`);
  }
}

/**
 * A git worktree of the previous release, installed and built the way CI builds a commit (pnpm install from the
 * store, frozen lockfile; turbo build of the services' dependency graphs): its services run from `dist/` with
 * plain `node`. Built once per commit in the temp directory (kept between local runs; CI starts clean), outside
 * this checkout: under a node_modules folder TypeScript's declaration output refuses the build.
 */
export async function buildPreviousRelease(services: string[]): Promise<{ commit: string; dir: string; log: string[] }> {
  const { commit } = previousRelease();
  const dir = path.join(tmpdir(), 'glavito-previous-release', commit.slice(0, 12));
  const marker = path.join(dir, '.glavito-built');
  const log: string[] = [];
  if (existsSync(marker) && services.every((s) => readFileSync(marker, 'utf8').split('\n').includes(s))) return { commit, dir, log };
  mkdirSync(path.dirname(dir), { recursive: true });
  if (!existsSync(path.join(dir, '.git'))) {
    // A fresh clone in CI has the full history; a shallow one lacks the commit: fetched, or a clear failure.
    if (!(await hasCommit(commit))) {
      await sh('git', ['fetch', '--no-tags', 'origin', commit], root, log).catch((err: Error) => {
        throw new Error(`release/previous.json names ${commit}, which this clone lacks (shallow?) and could not fetch: ${err.message.slice(0, 500)}`);
      });
    }
    await sh('git', ['worktree', 'prune'], root, log);
    await sh('git', ['worktree', 'add', '--force', '--detach', dir, commit], root, log);
  }
  try {
    await sh('pnpm', ['install', '--offline', '--frozen-lockfile'], dir, log);
  } catch (err) {
    // A dependency of that commit no longer in the store (a version since replaced): fetched from the registry.
    log.push(`offline install failed, falling back to the registry: ${(err as Error).message.slice(0, 300)}`);
    await sh('pnpm', ['install', '--prefer-offline', '--frozen-lockfile'], dir, log);
  }
  await sh('pnpm', ['exec', 'turbo', 'run', 'build', ...services.map((s) => `--filter=@glavito/${s}`)], dir, log);
  writeFileSync(marker, services.join('\n'));
  return { commit, dir, log };
}
