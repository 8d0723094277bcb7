import { mintToken } from '@glavito/auth';
import { connectBus, type Bus } from '@glavito/bus';
import { fakeSessionService, realtimeTestEnv, type FakeSessionService } from '@glavito/test-fakes';
import { createTestNats, freePort, TEST_JWT_SECRET, waitFor, type TestNats } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { connectRealtime, type PushEvent, type RealtimeConnection, type RealtimeOptions, type RealtimeState, type StateDetail } from '../src/index.js';
import { eventFactory, publish, startRealtime, type RealtimeProcess } from './realtime-service.js';

/**
 * The SDK against the REAL realtime service (its own process, real NATS JetStream), with only the
 * session service faked at its NATS boundary: crash, restart, replay, graceful drain and a bad token.
 */
let nats: TestNats;
let bus: Bus;
let env: Record<string, string>;
let port: number;
let realtime: RealtimeProcess;
let fake: FakeSessionService;
const connections: RealtimeConnection[] = [];

beforeAll(async () => {
  nats = await createTestNats();
  bus = await connectBus({ servers: nats.url, name: 'client-sdk-test' });
  fake = fakeSessionService(nats);
  // Warnings stay in the child's logs, which a failed start prints.
  env = { ...realtimeTestEnv(nats), LOG_LEVEL: 'warn' };
  port = await freePort();
  realtime = await startRealtime(env, port);
});

afterAll(async () => {
  for (const c of connections) c.close();
  await realtime?.kill('SIGTERM');
  fake?.stop();
  if (bus) {
    await bus.jsm.streams.delete(`KV_${nats.streamName}_presence`).catch(() => false);
    await bus.nc.drain();
  }
  await nats?.cleanup();
});

const user = (n: string) => ({ id: `sdk-session-${n}`, tenantId: 'sdk-tenant', userId: `sdk-user-${n}` });
const tokenOf = (s: { tenantId: string; userId: string }) => mintToken({ secret: TEST_JWT_SECRET, userId: s.userId, tenantId: s.tenantId, roles: ['agent'] });

function connect(token: string, overrides: Partial<RealtimeOptions> = {}) {
  const events: PushEvent[] = [];
  const states: Array<{ state: RealtimeState } & StateDetail> = [];
  const resyncs: string[] = [];
  const conn = connectRealtime({
    url: `ws://127.0.0.1:${port}/onboarding`,
    token,
    WebSocket,
    reconnect: { minDelayMs: 200, maxDelayMs: 1000 },
    onEvent: (e) => events.push(e),
    onStateChange: (state, detail) => states.push({ state, ...detail }),
    onResyncRequired: (sessionId) => resyncs.push(sessionId),
    ...overrides,
  });
  connections.push(conn);
  return { conn, events, states, resyncs };
}

const ids = (events: Array<{ data: { eventId: string } } | { id: string }>) => events.map((e) => ('id' in e ? e.id : e.data.eventId));
const settle = () => new Promise((r) => setTimeout(r, 500));

