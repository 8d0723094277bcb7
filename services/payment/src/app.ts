import { authPlugin } from '@glavito/auth';
import type { EventBus } from '@glavito/bus';
import type { Pool } from '@glavito/db';
import { producerDatabase, producerPlugin } from '@glavito/outbox/plugin';
import { healthRoutes } from '@glavito/http';
import { createServiceApp } from '@glavito/http/service-app';
import type { FastifyServerOptions } from 'fastify';
import type { PaymentConfig } from './config.js';
import { paymentPlugin } from './plugins/payment.js';
import { paymentRoutes } from './routes/payment.js';

export const DATABASE = producerDatabase('payment', new URL('../drizzle', import.meta.url));

export interface BuildOptions {
  /** Embedded mode: the shared in-process database pool and bus. */
  infra?: { pool?: Pool; bus?: EventBus };
  logger?: FastifyServerOptions['logger'];
  loggerInstance?: FastifyServerOptions['loggerInstance'];
  now?: () => Date;
}

export async function buildApp(config: PaymentConfig, opts: BuildOptions = {}) {
  const app = await createServiceApp({
    service: 'payment',
    logLevel: config.LOG_LEVEL,
    logger: opts.logger,
    loggerInstance: opts.loggerInstance,
    bodyLimit: config.BODY_LIMIT_BYTES,
  });
  await app.register(authPlugin, { secret: config.JWT_SECRET });
  await app.register(producerPlugin, { name: 'payment', database: DATABASE, config, infra: opts.infra });
  await app.register(paymentPlugin, { config, now: opts.now });

  await app.register(healthRoutes, { checks: { database: () => app.isDatabaseReady(), bus: () => app.bus.isReady() } });
  await app.register(paymentRoutes);
  return app;
}
