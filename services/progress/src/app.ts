import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { authPlugin } from '@glavito/auth';
import type { EventBus } from '@glavito/bus';
import { busPlugin } from '@glavito/bus/plugin';
import type { Pool } from '@glavito/db';
import { dbPlugin } from '@glavito/db/plugin';
import { healthRoutes, installErrorHandlers } from '@glavito/http';
import { metricsPlugin } from '@glavito/http/metrics';
import { loggerOptions, requestIdFrom } from '@glavito/logging';
import Fastify, { type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { ProgressConfig } from './config.js';
import { sessionEventsConsumer } from './consumers/session-events.js';
import { progressReaderPlugin } from './plugins/progress-reader.js';
import { repositoriesPlugin } from './plugins/repositories.js';
import { progressRpcPlugin } from './plugins/rpc.js';
import { progressRoutes } from './routes/progress.js';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../drizzle', import.meta.url));

export interface BuildOptions {
  /** Embedded mode: the shared in-process database pool and bus. */
  infra?: { pool?: Pool; bus?: EventBus };
  logger?: FastifyServerOptions['logger'];
  loggerInstance?: FastifyServerOptions['loggerInstance'];
}

export async function buildApp(config: ProgressConfig, opts: BuildOptions = {}) {
  const app = Fastify({
    ...(opts.loggerInstance ? { loggerInstance: opts.loggerInstance } : { logger: opts.logger ?? loggerOptions('progress', config.LOG_LEVEL) }),
    genReqId: (req) => requestIdFrom(req.headers['x-request-id'], randomUUID),
    routerOptions: { maxParamLength: 200 },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandlers(app, { service: 'progress' });
  app.removeContentTypeParser('text/plain');
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  await app.register(metricsPlugin, { service: 'progress' });
  await app.register(authPlugin, { secret: config.JWT_SECRET, expiresIn: config.JWT_EXPIRES_IN });
  await app.register(dbPlugin, { schema: 'progress', migrationsFolder: MIGRATIONS_FOLDER, config, pool: opts.infra?.pool });
  await app.register(busPlugin, { name: 'progress', config, outboxSchema: 'progress', bus: opts.infra?.bus });
  await app.register(repositoriesPlugin, { subjectPrefix: config.EVENT_SUBJECT_PREFIX });
  await app.register(progressReaderPlugin, { rpcPrefix: config.RPC_SUBJECT_PREFIX });
  await app.register(progressRpcPlugin, { rpcPrefix: config.RPC_SUBJECT_PREFIX });

  await app.register(healthRoutes, { checks: { database: () => app.isDatabaseReady(), bus: () => app.bus.isReady() } });
  await app.register(progressRoutes);
  await app.register(sessionEventsConsumer, { config });
  return app;
}
