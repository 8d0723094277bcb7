import type { OnboardingType, SessionStatus } from '@glavito/contracts';
import type { Pool } from '@glavito/db';
import { FLOW_VERSION } from '../domain/aggregates.js';
import {
  cohortsOf,
  dayWindow,
  intervalWindow,
  statisticsOf,
  TIMESERIES_SOURCES,
  TIMESERIES_UNIT,
  timeseriesOf,
  toSums,
  weekStart,
  addDays,
  type Interval,
  type TimeseriesMetric,
} from '../domain/analytics.js';
import { METRIC } from '../domain/aggregates.js';
import { createAnalyticsRepository } from './analytics-repository.js';

export interface StatisticsFilter {
  tenantId: string;
  type?: OnboardingType;
  from?: string;
  to?: string;
}

/** How far back a series or cohort table reaches when the caller gives no `from`. */
const DEFAULT_DAYS = { day: 30, week: 12 * 7 } as const;

/** The row of an export: one session, no step data. */
export interface ExportRow {
  sessionId: string;
  userId: string;
  type: OnboardingType;
  status: SessionStatus;
  startedAt: string | null;
  completedAt: string | null;
  durationMinutes: number | null;
  stepsCompleted: number;
  stepsSkipped: number;
  flowVersion: number;
}

export const EXPORT_COLUMNS = [
  'sessionId',
  'userId',
  'type',
  'status',
  'startedAt',
  'completedAt',
  'durationMinutes',
  'stepsCompleted',
  'stepsSkipped',
  'flowVersion',
] as const satisfies ReadonlyArray<keyof ExportRow>;

/** Rows per page of an export: each page is one short indexed query, so nothing holds a connection or a snapshot for the whole download. */
const EXPORT_PAGE = 2_000;

/** Tenant analytics read from the incremental aggregates (never by scanning sessions), and the session export. */
export function createStatisticsRepository(pool: Pool) {
  const analytics = createAnalyticsRepository(pool);

  /** The window of a series: the caller's days, else the last DEFAULT_DAYS up to today; whole intervals. */
  function seriesWindow(interval: Interval, from: string | undefined, to: string | undefined, now: number) {
    const days = dayWindow(from, to);
    const end = days.to ?? addDays(new Date(now).toISOString().slice(0, 10), 1);
    const start = days.from ?? addDays(end, -DEFAULT_DAYS[interval]);
    return intervalWindow(interval, start, end);
  }

  return {
    analytics,
    seriesWindow,

    async statistics(f: StatisticsFilter & { flowVersion?: number; steps?: ReadonlyArray<{ id: string }> }) {
      const window = dayWindow(f.from, f.to);
      const rows = await analytics.sums({ tenantId: f.tenantId, type: f.type, ...window, ...(f.flowVersion ? { flowVersion: f.flowVersion } : {}) });
      return statisticsOf(toSums(rows), f.type, window, f.steps);
    },

    async timeseries(q: { tenantId: string; type?: OnboardingType; metric: TimeseriesMetric; interval: Interval; window: { from: string; to: string } }) {
      const rows = await analytics.daily({ tenantId: q.tenantId, type: q.type, ...q.window }, TIMESERIES_SOURCES[q.metric]);
      return {
        metric: q.metric,
        interval: q.interval,
        type: q.type ?? null,
        unit: TIMESERIES_UNIT[q.metric],
        from: q.window.from,
        to: q.window.to,
        points: timeseriesOf(rows, q.metric, q.interval, q.window),
      };
    },

    async cohorts(q: { tenantId: string; type?: OnboardingType; window: { from: string; to: string }; now: number }) {
      const window = { from: weekStart(q.window.from), to: q.window.to };
      const rows = await analytics.daily({ tenantId: q.tenantId, type: q.type, ...window }, [
        METRIC.started,
        METRIC.status('completed'),
        METRIC.weeksToComplete,
      ]);
      return { type: q.type ?? null, from: window.from, to: window.to, cohorts: cohortsOf(rows, window, q.now) };
    },

    /**
     * The caller tenant's sessions (exact start instants, like the export's filter promises), oldest first,
     * page by page on (started_at, session_id): memory stays flat however many there are.
     */
    async *exportRows(f: StatisticsFilter, pageSize = EXPORT_PAGE): AsyncGenerator<ExportRow> {
      const instant = (v?: string) => (v ? new Date(v) : null);
      let after: { startedAt: string; sessionId: string } | null = null;
      for (;;) {
        const page: { rows: Array<Record<string, unknown>> } = await pool.query(
          `SELECT session_id, user_id, type, status, started_at, completed_at, cardinality(completed_steps) AS done, cardinality(skipped_steps) AS skipped,
             to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
           FROM progress.projections
           WHERE tenant_id = $1 AND applied_seq > 0 AND started_at IS NOT NULL AND ($2::text IS NULL OR type = $2)
             AND ($3::timestamptz IS NULL OR started_at >= $3) AND ($4::timestamptz IS NULL OR started_at < $4)
             AND ($5::timestamptz IS NULL OR (started_at, session_id) > ($5::timestamptz, $6::text))
           ORDER BY started_at, session_id LIMIT $7`,
          [f.tenantId, f.type ?? null, instant(f.from), instant(f.to), after?.startedAt ?? null, after?.sessionId ?? null, pageSize],
        );
        for (const r of page.rows) {
          const startedAt = r.started_at as string | null;
          const completedAt = r.completed_at as string | null;
          yield {
            sessionId: r.session_id as string,
            userId: r.user_id as string,
            type: r.type as OnboardingType,
            status: r.status as SessionStatus,
            startedAt,
            completedAt,
            durationMinutes: startedAt && completedAt ? Math.round((Date.parse(completedAt) - Date.parse(startedAt)) / 600) / 100 : null,
            stepsCompleted: r.done as number,
            stepsSkipped: r.skipped as number,
            flowVersion: FLOW_VERSION,
          };
        }
        if (page.rows.length < pageSize) return;
        const last = page.rows.at(-1)!;
        // The cursor keeps microseconds: a JS Date would round them to milliseconds and skip or repeat rows.
        after = { startedAt: last.cursor_at as string, sessionId: last.session_id as string };
      }
    },
  };
}

export type StatisticsRepository = ReturnType<typeof createStatisticsRepository>;
