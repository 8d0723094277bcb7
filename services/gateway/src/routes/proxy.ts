import { ROUTES, type RouteContract } from '@glavito/contracts';
import { requestIdFrom } from '@glavito/logging';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Upstreams } from '../config.js';
import { MalformedUrlError, ServiceNotDeployedError, ServiceUnreachableError, UpstreamTimeoutError } from '../errors.js';

type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface ProxyRoutesOptions {
  upstreams: Upstreams;
  timeoutMs: number;
}

function forwardedBody(request: FastifyRequest) {
  if (!Buffer.isBuffer(request.body)) return {};
  return { body: request.body, contentType: request.headers['content-type'] ?? 'application/octet-stream' };
}

function isDecodable(url: string): boolean {
  try {
    decodeURIComponent(url);
    return true;
  } catch {
    return false;
  }
}

export default async function proxyRoutes(app: FastifyInstance, opts: ProxyRoutesOptions): Promise<void> {
  for (const route of Object.values(ROUTES) as RouteContract[]) {
    const base = opts.upstreams[route.service];
    const guards: Guard[] = route.access === 'admin' ? [app.authenticate, app.requireAdmin] : [app.authenticate];
    app.route({
      method: route.method,
      url: route.url,
      // preParsing: after the rate limit (onRequest), before any body byte is buffered for an unauthenticated caller.
      preParsing: async (request, reply, payload) => {
        for (const guard of guards) await guard(request, reply);
        return payload;
      },
      handler: async (request, reply) => {
        if (!base) throw new ServiceNotDeployedError(route.service);
        // The upstream URL is base + path: an absolute-form target (`GET http://host/path`) would not make one.
        if (!request.url.startsWith('/')) throw new MalformedUrlError('send a path, not an absolute URL');
        // reply-from decodes the whole URL (looking for traversal) and throws a URIError on a broken escape
        // such as `?type=%E0%A4%A`: that is the caller's malformed request, not a gateway failure.
        if (!isDecodable(request.url)) throw new MalformedUrlError('invalid percent-encoding');
        return reply.from(base + request.url, {
          ...forwardedBody(request),
          timeout: opts.timeoutMs,
          // reply-from would otherwise retry a GET answered 503 up to 10 times, hiding the real answer.
          retryDelay: () => null,
          rewriteRequestHeaders: (req, headers) => {
            const out = {
              ...headers,
              'x-request-id': req.id,
              'x-correlation-id': requestIdFrom(req.headers['x-correlation-id'], () => req.id),
            };
            // No body is sent (none came, or it came on a GET), so no length may be announced upstream.
            if (!Buffer.isBuffer(req.body)) delete out['content-length'];
            // `Expect: 100-continue` is hop-by-hop: Node has already answered it here, and undici refuses to
            // send it (every such request would otherwise end in a 503).
            delete out.expect;
            return out;
          },
          onError: (res, { error }) => {
            const timedOut = (error as FastifyError).statusCode === 504;
            res.send(timedOut ? new UpstreamTimeoutError(route.service) : new ServiceUnreachableError(route.service));
          },
        });
      },
    });
  }
}
