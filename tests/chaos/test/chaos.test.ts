import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connectBus, createNatsBus, type Bus, type EventBus } from '@glavito/bus';
import {
  AuditEventSchema,
  AuditVerifyResponseSchema,
  computeProgress,
  MILESTONES,
  parseEvent,
  sessionSubjectFilter,
  type AuditEvent,
  type EventEnvelope,
  type OnboardingType,
} from '@glavito/contracts';
import { createPool, type Pool } from '@glavito/db';
import { serviceEntryArgs, waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, STREAM, SUBJECT_PREFIX, type Cluster, type ServiceProcess } from './cluster.js';
import { accepted, LoadGenerator, rejected, seededRandom, storedRev, unknown, type Outcome } from './load.js';
import { WsClient } from './ws-client.js';

/**
 * Chaos suite: under a steady load of step saves and connection tests, every service is SIGKILLed and
 * restarted in turn (both realtime instances, one after the other), NATS is killed and restarted, and
 * Postgres crashes for a few seconds. Afterwards nothing accepted is lost, no event is doubled, every
 * projection is exact, every WebSocket client that re-joined with lastEventId has every event once, and every
 * sensitive action has exactly one audit record in a chain that verifies (the audit service is SIGKILLed mid-append).
 */

const SEED = Number(process.env.CHAOS_SEED || Math.floor(Math.random() * 2 ** 31));
const TENANTS = ['chaos-t1', 'chaos-t2', 'chaos-t3', 'chaos-t4'];
/** Down time of a killed service before it is started again. */
const DOWN_MS = 1500;
/** Load after each recovery before the next blow. */
const SETTLE_MS = 3000;
const PG_DOWN_MS = 5000;
/** Every answer while Postgres is down must come faster than this. */
const FAST_MS = 3000;
/**
 * Every answer while anything else is down. Some requests wait for a NATS request/reply to time out
 * (the session lookup of connection-test and the progress fallback: 2-3 s), so a little above FAST_MS.
 */
const OUTAGE_MS = 4000;
/** Any request slower than this, at any time, counts as a hang. */
const HANG_MS = 8000;
/** Pushes of every event reach every client within this, outages included. */
const PUSH_LAG_MS = 20_000;
/**
 * Recovery bounds (README "Recovery"): after progress is SIGKILLed while applying an event, the session's next
 * progress push arrives within this of the new process answering /health/ready (the consumer's ack wait is 5 s
 * and kept alive while a handler runs, so whatever the dead process held comes back within it).
 */
const CRASH_PUSH_BOUND_MS = 5000;
/** After NATS is restarted, each new save's first push (and its progress push) arrives within this of NATS answering. */
const BROKER_PUSH_BOUND_MS = 2000;
/** Saves after the NATS restart whose pushes are held to BROKER_PUSH_BOUND_MS: those started within this window. */
const BROKER_WINDOW_MS = 10_000;
/** Extra sockets that re-join with lastEventId at once when the gateway they are connected through restarts. */
const STORM_SOCKETS = Number(process.env.CHAOS_STORM_SOCKETS || 200);
const PROGRESS_PUSHES = new Set(['progress_update', 'milestone_reached', 'onboarding_completed']);
const AUDIT_STREAM = `${STREAM}_AUDIT`;
const AUDIT_PREFIX = `${SUBJECT_PREFIX}_audit`;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

let cluster: Cluster;
let bus: EventBus;
/** A plain JetStream connection of the verifier: consumer counts and stored times. */
let diag: Bus;
let admin: Pool;
let receiver: http.Server;
let webhookHits = 0;
let load: LoadGenerator;
const clients: WsClient[] = [];
/** The reconnect storm's sockets (not checked event by event). */
const stormClients: WsClient[] = [];
const t0 = Date.now();
const timeline: Array<{ at: number; what: string }> = [];
const mark = (what: string) => timeline.push({ at: Date.now(), what });
/** Windows in which a service was down (killed → ready again). */
const downWindows: Array<{ label: string; from: number; to: number }> = [];

interface StoredEvent {
  streamSeq: number;
  subject: string;
  event: EventEnvelope;
}
let stream: StoredEvent[] = [];
/** Every message of the audit stream (redeliveries of one event included), read after the drain. */
let auditStream: AuditEvent[] = [];
let scenarioDone = false;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function readAll(filter = `${SUBJECT_PREFIX}.>`): Promise<StoredEvent[]> {
  const decoder = new TextDecoder();
  const msgs = await bus.readSince(STREAM, filter, new Date(0));
  return msgs.map((m) => ({ streamSeq: m.seq, subject: m.subject, event: parseEvent(JSON.parse(decoder.decode(m.data))) }));
}

async function readyStatus(svc: ServiceProcess): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  try {
    const res = await fetch(`${svc.url}/health/ready`, { signal: AbortSignal.timeout(10_000) });
    await res.body?.cancel();
    return { status: res.status, ms: Date.now() - started };
  } catch (err) {
    return { status: (err as Error).name === 'TimeoutError' ? -1 : 0, ms: Date.now() - started };
  }
}

async function allReady(services: ServiceProcess[], timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => (await Promise.all(services.map(readyStatus))).every((r) => r.status === 200), {
    timeoutMs,
    intervalMs: 100,
    message: 'every service ready',
  });
}

async function crashAndRestart(svc: ServiceProcess, afterReady?: () => Promise<void>): Promise<void> {
  const from = Date.now();
  mark(`SIGKILL ${svc.label}`);
  await svc.kill();
  await sleep(DOWN_MS);
  await svc.start();
  const to = Date.now();
  downWindows.push({ label: svc.label, from, to });
  mark(`${svc.label} ready again (down ${secs(to - from)}, start ${secs(svc.startTimes.at(-1)!)})`);
  await afterReady?.();
  await sleep(SETTLE_MS);
}

/**
 * SIGKILLs progress while it applies an event of `sessionId`: the verifier holds the session's projection row
 * locked until a progress statement waits on it, so the kill lands mid-event. Then measures how long after the
 * new process is ready the session's next progress push reaches its sockets.
 */
