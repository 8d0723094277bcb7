import cors from '@fastify/cors';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { createRouteIndex } from '../services/route-index.js';

export interface CorsPluginOptions {
  /** Origins allowed to read answers; any other origin gets no Access-Control-Allow-Origin (the browser refuses). */
  origins: string[];
  /** The routes browsers may call cross-origin (the contracts' catalog): their methods are what preflights allow. */
  routes: Iterable<{ method: string; url: string }>;
}

/**
 * What @glavito/client sends besides CORS-safelisted headers (`accept`): its bearer token, JSON bodies and a
 * correlation id; `x-request-id` is honoured by the gateway as the caller's request id, and `accept-language`
 * picks the language of texts (safelisted only for some values).
 */
export const ALLOWED_REQUEST_HEADERS = ['authorization', 'content-type', 'x-correlation-id', 'x-request-id', 'accept-language'];
/** Headers a page may read besides the safelisted ones: request id, throttling, and Allow on a 405. */
export const EXPOSED_RESPONSE_HEADERS = ['x-request-id', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'allow'];
/** Seconds a browser may reuse a preflight (Chromium caps it at 7200; 10 minutes keeps config changes prompt). */
export const PREFLIGHT_MAX_AGE_S = 600;

/**
 * CORS for browser frontends on other origins. A preflight allows the methods the catalog registers for the
 * requested path (GET, PUT and DELETE for /onboarding/business-hours), so a page learns before sending that a
 * method is wrong; for a path outside the catalog it allows every catalog method, so the page reads the real
 * 404 instead of a CORS failure.
 *
 * No credentials: the SDK authenticates with an Authorization header and fetch's default credentials mode
 * sends no cookies cross-origin, so `Access-Control-Allow-Credentials` is not needed; leaving it off means that
 * a cookie ever set on the gateway's domain (an ingress, a proxy) cannot be ridden by an allowed origin.
 */
export const corsPlugin = fp<CorsPluginOptions>(
  async (app: FastifyInstance, opts) => {
    const catalog = createRouteIndex();
    for (const route of opts.routes) catalog.add(route.method, route.url);
    const everyMethod = catalog.allMethods();

    // @fastify/cors answers preflights on its catch-all OPTIONS route; a hook on that one route narrows the
    // allowed methods to the requested path's. Options computed per request (its `delegator`) would instead
    // cost a few µs on every proxied call, preflight or not.
    const narrowToPath = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      if (reply.hasHeader('access-control-allow-methods')) {
        const methods = catalog.methodsFor(request.url);
        if (methods.length > 0) reply.header('access-control-allow-methods', methods.join(', '));
      }
      return payload;
    };
    app.addHook('onRoute', (route) => {
      if (route.method !== 'OPTIONS' || !route.url.endsWith('*')) return;
      route.onSend = [...[route.onSend ?? []].flat(), narrowToPath];
    });

    await app.register(cors, {
      origin: [...opts.origins],
      credentials: false,
      // A path outside the catalog allows every catalog method, so a page reads the real 404, not a CORS failure.
      methods: everyMethod,
      allowedHeaders: ALLOWED_REQUEST_HEADERS,
      exposedHeaders: EXPOSED_RESPONSE_HEADERS,
      maxAge: PREFLIGHT_MAX_AGE_S,
    });
  },
  { name: 'gateway-cors' },
);
