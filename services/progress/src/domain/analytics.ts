import { AGENT_WELCOME_STEPS, MILESTONES, TENANT_SETUP_STEPS, type OnboardingType, type SessionStatus } from '@glavito/contracts';
import { METRIC, quantile, SKETCH_RELATIVE_ACCURACY, WEEK_MS } from './aggregates.js';

/** Summed analytics rows: metric × bucket → count. */
export type Sums = Map<string, Map<number, number>>;

export function toSums(rows: Iterable<{ metric: string; bucket: number; n: number | string }>): Sums {
  const sums: Sums = new Map();
  for (const r of rows) {
    const byBucket = sums.get(r.metric) ?? new Map<number, number>();
    byBucket.set(r.bucket, (byBucket.get(r.bucket) ?? 0) + Number(r.n));
    sums.set(r.metric, byBucket);
  }
  return sums;
}

const count = (sums: Sums, metric: string) => [...(sums.get(metric)?.values() ?? [])].reduce((a, b) => a + b, 0);
const round2 = (n: number) => Math.round(n * 100) / 100;
const round2OrNull = (n: number | null) => (n === null ? null : round2(n));
const percent = (part: number, whole: number) => (whole === 0 ? 0 : round2((part / whole) * 100));

// ---- days and weeks (UTC) ----------------------------------------------------------------------------

const DAY_MS = 24 * 60 * 60_000;
// An instant the contract accepts may fall outside years 1–9999 once its offset applies (0000-01-01T00:00+23:59):
// days are clamped to the four-digit years, which every window here can still be expressed in.
const FIRST_DAY_MS = Date.parse('0001-01-01T00:00:00Z');
const LAST_DAY_MS = Date.parse('9999-12-31T00:00:00Z');
export const toDay = (ms: number) => new Date(Math.min(LAST_DAY_MS, Math.max(FIRST_DAY_MS, ms))).toISOString().slice(0, 10);
export const dayMs = (day: string) => Date.parse(`${day}T00:00:00Z`);
export const addDays = (day: string, n: number) => toDay(dayMs(day) + n * DAY_MS);
/** The UTC day containing an instant. */
export const floorDay = (instant: string) => toDay(Date.parse(instant));
/** The first UTC midnight at or after an instant. */
export const ceilDay = (instant: string) => {
  const ms = Date.parse(instant);
  return toDay(Math.ceil(ms / DAY_MS) * DAY_MS);
};
/** Monday (ISO week start) of the week containing a day. */
export const weekStart = (day: string) => addDays(day, -((new Date(dayMs(day)).getUTCDay() + 6) % 7));
export const monthCeil = (day: string) => (day.endsWith('-01') ? day : toDay(Date.parse(`${day.slice(0, 7)}-01T00:00:00Z`) + 32 * DAY_MS).slice(0, 8) + '01');
export const monthFloor = (day: string) => `${day.slice(0, 7)}-01`;

/**
 * The whole UTC days an instant window covers: `from` down to its day, `to` (exclusive) up to the next
 * midnight unless it is one. The window never loses a session the instants held; it may gain those
 * started on the same days outside them.
 */
export function dayWindow(from?: string, to?: string): { from: string | null; to: string | null } {
  return { from: from ? floorDay(from) : null, to: to ? ceilDay(to) : null };
}

// ---- GET /statistics --------------------------------------------------------------------------------

function catalogOf(type?: OnboardingType) {
  if (type === 'agent_welcome') return AGENT_WELCOME_STEPS;
  if (type === 'tenant_setup') return TENANT_SETUP_STEPS;
  return [...TENANT_SETUP_STEPS, ...AGENT_WELCOME_STEPS.filter((s) => s.id !== 'welcome')];
}

/** The statistics answer from summed start-day analytics (same shape as the row-based one it replaced, plus p90s). */
export function statisticsOf(
  sums: Sums,
  type: OnboardingType | undefined,
  window: { from: string | null; to: string | null },
  steps?: ReadonlyArray<{ id: string }>,
) {
  const total = count(sums, METRIC.started);
  const byStatus: Record<SessionStatus, number> = {
    active: count(sums, METRIC.status('active')),
    paused: count(sums, METRIC.status('paused')),
    completed: count(sums, METRIC.status('completed')),
    abandoned: count(sums, METRIC.status('abandoned')),
  };
  const ttc = sums.get(METRIC.timeToComplete) ?? new Map<number, number>();
  const timed = count(sums, METRIC.timeToComplete);
  const milestones = sums.get(METRIC.milestone);
  return {
    totalSessions: total,
    byStatus,
    completionRate: percent(byStatus.completed, total),
    averageCompletionTime: timed === 0 ? null : round2(count(sums, METRIC.completedMs) / timed / 60_000),
    medianCompletionTime: round2OrNull(quantile(ttc, 0.5)),
    p90CompletionTime: round2OrNull(quantile(ttc, 0.9)),
    // A flow version's own steps (custom ones included) when the answer is for one version.
    stepStatistics: (steps ?? catalogOf(type)).map((s) => {
      const reached = count(sums, METRIC.reached(s.id));
      const completed = count(sums, METRIC.stepCompleted(s.id));
      const dropped = count(sums, METRIC.dropped(s.id));
      const minutes = sums.get(METRIC.stepMinutes(s.id)) ?? new Map<number, number>();
      return {
        stepId: s.id,
        reachedCount: reached,
        completedCount: completed,
        skippedCount: count(sums, METRIC.skipped(s.id)),
        completionRate: percent(completed, reached),
        medianMinutes: round2OrNull(quantile(minutes, 0.5)),
        p90Minutes: round2OrNull(quantile(minutes, 0.9)),
        dropOffCount: dropped,
        dropOffRate: percent(dropped, reached),
      };
    }),
    milestones: MILESTONES.map((m) => ({ threshold: m.threshold, reachedCount: milestones?.get(m.threshold) ?? 0 })),
    window,
    durationRelativeError: SKETCH_RELATIVE_ACCURACY,
  };
}

