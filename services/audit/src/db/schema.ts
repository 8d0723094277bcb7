import { sql } from 'drizzle-orm';
import { bigint, index, jsonb, pgSchema, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { outboxTable } from '@glavito/outbox';

export const auditSchema = pgSchema('audit');
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'string' });

/**
 * The audit records: append-only (the service role may INSERT and SELECT, never UPDATE or DELETE), one hash chain
 * per tenant in `seq` order. Deleted only by the retention job, as the admin, after archiving the prefix it cuts.
 */
export const records = auditSchema.table(
  'records',
  {
    tenantId: text('tenant_id').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    id: uuid('id').notNull(),
    occurredAt: ts('occurred_at').notNull(),
    recordedAt: ts('recorded_at').notNull(),
    actorSubject: text('actor_subject').notNull(),
    actorRoles: text('actor_roles').array().notNull(),
    action: text('action').notNull(),
    targetType: text('target_type').notNull(),
    targetId: text('target_id'),
    outcome: text('outcome').notNull(),
    outcomeCode: text('outcome_code'),
    requestId: text('request_id'),
    correlationId: text('correlation_id'),
    clientIp: text('client_ip'),
    userAgent: text('user_agent'),
    details: jsonb('details').notNull(),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.seq] }),
    uniqueIndex('records_id').on(t.id),
    index('records_tenant_action').on(t.tenantId, t.action, t.seq),
    index('records_tenant_actor').on(t.tenantId, t.actorSubject, t.seq),
    index('records_tenant_occurred').on(t.tenantId, t.occurredAt),
  ],
);

/** The newest link of each tenant's chain; its row lock orders a tenant's appends across replicas. */
export const chainHeads = auditSchema.table('chain_heads', {
  tenantId: text('tenant_id').primaryKey(),
  seq: bigint('seq', { mode: 'number' }).notNull(),
  hash: text('hash').notNull(),
});

/** Where retention cut a chain: the last archived record's seq and hash, from which verification continues. */
export const anchors = auditSchema.table(
  'anchors',
  {
    tenantId: text('tenant_id').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    hash: text('hash').notNull(),
    archive: text('archive').notNull(),
    archiveSha256: text('archive_sha256').notNull(),
    archivedAt: ts('archived_at')
      .notNull()
      .default(sql`now()`),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.seq] })],
);

/** Audit events of this service's own reads (audit.read, audit.export, audit.verify). DDL: @glavito/outbox's outboxMigration. */
export const outbox = outboxTable(auditSchema);

export type RecordRow = typeof records.$inferSelect;
