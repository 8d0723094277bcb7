import { createTestDatabase, type TestDatabase } from '@glavito/testkit';
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneInbox, uuidV7Floor } from '../src/index.js';

let db: TestDatabase;
const DAY = 86_400_000;
const NOW = new Date('2026-12-05T04:00:00Z');

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query('CREATE SCHEMA shop');
  await db.pool.query('CREATE TABLE shop.inbox (event_id uuid PRIMARY KEY, processed_at timestamptz NOT NULL DEFAULT now())');
});
afterAll(async () => db?.drop());

const at = (daysAgo: number) => new Date(NOW.getTime() - daysAgo * DAY);

describe('inbox retention', () => {
  it('uuidV7Floor orders below every UUIDv7 of its instant and later, above every earlier one', () => {
    const t = at(3);
    const same = uuidv7({ msecs: t.getTime() });
    const earlier = uuidv7({ msecs: t.getTime() - 1 });
    expect(uuidV7Floor(t) <= same).toBe(true);
    expect(earlier < uuidV7Floor(t)).toBe(true);
    expect(uuidV7Floor(t).slice(0, 13)).toBe(same.slice(0, 13));
  });

  it('deletes only rows whose event and processing are both older than the retention, in batches', async () => {
    const rows: Array<{ id: string; processed: Date; kept: boolean }> = [
      // Events of 9 and 30 days ago, processed then: past an 8-day retention.
      ...Array.from({ length: 25 }, (_, i) => ({ id: uuidv7({ msecs: at(9 + i).getTime() }), processed: at(9 + i), kept: false })),
      // Events of 7 days ago and of today: kept.
      { id: uuidv7({ msecs: at(7).getTime() }), processed: at(7), kept: true },
      { id: uuidv7({ msecs: NOW.getTime() }), processed: NOW, kept: true },
      // An old event processed only today (a late redelivery): kept until its processing is old too.
      { id: uuidv7({ msecs: at(20).getTime() }), processed: NOW, kept: true },
      // Not a UUIDv7, one sorting low: kept while its processing is recent.
      { id: `0${uuidv4().slice(1)}`, processed: at(1), kept: true },
    ];
    for (const r of rows) await db.pool.query('INSERT INTO shop.inbox (event_id, processed_at) VALUES ($1, $2)', [r.id, r.processed]);

    expect(await pruneInbox(db.pool, 'shop', 8 * DAY, { now: NOW, batch: 10 })).toBe(25);
    const left = (await db.pool.query<{ event_id: string }>('SELECT event_id FROM shop.inbox ORDER BY event_id')).rows.map((r) => r.event_id);
    expect(left).toEqual(
      rows
        .filter((r) => r.kept)
        .map((r) => r.id)
        .sort(),
    );
    expect(await pruneInbox(db.pool, 'shop', 8 * DAY, { now: NOW })).toBe(0);
  });
});
