import { quoteIdent } from '@glavito/db';

/** The channel an outbox's trigger NOTIFYs and its relays LISTEN on. */
export function outboxNotifyChannel(schema: string): string {
  return `${schema}_outbox`;
}

/**
 * The outbox of `schema` as this package defines it, as idempotent statements: a fresh schema gets the table,
 * an older one the columns, index and trigger it lacks. Every service runs it after its drizzle migrations
 * (`afterMigrations` of the db plugin), in the same lock, so the DDL exists once here instead of in each
 * service's migration history.
 *
 * The trigger wakes the relays only for rows that are theirs now: rows their writer publishes itself
 * (relay_after ahead, see `enqueue`) wake nobody.
 */
export function outboxMigration(schema: string): string[] {
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
