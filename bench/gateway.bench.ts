/**
 * Gateway overhead: the same authenticated read (GET /onboarding/status, one Postgres query) directly at
 * the session service and through the gateway, same connections and duration, twice:
 *  - shared: every process may run on every core (on a 2-core machine the gateway takes CPU from the
 *    session service, Postgres and the load generator);
 *  - edge on its own core: the gateway pinned to the last core and everything else to the others, in both
 *    runs, as when the gateway runs on its own pods (skipped on a 1-core machine or without taskset).
 * It also prints the CPU time each process spends per request, which is what the ratio is made of, and, as a
 * reference, the same read through a bare proxy (bench/lib/bare-proxy.ts: node:http + undici, none of the
 * gateway's checks): what the extra hop alone costs here, whatever the gateway does on it.
 * Run: node --conditions=development --import tsx bench/gateway.bench.ts   (BENCH_SECONDS per run, BENCH_ROUNDS, BENCH_CONNECTIONS)
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import autocannon from 'autocannon';
import { startSystem } from '../tests/e2e/test/system.js';
import { cpuMeter, pidsNamed, type CpuTargets } from './lib/cpu.js';
import { fmt, table } from './lib/stats.js';

const DURATION = Number(process.env.BENCH_SECONDS || 6);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 32);

/** Sets the CPU affinity of every thread of each process; returns false when taskset is unavailable. */
function pin(pids: number[], cpus: string): boolean {
  try {
    for (const pid of pids) execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Starts bench/lib/bare-proxy.ts in front of `upstream`; resolves with its URL and process. */
async function startBareProxy(upstream: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [...process.execArgv, new URL('./lib/bare-proxy.ts', import.meta.url).pathname, '0', upstream], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      const m = /listening (\d+)/.exec(d.toString());
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`bare proxy exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

export async function benchGateway() {
  const sys = await startSystem({ logLevel: 'warn', rateLimitMax: 100_000_000 });
  const bare = await startBareProxy(sys.session.url);
  const cores = os.cpus().length;
  const everyone = () => [
    ...pidsNamed('postgres'),
    ...pidsNamed('nats-server'),
    process.pid,
    ...[sys.session, sys.progress, sys.connectionTest, sys.realtime].map((s) => s.child.pid!),
  ];
  try {
    const token = sys.token({ userId: 'bench-user', tenantId: 'bench-tenant', roles: ['admin'] });
    const headers = { authorization: `Bearer ${token}` };
    await fetch(`${sys.gateway.url}/onboarding/start`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{}' });
    const processes: CpuTargets = {
      gateway: sys.gateway.child.pid!,
      'bare proxy': bare.child.pid!,
      session: sys.session.child.pid!,
      postgres: { comm: 'postgres' },
      'load generator': process.pid,
    };
    const run = async (url: string) => {
      const meter = cpuMeter(processes);
      const r = await autocannon({ url: `${url}/onboarding/status`, headers, connections: CONNECTIONS, duration: DURATION, pipelining: 1 });
      return { r, cpu: meter.stop(r.requests.total) };
    };
    const rows: Array<Record<string, string | number>> = [];
    const cpuRows: Array<Record<string, string | number>> = [];
    const ratios: Record<string, { median: number; rounds: number[] }> = {};
    const bareRatios: Record<string, { median: number; rounds: number[] }> = {};
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    // Short alternating rounds: the machine's background load drifts, and a ratio of two runs minutes
    // apart measures that drift. The median of the rounds' ratios is reported.
    const measure = async (placement: string) => {
      const roundRatios: number[] = [];
      const bareRoundRatios: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const direct = await run(sys.session.url);
        const viaGateway = await run(sys.gateway.url);
        const viaBare = await run(bare.url);
        roundRatios.push(viaGateway.r.requests.average / direct.r.requests.average);
        bareRoundRatios.push(viaBare.r.requests.average / direct.r.requests.average);
        for (const [path, m] of [
          ['direct: session', direct],
          ['through gateway', viaGateway],
          ['through a bare proxy (reference)', viaBare],
        ] as const) {
          rows.push({
            placement,
            round,
            path,
            'req/s': fmt(m.r.requests.average, 0),
            'p50 ms': m.r.latency.p50,
            'p99 ms': m.r.latency.p99,
            errors: m.r.errors + m.r.non2xx,
          });
          cpuRows.push({ placement, round, path, ...m.cpu, total: Object.values(m.cpu).reduce((a, b) => a + b, 0) });
        }
      }
      ratios[placement] = { median: median(roundRatios), rounds: roundRatios };
      bareRatios[placement] = { median: median(bareRoundRatios), rounds: bareRoundRatios };
    };

    await run(sys.session.url); // warm-up (JIT, connection pools)
    await run(sys.gateway.url);
    await run(bare.url);
    await measure('shared cores');
    const last = String(cores - 1);
    const rest = cores > 2 ? `0-${cores - 2}` : '0';
    if (cores >= 2 && pin(everyone(), rest) && pin([sys.gateway.child.pid!, bare.child.pid!], last)) {
      try {
        await measure(`gateway on core ${last}, the rest on ${rest}`);
      } finally {
        pin([...everyone(), sys.gateway.child.pid!, bare.child.pid!], `0-${cores - 1}`);
      }
    }
    return { rows, cpuRows, ratios, bareRatios };
  } finally {
    bare.child.kill();
    await sys.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchGateway();
  console.log(table(r.rows));
  console.log(`\nCPU time per request by process (µs):\n\n${table(r.cpuRows)}\n`);
  for (const [placement, ratio] of Object.entries(r.ratios)) {
    console.log(
      `through gateway / direct throughput, ${placement}: median ${fmt(ratio.median, 2)} of rounds ${ratio.rounds.map((x) => fmt(x, 2)).join(', ')} (target ≥ 0.8)`,
    );
  }
  for (const [placement, ratio] of Object.entries(r.bareRatios)) {
    console.log(
      `reference, through a bare proxy / direct, ${placement}: median ${fmt(ratio.median, 2)} of rounds ${ratio.rounds.map((x) => fmt(x, 2)).join(', ')}`,
    );
  }
}
