import { AGENT_WELCOME_STEPS, MILESTONES, TENANT_SETUP_STEPS, type OnboardingType, type SessionStatus } from '@glavito/contracts';
import type { Pool } from '@glavito/db';

export interface StatisticsFilter {
  tenantId: string;
  type?: OnboardingType;
  from?: string;
  to?: string;
}

const round2 = (n: number) => Math.round(n * 100) / 100;
const num = (v: string | number | null) => (v === null ? null : Number(v));

/** The sessions in scope: one tenant, optional flow and start-time window. */
const SCOPE = `SELECT * FROM progress.projections
  WHERE tenant_id = $1 AND applied_seq > 0 AND ($2::text IS NULL OR type = $2)
    AND ($3::timestamptz IS NULL OR started_at >= $3) AND ($4::timestamptz IS NULL OR started_at < $4)`;

/** Tenant analytics computed by Postgres (aggregates and percentiles), never by loading sessions. */
export function createStatisticsRepository(pool: Pool) {
  return {
    async statistics(f: StatisticsFilter) {
      // As Dates, not the caller's text: an ISO instant may carry an offset (+23:59) or a year (0000) that
      // Postgres refuses to parse, although it is the same instant as one it accepts.
      const instant = (v?: string) => (v ? new Date(v) : null);
      const params = [f.tenantId, f.type ?? null, instant(f.from), instant(f.to)];
      const [totals, steps, dropOff, milestones] = await Promise.all([
        pool.query<{ total: string; active: string; paused: string; completed: string; abandoned: string; avg_min: string | null; median_min: string | null }>(
          `WITH s AS (${SCOPE}), d AS (SELECT status, extract(epoch FROM completed_at - started_at) / 60 AS minutes FROM s)
           SELECT count(*) AS total,
             count(*) FILTER (WHERE status = 'active') AS active, count(*) FILTER (WHERE status = 'paused') AS paused,
             count(*) FILTER (WHERE status = 'completed') AS completed, count(*) FILTER (WHERE status = 'abandoned') AS abandoned,
             avg(minutes) FILTER (WHERE status = 'completed') AS avg_min,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY minutes) FILTER (WHERE status = 'completed') AS median_min
           FROM d`,
          params,
        ),
        pool.query<{ step_id: string; reached: string; completed: string; skipped: string; median_min: string | null }>(
          `WITH s AS (${SCOPE})
           SELECT t.step_id,
             count(*) FILTER (WHERE t.reached_at IS NOT NULL OR t.completed_at IS NOT NULL OR t.skipped_at IS NOT NULL) AS reached,
             count(*) FILTER (WHERE t.completed_at IS NOT NULL) AS completed,
             count(*) FILTER (WHERE t.skipped_at IS NOT NULL AND t.completed_at IS NULL) AS skipped,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.completed_at - t.reached_at) / 60)
               FILTER (WHERE t.completed_at IS NOT NULL AND t.reached_at IS NOT NULL) AS median_min
           FROM progress.step_timings t JOIN s ON s.session_id = t.session_id
           GROUP BY t.step_id`,
          params,
        ),
        pool.query<{ step: string; n: string }>(
          `WITH s AS (${SCOPE}) SELECT current_step AS step, count(*) AS n FROM s WHERE status <> 'completed' AND current_step IS NOT NULL GROUP BY current_step`,
          params,
        ),
        pool.query<{ threshold: number; n: string }>(
          `WITH s AS (${SCOPE}) SELECT m.threshold, count(*) AS n FROM progress.milestones m JOIN s ON s.session_id = m.session_id GROUP BY m.threshold`,
          params,
        ),
      ]);
      const t = totals.rows[0]!;
      const total = Number(t.total);
      const byStatus: Record<SessionStatus, number> = { active: Number(t.active), paused: Number(t.paused), completed: Number(t.completed), abandoned: Number(t.abandoned) };
      const stepRows = new Map(steps.rows.map((r) => [r.step_id, r]));
      const drops = new Map(dropOff.rows.map((r) => [r.step, Number(r.n)]));
      const reachedMilestones = new Map(milestones.rows.map((r) => [r.threshold, Number(r.n)]));
      const catalog = f.type === 'agent_welcome' ? AGENT_WELCOME_STEPS : f.type === 'tenant_setup' ? TENANT_SETUP_STEPS : [...TENANT_SETUP_STEPS, ...AGENT_WELCOME_STEPS.filter((s) => s.id !== 'welcome')];
      return {
        totalSessions: total,
        byStatus,
        completionRate: total === 0 ? 0 : round2((byStatus.completed / total) * 100),
        averageCompletionTime: t.avg_min === null ? null : round2(Number(t.avg_min)),
        medianCompletionTime: t.median_min === null ? null : round2(Number(t.median_min)),
        stepStatistics: catalog.map((s) => {
          const r = stepRows.get(s.id);
          const reached = Number(r?.reached ?? 0);
          const completed = Number(r?.completed ?? 0);
          const median = num(r?.median_min ?? null);
          return {
            stepId: s.id,
            reachedCount: reached,
            completedCount: completed,
            skippedCount: Number(r?.skipped ?? 0),
            completionRate: reached === 0 ? 0 : round2((completed / reached) * 100),
            medianMinutes: median === null ? null : round2(median),
            dropOffCount: drops.get(s.id) ?? 0,
          };
        }),
        milestones: MILESTONES.map((m) => ({ threshold: m.threshold, reachedCount: reachedMilestones.get(m.threshold) ?? 0 })),
      };
    },
  };
}

export type StatisticsRepository = ReturnType<typeof createStatisticsRepository>;
