import { randomUUID } from 'node:crypto';
import type { EventEnvelope } from '@glavito/contracts';
import type { Pool } from '@glavito/db';
import { DEFAULT_POLICY } from '../domain/policy.js';

/** The same set as notification-repository's ACTIVITY (not exported there): the user doing something. */
const ACTIVITY = new Set(['session.started', 'session.resumed', 'step.updated', 'step.completed', 'step.skipped', 'step.validation_failed']);

export type SessionCopyResult = 'applied' | 'duplicate' | 'general';

/** One event as a row of the statement's input (jsonb_to_recordset). */
function inputRow(e: EventEnvelope) {
  const data = e.data as {
    sessionType?: string;
    status?: string;
    completedSteps?: string[];
    skippedSteps?: string[];
    currentStep?: string | null;
    role?: string;
    notificationPreferences?: unknown;
  };
  return {
    event_id: e.id,
    session_id: e.sessionId,
    tenant_id: e.tenantId,
    user_id: e.userId,
    session_type: data.sessionType ?? null,
    status: data.status ?? null,
    completed: data.completedSteps ?? null,
    skipped: data.skippedSteps ?? null,
    current_step: data.currentStep ?? null,
    occurred_at: new Date(e.occurredAt).toISOString(),
    seq: e.sessionSeq,
    snapshot: data.status !== undefined && data.sessionType !== undefined,
    activity: ACTIVITY.has(e.type),
    is_admin: e.type === 'session.started' && data.role === 'tenant_admin',
    prefs: data.notificationPreferences ?? null,
    reminder_id: randomUUID(),
  };
}

/**
 * Splits events into rounds that one statement can take: at most one event per session and per recipient
 * (tenant, user) in a round (an upsert may not touch a row twice), each session's events in their order.
 */
export function rounds(events: EventEnvelope[]): EventEnvelope[][] {
  const out: Array<{ events: EventEnvelope[]; keys: Set<string> }> = [];
  /** The round after which each key's next event may go. */
  const nextRound = new Map<string, number>();
  for (const e of events) {
    const keys = [`s:${e.sessionId}`, `r:${e.tenantId}\u0000${e.userId}`];
    const at = Math.max(...keys.map((k) => nextRound.get(k) ?? 0));
    (out[at] ??= { events: [], keys: new Set() }).events.push(e);
    for (const k of keys) nextRound.set(k, at + 1);
  }
  return out.map((r) => r.events);
}

/**
 * The session copy of session and step events of tenants on the default rules (no reminder policy and no
 * business hours of their own: the usual case), many events in ONE statement: inbox, recipient, session copy,
 * the planned reminder cancelled (pause, completion) or superseded (activity that moves the last activity on: it
 * is deleted, as in the general path) and the next one planned (`DEFAULT_POLICY`, counted in plain minutes as
 * `addBusinessTime` does without hours). The general path (`applySessionEvent`) takes eight round trips per
 * event (BEGIN, six statements, COMMIT); these events reach the service on every save, so that was the largest
 * per-save cost in the whole system (bench/RESULTS.md §3). The consumer hands a batch of them at once.
 *
 * Every write is gated on the event's tenant still having the default rules, read in the same statement (one
 * snapshot). For each event, in the order given: `'general'` (another tenant: nothing was written, the caller
 * runs the general path), `'duplicate'` (its id was already in the inbox) or `'applied'`.
 */
