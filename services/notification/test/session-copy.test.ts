import type { EventEnvelope } from '@glavito/contracts';
import type { Pool } from '@glavito/db';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applySessionEventOnDefaultRules, applySessionEventsOnDefaultRules, rounds } from '../src/repositories/session-copy.js';
import { applied, putOwnPolicy, sessionEvents, startHarness, type Harness } from './helpers.js';

/**
 * The one-statement session copy (tenants on the default rules) must leave exactly what the general
 * transaction leaves: the same event sequences are applied to one tenant through each path and the rows compared.
 */
describe('session copy on the default rules (one statement)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  }, 120_000);
  afterAll(async () => h?.close());

  /** A session's life with every kind of change: start, steps, a re-save, pause, resume, an annotation, a completion. */
  function life(tenantId: string, sessionId: string, userId: string): EventEnvelope[] {
    const s = sessionEvents({ tenantId, sessionId, userId });
    return [
      s.started('2026-01-14T08:00:00Z'),
      s.step('2026-01-14T08:10:00Z', 'organization_setup'),
      s.step('2026-01-14T08:20:00Z', 'team_setup', { notificationPreferences: { email: false, push: true } }),
      s.status('2026-01-14T08:30:00Z', 'paused'),
      s.status('2026-01-14T09:00:00Z', 'resumed'),
      s.step('2026-01-14T09:05:00Z', 'channels_setup'),
      s.status('2026-01-14T09:30:00Z', 'completed'),
    ];
  }

  const rowsOf = async (tenantId: string) => {
    const q = async (sql: string) => (await h.sql.query(sql, [tenantId])).rows;
    return {
      recipients: await q('SELECT user_id, is_admin, preferences FROM notification.recipients WHERE tenant_id = $1 ORDER BY user_id'),
      sessions: await q(
        `SELECT split_part(session_id, '-', 2) AS s, type, status, completed_steps, skipped_steps, current_step, last_activity_at, last_seq FROM notification.sessions WHERE tenant_id = $1 ORDER BY 1`,
      ),
      reminders: await q(
        `SELECT split_part(session_id, '-', 2) AS s, ordinal, activity_at, base_at, due_at, state FROM notification.reminders WHERE tenant_id = $1 ORDER BY 1, activity_at, ordinal`,
      ),
    };
  };

  it('writes what the general path writes, event by event, and once per event id', async () => {
    const repo = h.app.notificationRepo;
    for (let cut = 1; cut <= 7; cut++) {
      const fast = life('t-fast', `fast-${cut}`, `u-${cut}`).slice(0, cut);
      const general = life('t-general', `general-${cut}`, `u-${cut}`).slice(0, cut);
      for (const e of fast) expect(await applySessionEventOnDefaultRules(h.app.pool, e)).toBe('applied');
      for (const e of general) await repo.applySessionEvent(e);
      // A redelivery changes nothing.
      expect(await applySessionEventOnDefaultRules(h.app.pool, fast.at(-1)!)).toBe('duplicate');
    }
    const a = await rowsOf('t-fast');
    const b = await rowsOf('t-general');
    expect(a.reminders.length).toBeGreaterThan(0);
    expect(a.reminders.some((r) => r.state === 'cancelled') && a.reminders.some((r) => r.state === 'scheduled')).toBe(true);
    expect(a).toEqual(b);
  });

  it('keeps the reminder the start planned when the next activity shares its instant (welcome completed on start), and one row per session however many activities', async () => {
    const repo = h.app.notificationRepo;
    const walk = (tenantId: string, sessionId: string) => {
      const s = sessionEvents({ tenantId, sessionId, userId: 'u' });
      // The session service builds the start and welcome's completion in the same millisecond.
      return [
        s.started('2026-01-14T08:00:00Z'),
        s.step('2026-01-14T08:00:00Z', 'welcome'),
        ...Array.from({ length: 20 }, (_, i) => s.step(`2026-01-14T08:${String(i + 1).padStart(2, '0')}:00Z`, 'organization_setup')),
      ];
    };
    const scheduledAfter = async (tenantId: string) =>
      (await h.sql.query(`SELECT state, activity_at FROM notification.reminders WHERE tenant_id = $1`, [tenantId])).rows.map((r) => ({
        state: r.state as string,
        at: new Date(r.activity_at as string).toISOString(),
      }));
    const fast = walk('t-instant-fast', 'instant-fast');
    const general = walk('t-instant-general', 'instant-general');
    for (const e of fast.slice(0, 2)) await applySessionEventOnDefaultRules(h.app.pool, e);
    for (const e of general.slice(0, 2)) await repo.applySessionEvent(e);
    for (const t of ['t-instant-fast', 't-instant-general']) expect(await scheduledAfter(t)).toEqual([{ state: 'scheduled', at: '2026-01-14T08:00:00.000Z' }]);
    expect(await applySessionEventsOnDefaultRules(h.app.pool, fast.slice(2))).toEqual(fast.slice(2).map(() => 'applied'));
    for (const e of general.slice(2)) await repo.applySessionEvent(e);
    for (const t of ['t-instant-fast', 't-instant-general']) expect(await scheduledAfter(t)).toEqual([{ state: 'scheduled', at: '2026-01-14T08:20:00.000Z' }]);
  });

  it('a batch (several sessions, one user with two, every event of each life) writes what the general path writes', async () => {
    const repo = h.app.notificationRepo;
    // Interleaved as a stream would carry them: session k's i-th event after every session's (i-1)-th.
    const lives = (tenant: string) => [life(tenant, `${tenant}-a`, 'u-1'), life(tenant, `${tenant}-b`, 'u-1'), life(tenant, `${tenant}-c`, 'u-2')];
    const interleave = (ls: EventEnvelope[][]) => ls[0]!.flatMap((_, i) => ls.map((l) => l[i]!));
    const batch = interleave(lives('t-batch'));
    expect(rounds(batch).length).toBe(14); // two sessions of u-1: one of them per round, each session's events in order
    const policyEvent = life('t-policy-b', 'p-1', 'u')[0]!;
    await putOwnPolicy(h, 't-policy-b', 'admin');
    const results = await applySessionEventsOnDefaultRules(h.app.pool, [...batch, policyEvent]);
    expect(results).toEqual([...batch.map(() => 'applied'), 'general']);
    for (const e of interleave(lives('t-batch-general'))) await repo.applySessionEvent(e);
    expect(await rowsOf('t-batch')).toEqual(await rowsOf('t-batch-general'));
    // Redelivered as a batch: each one a duplicate, nothing changes.
    const before = await rowsOf('t-batch');
    expect(await applySessionEventsOnDefaultRules(h.app.pool, batch.slice(3, 9))).toEqual(batch.slice(3, 9).map(() => 'duplicate'));
    expect(await rowsOf('t-batch')).toEqual(before);
  });

  it('writes nothing for a tenant with its own policy or business hours (the general path runs instead)', async () => {
    await putOwnPolicy(h, 't-policy', 'admin');
    await h.sql.query(`INSERT INTO notification.tenants (tenant_id, business_hours, business_hours_version) VALUES ('t-hours', $1, 1)`, [
      // Only its presence matters here (the fast path writes nothing for such a tenant).
      JSON.stringify({ timezone: 'Europe/Paris', schedule: {}, holidays: [] }),
    ]);
    for (const tenant of ['t-policy', 't-hours']) {
      const [started] = life(tenant, `x-${tenant}`, 'u');
      expect(await applySessionEventOnDefaultRules(h.app.pool, started!)).toBe('general');
      const { rows } = await h.sql.query('SELECT count(*)::int AS n FROM notification.inbox WHERE event_id = $1', [started!.id]);
      expect(rows[0]!.n).toBe(0);
      expect((await rowsOf(tenant)).sessions).toEqual([]);
    }
  });

  it('the consumer applies a default-rules tenant event and a custom-policy tenant event alike', async () => {
    const events = [...life('t-consumer', 'c-1', 'u').slice(0, 3), ...life('t-policy', 'c-2', 'u').slice(0, 3)];
    await h.publish(events);
    await applied(h, events);
    const { rows } = await h.sql.query(
      `SELECT session_id, state, due_at FROM notification.reminders WHERE session_id IN ('c-1', 'c-2') AND state = 'scheduled' ORDER BY 1`,
    );
    expect(rows.map((r) => [r.session_id, new Date(r.due_at).toISOString()])).toEqual([
      ['c-1', '2026-01-14T16:20:00.000Z'], // default: 480 minutes after the last activity
      ['c-2', '2026-01-14T09:20:00.000Z'], // the tenant's policy: 60 minutes
    ]);
  });
});

