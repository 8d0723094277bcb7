import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildEnvelope } from '@glavito/bus';
import { eventSubject, parseEvent, type EventEnvelope } from '@glavito/contracts';
import { createPool, type Pool } from '@glavito/db';
import { serviceEntryArgs, serviceTestEnv, waitFor, type TestDatabase, type TestNats } from '@glavito/testkit';
import { jetstreamManager, jetstream } from '@nats-io/jetstream';
import { expect } from 'vitest';
import { progressDurables } from '../src/consumers/session-events.js';
import { applyEvent, emptyProjection, type Projection, type ProjectionState, type ReachedMilestone, type StepTiming } from '../src/domain/projection.js';
import { toProjection } from '../src/repositories/projection-repository.js';

/** A session's read model as stored: the projection row, its step timings (by step) and milestones (by threshold). */
export interface StoredSession {
  projection: Projection;
  timings: StepTiming[];
  milestones: ReachedMilestone[];
}

export interface ExpectedSession extends StoredSession {
  /** What the service must have published for the session: one progress.updated per applied event, one milestone per threshold. */
  progressUpdates: number;
  milestoneThresholds: number[];
}

/** Appends a status event (pause, resume, abandon) the way the session service emits it: the last snapshot, new status. */
export function withStatusEvent(
  events: EventEnvelope[],
  type: 'session.paused' | 'session.resumed' | 'session.abandoned',
  minutesAfter: number,
): EventEnvelope[] {
  const last = events.at(-1);
  if (!last || !('completedSteps' in last.data)) throw new Error('withStatusEvent needs a session with a snapshot event');
  const d = last.data as EventEnvelope<'step.completed'>['data'];
  const status = type === 'session.paused' ? 'paused' : type === 'session.abandoned' ? 'abandoned' : 'active';
  const env = buildEnvelope({
    type,
    data: {
      sessionType: d.sessionType,
      completedSteps: d.completedSteps,
      skippedSteps: d.skippedSteps,
      currentStep: d.currentStep,
      status,
      progress: d.progress,
    },
    tenantId: last.tenantId,
    sessionId: last.sessionId,
    userId: last.userId,
    sessionSeq: last.sessionSeq + 1,
    correlationId: last.correlationId,
    occurredAt: new Date(Date.parse(last.occurredAt) + minutesAfter * 60_000),
  });
  return [...events, env as EventEnvelope];
}

/** Deterministic PRNG (mulberry32) so a failing shuffle can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Merges per-session lists into one, each list keeping its own order, sessions randomly interleaved. */
export function interleave<T>(lists: readonly (readonly T[])[], random: () => number): T[] {
  const queues = lists.map((l) => [...l]).filter((l) => l.length > 0);
  const out: T[] = [];
  while (queues.length > 0) {
    const i = Math.floor(random() * queues.length);
    out.push(queues[i]!.shift()!);
    if (queues[i]!.length === 0) queues.splice(i, 1);
  }
  return out;
}

/** The reference: every session's events applied strictly in sessionSeq order by the pure domain function. */
export function expectedSessions(events: readonly EventEnvelope[]): Map<string, ExpectedSession> {
  const bySession = new Map<string, EventEnvelope[]>();
  for (const e of events) {
    const list = bySession.get(e.sessionId) ?? [];
    list.push(e);
    bySession.set(e.sessionId, list);
  }
  const out = new Map<string, ExpectedSession>();
  for (const [sessionId, list] of bySession) {
    const ordered = [...list].sort((a, b) => a.sessionSeq - b.sessionSeq);
    let state: ProjectionState = { projection: emptyProjection(ordered[0]!), timings: {}, milestones: [] };
    let emitted = 0;
    let progressUpdates = 0;
    const milestoneThresholds: number[] = [];
    for (const e of ordered) {
      const r = applyEvent(state, e);
      state = r.state;
      emitted += r.emit.length;
      for (const x of r.emit) {
        if (x.type === 'progress.updated') progressUpdates++;
        else milestoneThresholds.push(x.data.threshold);
      }
    }
    out.set(sessionId, {
      projection: { ...state.projection, outSeq: emitted },
      timings: Object.values(state.timings).sort((a, b) => a.stepId.localeCompare(b.stepId)),
      milestones: [...state.milestones].sort((a, b) => a.threshold - b.threshold),
      progressUpdates,
      milestoneThresholds,
    });
  }
  return out;
}

