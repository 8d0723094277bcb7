import { buildEnvelope } from '@glavito/bus';
import { computeProgress, MarkReadResponseSchema, NotificationListResponseSchema, ReminderPolicyResponseSchema, type EventEnvelope } from '@glavito/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applied, bearer, sessionEvents, startHarness, testClock, type Harness } from './helpers.js';

let h: Harness;
const clock = testClock('2026-02-02T10:00:00Z');
const T = 'tenant-routes';
const admin = bearer({ userId: 'boss', tenantId: T, roles: ['admin'] });
const admin2 = bearer({ userId: 'boss2', tenantId: T, roles: ['admin'] });
const agent = bearer({ userId: 'agent-1', tenantId: T });
const foreignAdmin = bearer({ userId: 'boss', tenantId: 'tenant-other', roles: ['admin'] });

beforeAll(async () => {
  h = await startHarness({ clock });
});
afterAll(async () => {
  await h?.close();
});

function progressEvent(type: 'milestone.reached' | 'progress.updated', sessionId: string, seq: number, data: Record<string, unknown>): EventEnvelope {
  return buildEnvelope({
    type,
    data: data as never,
    tenantId: T,
    sessionId,
    userId: 'boss',
    sessionSeq: seq,
    correlationId: 'test',
    occurredAt: new Date(Date.UTC(2026, 1, 2, 9, seq)),
  } as never) as EventEnvelope;
}

