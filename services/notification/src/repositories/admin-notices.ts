import { randomUUID } from 'node:crypto';
import { buildEnvelope } from '@glavito/bus';
import { outboxInsertSql, type OutboxRow, toOutboxRow } from '@glavito/outbox';
import { NotificationLanguageSchema, type EventEnvelope, type Notification, type NotificationLanguage, type OnboardingType } from '@glavito/contracts';
import { prepared, type Pool } from '@glavito/db';
import { DEFAULT_POLICY } from '../domain/policy.js';

export interface AdminNoticeOptions {
  subjectPrefix: string;
  /** The outbox relay's direct publish of rows just committed. */
  publishCommitted: (rows: OutboxRow[]) => void;
}

const language = (l: string | null | undefined): NotificationLanguage => NotificationLanguageSchema.safeParse(l).data ?? 'en';

/**
 * A milestone's or a completion's in-app notices to the tenant's admins, for a tenant on the default rules (no
 * policy row: the default notifies admins in-app and emails nobody), in two round trips: one read, then one
 * guarded statement (session's notice sequence, inbox, notices, their notification.created outbox rows). The
 * general path (`notifyAdmins`) takes about nine (BEGIN, inbox, rules, admins, session type, a notice and a
 * sequence number per admin, outbox, COMMIT); a session walking its flow reaches a milestone every few saves,
 * so that was the largest per-save cost left in this service (bench/RESULTS.md §3).
 *
 * The write happens only if the tenant still has no policy and the session's notice sequence is still where
 * the read found it (so the notices get consecutive numbers, as the general path gives them); otherwise nothing
 * is written and `'general'` is returned, for the caller to run the general path. `'duplicate'`: the event was
 * already applied. Admins are notified in user id order.
 */
export async function notifyAdminsOnDefaultRules(
  pool: Pool,
  e: EventEnvelope,
  kind: 'milestone' | 'completion',
  text: (lang: NotificationLanguage) => { title: string; body: string },
  opts: AdminNoticeOptions,
): Promise<'applied' | 'duplicate' | 'general'> {
  const wanted = kind === 'milestone' ? DEFAULT_POLICY.adminNotifications.milestones : DEFAULT_POLICY.adminNotifications.completion;
  // Emails of notices are written by the general path only.
  if (!wanted || DEFAULT_POLICY.adminNotifications.email) return 'general';
  const { rows } = await pool.query<{
    has_policy: boolean;
    seen: boolean;
    session_type: OnboardingType | null;
    seq: number | null;
    admins: Array<{ user_id: string; language: string | null }>;
  }>(
    prepared(
      `SELECT EXISTS (SELECT 1 FROM notification.policies WHERE tenant_id = $1) AS has_policy,
         EXISTS (SELECT 1 FROM notification.inbox WHERE event_id = $3::uuid) AS seen,
         (SELECT type FROM notification.sessions WHERE session_id = $2) AS session_type,
         (SELECT seq FROM notification.event_seqs WHERE session_id = $2) AS seq,
         (SELECT coalesce(json_agg(json_build_object('user_id', user_id, 'language', language) ORDER BY user_id), '[]'::json)
            FROM notification.recipients WHERE tenant_id = $1 AND is_admin) AS admins`,
      [e.tenantId, e.sessionId, e.id],
    ),
  );
  const read = rows[0]!;
  if (read.has_policy) return 'general';
  if (read.seen) return 'duplicate';
  const sessionType = read.session_type ?? 'tenant_setup';
  const at = new Date(e.occurredAt).toISOString();
  const seqBefore = read.seq ?? 0;
  const notices = read.admins.map((a, i) => {
    const t = text(language(a.language));
    const id = randomUUID();
    const notification: Notification = { id, kind, sessionId: e.sessionId, sessionType, title: t.title, body: t.body, link: null, createdAt: at, readAt: null };
    const row = toOutboxRow(
      opts.subjectPrefix,
      buildEnvelope({
        type: 'notification.created',
        data: { notification },
        tenantId: e.tenantId,
        sessionId: e.sessionId,
        userId: a.user_id,
        sessionSeq: seqBefore + i + 1,
        correlationId: e.correlationId,
      } as never),
    );
    return { id, userId: a.user_id, title: t.title, body: t.body, dedupeKey: `${kind}:${e.id}:${a.user_id}`, row };
  });
  if (notices.length === 0) {
    const r = await pool.query(
      prepared(
        `INSERT INTO notification.inbox (event_id) SELECT $2::uuid WHERE NOT EXISTS (SELECT 1 FROM notification.policies WHERE tenant_id = $1) ON CONFLICT DO NOTHING RETURNING event_id`,
        [e.tenantId, e.id],
      ),
    );
    return r.rowCount ? 'applied' : 'general';
  }
  const { rows: done } = await pool.query<{ s: number; i: number }>(
    prepared(
      `WITH g AS (SELECT 1 AS ok WHERE NOT EXISTS (SELECT 1 FROM notification.policies WHERE tenant_id = $1)),
       s AS (INSERT INTO notification.event_seqs AS q (session_id, seq) SELECT $2, $4::int FROM g
             ON CONFLICT (session_id) DO UPDATE SET seq = EXCLUDED.seq WHERE q.seq = $5::int RETURNING seq),
       i AS (INSERT INTO notification.inbox (event_id) SELECT $3::uuid FROM s ON CONFLICT DO NOTHING RETURNING event_id),
       n AS (INSERT INTO notification.notifications (id, tenant_id, user_id, session_id, session_type, kind, title, body, link, steps_left, dedupe_key, created_at)
             SELECT x.id, $1, x.user_id, $2, $6, $7, x.title, x.body, NULL, NULL, x.dedupe_key, $8::timestamptz
             FROM i, unnest($9::uuid[], $10::text[], $11::text[], $12::text[], $13::text[]) AS x(id, user_id, title, body, dedupe_key)
             ON CONFLICT (dedupe_key) DO NOTHING),
       o AS (${outboxInsertSql('notification', ['$14', '$15', '$16'], { publishedBy: 'direct', after: 'i' })})
       SELECT (SELECT count(*)::int FROM s) AS s, (SELECT count(*)::int FROM i) AS i`,
      [
        e.tenantId,
        e.sessionId,
        e.id,
        seqBefore + notices.length,
        read.seq,
        sessionType,
        kind,
        at,
        notices.map((n) => n.id),
        notices.map((n) => n.userId),
        notices.map((n) => n.title),
        notices.map((n) => n.body),
        notices.map((n) => n.dedupeKey),
        notices.map((n) => n.row.id),
        notices.map((n) => n.row.subject),
        notices.map((n) => JSON.stringify(n.row.payload)),
      ],
    ),
  );
  const result = done[0]!;
  // A policy set, or another notice of the session numbered, since the read: nothing was written.
  if (result.s === 0) return 'general';
  // The same event applied concurrently by another replica (it took the inbox row first): its notices stand.
  // The sequence number taken here is then skipped; notification.created consumers do not order by it.
  if (result.i === 0) return 'duplicate';
  opts.publishCommitted(notices.map((n) => n.row));
  return 'applied';
}
