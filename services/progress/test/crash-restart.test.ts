import type { EventEnvelope } from '@glavito/contracts';
import type { Pool } from '@glavito/db';
import { createTestDatabase, createTestNats, waitFor, type TestDatabase, type TestNats } from '@glavito/testkit';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  countRows,
  expectedSessions,
  expectPublishedOnce,
  expectStoredSessions,
  interleave,
  publishEvents,
  readerPool,
  seededRandom,
  serviceEnv,
  ServiceProcess,
  shuffle,
  unpublishedOutbox,
  waitProgressIdle,
  withStatusEvent,
} from './fixtures.js';
import { progressDurables } from '../src/consumers/session-events.js';
import { ALL_TENANT_STEPS, nthSession, simulateSession } from './helpers.js';

const SESSIONS = 300;
const EVENTS_PER_SESSION = 8;
const TOTAL = SESSIONS * EVENTS_PER_SESSION;
const SEED = Number(process.env.CRASH_SEED || Math.floor(Math.random() * 2 ** 31));

/** Eight events per session: started, welcome, then six more (steps, skips, a pause). */
function flow(i: number): EventEnvelope[] {
  const base = nthSession('cr', i, { tenants: 3, firstStart: new Date(Date.UTC(2026, 1, 2, 8)), minutesPerEvent: 2 + (i % 5) });
  switch (i % 3) {
    case 0:
      return simulateSession({ ...base, steps: ALL_TENANT_STEPS.slice(0, 6) });
    case 1:
      return withStatusEvent(
        simulateSession({ ...base, steps: ['organization_setup', 'skip:channel_configuration', 'knowledge_base', 'customer_portal', 'skip:payment_setup'] }),
        'session.paused',
        10,
      );
    default:
      return simulateSession({
        ...base,
        type: 'agent_welcome',
        steps: ['profile_setup', 'team_assignment', 'permissions_overview', 'feature_tour', 'test_ticket', 'quick_start'],
      });
  }
}

let db: TestDatabase;
let nats: TestNats;
let reader: Pool;
const running: ServiceProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  nats = await createTestNats();
  reader = readerPool(db.url);
});
afterAll(async () => {
  await Promise.all(running.map((p) => p.kill('SIGKILL')));
  await reader?.end();
  await nats?.cleanup();
  await db?.drop();
});

function startService(): ServiceProcess {
  // What the killed process had pulled but not acked comes back after CONSUMER_ACK_WAIT.
  const p = new ServiceProcess(serviceEnv(db, nats, { LOG_LEVEL: 'warn', CONSUMER_ACK_WAIT: '2s' }));
  running.push(p);
  return p;
}

const inboxCount = async () => countRows(reader, 'inbox').catch(() => 0);

describe('a hard crash mid-batch, then a restart', () => {
  it(`loses nothing and doubles nothing: projections, milestones and published events are exact (seed ${SEED})`, async () => {
    const random = seededRandom(SEED);
    const sessions = Array.from({ length: SESSIONS }, (_, i) => flow(i));
    expect(sessions.every((s) => s.length === EVENTS_PER_SESSION)).toBe(true);
    const expected = expectedSessions(sessions.flat());

    // The backlog: in the stream before the service starts, sessions interleaved, every fourth one shuffled.
    // The stream exists already: the test kit applied the broker state for this file's prefix.
    const backlog = interleave(
      sessions.map((s, i) => (i % 4 === 0 ? shuffle(s, random) : s)),
      random,
    );
    await publishEvents(nats, backlog);

    // Two crashes at different depths, then a run to the end.
    const killedAt: number[] = [];
    for (const threshold of [Math.round(TOTAL * 0.2), Math.round(TOTAL * 0.6)]) {
      const service = startService();
      await waitFor(async () => (await inboxCount()) >= threshold, {
        timeoutMs: 40_000,
        intervalMs: 10,
        message: `never reached ${threshold} events:\n${service.log}`,
      });
      const exit = await service.kill('SIGKILL');
      expect(exit.signal).toBe('SIGKILL');
      killedAt.push(await inboxCount());
    }
    expect(killedAt[0]).toBeLessThan(TOTAL);
    expect(killedAt[1]).toBeLessThan(TOTAL);
    expect(killedAt[1]).toBeGreaterThan(killedAt[0]!);

    const last = startService();
    await waitFor(async () => (await countRows(reader, 'projections', `applied_seq = ${EVENTS_PER_SESSION}`)) === SESSIONS, {
      timeoutMs: 60_000,
      intervalMs: 200,
      message: `not every session completed after the restart:\n${last.log}`,
    });
    await waitFor(async () => (await unpublishedOutbox(reader)) === 0, { timeoutMs: 20_000, message: 'outbox not drained' });
    await waitProgressIdle(nats);
    const stop = await last.kill('SIGTERM');
    expect(stop, last.log).toEqual({ code: 0, signal: null });

    // Deliveries exceed the source events: what the killed processes had pulled and not acked was redelivered.
    const jsm = await jetstreamManager(nats.nc);
    const durables = Object.values(progressDurables({ PROGRESS_CONSUMER: 'progress', EVENT_SUBJECT_PREFIX: nats.subjectPrefix }));
    const deliveries = await Promise.all(durables.map(async ({ durable }) => (await jsm.consumers.info(nats.streamName, durable)).delivered.consumer_seq));
    expect(deliveries.reduce((a, b) => a + b, 0)).toBeGreaterThan(TOTAL);

    expect(await countRows(reader, 'inbox')).toBe(TOTAL);
    expect(await countRows(reader, 'pending_events')).toBe(0);
    await expectStoredSessions(reader, expected, ` (seed ${SEED})`);
    const { rows: dupes } = await reader.query('SELECT session_id, threshold, count(*) FROM progress.milestones GROUP BY 1, 2 HAVING count(*) > 1');
    expect(dupes).toEqual([]);

    // Published exactly once each: a progress.updated per source event, a milestone.reached per threshold.
    const published = await expectPublishedOnce(nats, expected);
    for (const [id, got] of published) expect(got.progressUpdates, id).toBe(EVENTS_PER_SESSION);
    console.log(
      `crash-restart (seed ${SEED}): killed at ${killedAt.join(' and ')} of ${TOTAL} events; ${deliveries.join(' + ')} deliveries (step and session durables) for ${TOTAL} source events`,
    );
  }, 120_000);
});
