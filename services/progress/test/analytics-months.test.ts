import { StatisticsResponseSchema } from '@glavito/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_TENANT_STEPS, bearer, simulateSession, startHarness, type ProgressHarness } from './helpers.js';
import { waitProgressIdle } from './fixtures.js';

/*
 * Month rows of the open month are not written with every event: the fold writes day rows only from
 * `stat_meta.month_rows_until` on, and rolls a month up from its day rows once it has closed. Reads must give
 * the same answers before and after the roll-up, and an older release's month rows for the open month must
 * neither count nor survive it. The months here are January and February 2026; the compactor's clock is
 * passed in (the service's own compactor is kept out of the way with a long interval).
 */

let h: ProgressHarness;
const admin = bearer({ userId: 'boss', tenantId: 't-months', roles: ['admin'] });
const JANUARY = '2026-01-01';
const FEBRUARY = '2026-02-01';
const MARCH = '2026-03-01';

beforeAll(async () => {
  h = await startHarness({ env: { STATS_COMPACT_INTERVAL: '1h' } });
  // As if this database had been migrated in February: January is closed, February is the open month.
  await h.db.pool.query('UPDATE progress.stat_meta SET month_rows_until = $1', [FEBRUARY]);
});
afterAll(async () => {
  await h?.close();
});

const compactAt = async (now: string) => {
  while ((await h.app.statisticsRepository.analytics.compact(5_000, new Date(now))) > 0);
};
/** A month's rows (a count that went back to 0 is as good as none). */
const monthRows = async (month: string) =>
  (
    await h.db.pool.query<{ key: string; n: string }>(
      `SELECT concat_ws('|', type, flow_version, metric, bucket) AS key, n FROM progress.stat_counts
       WHERE tenant_id = 't-months' AND grain = 'm' AND day = $1 AND n <> 0 ORDER BY 1`,
      [month],
    )
  ).rows.map((r) => [r.key, Number(r.n)] as const);
const daySums = async (month: string) =>
  (
    await h.db.pool.query<{ key: string; n: string }>(
      `SELECT concat_ws('|', type, flow_version, metric, bucket) AS key, sum(n)::bigint AS n FROM progress.stat_counts
       WHERE tenant_id = 't-months' AND grain = 'd' AND day >= $1::date AND day < ($1::date + interval '1 month')::date
       GROUP BY 1 HAVING sum(n) <> 0 ORDER BY 1`,
      [month],
    )
  ).rows.map((r) => [r.key, Number(r.n)] as const);
const monthsUntil = async () => (await h.db.pool.query<{ m: string }>('SELECT month_rows_until::text AS m FROM progress.stat_meta')).rows[0]!.m;
/** The funnel and counts of whole months (month rows where they are kept), of one month, and of a few days. */
const readAll = async () => {
  const out: Record<string, unknown> = {};
  for (const [label, query] of Object.entries({
    both: `?from=${JANUARY}T00:00:00Z&to=${MARCH}T00:00:00Z`,
    january: `?from=${JANUARY}T00:00:00Z&to=${FEBRUARY}T00:00:00Z`,
    february: `?from=${FEBRUARY}T00:00:00Z&to=${MARCH}T00:00:00Z`,
    days: '?from=2026-01-30T00:00:00Z&to=2026-02-03T00:00:00Z',
    all: '',
  })) {
    const res = await h.app.inject({ method: 'GET', url: `/onboarding/statistics${query}`, headers: admin });
    expect(res.statusCode, res.body).toBe(200);
    out[label] = StatisticsResponseSchema.parse(res.json());
  }
  return out;
};

describe('month rows of the open month', () => {
  it('are written at its roll-up, from its day rows, with the same reads before and after', async () => {
    const s = (id: string, startedAt: string, steps: string[], complete = false) =>
      simulateSession({ sessionId: id, tenantId: 't-months', userId: `u-${id}`, steps, complete, minutesPerEvent: 30, startedAt: new Date(startedAt) });
    await h.publish([
      ...s('m1', '2026-01-30T20:00:00Z', ALL_TENANT_STEPS, true),
      ...s('m2', '2026-01-31T23:00:00Z', ['organization_setup', 'skip:channel_configuration', 'knowledge_base']),
      ...s('m3', '2026-02-01T08:00:00Z', ['organization_setup']),
      ...s('m4', '2026-02-02T09:00:00Z', ALL_TENANT_STEPS, true),
    ]);
    await waitProgressIdle(h.nats);
    // What an older release wrote for the open month before this one took over: never read, replaced at the roll-up.
    await h.db.pool.query(
      `INSERT INTO progress.stat_counts (tenant_id, grain, day, type, flow_version, metric, bucket, n)
       VALUES ('t-months', 'm', $1, 'tenant_setup', 1, 'started', 0, 1000), ('t-months', 'm', $1, 'tenant_setup', 1, 'stale_metric', 0, 7)`,
      [FEBRUARY],
    );

    // Before any fold (deltas only), then folded in February: January in both grains, February in day rows only.
    const unfolded = await readAll();
    await compactAt('2026-02-20T12:00:00Z');
    expect(await monthsUntil()).toBe(FEBRUARY);
    expect(await monthRows(JANUARY)).toEqual(await daySums(JANUARY));
    expect((await monthRows(FEBRUARY)).map(([key]) => key)).toEqual(['tenant_setup|1|stale_metric|0', 'tenant_setup|1|started|0']);
    expect((await daySums(FEBRUARY)).length).toBeGreaterThan(10);
    const folded = await readAll();
    expect(folded).toEqual(unfolded);
    expect(folded.february).toMatchObject({ totalSessions: 2, byStatus: { completed: 1 } });
    expect(folded.both).toMatchObject({ totalSessions: 4, byStatus: { completed: 2 } });

    // March 2: February has closed. Its month rows are rebuilt from its day rows; the stale ones are gone.
    await compactAt('2026-03-02T00:00:01Z');
    expect(await monthsUntil()).toBe(MARCH);
    expect(await monthRows(FEBRUARY)).toEqual(await daySums(FEBRUARY));
    expect((await monthRows(FEBRUARY)).some(([key]) => key.includes('stale_metric'))).toBe(false);
    expect(await readAll()).toEqual(unfolded);

    // A session started in February moves on after the roll-up: both of its grains follow.
    const late = s('m3', '2026-02-01T08:00:00Z', ['organization_setup', 'channel_configuration', 'ai_configuration']);
    await h.publish(late.slice(3));
    await waitProgressIdle(h.nats);
    await compactAt('2026-03-05T12:00:00Z');
    expect(await monthRows(FEBRUARY)).toEqual(await daySums(FEBRUARY));
    expect((await monthRows(FEBRUARY)).find(([key]) => key === 'tenant_setup|1|completed:ai_configuration|0')?.[1]).toBe(2);
  });

  it('rolls up every month that closed while no compactor ran, one after the other', async () => {
    await compactAt('2026-06-15T12:00:00Z');
    expect(await monthsUntil()).toBe('2026-06-01');
    // March to May had no sessions: their roll-ups write nothing, and February's rows are untouched.
    expect(await monthRows(FEBRUARY)).toEqual(await daySums(FEBRUARY));
    expect(await monthRows('2026-04-01')).toEqual([]);
  });
});
