import { createTestDatabase, type TestDatabase } from '@glavito/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueue, outboxMigration, outboxNotifyChannel, type OutboxRow } from '../src/index.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

const migrate = async (schema: string) => {
  for (const statement of outboxMigration(schema)) await db.pool.query(statement);
};

async function columns(schema: string): Promise<string[]> {
  const r = await db.pool.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'outbox' ORDER BY ordinal_position`,
    [schema],
  );
  return r.rows.map((c) => c.column_name);
}

const row = (n: number): OutboxRow => ({
  id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  subject: `test.audit.${n}`,
  payload: { type: 'audit.recorded' } as OutboxRow['payload'],
});

/** The channels NOTIFYed while `fn` runs (LISTEN on the schema's outbox channel). */
async function notificationsDuring(schema: string, fn: () => Promise<void>): Promise<number> {
  const listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  let count = 0;
  listener.on('notification', () => count++);
  await listener.query(`LISTEN "${outboxNotifyChannel(schema)}"`);
  try {
    await fn();
    // A NOTIFY is delivered at commit; a round trip on the listener after it is enough to have received it.
    await listener.query('SELECT 1');
    return count;
  } finally {
    await listener.end();
  }
}

describe('outboxMigration', () => {
  it('creates the outbox in a fresh schema and changes nothing when run again', async () => {
    await db.pool.query('CREATE SCHEMA fresh');
    await migrate('fresh');
    await migrate('fresh');
    expect(await columns('fresh')).toEqual(['id', 'seq', 'subject', 'payload', 'created_at', 'published_at', 'relay_after']);
    const idx = await db.pool.query(`SELECT indexdef FROM pg_indexes WHERE schemaname = 'fresh' AND indexname = 'outbox_pending'`);
    expect(idx.rows[0].indexdef).toMatch(/WHERE \(published_at IS NULL\)/);
    const triggers = await db.pool.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'fresh.outbox'::regclass AND NOT tgisinternal`);
    expect(triggers.rows[0].n).toBe(1);
  });

  it('on a schema already current takes no lock on the outbox (a replica booting beside writes in flight), and runs again once the DDL changed', async () => {
    await db.pool.query('CREATE SCHEMA booted');
    await migrate('booted');
    const writer = new pg.Client({ connectionString: db.url });
    const booting = new pg.Client({ connectionString: db.url });
    await Promise.all([writer.connect(), booting.connect()]);
    try {
      // A save's transaction, not committed yet: an ALTER TABLE or CREATE OR REPLACE TRIGGER would wait for it.
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO booted.outbox (id, subject, payload) VALUES ($1, 'in.flight', '{}')`, [row(10).id]);
      await booting.query(`SET lock_timeout = '500ms'`);
      for (const statement of outboxMigration('booted')) await booting.query(statement);
      await writer.query('COMMIT');

      // An outbox whose mark is not this DDL's (an older release): the statements run and bring back what it lacks.
      await db.pool.query(`DROP TRIGGER outbox_notify ON booted.outbox`);
      await db.pool.query(`COMMENT ON TABLE booted.outbox IS 'glavito outbox of an older release'`);
      for (const statement of outboxMigration('booted')) await booting.query(statement);
      const triggers = await db.pool.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'booted.outbox'::regclass AND NOT tgisinternal`);
      expect(triggers.rows[0].n).toBe(1);
    } finally {
      await writer.query('ROLLBACK').catch(() => undefined);
      await Promise.all([writer.end(), booting.end()]);
    }
  });

  it('brings an outbox of the first release (no relay_after, a trigger that woke the relays for every row) to the current one, keeping its rows', async () => {
    await db.pool.query('CREATE SCHEMA first_release');
    await db.pool.query(`CREATE TABLE first_release.outbox (id uuid PRIMARY KEY NOT NULL, seq bigserial NOT NULL, subject text NOT NULL, payload jsonb NOT NULL,
      created_at timestamp with time zone DEFAULT now() NOT NULL, published_at timestamp with time zone)`);
    await db.pool.query(
      `CREATE FUNCTION first_release.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('first_release_outbox', ''); RETURN NULL; END $$`,
    );
    await db.pool.query(`CREATE TRIGGER outbox_notify AFTER INSERT ON first_release.outbox FOR EACH STATEMENT EXECUTE FUNCTION first_release.notify_outbox()`);
    await db.pool.query(`INSERT INTO first_release.outbox (id, subject, payload) VALUES ($1, 'old.subject', '{"old":true}')`, [row(1).id]);

    await migrate('first_release');

    expect(await columns('first_release')).toContain('relay_after');
    const kept = await db.pool.query(`SELECT subject, published_at, relay_after <= now() AS due FROM first_release.outbox`);
    expect(kept.rows).toEqual([{ subject: 'old.subject', published_at: null, due: true }]);
    // The trigger is the current one: rows their writer publishes wake no relay, the relay's own do.
    expect(await notificationsDuring('first_release', () => enqueue(db.pool, 'first_release', [row(2)], { publishedBy: 'direct' }))).toBe(0);
    expect(await notificationsDuring('first_release', () => enqueue(db.pool, 'first_release', [row(3)], { publishedBy: 'relay' }))).toBe(1);
  });

  it('enqueue with publishedBy direct leaves the row to its writer for a few seconds; relay rows are due at once', async () => {
    await db.pool.query('CREATE SCHEMA due');
    await migrate('due');
    await enqueue(db.pool, 'due', [row(4)], { publishedBy: 'direct' });
    await enqueue(db.pool, 'due', [row(5)], { publishedBy: 'relay' });
    const r = await db.pool.query<{ id: string; ahead: number }>(
      `SELECT id, extract(epoch FROM relay_after - created_at)::float AS ahead FROM due.outbox ORDER BY seq`,
    );
    expect(r.rows[0]!.ahead).toBeGreaterThanOrEqual(4.9);
    expect(r.rows[1]!.ahead).toBeLessThan(0.1);
  });

  it('refuses a schema name that is not a plain identifier', () => {
    expect(() => outboxMigration('x"; DROP TABLE y; --')).toThrow(/unsafe SQL identifier/);
  });
});
