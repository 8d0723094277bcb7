import { randomUUID } from 'node:crypto';
import { authPlugin } from '@glavito/auth';
import type { EventBus } from '@glavito/bus';
import { auditNames } from '@glavito/config';
import { MAX_PARAM_LENGTH, MAX_URL_LENGTH, ROUTES } from '@glavito/contracts';
import { metricsPlugin } from '@glavito/http/metrics';
import { loggerOptions, requestIdFrom } from '@glavito/logging';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { OneLinePerRequestLogController } from '@glavito/http/request-log';
import { allowedOriginsOf, type GatewayConfig, upstreamsOf } from './config.js';
import {
  clientErrorHandler,
  errorHandler,
  HostRequiredError,
  InvalidPreflightError,
  MethodNotAllowedError,
  RouteNotFoundError,
  UrlTooLongError,
} from './errors.js';
import { corsPlugin } from './plugins/cors.js';
import { edgeAuditPlugin } from './plugins/edge-audit.js';
import { rateLimitPlugin } from './plugins/rate-limit.js';
import { securityHeadersPlugin } from './plugins/security-headers.js';
import { websocketProxyPlugin } from './plugins/websocket-proxy.js';
import consoleRoutes from './routes/console.js';
import docsRoutes from './routes/docs.js';
import healthRoutes from './routes/health.js';
import proxyRoutes, { createForwarder, guardsFor } from './routes/proxy.js';
import { createManifestRoutes, type ManifestRoutes } from './services/manifest-routes.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Routes services published beyond this gateway's catalog (refreshed every ROUTE_MANIFEST_REFRESH ms). */
    publishedRoutes: ManifestRoutes;
  }
}
import { createRouteIndex, hasEmptyParam } from './services/route-index.js';

export interface BuildAppOptions {
  /** Overrides the pino options from config (tests pass `false`). */
  logger?: FastifyServerOptions['logger'];
  /** Embedded mode: the in-process bus the refusals are published to (instead of NATS_URL). */
  auditBus?: Pick<EventBus, 'publish'>;
}