async function killProgressMidEvent(sessionId: string, how: 'committed' | 'rolled back'): Promise<void> {
  const lock = await admin.connect();
  let killedAt = 0;
  try {
    await lock.query('BEGIN');
    await lock.query('SELECT 1 FROM progress.projections WHERE session_id = $1 FOR UPDATE', [sessionId]);
    const lockPid = (await lock.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const blocked = await waitFor(
      async () =>
        (
          await admin.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> $1 AND query LIKE '%progress.projections%' AND $1 = ANY(pg_blocking_pids(pid))`,
            [lockPid],
          )
        ).rows[0]?.pid,
      { timeoutMs: 30_000, intervalMs: 20, message: `a progress statement waiting on session ${sessionId}` },
    );
    killedAt = Date.now();
    mark(`SIGKILL progress mid-event (session ${sessionId.slice(-8)}, statement ${how})`);
    await cluster.progress.kill();
    // Postgres has not noticed the client is gone: its backend still waits, and runs the statement once unlocked.
    if (how === 'rolled back') await admin.query('SELECT pg_terminate_backend($1)', [blocked]);
    await lock.query('ROLLBACK');
  } finally {
    lock.release();
  }
  await sleep(DOWN_MS);
  await cluster.progress.start();
  const readyAt = cluster.progress.readyAt;
  downWindows.push({ label: 'progress', from: killedAt, to: readyAt });
  const watching = clients.filter((c) => c.opts.sessionId === sessionId);
  const pushAt = await waitFor(
    () => {
      const first = watching
        .flatMap((c) => c.pushes)
        .filter((p) => PROGRESS_PUSHES.has(p.event) && p.at > killedAt)
        .sort((a, b) => a.at - b.at)[0];
      return first?.at;
    },
    { timeoutMs: 30_000, intervalMs: 10 },
  ).catch(() => undefined);
  crashRecoveries.push({ how, sessionId, killedAt, readyAt, pushAt });
  mark(
    `progress ready ${secs(readyAt - killedAt)} after the kill; next progress push of the session ${pushAt ? `${pushAt - readyAt} ms after ready` : 'not within 30 s'}`,
  );
  await sleep(SETTLE_MS);
}

/**
 * SIGKILLs the audit service in the middle of appending a batch: the verifier holds the chain heads of the load's
 * tenants locked until an append of the audit consumer waits on one, so the kill lands between the batch's first
 * statement and its commit. The dead batch never commits; its events come back after the ack wait and must be
 * recorded once, the chains unbroken (checked in (e)).
 */
async function killAuditMidAppend(tenants: string[]): Promise<void> {
  const lock = await admin.connect();
  let killedAt = 0;
  try {
    await lock.query('BEGIN');
    await lock.query('SELECT 1 FROM audit.chain_heads WHERE tenant_id = ANY($1::text[]) FOR UPDATE', [tenants]);
    const lockPid = (await lock.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    await waitFor(
      async () =>
        (
          await admin.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> $1 AND query LIKE '%audit.chain_heads%' AND $1 = ANY(pg_blocking_pids(pid))`,
            [lockPid],
          )
        ).rows[0]?.pid,
      { timeoutMs: 30_000, intervalMs: 20, message: 'an audit append waiting on a chain head' },
    );
    killedAt = Date.now();
    mark('SIGKILL audit mid-append');
    await cluster.audit.kill();
    await lock.query('ROLLBACK');
  } finally {
    lock.release();
  }
  await sleep(DOWN_MS);
  await cluster.audit.start();
  downWindows.push({ label: 'audit', from: killedAt, to: cluster.audit.readyAt });
  mark(`audit ready ${secs(cluster.audit.readyAt - killedAt)} after the kill`);
  await sleep(SETTLE_MS);
}

/** JetStream consumers on the event stream (durables, live feeds, replay readers). */
async function consumerCount(): Promise<number> {
  return (await diag.jsm.streams.info(STREAM)).state.consumer_count;
}

/** The consumer count once it has stayed the same for a second (no replay or feed being set up meanwhile). */
async function steadyConsumerCount(): Promise<number> {
  let last = -1;
  let same = 0;
  return waitFor(
    async () => {
      const n = await consumerCount();
      same = n === last ? same + 1 : 0;
      last = n;
      return same >= 5 ? n : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200, message: 'a steady consumer count' },
  );
}

interface CrashRecovery {
  how: string;
  sessionId: string;
  killedAt: number;
  readyAt: number;
  pushAt?: number;
}
const crashRecoveries: CrashRecovery[] = [];

interface StormResult {
  sockets: number;
  before: number;
  peak: number;
  after?: number;
  rejoinedMs?: number;
}
let storm: StormResult | undefined;
let natsAnsweringAt = 0;

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    webhookHits++;
    req.resume();
    res.writeHead(204).end();
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  cluster = await startCluster();
  mark(`cluster up (${cluster.all.map((s) => `${s.label} ${secs(s.startTimes[0]!)}`).join(', ')})`);
  bus = await createNatsBus({ servers: cluster.nats.url, name: 'chaos-verifier' });
  diag = await connectBus({ servers: cluster.nats.url, name: 'chaos-diag' });
  admin = createPool({ connectionString: cluster.pg.url, max: 4 });
});

afterAll(async () => {
  await load?.stop().catch(() => {});
  await Promise.all([...clients, ...stormClients].map((c) => c.stop()));
  await bus?.close().catch(() => {});
  await diag?.nc.close().catch(() => {});
  await admin?.end().catch(() => {});
  if (cluster) {
    // The services' own output (warnings and errors) of the last run, for a post-mortem.
    const dir = path.join(tmpdir(), 'glavito-chaos-logs');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    for (const s of cluster.all) writeFileSync(path.join(dir, `${s.label.replace('#', '')}.log`), s.logs.join('\n'));
    (scenarioDone ? console.log : console.error)(`chaos: service logs (warnings and errors) are in ${dir}`);
  }
  await cluster?.stop();
  receiver?.close();
});

