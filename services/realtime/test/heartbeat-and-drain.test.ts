import { waitFor } from '@glavito/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startHarness, type Harness } from './helpers.js';
import { closed, closeHarness, getAs, listen, openSocket, sleep } from './sockets.js';

/** Heartbeat, per-connection rate limit and the 1012 drain over real loopback sockets (§4). */
const HEARTBEAT_MS = 200;
const PER_SECOND = 5;

let h: Harness;
let app: FastifyInstance;
let url: string;
const alice = { userId: 'alice', tenantId: 'tenant-a' };
const bob = { userId: 'bob', tenantId: 'tenant-a' };
const session = { id: 'sess-hb', ...alice };

beforeAll(async () => {
  h = await startHarness({ WS_HEARTBEAT_MS: `${HEARTBEAT_MS}ms`, WS_MESSAGES_PER_SECOND: String(PER_SECOND) });
  h.addSession(session);
  app = await h.startInstance();
  url = await listen(app);
});
afterAll(async () => {
  if (h) await closeHarness(h);
});

describe('heartbeat', () => {
  it('terminates a client that never answers pings after the missed pong; a normal client stays over many intervals', async () => {
    const normal = await openSocket(url, alice);
    const silent = await openSocket(url, bob, { autoPong: false });
    let normalPings = 0;
    let silentPings = 0;
    normal.ws.on('ping', () => normalPings++);
    silent.ws.on('ping', () => silentPings++);
    const silentGone = closed(silent.ws, 5 * HEARTBEAT_MS);
    const hello = await normal.next('connected');
    expect(hello.data).toMatchObject({ heartbeatMs: HEARTBEAT_MS });
    const normalId = hello.data.clientId as string;
    const silentId = (await silent.next('connected')).data.clientId as string;

    // Pinged at the next tick, dropped at the one after: within two intervals (plus generous scheduling slack).
    const gone = await silentGone;
    expect(gone.code).toBe(1006); // terminated, no close handshake
    expect(gone.afterMs).toBeLessThanOrEqual(3 * HEARTBEAT_MS + 200);
    expect(silentPings).toBeGreaterThanOrEqual(1);
    await waitFor(() => !app.hub.clients.has(silentId), { message: 'silent client removed from the hub' });

    await sleep(6 * HEARTBEAT_MS);
    expect(normal.ws.readyState).toBe(WebSocket.OPEN);
    expect(normal.state.closed).toBeNull();
    expect(normalPings).toBeGreaterThanOrEqual(5);
    expect(app.hub.clients.has(normalId)).toBe(true);
    // And it still works.
    normal.send({ event: 'join_session', data: { sessionId: session.id }, id: 'j' });
    expect(await normal.next('session_joined')).toMatchObject({ id: 'j' });
    normal.ws.close();
  });
});

describe('per-connection rate limit', () => {
  it('answers rate_limited beyond the burst, refills over time, and closes a client that keeps flooding with 4429', async () => {
    const c = await openSocket(url, alice);
    await c.next('connected');
    // Burst of twice the per-second rate, then errors.
    for (let i = 0; i < 3 * PER_SECOND; i++) c.send({ event: 'leave_session', data: { sessionId: session.id }, id: `a${i}` });
    await waitFor(() => c.frames.length >= 3 * PER_SECOND);
    const answered = c.frames.filter((f) => f.event === 'session_left').map((f) => f.id);
    const limited = c.frames.filter((f) => f.event === 'error');
    expect(answered.slice(0, 2 * PER_SECOND)).toEqual(Array.from({ length: 2 * PER_SECOND }, (_, i) => `a${i}`));
    // (at most one token may have refilled while the burst was being read)
    expect(answered.length).toBeLessThanOrEqual(2 * PER_SECOND + 1);
    expect(limited).toHaveLength(3 * PER_SECOND - answered.length);
    expect(limited[0]!.data).toMatchObject({ code: 'rate_limited', message: `At most ${PER_SECOND} messages per second` });

    // A client that slows down is served again.
    await sleep(1000);
    c.frames.length = 0;
    c.send({ event: 'leave_session', data: { sessionId: session.id }, id: 'later' });
    expect(await c.next('session_left')).toMatchObject({ id: 'later' });

    // One that keeps flooding is cut off.
    const closing = closed(c.ws);
    for (let i = 0; i < 200 && c.ws.readyState === WebSocket.OPEN; i++) c.send({ event: 'leave_session', data: { sessionId: session.id } });
    const { code, reason } = await closing;
    expect(code).toBe(4429);
    expect(reason).toBe('too many messages');
    expect(c.frames.filter((f) => f.event === 'error').every((f) => f.data.code === 'rate_limited')).toBe(true);
    await waitFor(() => [...app.hub.clients.values()].every((x) => x.socket.readyState === WebSocket.OPEN), { message: 'flooder removed' });
  });
});

describe('drain', () => {
  it('app.close() closes every client with 1012 and a reason, promptly, even with a peer that stopped reading', async () => {
    const other = await h.startInstance();
    h.apps.splice(h.apps.indexOf(other), 1);
    const otherUrl = await listen(other);
    const plain = await openSocket(otherUrl, alice);
    const member = await openSocket(otherUrl, bob);
    const hung = await openSocket(otherUrl, alice);
    for (const c of [plain, member, hung]) await c.next('connected');
    member.send({ event: 'join_session', data: { sessionId: session.id } });
    await member.next('error'); // bob may not watch alice's session: still a connected client
    await waitFor(async () => (await getAs(app, '/onboarding/user-clients/alice', alice)).body.connectedClients === 2, {
      message: 'presence of the draining replica',
    });
    hung.ws.pause();

    const closes = [plain, member].map((c) => closed(c.ws));
    const started = Date.now();
    await other.close();
    const tookMs = Date.now() - started;
    for (const r of await Promise.all(closes)) expect(r).toMatchObject({ code: 1012, reason: 'service restarting; reconnect' });
    // A peer that does not complete the close handshake must not hold the shutdown for long
    // (the process is force-killed 10 s after SIGTERM; presence and NATS clean-up run after the sockets).
    expect(tookMs).toBeLessThan(3000);
    expect(other.hub.clients.size).toBe(0);
    // Its presence entry is gone at once: the remaining replica sees none of its sockets.
    expect((await getAs(app, '/onboarding/user-clients/alice', alice)).body.connectedClients).toBe(0);
    const hungClosed = closed(hung.ws);
    hung.ws.resume();
    expect([1012, 1006]).toContain((await hungClosed).code);
  });
});
