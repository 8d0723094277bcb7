import { sql } from 'drizzle-orm';
import { bigserial, boolean, index, integer, jsonb, pgSchema, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { outboxTable } from '@glavito/outbox';

export const notificationSchema = pgSchema('notification');
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'string' });

/** What this context knows of a tenant: its business hours, copied from session's business_hours.changed. */
export const tenants = notificationSchema.table('tenants', {
  tenantId: text('tenant_id').primaryKey(),
  businessHours: jsonb('business_hours'),
  /** Version of the copy (the event's sessionSeq): an older event never overwrites a newer copy. */
  businessHoursVersion: integer('business_hours_version').notNull().default(0),
});

/**
 * Whether a tenant's own SMTP (the email channel of channel_configuration) may send its emails: the latest email
 * connection test (connection.tested, by its time) and the latest change of channel_configuration after it (step
 * events). Never a credential: host and port of the tested server only, to check the settings sent are the ones tested.
 */
export const emailChannels = notificationSchema.table('email_channels', {
  tenantId: text('tenant_id').primaryKey(),
  /** The session whose channel_configuration was tested (the session service reads the settings there). */
  sessionId: text('session_id'),
  /** `verified`: SMTP accepted the login over TLS or STARTTLS with a trusted certificate; `failed` otherwise. */
  testStatus: text('test_status'),
  testedAt: ts('tested_at'),
  testEventId: uuid('test_event_id'),
  smtpHost: text('smtp_host'),
  smtpPort: integer('smtp_port'),
  /** `tls` or `starttls`, as the test connected. */
  encryption: text('encryption'),
  /** The latest channel_configuration save (any session of the tenant). */
  changedAt: ts('changed_at'),
});

/** A tenant's reminder policy (absent: the defaults). */
export const policies = notificationSchema.table('policies', {
  tenantId: text('tenant_id').primaryKey(),
  policy: jsonb('policy').notNull(),
  updatedAt: ts('updated_at').notNull(),
  updatedBy: text('updated_by').notNull(),
});

/** People notifications go to: their address (given by themselves), unsubscribe, notification_preferences answers, role. */
export const recipients = notificationSchema.table(
  'recipients',
  {
    tenantId: text('tenant_id').notNull(),
    userId: text('user_id').notNull(),
    email: text('email'),
    language: text('language').notNull().default('en'),
    unsubscribedAt: ts('unsubscribed_at'),
    preferences: jsonb('preferences'),
    isAdmin: boolean('is_admin').notNull().default(false),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.userId] }),
    index('recipients_admins')
      .on(t.tenantId)
      .where(sql`is_admin`),
  ],
);

