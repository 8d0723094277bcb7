import { authPlugin } from '@glavito/auth';
import { auditNames } from '@glavito/config';
import type { EventBus } from '@glavito/bus';
import type { Pool } from '@glavito/db';
import { producerDatabase, producerPlugin } from '@glavito/outbox/plugin';
import { healthRoutes } from '@glavito/http';
import { createServiceApp } from '@glavito/http/service-app';
import type { FastifyServerOptions } from 'fastify';
import type { AuditConfig } from './config.js';
import { auditEventsConsumer } from './consumers/audit-events.js';
import { repositoriesPlugin } from './plugins/repositories.js';
import { auditRoutes } from './routes/audit.js';

/** The service role may INSERT and SELECT these, never UPDATE or DELETE. */
export const APPEND_ONLY_TABLES = ['records', 'anchors'];
export const DATABASE = producerDatabase('audit', new URL('../drizzle', import.meta.url), { appendOnly: APPEND_ONLY_TABLES });

export interface BuildOptions {
  /** Embedded mode: the shared in-process database pool and bus. */
  infra?: { pool?: Pool; bus?: EventBus };
  logger?: FastifyServerOptions['logger'];
  loggerInstance?: FastifyServerOptions['loggerInstance'];
}

export async function buildApp(config: AuditConfig, opts: BuildOptions = {}) {
  const app = await createServiceApp({ service: 'audit', logLevel: config.LOG_LEVEL, logger: opts.logger, loggerInstance: opts.loggerInstance });
  await app.register(authPlugin, { secret: config.JWT_SECRET });
  await app.register(producerPlugin, { name: 'audit', database: DATABASE, config, infra: opts.infra });
  await app.register(repositoriesPlugin);

  await app.register(healthRoutes, { checks: { database: () => app.isDatabaseReady(), bus: () => app.bus.isReady() } });
  await app.register(auditRoutes, { subjectPrefix: auditNames(config).subjectPrefix });
  await app.register(auditEventsConsumer, { config });
  return app;
}
