import { ErrorBodySchema, type Principal } from '@glavito/contracts';
import { createSigner } from 'fast-jwt';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authPlugin, createPrincipalVerifier, mintToken } from '../src/index.js';

// @glavito/testkit is not a dependency of this package, so the secret is a literal (40 characters).
const SECRET = 'glavito-auth-test-secret-0123456789abcde';
const OTHER_SECRET = 'another-secret-of-forty-chars-0123456789';

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const nowSec = () => Math.floor(Date.now() / 1000);
const makeClaims = (overrides: Record<string, unknown> = {}) => ({ sub: 'user_1', tenantId: 'tenant_1', roles: ['admin'], ...overrides });
const sign = (claims: Record<string, unknown>, opts: { key?: string; algorithm?: 'HS256' | 'HS512'; expiresIn?: number } = {}) =>
  createSigner({ key: opts.key ?? SECRET, algorithm: opts.algorithm ?? 'HS256', expiresIn: opts.expiresIn ?? 60_000 })(claims);

let app: FastifyInstance;

beforeAll(async () => {
  app = Fastify();
  await app.register(authPlugin, { secret: SECRET });
  app.get('/me', { preHandler: [app.authenticate] }, async (request) => request.principal);
  app.get('/admin', { preHandler: [app.authenticate, app.requireAdmin] }, async (request) => ({ ok: true, userId: request.principal.userId }));
  await app.ready();
});

afterAll(async () => {
  await app?.close();
});

const get = (url: string, authorization?: string) => app.inject({ method: 'GET', url, headers: authorization === undefined ? {} : { authorization } });
const bearer = (token: string) => `Bearer ${token}`;

async function expectError(res: Awaited<ReturnType<typeof get>>, statusCode: number, code: string, message: string) {
  expect(res.statusCode).toBe(statusCode);
  const body = ErrorBodySchema.parse(res.json());
  expect(body).toEqual({ statusCode, code, error: statusCode === 401 ? 'Unauthorized' : 'Forbidden', message });
}

const INVALID = 'The token is invalid: signature, algorithm or format rejected';

