import { waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildEnvelope } from '@glavito/bus';
import type { EventEnvelope } from '@glavito/contracts';
import { connectTo, eventFor, startHarness, tokenFor, type Harness } from './helpers.js';

let h: Harness;
let app: FastifyInstance;
const alice = { userId: 'alice', tenantId: 'tenant-a' };
const bob = { userId: 'bob', tenantId: 'tenant-a' };
const mallory = { userId: 'alice', tenantId: 'tenant-b', roles: ['admin'] };
const sessionA = { id: 'sess-a', ...alice };

beforeAll(async () => {
  h = await startHarness();
  h.addSession(sessionA);
  h.addSession({ id: 'sess-b', ...bob });
  app = await h.startInstance();
});
afterAll(async () => {
  await h?.close();
});

const connect = (user: { userId: string; tenantId: string; roles?: string[] } | null, token?: string) => connectTo(app, user, token);

describe('handshake', () => {
  it('greets an authenticated socket with connected', async () => {
    const c = await connect(alice);
    const hello = await c.next('connected');
    expect(hello.data).toMatchObject({ userId: 'alice', tenantId: 'tenant-a', heartbeatMs: 30_000 });
    expect(typeof hello.data.clientId).toBe('string');
    c.ws.terminate();
  });

  it.each([
    ['no token', null, undefined],
    ['a bad signature', null, `${tokenFor(alice).slice(0, -4)}AAAA`],
    ['an expired token', null, tokenFor(alice, -10)],
    ['garbage', null, 'not-a-jwt'],
  ])('closes with 4401 on %s', async (_name, user, token) => {
    const c = await connect(user, token);
    await waitFor(() => c.state.closed);
    expect(c.state.closed!.code).toBe(4401);
    expect(c.state.closed!.reason).toMatch(/unauthorized/);
    expect(c.frames).toEqual([]);
  });
});

