/**
 * Tenant analytics benchmark (run by hand, not a test):
 *   node --conditions=development --import tsx bench/analytics.bench.ts
 * Real Postgres and NATS through the test kit (DATABASE_URL / NATS_URL or the default local ports).
 *
 * (a) GET /onboarding/statistics and /statistics/timeseries latency over BENCH_ANALYTICS_SESSIONS sessions of
 *     one tenant (default 1,000,000) plus as many of another, bulk-loaded into the read model; the analytics
 *     are built by the service's own backfill (the upgrade path) and folded. Beside them, the row-based
 *     statistics they replaced (its four queries, run as they were) on the same rows.
 * (b) GET /statistics/export of the tenant's sessions as CSV over a real socket, parsed by csv-parse as it
 *     streams; RSS of this process (service and client) sampled throughout.
 * (c) Projection throughput (source events/s, one service process) with and without the analytics
 *     (STATS_AGGREGATES=false), alternating runs on the same backlog.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parse } from 'csv-parse';
import { bearer, startHarness, type ProgressHarness } from '../services/progress/test/helpers.js';
import { loadTenant, projectionThroughput } from './lib/progress-data.js';

const SESSIONS = Number(process.env.BENCH_ANALYTICS_SESSIONS || 1_000_000);
const SAMPLES = Number(process.env.BENCH_ANALYTICS_SAMPLES || 50);
const OLD_SAMPLES = Number(process.env.BENCH_ANALYTICS_OLD_SAMPLES || 3);
const BACKLOG_SESSIONS = Number(process.env.BENCH_BACKLOG_SESSIONS || 2_000);
const ROUNDS = Number(process.env.BENCH_ANALYTICS_ROUNDS || 2);
// 37 s apart at 1,000,000 sessions: 428 days of starts; fewer sessions are spread over the same days.
const SECONDS_APART = Math.round((37 * 1_000_000) / SESSIONS);

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const ms = (n: number) => n.toFixed(1);
const mb = (n: number) => (n / 2 ** 20).toFixed(0);
const log = (s: string) => process.stderr.write(`${s}\n`);

/** The statistics as computed before the analytics: aggregates and percentiles over the session rows (previous statistics-repository.ts). */
async function rowBasedStatistics(h: ProgressHarness, tenantId: string, type: string | null, from: Date | null, to: Date | null) {
  const scope = `SELECT * FROM progress.projections WHERE tenant_id = $1 AND applied_seq > 0 AND ($2::text IS NULL OR type = $2)
    AND ($3::timestamptz IS NULL OR started_at >= $3) AND ($4::timestamptz IS NULL OR started_at < $4)`;
  const params = [tenantId, type, from, to];
  const pool = h.db.pool;
  await Promise.all([
    pool.query(
      `WITH s AS (${scope}), d AS (SELECT status, extract(epoch FROM completed_at - started_at) / 60 AS minutes FROM s)
       SELECT count(*), count(*) FILTER (WHERE status = 'active'), count(*) FILTER (WHERE status = 'paused'), count(*) FILTER (WHERE status = 'completed'),
         count(*) FILTER (WHERE status = 'abandoned'), avg(minutes) FILTER (WHERE status = 'completed'),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY minutes) FILTER (WHERE status = 'completed') FROM d`,
      params,
    ),
    pool.query(
      `WITH s AS (${scope}) SELECT t.step_id, count(*) FILTER (WHERE t.reached_at IS NOT NULL OR t.completed_at IS NOT NULL OR t.skipped_at IS NOT NULL),
         count(*) FILTER (WHERE t.completed_at IS NOT NULL), count(*) FILTER (WHERE t.skipped_at IS NOT NULL AND t.completed_at IS NULL),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.completed_at - t.reached_at) / 60) FILTER (WHERE t.completed_at IS NOT NULL AND t.reached_at IS NOT NULL)
       FROM progress.step_timings t JOIN s ON s.session_id = t.session_id GROUP BY t.step_id`,
      params,
    ),
    pool.query(
      `WITH s AS (${scope}) SELECT current_step, count(*) FROM s WHERE status <> 'completed' AND current_step IS NOT NULL GROUP BY current_step`,
      params,
    ),
    pool.query(
      `WITH s AS (${scope}) SELECT m.threshold, count(*) FROM progress.milestones m JOIN s ON s.session_id = m.session_id GROUP BY m.threshold`,
      params,
    ),
  ]);
}

async function timed(n: number, warmups: number, run: () => Promise<void>) {
  for (let i = 0; i < warmups; i++) await run();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await run();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), n };
}

