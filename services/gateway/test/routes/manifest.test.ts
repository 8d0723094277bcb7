import { ROUTE_MANIFEST_PATH } from '@glavito/contracts';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, deadUrl, makeApp, makeToken } from '../helpers.js';

/** A newer session service: its manifest names routes this gateway's catalog does not have. */
async function newerSession() {
  const app = Fastify();
  const seen: string[] = [];
  let manifestReads = 0;
  app.get(ROUTE_MANIFEST_PATH, async () => {
    manifestReads++;
    return {
      manifestVersion: 1,
      service: 'session',
      routes: [
        { method: 'GET', url: '/onboarding/session-insights/:sessionId', access: 'user' },
        { method: 'POST', url: '/onboarding/insights/recompute', access: 'admin' },
        // No access rule: never exposed.
        { method: 'GET', url: '/onboarding/open-door' },
        // Outside the API: never exposed.
        { method: 'GET', url: '/internal/debug', access: 'user' },
        // Already in the gateway's catalog: served by its own route.
        { method: 'POST', url: '/onboarding/start', access: 'user' },
      ],
    };
  });
  app.all('/*', async (request, reply) => {
    seen.push(`${request.method} ${request.url}`);
    return reply.code(200).header('x-upstream', 'session').send({ ok: true });
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, seen, reads: () => manifestReads, close: () => app.close() };
}

describe('routes a service publishes (no gateway release)', () => {
  let upstream: Awaited<ReturnType<typeof newerSession>>;
  let app: FastifyInstance;
  beforeAll(async () => {
    upstream = await newerSession();
    app = await makeApp({ SESSION_URL: upstream.url, PROGRESS_URL: await deadUrl() });
  });
  afterAll(async () => {
    await app.close();
    await upstream.close();
  });

  it('forwards a published route, with the JWT checked at the edge', async () => {
    expect((await app.inject({ method: 'GET', url: '/onboarding/session-insights/s-1' })).statusCode).toBe(401);
    expect(upstream.seen).toEqual([]);
    const res = await app.inject({ method: 'GET', url: '/onboarding/session-insights/s-1?x=1', headers: bearer() });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-upstream']).toBe('session');
    expect(upstream.seen).toEqual(['GET /onboarding/session-insights/s-1?x=1']);
  });

  it('checks the role of an admin route at the edge', async () => {
    const agent = await app.inject({
      method: 'POST',
      url: '/onboarding/insights/recompute',
      headers: { ...bearer(), 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(agent.statusCode).toBe(403);
    expect(upstream.seen.filter((s) => s.includes('recompute'))).toEqual([]);
    const admin = await app.inject({
      method: 'POST',
      url: '/onboarding/insights/recompute',
      headers: { ...bearer(makeToken({ roles: ['admin'] })), 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(admin.statusCode).toBe(200);
  });

  it('refuses a published route without an access rule (and one outside /onboarding/): 404, never forwarded', async () => {
    const res = await app.inject({ method: 'GET', url: '/onboarding/open-door', headers: bearer() });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'GATEWAY_ROUTE_NOT_FOUND' });
    expect((await app.inject({ method: 'GET', url: '/internal/debug', headers: bearer() })).statusCode).toBe(404);
    expect(upstream.seen.filter((s) => s.includes('open-door') || s.includes('debug'))).toEqual([]);
    const refused = app.publishedRoutes.refused().session ?? [];
    expect(refused.map((r) => [(r.entry as { url: string }).url, r.reason.split(':')[0]])).toEqual([
      ['/onboarding/open-door', 'access'],
      ['/internal/debug', 'url'],
    ]);
  });

  it('answers a wrong method on a published path with 405 and its Allow header', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/onboarding/session-insights/s-1', headers: bearer() });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET');
  });

  it('reads the manifests at most once per refresh interval', () => {
    expect(upstream.reads()).toBe(1);
  });
});
