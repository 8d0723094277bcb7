import http from 'node:http';
import type { AddressInfo } from 'node:net';
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
    for (const err of [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      new Error('Connection terminated unexpectedly'),
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
    ]) {
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

describe('a body over the limit', () => {
  it('answers 413 to a client still uploading and keeps its connection (the gateway forwarding a big body saw a reset, answered 503)', async () => {
    const app = Fastify({ logger: false, bodyLimit: 1024 });
    installErrorHandlers(app, { service: 'test' });
    app.post('/echo', async () => ({ ok: true }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const post = (body: Buffer) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port, method: 'POST', path: '/echo', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode!));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const sockets = new Set<unknown>();
    agent.on('free', (socket) => sockets.add(socket));
    try {
      for (let i = 0; i < 3; i++) expect(await post(Buffer.alloc(4 * 1024 * 1024, 0x61))).toBe(413);
      expect(await post(Buffer.from('{}'))).toBe(200);
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
      await app.close();
    }
  });
});
