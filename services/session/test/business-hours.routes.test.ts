import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStream, waitFor } from '@glavito/testkit';
import { bearer, startHarness, type SessionHarness } from './helpers.js';

let h: SessionHarness;
const admin = bearer({ userId: 'admin-bh', tenantId: 'tenant-bh', roles: ['admin'] });
const agent = bearer({ userId: 'agent-bh', tenantId: 'tenant-bh', roles: ['agent'] });
const otherTenant = bearer({ userId: 'admin-x', tenantId: 'tenant-x', roles: ['admin'] });

const weekday = { enabled: true, start: '09:00', end: '17:00', breaks: [{ start: '12:00', end: '13:00', name: 'Lunch' }] };
const config = {
  timezone: 'America/New_York',
  schedule: { monday: weekday, tuesday: weekday, wednesday: weekday, thursday: weekday, friday: weekday },
  holidays: ['2026-11-26'],
};

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('business hours API', () => {
  it('is always open before configuration', async () => {
    const get = await h.app.inject({ method: 'GET', url: '/onboarding/business-hours', headers: agent });
    expect(get.json()).toEqual({ configured: false, config: null, updatedAt: null });
    const check = await h.app.inject({ method: 'GET', url: '/onboarding/business-hours/check?at=2026-03-08T07:30:00Z', headers: agent });
    expect(check.json()).toMatchObject({ isOpen: true, reason: 'always_open' });
  });

  it('rejects invalid schedules with field details', async () => {
    const bad = await h.app.inject({
      method: 'PUT',
      url: '/onboarding/business-hours',
      headers: admin,
      payload: { timezone: 'Nowhere/City', schedule: { monday: { enabled: true, start: '17:00', end: '09:00' } }, holidays: ['2026-02-30'] },
    });
    expect(bad.statusCode).toBe(400);
    const fields = bad.json().details.map((d: { field: string }) => d.field);
    expect(fields).toEqual(expect.arrayContaining(['body.timezone', 'body.schedule.monday.end', 'body.holidays.0']));
  });

  it('stores a schedule per tenant and answers in its time zone across DST', async () => {
    const put = await h.app.inject({ method: 'PUT', url: '/onboarding/business-hours', headers: admin, payload: config });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ configured: true, config });
    const other = await h.app.inject({ method: 'GET', url: '/onboarding/business-hours', headers: otherTenant });
    expect(other.json().configured).toBe(false);

    // Monday 9 March 2026, 09:30 EDT (UTC-4, the day after spring-forward) = 13:30Z: open.
    const open = await h.app.inject({ method: 'GET', url: '/onboarding/business-hours/check?at=2026-03-09T13:30:00Z', headers: agent });
    expect(open.json()).toMatchObject({ isOpen: true, reason: 'open', nextCloseAt: '2026-03-09T16:00:00.000Z' });
    // Friday 6 March 2026 12:30 EST (UTC-5) = 17:30Z: lunch break, reopens 13:00 EST = 18:00Z.
    const lunch = await h.app.inject({ method: 'GET', url: '/onboarding/business-hours/check?at=2026-03-06T17:30:00Z', headers: agent });
    expect(lunch.json()).toMatchObject({ isOpen: false, reason: 'break', nextOpenAt: '2026-03-06T18:00:00.000Z' });
    // Thanksgiving 2026-11-26 is a holiday.
    const holiday = await h.app.inject({ method: 'GET', url: '/onboarding/business-hours/check?at=2026-11-26T15:00:00Z', headers: agent });
    expect(holiday.json()).toMatchObject({ isOpen: false, reason: 'holiday' });

    // Friday 6 March 16:00 EST + 120 business minutes: 60 on Friday, 60 on Monday from 09:00 EDT → 10:00 EDT = 14:00Z.
    const add = await h.app.inject({
      method: 'POST',
      url: '/onboarding/business-hours/add-time',
      headers: agent,
      payload: { start: '2026-03-06T21:00:00Z', minutes: 120 },
    });
    expect(add.json()).toEqual({ start: '2026-03-06T21:00:00.000Z', minutes: 120, result: '2026-03-09T14:00:00.000Z' });

    // Mon 9 – Fri 13 March: 5 days × (8h − 1h lunch) = 35h = 2100 minutes.
    const work = await h.app.inject({
      method: 'POST',
      url: '/onboarding/business-hours/working-time',
      headers: agent,
      payload: { start: '2026-03-09T04:00:00Z', end: '2026-03-14T04:00:00Z' },
    });
    expect(work.json()).toMatchObject({ totalMinutes: 2100, businessDays: 5 });

    const backwards = await h.app.inject({
      method: 'POST',
      url: '/onboarding/business-hours/working-time',
      headers: agent,
      payload: { start: '2026-03-14T04:00:00Z', end: '2026-03-09T04:00:00Z' },
    });
    expect(backwards.statusCode).toBe(400);
    expect(backwards.json().code).toBe('SESSION_BUSINESS_HOURS_RANGE');

    // From Wednesday 25 Nov: Thursday 26 is a holiday → Friday 27 Nov 09:00 EST = 14:00Z.
    const next = await h.app.inject({ method: 'GET', url: '/onboarding/business-hours/next-business-day?from=2026-11-25T15:00:00Z', headers: agent });
    expect(next.json()).toEqual({ from: '2026-11-25T15:00:00.000Z', nextBusinessDay: '2026-11-27T14:00:00.000Z' });

    const badQuery = await h.app.inject({ method: 'GET', url: '/onboarding/business-hours/check?at=yesterday', headers: agent });
    expect(badQuery.statusCode).toBe(400);
  });

  it('only admins change it; delete returns to always open', async () => {
    const byAgent = await h.app.inject({ method: 'DELETE', url: '/onboarding/business-hours', headers: agent });
    expect(byAgent.statusCode).toBe(403);
    const del = await h.app.inject({ method: 'DELETE', url: '/onboarding/business-hours', headers: admin });
    expect(del.json()).toEqual({ configured: false, config: null, updatedAt: null });
  });

  it('publishes business_hours.changed (config and version) on every change, for contexts that keep a copy', async () => {
    const tenant = bearer({ userId: 'admin-ev', tenantId: 'tenant-ev', roles: ['admin'] });
    await h.app.inject({ method: 'PUT', url: '/onboarding/business-hours', headers: tenant, payload: config });
    await h.app.inject({ method: 'DELETE', url: '/onboarding/business-hours', headers: tenant });
    // Deleting what is not there changes nothing and says nothing.
    await h.app.inject({ method: 'DELETE', url: '/onboarding/business-hours', headers: tenant });
    const changes = await waitFor(async () => {
      const all = (await readStream(h.nats)).filter((e) => e.event.type === 'business_hours.changed' && e.event.tenantId === 'tenant-ev');
      return all.length >= 2 ? all : null;
    });
    expect(changes.map((c) => [c.event.sessionId, c.event.sessionSeq, c.event.userId])).toEqual([
      ['_tenant', 1, 'admin-ev'],
      ['_tenant', 2, 'admin-ev'],
    ]);
    expect(changes[0]!.event.data).toEqual({ config, version: 1 });
    expect(changes[1]!.event.data).toEqual({ config: null, version: 2 });
    expect(changes[0]!.subject).toBe(`${h.nats.subjectPrefix}.tenant-ev._tenant.business_hours.changed`);
  });
});
