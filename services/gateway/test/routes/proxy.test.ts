import { ROUTES } from '@glavito/contracts';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, deadUrl, type FakeUpstream, makeApp, makeToken, startUpstream } from '../helpers.js';

describe('forwarding', () => {
  let session: FakeUpstream;
  let progress: FakeUpstream;
  let app: FastifyInstance;

  beforeAll(async () => {
    session = await startUpstream('session');
    progress = await startUpstream('progress');
    app = await makeApp({ SESSION_URL: session.url, PROGRESS_URL: progress.url, CONNECTION_TEST_URL: await deadUrl() });
  });
  afterAll(async () => {
    await app.close();
    await session.close();
    await progress.close();
  });

  it('forwards method, path, query, raw body bytes and identity headers, and returns the upstream answer', async () => {
    const token = makeToken();
    // Not canonical JSON (spacing, key order, unicode escape): it must arrive byte for byte.
    const payload = Buffer.from('{ "b": 1,   "a": "\\u00e9" }\n');
    const res = await app.inject({
      method: 'PUT',
      url: '/onboarding/step/sess-1/company_info?dryRun=1&x=a%20b',
      headers: {
        ...bearer(token),
        'content-type': 'application/json; charset=utf-8',
        'x-request-id': 'req-abc',
        'x-correlation-id': 'corr-xyz',
      },
      payload,
    });

    expect(res.statusCode).toBe(201);
    expect(res.headers['x-upstream']).toBe('session');
    expect(res.headers['x-request-id']).toBe('req-abc');
    expect(res.json()).toEqual({ service: 'session', n: 1 });

    const got = session.received.at(-1)!;
    expect(got.method).toBe('PUT');
    expect(got.url).toBe('/onboarding/step/sess-1/company_info?dryRun=1&x=a%20b');
    expect(got.body.equals(payload)).toBe(true);
    expect(got.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(got.headers.authorization).toBe(`Bearer ${token}`);
    expect(got.headers['x-request-id']).toBe('req-abc');
    expect(got.headers['x-correlation-id']).toBe('corr-xyz');
  });

  it('does not parse or validate JSON at the edge', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/onboarding/start',
      headers: { ...bearer(), 'content-type': 'application/json' },
      payload: '{not json',
    });
    expect(res.statusCode).toBe(201);
    expect(session.received.at(-1)!.body.toString()).toBe('{not json');
  });

  it('generates a request id, uses it as correlation id when none (or an insane one) comes in', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/onboarding/progress/sess-1',
      headers: { ...bearer(), 'x-request-id': 'bad id with spaces', 'x-correlation-id': '<script>' },
    });
    expect(res.statusCode).toBe(201);
    const id = res.headers['x-request-id'];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const got = progress.received.at(-1)!;
    expect(got.method).toBe('GET');
    expect(got.url).toBe('/onboarding/progress/sess-1');
    expect(got.headers['x-request-id']).toBe(id);
    expect(got.headers['x-correlation-id']).toBe(id);
    expect(got.body.length).toBe(0);
  });

  it('forwards bodyless POST and DELETE', async () => {
    const pause = await app.inject({ method: 'POST', url: '/onboarding/pause/sess-1', headers: bearer() });
    expect(pause.statusCode).toBe(201);
    expect(session.received.at(-1)!).toMatchObject({ method: 'POST', url: '/onboarding/pause/sess-1' });

    const del = await app.inject({ method: 'DELETE', url: '/onboarding/business-hours', headers: bearer(makeToken({ roles: ['admin'] })) });
    expect(del.statusCode).toBe(201);
    expect(session.received.at(-1)!).toMatchObject({ method: 'DELETE', url: '/onboarding/business-hours' });
  });

  it("returns the upstream's error answers unchanged and never retries them", async () => {
    const before = progress.received.length;
    const res = await app.inject({ method: 'GET', url: '/onboarding/progress/sess-1', headers: { ...bearer(), 'x-fake-status': '503' } });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.json()).toEqual({ statusCode: 503, code: 'FAKE_ERROR', error: 'Fake', message: 'progress' });
    expect(progress.received.length).toBe(before + 1);

    const conflict = await app.inject({ method: 'POST', url: '/onboarding/resume/sess-1', headers: { ...bearer(), 'x-fake-status': '409' } });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json()).toMatchObject({ code: 'FAKE_ERROR' });
  });

  it('forwards a body without content-type as raw bytes, and drops a body sent with GET', async () => {
    await app.inject({ method: 'POST', url: '/onboarding/agent-welcome/start', headers: bearer(), payload: Buffer.from('raw-bytes') });
    const post = session.received.at(-1)!;
    expect(post.body.toString()).toBe('raw-bytes');
    expect(post.headers['content-type']).toBe('application/octet-stream');

    const res = await app.inject({
      method: 'GET',
      url: '/onboarding/type',
      headers: { ...bearer(), 'content-type': 'application/json' },
      payload: '{"ignored":true}',
    });
    expect(res.statusCode).toBe(201);
    expect(session.received.at(-1)!).toMatchObject({ method: 'GET', url: '/onboarding/type' });
    expect(session.received.at(-1)!.body.length).toBe(0);
  });

  it('answers 503 naming a service that is not deployed', async () => {
    const res = await app.inject({ method: 'GET', url: '/onboarding/session-clients/sess-1', headers: bearer() });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({
      statusCode: 503,
      code: 'GATEWAY_SERVICE_UNAVAILABLE',
      error: 'Service Unavailable',
      message: 'The realtime service is not deployed yet',
    });
  });

  it('answers 503 naming a configured service that refuses connections', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/onboarding/validate-connection-config',
      headers: { ...bearer(), 'content-type': 'application/json' },
      payload: { channel: 'slack', config: {} },
    });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({
      statusCode: 503,
      code: 'GATEWAY_SERVICE_UNAVAILABLE',
      error: 'Service Unavailable',
      message: 'The connection-test service is unavailable',
    });
  });

  it('registers every route of the catalog', () => {
    for (const route of Object.values(ROUTES)) {
      expect(app.hasRoute({ method: route.method, url: route.url }), `${route.method} ${route.url}`).toBe(true);
    }
  });
});

describe('a slow upstream', () => {
  it('answers 504 after UPSTREAM_TIMEOUT_MS', async () => {
    // undici checks its timeouts on a coarse (about 1 s) clock, so the upstream must stall well beyond that.
    const slow = await startUpstream('progress', { delayMs: 3000 });
    const app = await makeApp({ PROGRESS_URL: slow.url, UPSTREAM_TIMEOUT_MS: '100' });
    try {
      const res = await app.inject({ method: 'GET', url: '/onboarding/progress/sess-1', headers: bearer() });
      expect(res.statusCode).toBe(504);
      expect(res.json()).toMatchObject({ code: 'GATEWAY_UPSTREAM_TIMEOUT', error: 'Gateway Timeout', message: 'The progress service did not answer in time' });
    } finally {
      await app.close();
      await slow.close();
    }
  });
});
