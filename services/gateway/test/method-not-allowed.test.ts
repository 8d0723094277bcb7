import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, type FakeUpstream, makeApp, startUpstream } from './helpers.js';

describe('a known path with another method', () => {
  let session: FakeUpstream;
  let app: FastifyInstance;

  beforeAll(async () => {
    session = await startUpstream('session');
    app = await makeApp({ SESSION_URL: session.url, FRONTEND_URL: 'http://127.0.0.1:5173' });
  });
  afterAll(async () => {
    await app.close();
    await session.close();
  });

  it('answers 405 with Allow listing the methods of that path, in the common error shape', async () => {
    const cases: Array<[string, string, string]> = [
      ['PATCH', '/onboarding/business-hours', 'GET, HEAD, PUT, DELETE'],
      ['POST', '/onboarding/status?x=1', 'GET, HEAD'],
      ['GET', '/onboarding/start', 'POST'],
      ['DELETE', '/onboarding/session/0b6f5a8e-1d2c-4e3f-9a8b-7c6d5e4f3a2b', 'GET, HEAD'],
      // Two catalog patterns match this path: the step configuration (GET) and a step save (PUT).
      ['DELETE', '/onboarding/step/company_info/configuration', 'GET, HEAD, PUT'],
      ['POST', '/health/live', 'GET, HEAD'],
    ];
    for (const [method, url, allow] of cases) {
      const res = await app.inject({ method: method as 'GET', url, headers: bearer() });
      expect(res.statusCode, `${method} ${url}`).toBe(405);
      expect(res.headers.allow).toBe(allow);
      const path = url.split('?')[0];
      expect(res.json()).toEqual({
        statusCode: 405,
        code: 'GATEWAY_METHOD_NOT_ALLOWED',
        error: 'Method Not Allowed',
        message: `Method ${method} is not allowed on ${path}; it answers to ${allow}`,
      });
    }
    expect(session.received).toHaveLength(0);
  });

  it('an empty id is a path no route has: 404 for every method, never forwarded, whatever its Content-Type', async () => {
    const forwardedBefore = session.received.length;
    for (const [method, url] of [
      ['GET', '/onboarding/session/'],
      ['PATCH', '/onboarding/session/'],
      ['POST', '/onboarding/resume/'],
      ['TRACE', '/onboarding/flows//publish'],
      ['POST', '/onboarding/skip/s1/'],
    ] as const) {
      const res = await app.inject({
        method,
        url,
        headers: { ...bearer(), 'content-type': '' },
        payload: method === 'GET' || method === 'TRACE' ? undefined : '{}',
      });
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(res.json(), `${method} ${url}`).toMatchObject({ code: 'GATEWAY_ROUTE_NOT_FOUND' });
      expect(res.headers.allow).toBeUndefined();
    }
    // (The gateway may read the service's route manifest meanwhile: that is no forwarded request.)
    expect(session.received.slice(forwardedBefore).filter((r) => r.url !== '/routes/manifest')).toEqual([]);
  });

  it('a malformed Content-Type: 404/405 where no route or method is, else 415 in the common shape', async () => {
    const headers = { ...bearer(), 'content-type': '' };
    expect((await app.inject({ method: 'DELETE', url: '/onboarding/statistics/cohorts', headers, payload: 'x' })).statusCode).toBe(405);
    expect((await app.inject({ method: 'POST', url: '/onboarding/nowhere', headers, payload: 'x' })).statusCode).toBe(404);
    const res = await app.inject({ method: 'POST', url: '/onboarding/start', headers, payload: '{}' });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ statusCode: 415, code: 'REQUEST_MEDIA_TYPE_UNSUPPORTED', error: 'Unsupported Media Type' });
  });

  it('a URL that is not percent-encoded UTF-8: 400 GATEWAY_URL_MALFORMED', async () => {
    const res = await app.inject({ method: 'GET', url: '/onboarding/validate-step/%E0%A4%A', headers: bearer() });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, code: 'GATEWAY_URL_MALFORMED' });
  });

  it('answers a HEAD on a POST-only path with 405 and no body', async () => {
    const res = await app.inject({ method: 'HEAD', url: '/onboarding/start', headers: bearer() });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('POST');
    expect(res.body).toBe('');
  });

  it('still answers 404 for unknown paths, trailing slashes and sub-paths', async () => {
    for (const url of ['/nope', '/onboarding/status/', '/onboarding/business-hours/extra', '/onboarding/session/a/b']) {
      const res = await app.inject({ method: 'PATCH', url, headers: bearer() });
      expect(res.statusCode, url).toBe(404);
      expect(res.headers.allow).toBeUndefined();
      expect(res.json()).toMatchObject({ statusCode: 404, code: 'GATEWAY_ROUTE_NOT_FOUND' });
    }
  });

  it('keeps HEAD on a GET route, preflights and the refusal of a bare OPTIONS as they were', async () => {
    const head = await app.inject({ method: 'HEAD', url: '/onboarding/status', headers: bearer() });
    expect(head.statusCode).toBe(201);
    expect(head.headers['x-upstream']).toBe('session');
    expect(head.body).toBe('');
    expect(session.received.at(-1)).toMatchObject({ method: 'HEAD', url: '/onboarding/status' });

    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/onboarding/status',
      headers: { origin: 'http://127.0.0.1:5173', 'access-control-request-method': 'GET' },
    });
    expect(preflight.statusCode).toBe(204);

    const bare = await app.inject({ method: 'OPTIONS', url: '/onboarding/status' });
    expect(bare.statusCode).toBe(400);
    expect(bare.json()).toMatchObject({ code: 'GATEWAY_INVALID_PREFLIGHT' });
  });
});

describe('the not-found handler', () => {
  it('rate-limits 405 and 404 answers like any other request', async () => {
    const app = await makeApp({ RATE_LIMIT_MAX: '2' });
    try {
      const codes = [];
      for (const url of ['/onboarding/start', '/nope', '/onboarding/start']) codes.push((await app.inject({ method: 'GET', url })).statusCode);
      expect(codes).toEqual([405, 404, 429]);
    } finally {
      await app.close();
    }
  });
});
