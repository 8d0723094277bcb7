import { sql } from 'drizzle-orm';
import { bigserial, index, jsonb, text, timestamp, uuid, type PgSchema } from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'string' });

/**
 * The outbox table of a service's schema, for its drizzle schema file (typed reads in tests and tools, and
 * drizzle-kit's snapshot). Its DDL is `outboxMigration`'s, not a drizzle migration's: change both together.
 */
export function outboxTable(schema: PgSchema) {
  return schema.table(
    'outbox',
    {
      id: uuid('id').primaryKey(),
      seq: bigserial('seq', { mode: 'number' }).notNull(),
      subject: text('subject').notNull(),
      payload: jsonb('payload').notNull(),
      createdAt: ts('created_at').notNull().defaultNow(),
      publishedAt: ts('published_at'),
      /** Until then the row is its writer's to publish (see `enqueue`). */
      relayAfter: ts('relay_after').notNull().defaultNow(),
    },
    (t) => [
      index('outbox_pending')
        .on(t.seq)
        .where(sql`published_at IS NULL`),
    ],
  );
}