describe('sessions and pushes', () => {
  it('join, then a step save pushes step_completed, progress_update and milestone_reached once each', async () => {
    const c = await connect(alice);
    await c.next('connected');
    c.send({ event: 'join_session', data: { sessionId: 'sess-a' }, id: 'j1' });
    const joined = await c.next('session_joined');
    expect(joined).toMatchObject({ id: 'j1', data: { sessionId: 'sess-a', recovered: false, replayed: 0 } });
    const step = eventFor(sessionA, 'step.completed');
    await h.publish(step, eventFor(sessionA, 'progress.updated'), eventFor(sessionA, 'milestone.reached'));
    await waitFor(() => c.pushes().length >= 3);
    await new Promise((r) => setTimeout(r, 200));
    const pushes = c.pushes();
    expect(pushes.map((p) => p.event)).toEqual(['step_completed', 'progress_update', 'milestone_reached']);
    expect(pushes[0]!.data).toMatchObject({
      sessionId: 'sess-a',
      eventId: step.id,
      timestamp: step.occurredAt,
      stepId: 'organization_setup',
      nextStep: 'channel_configuration',
    });
    // Progress travels only in the progress service's pushes, each with its per-session seq.
    expect(pushes[0]!.data).not.toHaveProperty('progress');
    expect(pushes[1]!.data).toMatchObject({ seq: 1, progress: { progressPercentage: 18 } });
    expect(pushes[2]!.data).toMatchObject({ threshold: 25, title: 'Getting Started', seq: 1 });
    c.ws.terminate();
  });

  it("refuses another tenant's or another agent's session; nothing is delivered", async () => {
    const m = await connect(mallory);
    await m.next('connected');
    m.send({ event: 'join_session', data: { sessionId: 'sess-a' } });
    expect((await m.next('error')).data).toMatchObject({ code: 'session_not_found' });
    const b = await connect(bob);
    await b.next('connected');
    b.send({ event: 'join_session', data: { sessionId: 'sess-a' } });
    expect((await b.next('error')).data).toMatchObject({ code: 'session_not_found' });
    await h.publish(eventFor(sessionA, 'step.completed'));
    await new Promise((r) => setTimeout(r, 300));
    expect(m.pushes()).toEqual([]);
    expect(b.pushes()).toEqual([]);
    m.ws.terminate();
    b.ws.terminate();
  });

  it('get_progress answers progress_update with real data, echoing the id', async () => {
    const c = await connect(alice);
    await c.next('connected');
    c.send({ event: 'get_progress', data: { sessionId: 'sess-a' }, id: 'p1' });
    const p = await c.next('progress_update');
    expect(p).toMatchObject({ id: 'p1', data: { sessionId: 'sess-a', seq: 0, progress: { progressPercentage: 18, completedSteps: 2, totalSteps: 11 } } });
    c.send({ event: 'get_progress', data: { sessionId: 'sess-b' }, id: 'p2' });
    expect(await c.next('error')).toMatchObject({ id: 'p2', data: { code: 'session_not_found' } });
    c.ws.terminate();
  });

  it('rejects malformed frames with a clear error and keeps the socket', async () => {
    const c = await connect(alice);
    await c.next('connected');
    c.ws.send('{not json');
    expect((await c.next('error')).data).toMatchObject({ code: 'bad_frame' });
    c.send({ event: 'join_session', data: { sessionId: '../../etc/passwd' } });
    expect((await c.next('error')).data).toMatchObject({ code: 'bad_frame' });
    c.send({ event: 'dance', data: {} });
    expect((await c.next('error')).data).toMatchObject({ code: 'bad_frame' });
    c.send({ event: 'leave_session', data: { sessionId: 'sess-a' }, id: 'l1' });
    expect(await c.next('session_left')).toMatchObject({ id: 'l1' });
    c.ws.terminate();
  });

  it('answers a malformed frame with the request id it carried, so the caller learns why at once', async () => {
    const c = await connect(alice);
    await c.next('connected');
    c.send({ event: 'join_session', data: { sessionId: '../../etc/passwd' }, id: 'j1' });
    expect(await c.next('error')).toMatchObject({ id: 'j1', data: { code: 'bad_frame' } });
    c.send({ event: 'dance', data: {}, id: 'd1' });
    expect(await c.next('error')).toMatchObject({ id: 'd1', data: { code: 'bad_frame' } });
    c.send({ event: 'get_progress', data: { sessionId: 'sess-a', extra: 1 }, id: '' });
    expect(await c.next('error')).toMatchObject({ id: '', data: { code: 'bad_frame' } });
    // No readable id: none is made up.
    c.send({ event: 'get_progress', data: {}, id: 'x'.repeat(65) });
    const tooLong = await c.next('error');
    expect(tooLong).not.toHaveProperty('id');
    c.ws.send('[1,2]');
    expect(await c.next('error')).not.toHaveProperty('id');
    c.ws.terminate();
  });

  it('limits messages per connection', async () => {
    const c = await connect(alice);
    await c.next('connected');
    for (let i = 0; i < 60; i++) c.send({ event: 'leave_session', data: { sessionId: 'sess-a' } });
    const err = await c.next('error');
    expect(err.data).toMatchObject({ code: 'rate_limited' });
    c.ws.terminate();
  });
});

