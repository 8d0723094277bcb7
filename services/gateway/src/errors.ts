import { STATUS_CODES } from 'node:http';
import createError from '@fastify/error';
import { keepConnectionThroughOversizedBody } from '@glavito/http/drain';
import { languageOf } from '@glavito/http/language';
import { localizeErrorMessage } from '@glavito/contracts';
import type { ErrorBody } from '@glavito/contracts';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

export const ServiceNotDeployedError = createError('GATEWAY_SERVICE_UNAVAILABLE', 'The %s service is not deployed yet', 503);
export const ServiceUnreachableError = createError('GATEWAY_SERVICE_UNAVAILABLE', 'The %s service is unavailable', 503);
export const UpstreamTimeoutError = createError('GATEWAY_UPSTREAM_TIMEOUT', 'The %s service did not answer in time', 504);
export const RouteNotFoundError = createError('GATEWAY_ROUTE_NOT_FOUND', 'Route %s %s not found', 404);
export const MethodNotAllowedError = createError('GATEWAY_METHOD_NOT_ALLOWED', 'Method %s is not allowed on %s; it answers to %s', 405);
export const RateLimitedError = createError('GATEWAY_RATE_LIMITED', 'Rate limit exceeded, retry in %s', 429);
export const MalformedUrlError = createError('GATEWAY_URL_MALFORMED', 'The request URL is malformed: %s', 400);
export const UrlTooLongError = createError('GATEWAY_URL_TOO_LONG', 'The request URL is too long: %s', 414);
export const HostRequiredError = createError('GATEWAY_HOST_REQUIRED', 'An HTTP/1.1 request needs a Host header', 400);
export const InvalidPreflightError = createError(
  'GATEWAY_INVALID_PREFLIGHT',
  'OPTIONS is answered only as a CORS preflight: send Origin and Access-Control-Request-Method',
  400,
);

/** Fastify's own refusals, in the codes the OpenAPI document lists (route-errors.ts), with messages that say what to do. */
const RENAMED_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'GATEWAY_BODY_TOO_LARGE',
  FST_ERR_BAD_URL: 'GATEWAY_URL_MALFORMED',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'REQUEST_MEDIA_TYPE_UNSUPPORTED',
  FST_ERR_CTP_INVALID_TYPE: 'REQUEST_MEDIA_TYPE_UNSUPPORTED',
};
const RENAMED_MESSAGES: Record<string, string> = {
  GATEWAY_URL_MALFORMED: 'The request URL is malformed: it is not valid percent-encoded UTF-8',
  REQUEST_MEDIA_TYPE_UNSUPPORTED: 'The Content-Type header is malformed: send the body as application/json',
};

/** 5xx codes whose messages only name a service, so they are safe to show. */
const PUBLIC_5XX_CODES = new Set(['GATEWAY_SERVICE_UNAVAILABLE', 'GATEWAY_UPSTREAM_TIMEOUT']);

function genericCode(statusCode: number): string {
  return `GATEWAY_${(STATUS_CODES[statusCode] ?? 'ERROR').toUpperCase().replace(/\W+/g, '_')}`;
}

export function errorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') keepConnectionThroughOversizedBody(request, reply);
  const statusCode = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
  const exposed = statusCode < 500 || PUBLIC_5XX_CODES.has(err.code);
  if (!exposed) request.log.error({ err }, 'request failed');
  const code = RENAMED_CODES[err.code] ?? (err.code || genericCode(statusCode));
  const body: ErrorBody = exposed
    ? {
        statusCode,
        code,
        error: STATUS_CODES[statusCode] ?? 'Error',
        message: localizeErrorMessage(code, (RENAMED_CODES[err.code] && RENAMED_MESSAGES[code]) || err.message, languageOf(request)),
      }
    : { statusCode, code: 'GATEWAY_INTERNAL_ERROR', error: STATUS_CODES[statusCode] ?? 'Error', message: 'The gateway failed to handle this request' };
  void reply.code(statusCode).type('application/json; charset=utf-8').send(body);
}

/**
 * Whether the request the parser failed on is a HEAD: the last `METHOD target` before the failure. The
 * chunk it was parsing may begin with the end of an earlier request's body on the same connection, with
 * this request's line right after it, so the method is the end of that run of capitals.
 */
function failedOnHead(err: { rawPacket?: Buffer; bytesParsed?: number }): boolean {
  const raw = err.rawPacket;
  if (!raw) return false;
  const before = raw.subarray(0, Math.min(raw.length, (err.bytesParsed ?? raw.length) + 1)).toString('latin1');
  let method = '';
  for (const m of before.matchAll(/([A-Z]+) (?=\/|\*|https?:)/g)) method = m[1]!;
  return method.endsWith('HEAD');
}

/**
 * HTTP that Node's parser rejects before Fastify sees a request (oversized headers, a bad request line or
 * header): answered in the same error shape as everything else, then the connection is closed.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed || answered.has(socket)) return;
  answered.add(socket);
  const [statusCode, code, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'GATEWAY_HEADERS_TOO_LARGE', 'The request line and headers are larger than the server accepts']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'GATEWAY_REQUEST_TIMEOUT', 'The request was not received in time']
        : [400, 'GATEWAY_MALFORMED_REQUEST', `The HTTP request is malformed${err.code?.startsWith('HPE_') ? ` (${err.code})` : ''}`];
  const error = STATUS_CODES[statusCode] ?? 'Error';
  const body = JSON.stringify({ statusCode, code, error, message } satisfies ErrorBody);
  // The answer to a HEAD has no body, even when the rest of its request line could not be parsed.
  const head = failedOnHead(err as Error & { rawPacket?: Buffer; bytesParsed?: number });
  socket.end(
    `HTTP/1.1 ${statusCode} ${error}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${head ? '' : body}`,
  );
  // A client still sending (the body after headers that were too large) would have the unread bytes reset the
  // connection, and see EPIPE instead of this answer: they are read and dropped; one that keeps sending is cut.
  // Node's own data listener would feed them to the failed parser, which errs again and resets the connection.
  socket.removeAllListeners('data');
  socket.on('data', () => {});
  socket.on('error', () => {});
  socket.resume();
  setTimeout(() => socket.destroy(), CLIENT_ERROR_DRAIN_MS).unref();
}

/** Sockets already answered here: the failed parser reports every later chunk again. */
const answered = new WeakSet<Socket>();

/** How long a client whose request could not be parsed may keep sending before its connection is cut. */
const CLIENT_ERROR_DRAIN_MS = 5000;
