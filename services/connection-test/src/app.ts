import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { authPlugin } from '@glavito/auth';
import type { EventBus } from '@glavito/bus';
import { busPlugin } from '@glavito/bus/plugin';
import type { Pool } from '@glavito/db';
import { dbPlugin } from '@glavito/db/plugin';
import { healthRoutes, installErrorHandlers, installJsonBodyParser } from '@glavito/http';
import { metricsPlugin } from '@glavito/http/metrics';
import { loggerOptions, requestIdFrom } from '@glavito/logging';
import Fastify, { type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Channel } from './channels/types.js';
import type { ConnectionTestConfig } from './config.js';
import { sessionEventsConsumer } from './consumers/session-events.js';
import type { Lookup } from './domain/outbound-policy.js';
import { testerPlugin } from './plugins/tester.js';
import { connectionTestRoutes } from './routes/connection-tests.js';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../drizzle', import.meta.url));

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
  const app = Fastify({
    ...(opts.loggerInstance ? { loggerInstance: opts.loggerInstance } : { logger: opts.logger ?? loggerOptions('connection-test', config.LOG_LEVEL) }),
    genReqId: (req) => requestIdFrom(req.headers['x-request-id'], randomUUID),
    bodyLimit: config.BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: 200 },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandlers(app, { service: 'connection-test' });
  app.removeContentTypeParser('text/plain');
  installJsonBodyParser(app);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  await app.register(metricsPlugin, { service: 'connection-test' });
  await app.register(authPlugin, { secret: config.JWT_SECRET, expiresIn: config.JWT_EXPIRES_IN });
  await app.register(dbPlugin, { schema: 'connection_test', migrationsFolder: MIGRATIONS_FOLDER, config, pool: opts.infra?.pool });
  await app.register(busPlugin, { name: 'connection-test', config, outboxSchema: 'connection_test', bus: opts.infra?.bus });
  await app.register(testerPlugin, { config, lookup: opts.lookup, channels: opts.channels });

  await app.register(healthRoutes, { checks: { database: () => app.isDatabaseReady(), bus: () => app.bus.isReady() } });
  await app.register(connectionTestRoutes);
  await app.register(sessionEventsConsumer, { config });
  return app;
}
