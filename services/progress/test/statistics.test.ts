import {
  StatisticsCohortsResponseSchema,
  StatisticsExportRowSchema,
  StatisticsResponseSchema,
  StatisticsTimeseriesResponseSchema,
  type EventEnvelope,
} from '@glavito/contracts';
import { parse } from 'csv-parse/sync';
import { waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withStatusEvent } from './fixtures.js';
import { ALL_TENANT_STEPS, bearer, simulateSession, startHarness, type ProgressHarness } from './helpers.js';

/*
 * Hand-computed fixture. Catalogs: tenant_setup has 11 steps (progress k/11: 3 → 27 %, 4 → 36 %, 6 → 55 %,
 * 9 → 82 %), agent_welcome 8 (k/8: 1 → 13 %, 2 → 25 %, 4 → 50 %, 6 → 75 %). simulateSession puts event n at
 * startedAt + (n-1)·gap; a step is "reached" when it becomes the recommended current step (or, when finished
 * without ever being current, at the previous event), so a step's minutes are completed_at − reached_at.
 *
 * Tenant t-stats (9 sessions):
 *  A1 tenant  gap 5  Jan 5 09:00  all 10 steps + complete       completed, 60 min (event 13 at 12·5); every step 5 min
 *  A2 tenant  gap 10 Jan 6 09:00  org, skip channel, kb + compl  completed, 50 min (event 6 at 5·10); welcome 10, org 10,
 *                                  channel reached +20 skipped +30; ai current from +30 (never done); kb reached +30 done +40 → 10
 *  A3 agent   gap 3  Jan 6 14:00  all 7 steps + complete         completed, 27 min (event 10 at 9·3); each step 3, except
 *                                  quick_start: current since test_ticket (+18), notification done first (+21), quick_start +24 → 6
 *  A4 tenant  gap 7  Jan 7 10:00  org, team_management           active; welcome 7, org 7, channel current from +14,
 *                                  team_management finished while channel was current: +14 → +21 = 7
 *  A5 tenant  gap 4  Jan 8 09:00  org, channel, ai, kb, payment  paused 4 min later; welcome..payment 4 each; team_management current
 *  A6 tenant  gap 20 Jan 9 09:00  org                            abandoned; welcome 20, org 20; channel current
 *  A7 agent   gap 2  Jan 9 12:00  profile                        active; welcome 2, profile 2; team_assignment current
 *  A8 agent   gap 6  Jan 10 09:00 (nothing)                      abandoned; welcome 6; profile_setup current
 *  A9 tenant  gap 5  Jan 12 09:00 org, skip payment, kb          paused; welcome 5, org 5, channel current from +10,
 *                                  payment reached +10 skipped +15, kb +15 → +20 = 5
 * Tenant t-other (never counted for t-stats): a completed tenant flow in 11 minutes and an active agent.
 */
const T = 'tenant_setup' as const;
const W = 'agent_welcome' as const;
const at = (iso: string) => new Date(iso);

