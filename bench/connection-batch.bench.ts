/**
 * A batch of 10 connection tests vs its slowest test: the batch runs them in parallel, so it should take
 * about as long as the slowest one. Webhooks to a local receiver that answers after 50–500 ms.
 * Run: node --conditions=development --import tsx bench/connection-batch.bench.ts
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startSystem } from '../tests/e2e/test/system.js';
import { fmt, summarize, table } from './lib/stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS || 10);
const DELAYS = [50, 100, 150, 200, 250, 300, 350, 400, 450, 500];

export async function benchConnectionBatch() {
  const receiver = http.createServer((req, res) => {
    req.resume();
    const delay = Number(new URL(req.url!, 'http://x').searchParams.get('delay') ?? 0);
    setTimeout(() => res.writeHead(204).end(), delay);
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const port = (receiver.address() as AddressInfo).port;
  const sys = await startSystem({
    logLevel: 'warn',
    rateLimitMax: 100_000_000,
    env: { 'connection-test': { CONNECTION_TEST_USER_LIMIT: '100000', CONNECTION_TEST_TENANT_LIMIT: '100000' } },
  });
  try {
    const token = sys.token({ userId: 'bench-ct', tenantId: 'bench-ct-tenant', roles: ['admin'] });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const start = await fetch(`${sys.gateway.url}/onboarding/start`, { method: 'POST', headers, body: '{}' });
    const sessionId = ((await start.json()) as { session: { id: string } }).session.id;
    const tests = DELAYS.map((d) => ({ channel: 'webhook', config: { url: `http://127.0.0.1:${port}/hook?delay=${d}` } }));
    const ratios: number[] = [];
    const batches: number[] = [];
    for (let i = 0; i < ROUNDS + 1; i++) {
      const t0 = performance.now();
      const r = await fetch(`${sys.gateway.url}/onboarding/test-connections/${sessionId}`, { method: 'POST', headers, body: JSON.stringify({ tests }) });
      const elapsed = performance.now() - t0;
      const { results } = (await r.json()) as { results: Array<{ responseTime: number; status: string }> };
      if (i === 0) continue; // warm-up
      const slowest = Math.max(...results.map((x) => x.responseTime));
      batches.push(elapsed);
      ratios.push(elapsed / slowest);
    }
    const b = summarize(batches);
    const q = summarize(ratios);
    return {
      rows: [
        {
          rounds: ROUNDS,
          'batch p50 ms': fmt(b.p50, 0),
          'batch max ms': fmt(b.max, 0),
          'slowest test ms': 500,
          'batch / slowest p50': fmt(q.p50, 2),
          'batch / slowest max': fmt(q.max, 2),
        },
      ],
      ratio: q.p50,
    };
  } finally {
    await sys.stop();
    receiver.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchConnectionBatch();
  console.log(table(r.rows));
  console.log(`\nbatch / slowest test: ${fmt(r.ratio, 2)} (target ≤ 1.2)`);
}
