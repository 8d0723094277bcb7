/**
 * Exactly once across replicas and crashes: two replicas racing over the same due reminders, and a replica killed
 * (SIGKILL, a real process) in the middle of sending, its reminder taken over by another replica once the lease ran out.
 * Every assertion reads the mailbox of a real SMTP server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ReminderPolicySchema } from '@glavito/contracts';
import { freePort, readStream, serviceEntryArgs, TEST_JWT_SECRET, waitFor } from '@glavito/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { applied, bearer, sessionEvents, startHarness, startMailbox, testClock, type Harness, type Mailbox } from './helpers.js';

const TENANT = 'tenant-once';
const ADMIN = bearer({ userId: 'admin-once', tenantId: TENANT, roles: ['admin'] });
const serviceDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let h: Harness;
let mail: Mailbox;
let child: ChildProcess | null = null;
const clock = testClock(new Date());

beforeAll(async () => {
  mail = await startMailbox({ user: 'notify', pass: 'once-secret-password' });
  h = await startHarness({ clock, env: { NOTIFY_SMTP_URL: mail.url, NOTIFY_BATCH_SIZE: '3', NOTIFY_SEND_LEASE: '10m' } });
  const policy = ReminderPolicySchema.parse({
    enabled: true,
    inactivityMinutes: 1,
    maxReminders: 1,
    channels: ['in_app', 'email'],
    adminNotifications: { milestones: false, completion: false, email: false },
    texts: {},
  });
  expect((await h.app.inject({ method: 'PUT', url: '/onboarding/reminder-policy', headers: ADMIN, payload: policy })).statusCode).toBe(200);
});
afterEach(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = null;
  mail.hold = 'none';
});
afterAll(async () => {
  await h?.close();
  await mail?.close();
});

/** Sessions whose users went quiet ten minutes ago (no business hours: always open), each with an address. */
async function idleSessions(prefix: string, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  const events = [];
  for (const id of ids) {
    const r = await h.app.inject({
      method: 'PUT',
      url: '/onboarding/notifications/settings',
      headers: bearer({ userId: `u-${id}`, tenantId: TENANT }),
      payload: { email: `u-${id}@example.test` },
    });
    expect(r.statusCode).toBe(200);
    events.push(sessionEvents({ tenantId: TENANT, sessionId: id, userId: `u-${id}` }).started(new Date(Date.now() - 10 * 60_000).toISOString()));
  }
  await h.publish(events);
  await applied(h, events);
  return ids;
}

const mailFor = (sessionId: string) => mail.messages.filter((m) => m.to.includes(`u-${sessionId}@example.test`));

