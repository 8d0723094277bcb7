import { randomUUID } from 'node:crypto';
import { buildAuditEvent, buildEnvelope } from '@glavito/bus';
import { enqueue, type OutboxRow, toAuditOutboxRow, toOutboxRow } from '@glavito/outbox';
import { addBusinessTime } from '@glavito/business-time';
import {
  BusinessHoursConfigSchema,
  NotificationLanguageSchema,
  type NotificationPreferencesDataSchema,
  ReminderPolicySchema,
  type BusinessHoursConfig,
  type EventEnvelope,
  type Notification,
  type NotificationLanguage,
  type OnboardingType,
  type ReminderPolicy,
} from '@glavito/contracts';
import { inTransaction, type Pool, type PoolClient } from '@glavito/db';
import type { AuditRequestContext } from '@glavito/http';
import type { z } from 'zod';
import { DEFAULT_POLICY, renderNotice, renderReminder, type RenderedReminder } from '../domain/policy.js';

type Db = Pool | PoolClient;
type Preferences = z.infer<typeof NotificationPreferencesDataSchema>;

export interface RepositoryOptions {
  subjectPrefix: string;
  /** Publishes notification.created rows right after their commit (the outbox relay's direct path). */
  publishCommitted: (rows: OutboxRow[]) => void;
  appUrl: string;
  /** The one-click unsubscribe URL of a recipient (List-Unsubscribe: a POST to the API). */
  unsubscribeUrl: (tenantId: string, userId: string) => string;
  /** The unsubscribe link shown in the message: the frontend's page, which confirms and posts to the API. */
  unsubscribePageUrl: (tenantId: string, userId: string) => string;
  messageIdDomain: string;
  /** Subject prefix of audit events: a policy change's record goes into the outbox in the change's transaction. */
  auditSubjectPrefix?: string;
}

/** The parts of a reminder policy an audit record names when they change (never the texts themselves). */
const POLICY_PARTS = ['enabled', 'inactivityMinutes', 'maxReminders', 'channels', 'adminNotifications', 'texts'] as const;

/** Events that are the user doing something: they cancel the pending reminder and start a new count. */
const ACTIVITY = new Set(['session.started', 'session.resumed', 'step.updated', 'step.completed', 'step.skipped', 'step.validation_failed']);

export interface EmailJob {
  /** A reminder, or an admin notice's email. */
  kind: 'reminder' | 'notice';
  /** The reminder's or the notice email's id. */
  reminderId: string;
  /** Whose SMTP may send it is the tenant's choice (its tested email channel). */
  tenantId: string;
  attempt: number;
  to: string;
  messageId: string;
  content: RenderedReminder;
  unsubscribeUrl: string;
}

export type EmailSender = 'tenant' | 'system';
export type EmailOutcome = ({ kind: 'sent'; response: string } | { kind: 'bounced' | 'retry'; code: number | null; detail: string }) & { sender?: EmailSender };

/** The tenant's email channel as this context knows it (no credential: the session service keeps those). */
export interface EmailChannel {
  sessionId: string;
  smtpHost: string;
  smtpPort: number;
  encryption: 'tls' | 'starttls';
}

/** SQL: the tenant's own SMTP may send (tested successfully, and channel_configuration not changed since). */
const TENANT_SMTP_VERIFIED = `(ec.test_status = 'verified' AND (ec.changed_at IS NULL OR ec.changed_at < ec.tested_at))`;

interface ReminderRow {
  id: string;
  session_id: string;
  tenant_id: string;
  user_id: string;
  ordinal: number;
  activity_at: string;
  due_at: string;
  state: 'scheduled' | 'sending';
  attempts: number;
  message_id: string | null;
  email_to: string | null;
  content: RenderedReminder | null;
  type: OnboardingType;
  status: string;
  completed_steps: string[];
  skipped_steps: string[];
  current_step: string | null;
  last_activity_at: string;
  email: string | null;
  unsubscribed_at: string | null;
  preferences: Preferences | null;
  language: string | null;
  tenant_smtp: boolean;
}

interface NotificationRow {
  id: string;
  session_id: string;
  session_type: OnboardingType;
  kind: Notification['kind'];
  title: string;
  body: string;
  link: string | null;
  steps_left: string[] | null;
  created_at: string;
  read_at: string | null;
}

const toNotification = (r: NotificationRow): Notification => ({
  id: r.id,
  kind: r.kind,
  sessionId: r.session_id,
  sessionType: r.session_type,
  title: r.title,
  body: r.body,
  link: r.link,
  ...(r.steps_left ? { stepsLeft: r.steps_left } : {}),
  createdAt: r.created_at,
  readAt: r.read_at,
});

export function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(`${createdAt}|${id}`).toString('base64url');
}
export function decodeCursor(cursor: string): { createdAt: string; id: string } | null {
  const [createdAt, id, extra] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (!createdAt || !id || extra !== undefined || Number.isNaN(Date.parse(createdAt)) || !/^[0-9a-f-]{36}$/.test(id)) return null;
  return { createdAt, id };
}

