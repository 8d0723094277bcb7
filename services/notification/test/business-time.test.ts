/**
 * When a reminder lands, in the tenant's business time (learned from business_hours.changed): overnight windows,
 * a DST change, holidays, and re-planning when the hours or the policy change. The scheduler runs on an injected
 * clock, one second before and at the due minute.
 */
import { ReminderPolicySchema, type BusinessHoursConfig } from '@glavito/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applied, bearer, businessHoursEvent, sessionEvents, startHarness, testClock, type Harness } from './helpers.js';

let h: Harness;
const clock = testClock('2026-01-01T00:00:00Z');

beforeAll(async () => {
  h = await startHarness({ clock });
});
afterAll(async () => {
  await h?.close();
});

const policy = (minutes: number) =>
  ReminderPolicySchema.parse({
    enabled: true,
    inactivityMinutes: minutes,
    maxReminders: 1,
    channels: ['in_app'],
    adminNotifications: { milestones: false, completion: false, email: false },
    texts: {},
  });

async function setUp(tenantId: string, hours: BusinessHoursConfig | null, minutes: number) {
  const r = await h.app.inject({
    method: 'PUT',
    url: '/onboarding/reminder-policy',
    headers: bearer({ userId: 'admin', tenantId, roles: ['admin'] }),
    payload: policy(minutes),
  });
  expect(r.statusCode).toBe(200);
  if (hours) {
    const e = [businessHoursEvent(tenantId, 1, hours)];
    await h.publish(e);
    await applied(h, e);
  }
}

async function idleSince(tenantId: string, sessionId: string, at: string) {
  const e = [sessionEvents({ tenantId, sessionId, userId: `u-${sessionId}` }).started(at)];
  await h.publish(e);
  await applied(h, e);
}

async function dueOf(sessionId: string): Promise<string> {
  const { rows } = await h.sql.query<{ due_at: Date }>(`SELECT due_at FROM notification.reminders WHERE session_id = $1 AND state = 'scheduled'`, [sessionId]);
  expect(rows).toHaveLength(1);
  return rows[0]!.due_at.toISOString();
}

async function inAppCount(sessionId: string): Promise<number> {
  const { rows } = await h.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM notification.notifications WHERE session_id = $1`, [sessionId]);
  return rows[0]!.n;
}

/** Nothing one second before `due`, the reminder at `due`. */
async function expectDeliveredAt(sessionId: string, due: string) {
  expect(await dueOf(sessionId)).toBe(due);
  clock.set(new Date(Date.parse(due) - 1000));
  await h.app.reminderScheduler.runDue();
  expect(await inAppCount(sessionId)).toBe(0);
  clock.set(due);
  await h.app.reminderScheduler.runDue();
  expect(await inAppCount(sessionId)).toBe(1);
}

const day = (start: string, end: string) => ({ enabled: true, start, end });

describe('reminders in business time', () => {
  it('an overnight window (Friday 20:00-24:00, Saturday 00:00-04:00) counts across midnight', async () => {
    await setUp('t-night', { timezone: 'America/New_York', schedule: { friday: day('20:00', '24:00'), saturday: day('00:00', '04:00') }, holidays: [] }, 60);
    // Friday 16 January 2026, 23:30 EST = Saturday 04:30Z; 30 minutes before midnight, 30 after.
    await idleSince('t-night', 's-night', '2026-01-17T04:30:00Z');
    await expectDeliveredAt('s-night', '2026-01-17T05:30:00.000Z');
  });

  it('a reminder due after the window closes waits for the next opening (never at 3 a.m.)', async () => {
    await setUp('t-close', { timezone: 'Europe/Berlin', schedule: { monday: day('09:00', '17:00'), tuesday: day('09:00', '17:00') }, holidays: [] }, 120);
    // Monday 19 January 2026 16:00 CET = 15:00Z: 60 minutes Monday, 60 Tuesday from 09:00 → 10:00 CET = 09:00Z.
    await idleSince('t-close', 's-close', '2026-01-19T15:00:00Z');
    await expectDeliveredAt('s-close', '2026-01-20T09:00:00.000Z');
  });

  it('across the spring-forward DST change, business minutes are real minutes', async () => {
    await setUp('t-dst', { timezone: 'America/New_York', schedule: { sunday: day('00:00', '24:00') }, holidays: [] }, 60);
    // Sunday 8 March 2026, 01:30 EST = 06:30Z; 02:00-03:00 does not exist: due 03:30 EDT = 07:30Z.
    await idleSince('t-dst', 's-dst', '2026-03-08T06:30:00Z');
    await expectDeliveredAt('s-dst', '2026-03-08T07:30:00.000Z');
  });

  it('a holiday is skipped (Easter Monday)', async () => {
    const weekday = day('09:00', '17:00');
    await setUp(
      't-holiday',
      {
        timezone: 'Europe/Paris',
        schedule: { monday: weekday, tuesday: weekday, wednesday: weekday, thursday: weekday, friday: weekday },
        holidays: ['2026-04-06'],
      },
      60,
    );
    // Friday 3 April 2026 16:30 CEST = 14:30Z: 30 minutes Friday, Monday 6 is a holiday, 30 Tuesday → 09:30 CEST = 07:30Z.
    await idleSince('t-holiday', 's-holiday', '2026-04-03T14:30:00Z');
    await expectDeliveredAt('s-holiday', '2026-04-07T07:30:00.000Z');
  });

  it('new business hours or a new policy re-plan pending reminders; an older hours event changes nothing', async () => {
    const weekday = day('09:00', '17:00');
    const v1: BusinessHoursConfig = { timezone: 'UTC', schedule: { monday: weekday, tuesday: weekday }, holidays: [] };
    await setUp('t-replan', v1, 60);
    await idleSince('t-replan', 's-replan', '2026-01-19T16:30:00Z'); // Monday 16:30 UTC → Tuesday 09:30
    expect(await dueOf('s-replan')).toBe('2026-01-20T09:30:00.000Z');

    const v2: BusinessHoursConfig = { timezone: 'UTC', schedule: { monday: day('09:00', '18:00'), tuesday: weekday }, holidays: [] };
    const changed = [businessHoursEvent('t-replan', 2, v2)];
    await h.publish(changed);
    await applied(h, changed);
    expect(await dueOf('s-replan')).toBe('2026-01-19T17:30:00.000Z');

    const stale = [businessHoursEvent('t-replan', 1, v1)];
    await h.publish(stale);
    await applied(h, stale);
    expect(await dueOf('s-replan')).toBe('2026-01-19T17:30:00.000Z');

    const admin = bearer({ userId: 'admin', tenantId: 't-replan', roles: ['admin'] });
    await h.app.inject({ method: 'PUT', url: '/onboarding/reminder-policy', headers: admin, payload: policy(120) });
    expect(await dueOf('s-replan')).toBe('2026-01-20T09:30:00.000Z');

    // Hours removed (DELETE on the session side): always open.
    const removed = [businessHoursEvent('t-replan', 3, null)];
    await h.publish(removed);
    await applied(h, removed);
    expect(await dueOf('s-replan')).toBe('2026-01-19T18:30:00.000Z');

    await h.app.inject({ method: 'PUT', url: '/onboarding/reminder-policy', headers: admin, payload: { ...policy(60), enabled: false } });
    const { rows } = await h.sql.query<{ state: string }>(`SELECT state FROM notification.reminders WHERE session_id = 's-replan'`);
    expect(rows).toEqual([{ state: 'cancelled' }]);
  });
});
