import type { IncomingHttpHeaders } from 'node:http';
import { ROUTES, type RouteContract, type ServiceName } from '@glavito/contracts';
import { requestIdFrom } from '@glavito/logging';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Dispatcher, Pool } from 'undici';
import type { Upstreams } from '../config.js';
import { MalformedUrlError, ServiceNotDeployedError, ServiceUnreachableError, UpstreamTimeoutError } from '../errors.js';

export type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface ProxyRoutesOptions {
  upstreams: Upstreams;
  timeoutMs: number;
  /** Keep-alive connections per upstream service. */
  connectionsPerUpstream?: number;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) and those the proxy sets itself; never copied across. */
const NOT_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // Node has already answered `Expect: 100-continue` here.
  'expect',
  'host',
  // Recomputed from the bytes actually sent.
  'content-length',
]);

/** API answers are small JSON documents; anything bigger is a broken upstream, not a payload to relay. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

function copyHeaders(source: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const named =
    typeof source.connection === 'string'
      ? source.connection
          .toLowerCase()
          .split(',')
          .map((h) => h.trim())
      : [];
  const out: Record<string, string | string[]> = {};
  for (const name in source) {
    const value = source[name];
    if (value === undefined || NOT_FORWARDED.has(name) || named.includes(name)) continue;
    out[name] = value;
  }
  return out;
}

async function readBounded(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_RESPONSE_BYTES) throw new Error(`upstream answer larger than ${MAX_RESPONSE_BYTES} bytes`);
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/**
 * A download of unbounded size (a route flagged `streamed`), piped with backpressure and no size cap: the upstream
 * socket is read only as fast as the client takes the bytes, so memory stays flat. Fastify destroys the payload when
 * the client goes away, which aborts the undici request and closes the upstream connection: the service sees its
 * response closed and stops producing. The pool's bodyTimeout is undici's idle timer between chunks (refreshed on
 * every chunk, not armed while the body is paused by backpressure), so a long download that keeps flowing is never
 * cut; nor is it by the server, as Fastify's connectionTimeout and requestTimeout stay 0 (and Node's own
 * requestTimeout covers receiving the request only).
 */
function sendStreamed(
  reply: FastifyReply,
  statusCode: number,
  answerHeaders: Record<string, string | string[]>,
  upstream: Dispatcher.ResponseData,
): FastifyReply {
  // Chunked unless the upstream announced a length: a length we made up would lie if the upstream stops early.
  const length = upstream.headers['content-length'];
  if (length !== undefined) answerHeaders['content-length'] = length;
  return reply.code(statusCode).headers(answerHeaders).send(upstream.body);
}

const isTimeout = (err: unknown) => ['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'].includes((err as { code?: string }).code ?? '');

export type Forward = (request: FastifyRequest, reply: FastifyReply, service: ServiceName, streamed: boolean) => Promise<FastifyReply>;

/**
 * Forwards a request to a service over a keep-alive pool per service. The answer is read whole and sent in
 * one write: it is a small JSON document, and one buffer costs far fewer syscalls and stream callbacks than
 * piping (this path is the gateway's whole per-request cost, see bench/RESULTS.md). The only exception is a
 * 2xx answer of a `streamed` route (a CSV/NDJSON export), which is piped (sendStreamed).
 */
export function createForwarder(opts: ProxyRoutesOptions): { forward: Forward; close(): Promise<void> } {
  const pools = new Map<ServiceName, Pool>();
  for (const [service, base] of Object.entries(opts.upstreams) as Array<[ServiceName, string | undefined]>) {
    if (base)
      pools.set(service, new Pool(base, { connections: opts.connectionsPerUpstream ?? 128, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs }));
  }
  const forward: Forward = async (request, reply, service, streamed) => {
    const pool = pools.get(service);
    if (!pool) throw new ServiceNotDeployedError(service);
    // The upstream URL is base + path: an absolute-form target (`GET http://host/path`) would not make one.
    if (!request.url.startsWith('/')) throw new MalformedUrlError('send a path, not an absolute URL');
    const headers = copyHeaders(request.headers);
    headers['x-request-id'] = request.id;
    headers['x-correlation-id'] = requestIdFrom(request.headers['x-correlation-id'], () => request.id);
    // The client address the edge saw (TRUST_PROXY decides), replacing whatever the client sent: services record it in audit events.
    headers['x-forwarded-for'] = request.ip;
    // A body that came with a GET (or HEAD) is dropped, as the catalog defines none there.
    const body = Buffer.isBuffer(request.body) && request.method !== 'GET' && request.method !== 'HEAD' ? request.body : undefined;
    if (body) headers['content-type'] ??= 'application/octet-stream';
    else delete headers['content-type'];

    let statusCode: number;
    let answer: Buffer;
    let answerHeaders: Record<string, string | string[]>;
    try {
      const upstream = await pool.request({ method: request.method as 'GET', path: request.url, headers, body });
      statusCode = upstream.statusCode;
      answerHeaders = copyHeaders(upstream.headers);
      if (streamed && statusCode >= 200 && statusCode < 300) return sendStreamed(reply, statusCode, answerHeaders, upstream);
      answer = await readBounded(upstream.body);
    } catch (err) {
      if (isTimeout(err)) throw new UpstreamTimeoutError(service);
      request.log.warn({ err, service }, 'upstream request failed');
      throw new ServiceUnreachableError(service);
    }
    return reply.code(statusCode).headers(answerHeaders).send(answer);
  };
  return { forward, close: async () => void (await Promise.all([...pools.values()].map((pool) => pool.close()))) };
}

/** The JWT and role checks of an access rule, run at the edge before a body byte is buffered. */
export function guardsFor(app: FastifyInstance, access: RouteContract['access']): Guard[] {
  // `public` routes prove who calls another way (a signed link), checked by the owning service.
  return access === 'admin' ? [app.authenticate, app.requireAdmin] : access === 'public' ? [] : [app.authenticate];
}

/** One route per catalog entry (the routes this gateway was built with). */
export default async function proxyRoutes(app: FastifyInstance, opts: { forward: Forward }): Promise<void> {
  for (const route of Object.values(ROUTES) as RouteContract[]) {
    const streamed = route.streamed === true;
    const guards = guardsFor(app, route.access);
    app.route({
      method: route.method,
      url: route.url,
      // preParsing: after the rate limit (onRequest), before any body byte is buffered for an unauthenticated caller.
      preParsing: async (request, reply, payload) => {
        for (const guard of guards) await guard(request, reply);
        return payload;
      },
      handler: async (request, reply) => opts.forward(request, reply, route.service, streamed),
    });
  }
}
