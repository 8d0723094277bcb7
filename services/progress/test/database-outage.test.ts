import { publishEvent } from '@glavito/bus';
import type { Pool } from '@glavito/db';
import { createTestNats, startPostgresServer, waitFor, type PostgresServer, type TestDatabase, type TestNats } from '@glavito/testkit';
import { jetstream } from '@nats-io/jetstream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { countRows, expectedSessions, readerPool, readStoredSessions, storedShape } from './fixtures.js';
import { ALL_TENANT_STEPS, simulateSession, testConfig } from './helpers.js';

/**
 * Postgres away for longer than an event's whole redelivery budget (3 deliveries, backoff from 250 ms) and
 * than its ack wait (2 s): the events that arrive meanwhile are held, not dead-lettered or dropped by the
 * broker, and the projection is exact once the database is back.
 */
const OUTAGE_MS = 6000;

let pgServer: PostgresServer;
let nats: TestNats;
let app: FastifyInstance;
let reader: Pool;

beforeAll(async () => {
  [pgServer, nats] = await Promise.all([startPostgresServer(), createTestNats({ reconnectForever: true })]);
  const db = { url: pgServer.url } as TestDatabase;
  app = await buildApp(testConfig(db, nats, { CONSUMER_MAX_DELIVER: '3', CONSUMER_ACK_WAIT: '2s', LOG_LEVEL: 'silent' }), { logger: false });
  await app.ready();
  reader = readerPool(pgServer.url);
}, 60_000);
afterAll(async () => {
  await app?.close();
  await reader?.end();
  await nats?.cleanup();
  await pgServer?.cleanup();
});

const appliedSeq = async (sessionId: string) =>
  (await reader.query<{ applied_seq: number }>('SELECT applied_seq FROM progress.projections WHERE session_id = $1', [sessionId])).rows[0]?.applied_seq ?? 0;

describe('a Postgres outage longer than the redelivery budget', () => {
  it('holds the events that arrive meanwhile and applies every one of them once it is back', async () => {
    const js = jetstream(nats.nc);
    const publish = (events: ReturnType<typeof simulateSession>) => Promise.all(events.map((e) => publishEvent(js, nats.subjectPrefix, e)));
    const before = simulateSession({ sessionId: 'out-a', tenantId: 'out-t', userId: 'out-ua', steps: ALL_TENANT_STEPS.slice(0, 6) });
    const during = simulateSession({ sessionId: 'out-b', tenantId: 'out-t', userId: 'out-ub', steps: ALL_TENANT_STEPS.slice(0, 4) });
    await publish(before.slice(0, 3));
    await waitFor(async () => (await appliedSeq('out-a')) === 3, { timeoutMs: 10_000, message: 'first events applied' });

    await pgServer.kill();
    await publish([...before.slice(3), ...during]);
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    await pgServer.start();

    await waitFor(async () => (await appliedSeq('out-a').catch(() => 0)) === before.length && (await appliedSeq('out-b').catch(() => 0)) === during.length, {
      timeoutMs: 30_000,
      intervalMs: 200,
      message: 'every event applied after the outage',
    });
    const stored = await readStoredSessions(reader);
    for (const [id, want] of storedShape(expectedSessions([...before, ...during]))) expect(stored.get(id), id).toEqual(want);
    expect(await countRows(reader, 'pending_events')).toBe(0);
  }, 60_000);
});
