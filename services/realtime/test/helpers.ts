import { mintToken } from '@glavito/auth';
import { publishEvent } from '@glavito/bus';
import { type EventEnvelope, type EventType, type SessionSummary } from '@glavito/contracts';
import { fakeSessionEvent, fakeSessionService, realtimeTestEnv } from '@glavito/test-fakes';
import { createTestNats, TEST_JWT_SECRET, type TestNats } from '@glavito/testkit';
import { jetstream } from '@nats-io/jetstream';
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { buildApp } from '../src/app.js';
import { loadRealtimeConfig, type RealtimeConfig } from '../src/config.js';

export interface Harness {
  nats: TestNats;
  config: RealtimeConfig;
  apps: FastifyInstance[];
  /** Sessions the fake session service (at its NATS boundary) knows. */
  sessions: Map<string, SessionSummary>;
  addSession(s: { id: string; tenantId: string; userId: string }): void;
  startInstance(env?: Record<string, string>): Promise<FastifyInstance>;
  publish(...events: EventEnvelope[]): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(env: Record<string, string> = {}): Promise<Harness> {
  // The broker migration gives the presence bucket the TTL these replicas expect (the service only checks it).
  const nats = await createTestNats({ broker: Object.fromEntries(Object.entries(env).filter(([k]) => k === 'PRESENCE_TTL' || k === 'EVENT_RETENTION')) });
  const config = (extra: Record<string, string> = {}) => loadRealtimeConfig({ ...realtimeTestEnv(nats), ...env, ...extra });
  const sessionService = fakeSessionService(nats);
  const apps: FastifyInstance[] = [];
  const js = jetstream(nats.nc);
  const h: Harness = {
    nats,
    config: config(),
    apps,
    sessions: sessionService.sessions,
    addSession(s) {
      sessionService.add(s);
    },
    async startInstance(extra = {}) {
      const app = await buildApp(config(extra), { logger: false });
      await app.ready();
      apps.push(app);
      return app;
    },
    async publish(...events) {
      for (const e of events) await publishEvent(js, nats.subjectPrefix, e);
    },
    async close() {
      await Promise.all(apps.map((a) => a.close()));
      sessionService.stop();
      await nats.cleanup();
    },
  };
  return h;
}

export const tokenFor = (user: { userId: string; tenantId: string; roles?: string[] }, expiresIn: string | number = '1h') =>
  mintToken({ secret: TEST_JWT_SECRET, userId: user.userId, tenantId: user.tenantId, roles: user.roles ?? ['agent'], expiresIn });

let seqs = new Map<string, number>();
export function resetSeqs(): void {
  seqs = new Map();
}

/** A valid event of `type` for a session (minimal realistic data), with the next sequence number of its producer. */
export function eventFor(s: { id: string; tenantId: string; userId: string }, type: EventType): EventEnvelope {
  const key = `${s.id}:${type.split('.')[0]}`;
  const seq = (seqs.get(key) ?? 0) + 1;
  seqs.set(key, seq);
  return fakeSessionEvent(s, type, seq, { correlationId: 'corr-rt' });
}

export interface Frame {
  event: string;
  data: Record<string, unknown>;
  id?: string;
}

/** A WebSocket client that records every frame and the close code. */
export function recordFrames(ws: WebSocket) {
  const frames: Frame[] = [];
  const state: { closed: { code: number; reason: string } | null } = { closed: null };
  ws.on('message', (raw: Buffer) => frames.push(JSON.parse(raw.toString())));
  ws.on('close', (code: number, reason: Buffer) => {
    state.closed = { code, reason: reason.toString() };
  });
  return {
    ws,
    frames,
    state,
    send(frame: { event: string; data: unknown; id?: string }) {
      ws.send(JSON.stringify(frame));
    },
    pushes(): Frame[] {
      return frames.filter((f) => !['connected', 'session_joined', 'session_left', 'error'].includes(f.event) && f.id === undefined);
    },
    async next(event: string, timeoutMs = 5000): Promise<Frame> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const f = frames.find((x) => x.event === event);
        if (f) {
          frames.splice(frames.indexOf(f), 1);
          return f;
        }
        if (Date.now() > deadline) throw new Error(`no ${event} frame within ${timeoutMs} ms; got ${frames.map((x) => x.event).join(', ')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

/** An in-memory WebSocket to an instance (frames recorded from the first byte). */
export async function connectTo(app: FastifyInstance, user: { userId: string; tenantId: string; roles?: string[] } | null, token?: string) {
  let recorder!: ReturnType<typeof recordFrames>;
  const query = user || token ? `?token=${token ?? tokenFor(user!)}` : '';
  await app.injectWS(`/onboarding${query}`, {}, { onInit: (ws) => (recorder = recordFrames(ws)) });
  return recorder;
}
