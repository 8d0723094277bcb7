/**
 * Progress service benchmark (run by hand, not a test):
 *   node --conditions=development --import tsx bench/progress.bench.ts
 * Real Postgres and NATS through the test kit (DATABASE_URL / NATS_URL or the default local ports).
 *
 * (a) GET /onboarding/statistics latency over 100,000 sessions of one tenant (plus 100,000 of another
 *     tenant that must be filtered out), bulk-loaded with generate_series after the service's migrations.
 * (b) Projection throughput (source events/s) with one and with two service processes on the same durable
 *     consumer, draining a backlog of 2,000 sessions × 10 events preloaded into the stream.
 *
 * It imports the service and its test helpers by path: a service is not a library package.
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { bearer, startHarness } from '../services/progress/test/helpers.js';
import { loadTenant, projectionThroughput } from './lib/progress-data.js';

const SESSIONS_PER_TENANT = Number(process.env.BENCH_STATS_SESSIONS || 100_000);
const STATS_SAMPLES = Number(process.env.BENCH_STATS_SAMPLES || 50);
const BACKLOG_SESSIONS = Number(process.env.BENCH_BACKLOG_SESSIONS || 2_000);
const EVENTS_PER_SESSION = 10;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const ms = (n: number) => n.toFixed(1);

async function statisticsLatency() {
  const h = await startHarness({ env: { CONSUME_EVENTS: 'false' } });
  try {
    const loadStart = performance.now();
    await loadTenant(h, 'bench-t', SESSIONS_PER_TENANT);
    await loadTenant(h, 'bench-other', SESSIONS_PER_TENANT);
    await h.db.pool.query('ANALYZE');
    const rows = await h.db.pool.query<{ p: string; t: string; m: string }>(
      'SELECT (SELECT count(*) FROM progress.projections) AS p, (SELECT count(*) FROM progress.step_timings) AS t, (SELECT count(*) FROM progress.milestones) AS m',
    );
    console.error(
      `loaded ${rows.rows[0]!.p} projections, ${rows.rows[0]!.t} step timings, ${rows.rows[0]!.m} milestones in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`,
    );
    const headers = bearer({ userId: 'bench-admin', tenantId: 'bench-t', roles: ['admin'] });
    const measure = async (query: string) => {
      const url = `/onboarding/statistics${query}`;
      for (let i = 0; i < 3; i++) await h.app.inject({ method: 'GET', url, headers });
      const samples: number[] = [];
      let total = 0;
      for (let i = 0; i < STATS_SAMPLES; i++) {
        const t0 = performance.now();
        const res = await h.app.inject({ method: 'GET', url, headers });
        samples.push(performance.now() - t0);
        if (res.statusCode !== 200) throw new Error(`statistics ${url}: ${res.statusCode} ${res.body}`);
        total = res.json<{ totalSessions: number }>().totalSessions;
      }
      samples.sort((a, b) => a - b);
      return { query: query || '(no filter)', sessions: total, p50: percentile(samples, 50), p99: percentile(samples, 99) };
    };
    return [await measure(''), await measure('?type=tenant_setup&from=2026-01-10T00:00:00Z&to=2026-01-25T00:00:00Z')];
  } finally {
    await h.close();
  }
}

const stats = await statisticsLatency();
const statsLoad = loadavg()[0]!;
const one = await projectionThroughput(1, BACKLOG_SESSIONS);
const two = await projectionThroughput(2, BACKLOG_SESSIONS);

console.log(`\n### Progress service (${new Date().toISOString().slice(0, 10)}, ${cpus().length} CPUs)\n`);
console.log('| statistics query | sessions in scope | p50 ms | p99 ms | p99 / p50 |');
console.log('|---|---:|---:|---:|---:|');
for (const s of stats) console.log(`| \`${s.query}\` | ${s.sessions.toLocaleString('en-US')} | ${ms(s.p50)} | ${ms(s.p99)} | ${(s.p99 / s.p50).toFixed(2)} |`);
console.log(
  `\n(${SESSIONS_PER_TENANT.toLocaleString('en-US')} sessions in the caller's tenant + as many in another; ${STATS_SAMPLES} sequential requests each via inject, after 3 warm-ups; load average ${statsLoad.toFixed(1)})\n`,
);
console.log('| projection | source events | seconds | events/s | vs one instance | events/s by quarter of the backlog | load avg |');
console.log('|---|---:|---:|---:|---:|---|---:|');
for (const r of [one, two]) {
  console.log(
    `| ${r.instances} instance${r.instances > 1 ? 's' : ''} | ${r.events.toLocaleString('en-US')} | ${r.seconds.toFixed(1)} | ${Math.round(r.perSecond)} | ${(r.perSecond / one.perSecond).toFixed(2)}× | ${r.quarters.map((q) => Math.round(q)).join(' / ')} | ${r.load.toFixed(1)} |`,
  );
}
console.log(
  `\n(${BACKLOG_SESSIONS.toLocaleString('en-US')} sessions × ${EVENTS_PER_SESSION} events preloaded; each instance is its own \`src/server.ts\` process on the same durable consumers (step and session events); the clock starts at the first applied event)`,
);
