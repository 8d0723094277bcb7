/**
 * Runs every benchmark one after the other and prints one markdown report (pipe it into RESULTS.md).
 * Run from the repository root: pnpm bench   (or: node --conditions=development --import tsx bench/run.ts)
 * `pnpm bench gateway step-save` (or BENCH_ONLY=gateway,step-save) limits the run; options (`--baseline <commit>`)
 * go to every benchmark run.
 */
import { execFileSync, spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

const BENCHES: Array<{ id: string; file: string; title: string; target: string }> = [
  { id: 'gateway', file: 'gateway.bench.ts', title: '1. Gateway overhead', target: 'through gateway ≥ 0.8 × direct throughput' },
  { id: 'step-save', file: 'step-save.bench.ts', title: '2. Step save vs pgbench (the statement the service runs)', target: 'step save ≥ 0.5 × pgbench' },
  {
    id: 'push-latency',
    file: 'push-latency.bench.ts',
    title: '3. New-step save → WS progress_update latency and CPU per save',
    target: 'p99 ≤ 30 ms at 500 new-step saves/s with 5,000 sockets; HTTP p50 < 10 ms below 600/s; CPU per save ≤ 0.5 × the previous commit',
  },
  { id: 'realtime', file: 'realtime.bench.ts', title: '4. WebSocket memory per idle connection and broadcast', target: '≤ 15 KB per idle connection' },
  {
    id: 'connection-batch',
    file: 'connection-batch.bench.ts',
    title: '5. Batch of 10 connection tests vs its slowest test',
    target: 'batch ≤ 1.2 × slowest test',
  },
  { id: 'progress', file: 'progress.bench.ts', title: '6. Statistics latency and projection throughput', target: 'reported, no target' },
  {
    id: 'analytics',
    file: 'analytics.bench.ts',
    title: '7. Tenant analytics at a million sessions',
    target: 'statistics and timeseries p50 ≤ 50 ms at 1,000,000 sessions; projection with analytics ≥ 0.85 × without',
  },
  {
    id: 'reconnect-storm',
    file: 'reconnect-storm.bench.ts',
    title: '8. Reconnect storm: 5,000 sockets re-joining with lastEventId',
    target: 'every socket replayed within seconds; consumer count back where it was',
  },
];

function machine(): string {
  const pg = (() => {
    try {
      return execFileSync('psql', ['--version'], { encoding: 'utf8' }).trim();
    } catch {
      return 'psql not found';
    }
  })();
  const nats = (() => {
    try {
      return execFileSync('nats-server', ['--version'], { encoding: 'utf8' }).trim();
    } catch {
      return 'nats-server not on PATH';
    }
  })();
  return [
    `- Date: ${new Date().toISOString()}`,
    `- CPU: ${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length}, memory ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load average at start ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' / ')}`,
    `- Node ${process.version}; ${pg}; ${nats}`,
  ].join('\n');
}

function run(file: string, options: string[]): Promise<{ code: number; out: string; seconds: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', path.join(here, file), ...options], {
      cwd: root,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    child.on('exit', (code) => resolve({ code: code ?? 1, out, seconds: (Date.now() - t0) / 1000 }));
  });
}

// `pnpm bench reconnect-storm gateway` runs those two; BENCH_ONLY=a,b does the same.
const args = process.argv.slice(2);
const options: string[] = [];
const names: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (!args[i]!.startsWith('--')) names.push(args[i]!);
  else options.push(args[i]!, ...(args[i]!.includes('=') || args[i + 1] === undefined || args[i + 1]!.startsWith('--') ? [] : [args[++i]!]));
}
const named = [...names, ...(process.env.BENCH_ONLY?.split(',') ?? [])].map((s) => s.trim()).filter(Boolean);
const only = named.length > 0 ? named : undefined;
const unknown = named.filter((n) => !BENCHES.some((b) => b.id === n));
if (unknown.length > 0) throw new Error(`unknown benchmark ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.id).join(', ')}`);
const sections: string[] = [
  `# Benchmark results\n\n${machine()}\n\nEach benchmark starts its own processes on fresh databases and streams; numbers are ratios measured in the same run.`,
];
for (const b of BENCHES) {
  if (only && !only.includes(b.id)) continue;
  process.stderr.write(`running ${b.file}…\n`);
  const r = await run(b.file, options);
  sections.push(
    `## ${b.title}\n\nTarget: ${b.target}. Took ${r.seconds.toFixed(0)} s${r.code === 0 ? '' : ` — **exited with code ${r.code}**`}.\n\n${r.out.trim()}`,
  );
}
console.log(sections.join('\n\n'));
