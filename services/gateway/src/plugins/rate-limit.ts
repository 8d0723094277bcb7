import rateLimit, { type FastifyRateLimitStore, type FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { RateLimitedError } from '../errors.js';
import { createSharedRateLimitStore } from '../services/rate-limit-store.js';
// The metrics decorator's type lives with its plugin; the build sees only what src imports.
import type {} from '@glavito/http/metrics';

export interface RateLimitOptions {
  max: number;
  timeWindowMs: number;
  /** One budget across every gateway replica, in this NATS KV bucket; unset: this process's memory only. */
  shared?: { servers: string; bucket: string; timeoutMs: number };
}

/**
 * One budget per verified user, so users behind one NAT do not starve each other; callers without a
 * valid token share their IP's budget, which also throttles token guessing. With `shared`, the budget is
 * one across replicas (NATS KV); a store that does not answer lets the request through (fail open, counted).
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
    let store: FastifyRateLimitStoreCtor | undefined;
    if (opts.shared) {
      const shared = await createSharedRateLimitStore(opts.shared);
      app.addHook('onClose', () => shared.close());
      const failures = app.metrics.counter(
        'gateway_rate_limit_store_errors_total',
        'Requests let through because the shared rate-limit store did not answer (fail open)',
      );
      // @fastify/rate-limit's store contract: a class with incr(key, cb, timeWindow) and child(routeOptions).
      store = class implements FastifyRateLimitStore {
        incr(key: string, cb: (err: Error | null, res?: { current: number; ttl: number }) => void, timeWindow: number) {
          shared.incr(key, timeWindow).then(
            (res) => cb(null, res),
            (err: Error) => {
              failures.inc();
              app.log.warn({ err: err.message }, 'rate limit store unavailable: request let through');
              cb(err);
            },
          );
        }
        child(): FastifyRateLimitStore {
          return this;
        }
      };
    }
    await app.register(rateLimit, {
      global: true,
      ...(store ? { store, skipOnError: true } : {}),
      max: opts.max,
      timeWindow: opts.timeWindowMs,
      keyGenerator: keyOf,
      errorResponseBuilder: (_request, context) => new RateLimitedError(context.after),
    });
  },
  { name: 'gateway-rate-limit', dependencies: ['auth', 'metrics'] },
);
