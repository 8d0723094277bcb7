import type { AddressInfo } from 'node:net';
import { waitFor } from '@glavito/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { backoffDelay, restartDelay } from '../src/backoff.js';
import { connectRealtime, GlavitoRealtimeError, type PushEvent, type RealtimeConnection, type RealtimeState } from '../src/index.js';
import { RecentIds } from '../src/recent-ids.js';

/**
 * A local server speaking the WebSocket protocol of ARCHITECTURE §4 (a fake at the SDK's network
 * boundary) for the client-side rules that the real service seldom triggers: duplicates, error replies,
 * timeouts. Reconnect and replay against the real service are in realtime-recovery.test.ts.
 */
type Frame = { event: string; data: Record<string, unknown>; id?: string };
interface Peer {
  socket: WebSocket;
  url: string;
  received: Frame[];
  send(frame: Frame): void;
}

let wss: WebSocketServer;
let url: string;
let peers: Peer[];
let onFrame: (peer: Peer, frame: Frame) => void;
let conn: RealtimeConnection | undefined;

const defaultReplies = (peer: Peer, frame: Frame) => {
  if (frame.event === 'join_session')
    peer.send({
      event: 'session_joined',
      id: frame.id,
      data: { sessionId: frame.data.sessionId, recovered: frame.data.lastEventId !== undefined, replayed: 0 },
    });
  if (frame.event === 'leave_session') peer.send({ event: 'session_left', id: frame.id, data: { sessionId: frame.data.sessionId } });
};

