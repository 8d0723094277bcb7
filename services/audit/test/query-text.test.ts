import { ErrorBodySchema } from '@glavito/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startHarness, type AuditHarness } from './helpers.js';

// Found by the e2e fuzz suite: query values Postgres cannot take were 500s, and a CSV download whose first read
// failed answered a 500 in the wrong shape.
let h: AuditHarness;
const admin = bearer({ tenantId: 'tenant-q', userId: 'admin-q', roles: ['admin'] });
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('audit reads with odd query values', () => {
  it.each([
    ['/onboarding/audit?actor=%00x', 'querystring.actor'],
    ['/onboarding/audit?targetId=a%00b', 'querystring.targetId'],
    ['/onboarding/audit/export?actor=a%00b', 'querystring.actor'],
    ['/onboarding/audit/export?format=csv&targetType=a%00b', 'querystring.targetType'],
  ])('%s: 400 REQUEST_TEXT_UNSUPPORTED naming %s', async (url, field) => {
    const res = await h.app.inject({ method: 'GET', url, headers: admin });
    expect(res.statusCode).toBe(400);
    const body = ErrorBodySchema.parse(res.json());
    expect(body).toMatchObject({ code: 'REQUEST_TEXT_UNSUPPORTED', details: [{ field, rule: 'storable_text' }] });
  });

  it('instants Postgres does not take (offset +23:59, year 0000) filter as the same UTC instant (the epoch at the earliest)', async () => {
    const list = await h.app.inject({ method: 'GET', url: '/onboarding/audit?from=2020-12-06T02:25:54.321%2B23:59', headers: admin });
    expect(list.statusCode).toBe(200);
    const yearZero = await h.app.inject({ method: 'GET', url: '/onboarding/audit?from=0000-01-01T00:00:00Z&to=0000-06-01T00:00:00.000-12:00', headers: admin });
    expect(yearZero.statusCode).toBe(200);
    expect(yearZero.json()).toMatchObject({ items: [] });
    const year10000 = await h.app.inject({ method: 'GET', url: '/onboarding/audit?from=9999-12-31T23:59:59-23:59', headers: admin });
    expect(year10000.statusCode).toBe(200);
    expect(year10000.json()).toMatchObject({ items: [] });
    const csv = await h.app.inject({ method: 'GET', url: '/onboarding/audit/export?format=csv&to=2020-12-06T02:25:54.321-23:59', headers: admin });
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.body.split('\r\n')[0]).toMatch(/^seq,id,occurredAt/);
  });
});
