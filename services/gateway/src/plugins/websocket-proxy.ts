import http from 'node:http';
import type { Duplex } from 'node:stream';
import { MAX_PARAM_LENGTH, MAX_URL_LENGTH } from '@glavito/contracts';
import { redactUrl, requestIdFrom } from '@glavito/logging';
import { randomUUID } from 'node:crypto';
import fp from 'fastify-plugin';

/** How long a refused upgrade may keep sending before its connection is cut. */
const REFUSED_UPGRADE_DRAIN_MS = 5000;

function refuse(socket: Duplex, status: number, text: string, answer: { code?: string; message?: string; headers?: Record<string, string> } = {}): void {
  const code = answer.code ?? (status === 503 ? 'GATEWAY_SERVICE_UNAVAILABLE' : 'GATEWAY_ROUTE_NOT_FOUND');
  const body = JSON.stringify({ statusCode: status, code, error: text, message: answer.message ?? text });
  const extra = Object.entries(answer.headers ?? {})
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`,
  );
  // Node hands over the socket of an upgrade paused: bytes the client still sends after its request (a body)
  // would stay unread, so a client blocked writing them never reads this answer nor sees the connection end.
  // They are read and dropped; a client that keeps sending is cut off.
  socket.on('error', () => {});
  socket.resume();
  setTimeout(() => socket.destroy(), REFUSED_UPGRADE_DRAIN_MS).unref();
}

/**
 * An upgrade to another path. Node hands every request with `Upgrade` to the upgrade handler, so it cannot be
 * served as plain HTTP here; it is refused as the OpenAPI document says: 404 where no route is, 405 (with Allow)
 * for a method the path lacks, else 400 (that path takes no upgrade).
 */
function refuseOtherPath(socket: Duplex, method: string, url: string, methods: string[]): void {
  // The limits any request meets first (as Fastify answers them for a plain request).
  const path = url.split('?')[0]!;
  if (url.length > MAX_URL_LENGTH || path.split('/').some((segment) => segment.length > MAX_PARAM_LENGTH)) {
    return refuse(socket, 414, 'URI Too Long', {
      code: 'GATEWAY_URL_TOO_LONG',
      message: `The request URL is too long: at most ${MAX_URL_LENGTH} characters, ${MAX_PARAM_LENGTH} per path segment`,
    });
  }
  if (methods.length === 0) return refuse(socket, 404, 'Not Found');
  if (!methods.includes(method)) {
    return refuse(socket, 405, 'Method Not Allowed', {
      code: 'GATEWAY_METHOD_NOT_ALLOWED',
      message: `Method ${method} is not allowed here; it answers to ${methods.join(', ')}`,
      headers: { Allow: methods.join(', ') },
    });
  }
  refuse(socket, 400, 'Bad Request', {
    code: 'GATEWAY_MALFORMED_REQUEST',
    message: 'Only GET /onboarding takes a WebSocket upgrade: send this request without Upgrade',
  });
}

/**
 * Proxies the WebSocket upgrade of GET /onboarding to the realtime service, byte for byte. Token checks
 * happen there (a bad token must end in close code 4401, which only an accepted socket can carry).
 */
export const websocketProxyPlugin = fp<{ target: string | undefined; methodsAt?: (target: string) => string[] }>(
  async (app, { target, methodsAt }) => {
    const open = new Set<Duplex>();
    app.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/onboarding' && path !== '/onboarding/')
        return refuseOtherPath(socket, req.method ?? 'GET', req.url ?? '/', methodsAt?.(req.url ?? '/') ?? []);
      if (!target) return refuse(socket, 503, 'The realtime service is not deployed yet');
      const requestId = requestIdFrom(req.headers['x-request-id'], randomUUID);
      const upstream = new URL(target);
      const proxied = http.request({
        hostname: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: 'GET',
        headers: { ...req.headers, host: upstream.host, 'x-request-id': requestId, 'x-forwarded-for': req.socket.remoteAddress ?? '' },
      });
      proxied.on('upgrade', (res, upstreamSocket, upstreamHead) => {
        const lines = [`HTTP/1.1 101 Switching Protocols`];
        for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
        if (upstreamHead.length > 0) socket.write(upstreamHead);
        if (head.length > 0) upstreamSocket.write(head);
        open.add(socket);
        // When one side goes, the other still gets what was already written to it (a close frame with its
        // code) before it ends; destroying it at once could drop those bytes. Stuck peers are cut after 2 s.
        const release = (other: Duplex) => () => {
          open.delete(socket);
          if (other.destroyed) return;
          other.end();
          setTimeout(() => other.destroy(), 2000).unref();
        };
        socket.on('error', () => {}).on('close', release(upstreamSocket));
        upstreamSocket.on('error', () => {}).on('close', release(socket));
        upstreamSocket.pipe(socket).pipe(upstreamSocket);
        app.log.info({ requestId, url: redactUrl(req.url ?? '') }, 'websocket proxied to realtime');
      });
      proxied.on('response', (res) => {
        res.resume();
        refuse(socket, res.statusCode ?? 502, res.statusMessage ?? 'Bad Gateway');
      });
      proxied.on('error', () => refuse(socket, 503, 'The realtime service is unavailable'));
      socket.on('error', () => proxied.destroy());
      proxied.end();
    });
    app.addHook('onClose', async () => {
      for (const s of open) s.destroy();
    });
  },
  { name: 'websocket-proxy' },
);
