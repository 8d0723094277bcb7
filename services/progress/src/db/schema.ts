import { sql } from 'drizzle-orm';
import { bigint, bigserial, date, index, integer, jsonb, pgSchema, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { outboxTable } from '@glavito/outbox';

export const progressSchema = pgSchema('progress');
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'string' });

export const projectionVersions = progressSchema.sequence('projection_versions');

/** One row per session: the read model behind GET /progress and the statistics. */
export const projections = progressSchema.table(
  'projections',
  {
    sessionId: text('session_id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    userId: text('user_id').notNull(),
    type: text('type').notNull(),
    status: text('status').notNull(),
    completedSteps: text('completed_steps')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    skippedSteps: text('skipped_steps')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    currentStep: text('current_step'),
    progressPercentage: integer('progress_percentage').notNull().default(0),
    estimatedTimeRemaining: integer('estimated_time_remaining').notNull().default(0),
    estimatedCompletion: ts('estimated_completion'),
    startedAt: ts('started_at'),
    lastEventAt: ts('last_event_at'),
    completedAt: ts('completed_at'),
    /** sessionSeq of the last session event applied: events are applied strictly in this order. */
    appliedSeq: integer('applied_seq').notNull().default(0),
    /** sessionSeq of the last event this service emitted for the session. */
    outSeq: integer('out_seq').notNull().default(0),
    /**
     * A new value from `projection_versions` on every write of the session's projection or its parked
     * events: what an optimistic write checks. Never reused, even after a rebuild deletes the rows.
     */
    version: bigint('version', { mode: 'number' }).notNull().default(0),
    /** The flow version the session follows (from its events; 1 = built-in): its steps come from flow_versions. */
    flowVersion: integer('flow_version').notNull().default(1),
  },
  (t) => [index('projections_tenant_started').on(t.tenantId, t.startedAt), index('projections_tenant_status').on(t.tenantId, t.status)],
);

export const stepTimings = progressSchema.table(
  'step_timings',
  {
    sessionId: text('session_id').notNull(),
    stepId: text('step_id').notNull(),
    tenantId: text('tenant_id').notNull(),
    reachedAt: ts('reached_at'),
    completedAt: ts('completed_at'),
    skippedAt: ts('skipped_at'),
  },
  (t) => [primaryKey({ columns: [t.sessionId, t.stepId] }), index('step_timings_tenant').on(t.tenantId, t.stepId)],
);

export const milestones = progressSchema.table(
  'milestones',
  {
    sessionId: text('session_id').notNull(),
    threshold: integer('threshold').notNull(),
    tenantId: text('tenant_id').notNull(),
    title: text('title').notNull(),
    reachedAt: ts('reached_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.sessionId, t.threshold] }), index('milestones_tenant').on(t.tenantId, t.threshold)],
);

/** Events that arrived ahead of a gap in their session's sequence; applied once the gap fills. */
export const pendingEvents = progressSchema.table(
  'pending_events',
  {
    sessionId: text('session_id').notNull(),
    sessionSeq: integer('session_seq').notNull(),
    event: jsonb('event').notNull(),
    receivedAt: ts('received_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.sessionId, t.sessionSeq] })],
);

export const inbox = progressSchema.table('inbox', {
  eventId: uuid('event_id').primaryKey(),
  processedAt: ts('processed_at').notNull().defaultNow(),
});

/** The outbox (its DDL is @glavito/outbox's outboxMigration, run after the drizzle migrations). */
export const outbox = outboxTable(progressSchema);

/**
 * What each applied event changes in the tenant analytics (see domain/aggregates.ts), written in the same
 * statement as the projection: one row per applied event, its entries as parallel arrays. Append-only, so
 * concurrent events of one tenant and day never wait on each other's row locks; the compactor folds them into
 * `stat_counts` and deletes them, and reads add the ones not folded yet.
 */
export const statDeltaSets = progressSchema.table('stat_delta_sets', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  tenantId: text('tenant_id').notNull(),
  types: text('types').array().notNull(),
  flowVersions: integer('flow_versions').array().notNull(),
  days: date('days', { mode: 'string' }).array().notNull(),
  metrics: text('metrics').array().notNull(),
  buckets: integer('buckets').array().notNull(),
  ns: bigint('ns', { mode: 'number' }).array().notNull(),
});

/** Superseded by stat_delta_sets (one row per event instead of one per entry); its rows moved there by migration 0006. */
export const statDeltas = progressSchema.table('stat_deltas', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  tenantId: text('tenant_id').notNull(),
  type: text('type').notNull(),
  flowVersion: integer('flow_version').notNull(),
  day: date('day', { mode: 'string' }).notNull(),
  metric: text('metric').notNull(),
  bucket: integer('bucket').notNull(),
  n: bigint('n', { mode: 'number' }).notNull(),
});

/**
 * Tenant analytics as counts per tenant × flow type × flow version × UTC day (`grain` 'd') and the same
 * summed per month (`grain` 'm', `day` = the month's first day) so a long range reads few rows. A metric is
 * a counter (bucket 0), a duration histogram (bucket = DDSketch index), weeks to complete (bucket = weeks)
 * or a milestone (bucket = threshold). Only the compactor writes here.
 */
export const statCounts = progressSchema.table(
  'stat_counts',
  {
    tenantId: text('tenant_id').notNull(),
    grain: text('grain').notNull(),
    day: date('day', { mode: 'string' }).notNull(),
    type: text('type').notNull(),
    flowVersion: integer('flow_version').notNull(),
    metric: text('metric').notNull(),
    bucket: integer('bucket').notNull(),
    n: bigint('n', { mode: 'number' }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.grain, t.day, t.type, t.flowVersion, t.metric, t.bucket] }),
    // A series reads a few metrics over many days: without it, every metric of those days is read and dropped.
    index('stat_counts_by_metric').on(t.tenantId, t.grain, t.metric, t.day),
  ],
);

/** One row: when the analytics were first filled from projections that existed before them (an upgrade). */
export const statMeta = progressSchema.table('stat_meta', {
  id: integer('id').primaryKey(),
  backfilledAt: ts('backfilled_at'),
});

/** This service's copy of tenants' published flows, from flow.published: the steps progress computes with. */
export const flowVersions = progressSchema.table(
  'flow_versions',
  {
    tenantId: text('tenant_id').notNull(),
    type: text('type').notNull(),
    version: integer('version').notNull(),
    steps: jsonb('steps').notNull(),
    publishedAt: ts('published_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.type, t.version] })],
);
