import { mintToken } from '@glavito/auth';
import { buildAuditEvent, type AuditInput } from '@glavito/bus';
import { auditSubject, type AuditEvent } from '@glavito/contracts';
import { serviceTestEnv, startTestService, TEST_JWT_SECRET, type TestDatabase, type TestNats, type TestService } from '@glavito/testkit';
import { jetstream } from '@nats-io/jetstream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import { loadAuditConfig, type AuditConfig } from '../src/config.js';

export interface AuditHarness extends TestService<AuditConfig, FastifyInstance> {
  /** Publishes audit events as a producer's outbox relay would (msgID = event id). */
  publish(events: AuditEvent[]): Promise<void>;
}

export function testConfig(db: TestDatabase, nats: TestNats, env: Record<string, string> = {}): AuditConfig {
  return loadAuditConfig({
    ...serviceTestEnv(db, nats),
    ...env,
  });
}

export async function startHarness(env: Record<string, string> = {}): Promise<AuditHarness> {
  const service = await startTestService({ config: (db, nats) => testConfig(db, nats, env), build: (config) => buildApp(config, { logger: false }) });
  const js = jetstream(service.nats.nc);
  return Object.assign(service, {
    async publish(events: AuditEvent[]) {
      await Promise.all(events.map((e) => js.publish(auditSubject(service.nats.auditPrefix, e), JSON.stringify(e), { msgID: e.id })));
    },
  });
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
