import { parseEvent } from '@glavito/contracts';
import { createTestDatabase, createTestNats, waitFor, type TestDatabase, type TestNats } from '@glavito/testkit';
import type { Subscription } from '@nats-io/transport-node';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, createNatsBus, ensureStream, type Bus, type EventBus } from '@glavito/bus';
import { decode, makeEnvelope, readStream, silentLogger, streamCount } from '@glavito/bus/testing';
import { enqueue, outboxMigration, outboxNotifyChannel, startOutboxRelay, toOutboxRow, type OutboxRelay, type OutboxRow } from '../src/index.js';
import { capturingLogger } from './helpers.js';

let db: TestDatabase;
let nats: TestNats;
let bus: Bus;
let eventBus: EventBus;
const relays: OutboxRelay[] = [];
const pools: pg.Pool[] = [];
const subs: Subscription[] = [];

beforeAll(async () => {
  [db, nats] = await Promise.all([createTestDatabase(), createTestNats({ migrate: false })]);
  bus = await connectBus({ servers: nats.url, name: 'bus-outbox-test' });
  eventBus = await createNatsBus({ servers: nats.url, name: 'bus-outbox-events' });
});

afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop()));
  for (const s of subs.splice(0)) s.unsubscribe();
  await Promise.all(pools.splice(0).map((p) => p.end()));
});

afterAll(async () => {
  await bus?.nc.drain();
  await eventBus?.close();
  await nats?.cleanup();
  await db?.drop();
});

/** A fresh outbox schema plus a stream and subject prefix of its own. */
async function setup(name: string, opts: { createStream?: boolean } = {}) {
  const schema = `s_${name}`;
  const prefix = `${nats.subjectPrefix}.${name}`;
  const stream = `${nats.streamName}_${name.toUpperCase()}`;
  await db.pool.query(`CREATE SCHEMA "${schema}"`);
  for (const statement of outboxMigration(schema)) await db.pool.query(statement);
  if (opts.createStream !== false) await ensureStream(bus.jsm, { name: stream, subjects: [`${prefix}.>`] });
  return { schema, prefix, stream };
}

/** Counts every core publish on a prefix; JetStream dedupe would hide a double publish from the stream count. */
function watchPublishes(prefix: string): string[] {
  const seen: string[] = [];
  const sub = bus.nc.subscribe(`${prefix}.>`, { callback: (_err, m) => void seen.push(m.headers?.get('Nats-Msg-Id') ?? '') });
  subs.push(sub);
  return seen;
}

/** Inserts `n` envelopes for one session, seq 1..n, in one transaction; returns their ids in insert order. */
async function insertEvents(schema: string, prefix: string, n: number, sessionId = 'session_1'): Promise<string[]> {
  const envs = Array.from({ length: n }, (_, i) => makeEnvelope({ sessionId, sessionSeq: i + 1, correlationId: `req "${i}" \\ ü {x}` }));
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await enqueue(
      client,
      schema,
      envs.map((e) => toOutboxRow(prefix, e)),
      { publishedBy: 'relay' },
    );
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  return envs.map((e) => e.id);
}

/** Inserts rows the way a writer that publishes them itself does (relay_after ahead of now), or moves that time. */
async function insertDirect(schema: string, rows: OutboxRow[], relayAfter?: string): Promise<void> {
  await enqueue(db.pool, schema, rows, { publishedBy: 'direct' });
  if (relayAfter) await db.pool.query(`UPDATE "${schema}".outbox SET relay_after = ${relayAfter} WHERE id = ANY($1::uuid[])`, [rows.map((r) => r.id)]);
}

async function outboxState(schema: string) {
  const r = await db.pool.query<{ total: string; unpublished: string }>(
    `SELECT count(*) AS total, count(*) FILTER (WHERE published_at IS NULL) AS unpublished FROM "${schema}".outbox`,
  );
  return { total: Number(r.rows[0]!.total), unpublished: Number(r.rows[0]!.unpublished) };
}

function newPool(): pg.Pool {
  const pool = new pg.Pool({ connectionString: db.url, max: 3 });
  pools.push(pool);
  return pool;
}

