import { randomUUID } from 'node:crypto';
import { buildEnvelope } from '@glavito/bus';
import { outboxArrays, outboxInsertSql, type OutboxRow, toOutboxRow } from '@glavito/outbox';
import { NotificationLanguageSchema, type EventEnvelope, type Notification, type NotificationLanguage, type OnboardingType } from '@glavito/contracts';
import { prepared, type Pool } from '@glavito/db';
import { DEFAULT_POLICY } from '../domain/policy.js';

export interface AdminNoticeOptions {
  subjectPrefix: string;
  /** The outbox relay's direct publish of rows just committed. */
  publishCommitted: (rows: OutboxRow[]) => void;
}

const language = (l: string | null | undefined): NotificationLanguage => NotificationLanguageSchema.safeParse(l).data ?? 'en';

export interface NoticeRequest {
  event: EventEnvelope;
  kind: 'milestone' | 'completion';
  text: (lang: NotificationLanguage) => { title: string; body: string };
}

export type NoticeResult = 'applied' | 'duplicate' | 'general';

/**
 * A milestone's or a completion's in-app notices to the tenant's admins, for a tenant on the default rules (no
 * policy row: the default notifies admins in-app and emails nobody), in two round trips for many events: one
 * read, then one guarded statement (each session's notice sequence, inbox, notices, their notification.created
 * outbox rows). The general path (`notifyAdmins`) takes about nine per event (BEGIN, inbox, rules, admins, session
 * type, a notice and a sequence number per admin, outbox, COMMIT); a session walking its flow reaches a milestone
 * every few saves, so that was the largest per-save cost left in this service (bench/RESULTS.md §3).
 *
 * An event's notices are written only if its tenant still has no policy and its session's notice sequence is
 * still where the read found it (so the notices get consecutive numbers, as the general path gives them);
 * otherwise nothing is written for it and its result is `'general'`, for the caller to run the general path.
 * `'duplicate'`: the event was already applied. Admins are notified in user id order. Events of one session go
 * in separate rounds (its sequence is read once per round).
 */
export async function notifyAdminsOnDefaultRulesBatch(pool: Pool, requests: NoticeRequest[], opts: AdminNoticeOptions): Promise<NoticeResult[]> {
  const results = new Map<NoticeRequest, NoticeResult>();
  // Emails of notices are written by the general path only.
  const fast = requests.filter((r) => {
    const wanted = r.kind === 'milestone' ? DEFAULT_POLICY.adminNotifications.milestones : DEFAULT_POLICY.adminNotifications.completion;
    if (!wanted || DEFAULT_POLICY.adminNotifications.email) results.set(r, 'general');
    return !results.has(r);
  });
  const bySession = new Map<string, NoticeRequest[]>();
  for (const r of fast) bySession.set(r.event.sessionId, [...(bySession.get(r.event.sessionId) ?? []), r]);
  for (let round = 0; ; round++) {
    const batch = [...bySession.values()].map((q) => q[round]).filter((r): r is NoticeRequest => r !== undefined);
    if (batch.length === 0) break;
    for (const [r, result] of await notifyRound(pool, batch, opts)) results.set(r, result);
  }
  return requests.map((r) => results.get(r)!);
}

