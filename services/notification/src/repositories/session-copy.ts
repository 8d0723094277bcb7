import { randomUUID } from 'node:crypto';
import type { EventEnvelope } from '@glavito/contracts';
import { prepared, type Pool } from '@glavito/db';
import { DEFAULT_POLICY } from '../domain/policy.js';

/** The same set as notification-repository's ACTIVITY (not exported there): the user doing something. */
const ACTIVITY = new Set(['session.started', 'session.resumed', 'step.updated', 'step.completed', 'step.skipped', 'step.validation_failed']);

/**
 * The session copy of a session or step event for a tenant on the default rules (no reminder policy and no
 * business hours of its own: the usual case), in ONE statement: inbox, recipient, session copy, cancelled
 * reminder and the next reminder planned (`DEFAULT_POLICY`, counted in plain minutes as `addBusinessTime`
 * does without hours). The general path (`applySessionEvent`) takes eight round trips (BEGIN, six
 * statements, COMMIT); this event reaches the service on every save, so that was the largest per-save cost
 * in the whole system (bench/RESULTS.md §3).
 *
 * Every write is gated on the tenant still having the default rules, read in the same statement (one
 * snapshot): for any other tenant nothing is written and `'general'` is returned, for the caller to run the
 * general path. Otherwise `'applied'` or `'duplicate'` (the event id was already in the inbox).
 */
export async function applySessionEventOnDefaultRules(pool: Pool, e: EventEnvelope): Promise<'applied' | 'duplicate' | 'general'> {
  const data = e.data as {
    sessionType?: string;
    status?: string;
    completedSteps?: string[];
    skippedSteps?: string[];
    currentStep?: string | null;
    role?: string;
    notificationPreferences?: unknown;
  };
  const isAdmin = e.type === 'session.started' && data.role === 'tenant_admin';
  const activity = ACTIVITY.has(e.type);
  const snapshot = data.status !== undefined && data.sessionType !== undefined;
  const plans = DEFAULT_POLICY.enabled && DEFAULT_POLICY.maxReminders >= 1;
  if (!Number.isInteger(DEFAULT_POLICY.inactivityMinutes)) return 'general';
  const { rows } = await pool.query<{ fresh: boolean | null }>(
    prepared(
      `WITH rules AS (
         SELECT 1 AS ok WHERE NOT EXISTS (SELECT 1 FROM notification.policies WHERE tenant_id = $2)
           AND (SELECT business_hours FROM notification.tenants WHERE tenant_id = $2) IS NULL),
       i AS (INSERT INTO notification.inbox (event_id) SELECT $13::uuid FROM rules ON CONFLICT DO NOTHING RETURNING event_id),
       r AS (INSERT INTO notification.recipients (tenant_id, user_id, is_admin, preferences) SELECT $2, $3, $14, $15::jsonb FROM i
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET is_admin = notification.recipients.is_admin OR EXCLUDED.is_admin,
               preferences = COALESCE(EXCLUDED.preferences, notification.recipients.preferences)),
       s AS (INSERT INTO notification.sessions AS s (session_id, tenant_id, user_id, type, status, completed_steps, skipped_steps, current_step, last_activity_at, last_seq)
             SELECT $1, $2, $3, COALESCE($4, 'tenant_setup'), COALESCE($5, 'active'), COALESCE($6::text[], '{}'), COALESCE($7::text[], '{}'), $8, $9::timestamptz, $10
             FROM i WHERE $11::boolean OR $12::boolean
             ON CONFLICT (session_id) DO UPDATE SET
               type = COALESCE($4, s.type), status = COALESCE($5, s.status), completed_steps = COALESCE($6::text[], s.completed_steps),
               skipped_steps = COALESCE($7::text[], s.skipped_steps), current_step = CASE WHEN $11 THEN $8 ELSE s.current_step END,
               last_activity_at = CASE WHEN $12 THEN GREATEST(s.last_activity_at, $9::timestamptz) ELSE s.last_activity_at END, last_seq = $10
             WHERE s.last_seq < $10
             RETURNING status, last_activity_at),
       c AS (UPDATE notification.reminders SET state = 'cancelled'
             WHERE session_id = $1 AND state = 'scheduled' AND EXISTS (SELECT 1 FROM s WHERE $12::boolean OR s.status <> 'active')),
       m AS (INSERT INTO notification.reminders (id, session_id, tenant_id, user_id, ordinal, activity_at, base_at, due_at, state)
             SELECT $16::uuid, $1, $2, $3, 1, s.last_activity_at, s.last_activity_at, s.last_activity_at + make_interval(mins => $17::int), 'scheduled'
             FROM s WHERE $12::boolean AND $18::boolean AND s.status = 'active'
             ON CONFLICT (session_id, activity_at, ordinal) DO NOTHING)
       SELECT (SELECT count(*) > 0 FROM i) AS fresh FROM rules`,
      [
        e.sessionId,
        e.tenantId,
        e.userId,
        data.sessionType ?? null,
        data.status ?? null,
        data.completedSteps ?? null,
        data.skippedSteps ?? null,
        data.currentStep ?? null,
        new Date(e.occurredAt).toISOString(),
        e.sessionSeq,
        snapshot,
        activity,
        e.id,
        isAdmin,
        data.notificationPreferences ? JSON.stringify(data.notificationPreferences) : null,
        randomUUID(),
        DEFAULT_POLICY.inactivityMinutes,
        plans,
      ],
    ),
  );
  const row = rows[0];
  if (!row) return 'general';
  return row.fresh ? 'applied' : 'duplicate';
}
