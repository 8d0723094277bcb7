import { ROUTES, type RouteContract } from '@glavito/contracts';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp } from './helpers.js';

const CONSOLE_ORIGIN = 'http://127.0.0.1:5173';
const catalog = Object.values(ROUTES) as RouteContract[];
/** Every header @glavito/client may send that is not CORS-safelisted. */
const SDK_HEADERS = ['authorization', 'content-type', 'x-correlation-id', 'x-request-id'];

/** A concrete path for a catalog URL: each `:param` replaced by a sample value. */
const concrete = (url: string) => url.replace(/:(\w+)/g, (_, name: string) => `sample-${name}`);

/** Independent of the gateway's router: a catalog URL matches a path when every segment is equal or a param. */
function patternMatches(url: string, path: string): boolean {
  const [a, b] = [url.split('/'), path.split('/')];
  return a.length === b.length && a.every((segment, i) => (segment.startsWith(':') ? b[i] !== '' : segment === b[i]));
}

const methodsOf = (header: string | number | string[] | undefined) =>
  String(header ?? '')
    .split(/\s*,\s*/)
    .filter(Boolean)
    .sort();
const headersOf = (header: string | number | string[] | undefined) =>
  String(header ?? '')
    .toLowerCase()
    .split(/\s*,\s*/)
    .filter(Boolean);

describe('CORS preflights, derived from the route catalog', () => {
  let app: FastifyInstance;
  const preflight = (url: string, method: string, origin = CONSOLE_ORIGIN) =>
    app.inject({
      method: 'OPTIONS',
      url,
      headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': SDK_HEADERS.join(',') },
    });

  beforeAll(async () => {
    app = await makeApp({ FRONTEND_URL: 'https://app.example.com', CORS_ORIGINS: `${CONSOLE_ORIGIN}, http://localhost:4173` });
  });
  afterAll(async () => {
    await app.close();
  });

  it('lets a configured origin PUT a step and DELETE business hours with the headers the SDK sends', async () => {
    for (const [url, method] of [
      ['/onboarding/step/3f1c0c4e-8a7b-4b59-9a1e-0c7f4b1a2d3e/company_info', 'PUT'],
      ['/onboarding/business-hours', 'DELETE'],
    ] as const) {
      const res = await preflight(url, method);
      expect(res.statusCode).toBe(204);
      expect(res.headers['access-control-allow-origin']).toBe(CONSOLE_ORIGIN);
      expect(methodsOf(res.headers['access-control-allow-methods'])).toContain(method);
      expect(headersOf(res.headers['access-control-allow-headers'])).toEqual(expect.arrayContaining(SDK_HEADERS));
      expect(res.headers['access-control-max-age']).toBe('600');
      expect(res.headers['access-control-allow-credentials']).toBeUndefined();
      expect(String(res.headers.vary)).toMatch(/origin/i);
    }
    expect(methodsOf((await preflight('/onboarding/business-hours', 'DELETE')).headers['access-control-allow-methods'])).toEqual(['DELETE', 'GET', 'PUT']);
  });

  it('allows each origin of FRONTEND_URL and CORS_ORIGINS, and no other', async () => {
    for (const origin of ['https://app.example.com', CONSOLE_ORIGIN, 'http://localhost:4173']) {
      expect((await preflight('/onboarding/business-hours', 'PUT', origin)).headers['access-control-allow-origin']).toBe(origin);
    }
    for (const origin of ['https://evil.example.com', 'http://127.0.0.1:5174', 'http://localhost:5173', 'null']) {
      const res = await preflight('/onboarding/business-hours', 'PUT', origin);
      expect(res.statusCode).toBeLessThan(500);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    }
  });

  it('preflights every catalog route with its own method, allowing exactly the catalog methods of that path', async () => {
    const allowedAnywhere = new Set<string>();
    for (const route of catalog) {
      const path = concrete(route.url);
      const res = await preflight(path, route.method);
      expect(res.statusCode, `${route.method} ${route.url}`).toBe(204);
      const allowed = methodsOf(res.headers['access-control-allow-methods']);
      const expected = [...new Set(catalog.filter((r) => patternMatches(r.url, path)).map((r) => r.method))].sort();
      expect(allowed, `${route.method} ${route.url}`).toEqual(expected);
      expect(allowed).toContain(route.method);
      for (const m of allowed) allowedAnywhere.add(m);
    }
    const catalogMethods = [...new Set(catalog.map((r) => r.method))].sort();
    expect([...allowedAnywhere].sort()).toEqual(catalogMethods);
    // Outside the catalog every catalog method is allowed, so the page reads the 404 rather than a CORS failure.
    expect(methodsOf((await preflight('/not/a/route', 'PUT')).headers['access-control-allow-methods'])).toEqual(catalogMethods);
  });

  it('lets the page read answers, errors included, with the exposed headers', async () => {
    const res = await app.inject({
      method: 'PUT',
      url: '/onboarding/business-hours',
      headers: { origin: CONSOLE_ORIGIN, 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['access-control-allow-origin']).toBe(CONSOLE_ORIGIN);
    expect(headersOf(res.headers['access-control-expose-headers'])).toEqual(
      expect.arrayContaining(['x-request-id', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'allow']),
    );
    const foreign = await app.inject({ method: 'GET', url: '/onboarding/status', headers: { origin: 'https://evil.example.com' } });
    expect(foreign.statusCode).toBe(401);
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('allows no origin when none is configured', async () => {
    const bare = await makeApp();
    try {
      const res = await bare.inject({
        method: 'OPTIONS',
        url: '/onboarding/business-hours',
        headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'GET' },
      });
      expect(res.statusCode).toBe(204);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await bare.close();
    }
  });
});
