import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { RateLimitedError } from '../errors.js';

export interface RateLimitOptions {
  max: number;
  timeWindowMs: number;
}

/**
 * One budget per verified user, so users behind one NAT do not starve each other; callers without a
 * valid token share their IP's budget, which also throttles token guessing.
 */
export const rateLimitPlugin = fp<RateLimitOptions>(
  async (app: FastifyInstance, opts) => {
    const keyOf = (request: FastifyRequest): string => {
      const header = request.headers.authorization;
      if (header?.startsWith('Bearer ')) {
        try {
          const principal = app.verifyToken(header.slice('Bearer '.length));
          // Verified once per request: authenticate() reuses it.
          request.principal = principal;
          return `user:${principal.tenantId}:${principal.userId}`;
        } catch {
          // falls through to the IP key; the route's own auth check answers 401
        }
      }
      return `ip:${request.ip ?? 'inject'}`;
    };
    await app.register(rateLimit, {
      global: true,
      max: opts.max,
      timeWindow: opts.timeWindowMs,
      keyGenerator: keyOf,
      errorResponseBuilder: (_request, context) => new RateLimitedError(context.after),
    });
  },
  { name: 'gateway-rate-limit', dependencies: ['auth'] },
);