async function latencyAndExport() {
  const h = await startHarness({ env: { CONSUME_EVENTS: 'false', STATS_COMPACT_INTERVAL: '1h' } });
  try {
    let t0 = performance.now();
    await loadTenant(h, 'bench-t', SESSIONS, SECONDS_APART);
    await loadTenant(h, 'bench-other', SESSIONS, SECONDS_APART);
    await h.db.pool.query('ANALYZE');
    const loadSeconds = (performance.now() - t0) / 1000;
    log(`loaded 2 × ${SESSIONS} sessions in ${loadSeconds.toFixed(0)} s`);

    // The analytics as an upgrade builds them: the one-off backfill from the projections, then the fold.
    await h.db.pool.query('UPDATE progress.stat_meta SET backfilled_at = NULL');
    t0 = performance.now();
    const backfill = await h.app.statisticsRepository.analytics.backfill();
    const backfillSeconds = (performance.now() - t0) / 1000;
    t0 = performance.now();
    while ((await h.app.statisticsRepository.analytics.compact(100_000)) > 0);
    const foldSeconds = (performance.now() - t0) / 1000;
    // What autovacuum does within seconds in service (migrations tune it for stat_delta_sets): the fold left dead rows.
    await h.db.pool.query('VACUUM ANALYZE progress.stat_counts');
    await h.db.pool.query('VACUUM ANALYZE progress.stat_delta_sets');
    const rows = await h.db.pool.query<{ grain: string; n: string }>(
      "SELECT grain, count(*) AS n FROM progress.stat_counts WHERE tenant_id = 'bench-t' GROUP BY grain ORDER BY grain",
    );
    const counts = Object.fromEntries(rows.rows.map((r) => [r.grain, Number(r.n)]));
    log(`backfill of ${backfill?.sessions} sessions ${backfillSeconds.toFixed(0)} s, fold ${foldSeconds.toFixed(1)} s; tenant rows: ${JSON.stringify(counts)}`);

    const headers = bearer({ userId: 'bench-admin', tenantId: 'bench-t', roles: ['admin'] });
    const get = async (url: string) => {
      const res = await h.app.inject({ method: 'GET', url, headers });
      if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
      return res;
    };
    const queries: Array<{ label: string; url: string; old?: [string | null, Date | null, Date | null] }> = [
      { label: 'statistics (no filter)', url: '/onboarding/statistics', old: [null, null, null] },
      {
        label: 'statistics ?type=tenant_setup&from=2026-01-10&to=2026-01-25',
        url: '/onboarding/statistics?type=tenant_setup&from=2026-01-10T00:00:00Z&to=2026-01-25T00:00:00Z',
        old: ['tenant_setup', new Date('2026-01-10T00:00:00Z'), new Date('2026-01-25T00:00:00Z')],
      },
      {
        label: 'statistics ?from=2026-02-10&to=2026-11-20 (months + days)',
        url: '/onboarding/statistics?from=2026-02-10T00:00:00Z&to=2026-11-20T00:00:00Z',
        old: [null, new Date('2026-02-10T00:00:00Z'), new Date('2026-11-20T00:00:00Z')],
      },
      {
        label: 'timeseries starts by day, 214 days',
        url: '/onboarding/statistics/timeseries?metric=starts&interval=day&from=2026-06-01T00:00:00Z&to=2027-01-01T00:00:00Z',
      },
      {
        label: 'timeseries completion_rate by week, 56 weeks',
        url: '/onboarding/statistics/timeseries?metric=completion_rate&interval=week&from=2026-01-01T00:00:00Z&to=2027-02-01T00:00:00Z',
      },
      {
        label: 'timeseries median_time_to_complete by week, 56 weeks',
        url: '/onboarding/statistics/timeseries?metric=median_time_to_complete&interval=week&from=2026-01-01T00:00:00Z&to=2027-02-01T00:00:00Z',
      },
      { label: 'cohorts, 56 weeks', url: '/onboarding/statistics/cohorts?from=2026-01-01T00:00:00Z&to=2027-02-01T00:00:00Z' },
    ];
    const results = [];
    for (const q of queries) {
      const res = await get(q.url);
      const body = res.json<{ totalSessions?: number; points?: Array<{ sessions: number }>; cohorts?: Array<{ sessions: number }> }>();
      const sessions = body.totalSessions ?? body.points?.reduce((n, p) => n + p.sessions, 0) ?? body.cohorts?.reduce((n, c) => n + c.sessions, 0) ?? 0;
      const now = await timed(SAMPLES, 3, async () => void (await get(q.url)));
      const old = q.old ? await timed(OLD_SAMPLES, 1, () => rowBasedStatistics(h, 'bench-t', ...q.old!)) : null;
      log(`${q.label}: p50 ${ms(now.p50)} ms${old ? ` (row-based ${ms(old.p50)} ms)` : ''}`);
      results.push({ ...q, sessions, now, old });
    }
    const statsLoad = loadavg()[0]!;

    // (b) the export through a real socket, parsed as it arrives.
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    const address = h.app.server.address() as { port: number };
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 100);
    t0 = performance.now();
    const res = await fetch(`http://127.0.0.1:${address.port}/onboarding/statistics/export?format=csv`, { headers });
    if (res.status !== 200 || !res.body) throw new Error(`export: ${res.status}`);
    let records = 0;
    let bytes = 0;
    const counter = new Writable({
      objectMode: true,
      write(_row, _enc, done) {
        records++;
        done();
      },
    });
    const body = res.body as unknown as AsyncIterable<Uint8Array>;
    await pipeline(
      (async function* () {
        for await (const chunk of body) {
          bytes += chunk.length;
          yield chunk;
        }
      })(),
      parse({ columns: true }),
      counter,
    );
    const exportSeconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const exported = { records, bytes, seconds: exportSeconds, rssBefore, rssPeak };
    log(`export: ${records} rows, ${mb(bytes)} MB in ${exportSeconds.toFixed(1)} s, RSS ${mb(rssBefore)} → peak ${mb(rssPeak)} MB`);
    return { loadSeconds, backfill, backfillSeconds, foldSeconds, counts, results, statsLoad, exported };
  } finally {
    await h.close();
  }
}

