import { buildEnvelope } from '@glavito/bus';
import { readStream } from '@glavito/testkit';
import type { EventEnvelope } from '@glavito/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReminderPolicySchema, NotificationListResponseSchema } from '@glavito/contracts';
import {
  applied,
  bearer,
  businessHoursEvent,
  decodeQuotedPrintable,
  sessionEvents,
  startHarness,
  startMailbox,
  testClock,
  type Harness,
  type Mailbox,
} from './helpers.js';

const TENANT = 'tenant-paris';
const ADMIN = { userId: 'ada', tenantId: TENANT, roles: ['admin'] };
const SMTP_PASS = 'smtp-canary-Pa55word-4e1f';
const weekday = { enabled: true, start: '09:00', end: '17:00' };
const PARIS = {
  timezone: 'Europe/Paris',
  schedule: { monday: weekday, tuesday: weekday, wednesday: weekday, thursday: weekday, friday: weekday },
  holidays: ['2026-01-13'],
};
const POLICY = ReminderPolicySchema.parse({
  enabled: true,
  inactivityMinutes: 60,
  maxReminders: 2,
  channels: ['in_app', 'email'],
  adminNotifications: { milestones: true, completion: true, email: false },
  texts: {},
});

let h: Harness;
let mail: Mailbox;
const clock = testClock('2026-01-09T00:00:00Z');
const logs: string[] = [];

beforeAll(async () => {
  mail = await startMailbox({ user: 'notify', pass: SMTP_PASS });
  h = await startHarness({ clock, env: { NOTIFY_SMTP_URL: mail.url, LOG_LEVEL: 'debug' } });
  // The service's own log lines, to check that the SMTP password never reaches them.
  const original = h.app.log;
  for (const level of ['info', 'warn', 'error', 'debug'] as const) {
    const fn = original[level].bind(original);
    (original as unknown as Record<string, (...a: unknown[]) => void>)[level] = (...a: unknown[]) => {
      logs.push(JSON.stringify(a));
      fn(...(a as [string]));
    };
  }
  const put = await h.app.inject({ method: 'PUT', url: '/onboarding/reminder-policy', headers: bearer(ADMIN), payload: POLICY });
  expect(put.statusCode).toBe(200);
  await h.publish([businessHoursEvent(TENANT, 1, PARIS)]);
});
afterAll(async () => {
  await h?.close();
  await mail?.close();
});

async function register(userId: string, email: string) {
  const r = await h.app.inject({ method: 'PUT', url: '/onboarding/notifications/settings', headers: bearer({ userId, tenantId: TENANT }), payload: { email } });
  expect(r.statusCode).toBe(200);
}

async function reminders(sessionId: string) {
  const { rows } = await h.sql.query<{ ordinal: number; state: string; due_at: string; email_status: string | null; attempts: number }>(
    `SELECT ordinal, state, due_at, email_status, attempts FROM notification.reminders WHERE session_id = $1 ORDER BY created_at, ordinal`,
    [sessionId],
  );
  return rows.map((r) => ({ ...r, due_at: new Date(r.due_at).toISOString() }));
}

const messagesTo = (address: string) => mail.messages.filter((m) => m.to.includes(address));

