import { DDSketch } from '@datadog/sketches-js';
import { connectBus, type Bus } from '@glavito/bus';
import { eventSubject, stepCatalog, type EventEnvelope, type OnboardingType } from '@glavito/contracts';
import type { Pool } from '@glavito/db';
import { createTestDatabase, createTestNats, waitFor, type TestDatabase, type TestNats } from '@glavito/testkit';
import { jetstream } from '@nats-io/jetstream';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { ZERO_BUCKET } from '../src/domain/aggregates.js';
import { rebuildProjections } from '../src/rebuild-projections.js';
import { readerPool, readStoredSessions, seededRandom, shuffle, waitProgressIdle, withStatusEvent, type StoredSession } from './fixtures.js';
import { simulateSession, testConfig } from './helpers.js';

/*
 * Exactness of the incremental analytics: random sessions (flows, skips, completions, pauses, abandonments and
 * reactivations, start days across month ends) delivered through the real service in random order (events
 * parked behind gaps), with redeliveries, sometimes with a rebuild from the stream half-way, must leave
 * analytics equal to a full recomputation from the stored projection rows, day by day, and the month rows
 * equal to their days.
 */

const SEED = Number(process.env.ANALYTICS_SEED || Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.ANALYTICS_RUNS || 8);

let db: TestDatabase;
let nats: TestNats;
let reader: Pool;
let bus: Bus;
let app: FastifyInstance;

const start = async () => {
  app = await buildApp(testConfig(db, nats, { STATS_COMPACT_INTERVAL: '200ms' }), { logger: false });
  await app.ready();
};

beforeAll(async () => {
  [db, nats] = await Promise.all([createTestDatabase(), createTestNats()]);
  reader = readerPool(db.url);
  bus = await connectBus({ servers: nats.url, name: 'analytics-exactness' });
  await start();
});
afterAll(async () => {
  await app?.close();
  await bus?.nc.drain();
  await reader?.end();
  await nats?.cleanup();
  await db?.drop();
});

// ---- the reference: counts recomputed from the stored rows, written apart from the service's code ----

const mapping = new DDSketch({ relativeAccuracy: 0.01 }).mapping;
const bucket = (minutes: number) => (minutes > mapping.minPossible ? mapping.key(minutes) : ZERO_BUCKET);
const day = (iso: string) => new Date(iso).toISOString().slice(0, 10);

function recompute(sessions: Iterable<StoredSession>): Map<string, number> {
  const out = new Map<string, number>();
  for (const { projection: p, timings, milestones } of sessions) {
    if (p.appliedSeq === 0 || !p.startedAt) continue;
    const inc = (metric: string, b = 0, n = 1, on = day(p.startedAt!)) => {
      const key = [p.tenantId, p.type, 1, on, metric, b].join('|');
      out.set(key, (out.get(key) ?? 0) + n);
    };
    inc('started');
    inc(`status:${p.status}`);
    if (p.status === 'completed' && p.completedAt) {
      const ms = Math.max(0, Date.parse(p.completedAt) - Date.parse(p.startedAt));
      inc('ttc_ms', 0, ms);
      inc('ttc', bucket(ms / 60_000));
      inc('ttc_weeks', Math.floor(ms / (7 * 86_400_000)));
      inc('completions', 0, 1, day(p.completedAt));
    }
    if (p.status === 'abandoned') inc('abandonments', 0, 1, day(p.lastEventAt!));
    if (p.status !== 'completed' && p.currentStep) inc(`dropped:${p.currentStep}`);
    for (const t of timings) {
      inc(`reached:${t.stepId}`);
      if (t.completedAt) inc(`completed:${t.stepId}`);
      if (t.skippedAt && !t.completedAt) inc(`skipped:${t.stepId}`);
      if (t.completedAt && t.reachedAt) inc(`step_min:${t.stepId}`, bucket((Date.parse(t.completedAt) - Date.parse(t.reachedAt)) / 60_000));
    }
    for (const m of milestones) inc('milestone', m.threshold);
  }
  for (const [k, n] of out) if (n === 0) out.delete(k);
  return out;
}

/** What the service holds: folded day rows plus deltas not folded yet (what reads add up). */
async function stored(grain: 'd' | 'm'): Promise<Map<string, number>> {
  const r = await reader.query<{ key: string; n: string }>(
    `SELECT concat_ws('|', tenant_id, type, flow_version, day::text, metric, bucket) AS key, sum(n)::bigint AS n FROM (
       SELECT tenant_id, type, flow_version, day, metric, bucket, n FROM progress.stat_counts WHERE grain = $1
       UNION ALL
       SELECT d.tenant_id, u.type, u.flow_version, CASE WHEN $1 = 'm' THEN date_trunc('month', u.day)::date ELSE u.day END, u.metric, u.bucket, u.n
       FROM progress.stat_delta_sets d, unnest(d.types, d.flow_versions, d.days, d.metrics, d.buckets, d.ns) AS u(type, flow_version, day, metric, bucket, n)
     ) x GROUP BY 1 HAVING sum(n) <> 0`,
    [grain],
  );
  return new Map(r.rows.map((row) => [row.key, Number(row.n)]));
}

const byMonth = (days: Map<string, number>) => {
  const out = new Map<string, number>();
  for (const [key, n] of days) {
    const parts = key.split('|');
    parts[3] = `${parts[3]!.slice(0, 7)}-01`;
    const k = parts.join('|');
    out.set(k, (out.get(k) ?? 0) + n);
  }
  for (const [k, n] of out) if (n === 0) out.delete(k);
  return out;
};

