import { fileURLToPath } from 'node:url';
import { authPlugin } from '@glavito/auth';
import { auditNames } from '@glavito/config';
import type { EventBus } from '@glavito/bus';
import { busPlugin } from '@glavito/bus/plugin';
import type { Pool } from '@glavito/db';
import { dbPlugin } from '@glavito/db/plugin';
import { healthRoutes } from '@glavito/http';
import { createServiceApp } from '@glavito/http/service-app';
import type { FastifyServerOptions } from 'fastify';
import type { AuditConfig } from './config.js';
import { auditEventsConsumer } from './consumers/audit-events.js';
import { repositoriesPlugin } from './plugins/repositories.js';
import { auditRoutes } from './routes/audit.js';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../drizzle', import.meta.url));
/** The service role may INSERT and SELECT these, never UPDATE or DELETE. */
export const APPEND_ONLY_TABLES = ['records', 'anchors'];

export interface BuildOptions {
  /** Embedded mode: the shared in-process database pool and bus. */
  infra?: { pool?: Pool; bus?: EventBus };
  logger?: FastifyServerOptions['logger'];
  loggerInstance?: FastifyServerOptions['loggerInstance'];
}

export async function buildApp(config: AuditConfig, opts: BuildOptions = {}) {
  const app = await createServiceApp({ service: 'audit', logLevel: config.LOG_LEVEL, logger: opts.logger, loggerInstance: opts.loggerInstance });
  await app.register(authPlugin, { secret: config.JWT_SECRET });
  await app.register(dbPlugin, { schema: 'audit', migrationsFolder: MIGRATIONS_FOLDER, appendOnly: APPEND_ONLY_TABLES, config, pool: opts.infra?.pool });
  await app.register(busPlugin, { name: 'audit', config, outboxSchema: 'audit', bus: opts.infra?.bus });
  await app.register(repositoriesPlugin);

  await app.register(healthRoutes, { checks: { database: () => app.isDatabaseReady(), bus: () => app.bus.isReady() } });
  await app.register(auditRoutes, { subjectPrefix: auditNames(config).subjectPrefix });
  await app.register(auditEventsConsumer, { config });
  return app;
}
