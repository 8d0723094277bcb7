import { index, integer, jsonb, pgSchema, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { outboxTable } from '@glavito/outbox';

export const connectionTestSchema = pgSchema('connection_test');
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'string' });

/** Sessions this service has heard of (from events, or asked from the session service on a miss). */
export const knownSessions = connectionTestSchema.table(
  'known_sessions',
  {
    sessionId: text('session_id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    userId: text('user_id').notNull(),
    status: text('status').notNull(),
    /** sessionSeq of the newest session event seen (status updates apply only forward). */
    lastSeq: integer('last_seq').notNull().default(0),
    /** sessionSeq of the last connection.tested event emitted for the session. */
    outSeq: integer('out_seq').notNull().default(0),
  },
  (t) => [index('known_sessions_tenant').on(t.tenantId)],
);

/** One row per test run. No credential is ever stored: config_summary is redacted by each channel. */
export const testRuns = connectionTestSchema.table(
  'test_runs',
  {
    id: uuid('id').primaryKey(),
    sessionId: text('session_id').notNull(),
    tenantId: text('tenant_id').notNull(),
    userId: text('user_id').notNull(),
    channel: text('channel').notNull(),
    status: text('status').notNull(),
    errorCode: text('error_code'),
    message: text('message').notNull(),
    hint: text('hint'),
    checks: jsonb('checks').notNull(),
    details: jsonb('details').notNull(),
    configSummary: jsonb('config_summary').notNull(),
    responseTimeMs: integer('response_time_ms').notNull(),
    createdAt: ts('created_at').notNull(),
  },
  (t) => [index('test_runs_session_newest').on(t.sessionId, t.createdAt.desc(), t.id.desc())],
);

/** Fixed-window counters shared by every replica (per tenant and per user). */
export const rateLimitCounters = connectionTestSchema.table(
  'rate_limit_counters',
  {
    key: text('key').notNull(),
    windowStart: ts('window_start').notNull(),
    count: integer('count').notNull(),
  },
  (t) => [primaryKey({ columns: [t.key, t.windowStart] })],
);

/** The outbox (its DDL is @glavito/outbox's outboxMigration, run after the drizzle migrations). */
export const outbox = outboxTable(connectionTestSchema);