export async function buildApp(config: GatewayConfig, opts: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? loggerOptions('gateway', config.LOG_LEVEL),
    genReqId: (req) => requestIdFrom(req.headers['x-request-id'], randomUUID),
    logController: new OneLinePerRequestLogController(),
    bodyLimit: config.BODY_LIMIT_BYTES,
    trustProxy: config.TRUST_PROXY,
    clientErrorHandler,
    // Node would answer a missing Host with an empty 400; the onRequest check below answers it properly.
    http: { requireHostHeader: false },
    // The services' limit too, so an over-long id is the same 414 at either (Fastify's default here was 100).
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Fastify answers a parameter over maxParamLength (and a bad URL) itself, in another shape: through ours instead.
    frameworkErrors: (error, request, reply) =>
      errorHandler(
        error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? new UrlTooLongError(`a path parameter is longer than ${MAX_PARAM_LENGTH} characters`) : error,
        request,
        reply,
      ),
  });
  const upstreams = upstreamsOf(config);
  // Set before any register(): child contexts copy the error handler they see when they are created.
  app.setErrorHandler(errorHandler);

  // First hook: every answer, refusals included, carries the request id and the security headers.
  await app.register(securityHeadersPlugin, {
    // TLS ends at the ingress; upgrading would break /docs assets when served over plain HTTP. The console needs
    // nothing more: default-src 'self' covers its module scripts, its fetch calls and its same-origin WebSocket
    // (CSP3 lets 'self' match ws:/wss: of the page's origin; checked in Chromium 156).
    helmet: { contentSecurityPolicy: { directives: { 'upgrade-insecure-requests': null } } },
  });
  // Refusals that Node (no Host) or @fastify/cors (an OPTIONS that is no preflight) would send as an empty or
  // text/plain 400 are made here instead, in the common error shape.
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.url.length > MAX_URL_LENGTH) return done(new UrlTooLongError(`the request target is longer than ${MAX_URL_LENGTH} characters`));
    if (request.raw.httpVersion === '1.1' && !request.headers.host) return done(new HostRequiredError());
    if (request.method === 'OPTIONS' && (!request.headers.origin || !request.headers['access-control-request-method']))
      return done(new InvalidPreflightError());
    // An empty segment is no id: `/onboarding/resume/` is a path no route has, not a resume of session ''.
    if (hasEmptyParam(request.params)) return done(new RouteNotFoundError(request.method, request.url.split('?')[0]));
    done();
  });
  // Bodies stay raw bytes: the owning service parses and validates them; the edge never re-serializes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  await app.register(metricsPlugin, { service: 'gateway' });
  await app.register(authPlugin, { secret: config.JWT_SECRET });
  await app.register(rateLimitPlugin, {
    max: config.RATE_LIMIT_MAX,
    timeWindowMs: config.RATE_LIMIT_WINDOW,
    shared:
      config.RATE_LIMIT_STORE === 'nats'
        ? { servers: config.NATS_URL!, bucket: config.RATE_LIMIT_BUCKET, timeoutMs: config.RATE_LIMIT_STORE_TIMEOUT }
        : undefined,
  });
  await app.register(corsPlugin, { origins: allowedOriginsOf(config), routes: Object.values(ROUTES) });
  await app.register(edgeAuditPlugin, {
    natsUrl: config.NATS_URL,
    bus: opts.auditBus,
    subjectPrefix: auditNames({ EVENT_STREAM: '', EVENT_SUBJECT_PREFIX: config.EVENT_SUBJECT_PREFIX, AUDIT_SUBJECT_PREFIX: config.AUDIT_SUBJECT_PREFIX })
      .subjectPrefix,
    perActorPerMinute: config.AUDIT_DENIALS_PER_MINUTE,
  });

  // Every route the gateway serves, so that a known path asked with another method is a 405, not a 404.
  // OPTIONS is left out: it is answered only as a preflight, on every path.
  const served = createRouteIndex();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method === 'OPTIONS') continue;
      served.add(method, route.url);
      // Fastify answers HEAD wherever it answers GET.
      if (method === 'GET') served.add('HEAD', route.url);
    }
  });

  await app.register(healthRoutes, { upstreams });
  await app.register(docsRoutes);
  if (config.CONSOLE_DIR) await app.register(consoleRoutes, { root: config.CONSOLE_DIR });
  const forwarder = createForwarder({ upstreams, timeoutMs: config.UPSTREAM_TIMEOUT_MS });
  app.addHook('onClose', forwarder.close);
  await app.register(proxyRoutes, { forward: forwarder.forward });
  // Routes a service published that this build's catalog lacks (a newer service): served without a gateway release.
  const published = createManifestRoutes({
    upstreams,
    known: new Set(Object.values(ROUTES).map((r) => `${r.method} ${r.url}`)),
    timeoutMs: Math.min(2000, config.UPSTREAM_TIMEOUT_MS),
    log: app.log,
  });
  app.decorate('publishedRoutes', published);
  await app.register(websocketProxyPlugin, {
    target: upstreams.realtime,
    methodsAt: (target) => {
      const known = served.methodsFor(target);
      return known.length > 0 ? known : published.methodsFor(target);
    },
  });

  // A request no route of the catalog takes is decided before its body is read: a path no route has is a 404, a
  // method the path lacks a 405, whatever the body (a 2 MB upload or a malformed Content-Type would otherwise be
  // a 413 or 415 first). Only a route a service published goes on to the not-found handler, which forwards it.
  const limitRefusals = app.rateLimit();
  const publishedRouteOf = async (request: FastifyRequest) => {
    const known = served.methodsFor(request.url);
    // A path of this build's catalog keeps its catalog methods: manifests only add paths the catalog lacks.
    if (known.length > 0) return { known, route: null };
    if (config.ROUTE_MANIFEST_REFRESH > 0) await published.ensureFresh(config.ROUTE_MANIFEST_REFRESH);
    return { known, route: published.find(request.method, request.url) };
  };
  const refusal = (request: FastifyRequest, reply: FastifyReply, known: string[]) => {
    const path = request.url.split('?')[0];
    const allowed = known.length > 0 ? known : published.methodsFor(request.url);
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      reply.header('allow', allowed.join(', '));
      return new MethodNotAllowedError(request.method, path, allowed.join(', '));
    }
    return new RouteNotFoundError(request.method, path);
  };
  app.addHook('onRequest', async (request, reply) => {
    if (!request.is404 || request.method === 'OPTIONS') return;
    const { known, route } = await publishedRouteOf(request);
    if (route) return;
    await limitRefusals.call(app, request, reply);
    if (reply.sent) return reply;
    throw refusal(request, reply, known);
  });
  app.setNotFoundHandler({ preHandler: limitRefusals }, async (request, reply) => {
    const { known, route } = await publishedRouteOf(request);
    if (!route) throw refusal(request, reply, known);
    // The edge checks the token and the role of a published route like those of its own catalog.
    for (const guard of guardsFor(app, route.access)) await guard(request, reply);
    return forwarder.forward(request, reply, route.service, route.streamed === true);
  });
  return app;
}
