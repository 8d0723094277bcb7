import { jetstreamManager } from '@nats-io/jetstream';
import { waitFor } from '@glavito/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTo, eventFor, startHarness, type Harness } from './helpers.js';

let h: Harness;
let app: FastifyInstance;
const owner = { userId: 'replayer', tenantId: 'tenant-replay' };
const session = { id: 'sess-replay', ...owner };

beforeAll(async () => {
  h = await startHarness({ WS_MESSAGES_PER_SECOND: '1000' });
  h.addSession(session);
  app = await h.startInstance();
});
afterAll(async () => {
  await h?.close();
});

async function consumerCount(): Promise<number> {
  const jsm = await jetstreamManager(h.nats.nc);
  return (await jsm.streams.info(h.config.EVENT_STREAM)).state.consumer_count;
}

describe('replays for lastEventId', () => {
  it('1,000 re-joins with lastEventId leave the JetStream consumer count where it was', async () => {
    const anchor = eventFor(session, 'step.completed');
    await h.publish(anchor, eventFor(session, 'progress.updated'));
    const before = await consumerCount();

    const SOCKETS = 10;
    const JOINS_PER_SOCKET = 100;
    const sockets = await Promise.all(Array.from({ length: SOCKETS }, () => connectTo(app, owner)));
    await Promise.all(sockets.map((s) => s.next('connected')));
    await Promise.all(
      sockets.map(async (s, i) => {
        for (let j = 0; j < JOINS_PER_SOCKET; j++) {
          const id = `r${i}-${j}`;
          s.send({ event: 'join_session', data: { sessionId: session.id, lastEventId: anchor.id }, id });
          const joined = await waitFor(() => s.frames.find((f) => f.id === id), { timeoutMs: 10_000 });
          expect(joined).toMatchObject({ event: 'session_joined', data: { recovered: true, replayed: 1 } });
          s.frames.length = 0;
        }
      }),
    );
    expect(await consumerCount()).toBe(before);
    for (const s of sockets) s.ws.terminate();
  });
});