describe(`chaos under load (seed ${SEED})`, () => {
  it('keeps serving through crashes of every service, a NATS restart and a Postgres crash: fast 503s, then recovery by itself', async () => {
    const random = seededRandom(SEED);
    const adminToken = (tenantId: string, userId: string) => cluster.token({ userId, tenantId, roles: ['admin'] });
    const gw = () => cluster.gateway.url;

    // One long-lived session per tenant, owned by its admin; WebSocket clients watch these.
    const longLived: Array<{ tenantId: string; userId: string; token: string; sessionId: string }> = [];
    for (const tenantId of TENANTS) {
      const userId = `owner-${tenantId}`;
      const token = adminToken(tenantId, userId);
      const res = await fetch(`${gw()}/onboarding/start`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(res.status).toBe(201);
      const sessionId = ((await res.json()) as { session: { id: string } }).session.id;
      longLived.push({ tenantId, userId, token, sessionId });
    }

    // Each client's first join replays from an event already in the stream: from there on it must see everything.
    const anchors = await Promise.all(
      longLived.map((s) =>
        waitFor(async () => (await readAll(sessionSubjectFilter(SUBJECT_PREFIX, s.tenantId, s.sessionId))).at(-1)?.event.id, {
          timeoutMs: 15_000,
          message: 'first events of a session',
        }),
      ),
    );
    const ws = (svc: ServiceProcess) => svc.url.replace('http', 'ws');
    longLived.forEach((s, i) => {
      const observer = adminToken(s.tenantId, `observer-${s.tenantId}`);
      const common = { sessionId: s.sessionId, anchorEventId: anchors[i]! };
      // Observers (another admin of the tenant) get the session's events only through join_session; the
      // owner also gets them as "its user's events" from the moment it connects.
      clients.push(
        new WsClient({ ...common, name: `${s.tenantId}/observer@rt1`, token: observer, targets: () => [ws(cluster.realtime1), ws(cluster.realtime2)] }),
        new WsClient({ ...common, name: `${s.tenantId}/observer@rt2`, token: observer, targets: () => [ws(cluster.realtime2), ws(cluster.realtime1)] }),
        new WsClient({ ...common, name: `${s.tenantId}/owner@gateway`, token: s.token, targets: () => [ws(cluster.gateway)] }),
        new WsClient({ ...common, name: `${s.tenantId}/owner@rt2`, token: s.token, targets: () => [ws(cluster.realtime2), ws(cluster.realtime1)] }),
      );
    });
    // Extra sockets for the reconnect storm below, joined now while the sessions' histories are short.
    for (let i = 0; i < STORM_SOCKETS; i++) {
      const s = longLived[i % longLived.length]!;
      stormClients.push(
        new WsClient({
          sessionId: s.sessionId,
          anchorEventId: anchors[i % longLived.length]!,
          name: `storm${i}`,
          token: adminToken(s.tenantId, `storm-${i}`),
          targets: () => [ws(cluster.gateway)],
        }),
      );
    }
    clients.forEach((c) => c.start());
    stormClients.forEach((c) => c.start());
    await waitFor(() => clients.every((c) => c.joined), { timeoutMs: 60_000, message: 'every WS client joined' });
    await waitFor(() => stormClients.every((c) => c.joined), { timeoutMs: 60_000, message: 'every storm socket joined' });

    load = new LoadGenerator({
      gatewayUrl: gw,
      random,
      longLived,
      rotating: TENANTS.map((tenantId) => ({ tenantId, token: (userId: string) => adminToken(tenantId, userId) })),
      actionsPerSession: 30,
      rate: 20,
      testRate: 2,
      webhookUrl: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
    });
    mark('load started');
    load.start();
    const loadStartedAt = Date.now();
    await sleep(6000);
    // Saves so far met no fault: their push lag is what this machine gives under this load (see the broker bound).
    const firstFaultAt = Date.now();

    // Reconnect storm first, while no realtime process has died yet (a killed one's live feed stays on the
    // broker until its inactivity threshold): extra sockets through the gateway, which is SIGKILLed, so every
    // socket through it re-joins with lastEventId at once. The replays must leave no consumer behind.
    storm = { sockets: STORM_SOCKETS, before: await steadyConsumerCount(), peak: 0 };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        storm!.peak = Math.max(storm!.peak, await consumerCount().catch(() => 0));
        await sleep(50);
      }
    })();
    await crashAndRestart(cluster.gateway, async () => {
      await waitFor(() => stormClients.every((c) => c.joins >= 2 && c.joined), { timeoutMs: 60_000, message: 'every storm socket re-joined' }).catch(() => {});
      if (stormClients.every((c) => c.joins >= 2)) storm!.rejoinedMs = Date.now() - cluster.gateway.readyAt;
    });
    storm.after = await waitFor(async () => ((await consumerCount()) === storm!.before ? storm!.before : undefined), {
      timeoutMs: 15_000,
      intervalMs: 100,
    }).catch(() => consumerCount());
    sampling = false;
    await sampler;
    await Promise.all(stormClients.map((c) => c.stop()));
    mark(
      `reconnect storm: ${STORM_SOCKETS} sockets re-joined ${storm.rejoinedMs ?? '(not all)'} ms after the gateway was ready; consumers ${storm.before} → peak ${storm.peak} → ${storm.after}`,
    );

    await crashAndRestart(cluster.session);
    // progress dies while applying an event of a watched session: once with the event's statement committed
    // by its orphaned backend (the outbox relay publishes what the dead process did not), once rolled back
    // (the broker redelivers the event after its ack wait).
    await killProgressMidEvent(longLived[0]!.sessionId, 'committed');
    await killProgressMidEvent(longLived[1]!.sessionId, 'rolled back');
    await killAuditMidAppend(TENANTS);
    for (const svc of [cluster.connectionTest, cluster.realtime1, cluster.realtime2]) {
      await crashAndRestart(svc);
    }

    mark('NATS killed');
    const natsFrom = Date.now();
    await cluster.restartNats();
    natsAnsweringAt = Date.now();
    mark(`NATS started again (${secs(Date.now() - natsFrom)})`);
    await allReady(cluster.all);
    downWindows.push({ label: 'nats', from: natsFrom, to: Date.now() });
    mark(`every service ready after the NATS restart (${secs(Date.now() - natsFrom)})`);
    // Publishes in flight when NATS died only fail at their timeout (5 s): let that pass before the next blow.
    await sleep(SETTLE_MS + 5000);

    // Postgres crashes (SIGKILL of the postmaster) and stays down for a while.
    const probes: Array<{ label: string; at: number; status: number; ms: number }> = [];
    let probing = true;
    const prober = (async () => {
      while (probing) {
        const at = Date.now();
        const results = await Promise.all(cluster.withDatabase.map(async (s) => ({ label: s.label, at, ...(await readyStatus(s)) })));
        probes.push(...results);
        await sleep(200);
      }
    })();
    const pgKilledAt = Date.now();
    mark('Postgres SIGKILLed');
    await cluster.pg.kill();
    await sleep(PG_DOWN_MS);
    const pgStartAt = Date.now();
    await cluster.pg.start();
    mark(`Postgres started again (crash recovery ${secs(Date.now() - pgStartAt)})`);
    const recoveryFrom = Date.now();
    await allReady(cluster.all, 60_000);
    const pgRecoveredAt = Date.now();
    downWindows.push({ label: 'postgres', from: pgKilledAt, to: pgRecoveredAt });
    mark(`every service ready after the Postgres restart (${secs(pgRecoveredAt - recoveryFrom)} after it answered)`);
    probing = false;
    await prober;

    // Load goes on for a while after the last blow: recovery must hold under load.
    await sleep(8000);
    await load.stop();
    mark('load stopped');

    expect
      .soft(
        cluster.all.flatMap((s) => s.unexpectedExits),
        'services that died by themselves',
      )
      .toEqual([]);

    // --- while Postgres was down: readiness false, answers fast ---
    const whileDown = probes.filter((p) => p.at >= pgKilledAt + 1000 && p.at + p.ms <= pgStartAt);
    expect.soft(whileDown.length, 'readiness probes while Postgres was down').toBeGreaterThan(10);
    for (const label of cluster.withDatabase.map((s) => s.label)) {
      const mine = whileDown.filter((p) => p.label === label);
      expect.soft(mine.length, `${label}: probes while down`).toBeGreaterThan(3);
      expect
        .soft(
          mine.filter((p) => p.status !== 503),
          `${label}: /health/ready while Postgres is down`,
        )
        .toEqual([]);
    }
    expect
      .soft(
        probes.filter((p) => p.ms >= FAST_MS),
        'readiness probes slower than 3 s',
      )
      .toEqual([]);

    const duringOutage = load.outcomes.filter((o) => o.endedAt >= pgKilledAt && o.startedAt <= pgStartAt);
    const settledDown = duringOutage.filter((o) => o.startedAt >= pgKilledAt + 1000 && o.endedAt <= pgStartAt);
    expect.soft(settledDown.length, 'requests answered while Postgres was down').toBeGreaterThan(20);
    expect.soft(settledDown.filter((o) => o.status !== 503).map(describeOutcome), 'answers while Postgres was down (all 503)').toEqual([]);
    expect
      .soft(duringOutage.filter((o) => o.endedAt - o.startedAt >= FAST_MS).map(describeOutcome), 'requests slower than 3 s around the Postgres outage')
      .toEqual([]);
    expect.soft(pgRecoveredAt - recoveryFrom, 'time to ready after Postgres is back').toBeLessThan(15_000);
    expect
      .soft(load.outcomes.filter((o) => o.kind === 'save' && accepted(o) && o.startedAt > pgRecoveredAt).length, 'saves accepted after the recovery')
      .toBeGreaterThan(20);

    // --- at any time: no hang, no 500, no unexpected status ---
    const outages = (o: Outcome, label?: string) =>
      downWindows.some((w) => (!label || w.label === label) && o.endedAt >= w.from - 200 && o.startedAt <= w.to + 500);
    const surprising = load.outcomes.filter((o) => {
      if (accepted(o)) return false;
      if (o.status === -1 || o.endedAt - o.startedAt >= HANG_MS) return true;
      if (o.status === 409) return ['save', 'skip', 'pause', 'resume', 'complete', 'invalid'].includes(o.kind);
      if (o.status === 422) return o.kind !== 'invalid';
      if (o.status === 503) return !outages(o);
      // Nothing answers only while the gateway itself is down.
      if (o.status === 0) return !outages(o, 'gateway');
      return true;
    });
    expect.soft(surprising.map(describeOutcome), 'hangs, 5xx outside outages, or unexpected statuses').toEqual([]);

    // Every outage (a service down, NATS, Postgres): what did the load see, and how fast?
    const perWindow = downWindows.map((w) => {
      const seen = load.outcomes.filter((o) => o.endedAt >= w.from && o.startedAt <= w.to);
      const slowest = seen.reduce<Outcome | undefined>((a, o) => (!a || o.endedAt - o.startedAt > a.endedAt - a.startedAt ? o : a), undefined);
      return { ...w, requests: seen.length, failed: seen.filter((o) => !accepted(o) && !rejected(o)).length, slowest };
    });
    for (const w of perWindow)
      expect
        .soft(w.slowest ? w.slowest.endedAt - w.slowest.startedAt : 0, `slowest answer while ${w.label} was down: ${w.slowest && describeOutcome(w.slowest)}`)
        .toBeLessThan(OUTAGE_MS);

    const byStatus = new Map<number, number>();
    for (const o of load.outcomes) byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);
    const outageMs = duringOutage.map((o) => o.endedAt - o.startedAt).sort((a, b) => a - b);
    console.log(
      [
        `\nchaos run (seed ${SEED}):`,
        ...timeline.map((t) => `  +${secs(t.at - t0).padStart(7)}  ${new Date(t.at).toISOString().slice(11, 23)}  ${t.what}`),
        `  requests: ${load.outcomes.length} (${[...byStatus]
          .sort((a, b) => a[0] - b[0])
          .map(([s, n]) => `${s}: ${n}`)
          .join(', ')}); sessions: ${load.sessions.size}; webhook hits: ${webhookHits}`,
        `  around the Postgres outage: ${duringOutage.length} requests, p50 ${outageMs[Math.floor(outageMs.length / 2)] ?? 0} ms, max ${outageMs.at(-1) ?? 0} ms; readiness probes max ${Math.max(0, ...probes.map((p) => p.ms))} ms`,
        ...perWindow.map(
          (w) =>
            `  ${w.label} down ${secs(w.to - w.from)}: ${w.requests} requests, ${w.failed} failed, slowest ${w.slowest ? w.slowest.endedAt - w.slowest.startedAt : 0} ms${w.slowest ? ` (${describeOutcome(w.slowest)})` : ''}`,
        ),
      ].join('\n'),
    );

    // --- recovery bounds ---
    for (const r of crashRecoveries) {
      expect
        .soft(
          r.pushAt !== undefined ? r.pushAt - r.readyAt : Number.POSITIVE_INFINITY,
          `progress killed mid-event (${r.how}): next progress push of ${r.sessionId} after the new process was ready (ms)`,
        )
        .toBeLessThanOrEqual(CRASH_PUSH_BOUND_MS);
    }
    expect.soft(crashRecoveries.length, 'progress kills mid-event').toBe(2);
    expect.soft(storm?.rejoinedMs, `every one of ${STORM_SOCKETS} storm sockets re-joined`).toBeDefined();
    expect.soft(storm?.after, 'JetStream consumers after the reconnect storm (before it: the first number)').toBe(storm?.before);
    // Saves answered from NATS answering until the Postgres crash is near: a push due as Postgres dies waits for it
    // (that outage has its own bounds above), which is not the broker restart's doing.
    const brokerLags = savePushLags(natsAnsweringAt, Math.min(natsAnsweringAt + BROKER_WINDOW_MS, pgKilledAt - BROKER_PUSH_BOUND_MS));
    // The bound is on what the restart adds: 2 s over the push lag this machine gave before any fault (p95 of the
    // warm-up's saves). Quiet, that lag is tens of ms; two CI runs side by side (load 30) made it hundreds, and a
    // recovered push at 2,008 ms then failed a bound the recovery itself met.
    const steadyLags = savePushLags(loadStartedAt + 1000, firstFaultAt)
      .map((l) => Math.max(l.first, l.progress))
      .filter(Number.isFinite)
      .sort((a, b) => a - b);
    const steadyP95 = steadyLags[Math.floor(steadyLags.length * 0.95)] ?? 0;
    const brokerBound = BROKER_PUSH_BOUND_MS + steadyP95;
    console.log(
      `  after the NATS restart: ${brokerLags.length} saves on watched sessions; first push ≤ ${Math.max(0, ...brokerLags.map((l) => l.first))} ms, progress push ≤ ${Math.max(0, ...brokerLags.map((l) => l.progress))} ms after NATS answered or the save was answered (bound ${brokerBound} ms: 2 s + the warm-up's p95 push lag, ${steadyP95} ms over ${steadyLags.length} saves)`,
    );
    expect.soft(brokerLags.length, 'saves on watched sessions right after the NATS restart').toBeGreaterThan(5);
    expect.soft(steadyLags.length, 'saves on watched sessions before the first fault').toBeGreaterThan(5);
    expect
      .soft(
        brokerLags.filter((l) => l.first > brokerBound || l.progress > brokerBound),
        `saves after the NATS restart whose pushes came later than 2 s over the warm-up's p95 (${steadyP95} ms)`,
      )
      .toEqual([]);

    // --- drain: every outbox published, every consumer caught up ---
    const drainFrom = Date.now();
    let calmChecks = 0;
    await waitFor(
      async () => {
        const counts = await Promise.all([
          ...['session', 'progress', 'connection_test', 'audit'].map(async (schema) =>
            Number((await admin.query(`SELECT count(*) AS n FROM ${schema}.outbox WHERE published_at IS NULL`)).rows[0].n),
          ),
          bus.pendingFor(STREAM, 'progress'),
          bus.pendingFor(STREAM, 'progress_sessions'),
          bus.pendingFor(STREAM, 'connection-test'),
          bus.pendingFor(AUDIT_STREAM, 'audit'),
          admin.query('SELECT count(*) AS n FROM progress.pending_events').then((r) => Number(r.rows[0].n)),
        ]);
        calmChecks = counts.every((n) => n === 0) ? calmChecks + 1 : 0;
        return calmChecks >= 3;
      },
      { timeoutMs: 90_000, intervalMs: 300, message: 'outboxes published and consumers caught up' },
    );
    mark(`drained (${secs(Date.now() - drainFrom)})`);
    stream = await readAll();
    mark(`stream read: ${stream.length} events`);
    const decoder = new TextDecoder();
    auditStream = (await bus.readSince(AUDIT_STREAM, `${AUDIT_PREFIX}.>`, new Date(0))).map((m) => AuditEventSchema.parse(JSON.parse(decoder.decode(m.data))));
    mark(`audit stream read: ${auditStream.length} messages`);
    scenarioDone = true;
  });

  it('(a) stores every accepted save: stored step data is the last accepted save (or a later one whose answer was lost)', async () => {
    expect(scenarioDone, 'the scenario ran to the end').toBe(true);
    const { rows } = await admin.query<{ id: string; completed_steps: string[]; step_data: Record<string, Record<string, unknown>> }>(
      'SELECT id, completed_steps, step_data FROM session.sessions',
    );
    const stored = new Map(rows.map((r) => [r.id, r]));
    const saves = load.outcomes.filter((o) => o.kind === 'save');
    const bySessionStep = new Map<string, Outcome[]>();
    for (const o of saves) {
      const key = `${o.sessionId}/${o.stepId}`;
      bySessionStep.set(key, [...(bySessionStep.get(key) ?? []), o]);
    }
    const problems: string[] = [];
    let checked = 0;
    for (const [key, attempts] of bySessionStep) {
      const [sessionId, stepId] = key.split('/') as [string, string];
      const row = stored.get(sessionId);
      if (!row) {
        problems.push(`${sessionId}: session missing`);
        continue;
      }
      const lastAccepted = attempts.findLastIndex(accepted);
      // Allowed: the last accepted save, or any later save whose outcome is unknown (applied, answer lost).
      const allowed = new Set(attempts.filter((o, i) => (i === lastAccepted && accepted(o)) || (i > lastAccepted && unknown(o))).map((o) => o.rev));
      const rev = storedRev(stepId, row.step_data[stepId]);
      if (lastAccepted >= 0) {
        checked++;
        if (!row.completed_steps.includes(stepId)) problems.push(`${key}: accepted but not in completedSteps`);
        if (rev === null || !allowed.has(rev)) problems.push(`${key}: stored rev ${rev}, expected one of ${[...allowed].join(',')}`);
      } else if (rev !== null && !allowed.has(rev)) {
        problems.push(`${key}: stored rev ${rev} from a rejected save`);
      }
      // A definite rejection (4xx) is never what is stored.
      for (const o of attempts) if (rejected(o) && rev === o.rev) problems.push(`${key}: rejected rev ${o.rev} is stored`);
    }
    // Nothing completed that no one saved (welcome is completed on start).
    for (const [sessionId] of load.sessions) {
      const row = stored.get(sessionId);
      if (!row) continue;
      for (const stepId of row.completed_steps) {
        if (stepId !== 'welcome' && !bySessionStep.has(`${sessionId}/${stepId}`)) problems.push(`${sessionId}/${stepId}: completed without a save`);
      }
    }
    expect(problems).toEqual([]);
    expect(checked, 'steps with an accepted save').toBeGreaterThan(100);
    console.log(`(a) ${saves.filter(accepted).length} accepted saves over ${checked} session steps verified against stored data`);
  });

  it('(b) holds every event in the stream exactly once: per session 1..N without gaps, N = the stored event_seq', async () => {
    expect(scenarioDone, 'the scenario ran to the end').toBe(true);
    const ids = new Map<string, number>();
    for (const e of stream) ids.set(e.event.id, (ids.get(e.event.id) ?? 0) + 1);
    expect(
      [...ids].filter(([, n]) => n > 1),
      'event ids stored more than once',
    ).toEqual([]);

    const { rows } = await admin.query<{ id: string; event_seq: number }>('SELECT id, event_seq FROM session.sessions');
    const problems: string[] = [];
    for (const r of rows) {
      const seqs = stream.filter((e) => e.event.sessionId === r.id && /^(session|step)\./.test(e.event.type)).map((e) => e.event.sessionSeq);
      const expected = Array.from({ length: r.event_seq }, (_, i) => i + 1);
      if (JSON.stringify([...seqs].sort((a, b) => a - b)) !== JSON.stringify(expected))
        problems.push(`${r.id}: session events ${JSON.stringify(seqs)} vs 1..${r.event_seq}`);
    }
    // The other producers too: connection-test's and progress' own sequences.
    const tested = await admin.query<{ session_id: string; out_seq: number; runs: string }>(
      'SELECT k.session_id, k.out_seq, (SELECT count(*) FROM connection_test.test_runs t WHERE t.session_id = k.session_id) AS runs FROM connection_test.known_sessions k',
    );
    for (const r of tested.rows) {
      const seqs = stream
        .filter((e) => e.event.sessionId === r.session_id && e.event.type === 'connection.tested')
        .map((e) => e.event.sessionSeq)
        .sort((a, b) => a - b);
      if (JSON.stringify(seqs) !== JSON.stringify(Array.from({ length: r.out_seq }, (_, i) => i + 1)) || Number(r.runs) !== r.out_seq) {
        problems.push(`${r.session_id}: connection.tested ${JSON.stringify(seqs)}, out_seq ${r.out_seq}, runs ${r.runs}`);
      }
    }
    const testedIds = new Set(stream.filter((e) => e.event.type === 'connection.tested').map((e) => (e.event.data as { result: { id: string } }).result.id));
    const acceptedTests = load.outcomes.filter((o) => o.kind === 'test' && accepted(o));
    for (const o of acceptedTests) if (!testedIds.has(o.resultId!)) problems.push(`accepted connection test ${o.resultId} has no connection.tested event`);
    const dlq = await bus.readSince(`${STREAM}_DLQ`, 'chaos.dlq.>', new Date(0)).catch(() => []);
    expect(problems).toEqual([]);
    expect(dlq.length, 'dead-lettered messages').toBe(0);
    expect(acceptedTests.length, 'accepted connection tests').toBeGreaterThan(50);
    console.log(`(b) ${stream.length} events, ${rows.length} sessions, ${acceptedTests.length} accepted connection tests: each once, no gaps`);
  });

  it('(c) projects every session exactly: projection and milestones equal a replay of its events through computeProgress', async () => {
    expect(scenarioDone, 'the scenario ran to the end').toBe(true);
    const sessions = await admin.query<{
      id: string;
      type: OnboardingType;
      event_seq: number;
      completed_steps: string[];
      skipped_steps: string[];
      status: string;
    }>('SELECT id, type, event_seq, completed_steps, skipped_steps, status FROM session.sessions');
    const projections = new Map(
      (
        await admin.query<{
          session_id: string;
          applied_seq: number;
          out_seq: number;
          status: string;
          completed_steps: string[];
          skipped_steps: string[];
          current_step: string | null;
          progress_percentage: number;
          estimated_time_remaining: number;
        }>(
          'SELECT session_id, applied_seq, out_seq, status, completed_steps, skipped_steps, current_step, progress_percentage, estimated_time_remaining FROM progress.projections',
        )
      ).rows.map((r) => [r.session_id, r]),
    );
    const milestoneRows = (
      await admin.query<{ session_id: string; threshold: number }>('SELECT session_id, threshold FROM progress.milestones ORDER BY threshold')
    ).rows;
    const problems: string[] = [];
    let milestonesSeen = 0;
    for (const s of sessions.rows) {
      const events = stream.filter((e) => e.event.sessionId === s.id);
      const own = events.filter((e) => /^(session|step)\./.test(e.event.type)).sort((a, b) => a.event.sessionSeq - b.event.sessionSeq);
      const snapshots = own
        .filter((e) => 'completedSteps' in e.event.data)
        .map(
          (e) =>
            e.event.data as {
              completedSteps: string[];
              skippedSteps: string[];
              currentStep: string | null;
              status: 'active' | 'paused' | 'completed' | 'abandoned';
            },
        );
      const last = snapshots.at(-1)!;
      const expected = computeProgress(s.type, last);
      const reached = MILESTONES.filter((m) => snapshots.some((snap) => computeProgress(s.type, snap).progressPercentage >= m.threshold)).map(
        (m) => m.threshold,
      );
      const p = projections.get(s.id);
      const want = {
        applied_seq: s.event_seq,
        status: last.status,
        completed_steps: last.completedSteps,
        skipped_steps: last.skippedSteps,
        current_step: expected.currentStep,
        progress_percentage: expected.progressPercentage,
        estimated_time_remaining: expected.estimatedTimeRemaining,
      };
      const got = p && {
        applied_seq: p.applied_seq,
        status: p.status,
        completed_steps: p.completed_steps,
        skipped_steps: p.skipped_steps,
        current_step: p.current_step,
        progress_percentage: p.progress_percentage,
        estimated_time_remaining: p.estimated_time_remaining,
      };
      if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${s.id}: projection ${JSON.stringify(got)} vs expected ${JSON.stringify(want)}`);
      // The session's own row says the same as its last event.
      if (JSON.stringify([s.status, s.completed_steps, s.skipped_steps]) !== JSON.stringify([last.status, last.completedSteps, last.skippedSteps]))
        problems.push(`${s.id}: session row differs from its last event`);
      const rows = milestoneRows.filter((m) => m.session_id === s.id).map((m) => m.threshold);
      if (JSON.stringify(rows) !== JSON.stringify(reached))
        problems.push(`${s.id}: milestone rows ${JSON.stringify(rows)} vs reached ${JSON.stringify(reached)}`);
      const pushed = events
        .filter((e) => e.event.type === 'milestone.reached')
        .map((e) => (e.event.data as { threshold: number }).threshold)
        .sort((a, b) => a - b);
      if (JSON.stringify(pushed) !== JSON.stringify(reached))
        problems.push(`${s.id}: milestone.reached events ${JSON.stringify(pushed)} vs reached ${JSON.stringify(reached)}`);
      milestonesSeen += pushed.length;
      // One progress.updated per applied snapshot event, and progress' own sequence without gaps.
      const updates = events.filter((e) => e.event.type === 'progress.updated').length;
      if (updates !== snapshots.length) problems.push(`${s.id}: ${updates} progress.updated for ${snapshots.length} session events`);
      const progressSeqs = events
        .filter((e) => e.event.type.startsWith('progress.') || e.event.type === 'milestone.reached')
        .map((e) => e.event.sessionSeq)
        .sort((a, b) => a - b);
      if (JSON.stringify(progressSeqs) !== JSON.stringify(Array.from({ length: p?.out_seq ?? 0 }, (_, i) => i + 1)))
        problems.push(`${s.id}: progress events seqs ${JSON.stringify(progressSeqs)} vs out_seq ${p?.out_seq}`);
    }
    expect(problems).toEqual([]);
    expect(milestonesSeen, 'milestones reached').toBeGreaterThan(sessions.rows.length);
    console.log(`(c) ${sessions.rows.length} projections and ${milestonesSeen} milestones equal the replay of their events`);
  });

  it('(d) gives every WebSocket client each event of its session once, and after its last re-join none is missing', async () => {
    expect(scenarioDone, 'the scenario ran to the end').toBe(true);
    const expectedOf = (c: WsClient) => {
      const events = stream.filter((e) => e.event.sessionId === c.opts.sessionId).sort((a, b) => a.streamSeq - b.streamSeq);
      const from = events.findIndex((e) => e.event.id === c.opts.anchorEventId);
      // Not pushed: session.abandoned, session.completed (clients see it as the progress update it causes), and
      // step annotations other than a payment step needing attention (a verified channel shows in the session;
      // its connection test has its own push).
      const pushed = (e: (typeof events)[number]) => {
        if (e.event.type === 'session.abandoned' || e.event.type === 'session.completed') return false;
        if (e.event.type !== 'step.annotated') return true;
        const d = e.event.data as { stepId?: string; signal?: { state?: string } };
        return d.stepId === 'payment_setup' && d.signal?.state === 'attention_needed';
      };
      return events.slice(from + 1).filter(pushed);
    };
    // Pushes of the last events may still be on their way.
    const waitFrom = Date.now();
    await waitFor(() => clients.every((c) => c.joined && expectedOf(c).every((e) => c.received.has(e.event.id))), { timeoutMs: 30_000, intervalMs: 200 }).catch(
      () => {},
    );
    const waited = Date.now() - waitFrom;
    // How late pushes arrived: from the moment the event was in the stream... approximated by occurredAt.
    const lags = clients.flatMap((c) =>
      expectedOf(c)
        .filter((e) => c.arrivedAt.has(e.event.id))
        .map((e) => ({
          client: c.name,
          type: e.event.type,
          seq: e.streamSeq,
          occurredAt: e.event.occurredAt,
          lag: c.arrivedAt.get(e.event.id)! - Date.parse(e.event.occurredAt),
        })),
    );
    lags.sort((a, b) => b.lag - a.lag);
    const sessionLags = lags.filter((l) => /^(session|step)\./.test(l.type));
    const progressLags = lags.filter((l) => /^(progress|milestone)\./.test(l.type));
    const testLags = lags.filter((l) => l.type === 'connection.tested');
    console.log(
      `(d) max push lag: session events ${sessionLags[0]?.lag} ms, progress events ${progressLags[0]?.lag} ms (${JSON.stringify(progressLags[0])}), connection tests ${testLags[0]?.lag} ms`,
    );
    const storedAt = async (seq: number) => Date.parse((await diag.jsm.streams.getMessage(STREAM, { seq }))!.time.toISOString());
    const explain = async (l: (typeof lags)[number] | undefined) => l && { ...l, publishLag: (await storedAt(l.seq)) - Date.parse(l.occurredAt) };
    console.log(
      `(d) waited ${waited} ms for the last pushes; slowest: ${JSON.stringify(await explain(lags[0]))}; slowest session-service event: ${JSON.stringify(await explain(sessionLags[0]))}`,
    );
    const report = clients.map((c) => {
      const expected = expectedOf(c);
      const ids = new Set(expected.map((e) => e.event.id));
      return {
        client: c.name,
        missing: expected.filter((e) => !c.received.has(e.event.id)).map((e) => `${e.event.type} ${e.event.id} (stream seq ${e.streamSeq})`),
        twice: [...c.received].filter(([, n]) => n > 1).map(([id]) => id),
        unexpected: [...c.received.keys()].filter((id) => !ids.has(id)),
        sameSocket: c.sameSocketDuplicates,
        unrecovered: c.unrecovered,
      };
    });
    const bad = report.filter((r) => r.missing.length + r.twice.length + r.unexpected.length + r.sameSocket.length + r.unrecovered.length > 0);
    console.log(`(d) ${clients.length} clients: ${clients.map((c) => `${c.name} ${c.received.size} events/${c.connections} sockets`).join('; ')}`);
    expect(bad).toEqual([]);
    expect(
      [...sessionLags, ...testLags].filter((l) => l.lag > PUSH_LAG_MS),
      'pushes later than 20 s',
    ).toEqual([]);
    expect(
      progressLags.filter((l) => l.lag > PUSH_LAG_MS),
      'progress pushes later than 20 s',
    ).toEqual([]);
    expect(
      clients.every((c) => c.connections >= 2),
      'every client lost its socket at least once and re-joined',
    ).toBe(true);
    expect(Math.min(...clients.map((c) => c.received.size)), 'events per client').toBeGreaterThan(100);
  });

  it('(e) records every sensitive action exactly once though the audit service was killed mid-append, and every chain verifies', async () => {
    expect(scenarioDone, 'the scenario ran to the end').toBe(true);
    const { rows: records } = await admin.query<{
      tenant_id: string;
      seq: string;
      id: string;
      action: string;
      actor_subject: string;
      actor_roles: string[];
      target_type: string;
      target_id: string | null;
      outcome: string;
      outcome_code: string | null;
      correlation_id: string | null;
      details: Record<string, unknown>;
      json: string;
    }>(
      `SELECT tenant_id, seq, id, action, actor_subject, actor_roles, target_type, target_id, outcome, outcome_code, correlation_id, details, row_to_json(r)::text AS json
       FROM audit.records r ORDER BY tenant_id, seq`,
    );
    const problems: string[] = [];
    // Every event that reached the audit stream is recorded, once, and nothing else is (the stream may hold an event
    // twice: an outbox row published again after a crash; the record is one).
    const streamIds = new Set(auditStream.map((e) => e.id));
    const recordIds = new Set(records.map((r) => r.id));
    if (recordIds.size !== records.length) problems.push(`${records.length - recordIds.size} record ids stored twice`);
    for (const id of streamIds) if (!recordIds.has(id)) problems.push(`audit event ${id} in the stream has no record`);
    for (const id of recordIds) if (!streamIds.has(id)) problems.push(`record ${id} has no event in the stream`);

    // The change and its record are one commit: each status event of a session (the change, in the event stream) has
    // exactly one record of its action on that session, with the event's correlation id.
    const STATUS_ACTIONS: Record<string, string[]> = {
      'session.started': ['session.start'],
      'session.paused': ['session.pause'],
      'session.resumed': ['session.resume'],
      'session.abandoned': ['session.abandon'],
      'session.completed': ['session.complete', 'session.force_complete'],
    };
    const statusEvents = stream.filter((e) => e.event.type in STATUS_ACTIONS);
    const bySessionAction = new Map<string, typeof records>();
    for (const r of records) {
      if (r.target_type !== 'session') continue;
      const key = `${r.target_id}|${r.action}`;
      bySessionAction.set(key, [...(bySessionAction.get(key) ?? []), r]);
    }
    for (const [type, actions] of Object.entries(STATUS_ACTIONS)) {
      const perSession = new Map<string, EventEnvelope[]>();
      for (const e of statusEvents.filter((x) => x.event.type === type))
        perSession.set(e.event.sessionId, [...(perSession.get(e.event.sessionId) ?? []), e.event]);
      const sessions = new Set([
        ...perSession.keys(),
        ...[...bySessionAction.keys()].filter((k) => actions.includes(k.split('|')[1]!)).map((k) => k.split('|')[0]!),
      ]);
      for (const sessionId of sessions) {
        const events = perSession.get(sessionId) ?? [];
        const recs = actions.flatMap((a) => bySessionAction.get(`${sessionId}|${a}`) ?? []);
        if (recs.length !== events.length) problems.push(`${sessionId}: ${events.length} ${type} events, ${recs.length} ${actions.join('/')} records`);
        const missing = events.map((e) => e.correlationId).filter((c) => !recs.some((r) => r.correlation_id === c));
        if (missing.length > 0) problems.push(`${sessionId}: ${type} of correlation ${missing.join(', ')} has no record carrying it`);
      }
    }
    // Each connection test that ran (its connection.tested event) has one record naming its result.
    const testRecords = new Map<string, number>();
    for (const r of records.filter((x) => x.action === 'connection.test'))
      testRecords.set(String(r.details.resultId), (testRecords.get(String(r.details.resultId)) ?? 0) + 1);
    const testedIds = stream.filter((e) => e.event.type === 'connection.tested').map((e) => (e.event.data as { result: { id: string } }).result.id);
    for (const id of testedIds) if (testRecords.get(id) !== 1) problems.push(`connection test ${id}: ${testRecords.get(id) ?? 0} records`);
    if (testRecords.size !== testedIds.length) problems.push(`${testRecords.size} connection.test records for ${testedIds.length} connection.tested events`);

    // What the load did, seen by its requests: an accepted action has exactly one record of it with the request's
    // correlation id, actor, tenant and target; a rejected one none; one whose answer was lost at most one.
    const KIND_ACTIONS: Partial<Record<Outcome['kind'], string[]>> = {
      start: ['session.start'],
      pause: ['session.pause'],
      resume: ['session.resume'],
      complete: ['session.complete', 'session.force_complete'],
      test: ['connection.test'],
    };
    const byCorrelation = new Map<string, typeof records>();
    for (const r of records) if (r.correlation_id) byCorrelation.set(r.correlation_id, [...(byCorrelation.get(r.correlation_id) ?? []), r]);
    const counted = new Map<string, number>();
    for (const o of load.outcomes) {
      const actions = KIND_ACTIONS[o.kind];
      if (!actions) continue;
      const recs = (byCorrelation.get(o.correlationId) ?? []).filter((r) => actions.includes(r.action));
      const what = describeOutcome(o);
      if (accepted(o)) {
        counted.set(o.kind, (counted.get(o.kind) ?? 0) + 1);
        if (recs.length !== 1) {
          problems.push(`${what}: ${recs.length} records`);
          continue;
        }
        const r = recs[0]!;
        const sessionId = o.kind === 'start' ? r.target_id! : o.sessionId;
        const owner = load.sessions.get(sessionId);
        const want = {
          tenant: owner?.tenantId,
          actor: owner?.userId,
          roles: ['admin'],
          target: `session ${sessionId}`,
          outcome: o.kind === 'test' ? r.outcome : 'allowed',
        };
        const got = { tenant: r.tenant_id, actor: r.actor_subject, roles: r.actor_roles, target: `${r.target_type} ${r.target_id}`, outcome: r.outcome };
        if (!owner || JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${what}: record ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
        if (o.kind === 'test' && r.details.resultId !== o.resultId)
          problems.push(`${what}: record names result ${String(r.details.resultId)}, the answer ${o.resultId}`);
      } else if (rejected(o) ? recs.length !== 0 : recs.length > 1) {
        problems.push(`${what}: ${recs.length} records`);
      }
    }
    // The canary: the webhook secret every connection test sent is in no record.
    const leaks = records.filter((r) => r.json.includes('chaos-webhook-secret')).map((r) => `${r.action} ${r.id}`);
    expect(leaks, 'records holding the webhook secret').toEqual([]);
    expect(problems).toEqual([]);
    for (const kind of ['start', 'pause', 'resume', 'complete', 'test'] as const)
      expect(counted.get(kind) ?? 0, `accepted ${kind} requests checked`).toBeGreaterThan(kind === 'test' ? 50 : 2);

    // Every chain verifies: each load tenant's through the API its admins use, and all of them (the refusals'
    // chain without a tenant included) with the `pnpm audit:verify` command.
    for (const tenantId of TENANTS) {
      const res = await fetch(`${cluster.gateway.url}/onboarding/audit/verify`, {
        headers: { authorization: `Bearer ${cluster.token({ tenantId, userId: `auditor-${tenantId}`, roles: ['admin'] })}` },
      });
      expect(res.status, `verify ${tenantId}`).toBe(200);
      const v = AuditVerifyResponseSchema.parse(await res.json());
      expect(v, `chain of ${tenantId}`).toMatchObject({ tenantId, ok: true, firstBroken: null });
      expect(v.records, `records of ${tenantId} verified`).toBeGreaterThanOrEqual(records.filter((r) => r.tenant_id === tenantId).length);
    }
    const cli = await promisify(execFile)(process.execPath, serviceEntryArgs(path.join(root, 'services/audit'), 'verify-cli'), {
      cwd: root,
      env: { ...process.env, DATABASE_URL: cluster.pg.url },
    });
    const chains = new Set(records.map((r) => r.tenant_id));
    expect(cli.stdout, 'audit:verify').toContain(`chain(s) checked, 0 broken`);
    expect(cli.stdout.split('\n').filter((l) => l.startsWith('ok ')).length, 'chains verified by audit:verify').toBeGreaterThanOrEqual(chains.size);
    const byAction = new Map<string, number>();
    for (const r of records) byAction.set(r.action, (byAction.get(r.action) ?? 0) + 1);
    console.log(
      `(e) ${records.length} audit records in ${chains.size} chains (${[...byAction].map(([a, n]) => `${a} ${n}`).join(', ')}) from ${auditStream.length} stream messages; ${[...counted].map(([k, n]) => `${n} accepted ${k}`).join(', ')} each recorded once; every chain verifies`,
    );
  });
});

/**
 * Accepted saves on watched sessions started in [from, to): how long after max(from, the save's answer) its first
 * push and its first progress push reached one of the session's sockets (Infinity: never).
 */
function savePushLags(from: number, to: number): Array<{ save: string; first: number; progress: number }> {
  return load.outcomes
    .filter((o) => o.kind === 'save' && accepted(o) && o.startedAt >= from && o.startedAt < to && clients.some((c) => c.opts.sessionId === o.sessionId))
    .map((o) => {
      const pushes = clients
        .filter((c) => c.opts.sessionId === o.sessionId)
        .flatMap((c) => c.pushes)
        .filter((p) => p.correlationId === o.correlationId);
      const since = Math.max(from, o.endedAt);
      const at = (list: typeof pushes) => (list.length ? Math.min(...list.map((p) => p.at)) - since : Number.POSITIVE_INFINITY);
      return { save: describeOutcome(o), first: at(pushes), progress: at(pushes.filter((p) => PROGRESS_PUSHES.has(p.event))) };
    });
}

function describeOutcome(o: Outcome): string {
  return `${o.kind} ${o.sessionId.slice(-8)}${o.stepId ? `/${o.stepId}` : ''} → ${o.status}${o.code ? ` ${o.code}` : ''} in ${o.endedAt - o.startedAt} ms at +${secs(o.startedAt - t0)}`;
}
