import { brokerState, loadBrokerSettings } from '@glavito/broker';
import { mintToken } from '@glavito/auth';
import { createTestDatabase, migrateBrokerAt, startNatsCluster, TEST_JWT_SECRET, waitFor, type NatsCluster, type TestDatabase } from '@glavito/testkit';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ENCRYPTION_KEY, startService, type ServiceProcess } from './system.js';

/**
 * The system on a three-node NATS cluster (private nats-server processes, routes between them, JetStream, every
 * stream and bucket R3 as the broker migration makes them on a cluster), under a steady load of step saves with
 * a socket joined to every session, while one node is killed and later restarted, then the events stream's
 * leader. Nothing lost or doubled (stream, stored data, pushes), pushes and replays continue, presence stays
 * right, and booting the services leaves the broker state as the migration made it. The pause each fault causes
 * is printed.
 */

const BROKER = {
  EVENT_STREAM: 'CLUSTER_EVENTS',
  EVENT_SUBJECT_PREFIX: 'cluster.events',
  RPC_SUBJECT_PREFIX: 'cluster.rpc',
  DEAD_LETTER_PREFIX: 'cluster.dlq',
  AUDIT_STREAM: 'CLUSTER_AUDIT',
  AUDIT_SUBJECT_PREFIX: 'cluster.audit',
  PRESENCE_BUCKET: 'cluster_presence',
  PRESENCE_TTL: '10s',
  RATE_LIMIT_BUCKET: 'cluster_rate_limits',
  NATS_STREAM_REPLICAS: '3',
};
const SESSIONS = 8;
const SAVE_EVERY_MS = 150;
const FAULT_LOAD_MS = 4000;

type Frame = { event: string; data: Record<string, unknown>; id?: string };
interface Save {
  sessionId: string;
  rev: number;
  startedAt: number;
  endedAt: number;
  status: number;
}

let cluster: NatsCluster;
let db: TestDatabase;
let nc: NatsConnection;
let jsm: JetStreamManager;
const services: ServiceProcess[] = [];
let session: ServiceProcess;
let realtime: ServiceProcess;

const token = (i: number) => mintToken({ secret: TEST_JWT_SECRET, userId: `cl-admin-${i}`, tenantId: `cl-tenant-${i}`, roles: ['admin'] });

/** The stream and bucket configurations (not their state): what a boot must leave alone. */
async function brokerConfigs(): Promise<Record<string, unknown>> {
  const state = brokerState(loadBrokerSettings(BROKER));
  const names = [...state.streams.map((s) => s.name), ...state.buckets.map((b) => `KV_${b.bucket}`)];
  return Object.fromEntries(await Promise.all(names.map(async (n) => [n, (await jsm.streams.info(n)).config] as const)));
}

function openSocket(url: string): Promise<{ ws: WebSocket; frames: Array<Frame & { at: number }> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const frames: Array<Frame & { at: number }> = [];
    ws.on('message', (raw: Buffer) => frames.push({ ...(JSON.parse(raw.toString()) as Frame), at: Date.now() }));
    ws.once('open', () => resolve({ ws, frames }));
    ws.once('error', reject);
  });
}

async function http(method: string, url: string, bearer: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    const res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
  } catch {
    return { status: 0, body: {} };
  }
}

async function streamLeader(): Promise<string | undefined> {
  return (await jsm.streams.info(BROKER.EVENT_STREAM)).cluster?.leader;
}

/** Every replica of the events stream is current again (a restarted node has caught up). */
async function allReplicasCurrent(): Promise<boolean> {
  const info = await jsm.streams.info(BROKER.EVENT_STREAM);
  const replicas = info.cluster?.replicas ?? [];
  return Boolean(info.cluster?.leader) && replicas.length === 2 && replicas.every((r) => r.current && !r.offline);
}

beforeAll(async () => {
  cluster = await startNatsCluster({ size: 3 });
  // JetStream elects its meta leader after the routes are up: the migration succeeds once it has one.
  await waitFor(
    async () => {
      await migrateBrokerAt(cluster.url, BROKER);
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 500, message: 'the broker migration on the new cluster' },
  );
  nc = await connect({ servers: cluster.url.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  jsm = await jetstreamManager(nc);
  db = await createTestDatabase();
}, 120_000);

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await nc?.close();
  await cluster?.stop();
  await db?.drop();
});