describe('@glavito/client against the real realtime service', () => {
  it('after a crash (SIGKILL) it reconnects by itself and gets exactly the missed events, in order, then live ones', async () => {
    const s = user('crash');
    fake.add(s);
    const make = eventFactory(s);
    const { conn, events, states, resyncs } = connect(tokenOf(s));
    await waitFor(() => conn.state === 'open', { message: 'first connection' });
    await expect(conn.join(s.id)).resolves.toEqual({ sessionId: s.id, recovered: false, replayed: 0 });

    const before = [make.stepCompleted(), make.progressUpdated()];
    await publish(bus, nats.subjectPrefix, ...before);
    await waitFor(() => events.length === 2, { message: 'live events before the crash' });
    expect(events.map((e) => e.event)).toEqual(['step_completed', 'progress_update']);

    await realtime.kill('SIGKILL');
    await waitFor(() => conn.state === 'reconnecting', { message: 'reconnecting after the crash' });
    expect(states.find((x) => x.state === 'reconnecting')).toMatchObject({ previous: 'open', code: 1006 });

    const missed = [
      make.stepCompleted('channel_configuration'),
      make.progressUpdated(),
      make.milestoneReached(),
      make.stepCompleted('ai_configuration'),
      make.progressUpdated(),
    ];
    await publish(bus, nats.subjectPrefix, ...missed);
    realtime = await startRealtime(env, port);

    await waitFor(() => events.length === 7, { timeoutMs: 15_000, message: 'the 5 missed events, replayed' });
    expect(conn.state).toBe('open');
    expect(ids(events.slice(2))).toEqual(ids(missed));
    expect(events.slice(2).map((e) => e.event)).toEqual(['step_completed', 'progress_update', 'milestone_reached', 'step_completed', 'progress_update']);
    // The re-join recovered: no refetch asked beyond the first join's.
    expect(resyncs).toEqual([s.id]);

    const after = [make.stepCompleted('knowledge_base'), make.progressUpdated()];
    await publish(bus, nats.subjectPrefix, ...after);
    await waitFor(() => events.length === 9, { message: 'live events after the restart' });
    await settle();
    expect(ids(events)).toEqual(ids([...before, ...missed, ...after]));
    expect(new Set(ids(events)).size).toBe(events.length);
    expect(conn.lastEventId(s.id)).toBe(after[1]!.id);
    await expect(conn.getProgress(s.id)).resolves.toMatchObject({ sessionId: s.id, progressPercentage: 18 });
  });

  it('on a graceful restart (SIGTERM → close 1012) it reconnects promptly and loses nothing', async () => {
    const s = user('drain');
    fake.add(s);
    const make = eventFactory(s);
    const { conn, events, states } = connect(tokenOf(s));
    await waitFor(() => conn.state === 'open');
    await conn.join(s.id);
    const before = [make.stepCompleted()];
    await publish(bus, nats.subjectPrefix, ...before);
    await waitFor(() => events.length === 1);

    await realtime.kill('SIGTERM');
    const drained = await waitFor(() => states.find((x) => x.state === 'reconnecting'), { message: 'reconnecting after the drain' });
    expect(drained).toMatchObject({ previous: 'open', code: 1012 });
    // Prompt: below the backoff floor (minDelayMs = 200) that any other close waits at least.
    expect(drained!.delayMs).toBeLessThan(200);

    const missed = [make.progressUpdated(), make.milestoneReached()];
    await publish(bus, nats.subjectPrefix, ...missed);
    realtime = await startRealtime(env, port);
    await waitFor(() => events.length === 3, { timeoutMs: 15_000, message: 'events missed during the restart' });
    const after = [make.stepCompleted('channel_configuration')];
    await publish(bus, nats.subjectPrefix, ...after);
    await waitFor(() => events.length === 4);
    await settle();
    expect(ids(events)).toEqual(ids([...before, ...missed, ...after]));
    expect(conn.state).toBe('open');
  });

  it('a bad token ends in "unauthorized" (close 4401) with no reconnect loop', async () => {
    let sockets = 0;
    class CountingWebSocket extends WebSocket {
      constructor(url: string) {
        super(url);
        sockets++;
      }
    }
    const { conn, states } = connect('not-a-jwt', { WebSocket: CountingWebSocket, reconnect: { minDelayMs: 50, maxDelayMs: 100 } });
    await waitFor(() => conn.state === 'unauthorized', { message: 'unauthorized state' });
    expect(states.at(-1)).toMatchObject({ state: 'unauthorized', code: 4401 });
    expect(states.at(-1)!.reason).toMatch(/^unauthorized/);
    await new Promise((r) => setTimeout(r, 1000));
    expect(sockets).toBe(1);
    expect(conn.state).toBe('unauthorized');
    await expect(conn.join('whatever')).rejects.toMatchObject({ code: 'unauthorized' });
  });
});
