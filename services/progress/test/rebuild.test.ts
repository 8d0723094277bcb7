import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildEnvelope, connectBus, type Bus } from '@glavito/bus';
import type { EventEnvelope } from '@glavito/contracts';
import { createPool, urlForRole, type Pool } from '@glavito/db';
import { createTestDatabase, createTestNats, serviceEntryArgs, waitFor, type TestDatabase, type TestNats } from '@glavito/testkit';
import { jetstreamManager } from '@nats-io/jetstream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { REBUILD_POOL_OPTIONS, rebuildProjections } from '../src/rebuild-projections.js';
import {
  countRows,
  expectedSessions,
  interleave,
  ownEventsBySession,
  publishEvents,
  readAllEvents,
  readerPool,
  readStoredSessions,
  seededRandom,
  serviceEnv,
  shuffle,
  storedShape,
  unpublishedOutbox,
  waitProgressIdle,
  withStatusEvent,
} from './fixtures.js';
import { ALL_TENANT_STEPS, nthSession, simulateSession, testConfig } from './helpers.js';

const SERVICE_DIR = fileURLToPath(new URL('..', import.meta.url));
const SEED = Number(process.env.REBUILD_SEED || Math.floor(Math.random() * 2 ** 31));

function withValidationFailure(events: EventEnvelope[], stepId: string): EventEnvelope[] {
  const last = events.at(-1)!;
  const env = buildEnvelope({
    type: 'step.validation_failed',
    data: {
      sessionType: (last.data as { sessionType: 'tenant_setup' }).sessionType,
      stepId,
      errors: [{ field: 'companyName', rule: 'required', message: 'companyName is required' }],
    },
    tenantId: last.tenantId,
    sessionId: last.sessionId,
    userId: last.userId,
    sessionSeq: last.sessionSeq + 1,
    correlationId: last.correlationId,
    occurredAt: new Date(Date.parse(last.occurredAt) + 60_000),
  });
  return [...events, env as EventEnvelope];
}

/** A mix of flows: whole, partial, skipped, paused then resumed, abandoned, completed agents, a failed validation. */
function flows(): EventEnvelope[][] {
  const out: EventEnvelope[][] = [];
  for (let i = 0; i < 40; i++) {
    const base = nthSession('rb', i, { tenants: 4, firstStart: new Date(Date.UTC(2026, 2, 2, 9)), minutesApart: 7, minutesPerEvent: 1 + (i % 9) });
    switch (i % 6) {
      case 0:
        out.push(simulateSession({ ...base, steps: ALL_TENANT_STEPS, complete: true }));
        break;
      case 1:
        out.push(simulateSession({ ...base, steps: ['organization_setup', 'skip:channel_configuration', 'knowledge_base', 'skip:data_import'] }));
        break;
      case 2:
        out.push(
          withStatusEvent(
            withStatusEvent(simulateSession({ ...base, steps: ['organization_setup', 'payment_setup'] }), 'session.paused', 30),
            'session.resumed',
            600,
          ),
        );
        break;
      case 3:
        out.push(withStatusEvent(simulateSession({ ...base, steps: ['organization_setup'] }), 'session.abandoned', 7 * 24 * 60));
        break;
      case 4:
        out.push(
          simulateSession({
            ...base,
            type: 'agent_welcome',
            steps: ['profile_setup', 'team_assignment', 'permissions_overview', 'feature_tour', 'test_ticket', 'quick_start'],
            complete: true,
          }),
        );
        break;
      default:
        out.push(withValidationFailure(simulateSession({ ...base, steps: ['organization_setup', 'team_management'] }), 'workflow_configuration'));
    }
  }
  return out;
}

/** How many events of a stream order arrive ahead of a gap in their session (and are parked rather than applied). */
function parkedInOrder(order: readonly EventEnvelope[]): number {
  const applied = new Map<string, number>();
  const waiting = new Map<string, Set<number>>();
  let parked = 0;
  for (const e of order) {
    const seq = applied.get(e.sessionId) ?? 0;
    const ahead = waiting.get(e.sessionId) ?? new Set<number>();
    waiting.set(e.sessionId, ahead);
    if (e.sessionSeq !== seq + 1) {
      parked++;
      ahead.add(e.sessionSeq);
      continue;
    }
    let next = e.sessionSeq;
    while (ahead.delete(next + 1)) next++;
    applied.set(e.sessionId, next);
  }
  return parked;
}

let db: TestDatabase;
let nats: TestNats;
let reader: Pool;
let servicePool: Pool;
let bus: Bus;
let app: FastifyInstance | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  nats = await createTestNats();
  reader = readerPool(db.url);
});
afterAll(async () => {
  await app?.close();
  await bus?.nc.drain();
  await servicePool?.end();
  await reader?.end();
  await nats?.cleanup();
  await db?.drop();
});

/** Everything the projection owns, ordered: the read model, parked events and the inbox. */
async function snapshot() {
  const [sessions, pending, inbox] = await Promise.all([
    readStoredSessions(reader),
    reader.query("SELECT session_id, session_seq, event->>'id' AS event_id FROM progress.pending_events ORDER BY session_id, session_seq"),
    reader.query('SELECT event_id FROM progress.inbox ORDER BY event_id'),
  ]);
  return { sessions, pending: pending.rows, inbox: inbox.rows.map((r: { event_id: string }) => r.event_id) };
}

const streamMessages = async () => (await (await jetstreamManager(nats.nc)).streams.info(nats.streamName)).state.messages;

