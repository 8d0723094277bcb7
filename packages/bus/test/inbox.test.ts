import { eventSubject } from '@glavito/contracts';
import { createTestDatabase, createTestNats, waitFor, type TestDatabase, type TestNats } from '@glavito/testkit';
import type pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimInbox, connectBus, createNatsBus, type EventBus, ensureDurableConsumer, ensureStream, runConsumer, type Bus } from '../src/index.js';
import { createBusSchema, makeEnvelope, silentLogger } from './helpers.js';

let db: TestDatabase;
let nats: TestNats;
let bus: Bus;
let eventBus: EventBus;
const schema = 's';

beforeAll(async () => {
  [db, nats] = await Promise.all([createTestDatabase(), createTestNats()]);
  bus = await connectBus({ servers: nats.url, name: 'bus-inbox-test' });
  eventBus = await createNatsBus({ servers: nats.url, name: 'bus-inbox-events' });
  await createBusSchema(db.pool, schema);
});

afterAll(async () => {
  await bus?.nc.drain();
  await eventBus?.close();
  await nats?.cleanup();
  await db?.drop();
});

async function inTx<T>(fn: (client: pg.PoolClient) => Promise<T>, outcome: 'COMMIT' | 'ROLLBACK' = 'COMMIT'): Promise<T> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query(outcome);
    return result;
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
}

const inboxCount = async (id: string) => Number((await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM s.inbox WHERE event_id = $1`, [id])).rows[0]!.n);

describe('claimInbox', () => {
  it('returns true for a new event id, then false for the same id', async () => {
    const id = uuidv7();
    expect(await inTx((c) => claimInbox(c, schema, id))).toBe(true);
    expect(await inTx((c) => claimInbox(c, schema, id))).toBe(false);
    expect(await inboxCount(id)).toBe(1);
  });

  it('returns false for a second claim inside the same transaction', async () => {
    const id = uuidv7();
    expect(await inTx(async (c) => [await claimInbox(c, schema, id), await claimInbox(c, schema, id)])).toEqual([true, false]);
  });

  it('forgets a claim whose transaction rolled back', async () => {
    const id = uuidv7();
    expect(await inTx((c) => claimInbox(c, schema, id), 'ROLLBACK')).toBe(true);
    expect(await inboxCount(id)).toBe(0);
    expect(await inTx((c) => claimInbox(c, schema, id))).toBe(true);
  });

  it('makes a handler idempotent when the broker delivers the same event twice', async () => {
    const stream = `${nats.streamName}_INBOX`;
    await ensureStream(bus.jsm, { name: stream, subjects: [`${nats.subjectPrefix}.>`] });
    await ensureDurableConsumer(bus.jsm, { stream, durable: 'inbox', filterSubject: `${nats.subjectPrefix}.>` });
    const env = makeEnvelope();
    // Without a msgID the stream keeps both copies, as after a republish outside the dedupe window.
    await bus.js.publish(eventSubject(nats.subjectPrefix, env), JSON.stringify(env));
    await bus.js.publish(eventSubject(nats.subjectPrefix, env), JSON.stringify(env));

    let delivered = 0;
    let applied = 0;
    const handle = await runConsumer({
      bus: eventBus,
      stream,
      durable: 'inbox',
      logger: silentLogger,
      deadLetterSubject: `${nats.subjectPrefix}_dlq`,
      handler: async (event) => {
        delivered += 1;
        await inTx(async (c) => {
          if (await claimInbox(c, schema, event.id)) applied += 1;
        });
      },
    });
    try {
      await waitFor(async () => (await bus.jsm.consumers.info(stream, 'inbox')).num_ack_pending === 0 && delivered === 2, { message: 'both copies handled' });
    } finally {
      await handle.stop();
    }
    expect(applied).toBe(1);
    expect(await inboxCount(env.id)).toBe(1);
  });
});
