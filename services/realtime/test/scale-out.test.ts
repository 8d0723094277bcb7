import { waitFor } from '@glavito/testkit';
import { Kvm } from '@nats-io/kv';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTo, eventFor, startHarness, type Harness } from './helpers.js';
import { closeHarness, getAs, sleep } from './sockets.js';

/**
 * Several replicas on one event stream and one presence bucket (ARCHITECTURE §1/§4): every replica reads
 * every event for its own sockets, and the client-count endpoints sum the replicas that are alive.
 */
const PRESENCE_TTL_MS = 3000;

let h: Harness;
let a: FastifyInstance;
let b: FastifyInstance;
const alice = { userId: 'alice', tenantId: 'tenant-a' };
const bob = { userId: 'bob', tenantId: 'tenant-a' };
const admin = { userId: 'ada', tenantId: 'tenant-a', roles: ['admin'] };
const otherTenantAdmin = { userId: 'alice', tenantId: 'tenant-b', roles: ['admin'] };
const foreignAdmin = { userId: 'bert', tenantId: 'tenant-b', roles: ['admin'] };
const sessionA = { id: 'sess-scale-a', ...alice };
const sessionA2 = { id: 'sess-scale-a2', ...alice };
const sessionB = { id: 'sess-scale-b', ...bob };

const sessionCount = (app: FastifyInstance, user = alice) => getAs(app, `/onboarding/session-clients/${sessionA.id}`, user);
const userCount = (app: FastifyInstance, userId = 'alice', user: typeof alice = alice) => getAs(app, `/onboarding/user-clients/${userId}`, user);
const sessionCountIs = (app: FastifyInstance, n: number) => async () => (await sessionCount(app)).body.connectedClients === n;

async function joined(app: FastifyInstance, user: typeof alice, sessionId: string) {
  const c = await connectTo(app, user);
  await c.next('connected');
  c.send({ event: 'join_session', data: { sessionId } });
  expect((await c.next('session_joined')).data).toMatchObject({ sessionId });
  return c;
}

beforeAll(async () => {
  h = await startHarness({ PRESENCE_TTL: `${PRESENCE_TTL_MS}ms` });
  for (const s of [sessionA, sessionA2, sessionB]) h.addSession(s);
  a = await h.startInstance();
  b = await h.startInstance();
});
afterAll(async () => {
  if (h) await closeHarness(h);
});

