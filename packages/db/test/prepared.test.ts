import { createTestDatabase, type TestDatabase } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, prepared, roundTrip, type Pool, type SqlStatement } from '../src/index.js';

let db: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool({ connectionString: db.url, max: 2 });
  await pool.query('CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL)');
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('prepared', () => {
  it('names a statement by its text: the same text the same name, another text another', () => {
    const a = prepared('SELECT $1::int AS n', [1]);
    expect(prepared('SELECT $1::int AS n', [2])).toEqual({ name: a.name, text: a.text, values: [2] });
    expect(prepared('SELECT $1::int + 1 AS n', [1]).name).not.toBe(a.name);
  });

  it('runs many times on the same connections, prepared once per connection, with fresh values each time', async () => {
    const insert = 'INSERT INTO items (id, label) VALUES ($1, $2) RETURNING label';
    for (let i = 0; i < 20; i++) {
      const r = await pool.query<{ label: string }>(prepared(insert, [i, `item ${i}`]));
      expect(r.rows[0]!.label).toBe(`item ${i}`);
    }
    const select = prepared('SELECT count(*)::int AS n FROM items WHERE id >= $1', [10]);
    expect((await pool.query<{ n: number }>(select)).rows[0]!.n).toBe(10);
    const client = await pool.connect();
    try {
      await client.query(prepared(insert, [100, 'a']));
      await client.query(prepared(insert, [101, 'b']));
      const held = await client.query<{ name: string }>('SELECT name FROM pg_prepared_statements WHERE statement = $1', [insert]);
      expect(held.rows).toEqual([{ name: prepared(insert, []).name }]);
    } finally {
      client.release();
    }
  });
});

describe('roundTrip', () => {
  const ECHO: SqlStatement = { name: 'test_echo', types: ['text', 'int', 'jsonb'], text: 'SELECT $1 AS s, $2 AS n, $3 AS j' };
  const COUNT: SqlStatement = { name: 'test_count', types: ['int'], text: 'SELECT count(*)::int AS n FROM items WHERE id < $1' };

  it('runs plain SQL and prepared statements in one query, one result per part, values kept exactly', async () => {
    const client = await pool.connect();
    try {
      const tricky = `it's a "quote" \\ back\\slash; DROP TABLE items; -- ü ✓ $1`;
      const json = JSON.stringify({ a: tricky, n: [1, 2] });
      const [begin, echo, count, commit] = await roundTrip(client, ['BEGIN', { statement: ECHO, args: [tricky, 42, json] }, { statement: COUNT, args: [5] }, 'COMMIT']);
      expect(begin!.command).toBe('BEGIN');
      expect(echo!.rows).toEqual([{ s: tricky, n: 42, j: { a: tricky, n: [1, 2] } }]);
      expect(count!.rows).toEqual([{ n: 5 }]);
      expect(commit!.command).toBe('COMMIT');

      // Second time on this connection: no PREPARE again (it would fail: "already exists").
      const [again] = await roundTrip(client, [{ statement: ECHO, args: [null, -7, 'null'] }]);
      expect(again!.rows).toEqual([{ s: null, n: -7, j: null }]);
      const held = await client.query<{ name: string }>("SELECT name FROM pg_prepared_statements WHERE name IN ('test_echo', 'test_count') ORDER BY name");
      expect(held.rows.map((r) => r.name)).toEqual(['test_count', 'test_echo']);
      expect((await client.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBeGreaterThan(0);
    } finally {
      client.release();
    }
  });

  it('refuses to inline anything but integers as numbers', async () => {
    const client = await pool.connect();
    try {
      await expect(roundTrip(client, [{ statement: COUNT, args: [1.5] }])).rejects.toThrow(/only integers/);
      await expect(roundTrip(client, [{ statement: COUNT, args: [Number.NaN] }])).rejects.toThrow(/only integers/);
    } finally {
      client.release(new Error('discard: test'));
    }
  });
});
