import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROUTES, SessionWithProgressSchema, computeProgress, type Session } from '@glavito/contracts';
import { afterAll, beforeAll, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { createClient, GlavitoApiError, GlavitoError, GlavitoNetworkError, GlavitoResponseError, type RouteResponse, type StepData } from '../src/index.js';
import { validateResponses } from '../src/validate.js';
import { buildPath, buildQuery, joinUrl } from '../src/url.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A local server at the HTTP boundary: records each request and answers with the next canned reply. */
const seen: Seen[] = [];
let reply: { status: number; body: unknown; raw?: string; headers?: Record<string, string>; delayMs?: number } = { status: 200, body: {} };
let server: http.Server;
let baseUrl: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const send = () => {
        res.writeHead(reply.status, { 'content-type': reply.raw !== undefined ? 'text/plain' : 'application/json', 'x-request-id': 'req-1', ...reply.headers });
        res.end(reply.raw ?? JSON.stringify(reply.body));
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  seen.length = 0;
  reply = { status: 200, body: {} };
});

const last = () => seen.at(-1)!;
const now = new Date().toISOString();
const session: Session = {
  id: 's1',
  tenantId: 't1',
  userId: 'u1',
  type: 'tenant_setup',
  role: 'tenant_admin',
  status: 'active',
  currentStep: 'organization_setup',
  completedSteps: ['welcome'],
  skippedSteps: [],
  stepData: {},
  metadata: {},
  version: 1,
  startedAt: now,
  lastActivityAt: now,
  completedAt: null,
  estimatedCompletion: null,
};
const progress = computeProgress('tenant_setup', session);

describe('url building', () => {
  it('substitutes and URL-encodes path params, refuses missing ones and dot segments', () => {
    expect(buildPath('/onboarding/step/:sessionId/:stepId', { sessionId: 's 1', stepId: 'a/b?c#d' })).toBe('/onboarding/step/s%201/a%2Fb%3Fc%23d');
    expect(() => buildPath('/onboarding/session/:sessionId', {})).toThrow(/missing path parameter "sessionId"/);
    expect(() => buildPath('/onboarding/step/:stepId/configuration', { stepId: '..' })).toThrow(TypeError);
  });

  it('serializes queries: skips undefined/null, repeats arrays, ISO dates', () => {
    expect(buildQuery({ type: 'tenant_setup', from: undefined, to: null })).toBe('?type=tenant_setup');
    expect(buildQuery({ a: ['x', 'y'], at: new Date('2025-01-02T03:04:05.000Z'), n: 5, b: true })).toBe('?a=x&a=y&at=2025-01-02T03%3A04%3A05.000Z&n=5&b=true');
    expect(buildQuery({ data: '{"k":"v w"}' })).toBe('?data=%7B%22k%22%3A%22v+w%22%7D');
    expect(buildQuery(undefined)).toBe('');
  });

  it('joins a base URL with a path prefix and trailing slashes', () => {
    expect(joinUrl('https://api.test/gw/', '/onboarding/status')).toBe('https://api.test/gw/onboarding/status');
  });
});