/** A pool that reads timestamps as ISO strings, like the service's own. */
export function readerPool(url: string): Pool {
  return createPool({ connectionString: url, max: 2, applicationName: 'progress-test-reader' });
}

/** Every stored projection with its timings and milestones, keyed and ordered for exact comparison. */
export async function readStoredSessions(pool: Pool): Promise<Map<string, StoredSession>> {
  const [p, t, m] = await Promise.all([
    pool.query(
      `SELECT session_id, tenant_id, user_id, type, status, completed_steps, skipped_steps, current_step, progress_percentage,
         estimated_time_remaining, estimated_completion, started_at, last_event_at, completed_at, applied_seq, out_seq
       FROM progress.projections ORDER BY session_id`,
    ),
    pool.query<{ session_id: string; step_id: string; reached_at: string | null; completed_at: string | null; skipped_at: string | null }>(
      'SELECT session_id, step_id, reached_at, completed_at, skipped_at FROM progress.step_timings ORDER BY session_id, step_id COLLATE "C"',
    ),
    pool.query<{ session_id: string; threshold: number; title: string; reached_at: string }>(
      'SELECT session_id, threshold, title, reached_at FROM progress.milestones ORDER BY session_id, threshold',
    ),
  ]);
  const out = new Map<string, StoredSession>();
  for (const row of p.rows) out.set(row.session_id, { projection: toProjection(row), timings: [], milestones: [] });
  for (const r of t.rows)
    out.get(r.session_id)?.timings.push({ stepId: r.step_id, reachedAt: r.reached_at, completedAt: r.completed_at, skippedAt: r.skipped_at });
  for (const r of m.rows) out.get(r.session_id)?.milestones.push({ threshold: r.threshold, title: r.title, reachedAt: r.reached_at });
  for (const s of out.values()) s.timings.sort((a, b) => a.stepId.localeCompare(b.stepId));
  return out;
}

/** Only what the stored read model holds, for `toEqual` against `readStoredSessions`. */
export function storedShape(expected: Map<string, ExpectedSession>): Map<string, StoredSession> {
  return new Map([...expected].map(([id, e]) => [id, { projection: e.projection, timings: e.timings, milestones: e.milestones }]));
}

