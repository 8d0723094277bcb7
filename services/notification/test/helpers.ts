import type { AddressInfo } from 'node:net';
import { mintToken } from '@glavito/auth';
import { buildEnvelope, publishEvent } from '@glavito/bus';
import {
  computeProgress,
  stepCatalog,
  TENANT_SCOPE_ID,
  type BusinessHoursConfig,
  type EventEnvelope,
  type EventType,
  type OnboardingType,
} from '@glavito/contracts';
import { serviceTestEnv, startTestService, TEST_JWT_SECRET, waitFor, type TestDatabase, type TestNats, type TestService } from '@glavito/testkit';
import { jetstream } from '@nats-io/jetstream';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { buildApp } from '../src/app.js';
import { loadNotificationConfig, type NotificationConfig } from '../src/config.js';

/** A clock the test moves; the scheduler reads nothing else. */
export function testClock(start: string | Date) {
  let now = new Date(start);
  const clock = () => new Date(now);
  return Object.assign(clock, {
    set(at: string | Date) {
      now = new Date(at);
    },
  });
}
export type TestClock = ReturnType<typeof testClock>;

export interface Harness extends TestService<NotificationConfig, FastifyInstance> {
  sql: pg.Pool;
  clock: TestClock;
  publish(events: EventEnvelope[]): Promise<void>;
  /** Another replica on the same database, stream and durable consumer, with its own clock. */
  startReplica(clock: TestClock, env?: Record<string, string>): Promise<FastifyInstance>;
}

export function testConfig(db: TestDatabase, nats: TestNats, env: Record<string, string> = {}): NotificationConfig {
  return loadNotificationConfig({
    ...serviceTestEnv(db, nats),
    NOTIFY_SCAN_INTERVAL: '0',
    // The Postgres on this machine is shared by every suite: a few connections per replica are plenty here.
    DB_POOL_MAX: '4',
    NOTIFY_APP_URL: 'https://app.example.test',
    NOTIFY_PUBLIC_API_URL: 'https://api.example.test',
    ...env,
  });
}

export async function startHarness(opts: { env?: Record<string, string>; clock?: TestClock } = {}): Promise<Harness> {
  const clock = opts.clock ?? testClock('2026-01-05T00:00:00Z');
  const service = await startTestService({
    config: (db, nats) => testConfig(db, nats, opts.env),
    build: (config) => buildApp(config, { logger: false, clock }),
  });
  const { db, nats } = service;
  const js = jetstream(nats.nc);
  const sql = new pg.Pool({ connectionString: db.url, max: 2 });
  service.defer(() => sql.end());
  return Object.assign(service, {
    sql,
    clock,
    async publish(events: EventEnvelope[]) {
      for (const e of events) await publishEvent(js, nats.subjectPrefix, e);
    },
    async startReplica(replicaClock: TestClock, env: Record<string, string> = {}) {
      const replica = await buildApp(testConfig(db, nats, { ...opts.env, ...env }), { logger: false, clock: replicaClock });
      service.defer(() => replica.close());
      await replica.ready();
      return replica;
    },
  });
}

/** A reminder policy of the tenant's own (in-app, 60 minutes): its events take the general path, not the default-rules one. */
export async function putOwnPolicy(h: Harness, tenantId: string, by: string): Promise<void> {
  await h.app.notificationRepo.putPolicy(
    tenantId,
    {
      enabled: true,
      inactivityMinutes: 60,
      maxReminders: 1,
      channels: ['in_app'],
      adminNotifications: { milestones: true, completion: true, email: false },
      texts: {},
    },
    by,
    new Date(),
  );
}

export const bearer = (user: { userId: string; tenantId: string; roles?: string[] }) => ({
  authorization: `Bearer ${mintToken({ secret: TEST_JWT_SECRET, userId: user.userId, tenantId: user.tenantId, roles: user.roles ?? ['agent'] })}`,
});

