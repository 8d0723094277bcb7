import type { EventEnvelope } from '@glavito/contracts';
import type { Pool } from '@glavito/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjectionRepository, type ProjectionRepository } from '../src/repositories/projection-repository.js';
import { countRows, expectedSessions, readerPool, readStoredSessions, storedShape } from './fixtures.js';
import { ALL_TENANT_STEPS, simulateSession, startHarness, type ProgressHarness } from './helpers.js';

/**
 * Each event is applied in one version-checked statement, starting from the state this process wrote
 * last. These tests give two repositories ("replicas") the same database and make one of them start from
 * a state that another has since changed: the write must notice, read afresh and still be exact.
 */
let h: ProgressHarness;
let reader: Pool;
beforeAll(async () => {
  // No consumer: the tests hand events to the repositories themselves.
  h = await startHarness({ env: { CONSUME_EVENTS: 'false' } });
  reader = readerPool(h.db.url);
});
afterAll(async () => {
  await reader?.end();
  await h?.close();
});

const replica = (cacheSize?: number): ProjectionRepository => createProjectionRepository(h.db.pool, { subjectPrefix: h.nats.subjectPrefix, cacheSize });
const session = (id: string) => simulateSession({ sessionId: id, tenantId: 'ow-t', userId: `${id}-user`, steps: ALL_TENANT_STEPS.slice(0, 6) });
const bySeq = (events: EventEnvelope[]) => (seq: number) => events.find((e) => e.sessionSeq === seq)!;

async function expectExact(events: EventEnvelope[]) {
  const id = events[0]!.sessionId;
  const want = storedShape(expectedSessions(events)).get(id);
  expect((await readStoredSessions(reader)).get(id)).toEqual(want);
  expect(await countRows(reader, 'pending_events', `session_id = '${id}'`)).toBe(0);
  expect(await countRows(reader, 'inbox')).toBeGreaterThanOrEqual(events.length);
}

describe('version-checked projection writes', () => {
  it('a replica whose remembered state another replica has moved on reads afresh instead of parking the next event', async () => {
    const events = session('ow-stale');
    const e = bySeq(events);
    const a = replica();
    const b = replica();
    expect(await a.process(e(1))).toBe('applied'); // a remembers seq 1
    expect(await b.process(e(2))).toBe('applied');
    // By its memory a would park seq 3 (it thinks 2 is missing); the version check sends it to the row.
    expect(await a.process(e(3))).toBe('applied');
    for (const ev of events.slice(3)) expect(await (ev.sessionSeq % 2 ? a : b).process(ev)).toBe('applied');
    await expectExact(events);
  });

  it('an event parked by one replica is drained by another that remembered the session before the park', async () => {
    const events = session('ow-park');
    const e = bySeq(events);
    const a = replica();
    const b = replica();
    expect(await a.process(e(1))).toBe('applied'); // a remembers: nothing parked
    expect(await b.process(e(3))).toBe('parked');
    // a applies 2 from its memory only if the park did not change the row: it did, so a sees 3 waiting.
    expect(await a.process(e(2))).toBe('applied');
    expect(await countRows(reader, 'pending_events', "session_id = 'ow-park'")).toBe(0);
    for (const ev of events.slice(3)) expect(await a.process(ev)).toBe('applied');
    await expectExact(events);
  });

  it('concurrent writers of one session: every event applied exactly once, in order', async () => {
    const events = session('ow-race');
    const replicas = [replica(), replica(), replica()];
    // Every event handed to all three replicas at once, in reverse order: one applies or parks it, the others find it done.
    const outcomes = await Promise.all([...events].reverse().flatMap((ev) => replicas.map((r) => r.process(ev))));
    expect(outcomes.filter((o) => o === 'applied' || o === 'parked').length).toBe(events.length);
    await expectExact(events);
  });

  it('rows deleted and rebuilt under a replica do not make its memory look ahead of them', async () => {
    const events = session('ow-rebuilt');
    const e = bySeq(events);
    const a = replica();
    for (const ev of events.slice(0, 3)) expect(await a.process(ev)).toBe('applied'); // a remembers seq 3
    await h.db.pool.query(
      "DELETE FROM progress.projections WHERE session_id = 'ow-rebuilt'; DELETE FROM progress.step_timings WHERE session_id = 'ow-rebuilt'; DELETE FROM progress.milestones WHERE session_id = 'ow-rebuilt'",
    );
    expect(await replica().process(e(1), false)).toBe('applied');
    // By a's memory seq 2 is a duplicate; the row says it is next.
    expect(await a.process(e(2), false)).toBe('applied');
    for (const ev of events.slice(2)) expect(await a.process(ev, false)).toBe('applied');
    await expectExact(events);
  });

  it('with the memory off (WRITE_CACHE_SIZE=0) every event is read, then written, with the same result', async () => {
    const events = session('ow-nocache');
    const a = replica(0);
    for (const ev of [...events].reverse()) await a.process(ev);
    for (const ev of events) expect(await a.process(ev)).toBe('duplicate');
    await expectExact(events);
  });
});
