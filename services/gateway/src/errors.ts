import { STATUS_CODES } from 'node:http';
import createError from '@fastify/error';
import type { ErrorBody } from '@glavito/contracts';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

export const ServiceNotDeployedError = createError('GATEWAY_SERVICE_UNAVAILABLE', 'The %s service is not deployed yet', 503);
export const ServiceUnreachableError = createError('GATEWAY_SERVICE_UNAVAILABLE', 'The %s service is unavailable', 503);
export const UpstreamTimeoutError = createError('GATEWAY_UPSTREAM_TIMEOUT', 'The %s service did not answer in time', 504);
export const RouteNotFoundError = createError('GATEWAY_ROUTE_NOT_FOUND', 'Route %s %s not found', 404);
export const RateLimitedError = createError('GATEWAY_RATE_LIMITED', 'Rate limit exceeded, retry in %s', 429);

const RENAMED_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'GATEWAY_BODY_TOO_LARGE',
};

/** 5xx codes whose messages only name a service, so they are safe to show. */
const PUBLIC_5XX_CODES = new Set(['GATEWAY_SERVICE_UNAVAILABLE', 'GATEWAY_UPSTREAM_TIMEOUT']);

function genericCode(statusCode: number): string {
  return `GATEWAY_${(STATUS_CODES[statusCode] ?? 'ERROR').toUpperCase().replace(/\W+/g, '_')}`;
}

export function errorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const statusCode = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
  const exposed = statusCode < 500 || PUBLIC_5XX_CODES.has(err.code);
  if (!exposed) request.log.error({ err }, 'request failed');
  const body: ErrorBody = exposed
    ? {
        statusCode,
        code: RENAMED_CODES[err.code] ?? (err.code || genericCode(statusCode)),
        error: STATUS_CODES[statusCode] ?? 'Error',
        message: err.message,
      }
    : { statusCode, code: 'GATEWAY_INTERNAL_ERROR', error: STATUS_CODES[statusCode] ?? 'Error', message: 'The gateway failed to handle this request' };
  void reply.code(statusCode).type('application/json; charset=utf-8').send(body);
}
