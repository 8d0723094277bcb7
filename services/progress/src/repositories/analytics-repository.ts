import type { OnboardingType } from '@glavito/contracts';
import { inTransaction, type Pool } from '@glavito/db';
import type { PoolClient } from 'pg';
import { addContribution, toRows, type AggregateRow } from '../domain/aggregates.js';
import { monthCeil, monthFloor } from '../domain/analytics.js';
import type { ProjectionState, StepTiming } from '../domain/projection.js';
import { toProjection } from './projection-repository.js';

/** Held (per transaction) by whoever moves analytics rows in bulk: the compactor, the backfill and the rebuild. */
export const ANALYTICS_LOCK = 7_305_019_001;

const COUNTS_KEY = 'tenant_id, grain, day, type, flow_version, metric, bucket';
/** The entries of delta sets `d`, one row each. */
const UNNEST = 'unnest(d.types, d.flow_versions, d.days, d.metrics, d.buckets, d.ns) AS u(type, flow_version, day, metric, bucket, n)';

export interface AnalyticsScope {
  tenantId: string;
  type?: OnboardingType;
  /** One flow version only (funnel per version). */
  flowVersion?: number;
  /** UTC days, `to` exclusive; null = unbounded. */
  from: string | null;
  to: string | null;
}

export function createAnalyticsRepository(pool: Pool) {
  async function insertDeltas(client: PoolClient, rows: AggregateRow[]) {
    for (let i = 0; i < rows.length; i += 5_000) {
      const chunk = rows.slice(i, i + 5_000);
      for (const tenantId of new Set(chunk.map((r) => r.tenantId))) {
        const mine = chunk.filter((r) => r.tenantId === tenantId);
        await client.query(
          `INSERT INTO progress.stat_delta_sets (tenant_id, types, flow_versions, days, metrics, buckets, ns)
           VALUES ($1, $2::text[], $3::int[], $4::date[], $5::text[], $6::int[], $7::bigint[])`,
          [
            tenantId,
            mine.map((r) => r.type),
            mine.map((r) => r.flowVersion),
            mine.map((r) => r.day),
            mine.map((r) => r.metric),
            mine.map((r) => r.bucket),
            mine.map((r) => r.n),
          ],
        );
      }
    }
  }

  return {
    /**
     * Folds up to `limit` delta sets (one per applied event) into the day and month counts and deletes them, in one transaction: a delta
     * is counted in `stat_counts` or in `stat_delta_sets`, never both. Returns how many were folded (0 when another
     * process holds the lock: one compactor at a time, so the upserts never wait on each other).
     */
    async compact(limit = 5_000): Promise<number> {
      return inTransaction({ pool }, async (client) => {
        const lock = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [ANALYTICS_LOCK]);
        if (!lock.rows[0]!.ok) return 0;
        // Rows of transactions not committed yet are invisible here, whatever their id: they stay for the next run.
        const r = await client.query<{ moved: string }>(
          `WITH moved AS (
             DELETE FROM progress.stat_delta_sets WHERE id IN (SELECT id FROM progress.stat_delta_sets ORDER BY id LIMIT $1) RETURNING *),
           entries AS (SELECT d.tenant_id, u.* FROM moved d, ${UNNEST}),
           summed AS (
             SELECT m.tenant_id, g.grain, g.day, m.type, m.flow_version, m.metric, m.bucket, sum(m.n)::bigint AS n
             FROM entries m, LATERAL (VALUES ('d', m.day), ('m', date_trunc('month', m.day)::date)) AS g(grain, day)
             GROUP BY 1, 2, 3, 4, 5, 6, 7),
           upserted AS (
             INSERT INTO progress.stat_counts AS c (${COUNTS_KEY}, n)
             SELECT * FROM summed ORDER BY 1, 2, 3, 4, 5, 6, 7
             ON CONFLICT (${COUNTS_KEY}) DO UPDATE SET n = c.n + EXCLUDED.n
             RETURNING 1)
           SELECT (SELECT count(*) FROM moved) AS moved, (SELECT count(*) FROM upserted) AS upserted`,
          [limit],
        );
        return Number(r.rows[0]!.moved);
      });
    },

    /**
     * Once per database: the analytics of the projections that existed before the analytics did (an
     * upgrade), from the same contribution function the live path uses. Holds writers of projections off
     * while it reads them (SHARE lock), so no event applies between its read and its write. Null when
     * already done.
     */
    async backfill(): Promise<{ sessions: number } | null> {
      return inTransaction({ pool }, async (client) => {
        const meta = await client.query<{ backfilled_at: string | null }>('SELECT backfilled_at FROM progress.stat_meta WHERE id = 1 FOR UPDATE');
        if (meta.rows[0]?.backfilled_at) return null;
        await client.query('SELECT pg_advisory_xact_lock($1)', [ANALYTICS_LOCK]);
        await client.query('LOCK TABLE progress.projections IN SHARE MODE');
        const sums = new Map<string, number>();
        let sessions = 0;
        let after = '';
        for (;;) {
          const page = await client.query(
            `SELECT p.*,
               (SELECT coalesce(json_agg(json_build_object('stepId', step_id, 'reachedAt', reached_at, 'completedAt', completed_at, 'skippedAt', skipped_at)), '[]')
                  FROM progress.step_timings t WHERE t.session_id = p.session_id) AS timings,
               (SELECT coalesce(json_agg(json_build_object('threshold', threshold, 'title', title, 'reachedAt', reached_at)), '[]')
                  FROM progress.milestones m WHERE m.session_id = p.session_id) AS milestones
             FROM progress.projections p WHERE p.session_id > $1 AND p.applied_seq > 0 ORDER BY p.session_id LIMIT 2000`,
            [after],
          );
          for (const row of page.rows) {
            const state: ProjectionState = {
              projection: toProjection(row),
              timings: Object.fromEntries((row.timings as StepTiming[]).map((t) => [t.stepId, t])),
              milestones: row.milestones,
            };
            addContribution(state, sums);
          }
          sessions += page.rows.length;
          if (page.rows.length < 2000) break;
          after = page.rows.at(-1).session_id;
        }
        await insertDeltas(client, toRows(sums));
        await client.query('UPDATE progress.stat_meta SET backfilled_at = now() WHERE id = 1');
        return { sessions };
      });
    },

    /**
     * Metric × bucket sums over a window of start days: whole months from the month rows, the days around
     * them from the day rows, plus the deltas not folded yet.
     */
    async sums(scope: AnalyticsScope, metrics?: string[]): Promise<Array<{ metric: string; bucket: number; n: string }>> {
      const from = scope.from ?? '-infinity';
      const to = scope.to ?? 'infinity';
      let mFrom = scope.from ? monthCeil(scope.from) : '-infinity';
      let mTo = scope.to ? monthFloor(scope.to) : 'infinity';
      if (scope.from && scope.to && mFrom >= mTo) mFrom = mTo = scope.from;
      const filter = `tenant_id = $1 AND ($2::text IS NULL OR type = $2) AND ($7::text[] IS NULL OR metric = ANY($7)) AND ($8::int IS NULL OR flow_version = $8)`;
      const unfolded = `d.tenant_id = $1 AND ($2::text IS NULL OR u.type = $2) AND ($7::text[] IS NULL OR u.metric = ANY($7)) AND ($8::int IS NULL OR u.flow_version = $8)`;
      const r = await pool.query<{ metric: string; bucket: number; n: string }>(
        `SELECT metric, bucket, sum(n)::bigint AS n FROM (
           SELECT metric, bucket, n FROM progress.stat_counts WHERE ${filter} AND grain = 'm' AND day >= $5::date AND day < $6::date
           UNION ALL
           SELECT metric, bucket, n FROM progress.stat_counts WHERE ${filter} AND grain = 'd' AND day >= $3::date AND day < $5::date
           UNION ALL
           SELECT metric, bucket, n FROM progress.stat_counts WHERE ${filter} AND grain = 'd' AND day >= $6::date AND day < $4::date
           UNION ALL
           SELECT u.metric, u.bucket, u.n FROM progress.stat_delta_sets d, ${UNNEST} WHERE ${unfolded} AND u.day >= $3::date AND u.day < $4::date
         ) x GROUP BY metric, bucket`,
        [scope.tenantId, scope.type ?? null, from, to, mFrom, mTo, metrics ?? null, scope.flowVersion ?? null],
      );
      return r.rows;
    },

    /** Day × metric × bucket sums over [from, to) for the given metrics (day rows plus unfolded deltas). */
    async daily(
      scope: AnalyticsScope & { from: string; to: string },
      metrics: string[],
    ): Promise<Array<{ day: string; metric: string; bucket: number; n: string }>> {
      const filter = `tenant_id = $1 AND ($2::text IS NULL OR type = $2) AND metric = ANY($5) AND day >= $3::date AND day < $4::date`;
      const unfolded = `d.tenant_id = $1 AND ($2::text IS NULL OR u.type = $2) AND u.metric = ANY($5) AND u.day >= $3::date AND u.day < $4::date`;
      const r = await pool.query<{ day: string; metric: string; bucket: number; n: string }>(
        `SELECT day::text AS day, metric, bucket, sum(n)::bigint AS n FROM (
           SELECT day, metric, bucket, n FROM progress.stat_counts WHERE ${filter} AND grain = 'd'
           UNION ALL
           SELECT u.day, u.metric, u.bucket, u.n FROM progress.stat_delta_sets d, ${UNNEST} WHERE ${unfolded}
         ) x GROUP BY day, metric, bucket`,
        [scope.tenantId, scope.type ?? null, scope.from, scope.to, metrics],
      );
      return r.rows;
    },
  };
}

export type AnalyticsRepository = ReturnType<typeof createAnalyticsRepository>;
