import { createTestDatabase, type TestDatabase } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, prepared, type Pool } from '../src/index.js';

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
