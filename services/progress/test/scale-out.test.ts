import type { EventEnvelope } from '@glavito/contracts';
import type { Pool } from '@glavito/db';
import { waitFor } from '@glavito/testkit';
import type { FastifyInstance } from 'fastify';
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
  shuffle,
  unpublishedOutbox,
  waitProgressIdle,
  withStatusEvent,
} from './fixtures.js';
import { ALL_TENANT_STEPS, nthSession, simulateSession, startHarness, type ProgressHarness } from './helpers.js';

const SESSIONS = 200;
const EVENTS_PER_SESSION = 10;
const SEED = Number(process.env.SCALE_OUT_SEED || Math.floor(Math.random() * 2 ** 31));

/** Five flows of exactly 10 events each (started, welcome, then 8 more), with skips, detours, a pause and a completion. */
function flow(i: number): EventEnvelope[] {
  const base = nthSession('so', i, { tenants: 5, firstStart: new Date(Date.UTC(2026, 0, 5, 9)), minutesPerEvent: 1 + (i % 7) });
  switch (i % 5) {
    case 0:
      return simulateSession({ ...base, steps: ALL_TENANT_STEPS.slice(0, 8) });
    case 1:
      return simulateSession({
        ...base,
        steps: [
          'organization_setup',
          'skip:channel_configuration',
          'knowledge_base',
          'customer_portal',
          'team_management',
          'skip:payment_setup',
          'workflow_configuration',
          'data_import',
        ],
      });
    case 2:
      return simulateSession({
        ...base,
        steps: [
          'organization_setup',
          'team_management',
          'workflow_configuration',
          'analytics_setup',
          'skip:channel_configuration',
          'skip:ai_configuration',
          'knowledge_base',
          'payment_setup',
        ],
      });
    case 3:
      return simulateSession({
        ...base,
        type: 'agent_welcome',
        steps: ['profile_setup', 'team_assignment', 'permissions_overview', 'feature_tour', 'test_ticket', 'quick_start', 'notification_preferences'],
        complete: true,
      });
    default:
      return withStatusEvent(simulateSession({ ...base, steps: ALL_TENANT_STEPS.slice(0, 7) }), 'session.paused', 3);
  }
}

let h: ProgressHarness;
let reader: Pool;
const instances: FastifyInstance[] = [];
/** Outcomes per instance of the events its consumer handed to the projection (a spy around the real method, not a mock). */
const outcomes = [0, 1, 2].map(() => ({ applied: 0, parked: 0, duplicate: 0, ignored: 0 }));
const total = (k: keyof (typeof outcomes)[number]) => outcomes.reduce((n, o) => n + o[k], 0);

beforeAll(async () => {
  h = await startHarness();
  instances.push(h.app, await h.startReplica(), await h.startReplica());
  instances.forEach((app, i) => {
    const repo = app.projectionRepository;
    const process = repo.process.bind(repo);
    repo.process = async (event, emit) => {
      const outcome = await process(event, emit);
      outcomes[i]![outcome]++;
      return outcome;
    };
  });
  reader = readerPool(h.db.url);
});
afterAll(async () => {
  await reader?.end();
  await h?.close();
});

describe('three instances on one durable consumer', () => {
  it(`project 200 sessions × 10 events published concurrently, shuffled and partly redelivered, exactly like one in-order pass (seed ${SEED})`, async () => {
    const random = seededRandom(SEED);
    const sessions = Array.from({ length: SESSIONS }, (_, i) => flow(i));
    expect(sessions.every((s) => s.length === EVENTS_PER_SESSION)).toBe(true);
    const all = sessions.flat();
    const expected = expectedSessions(all);

    // A third of the sessions fully shuffled, a third with one adjacent pair swapped, a third in order.
    const perSession = sessions.map((events, i) => {
      if (i % 3 === 0) return shuffle(events, random);
      if (i % 3 === 1) {
        const out = [...events];
        const k = Math.floor(random() * (out.length - 1));
        [out[k], out[k + 1]] = [out[k + 1]!, out[k]!];
        return out;
      }
      return events;
    });
    const stream = interleave(perSession, random);
    // 10 % of the events are delivered a second time under a new broker msgID (an upstream republish after the
    // dedupe window): only the inbox can drop them.
    const redelivered = shuffle(all, random).slice(0, all.length / 10);
    const started = Date.now();
    await Promise.all([publishEvents(h.nats, stream), publishEvents(h.nats, redelivered, '-again')]);

    await waitFor(async () => (await countRows(reader, 'projections', `applied_seq = ${EVENTS_PER_SESSION}`)) === SESSIONS, {
      timeoutMs: 45_000,
      intervalMs: 200,
      message: 'not every session reached applied_seq 10',
    });
    const projectedMs = Date.now() - started;
    await waitFor(async () => (await unpublishedOutbox(reader)) === 0, { timeoutMs: 20_000, message: 'outbox not drained' });
    // Late copies (the redeliveries) and the service's own events must have gone through too before we look.
    await waitProgressIdle(h.nats, h.config.PROGRESS_CONSUMER);

    // Every instance took part; each source event was applied or parked exactly once, every second copy dropped.
    const breakdown = JSON.stringify(outcomes);
    expect(
      outcomes.every((o) => o.applied > 0),
      breakdown,
    ).toBe(true);
    expect(total('applied') + total('parked'), breakdown).toBe(SESSIONS * EVENTS_PER_SESSION);
    expect(total('parked'), breakdown).toBeGreaterThan(0);
    expect(total('duplicate'), breakdown).toBeGreaterThanOrEqual(redelivered.length);
    expect(await countRows(reader, 'inbox')).toBe(SESSIONS * EVENTS_PER_SESSION);
    expect(await countRows(reader, 'pending_events')).toBe(0);

    await expectStoredSessions(reader, expected, ` (seed ${SEED})`);
    const milestoneRows = [...expected.values()].reduce((n, e) => n + e.milestones.length, 0);
    expect(await countRows(reader, 'milestones')).toBe(milestoneRows);

    // What the service published: one progress.updated per source event, each milestone once, numbered 1..n.
    await expectPublishedOnce(h.nats, expected);
    console.log(`scale-out (seed ${SEED}): ${all.length + redelivered.length} deliveries projected in ${projectedMs} ms; per instance ${breakdown}`);
  }, 90_000);
});
