import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
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

    const base: FastifyCorsOptions = {
      origin: [...opts.origins],
      credentials: false,
      allowedHeaders: ALLOWED_REQUEST_HEADERS,
      exposedHeaders: EXPOSED_RESPONSE_HEADERS,
      maxAge: PREFLIGHT_MAX_AGE_S,
      methods: everyMethod,
    };
    // One options object per distinct method list: few exist, and requests other than OPTIONS share `base`.
    const byMethods = new Map<string, FastifyCorsOptions>();
    const preflightOptions = (target: string): FastifyCorsOptions => {
      const found = catalog.methodsFor(target);
      const methods = found.length > 0 ? found : everyMethod;
      const key = methods.join(',');
      let options = byMethods.get(key);
      if (!options) byMethods.set(key, (options = { ...base, methods }));
      return options;
    };

    await app.register(cors, {
      delegator: (request, callback) => callback(null, request.method === 'OPTIONS' ? preflightOptions(request.url) : base),
    });
  },
  { name: 'gateway-cors' },
);
