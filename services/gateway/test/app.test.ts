import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { MAX_PARAM_LENGTH } from '@glavito/contracts';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bearer, deadUrl, type FakeUpstream, makeApp, makeToken, startUpstream } from './helpers.js';

/**
 * Eight raw clients each send `head` with a 4 MB body that follows once the gateway has already refused the
 * request; each resolves with the first bytes of its answer, or the socket error that cut it off.
 */
function refusedUploads(port: number, head: string): Promise<string[]> {
  return Promise.all(
    Array.from(
      { length: 8 },
      () =>
        new Promise<string>((resolve) => {
          const socket = net.connect(port, '127.0.0.1');
          let answer = '';
          socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
          socket.on('error', (err: NodeJS.ErrnoException) => resolve(`${err.code} after ${JSON.stringify(answer.slice(0, 12))}`));
          socket.on('close', () => resolve(answer.slice(0, 12)));
          const body = Buffer.alloc(4 * 1024 * 1024, 0x61);
          socket.write(`${head}\r\nContent-Length: ${body.length}\r\n\r\n`);
          setTimeout(() => socket.end(body), 50);
        }),
    ),
  );
}

describe('edge protections', () => {
  let session: FakeUpstream;
  let app: FastifyInstance;

  beforeAll(async () => {
    session = await startUpstream('session');
  });
  afterEach(async () => {
    await app?.close();
  });
  afterAll(async () => {
    await session.close();
  });

  it('answers 413 to a body over BODY_LIMIT_BYTES', async () => {
    app = await makeApp({ SESSION_URL: session.url, BODY_LIMIT_BYTES: '1024' });
    const res = await app.inject({
      method: 'POST',
      url: '/onboarding/start',
      headers: { ...bearer(), 'content-type': 'application/json' },
      payload: JSON.stringify({ metadata: { note: 'x'.repeat(2048) } }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ statusCode: 413, code: 'GATEWAY_BODY_TOO_LARGE', error: 'Payload Too Large' });
    expect(session.received).toHaveLength(0);
  });

  it('lets a client finish an oversized upload, answers 413, and keeps the connection for the next request', async () => {
    app = await makeApp({ SESSION_URL: session.url, BODY_LIMIT_BYTES: '1024' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const post = (body: Buffer, chunked = false) =>
      new Promise<{ status: number; code: string }>((resolve, reject) => {
        const framing = chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': body.length };
        const req = http.request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/onboarding/start',
            agent,
            headers: { ...bearer(), 'content-type': 'application/json', ...framing },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode!, code: (JSON.parse(Buffer.concat(chunks).toString()) as { code?: string }).code ?? '' }));
          },
        );
        req.on('error', reject);
        if (!chunked) return void req.end(body);
        const pieces = Array.from({ length: 16 }, (_, k) => body.subarray((k * body.length) / 16, ((k + 1) * body.length) / 16));
        const next = () => {
          const piece = pieces.shift();
          if (!piece) return void req.end();
          req.write(piece);
          setTimeout(next, 5);
        };
        next();
      });
    const sockets = new Set<unknown>();
    agent.on('free', (socket) => sockets.add(socket));
    try {
      // 4 MB written in one go: without draining, the kernel resets the connection under the upload.
      for (let i = 0; i < 3; i++) expect(await post(Buffer.alloc(4 * 1024 * 1024, 0x61))).toEqual({ status: 413, code: 'GATEWAY_BODY_TOO_LARGE' });
      // The same chunked (no size announced), in pieces that keep coming after the 413 is decided.
      for (let i = 0; i < 3; i++) expect(await post(Buffer.alloc(4 * 1024 * 1024, 0x61), true)).toEqual({ status: 413, code: 'GATEWAY_BODY_TOO_LARGE' });
      expect((await post(Buffer.from('{}'))).status).toBe(201);
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  it('answers a request refused before its body is read (bad token, unknown path) with its error, not a reset connection, and keeps the connection', async () => {
    app = await makeApp({ SESSION_URL: session.url });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const post = (path: string, authorization: string | undefined, body: Buffer) =>
      new Promise<number>((resolve, reject) => {
        const headers = { 'content-type': 'application/json', 'content-length': body.length, ...(authorization ? { authorization } : {}) };
        const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, agent, headers }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        req.on('error', reject);
        req.end(body);
      });
    const sockets = new Set<unknown>();
    agent.on('free', (socket) => sockets.add(socket));
    try {
      // 2 MB (over the body limit too) written in one go while the gateway has already refused the request.
      const big = Buffer.alloc(2 * 1024 * 1024, 0x61);
      for (let i = 0; i < 3; i++) {
        expect(await post('/onboarding/resume/s1', 'Bearer not-a-token', big)).toBe(401);
        expect(await post('/onboarding/resume/s1', undefined, big)).toBe(401);
      }
      expect(await post('/onboarding/start', bearer().authorization, Buffer.from('{}'))).toBe(201);
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  it('answers headers too large for the parser with 431, also to a client still sending its body (the fuzz suite once saw EPIPE instead)', async () => {
    app = await makeApp({ SESSION_URL: session.url });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const outcomes = await refusedUploads(
      port,
      `POST /onboarding/resume/s1?data=${'%5B'.repeat(20_000)} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json`,
    );
    expect(outcomes).toEqual(Array(8).fill('HTTP/1.1 431'));
  });

  it('answers a refused WebSocket upgrade that carries a body with its 404, not a reset connection', async () => {
    app = await makeApp({ SESSION_URL: session.url });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const outcomes = await refusedUploads(port, 'POST /onboarding/x HTTP/1.1\r\nHost: gw\r\nConnection: upgrade\r\nUpgrade: websocket');
    expect(outcomes).toEqual(Array(8).fill('HTTP/1.1 404'));
  });

  it('refuses an upgrade elsewhere than GET /onboarding as the OpenAPI document says: 404, 405 with Allow, or 400', async () => {
    app = await makeApp({ SESSION_URL: session.url });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const ask = (line: string) =>
      new Promise<string>((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        let answer = '';
        socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
        socket.on('close', () => resolve(answer));
        socket.on('error', () => resolve(answer));
        socket.write(`${line} HTTP/1.1\r\nHost: gw\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n`);
      });
    const codeOf = (answer: string) => (JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { code: string }).code;
    const missing = await ask('GET /onboarding/nowhere');
    expect([missing.slice(0, 12), codeOf(missing)]).toEqual(['HTTP/1.1 404', 'GATEWAY_ROUTE_NOT_FOUND']);
    const otherMethod = await ask('DELETE /onboarding/business-hours/check');
    expect([otherMethod.slice(0, 12), codeOf(otherMethod)]).toEqual(['HTTP/1.1 405', 'GATEWAY_METHOD_NOT_ALLOWED']);
    expect(otherMethod).toMatch(/\r\nAllow: GET, HEAD\r\n/);
    const longId = await ask(`POST /onboarding/validate-step/${'a'.repeat(MAX_PARAM_LENGTH + 1)}`);
    expect([longId.slice(0, 12), codeOf(longId)]).toEqual(['HTTP/1.1 414', 'GATEWAY_URL_TOO_LONG']);
    const httpRoute = await ask('GET /onboarding/business-hours');
    expect([httpRoute.slice(0, 12), codeOf(httpRoute)]).toEqual(['HTTP/1.1 400', 'GATEWAY_MALFORMED_REQUEST']);
  });

  it('cuts off a refused WebSocket upgrade whose client never stops sending, instead of reading it forever', async () => {
    app = await makeApp({ SESSION_URL: session.url });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const started = Date.now();
    const { answer, sentBytes } = await new Promise<{ answer: string; sentBytes: number }>((resolve) => {
      // allowHalfOpen: the gateway's FIN does not end this client's side; it keeps uploading like an abuser would.
      const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      let answer = '';
      let sentBytes = 0;
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      // Writes as fast as the gateway reads, for as long as the connection lives.
      const pump = () => {
        while (!socket.destroyed && socket.write(chunk)) sentBytes += chunk.length;
        sentBytes += chunk.length;
      };
      socket.on('drain', pump);
      socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
      socket.on('error', () => {});
      socket.on('close', () => resolve({ answer, sentBytes }));
      socket.write('POST /onboarding/x HTTP/1.1\r\nHost: gw\r\nConnection: upgrade\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\n\r\n');
      pump();
    });
    expect(answer.slice(0, 12)).toBe('HTTP/1.1 404');
    // The gateway read (and dropped) the upload for its grace period, then closed the connection itself.
    expect(sentBytes).toBeGreaterThan(1024 * 1024);
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 40_000);

  it('answers a malformed HEAD without a body, also when it arrives in one chunk with the end of an earlier body', async () => {
    app = await makeApp({ SESSION_URL: session.url });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const exchange = (raw: Buffer) =>
      new Promise<string>((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        let answer = '';
        socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
        socket.on('close', () => resolve(answer));
        socket.on('error', () => resolve(answer));
        socket.end(raw);
      });
    const badHead = Buffer.concat([Buffer.from('HEAD /onboarding/'), Buffer.from([0xff, 0x01]), Buffer.from(' HTTP/1.1\r\nHost: gw\r\n\r\n')]);
    const alone = await exchange(badHead);
    expect(alone).toMatch(/^HTTP\/1\.1 400 [^\r]*\r\n/);
    expect(alone.endsWith('\r\n\r\n')).toBe(true);

    // The same HEAD read in one chunk with the tail of the previous request's body (refused, 401, before it was read).
    const afterBody = await new Promise<string>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let answer = '';
      let sentRest = false;
      socket.on('data', (d: Buffer) => {
        answer += d.toString('latin1');
        if (!sentRest && answer.includes('\r\n\r\n')) {
          sentRest = true;
          setTimeout(() => socket.end(Buffer.concat([Buffer.alloc(5_000, 0x78), badHead])), 50);
        }
      });
      socket.on('close', () => resolve(answer));
      socket.on('error', () => resolve(answer));
      socket.write(`POST /onboarding/start HTTP/1.1\r\nHost: gw\r\nContent-Type: text/plain\r\nContent-Length: 10000\r\n\r\n${'x'.repeat(5_000)}`);
    });
    const answers = afterBody.split(/(?=HTTP\/1\.1 \d{3} )/);
    expect(answers.map((a) => a.slice(9, 12))).toEqual(['401', '400']);
    expect(answers[1]!.endsWith('\r\n\r\n')).toBe(true);

    // A malformed GET still gets the error body.
    const badGet = await exchange(Buffer.concat([Buffer.from('GET /onboarding/'), Buffer.from([0xff, 0x01]), Buffer.from(' HTTP/1.1\r\nHost: gw\r\n\r\n')]));
    expect(JSON.parse(badGet.slice(badGet.indexOf('\r\n\r\n') + 4))).toMatchObject({ statusCode: 400, code: 'GATEWAY_MALFORMED_REQUEST' });
  });

  it('checks the token before reading a large body', async () => {
    app = await makeApp({ SESSION_URL: session.url, BODY_LIMIT_BYTES: '1024' });
    const res = await app.inject({ method: 'POST', url: '/onboarding/start', headers: { 'content-type': 'application/json' }, payload: 'x'.repeat(2048) });
    expect(res.statusCode).toBe(401);
  });

  it('answers 429 with Retry-After after RATE_LIMIT_MAX requests, per user', async () => {
    app = await makeApp({ RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW: '1m' });
    const alice = bearer(makeToken({ userId: 'alice' }));
    for (let i = 0; i < 3; i++) {
      const res = await app.inject({ method: 'GET', url: '/onboarding/status', headers: alice });
      expect(res.statusCode).toBe(503);
    }
    const limited = await app.inject({ method: 'GET', url: '/onboarding/status', headers: alice });
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.json()).toMatchObject({ statusCode: 429, code: 'GATEWAY_RATE_LIMITED', error: 'Too Many Requests' });

    const bob = await app.inject({ method: 'GET', url: '/onboarding/status', headers: bearer(makeToken({ userId: 'bob' })) });
    expect(bob.statusCode).toBe(503);
    const live = await app.inject({ method: 'GET', url: '/health/live' });
    expect(live.statusCode).toBe(200);
  });

  it('rate-limits callers without a valid token by IP', async () => {
    app = await makeApp({ RATE_LIMIT_MAX: '2' });
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await app.inject({ method: 'GET', url: '/onboarding/status', headers: bearer('bad.token.value') })).statusCode);
    expect(codes).toEqual([401, 401, 429]);
  });

  it('allows CORS preflights from FRONTEND_URL only, without credentials', async () => {
    app = await makeApp({ FRONTEND_URL: 'https://app.example.com, http://localhost:5173' });
    const preflight = (origin: string) =>
      app.inject({
        method: 'OPTIONS',
        url: '/onboarding/start',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });

    const allowed = await preflight('http://localhost:5173');
    expect(allowed.statusCode).toBe(204);
    expect(allowed.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    // Bearer tokens, no cookies: nothing to allow credentials for.
    expect(allowed.headers['access-control-allow-credentials']).toBeUndefined();
    expect(String(allowed.headers['access-control-allow-methods'])).toContain('POST');

    const denied = await preflight('https://evil.example.com');
    expect(denied.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('sets security headers and echoes the request id', async () => {
    app = await makeApp();
    const res = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'probe-1' } });
    expect(res.headers['x-request-id']).toBe('probe-1');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
  });

  it('answers 404 with the error shape for unknown routes', async () => {
    app = await makeApp();
    const res = await app.inject({ method: 'POST', url: '/nope?token=secret', headers: { 'content-type': 'application/json' }, payload: '{bad' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ statusCode: 404, code: 'GATEWAY_ROUTE_NOT_FOUND', error: 'Not Found', message: 'Route POST /nope not found' });
  });
});