// ---- GET /statistics/timeseries ---------------------------------------------------------------------

export type TimeseriesMetric = 'starts' | 'completions' | 'abandonments' | 'completion_rate' | 'median_time_to_complete';
export type Interval = 'day' | 'week';

/** The analytics metrics each timeseries reads (by day). */
export const TIMESERIES_SOURCES: Record<TimeseriesMetric, string[]> = {
  starts: [METRIC.started],
  completions: [METRIC.completions],
  abandonments: [METRIC.abandonments],
  completion_rate: [METRIC.started, METRIC.status('completed')],
  median_time_to_complete: [METRIC.timeToComplete],
};

export const TIMESERIES_UNIT: Record<TimeseriesMetric, 'sessions' | 'percent' | 'minutes'> = {
  starts: 'sessions',
  completions: 'sessions',
  abandonments: 'sessions',
  completion_rate: 'percent',
  median_time_to_complete: 'minutes',
};

/** A series' days: whole intervals (weeks start on Monday) covering the window, the last one ending at `to` or later. */
export function intervalWindow(interval: Interval, from: string, to: string): { from: string; to: string; points: number } {
  if (interval === 'day') return { from, to, points: Math.round((dayMs(to) - dayMs(from)) / DAY_MS) };
  const start = weekStart(from);
  const lastStart = weekStart(addDays(to, -1));
  const end = addDays(lastStart, 7);
  return { from: start, to: end, points: Math.round((dayMs(end) - dayMs(start)) / WEEK_MS) };
}

/** One point per interval; `sessions` is how many sessions the value stands on (starts for a rate, completions for a median). */
export function timeseriesOf(
  rows: Array<{ day: string; metric: string; bucket: number; n: number | string }>,
  metric: TimeseriesMetric,
  interval: Interval,
  window: { from: string; to: string },
) {
  const byStart = new Map<string, Array<{ metric: string; bucket: number; n: number | string }>>();
  for (const r of rows) {
    const start = interval === 'day' ? r.day : weekStart(r.day);
    const list = byStart.get(start) ?? [];
    list.push(r);
    byStart.set(start, list);
  }
  const step = interval === 'day' ? 1 : 7;
  const points: Array<{ start: string; value: number | null; sessions: number }> = [];
  for (let start = window.from; start < window.to; start = addDays(start, step)) {
    const sums = toSums(byStart.get(start) ?? []);
    switch (metric) {
      case 'completion_rate': {
        const started = count(sums, METRIC.started);
        points.push({ start, value: started === 0 ? null : percent(count(sums, METRIC.status('completed')), started), sessions: started });
        break;
      }
      case 'median_time_to_complete': {
        const ttc = sums.get(METRIC.timeToComplete) ?? new Map<number, number>();
        points.push({ start, value: round2OrNull(quantile(ttc, 0.5)), sessions: count(sums, METRIC.timeToComplete) });
        break;
      }
      default: {
        const n = count(sums, TIMESERIES_SOURCES[metric][0]!);
        points.push({ start, value: n, sessions: n });
      }
    }
  }
  return points;
}

// ---- GET /statistics/cohorts ------------------------------------------------------------------------

/** Weeks of a completion curve at most (a cohort gets one point per whole week since its start, up to this). */
export const COHORT_MAX_WEEKS = 12;

/**
 * Weekly start cohorts: sessions started that week, and the share of them completed within 1, 2, … weeks of
 * their own start. A cohort gets a point for week k only once k weeks have passed since its Monday.
 */
export function cohortsOf(rows: Array<{ day: string; metric: string; bucket: number; n: number | string }>, window: { from: string; to: string }, now: number) {
  const byWeek = new Map<string, Array<{ metric: string; bucket: number; n: number | string }>>();
  for (const r of rows) {
    const start = weekStart(r.day);
    const list = byWeek.get(start) ?? [];
    list.push(r);
    byWeek.set(start, list);
  }
  const cohorts = [];
  for (let start = window.from; start < window.to; start = addDays(start, 7)) {
    const sums = toSums(byWeek.get(start) ?? []);
    const sessions = count(sums, METRIC.started);
    const weeks = sums.get(METRIC.weeksToComplete) ?? new Map<number, number>();
    const elapsed = Math.min(COHORT_MAX_WEEKS, Math.max(0, Math.floor((now - dayMs(start)) / WEEK_MS)));
    const curve = Array.from({ length: elapsed }, (_, i) => {
      const completed = [...weeks].filter(([w]) => w <= i).reduce((sum, [, n]) => sum + n, 0);
      return { week: i + 1, completed, share: percent(completed, sessions) };
    });
    cohorts.push({ weekStart: start, sessions, completed: count(sums, METRIC.status('completed')), curve });
  }
  return cohorts;
}
