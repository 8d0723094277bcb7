import { authPlugin } from '@glavito/auth';
import type { EventBus } from '@glavito/bus';
import type { Pool } from '@glavito/db';
import { inboxRetentionPlugin } from '@glavito/db/plugin';
import { producerDatabase, producerPlugin } from '@glavito/outbox/plugin';
import { healthRoutes } from '@glavito/http';
import { createServiceApp } from '@glavito/http/service-app';
import type { FastifyServerOptions } from 'fastify';
import type { NotificationConfig } from './config.js';
import { eventsConsumer } from './consumers/events.js';
import { notificationsPlugin } from './plugins/notifications.js';
import { notificationRoutes } from './routes/notifications.js';

export const DATABASE = producerDatabase('notification', new URL('../drizzle', import.meta.url));

export interface BuildOptions {
  /** Embedded mode: the shared in-process database pool and bus. */
  infra?: { pool?: Pool; bus?: EventBus };
  logger?: FastifyServerOptions['logger'];
  loggerInstance?: FastifyServerOptions['loggerInstance'];
  /** The scheduler's clock (tests move it instead of waiting). */
  clock?: () => Date;
  replicaId?: string;
  /** Extra CAs trusted for tenants' SMTP servers (tests: a local server's self-signed certificate). */
  tenantSmtpCa?: string;
}

export async function buildApp(config: NotificationConfig, opts: BuildOptions = {}) {
  const app = await createServiceApp({
    service: 'notification',
    logLevel: config.LOG_LEVEL,
    logger: opts.logger,
    loggerInstance: opts.loggerInstance,
    bodyLimit: config.BODY_LIMIT_BYTES,
  });
  await app.register(authPlugin, { secret: config.JWT_SECRET });
  await app.register(producerPlugin, { name: 'notification', database: DATABASE, config, infra: opts.infra });
  await app.register(inboxRetentionPlugin, { schema: DATABASE.schema, eventRetentionMs: config.EVENT_RETENTION });
  await app.register(notificationsPlugin, { config, clock: opts.clock, replicaId: opts.replicaId, tenantSmtpCa: opts.tenantSmtpCa });

  await app.register(healthRoutes, { checks: { database: () => app.isDatabaseReady(), bus: () => app.bus.isReady() } });
  await app.register(notificationRoutes);
  await app.register(eventsConsumer, { config });
  return app;
}