describe('three-node NATS cluster', () => {
  it('the migration makes every stream and bucket R3, and booting every service leaves them as they are', async () => {
    const before = await brokerConfigs();
    for (const config of Object.values(before)) expect((config as { num_replicas: number }).num_replicas).toBe(3);
    const common = { ...BROKER, JWT_SECRET: TEST_JWT_SECRET, DATABASE_URL: db.url, NATS_URL: cluster.url, LOG_LEVEL: 'warn' };
    const started = await Promise.all([
      startService('session', { ...common, STEP_DATA_ENCRYPTION_KEY: ENCRYPTION_KEY }),
      startService('progress', common),
      startService('connection-test', common),
      startService('realtime', common),
    ]);
    services.push(...started);
    [session, , , realtime] = started as [ServiceProcess, ServiceProcess, ServiceProcess, ServiceProcess];
    expect(await brokerConfigs()).toEqual(before);
  }, 180_000);

  it('under load, a node killed and restarted, then the events stream leader: nothing lost or doubled, pushes, replays and presence go on', async () => {
    const ids: Array<{ sessionId: string; socket: Awaited<ReturnType<typeof openSocket>> }> = [];
    for (let i = 0; i < SESSIONS; i++) {
      const start = await http('POST', `${session.url}/onboarding/start`, token(i), {});
      expect(start.status, JSON.stringify(start.body)).toBe(201);
      const sessionId = (start.body.session as { id: string }).id;
      const socket = await openSocket(`${realtime.url.replace('http', 'ws')}/onboarding?token=${token(i)}`);
      socket.ws.send(JSON.stringify({ event: 'join_session', data: { sessionId } }));
      await waitFor(() => socket.frames.some((f) => f.event === 'session_joined'), { message: 'joined' });
      ids.push({ sessionId, socket });
    }

    // The load: every session saves organization_setup again and again, each save carrying its revision.
    const saves: Save[] = [];
    let running = true;
    const workers = ids.map(async ({ sessionId }, i) => {
      for (let rev = 1; running; rev++) {
        const startedAt = Date.now();
        const r = await http('PUT', `${session.url}/onboarding/step/${sessionId}/organization_setup`, token(i), {
          companyName: `Cluster Org r${rev}`,
          primaryColor: '#123456',
        });
        saves.push({ sessionId, rev, startedAt, endedAt: Date.now(), status: r.status });
        await new Promise((res) => setTimeout(res, SAVE_EVERY_MS));
      }
    });
    const pushesAfter = (t: number) => ids.flatMap((s) => s.socket.frames).filter((f) => f.event === 'step_completed' && f.at > t);
    const acceptedAfter = (t: number) => saves.filter((s) => s.startedAt > t && s.status === 200);
    /** A fault's pause: from the fault to the first save started after it that succeeded, and to the first push after it. */
    const pauses: Array<{ fault: string; saveMs: number; pushMs: number; slowestSaveMs: number }> = [];
    const t0 = Date.now();
    const log = (what: string) =>
      console.log(
        `[nats-cluster] ${new Date().toISOString()} +${((Date.now() - t0) / 1000).toFixed(1)} s ${what} (${saves.filter((x) => x.status === 200).length} saves accepted)`,
      );
    async function fault(name: string, act: () => Promise<void>) {
      log(name);
      const at = Date.now();
      await act();
      await waitFor(() => acceptedAfter(at).length > 0 && pushesAfter(at).length > 0, {
        timeoutMs: 60_000,
        intervalMs: 20,
        message: `saves and pushes resume after: ${name}`,
      }).catch((err: Error) => {
        const tail = services.map((p) => `--- ${p.name}\n${p.logs.slice(-15).join('\n')}`).join('\n');
        const statuses = saves.filter((x) => x.startedAt > at).map((x) => x.status);
        throw new Error(
          `${err.message}: ${acceptedAfter(at).length} saves accepted and ${pushesAfter(at).length} pushes since; statuses ${JSON.stringify(statuses.slice(-20))}\n${tail}`,
        );
      });
      await waitFor(() => Date.now() - at > FAULT_LOAD_MS, { timeoutMs: FAULT_LOAD_MS + 1000, intervalMs: 100 });
      const firstSave = Math.min(...acceptedAfter(at).map((s) => s.endedAt));
      const firstPush = Math.min(...pushesAfter(at).map((f) => f.at));
      const slowest = Math.max(0, ...saves.filter((s) => s.startedAt >= at - 1000 && s.startedAt < at + FAULT_LOAD_MS).map((s) => s.endedAt - s.startedAt));
      pauses.push({ fault: name, saveMs: firstSave - at, pushMs: firstPush - at, slowestSaveMs: slowest });
      log(`${name}: resumed`);
    }
    const presenceRight = async () => {
      for (const [i, { sessionId }] of ids.entries()) {
        const r = await http('GET', `${realtime.url}/onboarding/session-clients/${sessionId}`, token(i));
        if (r.status !== 200 || r.body.connectedClients !== 1) return false;
      }
      return true;
    };

    await waitFor(() => saves.filter((s) => s.status === 200).length >= SESSIONS * 3, { timeoutMs: 30_000, message: 'the load runs' });
    log('load running');

    const follower = ((await streamLeader()) === 'n1' ? 1 : 0) as number;
    await fault(`kill n${follower + 1} (a follower of the events stream)`, () => cluster.kill(follower));
    await waitFor(presenceRight, { timeoutMs: 20_000, message: 'presence with a node down' });
    log('presence right with a node down');
    await fault(`restart n${follower + 1}`, () => cluster.restart(follower));
    await waitFor(allReplicasCurrent, { timeoutMs: 60_000, intervalMs: 250, message: 'the restarted node catches up' });

    const leader = cluster.indexOf((await streamLeader())!);
    await fault(`kill n${leader + 1} (the events stream leader)`, async () => {
      await cluster.kill(leader);
    });
    await waitFor(async () => (await streamLeader().catch(() => undefined)) !== undefined, { timeoutMs: 30_000, message: 'a new leader' });
    await waitFor(presenceRight, { timeoutMs: 20_000, message: 'presence after the leader died' });
    await fault(`restart n${leader + 1}`, () => cluster.restart(leader));
    await waitFor(allReplicasCurrent, { timeoutMs: 60_000, intervalMs: 250, message: 'the old leader catches up' });

    log('faults done');
    running = false;
    await Promise.all(workers);

    // Nothing lost or doubled in the stream: per session, one step event per accepted save, sessionSeq 1..n.
    const events = await readEvents();
    const unknown = saves.filter((s) => s.status !== 200 && s.status !== 409);
    expect(unknown, 'saves without an answer or with a 5xx').toEqual([]);
    for (const { sessionId, socket } of ids) {
      const all = events.filter((e) => e.sessionId === sessionId);
      expect(new Set(all.map((e) => e.id)).size, 'no event stored twice').toBe(all.length);
      // The session service's own events carry its sessionSeq: 1..n, none missing, none twice (progress events count their own).
      const mine = all.filter((e) => e.type.startsWith('session.') || e.type.startsWith('step.'));
      expect(mine.map((e) => e.sessionSeq).sort((a, b) => a - b)).toEqual(mine.map((_, i) => i + 1));
      // One per accepted save (welcome's completion at the start is the session's first step event).
      const stepEvents = mine.filter((e) => (e.type === 'step.completed' || e.type === 'step.updated') && e.data.stepId === 'organization_setup');
      const accepted = saves.filter((s) => s.sessionId === sessionId && s.status === 200);
      expect(stepEvents.length, sessionId).toBe(accepted.length);
      // The stored data is the last accepted save's.
      const stored = await http('GET', `${session.url}/onboarding/session/${sessionId}`, token(ids.findIndex((x) => x.sessionId === sessionId)));
      const lastRev = Math.max(...accepted.map((s) => s.rev));
      expect(JSON.stringify(stored.body)).toContain(`Cluster Org r${lastRev}"`);
      // Every step event pushed to the joined socket, once.
      await waitFor(() => socket.frames.filter((f) => f.event === 'step_completed').length >= stepEvents.length, {
        timeoutMs: 30_000,
        message: `pushes of ${sessionId}`,
      });
      const pushed = socket.frames.filter((f) => f.event === 'step_completed' && f.data.stepId === 'organization_setup').map((f) => f.data.eventId as string);
      expect(new Set(pushed).size, 'no push twice').toBe(pushed.length);
      expect([...pushed].sort()).toEqual(stepEvents.map((e) => e.id).sort());
    }

    // Replays continue: a new socket joining with the first event's id gets every later event of the session.
    const [first] = ids;
    const firstEvents = events.filter((e) => e.sessionId === first!.sessionId);
    const replayer = await openSocket(`${realtime.url.replace('http', 'ws')}/onboarding?token=${token(0)}`);
    replayer.ws.send(JSON.stringify({ event: 'join_session', data: { sessionId: first!.sessionId, lastEventId: firstEvents[0]!.id } }));
    const joined = await waitFor(() => replayer.frames.find((f) => f.event === 'session_joined'), { timeoutMs: 30_000, message: 'replay join' });
    expect(joined.data).toMatchObject({ recovered: true });
    expect(joined.data.replayed).toBeGreaterThanOrEqual(firstEvents.filter((e) => e.type.startsWith('step.')).length - 1);
    replayer.ws.close();
    for (const { socket } of ids) socket.ws.close();

    const accepted = saves.filter((s) => s.status === 200).length;
    console.log(
      `[nats-cluster] load ${(await import('node:os')).loadavg()[0]!.toFixed(1)}; ${accepted} saves accepted, ${saves.length - accepted} refused (409), ${events.length} events; pause per fault:\n` +
        pauses.map((p) => `  ${p.fault}: first save ${p.saveMs} ms, first push ${p.pushMs} ms, slowest save ${p.slowestSaveMs} ms`).join('\n'),
    );
  }, 300_000);
});

interface StreamEvent {
  id: string;
  type: string;
  sessionId: string;
  sessionSeq: number;
  data: { stepId?: string };
}

async function readEvents(): Promise<StreamEvent[]> {
  const info = await jsm.streams.info(BROKER.EVENT_STREAM);
  const out: StreamEvent[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(BROKER.EVENT_STREAM, { seq }).catch(() => null);
    if (m) out.push(m.json<StreamEvent>());
  }
  return out;
}