describe('authenticate', () => {
  it('accepts a valid admin token and exposes the principal', async () => {
    const res = await get('/me', bearer(mintToken({ secret: SECRET, userId: 'user_1', tenantId: 'tenant_1', roles: ['admin'] })));
    expect(res.statusCode).toBe(200);
    expect(res.json<Principal>()).toEqual({ userId: 'user_1', tenantId: 'tenant_1', roles: ['admin'], isAdmin: true });
  });

  it('accepts an agent token on a route that only needs authentication', async () => {
    const res = await get('/me', bearer(mintToken({ secret: SECRET, userId: 'agent_7', tenantId: 'tenant_1' })));
    expect(res.statusCode).toBe(200);
    expect(res.json<Principal>()).toEqual({ userId: 'agent_7', tenantId: 'tenant_1', roles: ['agent'], isAdmin: false });
  });

  it.each([
    ['sub', 'the token has no user id (sub)'],
    ['tenantId', 'the token has no tenant (tenantId)'],
  ])('rejects a correctly signed token without %s, naming the claim', async (claim, message) => {
    const claims: Record<string, unknown> = makeClaims();
    delete claims[claim];
    await expectError(await get('/me', bearer(sign(claims))), 401, 'AUTH_TOKEN_INVALID', `The token is invalid: ${message}`);
  });

  it('rejects a correctly signed token without an expiry (the contract requires exp)', async () => {
    const forever = createSigner({ key: SECRET, algorithm: 'HS256' })(makeClaims());
    await expectError(await get('/me', bearer(forever)), 401, 'AUTH_TOKEN_INVALID', 'The token is invalid: the token has no expiry (exp)');
  });

  it('rejects a request without a token', async () => {
    await expectError(await get('/me'), 401, 'AUTH_TOKEN_MISSING', 'A bearer token is required');
    await expectError(await get('/me', ''), 401, 'AUTH_TOKEN_MISSING', 'A bearer token is required');
  });

  it.each([
    ['a Basic scheme', 'Basic dXNlcjpwYXNz'],
    ['a lower-case scheme', `bearer ${sign(makeClaims())}`],
    ['Bearer without a token', 'Bearer'],
    ['Bearer with a space only', 'Bearer '],
    ['two tokens', `Bearer ${sign(makeClaims())} extra`],
    ['a raw token without scheme', sign(makeClaims())],
  ])('rejects a malformed header: %s', async (_what, header) => {
    await expectError(await get('/me', header), 401, 'AUTH_TOKEN_INVALID', 'The token is invalid: expected "Authorization: Bearer <jwt>"');
  });

  it('rejects a token that is not a JWT', async () => {
    await expectError(await get('/me', bearer('not.a.jwt')), 401, 'AUTH_TOKEN_INVALID', INVALID);
    await expectError(await get('/me', bearer('abc')), 401, 'AUTH_TOKEN_INVALID', INVALID);
  });

  it('rejects a token signed with another secret', async () => {
    await expectError(await get('/me', bearer(sign(makeClaims(), { key: OTHER_SECRET }))), 401, 'AUTH_TOKEN_INVALID', INVALID);
  });

  it('rejects a token whose signature was tampered with', async () => {
    const [h, , s] = sign(makeClaims({ roles: ['agent'] })).split('.');
    const forged = `${h}.${b64url({ ...makeClaims({ roles: ['admin'] }), iat: nowSec(), exp: nowSec() + 60 })}.${s}`;
    await expectError(await get('/admin', bearer(forged)), 401, 'AUTH_TOKEN_INVALID', INVALID);
  });

  it('rejects alg none', async () => {
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ ...makeClaims(), iat: nowSec(), exp: nowSec() + 60 })}.`;
    await expectError(await get('/me', bearer(token)), 401, 'AUTH_TOKEN_INVALID', INVALID);
    await expectError(await get('/admin', bearer(token)), 401, 'AUTH_TOKEN_INVALID', INVALID);
  });

  it('rejects an HS512 token signed with the same secret', async () => {
    await expectError(await get('/me', bearer(sign(makeClaims(), { algorithm: 'HS512' }))), 401, 'AUTH_TOKEN_INVALID', INVALID);
  });

  it('rejects an expired token with its own code', async () => {
    const expired = sign({ ...makeClaims(), iat: nowSec() - 7200, exp: nowSec() - 3600 }, { expiresIn: 0 });
    await expectError(await get('/me', bearer(expired)), 401, 'AUTH_TOKEN_EXPIRED', 'The token has expired');
  });

  it.each([
    ['sub contains a dot', { sub: 'user.1' }, 'sub'],
    ['tenantId contains a wildcard', { tenantId: 'tenant*' }, 'tenantId'],
    ['roles is not an array', { roles: 'admin' }, 'roles'],
  ])('rejects claims where %s', async (_what, overrides, field) => {
    const claims = Object.fromEntries(Object.entries(makeClaims(overrides)).filter(([, v]) => v !== undefined));
    await expectError(await get('/me', bearer(sign(claims))), 401, 'AUTH_TOKEN_INVALID', `The token is invalid: claims missing or malformed (${field})`);
  });
});

describe('requireAdmin', () => {
  it('lets an admin through', async () => {
    const res = await get('/admin', bearer(sign(makeClaims({ roles: ['agent', 'admin'] }))));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ok: true, userId: 'user_1' });
  });

  it('treats owner as an admin role', async () => {
    expect((await get('/admin', bearer(sign(makeClaims({ roles: ['owner'] }))))).statusCode).toBe(200);
  });

  it('forbids an agent', async () => {
    await expectError(await get('/admin', bearer(sign(makeClaims({ roles: ['agent'] })))), 403, 'AUTH_FORBIDDEN', 'This action needs the admin role');
    await expectError(await get('/admin', bearer(sign(makeClaims({ roles: [] })))), 403, 'AUTH_FORBIDDEN', 'This action needs the admin role');
  });

  it('authenticates before authorising', async () => {
    await expectError(await get('/admin'), 401, 'AUTH_TOKEN_MISSING', 'A bearer token is required');
  });
});

describe('verifyToken', () => {
  it('returns the principal of a valid token', () => {
    expect(app.verifyToken(mintToken({ secret: SECRET, userId: 'agent_2', tenantId: 'tenant_9', roles: ['agent'] }))).toEqual({
      userId: 'agent_2',
      tenantId: 'tenant_9',
      roles: ['agent'],
      isAdmin: false,
    });
  });

  it.each([
    ['another secret', () => sign(makeClaims(), { key: OTHER_SECRET }), 'AUTH_TOKEN_INVALID'],
    ['alg none', () => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(makeClaims())}.`, 'AUTH_TOKEN_INVALID'],
    ['HS512', () => sign(makeClaims(), { algorithm: 'HS512' }), 'AUTH_TOKEN_INVALID'],
    ['garbage', () => 'garbage', 'AUTH_TOKEN_INVALID'],
    ['an expired token', () => sign({ ...makeClaims(), iat: nowSec() - 7200, exp: nowSec() - 3600 }, { expiresIn: 0 }), 'AUTH_TOKEN_EXPIRED'],
    ['bad claims', () => sign(makeClaims({ tenantId: 'a.b' })), 'AUTH_TOKEN_INVALID'],
  ])('throws a 401 for %s', (_what, token, code) => {
    expect(() => app.verifyToken(token())).toThrow(expect.objectContaining({ code, statusCode: 401 }));
  });
});

