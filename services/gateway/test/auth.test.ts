import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, type FakeUpstream, makeApp, makeToken, signJwt, startUpstream, unsignedJwt } from './helpers.js';

describe('JWT check at the edge', () => {
  let session: FakeUpstream;
  let progress: FakeUpstream;
  let app: FastifyInstance;
  const now = () => Math.floor(Date.now() / 1000);
  const claims = { sub: 'user-1', tenantId: 'tenant-1', roles: ['agent'] };

  beforeAll(async () => {
    session = await startUpstream('session');
    progress = await startUpstream('progress');
    app = await makeApp({ SESSION_URL: session.url, PROGRESS_URL: progress.url });
  });
  afterAll(async () => {
    await app.close();
    await session.close();
    await progress.close();
  });

  const cases: [string, Record<string, string>, string][] = [
    ['no token', {}, 'AUTH_TOKEN_MISSING'],
    ['a bad signature', bearer(makeToken({ secret: 'another-secret-that-is-long-enough-for-hs256-xx' })), 'AUTH_TOKEN_INVALID'],
    ['an expired token', bearer(signJwt({ ...claims, iat: now() - 7200, exp: now() - 3600 })), 'AUTH_TOKEN_EXPIRED'],
    ['alg none', bearer(unsignedJwt({ ...claims, exp: now() + 3600 })), 'AUTH_TOKEN_INVALID'],
    ['a token without tenantId', bearer(signJwt({ sub: 'user-1', roles: ['agent'], exp: now() + 3600 })), 'AUTH_TOKEN_INVALID'],
    ['a non-bearer scheme', { authorization: 'Basic dXNlcjpwYXNz' }, 'AUTH_TOKEN_INVALID'],
  ];

  it.each(cases)('rejects %s with 401 before forwarding', async (_name, headers, code) => {
    const before = session.received.length;
    const res = await app.inject({ method: 'POST', url: '/onboarding/start', headers: { ...headers, 'content-type': 'application/json' }, payload: '{}' });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ statusCode: 401, code, error: 'Unauthorized', message: expect.any(String) });
    expect(session.received.length).toBe(before);
  });

  it('answers 403 to an agent on admin routes, without forwarding', async () => {
    for (const [method, url] of [
      ['PUT', '/onboarding/business-hours'],
      ['GET', '/onboarding/statistics'],
    ] as const) {
      const res = await app.inject({
        method,
        url,
        headers: { ...bearer(), 'content-type': 'application/json' },
        ...(method === 'PUT' ? { payload: '{}' } : {}),
      });
      expect(res.statusCode, `${method} ${url}`).toBe(403);
      expect(res.json()).toMatchObject({ statusCode: 403, code: 'AUTH_FORBIDDEN', error: 'Forbidden' });
    }
    expect(session.received).toHaveLength(0);
    expect(progress.received).toHaveLength(0);
  });

  it('lets an admin through to admin routes', async () => {
    const res = await app.inject({ method: 'GET', url: '/onboarding/statistics?from=2026-01-01T00:00:00Z', headers: bearer(makeToken({ roles: ['admin'] })) });
    expect(res.statusCode).toBe(201);
    expect(progress.received.at(-1)!.url).toBe('/onboarding/statistics?from=2026-01-01T00:00:00Z');
  });
});
