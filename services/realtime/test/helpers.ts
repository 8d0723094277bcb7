import { mintToken } from '@glavito/auth';
import { buildEnvelope, publishEvent, serveRpc } from '@glavito/bus';
import {
  computeProgress,
  ProgressGetReplySchema,
  ProgressGetRequestSchema,
  rpcSubject,
  SessionGetReplySchema,
  SessionGetRequestSchema,
  SessionUserReplySchema,
  SessionUserRequestSchema,
  type EventEnvelope,
  type EventType,
  type SessionSummary,
} from '@glavito/contracts';
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
  const config = (extra: Record<string, string> = {}) =>
    loadRealtimeConfig({
      NATS_URL: nats.url,
      EVENT_STREAM: nats.streamName,
      EVENT_SUBJECT_PREFIX: nats.subjectPrefix,
      RPC_SUBJECT_PREFIX: nats.rpcPrefix,
      DEAD_LETTER_PREFIX: nats.dlqPrefix,
      PRESENCE_BUCKET: nats.presenceBucket,
      JWT_SECRET: TEST_JWT_SECRET,
      LOG_LEVEL: 'silent',
      ...env,
      ...extra,
    });
  const sessions = new Map<string, SessionSummary>();
  const visible = (sessionId: string, caller: { tenantId: string; userId: string; isAdmin: boolean }) => {
    const s = sessions.get(sessionId);
    return s && s.tenantId === caller.tenantId && (caller.isAdmin || s.userId === caller.userId) ? s : undefined;
  };
  const subs = [
    serveRpc({
      nc: nats.nc,
      subject: rpcSubject(nats.rpcPrefix, 'session.get'),
      queue: 'fake-session',
      request: SessionGetRequestSchema,
      reply: SessionGetReplySchema,
      logger: console,
      handler: async ({ sessionId, caller }) => {
        const s = visible(sessionId, caller);
        return s ? { found: true as const, session: s } : { found: false as const };
      },
    }),
    serveRpc({
      nc: nats.nc,
      subject: rpcSubject(nats.rpcPrefix, 'session.user'),
      queue: 'fake-session',
      request: SessionUserRequestSchema,
      reply: SessionUserReplySchema,
      logger: console,
      handler: async ({ userId, caller }) => ({
        known: (caller.isAdmin || caller.userId === userId) && [...sessions.values()].some((s) => s.tenantId === caller.tenantId && s.userId === userId),
      }),
    }),
    serveRpc({
      nc: nats.nc,
      subject: rpcSubject(nats.rpcPrefix, 'progress.get'),
      queue: 'fake-progress',
      request: ProgressGetRequestSchema,
      reply: ProgressGetReplySchema,
      logger: console,
      handler: async ({ sessionId, caller }) => {
        const s = visible(sessionId, caller);
        if (!s) return { found: false as const };
        const p = computeProgress(s.type, s);
        return {
          found: true as const,
          progress: {
            sessionId,
            totalSteps: p.totalSteps,
            completedSteps: p.completedSteps,
            skippedSteps: p.skippedSteps,
            progressPercentage: p.progressPercentage,
            estimatedTimeRemaining: p.estimatedTimeRemaining,
            estimatedCompletion: null,
            currentStep: p.currentStep,
            nextRecommendedAction: p.nextRecommendedAction,
            milestones: [],
            seq: 0,
          },
        };
      },
    }),
  ];
  const apps: FastifyInstance[] = [];
  const js = jetstream(nats.nc);
  const h: Harness = {
    nats,
    config: config(),
    apps,
    sessions,
    addSession(s) {
      const now = new Date().toISOString();
      sessions.set(s.id, {
        ...s,
        type: 'tenant_setup',
        status: 'active',
        completedSteps: ['welcome', 'organization_setup'],
        skippedSteps: [],
        currentStep: 'channel_configuration',
        startedAt: now,
        lastActivityAt: now,
        completedAt: null,
      });
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
      subs.forEach((s) => s.unsubscribe());
      await nats.cleanup();
    },
  };
  return h;
}

export const tokenFor = (user: { userId: string; tenantId: string; roles?: string[] }, expiresIn: string | number = '1h') =>
  mintToken({ secret: TEST_JWT_SECRET, userId: user.userId, tenantId: user.tenantId, roles: user.roles ?? ['agent'], expiresIn });

const snapshot = {
  sessionType: 'tenant_setup' as const,
  completedSteps: ['welcome', 'organization_setup'],
  skippedSteps: [],
  currentStep: 'channel_configuration',
  status: 'active' as const,
};
const progress = computeProgress('tenant_setup', snapshot);

let seqs = new Map<string, number>();
export function resetSeqs(): void {
  seqs = new Map();
}

/** A valid event of `type` for a session (minimal realistic data), with the next sequence number of its producer. */
export function eventFor(s: { id: string; tenantId: string; userId: string }, type: EventType): EventEnvelope {
  const key = `${s.id}:${type.split('.')[0]}`;
  const seq = (seqs.get(key) ?? 0) + 1;
  seqs.set(key, seq);
  const data: Record<string, unknown> = (() => {
    switch (type) {
      case 'step.completed':
        return { ...snapshot, progress, stepId: 'organization_setup', nextStep: 'channel_configuration' };
      case 'progress.updated':
        return { progress, estimatedCompletion: null, trigger: 'step.completed' };
      case 'milestone.reached':
        return { threshold: 25, title: 'Getting Started', progress };
      case 'step.validation_failed':
        return {
          sessionType: 'tenant_setup',
          stepId: 'organization_setup',
          errors: [{ field: 'companyName', rule: 'required', message: 'companyName is required' }],
        };
      case 'connection.tested':
        return {
          result: {
            id: 'r1',
            channel: 'webhook',
            status: 'success',
            message: 'Webhook answered 200',
            details: {},
            checks: [],
            responseTime: 12,
            timestamp: '2026-06-01T10:00:00.000Z',
          },
        };
      default:
        return { ...snapshot, progress };
    }
  })();
  return buildEnvelope({
    type,
    data,
    tenantId: s.tenantId,
    sessionId: s.id,
    userId: s.userId,
    sessionSeq: seq,
    correlationId: 'corr-rt',
  } as never) as EventEnvelope;
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