describe('createPrincipalVerifier (verified tokens are remembered until they expire)', () => {
  it('answers a repeated token from memory, and a forged variant of it is still refused', () => {
    const verify = createPrincipalVerifier(SECRET);
    const token = sign(makeClaims({ roles: ['agent'] }));
    const first = verify(token);
    expect(verify(token)).toBe(first);
    const [h, , s] = token.split('.');
    const forged = `${h}.${b64url({ ...makeClaims({ roles: ['admin'] }), iat: nowSec(), exp: nowSec() + 60 })}.${s}`;
    expect(() => verify(forged)).toThrow(expect.objectContaining({ code: 'AUTH_TOKEN_INVALID' }));
  });

  it('refuses a remembered token once it has expired', async () => {
    const verify = createPrincipalVerifier(SECRET);
    const token = sign(makeClaims(), { expiresIn: 1_000 });
    expect(verify(token).userId).toBe('user_1');
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect(() => verify(token)).toThrow(expect.objectContaining({ code: 'AUTH_TOKEN_EXPIRED' }));
  });

  it('keeps at most cacheSize tokens', () => {
    const verify = createPrincipalVerifier(SECRET, { cacheSize: 2 });
    const tokens = ['a', 'b', 'c'].map((sub) => sign(makeClaims({ sub })));
    const principals = tokens.map((t) => verify(t));
    expect(verify(tokens[2]!)).toBe(principals[2]);
    expect(verify(tokens[1]!)).toBe(principals[1]);
    // The oldest was evicted: verified anew, so an equal but not identical principal comes back.
    const again = verify(tokens[0]!);
    expect(again).toEqual(principals[0]);
    expect(again).not.toBe(principals[0]);
  });
});

describe('mintToken', () => {
  it('mints an HS256 token with the given lifetime', () => {
    const token = mintToken({ secret: SECRET, userId: 'u', tenantId: 't', roles: ['admin'], expiresIn: '2m' });
    const [header, payload] = token
      .split('.')
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>);
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(payload).toMatchObject({ sub: 'u', tenantId: 't', roles: ['admin'] });
    expect(Number(payload!.exp) - Number(payload!.iat)).toBe(120);
  });
});
