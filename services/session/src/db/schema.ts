import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgSchema, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { outboxTable } from '@glavito/outbox';

export const sessionSchema = pgSchema('session');

export const sessions = sessionSchema.table(
  'sessions',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    userId: text('user_id').notNull(),
    type: text('type').notNull(),
    role: text('role').notNull(),
    status: text('status').notNull(),
    currentStep: text('current_step'),
    completedSteps: text('completed_steps')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    skippedSteps: text('skipped_steps')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** Latest data per step; credential fields are AES-256-GCM encrypted. */
    stepData: jsonb('step_data')
      .notNull()
      .default(sql`'{}'::jsonb`),
    metadata: jsonb('metadata')
      .notNull()
      .default(sql`'{}'::jsonb`),
    /** Optimistic concurrency: bumped by every write. */
    version: integer('version').notNull().default(1),
    /** Sequence number of the last event this session produced. */
    eventSeq: integer('event_seq').notNull().default(0),
    startedAt: timestamp('started_at', { withTimezone: true, mode: 'string' }).notNull(),
    lastActivityAt: timestamp('last_activity_at', { withTimezone: true, mode: 'string' }).notNull(),
    completedAt: timestamp('completed_at', { withTimezone: true, mode: 'string' }),
    estimatedCompletion: timestamp('estimated_completion', { withTimezone: true, mode: 'string' }),
    /** What outside systems said about its steps, per step and source (domain/external-signals.ts). */
    signals: jsonb('signals')
      .notNull()
      .default(sql`'{}'::jsonb`),
    /** The flow version the session started on (1 = built-in); publishing a newer one never changes it. */
    flowVersion: integer('flow_version').notNull().default(1),
  },
  (t) => [
    // One unfinished session per user and flow; a completed one can be followed by a new one.
    uniqueIndex('sessions_one_open_per_user_type')
      .on(t.tenantId, t.userId, t.type)
      .where(sql`status <> 'completed'`),
    index('sessions_tenant_user').on(t.tenantId, t.userId, t.startedAt),
    index('sessions_inactive')
      .on(t.lastActivityAt)
      .where(sql`status IN ('active', 'paused')`),
  ],
);

export const tenantOnboarding = sessionSchema.table('tenant_onboarding', {
  tenantId: text('tenant_id').primaryKey(),
  setupCompletedAt: timestamp('setup_completed_at', { withTimezone: true, mode: 'string' }).notNull(),
  setupCompletedBy: text('setup_completed_by').notNull(),
});

export const businessHours = sessionSchema.table('business_hours', {
  tenantId: text('tenant_id').primaryKey(),
  /** null after a DELETE: the row stays so that `version` keeps counting (business_hours.changed carries it). */
  config: jsonb('config'),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull(),
  updatedBy: text('updated_by').notNull(),
  version: integer('version').notNull().default(0),
});

/** A tenant's draft of a flow: what admins edit; publishing copies it into flow_versions. */
export const flowDrafts = sessionSchema.table(
  'flow_drafts',
  {
    tenantId: text('tenant_id').notNull(),
    type: text('type').notNull(),
    definition: jsonb('definition').notNull(),
    revision: integer('revision').notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull(),
    updatedBy: text('updated_by').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.type] })],
);

/** Published flows: immutable, numbered from 2 per tenant and type (1 is the built-in flow); the highest is current. */
export const flowVersions = sessionSchema.table(
  'flow_versions',
  {
    tenantId: text('tenant_id').notNull(),
    type: text('type').notNull(),
    version: integer('version').notNull(),
    definition: jsonb('definition').notNull(),
    publishedAt: timestamp('published_at', { withTimezone: true, mode: 'string' }).notNull(),
    publishedBy: text('published_by').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.type, t.version] })],
);

/** The outbox (its DDL is @glavito/outbox's outboxMigration, run after the drizzle migrations). */
export const outbox = outboxTable(sessionSchema);
