import { createTestDatabase, type TestDatabase } from '@glavito/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPool, inTransaction, type Pool } from '../src/index.js';

let db: TestDatabase;
let pool: Pool;

const labels = async () => (await pool.query<{ label: string }>('SELECT label FROM items ORDER BY id')).rows.map((r) => r.label);
/** Every connection the pool opened is idle again: none was kept checked out. */
const allReturned = () => {
  expect(pool.idleCount).toBe(pool.totalCount);
  expect(pool.waitingCount).toBe(0);
};

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool({ connectionString: db.url, max: 2 });
  await pool.query('CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL)');
});
beforeEach(async () => {
  await pool.query('TRUNCATE items');
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('inTransaction', () => {
  it('commits every statement of fn together and returns its result', async () => {
    const result = await inTransaction({ pool }, async (client) => {
      await client.query("INSERT INTO items VALUES (1, 'a')");
      await client.query("INSERT INTO items VALUES (2, 'b')");
      // Not visible outside before the commit.
      expect(await labels()).toEqual([]);
      return 'done';
    });
    expect(result).toBe('done');
    expect(await labels()).toEqual(['a', 'b']);
    expect(pool.totalCount).toBeGreaterThan(0);
    allReturned();
  });

  it('rolls back everything when fn throws and rethrows that same error', async () => {
    const boom = new Error('boom');
    const run = inTransaction({ pool }, async (client) => {
      await client.query("INSERT INTO items VALUES (1, 'a')");
      throw boom;
    });
    await expect(run).rejects.toBe(boom);
    expect(await labels()).toEqual([]);
    allReturned();
  });

  it('rethrows a failed statement (not a ROLLBACK error) and leaves the connection usable', async () => {
    const run = inTransaction({ pool }, async (client) => {
      await client.query("INSERT INTO items VALUES (1, 'a')");
      await client.query("INSERT INTO items VALUES (1, 'again')");
    });
    await expect(run).rejects.toMatchObject({ code: '23505' });
    allReturned();
    // Both connections of the pool (max 2) still work: neither was left inside an aborted transaction.
    const results = await Promise.all([0, 1].map((i) => inTransaction({ pool }, (client) => client.query("INSERT INTO items VALUES ($1, 'x')", [10 + i]))));
    expect(results.map((r) => r.rowCount)).toEqual([1, 1]);
    expect(await labels()).toEqual(['x', 'x']);
    allReturned();
  });

  it('never holds a connection: more transactions than the pool has connections, some failing, all complete', async () => {
    const runs = Array.from({ length: 10 }, (_, i) =>
      inTransaction({ pool }, async (client) => {
        await client.query("INSERT INTO items VALUES ($1, 'n')", [i]);
        if (i % 2 === 1) throw new Error(`odd ${i}`);
      }),
    );
    const settled = await Promise.allSettled(runs);
    expect(settled.filter((s) => s.status === 'rejected')).toHaveLength(5);
    expect((await pool.query<{ id: number }>('SELECT id FROM items ORDER BY id')).rows.map((r) => r.id)).toEqual([0, 2, 4, 6, 8]);
    expect(pool.totalCount).toBeLessThanOrEqual(2);
    allReturned();
  });

  it('rethrows the error of fn when the connection dies inside it (ROLLBACK fails too) and the pool drops that connection', async () => {
    await inTransaction({ pool }, (client) => client.query('SELECT 1'));
    const before = pool.totalCount;
    const run = inTransaction({ pool }, async (client) => {
      await client.query('SELECT pg_terminate_backend(pg_backend_pid())');
    });
    await expect(run).rejects.toThrow(/terminat/i);
    expect(pool.totalCount).toBe(before - 1);
    allReturned();
    expect(await inTransaction({ pool }, async (client) => (await client.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n)).toBe(1);
  });

  it('joins a caller transaction: no commit of its own, rolled back with the caller', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("INSERT INTO items VALUES (1, 'caller')");
      const seen = await inTransaction({ client }, async (joined) => {
        expect(joined).toBe(client);
        await joined.query("INSERT INTO items VALUES (2, 'joined')");
        return (await joined.query<{ n: number }>('SELECT count(*)::int AS n FROM items')).rows[0]!.n;
      });
      expect(seen).toBe(2);
      // Still the caller's open transaction: nothing committed yet.
      expect(await labels()).toEqual([]);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await labels()).toEqual([]);
    allReturned();
  });

  it('a joined fn that throws leaves the decision to the caller, whose commit keeps its other work', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("INSERT INTO items VALUES (1, 'caller')");
      await client.query('SAVEPOINT inner_work');
      const boom = new Error('inner');
      await expect(
        inTransaction({ client }, async (joined) => {
          await joined.query("INSERT INTO items VALUES (2, 'joined')");
          throw boom;
        }),
      ).rejects.toBe(boom);
      // No ROLLBACK was issued by the helper: the caller's transaction and savepoint are still there.
      await client.query('ROLLBACK TO SAVEPOINT inner_work');
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(await labels()).toEqual(['caller']);
    allReturned();
  });
});
