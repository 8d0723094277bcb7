/**
 * The acceptance, end to end over the real bus: a session idle past the policy gets one reminder email at
 * the first business minute after the threshold (mailbox read) and one in-app notification pushed on the user's
 * WebSocket by the real realtime service; activity before then cancels it. The scheduler runs on an injected clock.
 */
import { ReminderPolicySchema } from '@glavito/contracts';
import { buildApp as buildRealtime } from '@glavito/realtime/app';
import { loadRealtimeConfig } from '@glavito/realtime/config';
import { mintToken } from '@glavito/auth';
import { TEST_JWT_SECRET, waitFor } from '@glavito/testkit';
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applied, bearer, businessHoursEvent, sessionEvents, startHarness, startMailbox, testClock, type Harness, type Mailbox } from './helpers.js';

const TENANT = 'tenant-acme';
const weekday = { enabled: true, start: '09:00', end: '18:00' };
const HOURS = {
  timezone: 'America/Sao_Paulo',
  schedule: { monday: weekday, tuesday: weekday, wednesday: weekday, thursday: weekday, friday: weekday },
  holidays: [],
};

let h: Harness;
let mail: Mailbox;
let realtime: FastifyInstance;
const clock = testClock('2026-03-02T00:00:00Z');

beforeAll(async () => {
  mail = await startMailbox({ user: 'notify', pass: 'acceptance-secret' });
  h = await startHarness({ clock, env: { NOTIFY_SMTP_URL: mail.url } });
  realtime = await buildRealtime(
    loadRealtimeConfig({
      NATS_URL: h.nats.url,
      EVENT_STREAM: h.nats.streamName,
      EVENT_SUBJECT_PREFIX: h.nats.subjectPrefix,
      RPC_SUBJECT_PREFIX: h.nats.rpcPrefix,
      DEAD_LETTER_PREFIX: h.nats.dlqPrefix,
      PRESENCE_BUCKET: h.nats.presenceBucket,
      JWT_SECRET: TEST_JWT_SECRET,
      LOG_LEVEL: 'silent',
    }),
    { logger: false },
  );
  await realtime.ready();
  const admin = bearer({ userId: 'admin', tenantId: TENANT, roles: ['admin'] });
  const policy = ReminderPolicySchema.parse({
    enabled: true,
    inactivityMinutes: 120,
    maxReminders: 1,
    channels: ['in_app', 'email'],
    adminNotifications: { milestones: false, completion: false, email: false },
    texts: {},
  });
  expect((await h.app.inject({ method: 'PUT', url: '/onboarding/reminder-policy', headers: admin, payload: policy })).statusCode).toBe(200);
  const hours = [businessHoursEvent(TENANT, 1, HOURS)];
  await h.publish(hours);
  await applied(h, hours);
});
afterAll(async () => {
  await realtime?.close();
  await h?.close();
  await mail?.close();
});

async function socketOf(user: { userId: string; tenantId: string }) {
  const frames: Array<{ event: string; data: Record<string, unknown> }> = [];
  let ws!: WebSocket;
  const token = mintToken({ secret: TEST_JWT_SECRET, userId: user.userId, tenantId: user.tenantId, roles: ['agent'] });
  await realtime.injectWS(
    `/onboarding?token=${token}`,
    {},
    {
      onInit: (s) => {
        ws = s;
        s.on('message', (raw: Buffer) => frames.push(JSON.parse(raw.toString())));
      },
    },
  );
  await waitFor(() => frames.some((f) => f.event === 'connected'));
  return { ws, frames };
}

it('one reminder email at the first business minute after the threshold and one pushed in-app notification; activity before then cancels', async () => {
  for (const u of ['ana', 'bia']) {
    const r = await h.app.inject({
      method: 'PUT',
      url: '/onboarding/notifications/settings',
      headers: bearer({ userId: u, tenantId: TENANT }),
      payload: { email: `${u}@acme.test` },
    });
    expect(r.statusCode).toBe(200);
  }
  const ana = await socketOf({ userId: 'ana', tenantId: TENANT });
  const bia = await socketOf({ userId: 'bia', tenantId: TENANT });

  // Both go quiet on Monday 2 March 2026 at 17:00 in São Paulo (UTC-3) = 20:00Z: 60 business minutes that day,
  // 60 on Tuesday from 09:00 → Tuesday 10:00 local = 13:00Z.
  const anaSession = sessionEvents({ tenantId: TENANT, sessionId: 'sess-ana', userId: 'ana', type: 'agent_welcome' });
  const biaSession = sessionEvents({ tenantId: TENANT, sessionId: 'sess-bia', userId: 'bia', type: 'agent_welcome' });
  const quiet = [anaSession.started('2026-03-02T20:00:00Z'), biaSession.started('2026-03-02T20:00:00Z')];
  await h.publish(quiet);
  await applied(h, quiet);
  // bia comes back Tuesday at 09:30 local (12:30Z), before her reminder: it is cancelled and planned from then.
  const back = [biaSession.step('2026-03-03T12:30:00Z', 'profile_setup')];
  await h.publish(back);
  await applied(h, back);

  clock.set('2026-03-03T12:59:59Z');
  await h.app.reminderScheduler.runDue();
  expect(mail.messages).toHaveLength(0);

  clock.set('2026-03-03T13:00:00Z');
  await h.app.reminderScheduler.runDue();
  clock.set('2026-03-03T13:30:00Z');
  await h.app.reminderScheduler.runDue();

  expect(mail.messages.map((m) => m.to)).toEqual([['ana@acme.test']]);
  expect(mail.messages[0]!.header('subject')).toBe(
    '7 steps left: Complete Your Profile, Team Assignment, Permissions Overview, Feature Tour, Test Ticket Assignment, Notification Preferences, Quick Start Guide',
  );

  const push = await waitFor(() => ana.frames.find((f) => f.event === 'notification'), { message: "no notification push on ana's socket" });
  expect(push.data).toMatchObject({
    sessionId: 'sess-ana',
    notification: { kind: 'reminder', sessionId: 'sess-ana', link: 'https://app.example.test/onboarding/sess-ana/profile_setup' },
  });
  // A later event on ana's socket is the barrier: nothing else (no second push) arrived before it.
  await h.publish([anaSession.step('2026-03-03T13:40:00Z', 'profile_setup')]);
  await waitFor(() => ana.frames.some((f) => f.event === 'step_completed'));
  expect(ana.frames.filter((f) => f.event === 'notification')).toHaveLength(1);
  expect(bia.frames.filter((f) => f.event === 'notification')).toHaveLength(0);

  // bia's reminder counts from her activity: 09:30 + 120 business minutes = 11:30 local = 14:30Z.
  clock.set('2026-03-03T14:30:00Z');
  await h.app.reminderScheduler.runDue();
  expect(mail.messages.map((m) => m.to[0])).toEqual(['ana@acme.test', 'bia@acme.test']);
  await waitFor(() => bia.frames.find((f) => f.event === 'notification'), { message: "no notification push on bia's socket" });
  ana.ws.terminate();
  bia.ws.terminate();
});
