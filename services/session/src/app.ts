import { auditNames } from '@glavito/config';
import { authPlugin } from '@glavito/auth';
import type { EventBus } from '@glavito/bus';
import type { Pool } from '@glavito/db';
import { producerDatabase, producerPlugin } from '@glavito/outbox/plugin';
import { healthRoutes } from '@glavito/http';
import { createServiceApp } from '@glavito/http/service-app';
import type { FastifyServerOptions } from 'fastify';
import type { SessionConfig } from './config.js';
import { externalSignalsConsumer } from './consumers/external-signals.js';
import { abandonSweepPlugin } from './jobs/abandon-sweep.js';
import { sessionRpcPlugin } from './plugins/rpc.js';
import { sessionRepositoryPlugin } from './plugins/session-repository.js';
import { tenantSmtpRpcPlugin } from './plugins/tenant-smtp-rpc.js';
import { businessHoursRoutes } from './routes/business-hours.js';
import { sessionRoutes } from './routes/sessions.js';
import { stepRoutes } from './routes/steps.js';
import { flowRoutes } from './routes/flows.js';

export const DATABASE = producerDatabase('session', new URL('../drizzle', import.meta.url));

export interface BuildOptions {
  /** Embedded mode: the shared in-process database pool and bus. */
  infra?: { pool?: Pool; bus?: EventBus };
  logger?: FastifyServerOptions['logger'];
  loggerInstance?: FastifyServerOptions['loggerInstance'];
  /** Clock override for tests (abandon sweep, timestamps). */
  now?: () => Date;
}

export async function buildApp(config: SessionConfig, opts: BuildOptions = {}) {
  const app = await createServiceApp({
    service: 'session',
    logLevel: config.LOG_LEVEL,
    logger: opts.logger,
    loggerInstance: opts.loggerInstance,
    bodyLimit: config.BODY_LIMIT_BYTES,
  });
  await app.register(authPlugin, { secret: config.JWT_SECRET });
  await app.register(producerPlugin, { name: 'session', database: DATABASE, config, infra: opts.infra });
  await app.register(sessionRepositoryPlugin, {
    subjectPrefix: config.EVENT_SUBJECT_PREFIX,
    auditSubjectPrefix: auditNames(config).subjectPrefix,
    encryptionKey: config.STEP_DATA_ENCRYPTION_KEY,
    cacheSize: config.WRITE_CACHE_SIZE,
    now: opts.now,
  });
  await app.register(sessionRpcPlugin, { rpcPrefix: config.RPC_SUBJECT_PREFIX });
  await app.register(tenantSmtpRpcPlugin, { rpcPrefix: config.RPC_SUBJECT_PREFIX, credentialsKey: config.NOTIFY_CREDENTIALS_KEY });
  await app.register(abandonSweepPlugin, { abandonAfterMs: config.ABANDON_AFTER, intervalMs: config.ABANDON_SWEEP_INTERVAL });

  await app.register(healthRoutes, { checks: { database: () => app.isDatabaseReady(), bus: () => app.bus.isReady() } });
  await app.register(sessionRoutes);
  await app.register(stepRoutes);
  await app.register(flowRoutes);
  await app.register(businessHoursRoutes);
  await app.register(externalSignalsConsumer, { config });
  return app;
}