describe('notification routes', () => {
  it('reminder policy: defaults, admin-only, validated with field names, per tenant', async () => {
    const get = await h.app.inject({ method: 'GET', url: '/onboarding/reminder-policy', headers: admin });
    expect(ReminderPolicyResponseSchema.parse(get.json())).toMatchObject({
      configured: false,
      updatedAt: null,
      policy: { enabled: true, inactivityMinutes: 480, maxReminders: 3 },
    });
    expect((await h.app.inject({ method: 'GET', url: '/onboarding/reminder-policy', headers: agent })).statusCode).toBe(403);
    const bad = await h.app.inject({
      method: 'PUT',
      url: '/onboarding/reminder-policy',
      headers: admin,
      payload: {
        enabled: true,
        inactivityMinutes: 0,
        maxReminders: 11,
        channels: ['email', 'email', 'sms'],
        adminNotifications: { milestones: true, completion: true, email: false },
        texts: { tenant_setup: { fr: { subject: 'x', body: 'y' } } },
      },
    });
    expect(bad.statusCode).toBe(400);
    const fields = bad.json().details.map((d: { field: string }) => d.field);
    expect(fields).toEqual(expect.arrayContaining(['body.inactivityMinutes', 'body.maxReminders', 'body.channels', 'body.texts.tenant_setup.fr']));
    const texts = { tenant_setup: { en: { subject: '{{stepsLeftCount}} to go', body: 'Next: {{nextStep}} {{link}}' } } };
    const put = await h.app.inject({
      method: 'PUT',
      url: '/onboarding/reminder-policy',
      headers: admin,
      payload: {
        enabled: true,
        inactivityMinutes: 30,
        maxReminders: 1,
        channels: ['in_app'],
        adminNotifications: { milestones: true, completion: true, email: false },
        texts,
      },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ configured: true, policy: { inactivityMinutes: 30, texts } });
    const other = await h.app.inject({ method: 'GET', url: '/onboarding/reminder-policy', headers: foreignAdmin });
    expect(other.json().configured).toBe(false);
  });

  it('milestones and completions go to the tenant admins, in-app; lists page by cursor and count unread; mark-read', async () => {
    // Two admins are known from their own tenant_setup sessions; the agent is not an admin.
    const boss = sessionEvents({ tenantId: T, sessionId: 's-boss', userId: 'boss' });
    const boss2 = sessionEvents({ tenantId: T, sessionId: 's-boss2', userId: 'boss2' });
    const ag = sessionEvents({ tenantId: T, sessionId: 's-agent', userId: 'agent-1', type: 'agent_welcome' });
    const started = [boss.started('2026-02-02T09:00:00Z'), boss2.started('2026-02-02T09:00:00Z'), ag.started('2026-02-02T09:00:00Z')];
    await h.publish(started);
    await applied(h, started);
    const progress = computeProgress('tenant_setup', {
      completedSteps: ['welcome', 'organization_setup', 'channel_configuration'],
      skippedSteps: [],
      currentStep: 'ai_configuration',
    });
    const summary = { totalTime: 42, stepsCompleted: 11, featuresEnabled: [], type: 'tenant_setup', role: 'tenant_admin' };
    const events = [
      progressEvent('milestone.reached', 's-boss', 1, { threshold: 25, title: 'Getting started', progress }),
      progressEvent('milestone.reached', 's-boss', 2, { threshold: 50, title: 'Halfway', progress }),
      progressEvent('progress.updated', 's-boss', 3, {
        progress,
        estimatedCompletion: null,
        trigger: 'session.completed',
        completion: { completedAt: '2026-02-02T10:00:00Z', forced: false, summary },
      }),
    ];
    await h.publish([...events, events[0]!]);
    await applied(h, events);

    const page1 = NotificationListResponseSchema.parse(
      (await h.app.inject({ method: 'GET', url: '/onboarding/notifications?limit=2', headers: admin })).json(),
    );
    expect(page1.unreadCount).toBe(3);
    expect(page1.items.map((n) => n.kind)).toEqual(['completion', 'milestone']);
    expect(page1.items[0]!.title).toBe('An onboarding was completed');
    const page2 = NotificationListResponseSchema.parse(
      (await h.app.inject({ method: 'GET', url: `/onboarding/notifications?limit=2&cursor=${page1.nextCursor}`, headers: admin })).json(),
    );
    expect(page2.items.map((n) => n.title)).toEqual(['An onboarding reached 25 %']);
    expect(page2.nextCursor).toBeNull();
    expect(
      NotificationListResponseSchema.parse((await h.app.inject({ method: 'GET', url: '/onboarding/notifications', headers: admin2 })).json()).unreadCount,
    ).toBe(3);
    expect(
      NotificationListResponseSchema.parse((await h.app.inject({ method: 'GET', url: '/onboarding/notifications', headers: agent })).json()).items,
    ).toEqual([]);

    const one = await h.app.inject({ method: 'POST', url: '/onboarding/notifications/mark-read', headers: admin, payload: { ids: [page1.items[0]!.id] } });
    expect(MarkReadResponseSchema.parse(one.json())).toEqual({ marked: 1, unreadCount: 2 });
    // Someone else's notification id marks nothing.
    const theirs = NotificationListResponseSchema.parse((await h.app.inject({ method: 'GET', url: '/onboarding/notifications', headers: admin2 })).json())
      .items[0]!.id;
    expect((await h.app.inject({ method: 'POST', url: '/onboarding/notifications/mark-read', headers: admin, payload: { ids: [theirs] } })).json()).toEqual({
      marked: 0,
      unreadCount: 2,
    });
    const unread = NotificationListResponseSchema.parse(
      (await h.app.inject({ method: 'GET', url: '/onboarding/notifications?unread=true', headers: admin })).json(),
    );
    expect(unread.items).toHaveLength(2);
    expect((await h.app.inject({ method: 'POST', url: '/onboarding/notifications/mark-read', headers: admin, payload: { all: true } })).json()).toEqual({
      marked: 2,
      unreadCount: 0,
    });
  });

  it('bad input is a 400 naming the field, never a 500', async () => {
    const cases = [
      { method: 'GET' as const, url: '/onboarding/notifications?limit=0', field: 'querystring.limit' },
      { method: 'GET' as const, url: '/onboarding/notifications?cursor=bm90LWEtY3Vyc29y', code: 'NOTIFICATION_CURSOR_INVALID' },
      { method: 'POST' as const, url: '/onboarding/notifications/mark-read', payload: {}, field: 'body' },
      { method: 'POST' as const, url: '/onboarding/notifications/mark-read', payload: { ids: ['nope'] }, field: 'body.ids.0' },
      { method: 'PUT' as const, url: '/onboarding/notifications/settings', payload: { email: 'not-an-address' }, field: 'body.email' },
      { method: 'POST' as const, url: '/onboarding/notifications/unsubscribe', payload: {}, field: 'querystring.token' },
    ];
    for (const c of cases) {
      const r = await h.app.inject({ method: c.method, url: c.url, headers: agent, payload: c.payload });
      expect(r.statusCode, c.url).toBe(400);
      if (c.field)
        expect(
          r.json().details.map((d: { field: string }) => d.field),
          c.url,
        ).toContain(c.field);
      if (c.code) expect(r.json().code).toBe(c.code);
    }
    expect((await h.app.inject({ method: 'GET', url: '/onboarding/notifications' })).statusCode).toBe(401);
  });
});