describe('createClient', () => {
  it('has exactly one method per route of the catalog', () => {
    const client = createClient({ baseUrl, token: 't' });
    expect(Object.keys(client).sort()).toEqual(Object.keys(ROUTES).sort());
    for (const name of Object.keys(ROUTES)) expect(typeof client[name as keyof typeof client]).toBe('function');
  });

  it('PUT saveStep: params in the path, JSON body, bearer token, correlation id; returns the parsed body', async () => {
    reply = { status: 200, body: { session, progress, nextStep: 'channel_configuration', warnings: [] } };
    const client = createClient({ baseUrl: `${baseUrl}/`, token: 'tok-1' });
    const saved = await client.saveStep(
      { sessionId: 's1', stepId: 'organization_setup' },
      { companyName: 'Acme', primaryColor: '#112233' },
      { correlationId: 'corr-9' },
    );
    expect(last()).toMatchObject({ method: 'PUT', url: '/onboarding/step/s1/organization_setup', body: '{"companyName":"Acme","primaryColor":"#112233"}' });
    expect(last().headers).toMatchObject({
      authorization: 'Bearer tok-1',
      'content-type': 'application/json',
      'x-correlation-id': 'corr-9',
      accept: 'application/json',
    });
    expect(saved.nextStep).toBe('channel_configuration');
    expectTypeOf(saved.session.completedSteps).toEqualTypeOf<string[]>();
  });

  it('GET with a query and no body; POST without body sends no content-type', async () => {
    reply = { status: 200, body: { totalSessions: 0 } };
    const client = createClient({ baseUrl, token: 'tok' });
    await client.statistics({ type: 'agent_welcome', from: '2025-01-01T00:00:00Z' });
    expect(last()).toMatchObject({ method: 'GET', url: '/onboarding/statistics?type=agent_welcome&from=2025-01-01T00%3A00%3A00Z', body: '' });
    await client.statistics();
    expect(last().url).toBe('/onboarding/statistics');
    reply = { status: 200, body: { success: true } };
    await client.complete({ sessionId: 's1' }, { force: 'true' });
    expect(last()).toMatchObject({ method: 'POST', url: '/onboarding/complete/s1?force=true', body: '' });
    expect(last().headers['content-type']).toBeUndefined();
    await client.start();
    expect(last()).toMatchObject({ method: 'POST', url: '/onboarding/start', body: '' });
    await client.validateStepPost({ stepId: 'profile_setup' }, { displayName: 'Ann', timezone: 'Europe/Paris' }, { type: 'agent_welcome' });
    expect(last()).toMatchObject({
      url: '/onboarding/validate-step/profile_setup?type=agent_welcome',
      body: '{"displayName":"Ann","timezone":"Europe/Paris"}',
    });
    await client.validateStepGet({ stepId: 'organization_setup' }, { data: { companyName: 'X', primaryColor: '#000000' } });
    expect(last()).toMatchObject({
      method: 'GET',
      url: `/onboarding/validate-step/organization_setup?data=${encodeURIComponent('{"companyName":"X","primaryColor":"#000000"}')}`,
      body: '',
    });
  });

  it('asks a token function before every request, and uses a client-level correlation id', async () => {
    let n = 0;
    const client = createClient({ baseUrl, token: async () => `fresh-${++n}`, correlationId: () => 'corr-default' });
    await client.status();
    await client.type();
    expect(seen.map((s) => s.headers.authorization)).toEqual(['Bearer fresh-1', 'Bearer fresh-2']);
    expect(last().headers['x-correlation-id']).toBe('corr-default');
  });

  it('asks for the client’s language (Accept-Language), read before every request; a per-call header wins', async () => {
    let lang = 'fr';
    const client = createClient({ baseUrl, token: 't', language: () => lang });
    await client.languages();
    expect(last()).toMatchObject({ method: 'GET', url: '/onboarding/languages' });
    expect(last().headers['accept-language']).toBe('fr');
    lang = 'ar';
    await client.flowByType({ type: 'tenant_setup' }, { version: 2 });
    expect(last()).toMatchObject({ url: '/onboarding/flows/tenant_setup?version=2' });
    expect(last().headers['accept-language']).toBe('ar');
    await client.flowByType({ type: 'tenant_setup' }, undefined, { headers: { 'accept-language': 'es' } });
    expect(last().headers['accept-language']).toBe('es');
  });

  it('uses an injected fetch', async () => {
    const calls: string[] = [];
    const client = createClient({
      baseUrl: 'https://nowhere.test',
      token: 't',
      fetch: async (input) => {
        calls.push(String(input));
        return new Response(JSON.stringify({ userId: 'u1', connectedClients: 2 }), { status: 200 });
      },
    });
    expect(await client.userClients({ userId: 'u1' })).toEqual({ userId: 'u1', connectedClients: 2 });
    expect(calls).toEqual(['https://nowhere.test/onboarding/user-clients/u1']);
  });

  it('a non-2xx answer throws GlavitoApiError with status, code, message and details', async () => {
    const details = [{ field: 'companyName', rule: 'required', message: 'companyName is required' }];
    reply = {
      status: 422,
      body: { statusCode: 422, code: 'SESSION_STEP_DATA_INVALID', error: 'Unprocessable Entity', message: 'Step data is invalid', details },
    };
    const client = createClient({ baseUrl, token: 't' });
    // Data the server refuses although it type-checks (a colour in the wrong format).
    const err = await client.saveStep({ sessionId: 's1', stepId: 'organization_setup' }, { companyName: 'Acme', primaryColor: 'red' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GlavitoApiError);
    expect(err).toBeInstanceOf(GlavitoError);
    expect(err).toMatchObject({
      name: 'GlavitoApiError',
      status: 422,
      code: 'SESSION_STEP_DATA_INVALID',
      message: 'Step data is invalid',
      details,
      route: 'saveStep',
      requestId: 'req-1',
    });
  });

  it('a non-2xx answer that is not our error shape still yields a GlavitoApiError', async () => {
    reply = { status: 502, body: null, raw: 'upstream exploded' };
    const client = createClient({ baseUrl, token: 't' });
    const err = await client.status().catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'GlavitoApiError', status: 502, code: 'HTTP_502', message: 'upstream exploded', body: 'upstream exploded' });
  });

  it('no answer at all is a GlavitoNetworkError, a timeout too (flagged), a caller abort stays an AbortError', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await createClient({ baseUrl: `http://127.0.0.1:${port}`, token: 't' })
      .status()
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GlavitoNetworkError);
    expect(refused).not.toBeInstanceOf(GlavitoApiError);
    expect(refused).toMatchObject({ route: 'status', timedOut: false });

    reply = { status: 200, body: {}, delayMs: 500 };
    const slow = await createClient({ baseUrl, token: 't', timeoutMs: 50 })
      .status()
      .catch((e: unknown) => e);
    expect(slow).toMatchObject({ name: 'GlavitoNetworkError', timedOut: true });

    const controller = new AbortController();
    const pendingCall = createClient({ baseUrl, token: 't' })
      .status({ signal: controller.signal })
      .catch((e: unknown) => e);
    controller.abort();
    expect(await pendingCall).toMatchObject({ name: 'AbortError' });
  });

  it('validateResponses (from @glavito/client/validate): a body that breaks its contract throws GlavitoResponseError; off by default', async () => {
    reply = { status: 201, body: { session: { id: 's1' }, progress } };
    const loose = await createClient({ baseUrl, token: 't' }).start({});
    expect(loose).toEqual({ session: { id: 's1' }, progress });
    const err = await createClient({ baseUrl, token: 't', validateResponses })
      .start({})
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GlavitoResponseError);
    expect((err as Error).message).toMatch(/start: the response breaks its contract \(session\.tenantId/);

    reply = { status: 201, body: { session: { ...session, extra: 'dropped' }, progress } };
    const strict = await createClient({ baseUrl, token: 't', validateResponses }).start({ type: 'tenant_setup' });
    expect(strict).toEqual(SessionWithProgressSchema.parse(reply.body));
    expect(last().body).toBe('{"type":"tenant_setup"}');

    // The boolean of earlier versions fails loudly instead of silently validating nothing.
    expect(() => createClient({ baseUrl, token: 't', validateResponses: true as never })).toThrow(/validateResponses takes a function/);
  });

  it('a 2xx answer that is not JSON is a GlavitoResponseError', async () => {
    reply = { status: 200, body: null, raw: '<html>' };
    await expect(createClient({ baseUrl, token: 't' }).type()).rejects.toBeInstanceOf(GlavitoResponseError);
  });

  it('infers argument and return types from the contracts', () => {
    const client = createClient({ baseUrl, token: 't' });
    expectTypeOf<RouteResponse<'progress'>>().toHaveProperty('milestones');
    expectTypeOf(client.getSession).parameter(0).toEqualTypeOf<{ sessionId: string }>();
    expectTypeOf(client.statistics)
      .parameter(0)
      .toEqualTypeOf<
        { type?: 'tenant_setup' | 'agent_welcome' | undefined; from?: string | undefined; to?: string | undefined; flowVersion?: unknown } | undefined
      >();
    expectTypeOf<StepData<'organization_setup'>>().toHaveProperty('companyName');
    expectTypeOf<StepData<'welcome'>>().toEqualTypeOf<{ acknowledged?: boolean | undefined; goals?: string[] | undefined }>();
    // @ts-expect-error a route with path params needs them
    void (() => client.getSession());
    // @ts-expect-error saveStep needs its body
    void (() => client.saveStep({ sessionId: 's', stepId: 'organization_setup' }));
    // @ts-expect-error an unknown step id (test/types.test.ts checks the diagnostics themselves)
    void (() => client.saveStep({ sessionId: 's', stepId: 'organisation_setup' }, {}));
  });
});