describe('enqueue / toOutboxRow', () => {
  it('stores the envelope with its subject and does nothing for no rows', async () => {
    const { schema, prefix } = await setup('rows');
    const env = makeEnvelope({ tenantId: 'tenant_x', sessionId: 'sess_y', correlationId: 'quote " backslash \\ unicode ✓' });
    const row = toOutboxRow(prefix, env);
    expect(row).toEqual({ id: env.id, subject: `${prefix}.tenant_x.sess_y.session.paused`, payload: env });

    await enqueue(db.pool, schema, [], { publishedBy: 'relay' });
    await enqueue(db.pool, schema, [row], { publishedBy: 'relay' });
    const { rows } = await db.pool.query(`SELECT id, subject, payload, published_at FROM "${schema}".outbox`);
    expect(rows).toEqual([{ id: env.id, subject: row.subject, payload: env, published_at: null }]);
  });

  it('rolls back with the caller transaction', async () => {
    const { schema, prefix } = await setup('rollback');
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await enqueue(client, schema, [toOutboxRow(prefix, makeEnvelope())], { publishedBy: 'relay' });
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await outboxState(schema)).toEqual({ total: 0, unpublished: 0 });
  });
});

describe('startOutboxRelay', () => {
  it('publishes 500 rows from one transaction exactly once, in order, and marks them published (woken by NOTIFY)', async () => {
    const { schema, prefix, stream } = await setup('bulk');
    const published = watchPublishes(prefix);
    // A poll interval far beyond the test timeout: only the LISTEN/NOTIFY path can wake the relay.
    const relay = startOutboxRelay({ pool: newPool(), listenUrl: db.url, schema, bus: eventBus, logger: silentLogger, pollIntervalMs: 600_000 });
    relays.push(relay);
    await waitFor(
      async () => {
        const r = await db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query = $2`, [db.name, `LISTEN "${outboxNotifyChannel(schema)}"`]);
        return r.rowCount === 1;
      },
      { message: 'relay LISTEN connection' },
    );

    const ids = await insertEvents(schema, prefix, 500);

    await waitFor(async () => (await streamCount(bus.jsm, stream)) === 500, { timeoutMs: 20_000, message: '500 messages in the stream' });
    await waitFor(async () => (await relay.pending()) === 0, { message: 'outbox drained' });
    expect(await outboxState(schema)).toEqual({ total: 500, unpublished: 0 });

    const msgs = await readStream(bus.js, bus.jsm, stream);
    expect(msgs.map((m) => m.headers?.get('Nats-Msg-Id'))).toEqual(ids);
    const events = msgs.map((m) => parseEvent(decode(m)));
    expect(events.map((e) => e.id)).toEqual(ids);
    expect(events.map((e) => e.sessionSeq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(events[7]!.correlationId).toBe('req "7" \\ ü {x}');
    expect(msgs[0]!.subject).toBe(`${prefix}.tenant_1.session_1.session.paused`);

    expect(await relay.flush()).toBe(0);
    await bus.nc.flush();
    expect(published).toHaveLength(500);
    expect(new Set(published).size).toBe(500);
    expect(await streamCount(bus.jsm, stream)).toBe(500);
  });

  it('shares the work between two concurrent relays without publishing a row twice', async () => {
    const { schema, prefix, stream } = await setup('concurrent');
    const published = watchPublishes(prefix);
    const ids = await insertEvents(schema, prefix, 500);

    // Small batches so the two replicas interleave and contend for rows.
    const opts = { schema, bus: eventBus, logger: silentLogger, batchSize: 20, pollIntervalMs: 50 };
    relays.push(startOutboxRelay({ ...opts, pool: newPool() }), startOutboxRelay({ ...opts, pool: newPool() }));

    await waitFor(async () => (await outboxState(schema)).unpublished === 0, { timeoutMs: 20_000, message: 'outbox drained' });
    await bus.nc.flush();
    expect(published).toHaveLength(500);
    expect(new Set(published)).toEqual(new Set(ids));
    expect(await streamCount(bus.jsm, stream)).toBe(500);
    expect(new Set((await readStream(bus.js, bus.jsm, stream)).map((m) => m.headers?.get('Nats-Msg-Id')))).toEqual(new Set(ids));
  });

  it('keeps rows while publishing fails and publishes them once the stream exists', async () => {
    const { schema, prefix, stream } = await setup('late', { createStream: false });
    const { logger, records } = capturingLogger();
    const relay = startOutboxRelay({ pool: newPool(), schema, bus: eventBus, logger, pollIntervalMs: 100 });
    relays.push(relay);
    const ids = await insertEvents(schema, prefix, 20, 'session_late');
    relay.wake();

    // No stream captures the subjects yet: the relay must report failures and keep every row pending.
    await waitFor(() => records.filter((r) => r.msg === 'outbox relay: publish failed, will retry').length >= 2, {
      message: 'two failed publish attempts',
    });
    expect(records[0]).toMatchObject({ schema, retryInMs: 100 });
    expect(records[1]).toMatchObject({ retryInMs: 200 });
    expect(await outboxState(schema)).toEqual({ total: 20, unpublished: 20 });

    await ensureStream(bus.jsm, { name: stream, subjects: [`${prefix}.>`] });

    await waitFor(async () => (await outboxState(schema)).unpublished === 0, { timeoutMs: 15_000, message: 'outbox drained after recovery' });
    const msgs = await readStream(bus.js, bus.jsm, stream);
    expect(msgs.map((m) => m.headers?.get('Nats-Msg-Id'))).toEqual(ids);
    expect(await relay.pending()).toBe(0);
  });

  it('flush() publishes everything pending in batches and reports the count', async () => {
    const { schema, prefix, stream } = await setup('flush');
    const ids = await insertEvents(schema, prefix, 45);
    // No LISTEN and a long poll: after its first pass the loop sleeps, so only flush() publishes the second insert.
    const relay = startOutboxRelay({ pool: newPool(), schema, bus: eventBus, logger: silentLogger, batchSize: 10, pollIntervalMs: 600_000 });
    relays.push(relay);
    await waitFor(async () => (await relay.pending()) === 0, { message: 'first pass' });
    const more = await insertEvents(schema, prefix, 12, 'session_2');
    expect(await relay.pending()).toBe(12);
    expect(await relay.flush()).toBe(12);
    expect(await relay.pending()).toBe(0);
    expect((await readStream(bus.js, bus.jsm, stream)).map((m) => m.headers?.get('Nats-Msg-Id'))).toEqual([...ids, ...more]);
  });

  it('publishCommitted: the writer publishes its rows once and marks them; the relay neither wakes nor publishes them again', async () => {
    const { schema, prefix, stream } = await setup('direct');
    const published = watchPublishes(prefix);
    const notified: string[] = [];
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    listener.on('notification', (n) => notified.push(n.channel));
    await listener.query(`LISTEN "${outboxNotifyChannel(schema)}"`);
    try {
      // A relay that polls every 50 ms: it would publish any row it may take.
      const relay = startOutboxRelay({ pool: newPool(), listenUrl: db.url, schema, bus: eventBus, logger: silentLogger, pollIntervalMs: 50 });
      relays.push(relay);
      const rows = Array.from({ length: 30 }, (_, i) => toOutboxRow(prefix, makeEnvelope({ sessionId: 'session_direct', sessionSeq: i + 1 })));
      await insertDirect(schema, rows);
      relay.publishCommitted(rows);

      await waitFor(async () => (await outboxState(schema)).unpublished === 0, { message: 'direct rows marked published' });
      await new Promise((r) => setTimeout(r, 300));
      await bus.nc.flush();
      expect(published).toEqual(rows.map((r) => r.id));
      expect(await streamCount(bus.jsm, stream)).toBe(30);
      expect(notified).toEqual([]);

      // A row inserted the ordinary way still wakes the relays at once.
      await enqueue(db.pool, schema, [toOutboxRow(prefix, makeEnvelope({ sessionId: 'session_relay' }))], { publishedBy: 'relay' });
      await waitFor(() => notified.length === 1, { message: 'NOTIFY for a relay row' });
      await waitFor(async () => (await streamCount(bus.jsm, stream)) === 31, { message: 'relay row published' });
    } finally {
      await listener.end();
    }
  });

  it('publishCommitted: after a direct publish fails, that row and every later one go to the relay, out in commit order once the broker answers; then writers publish directly again', async () => {
    const { schema, prefix, stream } = await setup('direct_fail', { createStream: false });
    const { logger, records } = capturingLogger();
    // A long poll: only a hand-over (or a retry after a failure) makes the relay publish promptly.
    const relay = startOutboxRelay({ pool: newPool(), schema, bus: eventBus, logger, pollIntervalMs: 60_000 });
    relays.push(relay);
    const rows = Array.from({ length: 6 }, (_, i) => toOutboxRow(prefix, makeEnvelope({ sessionId: 'session_df', sessionSeq: i + 1 })));
    const relayAfter = async (id: string) =>
      (await db.pool.query<{ due: boolean }>(`SELECT relay_after <= now() AS due FROM "${schema}".outbox WHERE id = $1`, [id])).rows[0]!.due;

    // No stream captures the subject: every direct publish fails, reported once (not once per row).
    await insertDirect(schema, rows.slice(0, 3));
    relay.publishCommitted(rows.slice(0, 3));
    await waitFor(() => records.some((r) => r.msg === 'outbox: direct publish failed, the relay will publish the event'), { message: 'failure reported' });
    expect(records.filter((r) => r.msg === 'outbox: direct publish failed, the relay will publish the event')).toHaveLength(1);
    // Handed over at once, not left until their relay_after (5 s).
    await waitFor(async () => (await Promise.all(rows.slice(0, 3).map((r) => relayAfter(r.id)))).every(Boolean), {
      timeoutMs: 2000,
      message: 'failed rows handed to the relay',
    });

    // The broker answers again; rows committed now, while the relay still has the backlog, must not overtake it.
    await ensureStream(bus.jsm, { name: stream, subjects: [`${prefix}.>`] });
    const recovered = Date.now();
    await insertDirect(schema, rows.slice(3, 5));
    relay.publishCommitted(rows.slice(3, 5));
    await waitFor(async () => (await outboxState(schema)).unpublished === 0, { timeoutMs: 10_000, message: 'relay published the backlog' });
    // The relay retries within a second of a failure, so the backlog is out shortly after the broker answers.
    expect(Date.now() - recovered).toBeLessThan(3000);
    await waitFor(() => records.some((r) => r.msg === 'outbox: the relay has caught up; writers publish directly again'), { message: 'direct mode again' });

    // Direct again: the next row goes out by its writer (its relay_after stays ahead).
    await insertDirect(schema, rows.slice(5));
    relay.publishCommitted(rows.slice(5));
    await waitFor(async () => (await outboxState(schema)).unpublished === 0, { message: 'direct row published' });
    expect(await relayAfter(rows[5]!.id)).toBe(false);
    const msgs = await readStream(bus.js, bus.jsm, stream);
    expect(msgs.map((m) => m.headers?.get('Nats-Msg-Id'))).toEqual(rows.map((r) => r.id));
  });

  it('flush() and stop() wait for direct publishes in flight and write their marks', async () => {
    const { schema, prefix, stream } = await setup('direct_stop');
    const relay = startOutboxRelay({ pool: newPool(), schema, bus: eventBus, logger: silentLogger, pollIntervalMs: 600_000 });
    const rows = Array.from({ length: 50 }, (_, i) => toOutboxRow(prefix, makeEnvelope({ sessionId: 'session_ds', sessionSeq: i + 1 })));
    await insertDirect(schema, rows.slice(0, 25));
    relay.publishCommitted(rows.slice(0, 25));
    expect(await relay.flush()).toBe(0);
    expect(await outboxState(schema)).toEqual({ total: 25, unpublished: 0 });

    await insertDirect(schema, rows.slice(25));
    relay.publishCommitted(rows.slice(25));
    await relay.stop();
    expect(await outboxState(schema)).toEqual({ total: 50, unpublished: 0 });
    expect(await streamCount(bus.jsm, stream)).toBe(50);
  });

  it("publishCommitted: rows handed over in one turn go out in each session's sessionSeq order", async () => {
    const { schema, prefix, stream } = await setup('direct_order');
    const relay = startOutboxRelay({ pool: newPool(), schema, bus: eventBus, logger: silentLogger, pollIntervalMs: 600_000 });
    relays.push(relay);
    const rows = (sessionId: string) => Array.from({ length: 6 }, (_, i) => toOutboxRow(prefix, makeEnvelope({ sessionId, sessionSeq: i + 1 })));
    const a = rows('session_oa');
    const b = rows('session_ob');
    await insertDirect(schema, [...a, ...b]);
    // Commits whose results were read in reverse order: the later transaction's rows are handed over first.
    for (let i = 5; i >= 0; i--) {
      relay.publishCommitted([b[i]!]);
      relay.publishCommitted([a[i]!]);
    }
    await relay.flush();
    const msgs = await readStream(bus.js, bus.jsm, stream);
    const seqOf = (m: (typeof msgs)[number]) => parseEvent(decode(m));
    for (const sessionId of ['session_oa', 'session_ob']) {
      expect(
        msgs
          .map(seqOf)
          .filter((e) => e.sessionId === sessionId)
          .map((e) => e.sessionSeq),
      ).toEqual([1, 2, 3, 4, 5, 6]);
    }
  });

  it('publishCommitted: a row whose predecessor is handed over a few turns later still goes out after it', async () => {
    const { schema, prefix, stream } = await setup('direct_gap');
    const relay = startOutboxRelay({ pool: newPool(), schema, bus: eventBus, logger: silentLogger, pollIntervalMs: 600_000 });
    relays.push(relay);
    const rows = Array.from({ length: 4 }, (_, i) => toOutboxRow(prefix, makeEnvelope({ sessionId: 'session_gap', sessionSeq: i + 1 })));
    await insertDirect(schema, rows);
    relay.publishCommitted([rows[0]!, rows[1]!]);
    // The third commit's result is read first; the second's arrives 20 ms later (another event-loop turn).
    relay.publishCommitted([rows[3]!]);
    await new Promise((r) => setTimeout(r, 20));
    relay.publishCommitted([rows[2]!]);
    await waitFor(async () => (await streamCount(bus.jsm, stream)) === 4, { message: 'all four published' });
    const msgs = await readStream(bus.js, bus.jsm, stream);
    expect(msgs.map((m) => parseEvent(decode(m)).sessionSeq)).toEqual([1, 2, 3, 4]);
    await relay.flush();
  });

  it('publishCommitted: rows it published but could not mark are not sent again by its relay, only marked', async () => {
    const { schema, prefix, stream } = await setup('direct_unmarked');
    const published = watchPublishes(prefix);
    const { logger, records } = capturingLogger();
    const relay = startOutboxRelay({ pool: newPool(), schema, bus: eventBus, logger, pollIntervalMs: 100 });
    relays.push(relay);
    // Every UPDATE that marks a row fails, the relay's own included, as while Postgres refuses writes.
    await db.pool.query(`ALTER TABLE "${schema}".outbox ADD CONSTRAINT no_marks CHECK (published_at IS NULL) NOT VALID`);
    const rows = Array.from({ length: 5 }, (_, i) => toOutboxRow(prefix, makeEnvelope({ sessionId: 'session_um', sessionSeq: i + 1 })));
    await insertDirect(schema, rows, "now() + interval '300 milliseconds'");
    relay.publishCommitted(rows);
    await waitFor(() => records.some((r) => r.msg === 'outbox: marking published rows failed, will retry'), { message: 'mark failed' });
    // The relay now owns the rows (relay_after passed) and keeps trying to settle them.
    await waitFor(() => records.filter((r) => r.msg === 'outbox relay: publish failed, will retry').length >= 2, {
      timeoutMs: 10_000,
      message: 'relay retried',
    });
    await bus.nc.flush();
    expect(published).toEqual(rows.map((r) => r.id));

    await db.pool.query(`ALTER TABLE "${schema}".outbox DROP CONSTRAINT no_marks`);
    await waitFor(async () => (await outboxState(schema)).unpublished === 0, { timeoutMs: 15_000, message: 'marked once Postgres takes writes' });
    await bus.nc.flush();
    expect(published).toEqual(rows.map((r) => r.id));
    expect(await streamCount(bus.jsm, stream)).toBe(5);
  });
});