describe('root error handler', () => {
  it('hides 5xx internals', async () => {
    const app = await makeApp();
    app.get('/boom', async () => {
      throw new Error('password=hunter2 at db.internal:5432');
    });
    const res = await app.inject({ method: 'GET', url: '/boom' });
    await app.close();
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({
      statusCode: 500,
      code: 'GATEWAY_INTERNAL_ERROR',
      error: 'Internal Server Error',
      message: 'The gateway failed to handle this request',
    });
  });
});

describe('health', () => {
  it('is live without auth, and stays ready (degraded) when an upstream is down', async () => {
    const session = await startUpstream('session');
    const up = await makeApp({ SESSION_URL: session.url });
    const down = await makeApp({ SESSION_URL: session.url, PROGRESS_URL: await deadUrl() });
    try {
      expect((await up.inject({ method: 'GET', url: '/health/live' })).json()).toEqual({ status: 'ok' });

      const ready = await up.inject({ method: 'GET', url: '/health/ready' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({
        status: 'ok',
        checks: {
          session: 'ok',
          progress: 'not_deployed',
          'connection-test': 'not_deployed',
          realtime: 'not_deployed',
          payment: 'not_deployed',
          notification: 'not_deployed',
          audit: 'not_deployed',
        },
      });

      const degraded = await down.inject({ method: 'GET', url: '/health/ready' });
      expect(degraded.statusCode).toBe(200);
      expect(degraded.json()).toMatchObject({ status: 'degraded', checks: { session: 'ok', progress: 'unavailable' } });
    } finally {
      await up.close();
      await down.close();
      await session.close();
    }
  });
});
