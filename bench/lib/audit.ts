import { buildAuditEvent } from '@glavito/bus';
import type { AuditEvent } from '@glavito/contracts';
import { TEST_JWT_SECRET, type TestNats } from '@glavito/testkit';
import { loadAuditConfig } from '../../services/audit/src/config.js';

/** The audit service's configuration on a benchmark's database and NATS names. */
export function auditBenchConfig(databaseUrl: string, nats: TestNats) {
  return loadAuditConfig({
    DATABASE_URL: databaseUrl,
    NATS_URL: nats.url,
    EVENT_STREAM: nats.streamName,
    EVENT_SUBJECT_PREFIX: nats.subjectPrefix,
    DEAD_LETTER_PREFIX: nats.dlqPrefix,
    RPC_SUBJECT_PREFIX: nats.rpcPrefix,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'warn',
  });
}

/** The i-th audit event of a benchmark: a credentials change, its actor, session and request varying with i. */
export function benchAuditEvent(tenantId: string, i: number): AuditEvent {
  return buildAuditEvent({
    tenantId,
    actor: { subject: `user_${i % 500}`, roles: ['admin'] },
    action: 'step.credentials_change',
    target: { type: 'session', id: `s${i % 2000}` },
    outcome: { result: 'allowed', code: null },
    requestId: `req-${i}`,
    correlationId: `corr-${i}`,
    clientIp: '203.0.113.9',
    userAgent: 'bench/1.0',
    details: { stepId: 'channel_configuration', added: ['email.password'], changed: [], removed: [] },
  });
}