export async function countRows(pool: Pool, table: 'inbox' | 'pending_events' | 'projections' | 'milestones', where = 'true'): Promise<number> {
  const r = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM progress.${table} WHERE ${where}`);
  return r.rows[0]!.n;
}

export async function unpublishedOutbox(pool: Pool): Promise<number> {
  const r = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM progress.outbox WHERE published_at IS NULL');
  return r.rows[0]!.n;
}

/**
 * Every event in the stream, in stream order, through one ordered consumer (much faster than one
 * direct get per message when the stream holds thousands).
 */
export async function readAllEvents(nats: TestNats, stream = nats.streamName): Promise<EventEnvelope[]> {
  const jsm = await jetstreamManager(nats.nc);
  const info = await jsm.streams.info(stream);
  if (info.state.messages === 0) return [];
  const consumer = await jetstream(nats.nc).consumers.get(stream);
  const messages = await consumer.consume({ max_messages: 512 });
  const out: EventEnvelope[] = [];
  for await (const msg of messages) {
    out.push(parseEvent(msg.json()));
    if (msg.seq >= info.state.last_seq) break;
  }
  await messages.close();
  return out;
}

/** Groups the service's own events by session: progress.updated count, milestone thresholds in stream order, their sessionSeqs. */
export function ownEventsBySession(events: readonly EventEnvelope[]) {
  const out = new Map<string, { progressUpdates: number; milestoneThresholds: number[]; seqs: number[]; ids: Set<string> }>();
  for (const e of events) {
    if (e.type !== 'progress.updated' && e.type !== 'milestone.reached') continue;
    const s = out.get(e.sessionId) ?? { progressUpdates: 0, milestoneThresholds: [], seqs: [], ids: new Set<string>() };
    if (e.type === 'progress.updated') s.progressUpdates++;
    else s.milestoneThresholds.push((e as EventEnvelope<'milestone.reached'>).data.threshold);
    s.seqs.push(e.sessionSeq);
    s.ids.add(e.id);
    out.set(e.sessionId, s);
  }
  return out;
}

/** Publishes raw events to the test stream, msgID = event id + `suffix` (a suffix makes a copy the broker does not drop as a duplicate). */
export async function publishEvents(nats: TestNats, events: readonly EventEnvelope[], suffix = ''): Promise<void> {
  const js = jetstream(nats.nc);
  await Promise.all(events.map((e) => js.publish(eventSubject(nats.subjectPrefix, e), JSON.stringify(e), { msgID: `${e.id}${suffix}` })));
}

/** Asserts that the stored read model holds exactly the `expected` sessions, each as an in-order pass would leave it. */
export async function expectStoredSessions(pool: Pool, expected: Map<string, ExpectedSession>, label = ''): Promise<void> {
  const stored = await readStoredSessions(pool);
  expect(stored.size).toBe(expected.size);
  for (const [id, want] of storedShape(expected)) expect(stored.get(id), `${id}${label}`).toEqual(want);
}

/**
 * Asserts what the service published for the `expected` sessions, read back from the stream: a progress.updated per
 * source event, each milestone once, numbered 1..n; and nothing dead-lettered. Returns the events by session.
 */
export async function expectPublishedOnce(nats: TestNats, expected: Map<string, ExpectedSession>) {
  const published = ownEventsBySession(await readAllEvents(nats));
  expect(published.size).toBe(expected.size);
  for (const [id, want] of expected) {
    const got = published.get(id)!;
    expect(got.progressUpdates, id).toBe(want.progressUpdates);
    expect(
      [...got.milestoneThresholds].sort((a, b) => a - b),
      id,
    ).toEqual(want.milestoneThresholds);
    expect(
      [...got.seqs].sort((a, b) => a - b),
      id,
    ).toEqual(Array.from({ length: want.projection.outSeq }, (_, k) => k + 1));
    expect(got.ids.size, id).toBe(got.seqs.length);
  }
  const dlq = await (await jetstreamManager(nats.nc)).streams.info(`${nats.streamName}_DLQ`);
  expect(dlq.state.messages).toBe(0);
  return published;
}

/** Resolves once both durables of the progress service (step and session events) are idle. */
export async function waitProgressIdle(nats: TestNats, consumer = 'progress', timeoutMs = 20_000): Promise<void> {
  for (const { durable } of Object.values(progressDurables({ PROGRESS_CONSUMER: consumer, EVENT_SUBJECT_PREFIX: nats.subjectPrefix })))
    await waitConsumerIdle(nats, durable, timeoutMs);
}

/** Resolves once the durable consumer has delivered and seen acked everything in the stream. */
export async function waitConsumerIdle(nats: TestNats, durable: string, timeoutMs = 20_000): Promise<void> {
  const jsm = await jetstreamManager(nats.nc);
  await waitFor(
    async () => {
      const info = await jsm.consumers.info(nats.streamName, durable);
      return info.num_pending === 0 && info.num_ack_pending === 0;
    },
    { timeoutMs, intervalMs: 100, message: `consumer ${durable} still has work` },
  );
}

const SERVICE_DIR = fileURLToPath(new URL('..', import.meta.url));

/** The environment `src/server.ts` needs to run against a test database and stream. */
export function serviceEnv(db: Pick<TestDatabase, 'url'>, nats: TestNats, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...serviceTestEnv(db, nats),
    PORT: '0',
    HOST: '127.0.0.1',
    ...extra,
  };
}

/** The real service, as its own process (`src/server.ts`), so a SIGKILL is a real crash mid-batch. */
export class ServiceProcess {
  private output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, serviceEntryArgs(SERVICE_DIR), {
      cwd: SERVICE_DIR,
      // Only what the service needs: nothing of the test runner's own environment (NODE_OPTIONS, VITEST…).
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-8000);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get log(): string {
    return this.output;
  }

  async kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill(signal);
    return this.exited;
  }
}