export async function applySessionEventsOnDefaultRules(pool: Pool, events: EventEnvelope[]): Promise<SessionCopyResult[]> {
  if (!Number.isInteger(DEFAULT_POLICY.inactivityMinutes)) return events.map(() => 'general');
  const results = new Map<string, SessionCopyResult>();
  for (const round of rounds(events)) {
    // Not a prepared statement: Postgres plans it for each call, from the tables as they are. The plan a connection
    // cached (generic, after five calls) kept the join order chosen while the tables were near empty: it read every
    // planned reminder of every session to cancel or supersede a batch's few, costing more as sessions grew (2.4 ms a
    // call at 1,000 sessions against ~1 ms planned afresh) until an ANALYZE made Postgres plan again. Where statistics
    // are fresh, planning each call costs ~20 % more than a good cached plan (bench/RESULTS.md §12).
    const { rows } = await pool.query<{ event_id: string; default_rules: boolean; fresh: boolean }>({
      text: `WITH ev AS (
           SELECT * FROM jsonb_to_recordset($1::jsonb) AS e(event_id uuid, session_id text, tenant_id text, user_id text, session_type text,
             status text, completed text[], skipped text[], current_step text, occurred_at timestamptz, seq int, snapshot boolean,
             activity boolean, is_admin boolean, prefs jsonb, reminder_id uuid)),
         rules AS (
           SELECT ev.* FROM ev WHERE NOT EXISTS (SELECT 1 FROM notification.policies p WHERE p.tenant_id = ev.tenant_id)
             AND (SELECT t.business_hours FROM notification.tenants t WHERE t.tenant_id = ev.tenant_id) IS NULL),
         i AS (INSERT INTO notification.inbox (event_id) SELECT event_id FROM rules ON CONFLICT DO NOTHING RETURNING event_id),
         f AS (SELECT rules.* FROM rules JOIN i USING (event_id)),
         r AS (INSERT INTO notification.recipients (tenant_id, user_id, is_admin, preferences) SELECT tenant_id, user_id, is_admin, prefs FROM f
               ON CONFLICT (tenant_id, user_id) DO UPDATE SET is_admin = notification.recipients.is_admin OR EXCLUDED.is_admin,
                 preferences = COALESCE(EXCLUDED.preferences, notification.recipients.preferences)
               -- Most events change neither: no new row version (and its WAL) for those.
               WHERE (EXCLUDED.is_admin AND NOT notification.recipients.is_admin)
                 OR (EXCLUDED.preferences IS NOT NULL AND EXCLUDED.preferences IS DISTINCT FROM notification.recipients.preferences)),
         s AS (INSERT INTO notification.sessions AS s (session_id, tenant_id, user_id, type, status, completed_steps, skipped_steps, current_step, last_activity_at, last_seq)
               SELECT session_id, tenant_id, user_id, COALESCE(session_type, 'tenant_setup'), COALESCE(status, 'active'), COALESCE(completed, '{}'),
                 COALESCE(skipped, '{}'), current_step, occurred_at, seq
               FROM f WHERE snapshot OR activity
               ON CONFLICT (session_id) DO UPDATE SET
                 -- One look-up of the session's event in f for all six columns: a sub-select per column made the statement ~20 %
                 -- slower to plan and to run (1,000 sessions, batches of 4). f holds exactly one event per session (rounds).
                 (type, status, completed_steps, skipped_steps, current_step, last_activity_at) = (
                   SELECT COALESCE(x.session_type, s.type), COALESCE(x.status, s.status), COALESCE(x.completed, s.completed_steps),
                     COALESCE(x.skipped, s.skipped_steps), CASE WHEN x.snapshot THEN EXCLUDED.current_step ELSE s.current_step END,
                     CASE WHEN x.activity THEN GREATEST(s.last_activity_at, EXCLUDED.last_activity_at) ELSE s.last_activity_at END
                   FROM f x WHERE x.session_id = s.session_id),
                 last_seq = EXCLUDED.last_seq
               WHERE s.last_seq < EXCLUDED.last_seq
               RETURNING s.session_id, s.status, s.last_activity_at),
         c AS (UPDATE notification.reminders rm SET state = 'cancelled' FROM s
               WHERE rm.session_id = s.session_id AND rm.state = 'scheduled' AND s.status <> 'active'),
         d AS (DELETE FROM notification.reminders rm USING s JOIN f USING (session_id)
               WHERE rm.session_id = s.session_id AND rm.state = 'scheduled' AND f.activity AND s.status = 'active'
                 AND rm.activity_at < s.last_activity_at),
         m AS (INSERT INTO notification.reminders (id, session_id, tenant_id, user_id, ordinal, activity_at, base_at, due_at, state)
               SELECT f.reminder_id, s.session_id, f.tenant_id, f.user_id, 1, s.last_activity_at, s.last_activity_at,
                 s.last_activity_at + make_interval(mins => $2::int), 'scheduled'
               FROM s JOIN f USING (session_id) WHERE f.activity AND $3::boolean AND s.status = 'active'
               ON CONFLICT (session_id, activity_at, ordinal) DO NOTHING)
         SELECT ev.event_id, rules.event_id IS NOT NULL AS default_rules, i.event_id IS NOT NULL AS fresh
         FROM ev LEFT JOIN rules USING (event_id) LEFT JOIN i USING (event_id)`,
      values: [JSON.stringify(round.map(inputRow)), DEFAULT_POLICY.inactivityMinutes, DEFAULT_POLICY.enabled && DEFAULT_POLICY.maxReminders >= 1],
    });
    for (const row of rows) results.set(row.event_id, !row.default_rules ? 'general' : row.fresh ? 'applied' : 'duplicate');
  }
  return events.map((e) => results.get(e.id) ?? 'general');
}

/** One event's session copy on the default rules (see applySessionEventsOnDefaultRules). */
export async function applySessionEventOnDefaultRules(pool: Pool, e: EventEnvelope): Promise<SessionCopyResult> {
  return (await applySessionEventsOnDefaultRules(pool, [e]))[0]!;
}
