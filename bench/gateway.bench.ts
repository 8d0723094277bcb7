/**
 * Gateway overhead: the same authenticated read (GET /onboarding/status, one Postgres query) directly at
 * the session service and through the gateway, each process on its own, same connections and duration.
 * Run: node --conditions=development --import tsx bench/gateway.bench.ts
 */
import autocannon from 'autocannon';
import { startSystem } from '../tests/e2e/test/system.js';
import { fmt, table } from './lib/stats.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);

export async function benchGateway() {
  const sys = await startSystem({ logLevel: 'warn', rateLimitMax: 100_000_000 });
  try {
    const token = sys.token({ userId: 'bench-user', tenantId: 'bench-tenant', roles: ['admin'] });
    const headers = { authorization: `Bearer ${token}` };
    await fetch(`${sys.gateway.url}/onboarding/start`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{}' });
    const run = (url: string) => autocannon({ url: `${url}/onboarding/status`, headers, connections: CONNECTIONS, duration: DURATION, pipelining: 1 });
    await run(sys.session.url); // warm-up
    const direct = await run(sys.session.url);
    const viaGateway = await run(sys.gateway.url);
    const ratio = viaGateway.requests.average / direct.requests.average;
    return {
      rows: [
        { path: 'direct: session', 'req/s': fmt(direct.requests.average, 0), 'p99 ms': direct.latency.p99, errors: direct.errors + direct.non2xx },
        { path: 'through gateway', 'req/s': fmt(viaGateway.requests.average, 0), 'p99 ms': viaGateway.latency.p99, errors: viaGateway.errors + viaGateway.non2xx },
      ],
      ratio,
      p99Ratio: viaGateway.latency.p99 / Math.max(1, direct.latency.p99),
    };
  } finally {
    await sys.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchGateway();
  console.log(table(r.rows));
  console.log(`\nthrough gateway / direct throughput: ${fmt(r.ratio, 2)} (target ≥ 0.8); p99 ratio ${fmt(r.p99Ratio, 2)}`);
}
