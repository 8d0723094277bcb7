import { authPlugin } from '@glavito/auth';
import { auditNames } from '@glavito/config';
import type { EventBus } from '@glavito/bus';
import type { Pool } from '@glavito/db';
import { inboxRetentionPlugin } from '@glavito/db/plugin';
import { producerDatabase, producerPlugin } from '@glavito/outbox/plugin';
import { healthRoutes } from '@glavito/http';
import { createServiceApp } from '@glavito/http/service-app';
import type { FastifyServerOptions } from 'fastify';
import type { ProgressConfig } from './config.js';
import { sessionEventsConsumer } from './consumers/session-events.js';
import { analyticsPlugin } from './plugins/analytics.js';
import { progressReaderPlugin } from './plugins/progress-reader.js';
import { repositoriesPlugin } from './plugins/repositories.js';
import { progressRpcPlugin } from './plugins/rpc.js';
import { progressRoutes } from './routes/progress.js';
import { statisticsRoutes } from './routes/statistics.js';

export const DATABASE = producerDatabase('progress', new URL('../drizzle', import.meta.url));

export interface BuildOptions {
  /** Embedded mode: the shared in-process database pool and bus. */
  infra?: { pool?: Pool; bus?: EventBus };
  logger?: FastifyServerOptions['logger'];
  loggerInstance?: FastifyServerOptions['loggerInstance'];
}

export async function buildApp(config: ProgressConfig, opts: BuildOptions = {}) {
  const app = await createServiceApp({ service: 'progress', logLevel: config.LOG_LEVEL, logger: opts.logger, loggerInstance: opts.loggerInstance });
  await app.register(authPlugin, { secret: config.JWT_SECRET });
  await app.register(producerPlugin, { name: 'progress', database: DATABASE, config, infra: opts.infra });
  await app.register(inboxRetentionPlugin, { schema: DATABASE.schema, eventRetentionMs: config.EVENT_RETENTION });
  await app.register(repositoriesPlugin, {
    subjectPrefix: config.EVENT_SUBJECT_PREFIX,
    cacheSize: config.WRITE_CACHE_SIZE,
    aggregates: config.STATS_AGGREGATES,
  });
  await app.register(analyticsPlugin, { intervalMs: config.STATS_COMPACT_INTERVAL });
  await app.register(progressReaderPlugin, { rpcPrefix: config.RPC_SUBJECT_PREFIX });
  await app.register(progressRpcPlugin, { rpcPrefix: config.RPC_SUBJECT_PREFIX });

  await app.register(healthRoutes, { checks: { database: () => app.isDatabaseReady(), bus: () => app.bus.isReady() } });
  await app.register(progressRoutes);
  await app.register(statisticsRoutes, { auditSubjectPrefix: auditNames(config).subjectPrefix });
  await app.register(sessionEventsConsumer, { config });
  return app;
}
