import { randomUUID } from 'node:crypto';
import { loggerOptions, requestIdFrom } from '@glavito/logging';
import Fastify, { type FastifyServerOptions } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { installErrorHandlers, installJsonBodyParser, installLanguage, installStorableUrlText } from './index.js';
import { MAX_PARAM_LENGTH, ROUTE_MANIFEST_PATH, routeManifest } from '@glavito/contracts';
import { clientErrorHandler, frameworkErrors, installUrlLimit } from './limits.js';
import { metricsPlugin } from './metrics.js';
import { OneLinePerRequestLogController } from './request-log.js';
import { serializerCompiler } from './serializer.js';

export interface ServiceAppOptions {
  service: string;
  logLevel: string;
  logger?: FastifyServerOptions['logger'];
  loggerInstance?: FastifyServerOptions['loggerInstance'];
  bodyLimit?: number;
}

/**
 * The Fastify instance every service starts from: pino logging, request ids kept across services,
 * zod validation and serialisation, the root error handlers, JSON-only bodies and /metrics.
 */
export async function createServiceApp(opts: ServiceAppOptions) {
  const app = Fastify({
    ...(opts.loggerInstance ? { loggerInstance: opts.loggerInstance } : { logger: opts.logger ?? loggerOptions(opts.service, opts.logLevel) }),
    genReqId: (req) => requestIdFrom(req.headers['x-request-id'], randomUUID),
    logController: new OneLinePerRequestLogController(),
    // The gateway's limits too: an over-long URL or id is the same 414 (431 for headers) at either.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
    clientErrorHandler,
    ...(opts.bodyLimit ? { bodyLimit: opts.bodyLimit } : {}),
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandlers(app, { service: opts.service });
  installUrlLimit(app);
  installLanguage(app);
  // JSON only: a text/plain body is a 415, not a string that fails validation later.
  app.removeContentTypeParser('text/plain');
  installJsonBodyParser(app);
  installStorableUrlText(app);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  await app.register(metricsPlugin, { service: opts.service });
  // The routes of this build, for the gateway: a route added here is routed without a gateway release.
  app.get(ROUTE_MANIFEST_PATH, async () => routeManifest(opts.service));
  return app;
}
