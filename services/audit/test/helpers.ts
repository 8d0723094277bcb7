import { mintToken } from '@glavito/auth';
import { buildAuditEvent, type AuditInput } from '@glavito/bus';
import { auditSubject, type AuditEvent } from '@glavito/contracts';
import { createTestDatabase, createTestNats, TEST_JWT_SECRET, type TestDatabase, type TestNats } from '@glavito/testkit';
import { jetstream } from '@nats-io/jetstream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import { loadAuditConfig, type AuditConfig } from '../src/config.js';

export interface AuditHarness {
  app: FastifyInstance;
  db: TestDatabase;
  nats: TestNats;
  config: AuditConfig;
  /** Publishes audit events as a producer's outbox relay would (msgID = event id). */
  publish(events: AuditEvent[]): Promise<void>;
  close(): Promise<void>;
}

export function testConfig(db: TestDatabase, nats: TestNats, env: Record<string, string> = {}): AuditConfig {
  return loadAuditConfig({
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

export async function startHarness(env: Record<string, string> = {}): Promise<AuditHarness> {
  const db = await createTestDatabase();
  const nats = await createTestNats();
  const config = testConfig(db, nats, env);
  const app = await buildApp(config, { logger: false });
  await app.ready();
  const js = jetstream(nats.nc);
  return {
    app,
    db,
    nats,
    config,
    async publish(events) {
      await Promise.all(events.map((e) => js.publish(auditSubject(nats.auditPrefix, e), JSON.stringify(e), { msgID: e.id })));
    },
    async close() {
      await app.close();
      await nats.cleanup();
      await db.drop();
    },
  };
}

export function makeEvent(overrides: Partial<AuditInput> = {}): AuditEvent {
  return buildAuditEvent({
    tenantId: 'tenant_a',
    actor: { subject: 'admin_1', roles: ['admin'] },
    action: 'business_hours.update',
    target: { type: 'tenant', id: 'tenant_a' },
    outcome: { result: 'allowed', code: null },
    requestId: 'req-1',
    correlationId: 'corr-1',
    clientIp: '203.0.113.7',
    userAgent: 'vitest',
    details: { timezone: 'Europe/Paris' },
    ...overrides,
  });
}

export const bearer = (user: { userId: string; tenantId: string; roles?: string[] }) => ({
  authorization: `Bearer ${mintToken({ secret: TEST_JWT_SECRET, userId: user.userId, tenantId: user.tenantId, roles: user.roles ?? ['agent'] })}`,
});
