import { createHmac } from 'node:crypto';
import net from 'node:net';
import { mintToken } from '@glavito/auth';
import { TEST_JWT_SECRET } from '@glavito/testkit';
import Fastify from 'fastify';
import { buildApp } from '../src/app.js';
import { ConfigSchema, type GatewayConfig } from '../src/config.js';

export function makeConfig(env: Record<string, string | undefined> = {}): GatewayConfig {
  return ConfigSchema.parse({ JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent', ...env });
}

export function makeApp(env: Record<string, string | undefined> = {}) {
  return buildApp(makeConfig(env), { logger: false });
}

export function makeToken(overrides: { userId?: string; tenantId?: string; roles?: string[]; secret?: string } = {}): string {
  return mintToken({ secret: TEST_JWT_SECRET, userId: 'user-1', tenantId: 'tenant-1', roles: ['agent'], ...overrides });
}

export const bearer = (token = makeToken()) => ({ authorization: `Bearer ${token}` });

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Hand-signed HS256 tokens, for claims mintToken refuses to produce (expired, missing tenantId). */
export function signJwt(payload: Record<string, unknown>, secret = TEST_JWT_SECRET): string {
  const unsigned = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(payload)}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

export function unsignedJwt(payload: Record<string, unknown>): string {
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(payload)}.`;
}

export interface Received {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface FakeUpstream {
  url: string;
  received: Received[];
  close: () => Promise<void>;
}

/**
 * A stand-in service at the HTTP boundary: records each request and answers 201 with a marker header,
 * or the status named by an `x-fake-status` request header with an error body.
 */
export async function startUpstream(name: string, opts: { delayMs?: number } = {}): Promise<FakeUpstream> {
  const upstream = Fastify();
  const received: Received[] = [];
  upstream.removeAllContentTypeParsers();
  upstream.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  upstream.get('/health/live', async () => ({ status: 'ok' }));
  upstream.all('/*', async (request, reply) => {
    received.push({
      method: request.method,
      url: request.url,
      headers: request.headers,
      body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
    });
    if (opts.delayMs) await new Promise((resolve) => setTimeout(resolve, opts.delayMs));
    const fakeStatus = Number(request.headers['x-fake-status']);
    if (fakeStatus) {
      return reply.code(fakeStatus).header('retry-after', '7').send({ statusCode: fakeStatus, code: 'FAKE_ERROR', error: 'Fake', message: name });
    }
    return reply.code(201).header('x-upstream', name).header('content-type', 'application/json').send({ service: name, n: received.length });
  });
  const address = await upstream.listen({ host: '127.0.0.1', port: 0 });
  return { url: address, received, close: () => upstream.close() };
}

/** A URL on which nothing listens: a port that was just bound and released. */
export async function deadUrl(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
