import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { MAX_PARAM_LENGTH, MAX_URL_LENGTH, type ErrorBody } from '@glavito/contracts';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';

// The request limits of ROUTES (contracts' route-errors.ts), answered by a service as the gateway answers them: the
// same statuses and ErrorBody, with REQUEST_* codes where the gateway's are GATEWAY_*.

const body = (statusCode: number, code: string, message: string): ErrorBody => ({ statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message });

/** Fastify's own router refusals (a parameter over maxParamLength, a URL it cannot decode), in our shape. */
export const frameworkErrors: NonNullable<FastifyServerOptions['frameworkErrors']> = (error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH')
    return void reply
      .code(414)
      .send(body(414, 'REQUEST_URL_TOO_LONG', `The request URL is too long: a path parameter is longer than ${MAX_PARAM_LENGTH} characters`));
  return void reply.code(400).send(body(400, 'REQUEST_URL_INVALID', 'The URL is malformed'));
};

/** A request target longer than MAX_URL_LENGTH is a 414 before anything else reads it. */
export function installUrlLimit(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    if (request.url.length > MAX_URL_LENGTH)
      return reply
        .code(414)
        .send(body(414, 'REQUEST_URL_TOO_LONG', `The request URL is too long: the request target is longer than ${MAX_URL_LENGTH} characters`));
  });
}

/** HTTP that Node's parser rejects (headers over MAX_HEADER_BYTES, a broken request line): an ErrorBody, then close. */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed || !socket.writable) return void socket.destroy();
  const answer =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? body(431, 'REQUEST_HEADERS_TOO_LARGE', 'The request line and headers are larger than the server accepts')
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? body(408, 'REQUEST_TIMEOUT', 'The request was not received in time')
        : body(400, 'REQUEST_MALFORMED', 'The HTTP request is malformed');
  const text = JSON.stringify(answer);
  socket.end(
    `HTTP/1.1 ${answer.statusCode} ${answer.error}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}
