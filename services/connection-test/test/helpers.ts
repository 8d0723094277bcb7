import { mintToken } from '@glavito/auth';
import { serveRpc } from '@glavito/bus';
import { rpcSubject, SessionGetReplySchema, SessionGetRequestSchema, type SessionSummary } from '@glavito/contracts';
import { createTestDatabase, createTestNats, TEST_JWT_SECRET, type TestDatabase, type TestNats } from '@glavito/testkit';
import type { FastifyInstance } from 'fastify';
import { buildApp, type BuildOptions } from '../src/app.js';
import { loadConnectionTestConfig, type ConnectionTestConfig } from '../src/config.js';

export interface Harness {
  app: FastifyInstance;
  db: TestDatabase;
  nats: TestNats;
  config: ConnectionTestConfig;
  /** Sessions the fake session service (at its NATS boundary) knows. */
  sessions: Map<string, SessionSummary>;
  addSession(s: { id: string; tenantId: string; userId: string }): void;
  close(): Promise<void>;
}

export function testConfig(db: TestDatabase, nats: TestNats, env: Record<string, string> = {}): ConnectionTestConfig {
  return loadConnectionTestConfig({
    DATABASE_URL: db.url,
    NATS_URL: nats.url,
    EVENT_STREAM: nats.streamName,
    EVENT_SUBJECT_PREFIX: nats.subjectPrefix,
    RPC_SUBJECT_PREFIX: nats.rpcPrefix,
    DEAD_LETTER_PREFIX: nats.dlqPrefix,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'silent',
    ...env,
  });
}

/** A connection-test service on a fresh database and stream, with a fake session service answering session.get. */
export async function startHarness(opts: BuildOptions & { env?: Record<string, string> } = {}): Promise<Harness> {
  const db = await createTestDatabase();
  const nats = await createTestNats();
  const config = testConfig(db, nats, opts.env);
  const sessions = new Map<string, SessionSummary>();
  const fake = serveRpc({
    nc: nats.nc,
    subject: rpcSubject(nats.rpcPrefix, 'session.get'),
    queue: 'fake-session',
    request: SessionGetRequestSchema,
    reply: SessionGetReplySchema,
    logger: console,
    handler: async ({ sessionId, caller }) => {
      const s = sessions.get(sessionId);
      const visible = s && s.tenantId === caller.tenantId && (caller.isAdmin || s.userId === caller.userId);
      return visible ? { found: true as const, session: s } : { found: false as const };
    },
  });
  const app = await buildApp(config, { logger: false, ...opts });
  await app.ready();
  return {
    app,
    db,
    nats,
    config,
    sessions,
    addSession(s) {
      const now = new Date().toISOString();
      sessions.set(s.id, { ...s, type: 'tenant_setup', status: 'active', completedSteps: ['welcome'], skippedSteps: [], currentStep: 'organization_setup', startedAt: now, lastActivityAt: now, completedAt: null });
    },
    async close() {
      await app.close();
      fake.unsubscribe();
      await nats.cleanup();
      await db.drop();
    },
  };
}

export const bearer = (user: { userId: string; tenantId: string; roles?: string[] }) => ({
  authorization: `Bearer ${mintToken({ secret: TEST_JWT_SECRET, userId: user.userId, tenantId: user.tenantId, roles: user.roles ?? ['agent'] })}`,
});