/** One round: at most one event per session. */
async function notifyRound(pool: Pool, requests: NoticeRequest[], opts: AdminNoticeOptions): Promise<Map<NoticeRequest, NoticeResult>> {
  const results = new Map<NoticeRequest, NoticeResult>();
  const { rows } = await pool.query<{
    event_id: string;
    has_policy: boolean;
    seen: boolean;
    session_type: OnboardingType | null;
    seq: number | null;
    admins: Array<{ user_id: string; language: string | null }>;
  }>(
    prepared(
      `SELECT e.event_id, EXISTS (SELECT 1 FROM notification.policies p WHERE p.tenant_id = e.tenant_id) AS has_policy,
         EXISTS (SELECT 1 FROM notification.inbox i WHERE i.event_id = e.event_id) AS seen,
         (SELECT s.type FROM notification.sessions s WHERE s.session_id = e.session_id) AS session_type,
         (SELECT q.seq FROM notification.event_seqs q WHERE q.session_id = e.session_id) AS seq,
         (SELECT coalesce(json_agg(json_build_object('user_id', r.user_id, 'language', r.language) ORDER BY r.user_id), '[]'::json)
            FROM notification.recipients r WHERE r.tenant_id = e.tenant_id AND r.is_admin) AS admins
       FROM unnest($1::uuid[], $2::text[], $3::text[]) AS e(event_id, tenant_id, session_id)`,
      [requests.map((r) => r.event.id), requests.map((r) => r.event.tenantId), requests.map((r) => r.event.sessionId)],
    ),
  );
  const readOf = new Map(rows.map((row) => [row.event_id, row]));
  const writes: Array<{ request: NoticeRequest; seqBefore: number | null; sessionType: OnboardingType; at: string; notices: Notice[] }> = [];
  for (const request of requests) {
    const read = readOf.get(request.event.id)!;
    if (read.has_policy) results.set(request, 'general');
    else if (read.seen) results.set(request, 'duplicate');
    else {
      const sessionType = read.session_type ?? 'tenant_setup';
      const at = new Date(request.event.occurredAt).toISOString();
      writes.push({ request, seqBefore: read.seq, sessionType, at, notices: noticesOf(request, read.admins, read.seq ?? 0, sessionType, at, opts) });
    }
  }
  if (writes.length === 0) return results;
  const notices = writes.flatMap((w) => w.notices.map((n) => ({ ...n, eventId: w.request.event.id })));
  const { rows: done } = await pool.query<{ event_id: string; ok: boolean; i: boolean }>(
    prepared(
      `WITH ev AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS e(event_id uuid, tenant_id text, session_id text, seq_before int, seq_after int)),
       g AS (SELECT ev.* FROM ev WHERE NOT EXISTS (SELECT 1 FROM notification.policies p WHERE p.tenant_id = ev.tenant_id)),
       s AS (INSERT INTO notification.event_seqs AS q (session_id, seq) SELECT session_id, seq_after FROM g WHERE seq_after > coalesce(seq_before, 0)
             ON CONFLICT (session_id) DO UPDATE SET seq = EXCLUDED.seq WHERE q.seq = (SELECT g2.seq_before FROM g g2 WHERE g2.session_id = q.session_id)
             RETURNING session_id),
       -- Numbered (or nothing to number: a tenant without admins), and then marked applied.
       ok AS (SELECT g.event_id FROM g WHERE g.seq_after = coalesce(g.seq_before, 0) OR g.session_id IN (SELECT session_id FROM s)),
       i AS (INSERT INTO notification.inbox (event_id) SELECT event_id FROM ok ON CONFLICT DO NOTHING RETURNING event_id),
       n AS (INSERT INTO notification.notifications (id, tenant_id, user_id, session_id, session_type, kind, title, body, link, steps_left, dedupe_key, created_at)
             SELECT x.id, x.tenant_id, x.user_id, x.session_id, x.session_type, x.kind, x.title, x.body, NULL, NULL, x.dedupe_key, x.created_at
             FROM jsonb_to_recordset($2::jsonb) AS x(event_id uuid, id uuid, tenant_id text, user_id text, session_id text, session_type text,
               kind text, title text, body text, dedupe_key text, created_at timestamptz)
             WHERE x.event_id IN (SELECT event_id FROM i)
             ON CONFLICT (dedupe_key) DO NOTHING),
       o AS (${outboxInsertSql('notification', ['$3', '$4', '$5'], { publishedBy: 'direct', onlyFor: { sources: '$6', in: 'i' } })})
       SELECT ev.event_id, ok.event_id IS NOT NULL AS ok, i.event_id IS NOT NULL AS i FROM ev LEFT JOIN ok USING (event_id) LEFT JOIN i USING (event_id)`,
      [
        JSON.stringify(
          writes.map((w) => ({
            event_id: w.request.event.id,
            tenant_id: w.request.event.tenantId,
            session_id: w.request.event.sessionId,
            seq_before: w.seqBefore,
            seq_after: (w.seqBefore ?? 0) + w.notices.length,
          })),
        ),
        JSON.stringify(
          writes.flatMap((w) =>
            w.notices.map((n) => ({
              event_id: w.request.event.id,
              id: n.id,
              tenant_id: w.request.event.tenantId,
              user_id: n.userId,
              session_id: w.request.event.sessionId,
              session_type: w.sessionType,
              kind: w.request.kind,
              title: n.title,
              body: n.body,
              dedupe_key: n.dedupeKey,
              created_at: w.at,
            })),
          ),
        ),
        ...outboxArrays(notices.map((n) => n.row)),
        notices.map((n) => n.eventId),
      ],
    ),
  );
  const doneOf = new Map(done.map((d) => [d.event_id, d]));
  const published: OutboxRow[] = [];
  for (const w of writes) {
    const d = doneOf.get(w.request.event.id)!;
    // A policy set, or another notice of the session numbered, since the read: nothing was written.
    if (!d.ok) results.set(w.request, 'general');
    // The same event applied concurrently by another replica (it took the inbox row first): its notices stand.
    // The sequence number taken here is then skipped; notification.created consumers do not order by it.
    else if (!d.i) results.set(w.request, 'duplicate');
    else {
      results.set(w.request, 'applied');
      published.push(...w.notices.map((n) => n.row));
    }
  }
  if (published.length > 0) opts.publishCommitted(published);
  return results;
}

interface Notice {
  id: string;
  userId: string;
  title: string;
  body: string;
  dedupeKey: string;
  row: OutboxRow;
}

/** The event's notice to each admin (no admin: none, and the event is only marked applied), numbered after `seqBefore`. */
function noticesOf(
  { event: e, kind, text }: NoticeRequest,
  admins: Array<{ user_id: string; language: string | null }>,
  seqBefore: number,
  sessionType: OnboardingType,
  at: string,
  opts: AdminNoticeOptions,
): Notice[] {
  return admins.map((a, i) => {
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
}

/** One event's notices on the default rules (see notifyAdminsOnDefaultRulesBatch). */
export async function notifyAdminsOnDefaultRules(
  pool: Pool,
  event: EventEnvelope,
  kind: 'milestone' | 'completion',
  text: (lang: NotificationLanguage) => { title: string; body: string },
  opts: AdminNoticeOptions,
): Promise<NoticeResult> {
  return (await notifyAdminsOnDefaultRulesBatch(pool, [{ event, kind, text }], opts))[0]!;
}