function fixture(): EventEnvelope[] {
  const s = (id: string, tenantId = 't-stats') => ({ sessionId: id, tenantId, userId: `u-${id}` });
  return [
    ...simulateSession({ ...s('A1'), type: T, steps: ALL_TENANT_STEPS, complete: true, minutesPerEvent: 5, startedAt: at('2026-01-05T09:00:00Z') }),
    ...simulateSession({
      ...s('A2'),
      type: T,
      steps: ['organization_setup', 'skip:channel_configuration', 'knowledge_base'],
      complete: true,
      minutesPerEvent: 10,
      startedAt: at('2026-01-06T09:00:00Z'),
    }),
    ...simulateSession({
      ...s('A3'),
      type: W,
      steps: ['profile_setup', 'team_assignment', 'permissions_overview', 'feature_tour', 'test_ticket', 'notification_preferences', 'quick_start'],
      complete: true,
      minutesPerEvent: 3,
      startedAt: at('2026-01-06T14:00:00Z'),
    }),
    ...simulateSession({ ...s('A4'), type: T, steps: ['organization_setup', 'team_management'], minutesPerEvent: 7, startedAt: at('2026-01-07T10:00:00Z') }),
    ...withStatusEvent(
      simulateSession({
        ...s('A5'),
        type: T,
        steps: ['organization_setup', 'channel_configuration', 'ai_configuration', 'knowledge_base', 'payment_setup'],
        minutesPerEvent: 4,
        startedAt: at('2026-01-08T09:00:00Z'),
      }),
      'session.paused',
      4,
    ),
    ...withStatusEvent(
      simulateSession({ ...s('A6'), type: T, steps: ['organization_setup'], minutesPerEvent: 20, startedAt: at('2026-01-09T09:00:00Z') }),
      'session.abandoned',
      60 * 24 * 7,
    ),
    ...simulateSession({ ...s('A7'), type: W, steps: ['profile_setup'], minutesPerEvent: 2, startedAt: at('2026-01-09T12:00:00Z') }),
    ...withStatusEvent(
      simulateSession({ ...s('A8'), type: W, steps: [], minutesPerEvent: 6, startedAt: at('2026-01-10T09:00:00Z') }),
      'session.abandoned',
      60 * 24 * 7,
    ),
    ...withStatusEvent(
      simulateSession({
        ...s('A9'),
        type: T,
        steps: ['organization_setup', 'skip:payment_setup', 'knowledge_base'],
        minutesPerEvent: 5,
        startedAt: at('2026-01-12T09:00:00Z'),
      }),
      'session.paused',
      5,
    ),
    ...simulateSession({ ...s('B1', 't-other'), type: T, steps: ALL_TENANT_STEPS, complete: true, minutesPerEvent: 1, startedAt: at('2026-01-06T10:00:00Z') }),
    ...simulateSession({
      ...s('B2', 't-other'),
      type: W,
      steps: ['profile_setup', 'team_assignment'],
      minutesPerEvent: 1,
      startedAt: at('2026-01-07T10:00:00Z'),
    }),
  ];
}

let h: ProgressHarness;
const admin = bearer({ userId: 'boss', tenantId: 't-stats', roles: ['admin'] });
const statistics = async (query = '', headers = admin) => h.app.inject({ method: 'GET', url: `/onboarding/statistics${query}`, headers });
const ok = async (query = '') => {
  const res = await statistics(query);
  expect(res.statusCode, res.body).toBe(200);
  return StatisticsResponseSchema.parse(res.json());
};

beforeAll(async () => {
  h = await startHarness();
  const events = fixture();
  await h.publish(events);
  const lastSeq = new Map(events.map((e) => [e.sessionId, e.sessionSeq]));
  await waitFor(
    async () => {
      const { rows } = await h.db.pool.query<{ session_id: string; applied_seq: number }>('SELECT session_id, applied_seq FROM progress.projections');
      return rows.length === lastSeq.size && rows.every((r) => r.applied_seq === lastSeq.get(r.session_id));
    },
    { timeoutMs: 20_000, message: 'fixture not projected' },
  );
});
afterAll(async () => {
  await h?.close();
});

/** percentile_cont: the exact percentile the sketch approximates. */
function exactPercentile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = q * (sorted.length - 1);
  const lo = Math.floor(rank);
  return sorted[lo]! + (sorted[Math.ceil(rank)]! - sorted[lo]!) * (rank - lo);
}

/**
 * Durations come from DDSketch buckets: within 1 % (relative) of the exact percentile, then rounded to
 * 0.01. (The row-based statistics gave exact percentile_cont values.)
 */
const approx = (exact: number | null) =>
  exact === null ? null : expect.toSatisfy((v: unknown) => typeof v === 'number' && Math.abs(v - exact) <= 0.01 * exact + 0.005, `≈ ${exact} (±1 %)`);

/** A step's row from the minutes its completions took (reached → completed). */
const step = (
  stepId: string,
  reachedCount: number,
  completedCount: number,
  skippedCount: number,
  completionRate: number,
  minutes: number[],
  dropOffCount: number,
) => ({
  stepId,
  reachedCount,
  completedCount,
  skippedCount,
  completionRate,
  medianMinutes: approx(exactPercentile(minutes, 0.5)),
  p90Minutes: approx(exactPercentile(minutes, 0.9)),
  dropOffCount,
  dropOffRate: reachedCount === 0 ? 0 : Math.round((dropOffCount / reachedCount) * 10_000) / 100,
});