describe('session copy on the default rules: its cost as sessions grow', () => {
  // A harness (and database) of its own, not the one above: the connection below must first meet empty tables.
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  }, 120_000);
  afterAll(async () => h?.close());

  it('reads only the planned reminders of the batch, however many sessions have one, on a connection first used while the tables were empty', async () => {
    // One connection, as a service's pool connection lives: a plan Postgres cached on it (after five calls) was made
    // from near-empty tables and scanned every planned reminder of every session on each later call.
    const pool = new pg.Pool({ connectionString: h.config.DATABASE_URL, max: 1 });
    try {
      const s = sessionEvents({ tenantId: 't-growth', sessionId: 'growth-1', userId: 'u-growth' });
      const steps = ['organization_setup', 'team_setup', 'channels_setup', 'ai_configuration', 'knowledge_base', 'branding', 'integrations'];
      expect(await applySessionEventsOnDefaultRules(pool as unknown as Pool, [s.started('2026-01-14T08:00:00Z')])).toEqual(['applied']);
      for (const [i, step] of steps.slice(0, 6).entries())
        expect(await applySessionEventsOnDefaultRules(pool as unknown as Pool, [s.step(`2026-01-14T08:0${i + 1}:00Z`, step)])).toEqual(['applied']);
      // 3,000 more active sessions of other tenants, each with its planned reminder.
      await h.sql.query(
        `INSERT INTO notification.sessions (session_id, tenant_id, user_id, type, status, completed_steps, skipped_steps, current_step, last_activity_at, last_seq)
         SELECT 'other-' || i, 't-other-' || i, 'u-other-' || i, 'tenant_setup', 'active', '{welcome}', '{}', 'organization_setup', '2026-01-14T07:00:00Z', 1
         FROM generate_series(1, 3000) AS i`,
      );
      await h.sql.query(
        `INSERT INTO notification.reminders (id, session_id, tenant_id, user_id, ordinal, activity_at, base_at, due_at, state)
         SELECT gen_random_uuid(), 'other-' || i, 't-other-' || i, 'u-other-' || i, 1, '2026-01-14T07:00:00Z', '2026-01-14T07:00:00Z', '2026-01-14T15:00:00Z', 'scheduled'
         FROM generate_series(1, 3000) AS i`,
      );
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const next = s.step('2026-01-14T08:10:00Z', steps[6]!);
        expect(await applySessionEventsOnDefaultRules(client as unknown as Pool, [next])).toEqual(['applied']);
        // This transaction's own reads of the table (counted before they are reported to the statistics).
        const { rows } = await client.query<{ read: string }>(
          `SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) AS read FROM pg_stat_xact_user_tables WHERE relid = 'notification.reminders'::regclass`,
        );
        // A few rows of its own session (and the planner's probes), not the 3,000 others (6,014 with a plan cached on the empty tables).
        expect(Number(rows[0]!.read)).toBeLessThan(100);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      // The superseded reminder went, the new one is planned.
      const { rows } = await h.sql.query(`SELECT activity_at FROM notification.reminders WHERE session_id = 'growth-1' AND state = 'scheduled'`);
      expect(rows.map((r) => (r.activity_at as Date).toISOString())).toEqual(['2026-01-14T08:10:00.000Z']);
    } finally {
      await pool.end();
    }
  });
});
