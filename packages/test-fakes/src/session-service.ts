import { serveRpc } from '@glavito/bus';
import {
  computeProgress,
  ProgressGetReplySchema,
  ProgressGetRequestSchema,
  rpcSubject,
  SessionGetReplySchema,
  SessionGetRequestSchema,
  SessionUserReplySchema,
  SessionUserRequestSchema,
  type SessionSummary,
} from '@glavito/contracts';
import type { TestNats } from '@glavito/testkit';

type Caller = { tenantId: string; userId: string; isAdmin: boolean };

/** The RPCs the fake can answer. */
export const FAKE_SESSION_RPCS = ['session.get', 'session.user', 'progress.get'] as const;
export type FakeSessionRpc = (typeof FAKE_SESSION_RPCS)[number];

export interface FakeSessionService {
  /** The sessions it knows, by id. */
  sessions: Map<string, SessionSummary>;
  /** Every request it answered, in order (to check what a service asked, and as whom). */
  calls: Array<{ rpc: FakeSessionRpc; request: unknown }>;
  /** Adds a session; the fields not given describe an active tenant_setup session two steps in. */
  add(s: Pick<SessionSummary, 'id' | 'tenantId' | 'userId'> & Partial<SessionSummary>): SessionSummary;
  stop(): void;
}

/**
 * The session service faked at its NATS boundary: the services under test ask it over request/reply, so
 * answering those subjects from a map tests them without a session database. It applies the session
 * service's visibility rule: same tenant, and the caller owns the session or is an admin.
 * `serves` leaves out an RPC the service under test answers itself (the progress service owns progress.get).
 */
export function fakeSessionService(nats: Pick<TestNats, 'nc' | 'rpcPrefix'>, opts: { serves?: readonly FakeSessionRpc[] } = {}): FakeSessionService {
  const sessions = new Map<string, SessionSummary>();
  const calls: FakeSessionService['calls'] = [];
  const visible = (sessionId: string, caller: Caller) => {
    const s = sessions.get(sessionId);
    return s && s.tenantId === caller.tenantId && (caller.isAdmin || s.userId === caller.userId) ? s : undefined;
  };
  const common = (rpc: FakeSessionRpc) => ({ nc: nats.nc, subject: rpcSubject(nats.rpcPrefix, rpc), queue: 'fake-session', logger: console });
  const record = (rpc: FakeSessionRpc, request: unknown) => void calls.push({ rpc, request });
  const servers = {
    'session.get': () =>
      serveRpc({
        ...common('session.get'),
        request: SessionGetRequestSchema,
        reply: SessionGetReplySchema,
        handler: async (req) => {
          record('session.get', req);
          const s = visible(req.sessionId, req.caller);
          return s ? { found: true as const, session: s } : { found: false as const };
        },
      }),
    'session.user': () =>
      serveRpc({
        ...common('session.user'),
        request: SessionUserRequestSchema,
        reply: SessionUserReplySchema,
        handler: async (req) => {
          record('session.user', req);
          const { userId, caller } = req;
          const known =
            (caller.isAdmin || caller.userId === userId) && [...sessions.values()].some((s) => s.tenantId === caller.tenantId && s.userId === userId);
          return { known };
        },
      }),
    // What the progress service answers before a session's first event reaches it: progress computed from the session.
    'progress.get': () =>
      serveRpc({
        ...common('progress.get'),
        request: ProgressGetRequestSchema,
        reply: ProgressGetReplySchema,
        handler: async (req) => {
          record('progress.get', req);
          const s = visible(req.sessionId, req.caller);
          if (!s) return { found: false as const };
          const { nextStep: _next, ...p } = computeProgress(s.type, s);
          return { found: true as const, progress: { sessionId: s.id, ...p, estimatedCompletion: null, milestones: [], seq: 0 } };
        },
      }),
  };
  const subs = (opts.serves ?? FAKE_SESSION_RPCS).map((rpc) => servers[rpc]());
  return {
    sessions,
    calls,
    add(s) {
      const now = new Date().toISOString();
      const session: SessionSummary = {
        type: 'tenant_setup',
        status: 'active',
        completedSteps: ['welcome', 'organization_setup'],
        skippedSteps: [],
        currentStep: 'channel_configuration',
        startedAt: now,
        lastActivityAt: now,
        completedAt: null,
        ...s,
      };
      sessions.set(session.id, session);
      return session;
    },
    stop() {
      for (const s of subs) s.unsubscribe();
    },
  };
}