// The steps after welcome that only agent_welcome sessions (A3, A7, A8) reach: the same with or without ?type=agent_welcome.
const AGENT_STEPS = [
  // A3 3, A7 2, A8 current when abandoned → 2/3, median 2.5
  step('profile_setup', 3, 2, 0, 66.67, [3, 2], 1),
  // A3 3, A7 current → 1/2
  step('team_assignment', 2, 1, 0, 50, [3], 1),
  step('permissions_overview', 1, 1, 0, 100, [3], 0),
  step('feature_tour', 1, 1, 0, 100, [3], 0),
  step('test_ticket', 1, 1, 0, 100, [3], 0),
  step('notification_preferences', 1, 1, 0, 100, [3], 0),
  step('quick_start', 1, 1, 0, 100, [6], 0),
];

describe('GET /onboarding/statistics', () => {
  it("computes the caller tenant's whole funnel exactly", async () => {
    expect(await ok()).toEqual({
      // A1..A9; t-other's B1 and B2 are never counted.
      totalSessions: 9,
      // active A4 A7, paused A5 A9, completed A1 A2 A3, abandoned A6 A8
      byStatus: { active: 2, paused: 2, completed: 3, abandoned: 2 },
      // 3 / 9 = 33.333… %
      completionRate: 33.33,
      // (60 + 50 + 27) / 3 = 45.666…; median of 27, 50, 60 = 50
      // The average is exact (a sum of milliseconds); percentiles come from the sketch.
      averageCompletionTime: 45.67,
      medianCompletionTime: approx(50),
      // rank 0.9 · 2 = 1.8 → 50 + 0.8 · 10
      p90CompletionTime: approx(58),
      stepStatistics: [
        // all 9 sessions; minutes 5,10,3,7,4,20,2,6,5 → sorted 2 3 4 5 [5] 6 7 10 20
        step('welcome', 9, 9, 0, 100, [5, 10, 3, 7, 4, 20, 2, 6, 5], 0),
        // A1 5, A2 10, A4 7, A5 4, A6 20, A9 5 → 4 5 [5 7] 10 20 → 6
        step('organization_setup', 6, 6, 0, 100, [5, 10, 7, 4, 20, 5], 0),
        // reached by A1 A2 A4 A5 A6 A9; done by A1 (5) A5 (4) → 2/6 = 33.33 %, median 4.5; skipped by A2;
        // current of unfinished A4 (active), A6 (abandoned), A9 (paused) → drop-off 3 (A2 is completed)
        step('channel_configuration', 6, 2, 1, 33.33, [5, 4], 3),
        // A1 5, A5 4, A2 reached only → 2/3
        step('ai_configuration', 3, 2, 0, 66.67, [5, 4], 0),
        // A1 5, A2 10, A5 4, A9 5 → 4 [5 5] 10
        step('knowledge_base', 4, 4, 0, 100, [5, 10, 4, 5], 0),
        // A1 5, A5 4, A9 reached and skipped
        step('payment_setup', 3, 2, 1, 66.67, [5, 4], 0),
        // A1 5, A4 7, A5 current when paused (drop-off)
        step('team_management', 3, 2, 0, 66.67, [5, 7], 1),
        step('workflow_configuration', 1, 1, 0, 100, [5], 0),
        step('customer_portal', 1, 1, 0, 100, [5], 0),
        step('data_import', 1, 1, 0, 100, [5], 0),
        step('analytics_setup', 1, 1, 0, 100, [5], 0),
        ...AGENT_STEPS,
      ],
      milestones: [
        // ≥ 25 %: A1 100, A2 100 (completed with optional steps left), A3 100, A4 27, A5 55, A7 25, A9 36 (not A6 18, A8 13)
        { threshold: 25, reachedCount: 7 },
        // ≥ 50 %: A1, A2, A3, A5
        { threshold: 50, reachedCount: 4 },
        // a completed session is at 100 %, so its completion reaches every threshold left: A1, A2, A3
        { threshold: 75, reachedCount: 3 },
        { threshold: 100, reachedCount: 3 },
      ],
      window: { from: null, to: null },
      durationRelativeError: 0.01,
    });
  });

  it('filters by flow type: agent_welcome uses its own catalog, welcome included', async () => {
    expect(await ok('?type=agent_welcome')).toEqual({
      // A3 completed, A7 active, A8 abandoned
      totalSessions: 3,
      byStatus: { active: 1, paused: 0, completed: 1, abandoned: 1 },
      completionRate: 33.33,
      averageCompletionTime: 27,
      medianCompletionTime: approx(27),
      p90CompletionTime: approx(27),
      stepStatistics: [
        // A3 3, A7 2, A8 6 → 3
        step('welcome', 3, 3, 0, 100, [3, 2, 6], 0),
        ...AGENT_STEPS,
      ],
      // A3 all four; A7 (25 %) only the first
      milestones: [
        { threshold: 25, reachedCount: 2 },
        { threshold: 50, reachedCount: 1 },
        { threshold: 75, reachedCount: 1 },
        { threshold: 100, reachedCount: 1 },
      ],
      window: { from: null, to: null },
      durationRelativeError: 0.01,
    });
    const tenant = await ok('?type=tenant_setup');
    // A1 A2 A4 A5 A6 A9: 2 of 6 completed, (60 + 50) / 2 = 55
    expect(tenant).toMatchObject({
      totalSessions: 6,
      byStatus: { active: 1, paused: 2, completed: 2, abandoned: 1 },
      completionRate: 33.33,
      averageCompletionTime: 55,
      medianCompletionTime: approx(55),
    });
    expect(tenant.stepStatistics.map((s) => s.stepId)).toEqual(['welcome', ...ALL_TENANT_STEPS]);
    // tenant welcome minutes 5, 10, 7, 4, 20, 5 → 4 5 [5 7] 10 20 → 6
    expect(tenant.stepStatistics[0]).toEqual(step('welcome', 6, 6, 0, 100, [5, 10, 7, 4, 20, 5], 0));
  });

  it('filters on the start day: from inclusive, to exclusive, whole UTC days', async () => {
    // [Jan 6, Jan 9): A2, A3, A4, A5; A6 (Jan 9 09:00) and A7 (Jan 9 12:00) start on the `to` day → out.
    const window = await ok('?from=2026-01-06T00:00:00Z&to=2026-01-09T00:00:00Z');
    expect(window).toMatchObject({
      totalSessions: 4,
      byStatus: { active: 1, paused: 1, completed: 2, abandoned: 0 },
      // 2 / 4; (50 + 27) / 2 = 38.5
      completionRate: 50,
      averageCompletionTime: 38.5,
      medianCompletionTime: approx(38.5),
      // 25: A2 A3 A4 A5; 50: A2 A3 A5; 75 and 100: A2 A3 (both completed)
      milestones: [
        { threshold: 25, reachedCount: 4 },
        { threshold: 50, reachedCount: 3 },
        { threshold: 75, reachedCount: 2 },
        { threshold: 100, reachedCount: 2 },
      ],
      window: { from: '2026-01-06', to: '2026-01-09' },
    });
    // A2 skipped channel; A4 stopped on it (A2 completed, not a drop-off)
    expect(window.stepStatistics.find((s) => s.stepId === 'channel_configuration')).toEqual(step('channel_configuration', 3, 1, 1, 33.33, [4], 1));
    // Offsets other than Z mean the same instant: 01:00+01:00 = 00:00Z.
    expect(await ok('?from=2026-01-06T01:00:00%2B01:00&to=2026-01-09T00:00:00Z')).toEqual(window);
    // The analytics are per day: instants inside a day widen the window to whole days (from down, to up).
    // Jan 6 09:00 → Jan 6; Jan 9 09:00 → up to Jan 10, so A6 and A7 (Jan 9) now count (the row-based answer had 4).
    expect(await ok('?from=2026-01-06T09:00:00Z&to=2026-01-09T09:00:00Z')).toMatchObject({
      totalSessions: 6,
      byStatus: { active: 2, paused: 1, completed: 2, abandoned: 1 },
      window: { from: '2026-01-06', to: '2026-01-10' },
    });
    // Only `from`: A9 (Jan 12) alone; only `to`: A1 alone.
    expect(await ok('?from=2026-01-12T00:00:00Z')).toMatchObject({
      totalSessions: 1,
      byStatus: { active: 0, paused: 1, completed: 0, abandoned: 0 },
      averageCompletionTime: null,
      medianCompletionTime: null,
    });
    expect(await ok('?to=2026-01-06T00:00:00Z')).toMatchObject({
      totalSessions: 1,
      completionRate: 100,
      averageCompletionTime: 60,
      medianCompletionTime: approx(60),
    });
    // Filters combine: agent sessions in the window → A3 only.
    expect(await ok('?type=agent_welcome&from=2026-01-06T00:00:00Z&to=2026-01-09T00:00:00Z')).toMatchObject({
      totalSessions: 1,
      completionRate: 100,
      averageCompletionTime: 27,
    });
    // A window across a month boundary reads month and day rows: the same sessions as the whole history here.
    expect(await ok('?from=2025-12-15T00:00:00Z&to=2026-02-03T00:00:00Z')).toMatchObject({
      totalSessions: 9,
      window: { from: '2025-12-15', to: '2026-02-03' },
    });
  });

  it("never counts another tenant's sessions", async () => {
    const other = await statistics('', bearer({ userId: 'other-boss', tenantId: 't-other', roles: ['admin'] }));
    expect(other.statusCode).toBe(200);
    // B1 completed in 12 minutes (12 events after the start, 1 minute apart), B2 active.
    expect(StatisticsResponseSchema.parse(other.json())).toMatchObject({
      totalSessions: 2,
      byStatus: { active: 1, paused: 0, completed: 1, abandoned: 0 },
      completionRate: 50,
      averageCompletionTime: 12,
      medianCompletionTime: approx(12),
    });
    const empty = await statistics('', bearer({ userId: 'x', tenantId: 't-nobody', roles: ['admin'] }));
    expect(StatisticsResponseSchema.parse(empty.json())).toMatchObject({
      totalSessions: 0,
      completionRate: 0,
      averageCompletionTime: null,
      medianCompletionTime: null,
    });
    expect(
      StatisticsResponseSchema.parse(empty.json()).stepStatistics.every((s) => s.reachedCount === 0 && s.completionRate === 0 && s.medianMinutes === null),
    ).toBe(true);
  });

  it('rejects agents, a tenantId parameter, bad ranges and unknown types', async () => {
    const agent = await statistics('', bearer({ userId: 'u-A4', tenantId: 't-stats' }));
    expect(agent.statusCode).toBe(403);
    expect(agent.json()).toMatchObject({ statusCode: 403, code: 'AUTH_FORBIDDEN' });
    expect((await h.app.inject({ method: 'GET', url: '/onboarding/statistics' })).statusCode).toBe(401);

    for (const query of ['?tenantId=t-other', '?tenantId=t-stats', '?type=tenant_setup&tenantId=t-other']) {
      const res = await statistics(query);
      expect(res.statusCode, query).toBe(400);
      expect(res.json(), query).toMatchObject({ statusCode: 400, code: 'REQUEST_VALIDATION_FAILED' });
    }
    for (const query of ['?from=2026-01-09T00:00:00Z&to=2026-01-06T00:00:00Z', '?from=2026-01-06T00:00:00Z&to=2026-01-06T00:00:00Z']) {
      const res = await statistics(query);
      expect(res.statusCode, query).toBe(400);
      expect(res.json(), query).toMatchObject({ code: 'PROGRESS_STATISTICS_RANGE_INVALID' });
    }
    expect((await statistics('?from=yesterday')).statusCode).toBe(400);
    expect((await statistics('?type=everything')).statusCode).toBe(400);
  });
});

