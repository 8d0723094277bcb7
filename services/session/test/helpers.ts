import { mintToken } from '@glavito/auth';
import { serviceTestEnv, startTestService, TEST_JWT_SECRET, type TestDatabase, type TestNats, type TestService } from '@glavito/testkit';
import type { FastifyInstance } from 'fastify';
import { buildApp, type BuildOptions } from '../src/app.js';
import { loadSessionConfig, type SessionConfig } from '../src/config.js';

export const TEST_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64');

export type SessionHarness = TestService<SessionConfig, FastifyInstance>;

export function testConfig(db: TestDatabase, nats: TestNats, env: Record<string, string> = {}): SessionConfig {
  return loadSessionConfig({
    ...serviceTestEnv(db, nats),
    STEP_DATA_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    ...env,
  });
}

/**
 * A session service on a fresh database, stream and subject prefix (one per test file).
 * `natsUrl` points it (and `nats`) at another server, e.g. a private one from `startNatsServer`.
 */
export async function startHarness(opts: BuildOptions & { env?: Record<string, string>; natsUrl?: string } = {}): Promise<SessionHarness> {
  const { env, natsUrl, ...buildOptions } = opts;
  return startTestService({
    natsUrl,
    config: (db, nats) => testConfig(db, nats, env),
    build: (config) => buildApp(config, { logger: false, ...buildOptions }),
  });
}

export function tokenFor(user: { userId: string; tenantId: string; roles?: string[] }, expiresIn: string | number = '1h'): string {
  return mintToken({ secret: TEST_JWT_SECRET, userId: user.userId, tenantId: user.tenantId, roles: user.roles ?? ['agent'], expiresIn });
}

export const bearer = (user: { userId: string; tenantId: string; roles?: string[] }) => ({ authorization: `Bearer ${tokenFor(user)}` });

/** Valid data for every tenant step, in an order that respects dependencies. */
export const TENANT_STEP_DATA: Array<[string, Record<string, unknown>]> = [
  ['organization_setup', { companyName: 'Acme Support', primaryColor: '#112233', industry: 'software', companySize: '10-50', timezone: 'Europe/Paris' }],
  ['channel_configuration', { email: { enabled: true, address: 'help@acme.test' }, slack: { enabled: true, botToken: 'xoxb-channel-token' } }],
  ['ai_configuration', { aiProvider: 'openai', features: ['ticketClassification', 'autoResponse'] }],
  ['knowledge_base', { categories: ['Billing'] }],
  ['payment_setup', { skipPaymentSetup: true }],
  ['team_management', { teamMembers: [{ email: 'ana@acme.test', role: 'agent' }] }],
  ['workflow_configuration', { slaTargets: { firstResponseMinutes: 60 } }],
  ['customer_portal', { enabled: true, subdomain: 'acme' }],
  ['data_import', { source: 'csv' }],
  ['analytics_setup', { emailDigest: 'weekly' }],
];