/** One session's events as the session service writes them (consecutive sessionSeq, state snapshots). */
export function sessionEvents(s: { tenantId: string; sessionId: string; userId: string; type?: OnboardingType }) {
  const type = s.type ?? 'tenant_setup';
  let seq = 0;
  let completed: string[] = [];
  let status: 'active' | 'paused' | 'completed' | 'abandoned' = 'active';
  const catalog = stepCatalog(type);
  const snapshot = () => {
    const currentStep = catalog.find((c) => !completed.includes(c.id))?.id ?? null;
    return {
      sessionType: type,
      completedSteps: completed,
      skippedSteps: [],
      currentStep,
      status,
      progress: computeProgress(type, { completedSteps: completed, skippedSteps: [], currentStep }),
    };
  };
  const make = (eventType: EventType, at: string, data: Record<string, unknown>) =>
    buildEnvelope({
      type: eventType,
      data: data as never,
      tenantId: s.tenantId,
      sessionId: s.sessionId,
      userId: s.userId,
      sessionSeq: ++seq,
      correlationId: 'test',
      occurredAt: new Date(at),
    } as never) as EventEnvelope;
  return {
    started(at: string) {
      completed = ['welcome'];
      return make('session.started', at, { ...snapshot(), role: type === 'tenant_setup' ? 'tenant_admin' : 'agent', startedAt: at });
    },
    step(at: string, stepId: string, extra: Record<string, unknown> = {}) {
      completed = [...completed, stepId];
      const snap = snapshot();
      return make('step.completed', at, { ...snap, stepId, nextStep: snap.currentStep, ...extra });
    },
    status(at: string, to: 'paused' | 'resumed' | 'completed' | 'abandoned') {
      status = to === 'resumed' ? 'active' : to;
      if (to === 'completed')
        return make('session.completed', at, {
          ...snapshot(),
          completedAt: at,
          forced: false,
          summary: { totalTime: 10, stepsCompleted: completed.length, featuresEnabled: [], type, role: 'tenant_admin' },
        });
      return make(`session.${to}` as EventType, at, snapshot());
    },
  };
}

export function businessHoursEvent(tenantId: string, version: number, config: BusinessHoursConfig | null, userId = 'admin-1'): EventEnvelope {
  return buildEnvelope({
    type: 'business_hours.changed',
    data: { config, version },
    tenantId,
    sessionId: TENANT_SCOPE_ID,
    userId,
    sessionSeq: version,
    correlationId: 'test',
  } as never) as EventEnvelope;
}

/** Waits until the consumer has applied every published event (the inbox holds their ids). */
export async function applied(h: Harness, events: EventEnvelope[]): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await h.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM notification.inbox WHERE event_id = ANY($1::uuid[])', [
        events.map((e) => e.id),
      ]);
      return rows[0]!.n === events.length;
    },
    { timeoutMs: 20_000, message: 'events not applied' },
  );
}

export interface DeliveredMail {
  raw: string;
  to: string[];
  header(name: string): string | undefined;
}

export interface Mailbox {
  url: string;
  /** Every message the server accepted (a message accepted twice is here twice). */
  messages: DeliveredMail[];
  /** Connections that reached RCPT TO and are being held (hold: 'rcpt'). */
  held: number;
  hold: 'none' | 'rcpt' | 'reply';
  /** Connections closed by the client while their message was held. */
  dropped: number;
  /** Connection errors the server saw (a client killed mid-transaction resets its connection). */
  errors: string[];
  close(): Promise<void>;
}

function headerOf(raw: string, name: string): string | undefined {
  const head = raw.split(/\r?\n\r?\n/)[0] ?? '';
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const line = unfolded.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

/**
 * A real SMTP server (the `smtp-server` package: the protocol nodemailer speaks to Postfix) that keeps what it
 * accepts. `hold: 'rcpt'` stops a transaction before the message is sent (nothing is delivered if the client dies);
 * `hold: 'reply'` stores the message and then withholds the 250 (like a crash right after the server committed it).
 */
export async function startMailbox(auth: { user: string; pass: string }): Promise<Mailbox> {
  const mailbox: Mailbox = { url: '', messages: [], held: 0, hold: 'none', dropped: 0, errors: [], close: async () => {} };
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth(a, _session, cb) {
      if (a.username === auth.user && a.password === auth.pass) cb(null, { user: a.username });
      else cb(new Error('Invalid username or password'));
    },
    onRcptTo(address, session, cb) {
      if (address.address.startsWith('bounce')) {
        const err = Object.assign(new Error('5.1.1 No such user here'), { responseCode: 550 });
        return cb(err);
      }
      if (mailbox.hold === 'rcpt') {
        mailbox.held++;
        return; // never answered: the client waits until it dies
      }
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        mailbox.messages.push({ raw, to: session.envelope.rcptTo.map((r) => r.address), header: (n) => headerOf(raw, n) });
        if (mailbox.hold === 'reply') {
          mailbox.held++;
          return; // stored, 250 never sent
        }
        cb();
      });
    },
    onClose() {
      if (mailbox.hold !== 'none') mailbox.dropped++;
    },
  });
  server.on('error', (err: Error) => mailbox.errors.push(err.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  mailbox.url = `smtp://${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.pass)}@127.0.0.1:${port}`;
  mailbox.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return mailbox;
}

/** Decodes a quoted-printable text part's soft line breaks and escapes (enough to read our own messages). */
export function decodeQuotedPrintable(s: string): string {
  return Buffer.from(
    s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
    'latin1',
  ).toString('utf8');
}
