import { createHmac } from 'node:crypto';
import { ROUTES } from '@glavito/contracts';
import { TEST_JWT_SECRET } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startHarness, tokenFor, type SessionHarness } from './helpers.js';

let h: SessionHarness;
let sessionA: string;
const adminA = { userId: 'admin-a', tenantId: 'tenant-a', roles: ['admin'] };
const agentA = { userId: 'agent-a', tenantId: 'tenant-a', roles: ['agent'] };
const agentA2 = { userId: 'agent-a2', tenantId: 'tenant-a', roles: ['agent'] };
const adminB = { userId: 'admin-b', tenantId: 'tenant-b', roles: ['admin'] };

const b64url = (v: object | string) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
function handMadeToken(header: object, claims: object, secret?: string): string {
  const body = `${b64url(header)}.${b64url(claims)}`;
  const sig = secret
    ? createHmac(header && (header as { alg: string }).alg === 'HS512' ? 'sha512' : 'sha256', secret)
        .update(body)
        .digest('base64url')
    : '';
  return `${body}.${sig}`;
}
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  h = await startHarness();
  const r = await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: bearer(adminA) });
  sessionA = r.json().session.id;
});
afterAll(async () => {
  await h?.close();
});

describe('tokens', () => {
  const cases: Array<[string, Record<string, string>, string]> = [
    ['no token', {}, 'AUTH_TOKEN_MISSING'],
    ['not a bearer header', { authorization: 'Basic abc' }, 'AUTH_TOKEN_INVALID'],
    [
      'bad signature',
      {
        authorization: `Bearer ${handMadeToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'u', tenantId: 't', roles: ['admin'], exp: now() + 60 }, 'another-secret-another-secret-12345')}`,
      },
      'AUTH_TOKEN_INVALID',
    ],
    [
      'alg none',
      { authorization: `Bearer ${handMadeToken({ alg: 'none', typ: 'JWT' }, { sub: 'u', tenantId: 't', roles: ['admin'], exp: now() + 60 })}` },
      'AUTH_TOKEN_INVALID',
    ],
    [
      'HS512 with the right secret',
      {
        authorization: `Bearer ${handMadeToken({ alg: 'HS512', typ: 'JWT' }, { sub: 'u', tenantId: 't', roles: ['admin'], exp: now() + 60 }, TEST_JWT_SECRET)}`,
      },
      'AUTH_TOKEN_INVALID',
    ],
    [
      'expired',
      {
        authorization: `Bearer ${handMadeToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'u', tenantId: 't', roles: ['admin'], exp: now() - 10 }, TEST_JWT_SECRET)}`,
      },
      'AUTH_TOKEN_EXPIRED',
    ],
    [
      'missing tenantId',
      { authorization: `Bearer ${handMadeToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'u', roles: ['admin'], exp: now() + 60 }, TEST_JWT_SECRET)}` },
      'AUTH_TOKEN_INVALID',
    ],
    ['sub that is not a safe id', { authorization: `Bearer ${tokenFor({ userId: 'a.b>', tenantId: 't' })}` }, 'AUTH_TOKEN_INVALID'],
  ];
  it.each(cases)('%s → 401', async (_name, headers, code) => {
    const r = await h.app.inject({ method: 'GET', url: '/onboarding/status', headers });
    expect(r.statusCode).toBe(401);
    expect(r.json()).toMatchObject({ statusCode: 401, code, error: 'Unauthorized' });
  });

  it('every session route refuses a missing token with 401', async () => {
    for (const route of Object.values(ROUTES).filter((r) => r.service === 'session')) {
      const url = route.url.replace(':sessionId', sessionA).replace(':stepId', 'organization_setup').replace(':userId', 'agent-a');
      const r = await h.app.inject({ method: route.method, url, payload: route.method === 'GET' || route.method === 'DELETE' ? undefined : {} });
      expect(r.statusCode, `${route.method} ${route.url}`).toBe(401);
    }
  });
});