// ---- random sessions ------------------------------------------------------------------------------

interface SessionSpec {
  type: OnboardingType;
  /** Per step after welcome: 0 stop here, 1 complete, 2 skip (optional steps only). */
  moves: number[];
  complete: boolean;
  tail: Array<'session.paused' | 'session.resumed' | 'session.abandoned'>;
  minutesPerEvent: number;
  /** Days after Jan 20: the sessions straddle the end of January. */
  startDay: number;
  startMinute: number;
}

const specArb: fc.Arbitrary<SessionSpec> = fc.record({
  type: fc.constantFrom<OnboardingType>('tenant_setup', 'agent_welcome'),
  moves: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 0, maxLength: 11 }),
  complete: fc.boolean(),
  tail: fc.array(fc.constantFrom('session.paused' as const, 'session.resumed' as const, 'session.abandoned' as const), { maxLength: 3 }),
  minutesPerEvent: fc.integer({ min: 0, max: 3 * 24 * 60 }),
  startDay: fc.integer({ min: 0, max: 20 }),
  startMinute: fc.integer({ min: 0, max: 24 * 60 - 1 }),
});

function eventsOf(spec: SessionSpec, ids: { sessionId: string; tenantId: string; userId: string }): EventEnvelope[] {
  const steps: string[] = [];
  for (const [i, s] of stepCatalog(spec.type)
    .filter((c) => c.id !== 'welcome')
    .entries()) {
    const move = spec.moves[i] ?? 0;
    if (move === 0) break;
    steps.push(move === 2 && !s.isRequired ? `skip:${s.id}` : s.id);
  }
  // Completing needs every required step: only a session that did them all may complete.
  const complete = spec.complete && stepCatalog(spec.type).every((c) => !c.isRequired || c.id === 'welcome' || steps.includes(c.id));
  let events = simulateSession({
    ...ids,
    type: spec.type,
    steps,
    complete,
    minutesPerEvent: spec.minutesPerEvent,
    startedAt: new Date(Date.UTC(2026, 0, 20 + spec.startDay, 0, spec.startMinute)),
  });
  if (!complete) for (const t of spec.tail) events = withStatusEvent(events, t, 60 * 24);
  return events;
}

let run = 0;
async function publish(events: EventEnvelope[], suffix = '') {
  const js = jetstream(nats.nc);
  await Promise.all(events.map((e) => js.publish(eventSubject(nats.subjectPrefix, e), JSON.stringify(e), { msgID: `${e.id}${suffix}` })));
}

async function settle(expected: Map<string, number>) {
  await waitFor(
    async () => {
      const { rows } = await reader.query<{ session_id: string; applied_seq: number }>('SELECT session_id, applied_seq FROM progress.projections');
      const applied = new Map(rows.map((r) => [r.session_id, r.applied_seq]));
      return [...expected].every(([id, seq]) => applied.get(id) === seq);
    },
    { timeoutMs: 30_000, message: 'events not all applied' },
  );
  await waitProgressIdle(nats);
}

describe('incremental analytics', () => {
  it(`equal a full recomputation from the projection rows after random deliveries, redeliveries and rebuilds (seed ${SEED})`, async () => {
    const lastSeq = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(specArb, { minLength: 1, maxLength: 6 }), fc.integer(), fc.boolean(), async (specs, orderSeed, rebuild) => {
        run++;
        const random = seededRandom(orderSeed);
        const sessions = specs.map((spec, i) => eventsOf(spec, { sessionId: `ax-${run}-${i}`, tenantId: `ax-t${i % 2}`, userId: `ax-u${run}-${i}` }));
        for (const s of sessions) lastSeq.set(s[0]!.sessionId, s.at(-1)!.sessionSeq);
        // Every session's events in a random order (parked behind gaps), sessions interleaved, some delivered twice.
        const order = shuffle(sessions.flat(), random);
        const half = Math.floor(order.length / 2);
        await publish(order.slice(0, half));
        if (rebuild) {
          await settle(new Map());
          await app.close();
          const warnings: unknown[] = [];
          await rebuildProjections({
            pool: db.pool,
            bus,
            stream: nats.streamName,
            subjectPrefix: nats.subjectPrefix,
            logger: { info() {}, warn: (o: object) => warnings.push(o), error: (o: object) => warnings.push(o) },
          });
          expect(warnings).toEqual([]);
          await start();
        }
        await publish(order.slice(half));
        await publish(shuffle(order, random).slice(0, Math.ceil(order.length / 4)), '-again');
        await settle(lastSeq);

        const reference = recompute((await readStoredSessions(reader)).values());
        expect(await stored('d')).toEqual(reference);
        // Folding moves counts from deltas to day and month rows without changing any sum.
        // (compact() answers 0 while the service's own compactor holds the lock: wait until none is left.)
        await waitFor(
          async () =>
            (await app.statisticsRepository.analytics.compact()) === 0 &&
            (await reader.query('SELECT count(*)::int AS n FROM progress.stat_delta_sets')).rows[0].n === 0,
          {
            timeoutMs: 10_000,
            message: 'deltas not folded',
          },
        );
        expect(await stored('d')).toEqual(reference);
        expect(await stored('m')).toEqual(byMonth(reference));
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  }, 300_000);

  it('fails against a recomputation that differs (the comparison can fail)', async () => {
    const reference = recompute((await readStoredSessions(reader)).values());
    const [first] = reference.keys();
    reference.set(first!, reference.get(first!)! + 1);
    expect(await stored('d')).not.toEqual(reference);
  });
});
