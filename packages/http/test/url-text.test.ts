import { ErrorBodySchema } from '@glavito/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { createServiceApp } from '../src/service-app.js';

describe('text no table can store, in a path parameter or a query value', () => {
  let app: Awaited<ReturnType<typeof createServiceApp>>;
  beforeAll(async () => {
    app = await createServiceApp({ service: 'url-text-test', logLevel: 'silent', logger: false });
    const typed = app.withTypeProvider<ZodTypeProvider>();
    typed.get('/things/:id', { schema: { params: z.object({ id: z.string() }), querystring: z.object({ q: z.string().optional() }) } }, async (request) => ({
      id: request.params.id,
    }));
    typed.get('/plain', async () => ({ ok: true }));
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
  });

  it.each([
    ['/things/a%00b', 'params.id'],
    ['/things/a?q=x%00', 'querystring.q'],
  ])('%s: 400 REQUEST_TEXT_UNSUPPORTED naming %s', async (url, field) => {
    const res = await app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(400);
    expect(ErrorBodySchema.parse(res.json())).toMatchObject({ code: 'REQUEST_TEXT_UNSUPPORTED', details: [{ field, rule: 'storable_text' }] });
  });

  it('leaves the query of a route that reads none alone, and ordinary text through', async () => {
    expect((await app.inject({ method: 'GET', url: '/plain?cursor=%00' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/things/caf%C3%A9?q=%F0%9F%98%80' })).json()).toEqual({ id: 'café' });
  });
});