const language = (l: string | null | undefined): NotificationLanguage => NotificationLanguageSchema.safeParse(l).data ?? 'en';

export function createNotificationRepository(pool: Pool, opts: RepositoryOptions) {
  async function transaction<T>(fn: (client: PoolClient, events: OutboxRow[]) => Promise<T>): Promise<T> {
    const events: OutboxRow[] = [];
    const result = await inTransaction({ pool }, async (client) => {
      const value = await fn(client, events);
      await enqueue(client, 'notification', events, { publishedBy: 'direct' });
      return value;
    });
    if (events.length > 0) opts.publishCommitted(events);
    return result;
  }

  /** Runs `fn` once per event id: the inbox row commits with the handler's own writes. */
  async function once(eventId: string, fn: (client: PoolClient, events: OutboxRow[]) => Promise<void>): Promise<boolean> {
    return transaction(async (client, events) => {
      const fresh = await client.query('INSERT INTO notification.inbox (event_id) VALUES ($1) ON CONFLICT DO NOTHING', [eventId]);
      if (fresh.rowCount === 0) return false;
      await fn(client, events);
      return true;
    });
  }

  async function rules(db: Db, tenantId: string): Promise<{ policy: ReminderPolicy; hours: BusinessHoursConfig | null }> {
    const { rows } = await db.query<{ policy: unknown; business_hours: unknown }>(
      `SELECT (SELECT policy FROM notification.policies WHERE tenant_id = $1) AS policy, (SELECT business_hours FROM notification.tenants WHERE tenant_id = $1) AS business_hours`,
      [tenantId],
    );
    const r = rows[0];
    return {
      policy: r?.policy ? ReminderPolicySchema.parse(r.policy) : DEFAULT_POLICY,
      hours: r?.business_hours ? BusinessHoursConfigSchema.parse(r.business_hours) : null,
    };
  }

  /** Plans reminder `ordinal` counted from `baseAt` in the tenant's business time; nothing when the policy sends no more. */
  async function plan(
    db: Db,
    r: { sessionId: string; tenantId: string; userId: string; ordinal: number; activityAt: Date; baseAt: Date },
    policy: ReminderPolicy,
    hours: BusinessHoursConfig | null,
  ) {
    if (!policy.enabled || r.ordinal > policy.maxReminders) return;
    const due = addBusinessTime(hours, r.baseAt, policy.inactivityMinutes);
    await db.query(
      `INSERT INTO notification.reminders (id, session_id, tenant_id, user_id, ordinal, activity_at, base_at, due_at, state)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'scheduled') ON CONFLICT (session_id, activity_at, ordinal) DO NOTHING`,
      [randomUUID(), r.sessionId, r.tenantId, r.userId, r.ordinal, r.activityAt.toISOString(), r.baseAt.toISOString(), due.toISOString()],
    );
  }

  /** Re-plans a tenant's pending reminders after its policy or business hours changed. */
  async function replanTenant(client: PoolClient, tenantId: string) {
    const { policy, hours } = await rules(client, tenantId);
    const { rows } = await client.query<{ id: string; ordinal: number; base_at: string }>(
      `SELECT id, ordinal, base_at FROM notification.reminders WHERE tenant_id = $1 AND state = 'scheduled' FOR UPDATE`,
      [tenantId],
    );
    for (const r of rows) {
      if (!policy.enabled || r.ordinal > policy.maxReminders) await client.query(`UPDATE notification.reminders SET state = 'cancelled' WHERE id = $1`, [r.id]);
      else
        await client.query('UPDATE notification.reminders SET due_at = $2 WHERE id = $1', [
          r.id,
          addBusinessTime(hours, new Date(r.base_at), policy.inactivityMinutes).toISOString(),
        ]);
    }
  }

  /** Writes an in-app notification (once per dedupe key) and its notification.created event. */
  async function notify(
    client: PoolClient,
    events: OutboxRow[],
    n: {
      tenantId: string;
      userId: string;
      sessionId: string;
      sessionType: OnboardingType;
      kind: Notification['kind'];
      title: string;
      body: string;
      link: string | null;
      stepsLeft?: string[];
      dedupeKey: string;
      at: Date;
      correlationId: string;
    },
  ): Promise<string | null> {
    const { rows } = await client.query<NotificationRow>(
      `INSERT INTO notification.notifications (id, tenant_id, user_id, session_id, session_type, kind, title, body, link, steps_left, dedupe_key, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (dedupe_key) DO NOTHING
       RETURNING id, session_id, session_type, kind, title, body, link, steps_left, created_at, read_at`,
      [randomUUID(), n.tenantId, n.userId, n.sessionId, n.sessionType, n.kind, n.title, n.body, n.link, n.stepsLeft ?? null, n.dedupeKey, n.at.toISOString()],
    );
    const row = rows[0];
    if (!row) return null;
    const seq = await client.query<{ seq: number }>(
      `INSERT INTO notification.event_seqs (session_id, seq) VALUES ($1, 1) ON CONFLICT (session_id) DO UPDATE SET seq = notification.event_seqs.seq + 1 RETURNING seq`,
      [n.sessionId],
    );
    events.push(
      toOutboxRow(
        opts.subjectPrefix,
        buildEnvelope({
          type: 'notification.created',
          data: { notification: toNotification(row) },
          tenantId: n.tenantId,
          sessionId: n.sessionId,
          // The recipient: realtime pushes it to this user's sockets only.
          userId: n.userId,
          sessionSeq: seq.rows[0]!.seq,
          correlationId: n.correlationId,
        } as never),
      ),
    );
    return row.id;
  }

  async function recordNotice(
    job: EmailJob,
    outcome: EmailOutcome,
    now: Date,
    o: { maxAttempts: number; retryAfterMs: (attempt: number) => number },
  ): Promise<boolean> {
    return transaction(async (client) => {
      await client.query(
        `INSERT INTO notification.deliveries (reminder_id, attempt, outcome, smtp_code, detail, at, sender) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          job.reminderId,
          job.attempt,
          outcome.kind,
          outcome.kind === 'sent' ? 250 : outcome.code,
          (outcome.kind === 'sent' ? outcome.response : outcome.detail).slice(0, 500),
          now.toISOString(),
          outcome.sender ?? null,
        ],
      );
      const final = outcome.kind !== 'retry' || job.attempt >= o.maxAttempts;
      const { rowCount } = final
        ? await client.query(
            `UPDATE notification.notice_emails SET state = 'sent', email_status = $3, sent_at = $4, lease_until = NULL WHERE id = $1 AND state = 'sending' AND attempts = $2`,
            [job.reminderId, job.attempt, outcome.kind === 'retry' ? 'failed' : outcome.kind, now.toISOString()],
          )
        : await client.query(`UPDATE notification.notice_emails SET lease_until = $3 WHERE id = $1 AND state = 'sending' AND attempts = $2`, [
            job.reminderId,
            job.attempt,
            new Date(now.getTime() + o.retryAfterMs(job.attempt)).toISOString(),
          ]);
      return (rowCount ?? 0) > 0;
    });
  }

  return {
    /**
     * An email connection test: the latest one (by its time) decides whether the tenant's own SMTP may send. Verified
     * only when SMTP itself accepted the login with encryption and a trusted certificate (status `success`: a
     * warning such as a self-signed certificate or no encryption is not enough); a test of IMAP alone says nothing
     * about sending and is ignored. Host and port are kept (no credential is in the event, none is kept here).
     */
    async applyEmailTest(e: EventEnvelope<'connection.tested'>): Promise<void> {
      const r = e.data.result;
      if (r.channel !== 'email') return;
      const smtp = (r.details as { smtp?: { host?: unknown; port?: unknown; encryption?: unknown; authenticated?: unknown } } | null | undefined)?.smtp;
      if (r.status === 'success' && !smtp) return;
      const verified =
        r.status === 'success' &&
        smtp?.authenticated === true &&
        (smtp.encryption === 'tls' || smtp.encryption === 'starttls') &&
        typeof smtp.host === 'string' &&
        typeof smtp.port === 'number';
      const testedAt = Number.isNaN(Date.parse(r.timestamp)) ? e.occurredAt : r.timestamp;
      await once(e.id, async (client) => {
        await client.query(
          `INSERT INTO notification.email_channels AS ec (tenant_id, session_id, test_status, tested_at, test_event_id, smtp_host, smtp_port, encryption)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (tenant_id) DO UPDATE SET session_id = EXCLUDED.session_id, test_status = EXCLUDED.test_status, tested_at = EXCLUDED.tested_at,
             test_event_id = EXCLUDED.test_event_id, smtp_host = EXCLUDED.smtp_host, smtp_port = EXCLUDED.smtp_port, encryption = EXCLUDED.encryption
           WHERE ec.tested_at IS NULL OR ec.tested_at < EXCLUDED.tested_at`,
          [
            e.tenantId,
            e.sessionId,
            verified ? 'verified' : 'failed',
            testedAt,
            e.id,
            verified ? smtp.host : null,
            verified ? smtp.port : null,
            verified ? smtp.encryption : null,
          ],
        );
      });
    },

    /**
     * A save of channel_configuration (any session of the tenant): the channel is no longer the one tested until the
     * next test. Step events carry no step data (credentials are never in events), so any save counts. Idempotent
     * and order-free (the latest time wins), so it needs no inbox row of its own.
     */
    async applyChannelChange(e: EventEnvelope): Promise<void> {
      await pool.query(
        `INSERT INTO notification.email_channels AS ec (tenant_id, changed_at) VALUES ($1, $2)
         ON CONFLICT (tenant_id) DO UPDATE SET changed_at = GREATEST(ec.changed_at, EXCLUDED.changed_at)`,
        [e.tenantId, e.occurredAt],
      );
    },

    /** The tenant's email channel when its own SMTP may send (tested, unchanged since), else null. */
    async verifiedEmailChannel(tenantId: string): Promise<EmailChannel | null> {
      const { rows } = await pool.query<{ session_id: string; smtp_host: string; smtp_port: number; encryption: 'tls' | 'starttls' }>(
        `SELECT session_id, smtp_host, smtp_port, encryption FROM notification.email_channels ec WHERE tenant_id = $1 AND ${TENANT_SMTP_VERIFIED}`,
        [tenantId],
      );
      const r = rows[0];
      return r ? { sessionId: r.session_id, smtpHost: r.smtp_host, smtpPort: r.smtp_port, encryption: r.encryption } : null;
    },

    /** Session and step events: the session copy, the recipient, and its reminders (cancel on activity or a stop, plan the next). */
    async applySessionEvent(e: EventEnvelope): Promise<void> {
      await once(e.id, async (client) => {
        const data = e.data as {
          sessionType?: OnboardingType;
          status?: string;
          completedSteps?: string[];
          skippedSteps?: string[];
          currentStep?: string | null;
          role?: string;
          notificationPreferences?: Preferences;
        };
        const at = new Date(e.occurredAt);
        const isAdmin = e.type === 'session.started' && data.role === 'tenant_admin';
        await client.query(
          `INSERT INTO notification.recipients (tenant_id, user_id, is_admin, preferences) VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id, user_id) DO UPDATE SET is_admin = notification.recipients.is_admin OR EXCLUDED.is_admin,
             preferences = COALESCE(EXCLUDED.preferences, notification.recipients.preferences)`,
          [e.tenantId, e.userId, isAdmin, data.notificationPreferences ? JSON.stringify(data.notificationPreferences) : null],
        );
        const activity = ACTIVITY.has(e.type);
        const snapshot = data.status !== undefined && data.sessionType !== undefined;
        if (!snapshot && !activity) return;
        // Applies only forward in the session's own sequence: a late or replayed event changes nothing.
        const { rows } = await client.query<{ status: string; type: OnboardingType; last_activity_at: string }>(
          `INSERT INTO notification.sessions AS s (session_id, tenant_id, user_id, type, status, completed_steps, skipped_steps, current_step, last_activity_at, last_seq)
           VALUES ($1, $2, $3, COALESCE($4, 'tenant_setup'), COALESCE($5, 'active'), COALESCE($6::text[], '{}'), COALESCE($7::text[], '{}'), $8, $9, $10)
           ON CONFLICT (session_id) DO UPDATE SET
             type = COALESCE($4, s.type), status = COALESCE($5, s.status), completed_steps = COALESCE($6::text[], s.completed_steps),
             skipped_steps = COALESCE($7::text[], s.skipped_steps), current_step = CASE WHEN $11 THEN $8 ELSE s.current_step END,
             last_activity_at = CASE WHEN $12 THEN GREATEST(s.last_activity_at, $9) ELSE s.last_activity_at END, last_seq = $10
           WHERE s.last_seq < $10
           RETURNING status, type, last_activity_at`,
          [
            e.sessionId,
            e.tenantId,
            e.userId,
            data.sessionType ?? null,
            data.status ?? null,
            data.completedSteps ?? null,
            data.skippedSteps ?? null,
            data.currentStep ?? null,
            at.toISOString(),
            e.sessionSeq,
            snapshot,
            activity,
          ],
        );
        const s = rows[0];
        if (!s) return;
        // New activity supersedes the planned reminder: it is deleted (never claimed, it carries nothing; a row kept
        // per activity grew the table without bound) and planned again from it. An activity that does not move the
        // session's last activity on (the start and welcome's completion share their instant) leaves it alone:
        // dropping it would leave the plan's key taken, and the session without a reminder.
        if (s.status !== 'active')
          await client.query(`UPDATE notification.reminders SET state = 'cancelled' WHERE session_id = $1 AND state = 'scheduled'`, [e.sessionId]);
        else if (activity)
          await client.query(`DELETE FROM notification.reminders WHERE session_id = $1 AND state = 'scheduled' AND activity_at < $2`, [
            e.sessionId,
            s.last_activity_at,
          ]);
        if (activity && s.status === 'active') {
          const { policy, hours } = await rules(client, e.tenantId);
          await plan(
            client,
            {
              sessionId: e.sessionId,
              tenantId: e.tenantId,
              userId: e.userId,
              ordinal: 1,
              activityAt: new Date(s.last_activity_at),
              baseAt: new Date(s.last_activity_at),
            },
            policy,
            hours,
          );
        }
      });
    },

    /** business_hours.changed: keeps the newest copy and re-plans the tenant's pending reminders with it. */
    async applyBusinessHours(e: EventEnvelope<'business_hours.changed'>): Promise<void> {
      await once(e.id, async (client) => {
        const { rowCount } = await client.query(
          `INSERT INTO notification.tenants AS t (tenant_id, business_hours, business_hours_version) VALUES ($1, $2, $3)
           ON CONFLICT (tenant_id) DO UPDATE SET business_hours = EXCLUDED.business_hours, business_hours_version = EXCLUDED.business_hours_version
           WHERE t.business_hours_version < EXCLUDED.business_hours_version`,
          [e.tenantId, e.data.config ? JSON.stringify(e.data.config) : null, e.data.version],
        );
        if (rowCount) await replanTenant(client, e.tenantId);
      });
    },

    /** milestone.reached / the completion's progress.updated: in-app notifications to the tenant's admins, if the policy says so. */
    async notifyAdmins(
      e: EventEnvelope,
      kind: 'milestone' | 'completion',
      text: (lang: NotificationLanguage) => { title: string; body: string },
    ): Promise<void> {
      await once(e.id, async (client, events) => {
        const { policy } = await rules(client, e.tenantId);
        if (kind === 'milestone' ? !policy.adminNotifications.milestones : !policy.adminNotifications.completion) return;
        const { rows: admins } = await client.query<{ user_id: string; language: string; email: string | null; unsubscribed_at: string | null }>(
          'SELECT user_id, language, email, unsubscribed_at FROM notification.recipients WHERE tenant_id = $1 AND is_admin',
          [e.tenantId],
        );
        const { rows: sessions } = await client.query<{ type: OnboardingType }>('SELECT type FROM notification.sessions WHERE session_id = $1', [e.sessionId]);
        for (const a of admins) {
          const t = text(language(a.language));
          const id = await notify(client, events, {
            tenantId: e.tenantId,
            userId: a.user_id,
            sessionId: e.sessionId,
            sessionType: sessions[0]?.type ?? 'tenant_setup',
            kind,
            title: t.title,
            body: t.body,
            link: null,
            dedupeKey: `${kind}:${e.id}:${a.user_id}`,
            at: new Date(e.occurredAt),
            correlationId: e.correlationId,
          });
          // Email too when the policy says so, to admins with an address who did not unsubscribe; sent by the scheduler.
          if (id && policy.adminNotifications.email && a.email && !a.unsubscribed_at) {
            const emailId = randomUUID();
            const content = renderNotice(t, language(a.language), opts.appUrl, opts.unsubscribePageUrl(e.tenantId, a.user_id));
            await client.query(
              `INSERT INTO notification.notice_emails (id, notification_id, tenant_id, user_id, email_to, message_id, content, state, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8) ON CONFLICT (notification_id) DO NOTHING`,
              [emailId, id, e.tenantId, a.user_id, a.email, `<notice-${emailId}@${opts.messageIdDomain}>`, JSON.stringify(content), e.occurredAt],
            );
          }
        }
      });
    },

    async getPolicy(tenantId: string): Promise<{ configured: boolean; policy: ReminderPolicy; updatedAt: string | null }> {
      const { rows } = await pool.query<{ policy: unknown; updated_at: string }>('SELECT policy, updated_at FROM notification.policies WHERE tenant_id = $1', [
        tenantId,
      ]);
      const r = rows[0];
      return r
        ? { configured: true, policy: ReminderPolicySchema.parse(r.policy), updatedAt: r.updated_at }
        : { configured: false, policy: DEFAULT_POLICY, updatedAt: null };
    },

    /** Sets the tenant's reminder policy and re-plans its reminders; the change and its audit record commit together. */
    async putPolicy(tenantId: string, policy: ReminderPolicy, userId: string, now: Date, origin?: AuditRequestContext): Promise<void> {
      await transaction(async (client, events) => {
        const { rows } = await client.query<{ policy: unknown }>('SELECT policy FROM notification.policies WHERE tenant_id = $1 FOR UPDATE', [tenantId]);
        const before = rows[0] ? ReminderPolicySchema.parse(rows[0].policy) : null;
        await client.query(
          `INSERT INTO notification.policies (tenant_id, policy, updated_at, updated_by) VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id) DO UPDATE SET policy = EXCLUDED.policy, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by`,
          [tenantId, JSON.stringify(policy), now.toISOString(), userId],
        );
        await replanTenant(client, tenantId);
        if (opts.auditSubjectPrefix) {
          const previous = before ?? DEFAULT_POLICY;
          const changed = POLICY_PARTS.filter((k) => JSON.stringify(previous[k]) !== JSON.stringify(policy[k]));
          const ev = buildAuditEvent({
            ...(origin ?? { actor: { subject: userId, roles: [] }, requestId: null, correlationId: null, clientIp: null, userAgent: null }),
            tenantId,
            action: 'reminder_policy.change',
            target: { type: 'reminder_policy', id: tenantId },
            outcome: { result: 'allowed', code: null },
            // Settings, not texts: a tenant's texts are free-form and could hold anything.
            details: {
              firstPolicy: before === null,
              changed: [...changed],
              enabled: policy.enabled,
              inactivityMinutes: policy.inactivityMinutes,
              maxReminders: policy.maxReminders,
              channels: [...policy.channels],
            },
          });
          events.push(toAuditOutboxRow(opts.auditSubjectPrefix, ev));
        }
      });
    },

    async getSettings(tenantId: string, userId: string) {
      const { rows } = await pool.query<{ email: string | null; unsubscribed_at: string | null; language: string; preferences: Preferences | null }>(
        'SELECT email, unsubscribed_at, language, preferences FROM notification.recipients WHERE tenant_id = $1 AND user_id = $2',
        [tenantId, userId],
      );
      const r = rows[0];
      return { email: r?.email ?? null, emailReminders: !r?.unsubscribed_at, language: language(r?.language), preferences: r?.preferences ?? null };
    },

    async putSettings(
      tenantId: string,
      userId: string,
      change: { email?: string | null; emailReminders?: boolean; language?: NotificationLanguage },
      now: Date,
    ): Promise<void> {
      await pool.query(
        `INSERT INTO notification.recipients AS r (tenant_id, user_id, email, language, unsubscribed_at) VALUES ($1, $2, $3, COALESCE($5, 'en'), CASE WHEN $6::boolean IS FALSE THEN $7::timestamptz END)
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET
           email = CASE WHEN $4 THEN EXCLUDED.email ELSE r.email END,
           language = COALESCE($5, r.language),
           unsubscribed_at = CASE WHEN $6::boolean IS NULL THEN r.unsubscribed_at WHEN $6 THEN NULL ELSE COALESCE(r.unsubscribed_at, $7::timestamptz) END`,
        [tenantId, userId, change.email ?? null, change.email !== undefined, change.language ?? null, change.emailReminders ?? null, now.toISOString()],
      );
    },

    async unsubscribe(tenantId: string, userId: string, now: Date): Promise<void> {
      await pool.query(
        `INSERT INTO notification.recipients AS r (tenant_id, user_id, unsubscribed_at) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET unsubscribed_at = COALESCE(r.unsubscribed_at, EXCLUDED.unsubscribed_at)`,
        [tenantId, userId, now.toISOString()],
      );
    },

    async list(tenantId: string, userId: string, q: { limit: number; cursor: { createdAt: string; id: string } | null; unreadOnly: boolean }) {
      const { rows } = await pool.query<NotificationRow & { unread: number }>(
        `SELECT id, session_id, session_type, kind, title, body, link, steps_left, created_at, read_at FROM notification.notifications
         WHERE tenant_id = $1 AND user_id = $2 AND (NOT $3 OR read_at IS NULL) AND ($4::timestamptz IS NULL OR (created_at, id) < ($4::timestamptz, $5::uuid))
         ORDER BY created_at DESC, id DESC LIMIT $6`,
        [tenantId, userId, q.unreadOnly, q.cursor?.createdAt ?? null, q.cursor?.id ?? null, q.limit + 1],
      );
      const items = rows.slice(0, q.limit).map(toNotification);
      const last = items.at(-1);
      return {
        items,
        unreadCount: await this.unreadCount(tenantId, userId),
        nextCursor: rows.length > q.limit && last ? encodeCursor(last.createdAt, last.id) : null,
      };
    },

    async unreadCount(tenantId: string, userId: string): Promise<number> {
      const { rows } = await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM notification.notifications WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL',
        [tenantId, userId],
      );
      return rows[0]!.n;
    },

    async markRead(tenantId: string, userId: string, ids: string[] | 'all', now: Date): Promise<number> {
      const { rowCount } = await pool.query(
        `UPDATE notification.notifications SET read_at = $4 WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL AND ($3::uuid[] IS NULL OR id = ANY($3::uuid[]))`,
        [tenantId, userId, ids === 'all' ? null : ids, now.toISOString()],
      );
      return rowCount ?? 0;
    },

    /**
     * Claims due reminders (and ones whose sender's lease ran out) with FOR UPDATE SKIP LOCKED and, in the same
     * transaction, records what the claim decides: the in-app notification and its event, the rendered email and
     * its Message-ID, or the cancellation. Returns the emails this replica must now send.
     */
    async claimDue(
      now: Date,
      o: { batch: number; leaseMs: number; replicaId: string; maxAttempts: number; emailEnabled: boolean; tenantSmtp?: boolean },
    ): Promise<{ claimed: number; emails: EmailJob[] }> {
      return transaction(async (client, events) => {
        const { rows } = await client.query<ReminderRow>(
          `SELECT r.id, r.session_id, r.tenant_id, r.user_id, r.ordinal, r.activity_at, r.due_at, r.state, r.attempts, r.message_id, r.email_to, r.content,
                  s.type, s.status, s.completed_steps, s.skipped_steps, s.current_step, s.last_activity_at,
                  rc.email, rc.unsubscribed_at, rc.preferences, rc.language, COALESCE(${TENANT_SMTP_VERIFIED}, false) AS tenant_smtp
           FROM notification.reminders r
           JOIN notification.sessions s ON s.session_id = r.session_id
           LEFT JOIN notification.recipients rc ON rc.tenant_id = r.tenant_id AND rc.user_id = r.user_id
           LEFT JOIN notification.email_channels ec ON ec.tenant_id = r.tenant_id
           WHERE (r.state = 'scheduled' AND r.due_at <= $1) OR (r.state = 'sending' AND r.lease_until <= $1)
           ORDER BY r.due_at LIMIT $2
           FOR UPDATE OF r SKIP LOCKED`,
          [now.toISOString(), o.batch],
        );
        const emails: EmailJob[] = [];
        const leaseUntil = new Date(now.getTime() + o.leaseMs).toISOString();
        const ruleCache = new Map<string, Awaited<ReturnType<typeof rules>>>();
        for (const r of rows) {
          const tenantRules = ruleCache.get(r.tenant_id) ?? (await rules(client, r.tenant_id));
          ruleCache.set(r.tenant_id, tenantRules);
          const { policy, hours } = tenantRules;
          // Never to a session that is no longer waiting on its user: completed, abandoned, paused, or active again since.
          const stale = r.status !== 'active' || Date.parse(r.last_activity_at) > Date.parse(r.activity_at);
          const planNext = () =>
            plan(
              client,
              {
                sessionId: r.session_id,
                tenantId: r.tenant_id,
                userId: r.user_id,
                ordinal: r.ordinal + 1,
                activityAt: new Date(r.activity_at),
                baseAt: new Date(r.due_at),
              },
              policy,
              hours,
            );

          if (r.state === 'sending') {
            // A sender crashed or stalled after claiming: send the same message again (same Message-ID), or give up.
            if (stale || r.attempts >= o.maxAttempts || !r.content || !r.email_to || !r.message_id) {
              const status = stale ? 'cancelled_after_claim' : 'failed';
              await client.query(`UPDATE notification.reminders SET state = $2, email_status = $3, lease_until = NULL WHERE id = $1`, [
                r.id,
                stale ? 'cancelled' : 'sent',
                status,
              ]);
              await client.query(`INSERT INTO notification.deliveries (reminder_id, attempt, outcome, detail, at) VALUES ($1, $2, $3, $4, $5)`, [
                r.id,
                r.attempts,
                status,
                'lease expired',
                now.toISOString(),
              ]);
              if (!stale) await planNext();
              continue;
            }
            await client.query(`UPDATE notification.reminders SET attempts = attempts + 1, lease_until = $2, claimed_by = $3 WHERE id = $1`, [
              r.id,
              leaseUntil,
              o.replicaId,
            ]);
            emails.push({
              kind: 'reminder',
              reminderId: r.id,
              tenantId: r.tenant_id,
              attempt: r.attempts + 1,
              to: r.email_to,
              messageId: r.message_id,
              content: r.content,
              unsubscribeUrl: opts.unsubscribeUrl(r.tenant_id, r.user_id),
            });
            continue;
          }

          if (stale || !policy.enabled || r.ordinal > policy.maxReminders) {
            await client.query(`UPDATE notification.reminders SET state = 'cancelled' WHERE id = $1`, [r.id]);
            continue;
          }
          const unsubscribeUrl = opts.unsubscribeUrl(r.tenant_id, r.user_id);
          const content = renderReminder(
            policy,
            { sessionId: r.session_id, type: r.type, completedSteps: r.completed_steps, skippedSteps: r.skipped_steps, currentStep: r.current_step },
            language(r.language),
            opts.appUrl,
            opts.unsubscribePageUrl(r.tenant_id, r.user_id),
          );
          if (policy.channels.includes('in_app'))
            await notify(client, events, {
              tenantId: r.tenant_id,
              userId: r.user_id,
              sessionId: r.session_id,
              sessionType: r.type,
              kind: 'reminder',
              title: content.subject,
              body: content.text.split('\n\n')[0]!,
              link: content.link,
              stepsLeft: content.stepsLeft,
              dedupeKey: `reminder:${r.id}`,
              at: now,
              correlationId: `reminder:${r.id}`,
            });
          const skip = !policy.channels.includes('email')
            ? 'skipped:channel_off'
            : !o.emailEnabled && !(o.tenantSmtp && r.tenant_smtp)
              ? 'skipped:no_smtp'
              : !r.email
                ? 'skipped:no_address'
                : r.unsubscribed_at
                  ? 'skipped:unsubscribed'
                  : r.preferences?.email === false
                    ? 'skipped:preferences'
                    : null;
          if (skip) {
            await client.query(`UPDATE notification.reminders SET state = 'sent', email_status = $2, sent_at = $3, attempts = 1 WHERE id = $1`, [
              r.id,
              skip,
              now.toISOString(),
            ]);
            await planNext();
            continue;
          }
          const messageId = `<reminder-${r.id}@${opts.messageIdDomain}>`;
          await client.query(
            `UPDATE notification.reminders SET state = 'sending', attempts = 1, lease_until = $2, claimed_by = $3, message_id = $4, email_to = $5, content = $6 WHERE id = $1`,
            [r.id, leaseUntil, o.replicaId, messageId, r.email, JSON.stringify(content)],
          );
          emails.push({ kind: 'reminder', reminderId: r.id, tenantId: r.tenant_id, attempt: 1, to: r.email!, messageId, content, unsubscribeUrl });
        }
        return { claimed: rows.length, emails };
      });
    },

    /** Claims admin notice emails to send (new ones, and ones whose sender's lease ran out), like claimDue. */
    async claimNotices(
      now: Date,
      o: { batch: number; leaseMs: number; maxAttempts: number; emailEnabled: boolean },
    ): Promise<{ claimed: number; emails: EmailJob[] }> {
      if (!o.emailEnabled) return { claimed: 0, emails: [] };
      return transaction(async (client) => {
        const { rows } = await client.query<{
          id: string;
          tenant_id: string;
          user_id: string;
          email_to: string;
          message_id: string;
          content: RenderedReminder;
          attempts: number;
        }>(
          `SELECT id, tenant_id, user_id, email_to, message_id, content, attempts FROM notification.notice_emails
           WHERE state = 'pending' OR (state = 'sending' AND lease_until <= $1) ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
          [now.toISOString(), o.batch],
        );
        const emails: EmailJob[] = [];
        for (const r of rows) {
          if (r.attempts >= o.maxAttempts) {
            await client.query(`UPDATE notification.notice_emails SET state = 'sent', email_status = 'failed', lease_until = NULL WHERE id = $1`, [r.id]);
            continue;
          }
          await client.query(`UPDATE notification.notice_emails SET state = 'sending', attempts = attempts + 1, lease_until = $2 WHERE id = $1`, [
            r.id,
            new Date(now.getTime() + o.leaseMs).toISOString(),
          ]);
          emails.push({
            kind: 'notice',
            reminderId: r.id,
            tenantId: r.tenant_id,
            attempt: r.attempts + 1,
            to: r.email_to,
            messageId: r.message_id,
            content: r.content,
            unsubscribeUrl: opts.unsubscribeUrl(r.tenant_id, r.user_id),
          });
        }
        return { claimed: rows.length, emails };
      });
    },

    /**
     * Records an email attempt's outcome, if this attempt still holds the claim (a replica that took over after the
     * lease ran out has a later attempt number). Sent or bounced ends the reminder and plans the next one.
     */
    async recordEmail(
      job: EmailJob,
      outcome: EmailOutcome,
      now: Date,
      o: { maxAttempts: number; retryAfterMs: (attempt: number) => number },
    ): Promise<boolean> {
      if (job.kind === 'notice') return recordNotice(job, outcome, now, o);
      return transaction(async (client) => {
        const { rows } = await client.query<{ session_id: string; tenant_id: string; user_id: string; ordinal: number; activity_at: string; due_at: string }>(
          `SELECT session_id, tenant_id, user_id, ordinal, activity_at, due_at FROM notification.reminders WHERE id = $1 AND state = 'sending' AND attempts = $2 FOR UPDATE`,
          [job.reminderId, job.attempt],
        );
        const r = rows[0];
        await client.query(
          `INSERT INTO notification.deliveries (reminder_id, attempt, outcome, smtp_code, detail, at, sender) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [
            job.reminderId,
            job.attempt,
            outcome.kind,
            outcome.kind === 'sent' ? 250 : outcome.code,
            (outcome.kind === 'sent' ? outcome.response : outcome.detail).slice(0, 500),
            now.toISOString(),
            outcome.sender ?? null,
          ],
        );
        if (!r) return false;
        const final = outcome.kind !== 'retry' || job.attempt >= o.maxAttempts;
        if (!final) {
          await client.query('UPDATE notification.reminders SET lease_until = $2 WHERE id = $1', [
            job.reminderId,
            new Date(now.getTime() + o.retryAfterMs(job.attempt)).toISOString(),
          ]);
          return true;
        }
        const status = outcome.kind === 'retry' ? 'failed' : outcome.kind;
        await client.query(`UPDATE notification.reminders SET state = 'sent', email_status = $2, sent_at = $3, lease_until = NULL WHERE id = $1`, [
          job.reminderId,
          status,
          now.toISOString(),
        ]);
        const { policy, hours } = await rules(client, r.tenant_id);
        await plan(
          client,
          {
            sessionId: r.session_id,
            tenantId: r.tenant_id,
            userId: r.user_id,
            ordinal: r.ordinal + 1,
            activityAt: new Date(r.activity_at),
            baseAt: new Date(r.due_at),
          },
          policy,
          hours,
        );
        return true;
      });
    },
  };
}

export type NotificationRepository = ReturnType<typeof createNotificationRepository>;
