/**
 * `--baseline <commit>`: the same benchmark, in the same run, against a previous commit (`--candidate <commit>`:
 * and against that commit instead of this checkout). That commit is checked
 * out in a git worktree beside this one, installed offline from the pnpm store with the frozen lockfile and
 * built as CI does; its services then run from there exactly as this checkout's do (the start command's way:
 * node + tsx from src). Kept in the temp directory per commit, so later runs reuse it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const checkoutRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A `--name value` / `--name=value` argument of the benchmark, else the environment variable. */
export function benchOption(name: string, envName: string): string | undefined {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1];
    if (argv[i]!.startsWith(`--${name}=`)) return argv[i]!.slice(name.length + 3);
  }
  return process.env[envName] || undefined;
}

export interface Checkout {
  /** What the tables call it: "this checkout" or the commit's short hash and subject. */
  label: string;
  root: string;
}

const git = (...args: string[]) => execFileSync('git', args, { cwd: checkoutRoot, encoding: 'utf8' }).trim();

/** The commit's worktree, installed and built (once per commit). */
export function prepareBaseline(commit: string): Checkout {
  const sha = git('rev-parse', '--verify', `${commit}^{commit}`);
  const label = `${sha.slice(0, 8)} (${git('log', '-1', '--format=%s', sha).slice(0, 60)})`;
  const root = path.join(tmpdir(), 'glavito-bench-baselines', sha.slice(0, 12));
  const ready = path.join(root, '.bench-ready');
  if (existsSync(ready)) return { label, root };
  if (!existsSync(path.join(root, '.git'))) git('worktree', 'add', '--detach', '--force', root, sha);
  const run = (cmd: string, args: string[]) => {
    process.stderr.write(`baseline ${sha.slice(0, 8)}: ${cmd} ${args.join(' ')}\n`);
    execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, CI: 'true', TURBO_TELEMETRY_DISABLED: '1' } });
  };
  try {
    run('pnpm', ['install', '--offline', '--frozen-lockfile']);
  } catch {
    // A commit whose lockfile lags its package.json files (CI fails there too) still runs: resolved from the store.
    process.stderr.write(`baseline ${sha.slice(0, 8)}: lockfile out of date at that commit; installing without --frozen-lockfile\n`);
    run('pnpm', ['install', '--offline', '--no-frozen-lockfile']);
  }
  // What CI's `pnpm build` compiles for the services (the console's bundle is not run here).
  try {
    run('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=./services/*']);
  } catch {
    // The services run from src (node + tsx, as the start command does), which a type error does not stop.
    process.stderr.write(`baseline ${sha.slice(0, 8)}: the build fails at that commit (as CI would); its services still run from src\n`);
  }
  writeFileSync(ready, `${new Date().toISOString()}\n`);
  return { label, root };
}

export const thisCheckout = (): Checkout => ({ label: 'this checkout', root: checkoutRoot });

/**
 * The arms of a run: this checkout (or `--candidate <commit>`, also a worktree: a shared working tree may be
 * half-edited) alone, or alternating with the baseline (B C, C B, …) so drift hits both. BENCH_ROUNDS rounds
 * (default 1, or 2 with a baseline).
 */
export function arms(): { baseline?: Checkout; candidate: Checkout; runs: Array<{ round: number; checkout: Checkout }> } {
  const base = benchOption('baseline', 'BENCH_BASELINE');
  const cand = benchOption('candidate', 'BENCH_CANDIDATE');
  const rounds = Number(process.env.BENCH_ROUNDS || (base ? 2 : 1));
  const candidate = cand ? prepareBaseline(cand) : thisCheckout();
  if (!base) return { candidate, runs: Array.from({ length: rounds }, (_, i) => ({ round: i + 1, checkout: candidate })) };
  const baseline = prepareBaseline(base);
  const runs: Array<{ round: number; checkout: Checkout }> = [];
  for (let i = 0; i < rounds; i++) {
    const pair = i % 2 === 0 ? [baseline, candidate] : [candidate, baseline];
    for (const checkout of pair) runs.push({ round: i + 1, checkout });
  }
  return { baseline, candidate, runs };
}