describe('tenancy and ownership', () => {
  const sessionRoutes = () =>
    [
      ['GET', `/onboarding/session/${sessionA}`, undefined],
      ['PUT', `/onboarding/step/${sessionA}/organization_setup`, { companyName: 'Evil', primaryColor: '#000000' }],
      ['POST', `/onboarding/skip/${sessionA}/data_import`, {}],
      ['POST', `/onboarding/pause/${sessionA}`, undefined],
      ['POST', `/onboarding/resume/${sessionA}`, undefined],
      ['POST', `/onboarding/complete/${sessionA}`, undefined],
    ] as const;

  it("another tenant's admin gets 404 on every session route, and nothing changes", async () => {
    const before = await h.db.pool.query('SELECT version FROM session.sessions WHERE id = $1', [sessionA]);
    for (const [method, url, payload] of sessionRoutes()) {
      const r = await h.app.inject({ method, url, headers: bearer(adminB), payload });
      expect(r.statusCode, `${method} ${url}`).toBe(404);
      expect(r.json().code).toBe('SESSION_NOT_FOUND');
    }
    const after = await h.app.inject({ method: 'GET', url: `/onboarding/session/${sessionA}`, headers: bearer(adminA) });
    expect(after.json().session.version).toBe(before.rows[0].version);
  });

  it("an agent cannot touch another user's session (404), an admin of the tenant can read it", async () => {
    const agentStart = await h.app.inject({ method: 'POST', url: '/onboarding/tenant-setup/complete', headers: bearer(adminA) });
    expect(agentStart.statusCode).toBe(200);
    const own = await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: bearer(agentA) });
    expect(own.statusCode).toBe(201);
    const agentSession = own.json().session.id;
    const other = await h.app.inject({ method: 'GET', url: `/onboarding/session/${agentSession}`, headers: bearer(agentA2) });
    expect(other.statusCode).toBe(404);
    const save = await h.app.inject({
      method: 'PUT',
      url: `/onboarding/step/${agentSession}/profile_setup`,
      headers: bearer(agentA2),
      payload: { displayName: 'X Y', timezone: 'UTC' },
    });
    expect(save.statusCode).toBe(404);
    const byAdmin = await h.app.inject({ method: 'GET', url: `/onboarding/session/${agentSession}`, headers: bearer(adminA) });
    expect(byAdmin.statusCode).toBe(200);
    const status = await h.app.inject({ method: 'GET', url: '/onboarding/agent-welcome/status/agent-a', headers: bearer(agentA2) });
    expect(status.statusCode).toBe(404);
    const statusAdmin = await h.app.inject({ method: 'GET', url: '/onboarding/agent-welcome/status/agent-a', headers: bearer(adminA) });
    expect(statusAdmin.statusCode).toBe(200);
    expect(statusAdmin.json()).toMatchObject({ userId: 'agent-a', sessionId: agentSession, completedSteps: ['welcome'] });
    // Another tenant's admin asking for the same user id: 404 like an unknown user, not an empty status.
    for (const userId of ['agent-a', 'nobody-at-all']) {
      const foreign = await h.app.inject({ method: 'GET', url: `/onboarding/agent-welcome/status/${userId}`, headers: bearer(adminB) });
      expect(foreign.statusCode, userId).toBe(404);
      expect(foreign.json().code).toBe('SESSION_NOT_FOUND');
    }
    // A user of the tenant without a welcome session (admin-a has a tenant_setup one), and the caller themselves: not started.
    const otherAdminA = { userId: 'admin-a2', tenantId: 'tenant-a', roles: ['admin'] };
    const notStarted = await h.app.inject({ method: 'GET', url: '/onboarding/agent-welcome/status/admin-a', headers: bearer(otherAdminA) });
    expect(notStarted.statusCode).toBe(200);
    expect(notStarted.json()).toMatchObject({ userId: 'admin-a', sessionId: null, isCompleted: false });
    const self = await h.app.inject({ method: 'GET', url: '/onboarding/agent-welcome/status/admin-b', headers: bearer(adminB) });
    expect(self.statusCode).toBe(200);
  });

  it('force and tenant-setup complete need an admin: 403', async () => {
    const own = await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: bearer(agentA) });
    const id = own.json().session.id;
    const force = await h.app.inject({ method: 'POST', url: `/onboarding/complete/${id}?force=true`, headers: bearer(agentA) });
    expect(force.statusCode).toBe(403);
    expect(force.json().code).toBe('SESSION_FORCE_FORBIDDEN');
    const setup = await h.app.inject({ method: 'POST', url: '/onboarding/tenant-setup/complete', headers: bearer(agentA) });
    expect(setup.statusCode).toBe(403);
    const tenantFlow = await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: bearer(agentA2), payload: { type: 'tenant_setup' } });
    expect(tenantFlow.statusCode).toBe(403);
    const bh = await h.app.inject({ method: 'PUT', url: '/onboarding/business-hours', headers: bearer(agentA), payload: { timezone: 'UTC', schedule: {} } });
    expect(bh.statusCode).toBe(403);
  });

  it('an admin may force completion of a session with missing required steps', async () => {
    const fresh = { userId: 'admin-a3', tenantId: 'tenant-a', roles: ['admin'] };
    const s = await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: bearer(fresh) });
    const id = s.json().session.id;
    const plain = await h.app.inject({ method: 'POST', url: `/onboarding/complete/${id}`, headers: bearer(fresh) });
    expect(plain.statusCode).toBe(409);
    expect(plain.json()).toMatchObject({ code: 'SESSION_REQUIRED_STEPS_MISSING', message: 'Missing required steps: organization_setup' });
    const forced = await h.app.inject({ method: 'POST', url: `/onboarding/complete/${id}?force=true`, headers: bearer(fresh) });
    expect(forced.statusCode).toBe(200);
    expect(forced.json().success).toBe(true);
  });
});
