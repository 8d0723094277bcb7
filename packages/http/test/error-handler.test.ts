import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { installErrorHandlers } from '../src/index.js';

async function appThrowing(error: Error) {
  const app = Fastify({ logger: false });
  installErrorHandlers(app, { service: 'test' });
  app.get('/boom', async () => {
    throw error;
  });
  return app;
}

describe('root error handler', () => {
  it('maps a database outage to 503 with Retry-After, not 500', async () => {
    for (const err of [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), new Error('Connection terminated unexpectedly'), Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })]) {
      const r = await (await appThrowing(err)).inject({ method: 'GET', url: '/boom' });
      expect(r.statusCode).toBe(503);
      expect(r.headers['retry-after']).toBe('2');
      expect(r.json()).toMatchObject({ code: 'SERVICE_DEPENDENCY_UNAVAILABLE' });
    }
  });

  it('hides the internals of other server errors', async () => {
    const r = await (await appThrowing(new Error('secret internals'))).inject({ method: 'GET', url: '/boom' });
    expect(r.statusCode).toBe(500);
    expect(r.body).not.toContain('secret internals');
  });

  it('answers unknown routes with the error shape', async () => {
    const r = await (await appThrowing(new Error('x'))).inject({ method: 'GET', url: '/nope' });
    expect(r.json()).toMatchObject({ statusCode: 404, code: 'ROUTE_NOT_FOUND' });
  });
});