describe('a session idle past the policy', () => {
  it('gets one reminder email at the first business minute after the threshold and one in-app notification, exactly once', async () => {
    await register('ada', 'ada@example.test');
    const s = sessionEvents({ tenantId: TENANT, sessionId: 'sess-idle', userId: 'ada' });
    // Friday 9 January 2026, 16:30 in Paris (UTC+1): 30 business minutes left that day.
    const events = [s.started('2026-01-09T15:00:00Z'), s.step('2026-01-09T15:30:00Z', 'organization_setup')];
    await h.publish(events);
    await applied(h, events);
    // 30 minutes on Friday + 30 on Monday from 09:00: Monday 12 January 09:30 Paris.
    // The start planned one for Friday 17:00 Paris; the step, 30 minutes later, replaced it (the superseded one is gone).
    expect(await reminders('sess-idle')).toEqual([expect.objectContaining({ ordinal: 1, state: 'scheduled', due_at: '2026-01-12T08:30:00.000Z' })]);

    clock.set('2026-01-12T08:29:59Z');
    await h.app.reminderScheduler.runDue();
    expect(messagesTo('ada@example.test')).toHaveLength(0);

    clock.set('2026-01-12T08:30:00Z');
    expect(await h.app.reminderScheduler.runDue()).toEqual({ claimed: 1, emailed: 1 });
    await h.app.reminderScheduler.runDue();
    clock.set('2026-01-12T08:45:00Z');
    await h.app.reminderScheduler.runDue();

    const [msg, ...more] = messagesTo('ada@example.test');
    expect(more).toHaveLength(0);
    expect(msg!.header('subject')).toBe(
      '9 steps left: Channel Configuration, AI & Automation, Knowledge Base, Payment Setup, Team Management, Workflow Configuration, Customer Portal, Data Import, Analytics Setup',
    );
    const reminderId = (
      await h.sql.query<{ id: string }>(`SELECT id FROM notification.reminders WHERE session_id = 'sess-idle' AND ordinal = 1 AND state = 'sent'`)
    ).rows[0]!.id;
    expect(msg!.header('message-id')).toBe(`<reminder-${reminderId}@notifications.glavito.local>`);
    expect(msg!.header('list-unsubscribe')).toMatch(
      /^<https:\/\/api\.example\.test\/onboarding\/notifications\/unsubscribe\?token=[\w-]+\.[\w-]+> \(Unsubscribe\)$/,
    );
    expect(msg!.header('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    expect(msg!.header('content-type')).toMatch(/^multipart\/alternative/);
    expect(msg!.raw).toMatch(/Content-Type: text\/plain/);
    expect(msg!.raw).toMatch(/Content-Type: text\/html/);
    const decoded = decodeQuotedPrintable(msg!.raw);
    expect(decoded).toContain('https://app.example.test/onboarding/sess-idle/channel_configuration');
    expect(decoded).toContain('<a href="https://app.example.test/onboarding/sess-idle/channel_configuration">Channel Configuration</a>');
    // The visible link goes to the frontend's confirmation page (a GET must not unsubscribe: link scanners follow links).
    expect(decoded).toMatch(/Stop these emails: https:\/\/app\.example\.test\/unsubscribe\?token=[\w-]+\.[\w-]+/);

    // One in-app notification, pushed through one notification.created event addressed to the user.
    const list = NotificationListResponseSchema.parse((await h.app.inject({ method: 'GET', url: '/onboarding/notifications', headers: bearer(ADMIN) })).json());
    expect(list.unreadCount).toBe(1);
    expect(list.items).toEqual([
      expect.objectContaining({
        kind: 'reminder',
        sessionId: 'sess-idle',
        link: 'https://app.example.test/onboarding/sess-idle/channel_configuration',
        readAt: null,
        stepsLeft: expect.arrayContaining(['Channel Configuration', 'AI & Automation']),
      }),
    ]);
    const created = (await readStream(h.nats)).filter((e) => e.event.type === 'notification.created' && e.event.sessionId === 'sess-idle');
    expect(created).toHaveLength(1);
    expect(created[0]!.event.userId).toBe('ada');
    expect((created[0]!.event.data as { notification: { id: string } }).notification.id).toBe(list.items[0]!.id);

    // The second reminder counts 60 business minutes from the first: 10:30 Monday; Tuesday 13 is a holiday.
    expect(await reminders('sess-idle')).toEqual([
      expect.objectContaining({ ordinal: 1, state: 'sent', email_status: 'sent', attempts: 1 }),
      expect.objectContaining({ ordinal: 2, state: 'scheduled', due_at: '2026-01-12T09:30:00.000Z' }),
    ]);
    // No secret in any record or log line: the SMTP password stays in the transport.
    const dump = await h.sql.query(
      `SELECT (SELECT json_agg(r) FROM notification.reminders r)::text || (SELECT json_agg(d) FROM notification.deliveries d)::text || (SELECT json_agg(o) FROM notification.outbox o)::text AS all`,
    );
    expect(JSON.stringify(dump.rows)).not.toContain(SMTP_PASS);
    expect(logs.join('\n')).not.toContain(SMTP_PASS);
    expect(JSON.stringify(await readStream(h.nats))).not.toContain(SMTP_PASS);
  });

  it('is cancelled by activity before it is due, and planned again from that activity', async () => {
    await register('ben', 'ben@example.test');
    const s = sessionEvents({ tenantId: TENANT, sessionId: 'sess-active', userId: 'ben' });
    const first = [s.started('2026-01-14T08:00:00Z')]; // Wednesday 09:00 Paris → due 10:00
    await h.publish(first);
    await applied(h, first);
    const activity = [s.step('2026-01-14T08:50:00Z', 'organization_setup')]; // 09:50: before the reminder
    await h.publish(activity);
    await applied(h, activity);
    clock.set('2026-01-14T09:00:00Z');
    await h.app.reminderScheduler.runDue();
    expect(messagesTo('ben@example.test')).toHaveLength(0);
    expect(await reminders('sess-active')).toEqual([expect.objectContaining({ ordinal: 1, state: 'scheduled', due_at: '2026-01-14T09:50:00.000Z' })]);
    clock.set('2026-01-14T09:50:00Z');
    await h.app.reminderScheduler.runDue();
    expect(messagesTo('ben@example.test')).toHaveLength(1);
  });

  it('is never sent to a paused, completed or abandoned session', async () => {
    const ends = ['paused', 'completed', 'abandoned'] as const;
    for (const end of ends) {
      await register(`cy-${end}`, `cy-${end}@example.test`);
      const s = sessionEvents({ tenantId: TENANT, sessionId: `sess-${end}`, userId: `cy-${end}` });
      const events = [s.started('2026-01-15T08:00:00Z'), s.status('2026-01-15T08:10:00Z', end)];
      await h.publish(events);
      await applied(h, events);
    }
    clock.set('2026-01-16T16:00:00Z');
    await h.app.reminderScheduler.runDue();
    for (const end of ends) {
      expect(messagesTo(`cy-${end}@example.test`)).toHaveLength(0);
      expect(await reminders(`sess-${end}`)).toEqual([expect.objectContaining({ state: 'cancelled' })]);
    }
  });

  it("honours the agent's notification_preferences (email: false) and unsubscribes through the List-Unsubscribe link", async () => {
    await register('dee', 'dee@example.test');
    const agent = sessionEvents({ tenantId: TENANT, sessionId: 'sess-prefs', userId: 'dee', type: 'agent_welcome' });
    const events = [
      agent.started('2026-01-19T08:00:00Z'),
      agent.step('2026-01-19T08:05:00Z', 'profile_setup', { notificationPreferences: { email: false, push: true } }),
    ];
    await h.publish(events);
    await applied(h, events);
    clock.set('2026-01-19T09:05:00Z');
    await h.app.reminderScheduler.runDue();
    expect(messagesTo('dee@example.test')).toHaveLength(0);
    expect((await reminders('sess-prefs')).find((r) => r.ordinal === 1 && r.state !== 'cancelled')).toMatchObject({
      state: 'sent',
      email_status: 'skipped:preferences',
    });
    const settings = await h.app.inject({ method: 'GET', url: '/onboarding/notifications/settings', headers: bearer({ userId: 'dee', tenantId: TENANT }) });
    expect(settings.json()).toEqual({ email: 'dee@example.test', emailReminders: true, language: 'en', preferences: { email: false, push: true } });

    // Unsubscribe: the link of fay's first reminder, posted the way a mail client's one-click does (no token, a form body).
    await register('fay', 'fay@example.test');
    const fay = sessionEvents({ tenantId: TENANT, sessionId: 'sess-unsub', userId: 'fay' });
    const fayEvents = [fay.started('2026-01-21T08:00:00Z')]; // Wednesday 09:00 Paris → 10:00, then 11:00
    await h.publish(fayEvents);
    await applied(h, fayEvents);
    clock.set('2026-01-21T09:00:00Z');
    await h.app.reminderScheduler.runDue();
    expect(messagesTo('fay@example.test')).toHaveLength(1);
    const link = messagesTo('fay@example.test')[0]!
      .header('list-unsubscribe')!
      .match(/<([^>]+)>/)![1]!;
    const path = link.replace('https://api.example.test', '');
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const forged = await h.app.inject({ method: 'POST', url: path.replace(/\.[\w-]+$/, '.AAAA'), headers: form, payload: 'List-Unsubscribe=One-Click' });
    expect(forged.statusCode).toBe(400);
    expect(forged.json().code).toBe('NOTIFICATION_UNSUBSCRIBE_TOKEN_INVALID');
    const ok = await h.app.inject({ method: 'POST', url: path, headers: form, payload: 'List-Unsubscribe=One-Click' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ unsubscribed: true });
    const faySettings = await h.app.inject({ method: 'GET', url: '/onboarding/notifications/settings', headers: bearer({ userId: 'fay', tenantId: TENANT }) });
    expect(faySettings.json()).toMatchObject({ email: 'fay@example.test', emailReminders: false });
    // The second reminder goes in-app only.
    clock.set('2026-01-21T10:00:00Z');
    await h.app.reminderScheduler.runDue();
    expect(messagesTo('fay@example.test')).toHaveLength(1);
    expect((await reminders('sess-unsub')).at(-1)).toMatchObject({ ordinal: 2, state: 'sent', email_status: 'skipped:unsubscribed' });
    const list = NotificationListResponseSchema.parse(
      (await h.app.inject({ method: 'GET', url: '/onboarding/notifications', headers: bearer({ userId: 'fay', tenantId: TENANT }) })).json(),
    );
    expect(list.items.map((n) => n.kind)).toEqual(['reminder', 'reminder']);
    // Subscribing again is the user's own choice, through their settings.
    const again = await h.app.inject({
      method: 'PUT',
      url: '/onboarding/notifications/settings',
      headers: bearer({ userId: 'fay', tenantId: TENANT }),
      payload: { emailReminders: true },
    });
    expect(again.json()).toMatchObject({ emailReminders: true });
  });

  it('records a bounce (5xx) without retrying it, and without any secret', async () => {
    await register('eve', 'bounce-eve@example.test');
    const s = sessionEvents({ tenantId: TENANT, sessionId: 'sess-bounce', userId: 'eve' });
    const events = [s.started('2026-01-20T08:00:00Z')];
    await h.publish(events);
    await applied(h, events);
    clock.set('2026-01-20T09:00:00Z');
    await h.app.reminderScheduler.runDue();
    expect((await reminders('sess-bounce'))[0]).toMatchObject({ state: 'sent', email_status: 'bounced', attempts: 1 });
    const { rows } = await h.sql.query<{ outcome: string; smtp_code: number; detail: string }>(
      `SELECT outcome, smtp_code, detail FROM notification.deliveries d JOIN notification.reminders r ON r.id = d.reminder_id WHERE r.session_id = 'sess-bounce'`,
    );
    expect(rows).toEqual([{ outcome: 'bounced', smtp_code: 550, detail: expect.stringContaining('No such user') }]);
    expect(JSON.stringify(rows)).not.toContain(SMTP_PASS);
  });

  it('emails milestone and completion notices to admins when the policy says so, once', async () => {
    const put = await h.app.inject({
      method: 'PUT',
      url: '/onboarding/reminder-policy',
      headers: bearer(ADMIN),
      payload: { ...POLICY, adminNotifications: { milestones: true, completion: true, email: true } },
    });
    expect(put.statusCode).toBe(200);
    const progress = {
      totalSteps: 11,
      completedSteps: 6,
      skippedSteps: 0,
      progressPercentage: 55,
      estimatedTimeRemaining: 60,
      currentStep: 'team_management',
      nextStep: 'team_management',
      nextRecommendedAction: 'Team Management',
    };
    const milestone = buildEnvelope({
      type: 'milestone.reached',
      data: { threshold: 50, title: 'Halfway', progress } as never,
      tenantId: TENANT,
      sessionId: 'sess-idle',
      userId: 'ada',
      sessionSeq: 1,
      correlationId: 'test',
    } as never) as EventEnvelope;
    await h.publish([milestone, milestone]);
    await applied(h, [milestone]);
    const before = messagesTo('ada@example.test').length;
    clock.set('2026-01-22T09:00:00Z');
    await Promise.all([h.app.reminderScheduler.runDue(), h.app.reminderScheduler.runDue()]);
    await h.app.reminderScheduler.runDue();
    const notices = messagesTo('ada@example.test').slice(before);
    expect(notices).toHaveLength(1);
    expect(notices[0]!.header('subject')).toBe('An onboarding reached 50 %');
    expect(notices[0]!.header('message-id')).toMatch(/^<notice-[0-9a-f-]{36}@notifications\.glavito\.local>$/);
    expect(notices[0]!.header('list-unsubscribe')).toMatch(/unsubscribe\?token=/);
    // Every admin of the tenant with an address (the other tenant_setup users here) gets exactly one too.
    const { rows } = await h.sql.query(`SELECT user_id, state, email_status, attempts FROM notification.notice_emails ORDER BY user_id`);
    expect(rows.find((r) => r.user_id === 'ada')).toEqual({ user_id: 'ada', state: 'sent', email_status: 'sent', attempts: 1 });
    expect(new Set(rows.map((r) => r.user_id)).size).toBe(rows.length);
    const noticeTo = mail.messages.filter((m) => m.header('message-id')?.startsWith('<notice-')).map((m) => m.to[0]);
    expect(noticeTo).toHaveLength(rows.filter((r) => r.email_status === 'sent').length);
    expect(new Set(noticeTo).size).toBe(noticeTo.length);
  });
});