async function reminderOf(sessionId: string) {
  const { rows } = await h.sql.query<{ id: string; state: string; attempts: number; email_status: string | null; message_id: string | null }>(
    `SELECT id, state, attempts, email_status, message_id FROM notification.reminders WHERE session_id = $1`,
    [sessionId],
  );
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

async function notificationsOf(sessionId: string): Promise<number> {
  const { rows } = await h.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM notification.notifications WHERE session_id = $1`, [sessionId]);
  return rows[0]!.n;
}

/** The service as its own process (the real server.ts), scanning every 100 ms with the real clock. */
async function startProcess(): Promise<ChildProcess> {
  const port = await freePort();
  const logs: string[] = [];
  const proc = spawn(process.execPath, serviceEntryArgs(serviceDir), {
    cwd: serviceDir,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DATABASE_URL: h.db.url,
      NATS_URL: h.nats.url,
      EVENT_STREAM: h.nats.streamName,
      EVENT_SUBJECT_PREFIX: h.nats.subjectPrefix,
      RPC_SUBJECT_PREFIX: h.nats.rpcPrefix,
      DEAD_LETTER_PREFIX: h.nats.dlqPrefix,
      JWT_SECRET: TEST_JWT_SECRET,
      NOTIFY_SMTP_URL: mail.url,
      NOTIFY_SCAN_INTERVAL: '100ms',
      DB_POOL_MAX: '4',
      NOTIFY_SEND_LEASE: '10m',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d: Buffer) => logs.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
  await waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error(`service exited:\n${logs.join('')}`);
      return (await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => null))?.ok === true;
    },
    { timeoutMs: 120_000, message: 'service process not ready' },
  );
  return proc;
}

async function kill(proc: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGKILL');
  await exited;
}

describe('exactly once', () => {
  it('two replicas racing over the same due reminders send each one once', { timeout: 120_000 }, async () => {
    const ids = await idleSessions('race', 12);
    const otherClock = testClock(clock());
    const replica: FastifyInstance = await h.startReplica(otherClock);
    // Batches of 3, six runs at once over two replicas: each run keeps claiming until nothing is due.
    const runs = await Promise.all([h.app, replica, h.app, replica, h.app, replica].map((a) => a.reminderScheduler.runDue()));
    expect(runs.reduce((n, r) => n + r.emailed, 0)).toBe(12);
    for (const id of ids) {
      expect(mailFor(id)).toHaveLength(1);
      expect(await reminderOf(id)).toMatchObject({ state: 'sent', attempts: 1, email_status: 'sent' });
      expect(await notificationsOf(id)).toBe(1);
    }
    const created = (await readStream(h.nats)).filter((e) => e.event.type === 'notification.created' && ids.includes(e.event.sessionId));
    expect(created).toHaveLength(12);
  });

  // Each starts the service as a process (tsx): generous on a loaded machine.
  it('a replica killed mid-send (before the message was transmitted): another one sends it, once', { timeout: 180_000 }, async () => {
    const [id] = await idleSessions('crash-rcpt', 1);
    mail.hold = 'rcpt';
    const held = mail.held;
    child = await startProcess();
    // The process claimed the reminder (in-app notification recorded) and is in the SMTP transaction.
    await waitFor(() => mail.held > held, { timeoutMs: 90_000, message: 'the process never reached RCPT TO' });
    await kill(child);
    await waitFor(() => mail.dropped > 0, { message: 'the SMTP connection did not close' });
    expect(mailFor(id!)).toHaveLength(0);
    expect(await reminderOf(id!)).toMatchObject({ state: 'sending', attempts: 1 });
    expect(await notificationsOf(id!)).toBe(1);

    mail.hold = 'none';
    // Still within the dead sender's lease: nobody may take it yet.
    expect((await h.app.reminderScheduler.runDue()).emailed).toBe(0);
    clock.set(new Date(Date.now() + 11 * 60_000));
    expect((await h.app.reminderScheduler.runDue()).emailed).toBe(1);
    await h.app.reminderScheduler.runDue();

    const r = await reminderOf(id!);
    expect(r).toMatchObject({ state: 'sent', attempts: 2, email_status: 'sent' });
    const delivered = mailFor(id!);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.header('message-id')).toBe(r.message_id);
    // The in-app notification was recorded once, at the claim, and not again by the retry.
    expect(await notificationsOf(id!)).toBe(1);
    expect((await readStream(h.nats)).filter((e) => e.event.type === 'notification.created' && e.event.sessionId === id)).toHaveLength(1);
  });

  it(
    'a replica killed after the server stored the message but before it recorded the send: the retry carries the same Message-ID',
    { timeout: 180_000 },
    async () => {
      clock.set(new Date());
      const [id] = await idleSessions('crash-reply', 1);
      mail.hold = 'reply';
      const held = mail.held;
      child = await startProcess();
      await waitFor(() => mail.held > held, { timeoutMs: 90_000, message: 'the process never sent its message' });
      await kill(child);
      mail.hold = 'none';
      clock.set(new Date(Date.now() + 11 * 60_000));
      await h.app.reminderScheduler.runDue();
      const r = await reminderOf(id!);
      expect(r).toMatchObject({ state: 'sent', attempts: 2, email_status: 'sent' });
      // SMTP cannot tell a sender whether a message it never got a 250 for was stored: the server here had stored it,
      // so it has two copies, with one Message-ID, which receivers that de-duplicate on it (RFC 7352 `duplicate`,
      // the large mailbox providers) keep once. The in-app notification is still exactly one.
      const copies = mailFor(id!);
      expect(copies).toHaveLength(2);
      expect(new Set(copies.map((m) => m.header('message-id')))).toEqual(new Set([r.message_id]));
      expect(await notificationsOf(id!)).toBe(1);
    },
  );
});