const get = (path: string, headers = admin) => h.app.inject({ method: 'GET', url: `/onboarding/statistics${path}`, headers });
const series = async (query: string) => {
  const res = await get(`/timeseries${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return StatisticsTimeseriesResponseSchema.parse(res.json());
};
const values = (r: { points: Array<{ value: number | null }> }) => r.points.map((p) => p.value);

describe('GET /onboarding/statistics/timeseries', () => {
  it('counts starts, completions and abandonments per day, on the day each happened', async () => {
    // Start days: A1 Jan 5, A2 A3 Jan 6, A4 Jan 7, A5 Jan 8, A6 A7 Jan 9, A8 Jan 10, A9 Jan 12.
    const starts = await series('?metric=starts&interval=day&from=2026-01-05T00:00:00Z&to=2026-01-13T00:00:00Z');
    expect(starts).toMatchObject({ metric: 'starts', interval: 'day', unit: 'sessions', type: null, from: '2026-01-05', to: '2026-01-13' });
    expect(starts.points.map((p) => p.start)).toEqual([
      '2026-01-05',
      '2026-01-06',
      '2026-01-07',
      '2026-01-08',
      '2026-01-09',
      '2026-01-10',
      '2026-01-11',
      '2026-01-12',
    ]);
    expect(values(starts)).toEqual([1, 2, 1, 1, 2, 1, 0, 1]);
    // A1 completed Jan 5 10:00, A2 Jan 6 09:50, A3 Jan 6 14:27.
    expect(values(await series('?metric=completions&from=2026-01-05T00:00:00Z&to=2026-01-08T00:00:00Z'))).toEqual([1, 2, 0]);
    // A6 abandoned a week after its last step (Jan 16), A8 too (Jan 17); on their start days they are not abandonments.
    expect(values(await series('?metric=abandonments&from=2026-01-09T00:00:00Z&to=2026-01-19T00:00:00Z'))).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 1, 0]);
    // Filters: agent sessions only (A3 Jan 6, A7 Jan 9, A8 Jan 10).
    expect(values(await series('?metric=starts&type=agent_welcome&from=2026-01-05T00:00:00Z&to=2026-01-11T00:00:00Z'))).toEqual([0, 1, 0, 0, 1, 1]);
  });

  it('gives weekly rates and medians of the sessions started each week (weeks start on Monday)', async () => {
    // The window widens to whole weeks: Mon Jan 5 .. Sun Jan 18.
    const weekly = await series('?metric=starts&interval=week&from=2026-01-07T00:00:00Z&to=2026-01-14T00:00:00Z');
    expect(weekly).toMatchObject({
      from: '2026-01-05',
      to: '2026-01-19',
      points: [
        { start: '2026-01-05', value: 8, sessions: 8 },
        { start: '2026-01-12', value: 1, sessions: 1 },
      ],
    });
    // Week of Jan 5: A1 A2 A3 completed of 8 → 37.5 %; week of Jan 12: A9, not completed.
    const rate = await series('?metric=completion_rate&interval=week&from=2026-01-05T00:00:00Z&to=2026-01-19T00:00:00Z');
    expect(rate).toMatchObject({
      unit: 'percent',
      points: [
        { value: 37.5, sessions: 8 },
        { value: 0, sessions: 1 },
      ],
    });
    const median = await series('?metric=median_time_to_complete&interval=week&from=2026-01-05T00:00:00Z&to=2026-01-19T00:00:00Z');
    expect(median).toMatchObject({
      unit: 'minutes',
      points: [
        { value: approx(50), sessions: 3 },
        { value: null, sessions: 0 },
      ],
    });
    // No start in the interval: no rate (null), not 0 %.
    expect(values(await series('?metric=completion_rate&from=2026-01-11T00:00:00Z&to=2026-01-12T00:00:00Z'))).toEqual([null]);
  });

  it('defaults to the last 30 days and refuses bad metrics, ranges and too many points', async () => {
    const recent = await series('?metric=starts');
    expect(recent.points).toHaveLength(30);
    for (const [query, code] of [
      ['', 'REQUEST_VALIDATION_FAILED'],
      ['?metric=revenue', 'REQUEST_VALIDATION_FAILED'],
      ['?metric=starts&interval=month', 'REQUEST_VALIDATION_FAILED'],
      ['?metric=starts&tenantId=t-other', 'REQUEST_VALIDATION_FAILED'],
      ['?metric=starts&from=2026-01-09T00:00:00Z&to=2026-01-06T00:00:00Z', 'PROGRESS_STATISTICS_RANGE_INVALID'],
      ['?metric=starts&from=2024-01-01T00:00:00Z&to=2026-01-06T00:00:00Z', 'PROGRESS_STATISTICS_RANGE_TOO_LONG'],
    ]) {
      const res = await get(`/timeseries${query}`);
      expect(res.statusCode, query).toBe(400);
      expect(res.json(), query).toMatchObject({ statusCode: 400, code });
    }
    // Two years by week fit.
    expect((await get('/timeseries?metric=starts&interval=week&from=2024-01-01T00:00:00Z&to=2026-01-06T00:00:00Z')).statusCode).toBe(200);
  });
});

describe('GET /onboarding/statistics/cohorts', () => {
  it('gives each start week its size and completion curve', async () => {
    const res = await get('/cohorts?from=2026-01-05T00:00:00Z&to=2026-01-19T00:00:00Z');
    expect(res.statusCode, res.body).toBe(200);
    const body = StatisticsCohortsResponseSchema.parse(res.json());
    const weeksSince = (day: string) => Math.min(12, Math.floor((Date.now() - Date.parse(`${day}T00:00:00Z`)) / (7 * 86_400_000)));
    expect(body).toEqual({
      type: null,
      from: '2026-01-05',
      to: '2026-01-19',
      cohorts: [
        // A1..A8; A1 A2 A3 completed within their first week.
        {
          weekStart: '2026-01-05',
          sessions: 8,
          completed: 3,
          curve: Array.from({ length: weeksSince('2026-01-05') }, (_, i) => ({ week: i + 1, completed: 3, share: 37.5 })),
        },
        {
          weekStart: '2026-01-12',
          sessions: 1,
          completed: 0,
          curve: Array.from({ length: weeksSince('2026-01-12') }, (_, i) => ({ week: i + 1, completed: 0, share: 0 })),
        },
      ],
    });
    const agents = StatisticsCohortsResponseSchema.parse((await get('/cohorts?type=agent_welcome&from=2026-01-05T00:00:00Z&to=2026-01-12T00:00:00Z')).json());
    // A3 (completed), A7, A8.
    expect(agents.cohorts).toMatchObject([{ weekStart: '2026-01-05', sessions: 3, completed: 1 }]);
  });
});

describe('GET /onboarding/statistics/export', () => {
  it('streams one CSV row per session of the tenant (RFC 4180, header row), oldest first, no step data', async () => {
    const res = await get('/export?format=csv');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="onboarding-sessions-\d{4}-\d{2}-\d{2}\.csv"$/);
    const rows = parse(res.body, { columns: true }) as Array<Record<string, string>>;
    expect(rows.map((r) => r.sessionId)).toEqual(['A1', 'A2', 'A3', 'A4', 'A5', 'A6', 'A7', 'A8', 'A9']);
    expect(Object.keys(rows[0]!)).toEqual([
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
    ]);
    // A1: all 11 steps in 60 minutes; A9 paused with 3 done (welcome, org, kb) and payment skipped.
    expect(rows[0]).toEqual({
      sessionId: 'A1',
      userId: 'u-A1',
      type: 'tenant_setup',
      status: 'completed',
      startedAt: '2026-01-05T09:00:00.000Z',
      completedAt: '2026-01-05T10:00:00.000Z',
      durationMinutes: '60',
      stepsCompleted: '11',
      stepsSkipped: '0',
      flowVersion: '1',
    });
    expect(rows[8]).toMatchObject({ sessionId: 'A9', status: 'paused', completedAt: '', durationMinutes: '', stepsCompleted: '3', stepsSkipped: '1' });
    expect(res.body).not.toMatch(/B1|B2|t-other/);
    expect(res.body.split('\r\n').at(-1)).toBe('');
  });

  it('streams NDJSON with the same rows, filtered by type and exact start instants', async () => {
    const res = await get('/export?format=ndjson&from=2026-01-06T09:00:00Z&to=2026-01-09T09:00:00Z');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    const lines = res.body
      .trimEnd()
      .split('\n')
      .map((l) => StatisticsExportRowSchema.parse(JSON.parse(l)));
    // Exact instants here (rows, not day counts): A2 at `from` in, A6 at `to` out.
    expect(lines.map((r) => r.sessionId)).toEqual(['A2', 'A3', 'A4', 'A5']);
    expect(lines[1]).toEqual({
      sessionId: 'A3',
      userId: 'u-A3',
      type: 'agent_welcome',
      status: 'completed',
      startedAt: '2026-01-06T14:00:00.000Z',
      completedAt: '2026-01-06T14:27:00.000Z',
      durationMinutes: 27,
      stepsCompleted: 8,
      stepsSkipped: 0,
      flowVersion: 1,
    });
    const agents = await get('/export?format=ndjson&type=agent_welcome');
    expect(
      agents.body
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { sessionId: string }).sessionId),
    ).toEqual(['A3', 'A7', 'A8']);
    const none = await get('/export?format=csv&from=2030-01-01T00:00:00Z');
    expect(none.body).toBe('sessionId,userId,type,status,startedAt,completedAt,durationMinutes,stepsCompleted,stepsSkipped,flowVersion\r\n');
  });

  it('pages on (start, session id) without skipping or repeating a row', async () => {
    const all: string[] = [];
    for await (const row of h.app.statisticsRepository.exportRows({ tenantId: 't-stats' }, 2)) all.push(row.sessionId);
    expect(all).toEqual(['A1', 'A2', 'A3', 'A4', 'A5', 'A6', 'A7', 'A8', 'A9']);
  });
});

describe('the analytics routes', () => {
  it('are for admins of their own tenant only', async () => {
    const agent = bearer({ userId: 'u-A4', tenantId: 't-stats' });
    for (const path of ['/timeseries?metric=starts', '/cohorts', '/export?format=csv']) {
      expect((await get(path, agent)).statusCode, path).toBe(403);
      expect((await h.app.inject({ method: 'GET', url: `/onboarding/statistics${path}` })).statusCode, path).toBe(401);
      expect((await get(`${path}${path.includes('?') ? '&' : '?'}tenantId=t-other`)).statusCode, path).toBe(400);
    }
    const other = bearer({ userId: 'other-boss', tenantId: 't-other', roles: ['admin'] });
    const theirs = await get('/export?format=ndjson', other);
    expect(
      theirs.body
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { sessionId: string }).sessionId),
    ).toEqual(['B1', 'B2']);
    expect(
      values(
        StatisticsTimeseriesResponseSchema.parse((await get('/timeseries?metric=starts&from=2026-01-05T00:00:00Z&to=2026-01-08T00:00:00Z', other)).json()),
      ),
    ).toEqual([0, 1, 1]);
  });
});

describe('audit of statistics reads', () => {
  it('each admin read and export of the analytics is one audit record in the progress outbox, published to the audit stream', async () => {
    const { readStream } = await import('@glavito/testkit');
    const admin = { userId: 'auditor-admin', tenantId: 'tenant-audited', roles: ['admin'] };
    expect((await h.app.inject({ method: 'GET', url: '/onboarding/statistics?type=tenant_setup', headers: bearer(admin) })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: '/onboarding/statistics/export?format=csv', headers: bearer(admin) })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: '/onboarding/statistics', headers: bearer({ ...admin, roles: ['agent'] }) })).statusCode).toBe(403);
    const mine = await waitFor(async () => {
      const all = (await readStream(h.nats, h.nats.auditStream)).map(
        (m) => m.event as unknown as { tenantId: string; action: string; actor: { subject: string }; details: Record<string, unknown> },
      );
      const own = all.filter((e) => e.tenantId === 'tenant-audited');
      return own.length >= 2 ? own : null;
    });
    expect(mine.map((e) => [e.action, e.actor.subject, e.details])).toEqual([
      ['statistics.read', 'auditor-admin', { type: 'tenant_setup' }],
      ['statistics.export', 'auditor-admin', { format: 'csv' }],
    ]);
  });
});
