import createError from '@fastify/error';
import { TokenClaimsSchema, type Principal } from '@glavito/contracts';
import { createSigner, createVerifier } from 'fast-jwt';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

export const AuthTokenMissingError = createError('AUTH_TOKEN_MISSING', 'A bearer token is required', 401);
export const AuthTokenInvalidError = createError('AUTH_TOKEN_INVALID', 'The token is invalid: %s', 401);
export const AuthTokenExpiredError = createError('AUTH_TOKEN_EXPIRED', 'The token has expired', 401);
export const AuthForbiddenError = createError('AUTH_FORBIDDEN', '%s', 403);

export interface AuthOptions {
  secret: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: verifies the bearer token and sets request.principal (401 otherwise). */
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
    /** preHandler: requires the admin role (403 otherwise); run after authenticate. */
    requireAdmin: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
    /** Verifies a raw token (e.g. from a WebSocket query string). */
    verifyToken: (token: string) => Principal;
  }
  interface FastifyRequest {
    principal: Principal;
  }
}

const ADMIN_ROLES = new Set(['admin', 'owner']);

export function principalFromClaims(claims: unknown): Principal {
  const parsed = TokenClaimsSchema.safeParse(claims);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => i.path.join('.') || 'claims').join(', ');
    throw new AuthTokenInvalidError(`claims missing or malformed (${fields})`);
  }
  const { sub, tenantId, roles } = parsed.data;
  return { userId: sub, tenantId, roles, isAdmin: roles.some((r) => ADMIN_ROLES.has(r)) };
}

/** The claims every token must carry (401 naming the one missing): an expiry, the user and the tenant. */
const REQUIRED_CLAIMS = { exp: 'expiry (exp)', sub: 'user id (sub)', tenantId: 'tenant (tenantId)' } as const;

function mapJwtError(err: unknown): Error {
  const { code = '', message = '' } = err as { code?: string; message?: string };
  if (code.includes('EXPIRED')) return new AuthTokenExpiredError();
  if (code === 'FAST_JWT_MISSING_REQUIRED_CLAIM') {
    const claim = (Object.keys(REQUIRED_CLAIMS) as Array<keyof typeof REQUIRED_CLAIMS>).find((c) => message.startsWith(`The ${c} claim`));
    return new AuthTokenInvalidError(`the token has no ${claim ? REQUIRED_CLAIMS[claim] : 'required claim'}`);
  }
  return new AuthTokenInvalidError('signature, algorithm or format rejected');
}

/**
 * Verifies HS256 tokens (`alg: none` and other algorithms are refused; `exp`, `sub` and `tenantId` required)
 * with fast-jwt's own cache of verified tokens (LRU, each entry kept until its token's `exp`): a browser sends
 * the same token on every request, and the HMAC and JSON decoding would otherwise run each time on the hot path.
 */
export function createPrincipalVerifier(secret: string, opts: { cacheSize?: number } = {}) {
  // The contract requires an expiry: a token without `exp` would be valid forever once leaked.
  const verify = createVerifier({
    key: secret,
    algorithms: ['HS256'],
    requiredClaims: Object.keys(REQUIRED_CLAIMS),
    cache: opts.cacheSize ?? 10_000,
    cacheTTL: Infinity,
  });
  // A cached token comes back as the same payload object: its principal is derived once.
  const principals = new WeakMap<object, Principal>();
  return (token: string): Principal => {
    let claims: object;
    try {
      claims = verify(token) as object;
    } catch (err) {
      throw mapJwtError(err);
    }
    let principal = principals.get(claims);
    if (!principal) {
      principal = principalFromClaims(claims);
      principals.set(claims, principal);
    }
    return principal;
  };
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/;

export const authPlugin = fp<AuthOptions>(
  async (app: FastifyInstance, opts) => {
    const verifyToken = createPrincipalVerifier(opts.secret);

    app.decorateRequest('principal', null as unknown as Principal);
    app.decorate('authenticate', async (request: FastifyRequest) => {
      // Already verified earlier in this request (e.g. by the gateway's rate-limit key).
      if (request.principal) return;
      const header = request.headers.authorization;
      if (!header) throw new AuthTokenMissingError();
      const match = BEARER.exec(header);
      if (!match) throw new AuthTokenInvalidError('expected "Authorization: Bearer <jwt>"');
      request.principal = verifyToken(match[1]!);
    });
    app.decorate('requireAdmin', async (request: FastifyRequest) => {
      if (!request.principal?.isAdmin) throw new AuthForbiddenError('This action needs the admin role');
    });
    app.decorate('verifyToken', verifyToken);
  },
  { name: 'auth', fastify: '5.x' },
);

export interface MintOptions {
  secret: string;
  userId: string;
  tenantId: string;
  roles?: string[];
  expiresIn?: string | number;
}

function toMs(value: string | number): number {
  if (typeof value === 'number') return value * 1000;
  const m = /^(\d+)([smhd]?)$/.exec(value);
  if (!m) throw new Error(`bad expiresIn: ${value}`);
  const factor = { '': 1000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? ''] ?? 1000;
  return Number(m[1]) * factor;
}

/** Mints an HS256 token (dev tokens, tests, local mode). */
export function mintToken(opts: MintOptions): string {
  const sign = createSigner({ key: opts.secret, algorithm: 'HS256', expiresIn: toMs(opts.expiresIn ?? '1h') });
  return sign({ sub: opts.userId, tenantId: opts.tenantId, roles: opts.roles ?? ['agent'] });
}
