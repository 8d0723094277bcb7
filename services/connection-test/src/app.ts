import { authPlugin } from '@glavito/auth';
import type { EventBus } from '@glavito/bus';
import type { Pool } from '@glavito/db';
import { producerDatabase, producerPlugin } from '@glavito/outbox/plugin';
import { healthRoutes } from '@glavito/http';
import { createServiceApp } from '@glavito/http/service-app';
import type { FastifyServerOptions } from 'fastify';
import type { Channel } from './channels/types.js';
import type { ConnectionTestConfig } from './config.js';
import { sessionEventsConsumer } from './consumers/session-events.js';
import type { Lookup } from './domain/outbound-policy.js';
import { testerPlugin } from './plugins/tester.js';
import { connectionTestRoutes } from './routes/connection-tests.js';

export const DATABASE = producerDatabase('connection_test', new URL('../drizzle', import.meta.url));

export interface BuildOptions {
  /** Embedded mode: the shared in-process database pool and bus. */
  infra?: { pool?: Pool; bus?: EventBus };
  logger?: FastifyServerOptions['logger'];
  loggerInstance?: FastifyServerOptions['loggerInstance'];
  /** DNS lookup for user-supplied hosts (tests: names that resolve to loopback). */
  lookup?: Lookup;
  channels?: Record<string, Channel>;
}

export async function buildApp(config: ConnectionTestConfig, opts: BuildOptions = {}) {
  const app = await createServiceApp({
    service: 'connection-test',
    logLevel: config.LOG_LEVEL,
    logger: opts.logger,
    loggerInstance: opts.loggerInstance,
    bodyLimit: config.BODY_LIMIT_BYTES,
  });
  await app.register(authPlugin, { secret: config.JWT_SECRET });
  await app.register(producerPlugin, { name: 'connection-test', database: DATABASE, config, infra: opts.infra });
  await app.register(testerPlugin, { config, lookup: opts.lookup, channels: opts.channels });

  await app.register(healthRoutes, { checks: { database: () => app.isDatabaseReady(), bus: () => app.bus.isReady() } });
  await app.register(connectionTestRoutes);
  await app.register(sessionEventsConsumer, { config });
  return app;
}