const a = await latencyAndExport();
const runs: Array<{ aggregates: boolean; perSecond: number; load: number }> = [];
for (let round = 0; round < ROUNDS; round++) {
  for (const aggregates of [true, false]) {
    const r = await projectionThroughput(1, BACKLOG_SESSIONS, { STATS_AGGREGATES: String(aggregates) });
    log(`projection ${aggregates ? 'with' : 'without'} analytics: ${Math.round(r.perSecond)} events/s`);
    runs.push({ aggregates, perSecond: r.perSecond, load: r.load });
  }
}
const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
const withA = mean(runs.filter((r) => r.aggregates).map((r) => r.perSecond));
const withoutA = mean(runs.filter((r) => !r.aggregates).map((r) => r.perSecond));

console.log(`### Analytics (${new Date().toISOString().slice(0, 10)})\n`);
console.log(
  `${SESSIONS.toLocaleString('en-US')} sessions in the caller's tenant + as many in another (starts ${SECONDS_APART} s apart over 428 days), loaded in ${a.loadSeconds.toFixed(0)} s; ` +
    `analytics built by the service's backfill in ${a.backfillSeconds.toFixed(0)} s and folded in ${a.foldSeconds.toFixed(1)} s: ${a.counts.d?.toLocaleString('en-US')} day rows and ${a.counts.m?.toLocaleString('en-US')} month rows for the tenant.\n`,
);
console.log('| query | sessions in scope | p50 ms | p99 ms | row-based p50 ms (before) | before / after |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of a.results) {
  console.log(
    `| ${r.label} | ${r.sessions.toLocaleString('en-US')} | ${ms(r.now.p50)} | ${ms(r.now.p99)} | ${r.old ? ms(r.old.p50) : '—'} | ${r.old ? `${(r.old.p50 / r.now.p50).toFixed(0)}×` : '—'} |`,
  );
}
console.log(
  `\n(${SAMPLES} sequential requests each via inject after 3 warm-ups; the row-based figure is its four queries run directly, ${OLD_SAMPLES} samples after 1 warm-up; load average ${a.statsLoad.toFixed(1)})\n`,
);
const e = a.exported;
console.log(
  `Export: ${e.records.toLocaleString('en-US')} CSV rows (${mb(e.bytes)} MB) over a socket in ${e.seconds.toFixed(1)} s (${Math.round(e.records / e.seconds).toLocaleString('en-US')} rows/s), parsed by csv-parse as they came; RSS of the process (service + client) ${mb(e.rssBefore)} MB before, ${mb(e.rssPeak)} MB at most during (+${mb(e.rssPeak - e.rssBefore)} MB).\n`,
);
console.log('| projection (1 process) | runs | events/s (mean) | each run | vs without |');
console.log('|---|---:|---:|---|---:|');
for (const aggregates of [false, true]) {
  const mine = runs.filter((r) => r.aggregates === aggregates);
  const m = mean(mine.map((r) => r.perSecond));
  console.log(
    `| ${aggregates ? 'with analytics' : 'without analytics (STATS_AGGREGATES=false)'} | ${mine.length} | ${Math.round(m)} | ${mine.map((r) => Math.round(r.perSecond)).join(' / ')} | ${(m / withoutA).toFixed(2)}× |`,
  );
}
console.log(
  `\n(${BACKLOG_SESSIONS.toLocaleString('en-US')} sessions × 10 events preloaded per run, runs alternating; with / without = ${(withA / withoutA).toFixed(2)})`,
);