describe('two replicas on one stream and one presence bucket', () => {
  let onA: Awaited<ReturnType<typeof joined>>;
  let onB: Awaited<ReturnType<typeof joined>>;

  it('a client on each replica, joined to the same session, receives every event exactly once, in stream order', async () => {
    expect(a.replicaId).not.toBe(b.replicaId);
    onA = await joined(a, alice, sessionA.id);
    onB = await joined(b, alice, sessionA.id);
    const bobOnB = await connectTo(b, bob);
    await bobOnB.next('connected');

    // Joined session (user + session path on each socket, deduplicated) and another session of the
    // same user (user path only), interleaved.
    const published = [
      eventFor(sessionA, 'step.validation_failed'),
      eventFor(sessionA, 'step.completed'),
      eventFor(sessionA2, 'step.completed'),
      eventFor(sessionA, 'progress.updated'),
      eventFor(sessionA2, 'progress.updated'),
      eventFor(sessionA, 'milestone.reached'),
      eventFor(sessionA, 'connection.tested'),
      eventFor(sessionA, 'session.paused'),
      eventFor(sessionA2, 'session.paused'),
      eventFor(sessionA, 'session.resumed'),
    ];
    await h.publish(...published);

    await waitFor(() => onA.pushes().length >= published.length && onB.pushes().length >= published.length);
    await sleep(300); // nothing more may arrive
    const ids = published.map((e) => e.id);
    expect(onA.pushes().map((p) => p.data.eventId)).toEqual(ids);
    expect(onB.pushes().map((p) => p.data.eventId)).toEqual(ids);
    expect(new Set(onA.pushes().map((p) => p.data.eventId)).size).toBe(ids.length);
    // Another user of the tenant on the same replica receives none of it.
    expect(bobOnB.pushes()).toEqual([]);
    bobOnB.ws.terminate();
    await waitFor(async () => (await userCount(a, 'bob', bob)).body.connectedClients === 0);
  });

  it('GET /onboarding/session-clients/:sessionId answers 2 from either replica (owner or same-tenant admin); another tenant gets 404', async () => {
    for (const app of [a, b]) {
      await waitFor(sessionCountIs(app, 2), { message: 'session count 2' });
      expect(await sessionCount(app)).toEqual({ status: 200, body: { sessionId: sessionA.id, connectedClients: 2 } });
      expect(await sessionCount(app, admin)).toEqual({ status: 200, body: { sessionId: sessionA.id, connectedClients: 2 } });
      // Another agent of the same tenant and an admin of another tenant cannot see the session at all.
      expect((await sessionCount(app, bob)).status).toBe(404);
      const foreign = await sessionCount(app, otherTenantAdmin);
      expect(foreign.status).toBe(404);
      expect(JSON.stringify(foreign.body)).not.toMatch(/connectedClients/);
    }
  });

  it("GET /onboarding/user-clients/:userId counts the user's sockets across replicas; another user without admin, or another tenant's user, gets 404", async () => {
    for (const app of [a, b]) {
      expect(await userCount(app)).toEqual({ status: 200, body: { userId: 'alice', connectedClients: 2 } });
      expect(await userCount(app, 'alice', admin)).toEqual({ status: 200, body: { userId: 'alice', connectedClients: 2 } });
      expect((await userCount(app, 'alice', bob)).status).toBe(404);
      // Counts are tenant-scoped: an admin of another tenant asking for the same user id sees none of them.
      expect(await userCount(app, 'alice', otherTenantAdmin)).toEqual({ status: 200, body: { userId: 'alice', connectedClients: 0 } });
      // An offline user of the tenant (bob has a session) counts 0 for an admin; another tenant's user id is 404, not an empty count.
      expect(await userCount(app, 'bob', admin)).toEqual({ status: 200, body: { userId: 'bob', connectedClients: 0 } });
      const foreign = await userCount(app, 'alice', foreignAdmin);
      expect(foreign.status).toBe(404);
      expect(JSON.stringify(foreign.body)).not.toMatch(/connectedClients/);
    }
  });

  it('counts stay exact and prompt while other replicas keep writing the presence bucket', async () => {
    // Busy replicas elsewhere: a presence entry rewritten every 20 ms (it counts no socket). A bucket
    // listing that overlaps writes can list a key twice or not finish; neither may show in the counts.
    const kv = await new Kvm(h.nats.nc).open(h.config.PRESENCE_BUCKET);
    let writing = true;
    const noise = (async () => {
      for (let i = 0; writing; i++) {
        await kv.put('busy-replica', JSON.stringify({ sessions: {}, users: { [`tenant-a:someone-${i % 7}`]: 1 } }));
        await sleep(20);
      }
    })();
    try {
      for (let i = 0; i < 40; i++) {
        const app = i % 2 ? a : b;
        const started = Date.now();
        expect((await sessionCount(app)).body.connectedClients).toBe(2);
        expect((await userCount(app)).body.connectedClients).toBe(2);
        expect(Date.now() - started).toBeLessThan(5000);
      }
    } finally {
      writing = false;
      await noise;
      await kv.delete('busy-replica');
    }
  });

  it('after one client disconnects, both replicas answer 1 well within the presence expiry', async () => {
    const started = Date.now();
    onB.ws.terminate();
    await waitFor(async () => (await sessionCount(a)).body.connectedClients === 1 && (await sessionCount(b)).body.connectedClients === 1, {
      timeoutMs: PRESENCE_TTL_MS,
    });
    expect(Date.now() - started).toBeLessThan(PRESENCE_TTL_MS);
    expect((await userCount(a)).body.connectedClients).toBe(1);
    expect((await userCount(b, 'alice', admin)).body.connectedClients).toBe(1);
  });
});

describe('replicas leaving', () => {
  it('a replica that is closed (app.close) drops out at once; its clients get 1012', async () => {
    const c = await h.startInstance();
    const onC = await joined(c, alice, sessionA.id);
    await waitFor(sessionCountIs(a, 2), { message: 'third replica counted' });
    h.apps.splice(h.apps.indexOf(c), 1);
    const started = Date.now();
    await c.close();
    await waitFor(() => onC.state.closed);
    expect(onC.state.closed).toMatchObject({ code: 1012 });
    // Its key is deleted on close: no waiting for the TTL.
    await waitFor(sessionCountIs(a, 1), { timeoutMs: PRESENCE_TTL_MS, message: 'closed replica dropped' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await userCount(b)).body.connectedClients).toBe(1);
  });

  it('a replica that dies without cleanup (its bus connection gone, its sockets still open) drops out within the presence TTL', async () => {
    const d = await h.startInstance();
    const onD = await joined(d, alice, sessionA.id);
    await waitFor(sessionCountIs(a, 2), { message: 'fourth replica counted' });
    // Crash as the other replicas see it: no more presence refreshes, no key deletion. The process
    // itself (and its socket) lives on in this test, which is the worst case for a stale count.
    const killedAt = Date.now();
    await d.bus.close();
    expect(d.hub.clients.size).toBe(1);

    // Still counted until its entry expires (the TTL, not anything else, removes it) ...
    await sleep(300);
    expect((await sessionCount(a)).body.connectedClients).toBe(2);
    // ... and gone within the TTL (its last refresh was at most TTL/3 before the kill; allow the server's expiry tick).
    await waitFor(sessionCountIs(a, 1), { timeoutMs: PRESENCE_TTL_MS + 2000, intervalMs: 100, message: 'dead replica expired' });
    const goneAfter = Date.now() - killedAt;
    expect(goneAfter).toBeLessThanOrEqual(PRESENCE_TTL_MS + 1500);
    expect((await sessionCount(b)).body.connectedClients).toBe(1);
    expect((await userCount(b)).body.connectedClients).toBe(1);
    onD.ws.terminate();
  });
});