beforeEach(async () => {
  peers = [];
  onFrame = defaultReplies;
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/onboarding`;
  wss.on('connection', (socket, req) => {
    const peer: Peer = { socket, url: req.url ?? '', received: [], send: (f) => socket.send(JSON.stringify(f)) };
    peers.push(peer);
    socket.on('message', (raw: Buffer) => {
      const frame = JSON.parse(raw.toString()) as Frame;
      peer.received.push(frame);
      onFrame(peer, frame);
    });
    peer.send({ event: 'connected', data: { clientId: `c${peers.length}`, userId: 'u1', tenantId: 't1', heartbeatMs: 30_000 } });
  });
});

afterEach(async () => {
  conn?.close();
  conn = undefined;
  for (const c of wss.clients) c.terminate();
  await new Promise<void>((r) => wss.close(() => r()));
});

function connect(overrides: Partial<Parameters<typeof connectRealtime>[0]> = {}) {
  const events: PushEvent[] = [];
  const states: Array<{ state: RealtimeState; code?: number; delayMs?: number }> = [];
  const resyncs: string[] = [];
  const errors: GlavitoRealtimeError[] = [];
  conn = connectRealtime({
    url,
    token: 'tok',
    WebSocket,
    reconnect: { minDelayMs: 100, maxDelayMs: 400 },
    onEvent: (e) => events.push(e),
    onStateChange: (state, d) => states.push({ state, code: d.code, delayMs: d.delayMs }),
    onResyncRequired: (sessionId) => resyncs.push(sessionId),
    onError: (e) => errors.push(e),
    ...overrides,
  });
  return { conn, events, states, resyncs, errors };
}

const push = (sessionId: string, eventId: string, event = 'step_completed'): Frame => ({
  event,
  data: { sessionId, eventId, timestamp: new Date().toISOString(), step: 'x' },
});

describe('backoff and dedupe memory', () => {
  it('reconnect delays stay within [min, max], grow with attempts and are jittered', () => {
    expect(backoffDelay(0, 100, 10_000, () => 0)).toBe(100);
    expect(backoffDelay(0, 100, 10_000, () => 1)).toBe(200);
    expect(backoffDelay(3, 100, 10_000, () => 1)).toBe(1600);
    expect(backoffDelay(50, 100, 10_000, () => 1)).toBe(10_000);
    expect(backoffDelay(5000, 100, 10_000, () => 0.5)).toBe(5050);
    expect(restartDelay(100, () => 0.99)).toBeLessThan(100);
  });

  it('remembers only the most recent ids', () => {
    const ids = new RecentIds(3);
    for (const id of ['a', 'b', 'c', 'd']) expect(ids.add(id)).toBe(true);
    expect(ids.add('d')).toBe(false);
    expect(ids.has('a')).toBe(false);
    expect(ids.size).toBe(3);
  });
});

describe('connectRealtime against a protocol fake', () => {
  it('sends the token in the query, joins, and delivers each eventId once', async () => {
    const { conn, events } = connect();
    await expect(conn.join('s1')).resolves.toEqual({ sessionId: 's1', recovered: false, replayed: 0 });
    expect(new URL(peers[0]!.url, 'http://x').searchParams.get('token')).toBe('tok');
    for (const f of [push('s1', 'e1'), push('s1', 'e1'), push('s1', 'e2', 'progress_update'), push('s1', 'e1')]) peers[0]!.send(f);
    await waitFor(() => events.length === 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(events.map((e) => [e.event, e.data.eventId])).toEqual([
      ['step_completed', 'e1'],
      ['progress_update', 'e2'],
    ]);
    expect(conn.lastEventId('s1')).toBe('e2');
  });

  it('a join answered recovered:false asks the app to resync; joining twice sends one frame', async () => {
    const { conn, resyncs } = connect();
    await Promise.all([conn.join('s1'), conn.join('s1')]);
    expect(resyncs).toEqual(['s1']);
    await conn.join('s1', { lastEventId: '00000000-0000-7000-8000-000000000000' });
    expect(peers[0]!.received.filter((f) => f.event === 'join_session')).toHaveLength(1);
    await expect(conn.join('s2', { lastEventId: '00000000-0000-7000-8000-000000000001' })).resolves.toMatchObject({ recovered: true });
    expect(resyncs).toEqual(['s1']);
  });

  it('matches replies by id; an error reply rejects with its code; an unanswered request times out', async () => {
    onFrame = (peer, frame) => {
      if (frame.event === 'get_progress' && frame.data.sessionId === 'missing')
        return peer.send({ event: 'error', id: frame.id, data: { code: 'session_not_found', message: 'Session missing not found' } });
      if (frame.event === 'get_progress' && frame.data.sessionId === 'slow') return;
      if (frame.event === 'get_progress') {
        // A push without id arrives between the request and its reply: it is an event, not the answer.
        peer.send(push('s1', 'p1', 'progress_update'));
        return peer.send({
          event: 'progress_update',
          id: frame.id,
          data: { sessionId: 's1', timestamp: 'now', progress: { sessionId: 's1', progressPercentage: 27 } },
        });
      }
      defaultReplies(peer, frame);
    };
    const { conn, events } = connect({ requestTimeoutMs: 300 });
    await expect(conn.getProgress('s1')).resolves.toMatchObject({ progressPercentage: 27 });
    expect(events.map((e) => e.data.eventId)).toEqual(['p1']);
    const missing = await conn.getProgress('missing').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(GlavitoRealtimeError);
    expect(missing).toMatchObject({ code: 'session_not_found' });
    await expect(conn.getProgress('slow')).rejects.toMatchObject({ code: 'timeout' });
  });

  it('a join refused with session_not_found rejects and is not re-joined after a reconnect', async () => {
    onFrame = (peer, frame) => {
      if (frame.event === 'join_session' && frame.data.sessionId === 'other-tenant')
        return peer.send({ event: 'error', id: frame.id, data: { code: 'session_not_found', message: 'not found' } });
      defaultReplies(peer, frame);
    };
    const { conn } = connect();
    await expect(conn.join('other-tenant')).rejects.toMatchObject({ code: 'session_not_found' });
    await conn.join('s1');
    peers[0]!.socket.close(1012, 'restart');
    await waitFor(() => peers[1]?.received.some((f) => f.event === 'join_session'));
    await new Promise((r) => setTimeout(r, 100));
    expect(peers[1]!.received.map((f) => f.data.sessionId)).toEqual(['s1']);
  });

  it('after close 1012 it reconnects promptly and re-joins with the last delivered eventId', async () => {
    const { conn, events, states } = connect();
    await conn.join('s1');
    peers[0]!.send(push('s1', 'e1'));
    peers[0]!.send(push('s1', 'e2'));
    await waitFor(() => events.length === 2);
    peers[0]!.socket.close(1012, 'service restarting; reconnect');
    await waitFor(() => peers[1]?.received.some((f) => f.event === 'join_session'));
    expect(peers[1]!.received.find((f) => f.event === 'join_session')!.data).toEqual({ sessionId: 's1', lastEventId: 'e2' });
    const restart = states.find((s) => s.state === 'reconnecting')!;
    expect(restart.code).toBe(1012);
    expect(restart.delayMs).toBeLessThan(100);
    await waitFor(() => conn.state === 'open');
  });

  it('an abnormal close waits at least minDelayMs; 4401 ends in "unauthorized" without retrying; reconnect() tries again', async () => {
    const { conn, states } = connect();
    await waitFor(() => conn.state === 'open');
    peers[0]!.socket.terminate();
    await waitFor(() => states.some((s) => s.state === 'reconnecting'));
    expect(states.find((s) => s.state === 'reconnecting')!.delayMs).toBeGreaterThanOrEqual(100);
    await waitFor(() => peers.length === 2 && conn.state === 'open');

    peers[1]!.socket.close(4401, 'unauthorized: expired');
    await waitFor(() => conn.state === 'unauthorized');
    expect(states.at(-1)).toMatchObject({ state: 'unauthorized', code: 4401 });
    await expect(conn.getProgress('s1')).rejects.toMatchObject({ code: 'unauthorized' });
    await new Promise((r) => setTimeout(r, 600));
    expect(peers).toHaveLength(2);

    conn.reconnect();
    await waitFor(() => conn.state === 'open');
    expect(peers).toHaveLength(3);
  });

  it('close() is final: pending calls reject, no reconnect', async () => {
    onFrame = () => {};
    const { conn, states } = connect();
    await waitFor(() => conn.state === 'open');
    const call = conn.getProgress('s1');
    conn.close();
    await expect(call).rejects.toMatchObject({ code: 'closed' });
    await expect(conn.join('s1')).rejects.toMatchObject({ code: 'closed' });
    await new Promise((r) => setTimeout(r, 300));
    expect(peers).toHaveLength(1);
    expect(states.at(-1)!.state).toBe('closed');
  });
});

describe('typed pushes and the progress state', () => {
  const snapshot = (progressPercentage: number) => ({
    totalSteps: 11,
    completedSteps: Math.round(progressPercentage / 9),
    skippedSteps: 0,
    progressPercentage,
    estimatedTimeRemaining: 10,
    currentStep: 'organization_setup',
    nextStep: 'channel_configuration',
    nextRecommendedAction: 'Continue',
  });
  const progressPush = (eventId: string, seq: number, pct: number): Frame => ({
    event: 'progress_update',
    data: { sessionId: 's1', eventId, timestamp: new Date().toISOString(), seq, progress: snapshot(pct), estimatedCompletion: null },
  });

  it('moves forward only by seq: a stale progress_update is not delivered, a stale milestone is; on() filters by name and unsubscribes', async () => {
    const progressSeen: Array<[number, number]> = [];
    const { conn, events } = connect({ onProgress: (s) => progressSeen.push([s.seq, s.progress.progressPercentage]) });
    onFrame = (peer, frame) => {
      defaultReplies(peer, frame);
      // The server's answer is older (seq 1) than what the pushes already brought.
      if (frame.event === 'get_progress')
        peer.send({
          event: 'progress_update',
          id: frame.id,
          data: { sessionId: 's1', timestamp: '', seq: 1, progress: { sessionId: 's1', ...snapshot(9), estimatedCompletion: null, milestones: [], seq: 1 } },
        });
    };
    const bar: number[] = [];
    const off = conn.on('progress_update', (e) => bar.push(e.data.progress.progressPercentage));
    await conn.join('s1');
    const milestone: Frame = {
      event: 'milestone_reached',
      data: { sessionId: 's1', eventId: 'm1', timestamp: '', seq: 2, threshold: 25, title: 'Getting Started', progress: snapshot(27) },
    };
    for (const f of [progressPush('p3', 3, 27), progressPush('p2', 2, 18), milestone, progressPush('p4', 4, 36)]) peers[0]!.send(f);
    await waitFor(() => events.length === 3);
    expect(events.map((e) => e.data.eventId)).toEqual(['p3', 'm1', 'p4']);
    expect(bar).toEqual([27, 36]);
    expect(progressSeen).toEqual([
      [3, 27],
      [4, 36],
    ]);
    expect(conn.lastEventId('s1')).toBe('p4');

    await expect(conn.getProgress('s1')).resolves.toMatchObject({ progressPercentage: 9, seq: 1 });
    expect(conn.progress('s1')).toMatchObject({ seq: 4, progress: { progressPercentage: 36 } });

    off();
    peers[0]!.send(progressPush('p5', 5, 45));
    await waitFor(() => events.length === 4);
    expect(bar).toEqual([27, 36]);
    expect(conn.progress('s1')?.seq).toBe(5);
  });
});