describe('recovery', () => {
  it('replays exactly the missed events in order, then live ones; unknown id → recovered false', async () => {
    const first = await connect(alice);
    await first.next('connected');
    first.send({ event: 'join_session', data: { sessionId: 'sess-a' } });
    await first.next('session_joined');
    const seen = eventFor(sessionA, 'progress.updated');
    await h.publish(seen);
    const last = await first.next('progress_update');
    expect(last.data.eventId).toBe(seen.id);
    first.ws.terminate();

    const watcher = await connect(alice);
    await watcher.next('connected');
    const missed = [
      eventFor(sessionA, 'step.completed'),
      eventFor(sessionA, 'progress.updated'),
      eventFor(sessionA, 'milestone.reached'),
      eventFor(sessionA, 'session.paused'),
      eventFor(sessionA, 'session.resumed'),
    ];
    await h.publish(...missed);
    // Gone out live before the reconnect, so none can reach the new socket live instead of replayed.
    await waitFor(() => missed.every((m) => watcher.pushes().some((p) => p.data.eventId === m.id)));
    watcher.ws.terminate();

    const again = await connect(alice);
    await again.next('connected');
    again.send({ event: 'join_session', data: { sessionId: 'sess-a', lastEventId: seen.id } });
    const joined = await again.next('session_joined');
    expect(joined.data).toMatchObject({ recovered: true, replayed: 5 });
    const live = eventFor(sessionA, 'progress.updated');
    await h.publish(live);
    await waitFor(() => again.pushes().length >= 6);
    await new Promise((r) => setTimeout(r, 200));
    expect(again.pushes().map((p) => p.data.eventId)).toEqual([...missed.map((e) => e.id), live.id]);

    const lost = await connect(alice);
    await lost.next('connected');
    lost.send({ event: 'join_session', data: { sessionId: 'sess-a', lastEventId: '01900000-0000-7000-8000-000000000000' } });
    expect((await lost.next('session_joined')).data).toMatchObject({ recovered: false, replayed: 0 });
    again.ws.terminate();
    lost.ws.terminate();
  });

  it("an owner's own events arriving live before its re-join do not hide the older ones it missed", async () => {
    const first = await connect(alice);
    await first.next('connected');
    first.send({ event: 'join_session', data: { sessionId: 'sess-a' } });
    await first.next('session_joined');
    const seen = eventFor(sessionA, 'progress.updated');
    await h.publish(seen);
    expect((await first.next('progress_update')).data.eventId).toBe(seen.id);
    first.ws.terminate();

    // A watcher proves the missed events have gone out live before alice reconnects (else she could get
    // them live on her new socket, in another order, and the test would race).
    const watcher = await connect(alice);
    await watcher.next('connected');
    const missed = [eventFor(sessionA, 'step.completed'), eventFor(sessionA, 'progress.updated')];
    await h.publish(...missed);
    await waitFor(() => missed.every((m) => watcher.pushes().some((p) => p.data.eventId === m.id)));
    watcher.ws.terminate();
    // Reconnected, not joined yet: alice gets her own events at once (the "user's events" feed).
    const again = await connect(alice);
    await again.next('connected');
    const early = eventFor(sessionA, 'session.paused');
    await h.publish(early);
    expect((await again.next('session_paused')).data.eventId).toBe(early.id);

    again.send({ event: 'join_session', data: { sessionId: 'sess-a', lastEventId: seen.id } });
    expect((await again.next('session_joined')).data).toMatchObject({ recovered: true });
    const live = eventFor(sessionA, 'session.resumed');
    await h.publish(live);
    await waitFor(() => again.pushes().length >= 3);
    await new Promise((r) => setTimeout(r, 200));
    // Each once: the two missed (replayed), then the live one; the early one is not sent twice.
    expect(again.pushes().map((p) => p.data.eventId)).toEqual([...missed.map((e) => e.id), live.id]);
    again.ws.terminate();
  });

  it('a notification goes to its recipient only: not to others watching the session, not replayed on join', async () => {
    const boss = { userId: 'boss-n', tenantId: 'tenant-a', roles: ['admin'] };
    const owner = await connect(alice);
    const admin = await connect(boss);
    await owner.next('connected');
    await admin.next('connected');
    owner.send({ event: 'join_session', data: { sessionId: 'sess-a' } });
    await owner.next('session_joined');
    const before = eventFor(sessionA, 'step.completed');
    await h.publish(before);
    await owner.next('step_completed');
    const notification = {
      id: '0193b0c4-1111-7000-8000-000000000001',
      kind: 'milestone',
      sessionId: 'sess-a',
      sessionType: 'tenant_setup',
      title: 'An onboarding reached 25 %',
      body: '2 steps done so far.',
      link: null,
      createdAt: '2026-06-01T10:00:00.000Z',
      readAt: null,
    };
    const created = buildEnvelope({
      type: 'notification.created',
      data: { notification },
      tenantId: 'tenant-a',
      sessionId: 'sess-a',
      userId: 'boss-n',
      sessionSeq: 1,
      correlationId: 'corr-n',
    } as never) as EventEnvelope;
    await h.publish(created);
    const pushed = await admin.next('notification');
    expect(pushed.data).toEqual({ sessionId: 'sess-a', eventId: created.id, timestamp: created.occurredAt, correlationId: 'corr-n', notification });
    // The owner watching the session gets the next session event, and nothing addressed to the admin before it.
    const after = eventFor(sessionA, 'step.completed');
    await h.publish(after);
    await owner.next('step_completed');
    expect(owner.frames.filter((f) => f.event === 'notification')).toEqual([]);
    // The admin joining the session with a replay gets the session's events since `before`, not the notification.
    admin.send({ event: 'join_session', data: { sessionId: 'sess-a', lastEventId: before.id } });
    expect((await admin.next('session_joined')).data).toMatchObject({ recovered: true, replayed: 1 });
    expect((await admin.next('step_completed')).data.eventId).toBe(after.id);
    expect(admin.frames.filter((f) => f.event === 'notification')).toEqual([]);
    owner.ws.terminate();
    admin.ws.terminate();
  });
});