describe('projection rebuild', () => {
  it("runs without the service's 10 s statement timeout, as it starts by deleting whole tables", async () => {
    const url = urlForRole(db.url, 'progress_svc');
    const [rebuildPool, servicePoolOfRequests] = [
      createPool({ connectionString: url, ...REBUILD_POOL_OPTIONS }),
      createPool({ connectionString: url, max: 1 }),
    ];
    try {
      expect((await rebuildPool.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]!.statement_timeout).toBe('0');
      expect((await servicePoolOfRequests.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]!.statement_timeout).toBe('10s');
    } finally {
      await Promise.all([rebuildPool.end(), servicePoolOfRequests.end()]);
    }
  });

  it(`reproduces the live projection exactly, from the function and from the command (seed ${SEED})`, async () => {
    const random = seededRandom(SEED);
    app = await buildApp(testConfig(db, nats), { logger: false });
    await app.ready();

    const sessions = flows();
    // One session whose third event never arrives: its later events stay parked, live and after the rebuild.
    const gapped = simulateSession({
      sessionId: 'rb-gap',
      tenantId: 'rb-t0',
      userId: 'rb-gap-user',
      steps: ['organization_setup', 'channel_configuration', 'ai_configuration'],
    });
    const live = interleave([...sessions.map((s, i) => (i % 2 === 0 ? shuffle(s, random) : s)), gapped.filter((e) => e.sessionSeq !== 3)], random);
    const again = shuffle(live, random).slice(0, 30);
    await Promise.all([publishEvents(nats, live), publishEvents(nats, again, '-again')]);
    const expected = expectedSessions(sessions.flat());
    await waitFor(async () => (await countRows(reader, 'inbox')) === live.length, { timeoutMs: 20_000, message: 'live run incomplete' });
    await waitFor(async () => (await unpublishedOutbox(reader)) === 0, { timeoutMs: 20_000 });
    await waitProgressIdle(nats);

    const before = await snapshot();
    // The live run itself is right: in-order result everywhere, the gapped session stuck at 2 with 3 events parked.
    for (const [id, want] of storedShape(expected)) expect(before.sessions.get(id), id).toEqual(want);
    expect(before.sessions.get('rb-gap')?.projection.appliedSeq).toBe(2);
    expect(before.pending.map((p: { session_seq: number }) => p.session_seq)).toEqual([4, 5]);
    const published = await streamMessages();

    await app.close();
    app = undefined;

    // 1. The function, with the service's own least-privilege role (as the command runs).
    servicePool = createPool({ connectionString: urlForRole(db.url, 'progress_svc'), ...REBUILD_POOL_OPTIONS });
    bus = await connectBus({ servers: nats.url, name: 'rebuild-test' });
    const warnings: unknown[] = [];
    const logger = { info() {}, warn: (o: object) => warnings.push(o), error: (o: object) => warnings.push(o) };
    const result = await rebuildProjections({ pool: servicePool, bus, stream: nats.streamName, subjectPrefix: nats.subjectPrefix, logger });
    expect(warnings).toEqual([]);
    // Every message in the stream was read once; each source event was applied (or parked: rb-gap's seq 4 and 5).
    expect(result.events).toBe(published);
    expect(result.applied).toBe(live.length - parkedInOrder(live));
    expect(await snapshot()).toEqual(before);
    // It emitted nothing: the events were published the first time.
    expect(await streamMessages()).toBe(published);

    // 2. The command, after damaging the read model so that only a real rebuild can restore it.
    await reader.query("UPDATE progress.projections SET progress_percentage = 1, status = 'abandoned', out_seq = 0");
    await reader.query('DELETE FROM progress.milestones WHERE threshold >= 50');
    await reader.query("DELETE FROM progress.step_timings WHERE step_id = 'welcome'");
    await reader.query('DELETE FROM progress.inbox WHERE random() < 0.5');
    expect(await snapshot()).not.toEqual(before);
    const run = await promisify(execFile)(process.execPath, serviceEntryArgs(SERVICE_DIR, 'rebuild'), {
      cwd: SERVICE_DIR,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...serviceEnv(db, nats, { LOG_LEVEL: 'info' }) },
      timeout: 60_000,
    }).catch((err: { code?: number; stdout?: string; stderr?: string }) => {
      throw new Error(`rebuild command failed (exit ${String(err.code)}):\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
    });
    expect(run.stdout).toContain('projection rebuilt from the stream');
    expect(await snapshot()).toEqual(before);
    expect(await streamMessages()).toBe(published);

    // 3. Consumers resume on the rebuilt model: the next event lands on top, numbered after what was published.
    app = await buildApp(testConfig(db, nats), { logger: false });
    await app.ready();
    const target = sessions[1]!;
    const next = withStatusEvent(target, 'session.paused', 5).at(-1)!;
    await publishEvents(nats, [next]);
    const id = target[0]!.sessionId;
    await waitFor(async () => (await readStoredSessions(reader)).get(id)?.projection.appliedSeq === next.sessionSeq, { timeoutMs: 10_000 });
    await waitFor(async () => (await unpublishedOutbox(reader)) === 0, { timeoutMs: 10_000 });
    const after = (await readStoredSessions(reader)).get(id)!;
    expect(after.projection).toEqual({ ...expectedSessions([...target, next]).get(id)!.projection });
    const own = ownEventsBySession(await readAllEvents(nats)).get(id)!;
    expect([...own.seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: after.projection.outSeq }, (_, k) => k + 1));
  }, 90_000);
});
