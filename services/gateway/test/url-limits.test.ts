import { ErrorBodySchema, MAX_PARAM_LENGTH, MAX_URL_LENGTH } from '@glavito/contracts';
import { createServiceApp } from '@glavito/http/service-app';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, makeApp } from './helpers.js';

// The gateway and a service answer an over-long id or URL alike: 414, one ErrorBody shape, the code naming who refused.
describe('URL limits at the gateway and at a service', () => {
  let gateway: FastifyInstance;
  let service: FastifyInstance;
  beforeAll(async () => {
    gateway = await makeApp({ SESSION_URL: 'http://127.0.0.1:9' });
    service = await createServiceApp({ service: 'limits-test', logLevel: 'silent', logger: false });
    service.get('/onboarding/session/:sessionId', async (request) => ({ id: (request.params as { sessionId: string }).sessionId }));
    await service.ready();
  });
  afterAll(async () => {
    await gateway?.close();
    await service?.close();
  });

  const answer = async (app: FastifyInstance, url: string) => {
    const res = await app.inject({ method: 'GET', url, headers: bearer() });
    return { status: res.statusCode, body: ErrorBodySchema.parse(res.json()) };
  };

  it('a path parameter one character over MAX_PARAM_LENGTH: 414 at both, in the same shape', async () => {
    const url = `/onboarding/session/${'a'.repeat(MAX_PARAM_LENGTH + 1)}`;
    const atGateway = await answer(gateway, url);
    const atService = await answer(service, url);
    expect(atGateway).toMatchObject({ status: 414, body: { statusCode: 414, code: 'GATEWAY_URL_TOO_LONG', error: 'URI Too Long' } });
    expect(atService).toMatchObject({ status: 414, body: { statusCode: 414, code: 'REQUEST_URL_TOO_LONG', error: 'URI Too Long' } });
    expect(Object.keys(atGateway.body).sort()).toEqual(Object.keys(atService.body).sort());
    // At the limit it is an id like any other (the service answers; the gateway forwards: 503 here, nothing listens).
    expect((await service.inject({ method: 'GET', url: `/onboarding/session/${'a'.repeat(MAX_PARAM_LENGTH)}` })).statusCode).toBe(200);
  });

  it(`a request target over ${MAX_URL_LENGTH} characters: 414 at both, before the token is checked`, async () => {
    const url = `/onboarding/validate-step/welcome?data=${'x'.repeat(MAX_URL_LENGTH)}`;
    const noToken = await gateway.inject({ method: 'GET', url });
    expect(noToken.statusCode).toBe(414);
    expect(ErrorBodySchema.parse(noToken.json()).code).toBe('GATEWAY_URL_TOO_LONG');
    expect((await answer(service, `/onboarding/session/x?pad=${'x'.repeat(MAX_URL_LENGTH)}`)).body).toMatchObject({
      statusCode: 414,
      code: 'REQUEST_URL_TOO_LONG',
    });
  });
});
