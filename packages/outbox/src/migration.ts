import { createHash } from 'node:crypto';
import { quoteIdent } from '@glavito/db';

/** The channel an outbox's trigger NOTIFYs and its relays LISTEN on. */
export function outboxNotifyChannel(schema: string): string {
  return `${schema}_outbox`;
}

/**
 * The outbox of `schema` as this package defines it: a fresh schema gets the table, an older one the columns, index
 * and trigger it lacks. Every service runs it after its drizzle migrations (`afterMigrations` of the db plugin), in
 * the same lock, so the DDL exists once here instead of in each service's migration history.
 *
 * It is one statement that does nothing when the outbox already carries the mark of this very DDL (a hash of it, set
 * as the table's comment), which is every boot but the first after a change. Run each time, the ALTER TABLE and
 * CREATE OR REPLACE TRIGGER took an exclusive lock on the outbox: a replica starting under load queued it behind the
 * writes in flight, and every save of the service queued behind it.
 *
 * The trigger wakes the relays only for rows that are theirs now: rows their writer publishes itself
 * (relay_after ahead, see `enqueue`) wake nobody.
 */
export function outboxMigration(schema: string): string[] {
  const s = quoteIdent(schema);
  const ddl = outboxDdl(schema);
  const mark = `glavito outbox ${createHash('sha256').update(ddl.join('\n')).digest('hex').slice(0, 16)}`;
  return [
    `DO $outbox_migration$ BEGIN
  IF obj_description(to_regclass('${s}.outbox'), 'pg_class') IS DISTINCT FROM '${mark}' THEN
${ddl.map((statement) => `    EXECUTE $ddl$${statement}$ddl$;`).join('\n')}
    COMMENT ON TABLE ${s}.outbox IS '${mark}';
  END IF;
END $outbox_migration$`,
  ];
}

/** The idempotent statements that bring `schema`'s outbox to the current one. */
function outboxDdl(schema: string): string[] {
  const s = quoteIdent(schema);
  return [
    `CREATE TABLE IF NOT EXISTS ${s}.outbox (
      id uuid PRIMARY KEY NOT NULL,
      seq bigserial NOT NULL,
      subject text NOT NULL,
      payload jsonb NOT NULL,
      created_at timestamp with time zone DEFAULT now() NOT NULL,
      published_at timestamp with time zone,
      relay_after timestamp with time zone DEFAULT now() NOT NULL
    )`,
    `ALTER TABLE ${s}.outbox ADD COLUMN IF NOT EXISTS relay_after timestamp with time zone DEFAULT now() NOT NULL`,
    `CREATE INDEX IF NOT EXISTS outbox_pending ON ${s}.outbox USING btree (seq) WHERE published_at IS NULL`,
    `CREATE OR REPLACE FUNCTION ${s}.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM new_rows WHERE relay_after <= now()) THEN
    PERFORM pg_notify('${outboxNotifyChannel(schema)}', '');
  END IF;
  RETURN NULL;
END $$`,
    `CREATE OR REPLACE TRIGGER outbox_notify AFTER INSERT ON ${s}.outbox REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ${s}.notify_outbox()`,
  ];
}
