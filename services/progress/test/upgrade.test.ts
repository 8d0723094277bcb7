import { ensureDurableConsumer, publishEvent } from '@glavito/bus';
import { parseEvent } from '@glavito/contracts';
import type { Pool } from '@glavito/db';
import { createTestDatabase, createTestNats, waitFor, type TestDatabase, type TestNats } from '@glavito/testkit';
import { jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { expectedSessions, readerPool, readStoredSessions, storedShape, waitProgressIdle } from './fixtures.js';
import { ALL_TENANT_STEPS, simulateSession, testConfig } from './helpers.js';

/**
 * The release that split the progress consumer in two (step events on `progress`, session events on
 * `progress_sessions`) must not skip the session events the single durable (`<prefix>.>`) had not acked yet,
 * nor replay the whole stream into the new durable. The broker migration does the upgrade, before the new release boots.
 */
let db: TestDatabase;
let nats: TestNats;
let reader: Pool;
const apps: FastifyInstance[] = [];

beforeAll(async () => {
  [db, nats] = await Promise.all([createTestDatabase(), createTestNats()]);
  reader = readerPool(db.url);
});
afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
  await reader?.end();
  await nats?.cleanup();
  await db?.drop();
});

const start = async (env: Record<string, string>) => {
  const app = await buildApp(testConfig(db, nats, env), { logger: false });
  await app.ready();
  apps.push(app);
  return app;
};

describe('upgrading from one durable for every event', () => {
  it('starts the session-event durable at the old durable’s ack floor: nothing skipped, nothing replayed from the start', async () => {
    const js = jetstream(nats.nc);
    const jsm = await jetstreamManager(nats.nc);
    // The stream and schema, without consumers; then the old release's single durable.
    const previous = await start({ CONSUME_EVENTS: 'false' });
    await ensureDurableConsumer(jsm, { stream: nats.streamName, durable: 'progress', filterSubject: `${nats.subjectPrefix}.>` });

    const a = simulateSession({ sessionId: 'up-a', tenantId: 'up-t', userId: 'up-ua', steps: ALL_TENANT_STEPS.slice(0, 6) });
    const b = simulateSession({ sessionId: 'up-b', tenantId: 'up-t', userId: 'up-ub', steps: ALL_TENANT_STEPS.slice(0, 4) });
    for (const e of a.slice(0, 4)) await publishEvent(js, nats.subjectPrefix, e);
    // The old release handles (and acks) everything up to here, its own progress events included.
    const old = await js.consumers.get(nats.streamName, 'progress');
    for (let got = -1; got !== 0;) {
      got = 0;
      for await (const m of (await old.fetch({ max_messages: 50, expires: 1000 })) as AsyncIterable<JsMsg>) {
        got++;
        const event = parseEvent(m.json());
        if (event.type.startsWith('session.') || event.type.startsWith('step.')) await previous.projectionRepository.process(event);
        m.ack();
      }
    }
    await waitFor(async () => (await jsm.consumers.info(nats.streamName, 'progress')).num_ack_pending === 0, {
      message: 'the old durable has everything acked',
    });
    // Then the upgrade: published while no consumer runs, and read by the new release.
    for (const e of [...a.slice(4), ...b]) await publishEvent(js, nats.subjectPrefix, e);
    await previous.close();
    apps.splice(apps.indexOf(previous), 1);
    // The release's broker migration (`pnpm bus:migrate`) seeds the new durable; the service only uses it.
    await nats.migrate();
    await start({});

    await waitFor(
      async () => {
        const stored = await readStoredSessions(reader);
        return stored.get('up-a')?.projection.appliedSeq === a.length && stored.get('up-b')?.projection.appliedSeq === b.length;
      },
      { timeoutMs: 20_000, message: 'both sessions complete' },
    );
    await waitProgressIdle(nats);
    const stored = await readStoredSessions(reader);
    for (const [id, want] of storedShape(expectedSessions([...a, ...b]))) expect(stored.get(id), id).toEqual(want);

    const steps = await jsm.consumers.info(nats.streamName, 'progress');
    const sessions = await jsm.consumers.info(nats.streamName, 'progress_sessions');
    expect(steps.config.filter_subject).toBe(`${nats.subjectPrefix}.*.*.step.>`);
    expect(sessions.config.filter_subject).toBe(`${nats.subjectPrefix}.*.*.session.>`);
    // Only b's session.started: a's came before the ack floor.
    expect(sessions.delivered.consumer_seq).toBe(1);
  });
});