/** The copy of each session this context needs (state and steps, from session events). */
export const sessions = notificationSchema.table(
  'sessions',
  {
    sessionId: text('session_id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    userId: text('user_id').notNull(),
    type: text('type').notNull(),
    status: text('status').notNull(),
    completedSteps: text('completed_steps').array().notNull(),
    skippedSteps: text('skipped_steps').array().notNull(),
    currentStep: text('current_step'),
    lastActivityAt: ts('last_activity_at').notNull(),
    /** sessionSeq of the newest session event applied (older ones change nothing). */
    lastSeq: integer('last_seq').notNull().default(0),
  },
  (t) => [index('sessions_tenant').on(t.tenantId)],
);

/**
 * One row per planned reminder. state: scheduled → sending (claimed; lease_until bounds the claim) → sent, or
 * cancelled (pause, completion, abandonment); one superseded by new activity before it was claimed is deleted. The
 * rendered message and its Message-ID are stored at the first claim, so a retry after a crash sends the very same
 * message.
 */
export const reminders = notificationSchema.table(
  'reminders',
  {
    id: uuid('id').primaryKey(),
    sessionId: text('session_id').notNull(),
    tenantId: text('tenant_id').notNull(),
    userId: text('user_id').notNull(),
    /** 1 for the first reminder after the activity at `activityAt`, 2 for the next… */
    ordinal: integer('ordinal').notNull(),
    activityAt: ts('activity_at').notNull(),
    /** Business time is counted from here: the activity for the first reminder, the previous reminder's due time for the next. */
    baseAt: ts('base_at').notNull(),
    dueAt: ts('due_at').notNull(),
    state: text('state').notNull(),
    attempts: integer('attempts').notNull().default(0),
    leaseUntil: ts('lease_until'),
    claimedBy: text('claimed_by'),
    messageId: text('message_id'),
    emailTo: text('email_to'),
    content: jsonb('content'),
    /** sent | bounced | failed | skipped:<why> */
    emailStatus: text('email_status'),
    sentAt: ts('sent_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('reminders_once').on(t.sessionId, t.activityAt, t.ordinal),
    index('reminders_due')
      .on(t.dueAt)
      .where(sql`state IN ('scheduled', 'sending')`),
    index('reminders_session_open')
      .on(t.sessionId)
      .where(sql`state = 'scheduled'`),
  ],
);

/** Emails of admin notices (milestone, completion) when the policy says so: sent once, like reminders (claim, lease, same Message-ID). */
export const noticeEmails = notificationSchema.table(
  'notice_emails',
  {
    id: uuid('id').primaryKey(),
    notificationId: uuid('notification_id').notNull(),
    tenantId: text('tenant_id').notNull(),
    userId: text('user_id').notNull(),
    emailTo: text('email_to').notNull(),
    messageId: text('message_id').notNull(),
    content: jsonb('content').notNull(),
    /** pending → sending (claimed, lease) → sent */
    state: text('state').notNull(),
    attempts: integer('attempts').notNull().default(0),
    leaseUntil: ts('lease_until'),
    emailStatus: text('email_status'),
    sentAt: ts('sent_at'),
    createdAt: ts('created_at').notNull(),
  },
  (t) => [
    uniqueIndex('notice_emails_once').on(t.notificationId),
    index('notice_emails_open')
      .on(t.createdAt)
      .where(sql`state IN ('pending', 'sending')`),
  ],
);

/** Every email attempt and its outcome (no secret: the SMTP answer, never the credentials). */
export const deliveries = notificationSchema.table(
  'deliveries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    reminderId: uuid('reminder_id').notNull(),
    attempt: integer('attempt').notNull(),
    outcome: text('outcome').notNull(),
    smtpCode: integer('smtp_code'),
    detail: text('detail'),
    /** Whose SMTP: `tenant` (its own, from channel_configuration) or `system` (NOTIFY_SMTP_URL). */
    sender: text('sender'),
    at: ts('at').notNull(),
  },
  (t) => [index('deliveries_reminder').on(t.reminderId)],
);

export const notifications = notificationSchema.table(
  'notifications',
  {
    id: uuid('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    userId: text('user_id').notNull(),
    sessionId: text('session_id').notNull(),
    sessionType: text('session_type').notNull(),
    kind: text('kind').notNull(),
    title: text('title').notNull(),
    body: text('body').notNull(),
    link: text('link'),
    stepsLeft: text('steps_left').array(),
    /** What caused it (a reminder id, an event id + recipient): writing it twice is a no-op. */
    dedupeKey: text('dedupe_key').notNull(),
    createdAt: ts('created_at').notNull(),
    readAt: ts('read_at'),
  },
  (t) => [
    uniqueIndex('notifications_dedupe').on(t.dedupeKey),
    index('notifications_user_newest').on(t.tenantId, t.userId, t.createdAt.desc(), t.id.desc()),
    index('notifications_user_unread')
      .on(t.tenantId, t.userId)
      .where(sql`read_at IS NULL`),
  ],
);

/** sessionSeq of the last notification.created event written per session (this producer's own sequence). */
export const eventSeqs = notificationSchema.table('event_seqs', {
  sessionId: text('session_id').primaryKey(),
  seq: integer('seq').notNull(),
});

/** Events already applied (consumers are idempotent). */
export const inbox = notificationSchema.table('inbox', {
  eventId: uuid('event_id').primaryKey(),
  processedAt: ts('processed_at').notNull().defaultNow(),
});

/** The outbox (its DDL is @glavito/outbox's outboxMigration, run after the drizzle migrations). */
export const outbox = outboxTable(notificationSchema);
