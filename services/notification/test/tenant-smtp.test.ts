import { createCipheriv, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { buildEnvelope, serveRpc } from '@glavito/bus';
import {
  rpcSubject,
  tenantSmtpAad,
  TenantSmtpReplySchema,
  TenantSmtpRequestSchema,
  type EventEnvelope,
  type TenantSmtpRequest,
  type TenantSmtpSettings,
} from '@glavito/contracts';
import { createTestCa, createTestDatabase, createTestNats, readStream, type TestDatabase, type TestNats } from '@glavito/testkit';
import { jetstream } from '@nats-io/jetstream';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishEvent } from '@glavito/bus';
import { buildApp } from '../src/app.js';
import { applied, bearer, sessionEvents, startMailbox, testClock, testConfig, type Mailbox } from './helpers.js';

const KEY = randomBytes(32);
const TENANT_PASS = 'tenant-smtp-canary-Pa55-9c2e';
const SYSTEM_PASS = 'system-smtp-Pa55-71aa';

/** The tenant's own mail server: STARTTLS with a certificate of a CA the service is told to trust, login required. */
async function startTenantMailbox(ca: ReturnType<typeof createTestCa>, auth: { user: string; pass: string }) {
  const pair = ca.issue(['127.0.0.1']);
  const received: Array<{ raw: string; to: string[]; from: string; user: unknown; secure: boolean }> = [];
  const server = new SMTPServer({
    key: pair.key,
    cert: pair.cert,
    logger: false,
    onAuth(a, _s, cb) {
      if (a.username === auth.user && a.password === auth.pass) cb(null, { user: a.username });
      else cb(Object.assign(new Error('5.7.8 Authentication failed'), { responseCode: 535 }));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        received.push({
          raw: Buffer.concat(chunks).toString('utf8'),
          to: session.envelope.rcptTo.map((r) => r.address),
          from,
          user: session.user,
          secure: session.secure,
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return { port, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** The session service at its NATS boundary: seals settings as contracts/rpc.ts says (written here, not imported). */
function seal(req: TenantSmtpRequest, settings: TenantSmtpSettings): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', KEY, iv);
  c.setAAD(Buffer.from(tenantSmtpAad(req), 'utf8'));
  const data = Buffer.concat([c.update(JSON.stringify(settings), 'utf8'), c.final()]);
  return ['v1', iv.toString('base64url'), c.getAuthTag().toString('base64url'), data.toString('base64url')].join('.');
}

function connectionTested(o: { tenantId: string; sessionId: string; at: string; status: 'success' | 'error'; port: number; seq: number }): EventEnvelope {
  const result = {
    id: randomBytes(8).toString('hex'),
    channel: 'email',
    status: o.status,
    message: o.status === 'success' ? 'SMTP accepted the login' : 'SMTP: the server refused the login',
    ...(o.status === 'error' ? { errorCode: 'auth_invalid' } : {}),
    details: o.status === 'success' ? { smtp: { host: '127.0.0.1', port: o.port, encryption: 'starttls', authenticated: true, tls: 'trusted' } } : {},
    checks: [{ name: 'smtp auth', status: o.status, durationMs: 12 }],
    responseTime: 40,
    timestamp: o.at,
  };
  return buildEnvelope({
    type: 'connection.tested',
    data: { result },
    tenantId: o.tenantId,
    sessionId: o.sessionId,
    userId: 'admin',
    sessionSeq: o.seq,
    correlationId: 'test',
    occurredAt: new Date(o.at),
  } as never) as EventEnvelope;
}

let db: TestDatabase;
let nats: TestNats;
let app: FastifyInstance;
let sql: pg.Pool;
let system: Mailbox;
let tenantBox: Awaited<ReturnType<typeof startTenantMailbox>>;
let rpc: { stop(): Promise<void> };
const logs: string[] = [];
const onTheBus: string[] = [];
const clock = testClock('2026-01-05T00:00:00Z');
/** What the session service holds per admin session's channel_configuration (the password only in memory here). */
const stepData = new Map<string, TenantSmtpSettings>();

beforeAll(async () => {
  const ca = createTestCa();
  system = await startMailbox({ user: 'notify', pass: SYSTEM_PASS });
  tenantBox = await startTenantMailbox(ca, { user: 'help@acme.test', pass: TENANT_PASS });
  db = await createTestDatabase();
  nats = await createTestNats();
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  const config = testConfig(db, nats, { NOTIFY_SMTP_URL: system.url, NOTIFY_CREDENTIALS_KEY: KEY.toString('base64'), NOTIFY_MAX_EMAIL_ATTEMPTS: '3' });
  rpc = serveRpc({
    nc: nats.nc,
    subject: rpcSubject(nats.rpcPrefix, 'session.tenant_smtp'),
    queue: 'session',
    request: TenantSmtpRequestSchema,
    reply: TenantSmtpReplySchema,
    logger: { warn: () => {}, info: () => {}, error: () => {}, debug: () => {} } as never,
    handler: async (req) => {
      const s = stepData.get(`${req.tenantId}/${req.sessionId}`);
      return s ? { found: true as const, sealed: seal(req, s) } : { found: false as const };
    },
  });
  // Everything on the RPC subject and every reply inbox, as anyone on the bus could read it.
  nats.nc.subscribe(`${nats.rpcPrefix}.>`, { callback: (_e, m) => void onTheBus.push(m.string()) });
  nats.nc.subscribe('_INBOX.>', { callback: (_e, m) => void onTheBus.push(m.string()) });
  app = await buildApp(config, {
    logger: { level: 'trace', stream: { write: (line: string) => void logs.push(line) } },
    clock,
    tenantSmtpCa: ca.cert,
  });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await rpc?.stop();
  await sql?.end();
  await nats?.cleanup();
  await db?.drop();
  await system?.close();
  await tenantBox?.close();
});

async function publish(events: EventEnvelope[]) {
  const js = jetstream(nats.nc);
  for (const e of events) await publishEvent(js, nats.subjectPrefix, e);
  await applied({ sql } as never, events);
}

/** A tenant: its admin's tenant_setup session saved channel_configuration at `savedAt`; a user idle since 09:00 with an address. */
async function tenant(id: string, o: { savedAt: string; test?: { at: string; status: 'success' | 'error' }; laterSave?: string; password?: string }) {
  const adminSession = `${id}-admin-s`;
  const admin = sessionEvents({ tenantId: id, sessionId: adminSession, userId: `${id}-admin` });
  const events = [
    admin.started('2026-01-05T08:00:00Z'),
    admin.step('2026-01-05T08:10:00Z', 'organization_setup'),
    admin.step(o.savedAt, 'channel_configuration'),
  ];
  if (o.test) events.push(connectionTested({ tenantId: id, sessionId: adminSession, at: o.test.at, status: o.test.status, port: tenantBox.port, seq: 1 }));
  if (o.laterSave) {
    const again = admin.step(o.laterSave, 'channel_configuration');
    events.push({ ...again, type: 'step.updated' } as EventEnvelope);
  }
  stepData.set(`${id}/${adminSession}`, {
    host: '127.0.0.1',
    port: tenantBox.port,
    username: 'help@acme.test',
    password: o.password ?? TENANT_PASS,
    address: `help@${id}.test`,
  });
  const user = sessionEvents({ tenantId: id, sessionId: `${id}-user-s`, userId: `${id}-user`, type: 'agent_welcome' });
  events.push(user.started('2026-01-05T09:00:00Z'));
  const r = await app.inject({
    method: 'PUT',
    url: '/onboarding/notifications/settings',
    headers: bearer({ userId: `${id}-user`, tenantId: id }),
    payload: { email: `user@${id}.test` },
  });
  expect(r.statusCode).toBe(200);
  await publish(events);
}

const deliveries = async (tenantId: string) =>
  (
    await sql.query<{ outcome: string; sender: string | null; detail: string | null }>(
      `SELECT d.outcome, d.sender, d.detail FROM notification.deliveries d JOIN notification.reminders r ON r.id = d.reminder_id WHERE r.tenant_id = $1 ORDER BY d.id`,
      [tenantId],
    )
  ).rows;

describe('email through the tenant’s own SMTP', () => {
  it('tested successfully (and not changed since): its own server sends, none through ours; failed or changed after the test: ours', async () => {
    await tenant('t-own', { savedAt: '2026-01-05T08:20:00Z', test: { at: '2026-01-05T08:30:00Z', status: 'success' } });
    await tenant('t-failed', { savedAt: '2026-01-05T08:20:00Z', test: { at: '2026-01-05T08:30:00Z', status: 'error' } });
    await tenant('t-changed', { savedAt: '2026-01-05T08:20:00Z', test: { at: '2026-01-05T08:30:00Z', status: 'success' }, laterSave: '2026-01-05T08:40:00Z' });
    await tenant('t-untested', { savedAt: '2026-01-05T08:20:00Z' });

    clock.set('2026-01-05T17:01:00Z'); // 09:00 + the default 480 minutes
    await app.reminderScheduler.runDue();

    expect(tenantBox.received.map((m) => m.to)).toEqual([['user@t-own.test']]);
    const own = tenantBox.received[0]!;
    expect(own).toMatchObject({ from: 'help@t-own.test', user: 'help@acme.test', secure: true });
    expect(own.raw).toMatch(/^From: help@t-own\.test/m);
    expect(own.raw).toMatch(/^Message-ID:\s+<reminder-/im);
    expect(own.raw).toMatch(/^List-Unsubscribe:\s+<https:/im);

    expect(system.messages.map((m) => m.to).sort()).toEqual([['user@t-changed.test'], ['user@t-failed.test'], ['user@t-untested.test']]);
    expect(await deliveries('t-own')).toEqual([{ outcome: 'sent', sender: 'tenant', detail: expect.any(String) }]);
    expect(await deliveries('t-changed')).toEqual([{ outcome: 'sent', sender: 'system', detail: expect.any(String) }]);

    // A test after the change makes it the tenant's again.
    await publish([
      connectionTested({ tenantId: 't-changed', sessionId: 't-changed-admin-s', at: '2026-01-05T08:50:00Z', status: 'success', port: tenantBox.port, seq: 2 }),
    ]);
    expect(await app.notificationRepo.verifiedEmailChannel('t-changed')).toMatchObject({ sessionId: 't-changed-admin-s', encryption: 'starttls' });
    // An older test arriving late changes nothing (the latest test by its time decides).
    await publish([
      connectionTested({ tenantId: 't-changed', sessionId: 't-changed-admin-s', at: '2026-01-05T08:29:00Z', status: 'error', port: tenantBox.port, seq: 3 }),
    ]);
    expect(await app.notificationRepo.verifiedEmailChannel('t-changed')).not.toBeNull();
  });

  it('a tenant SMTP that refuses the login: recorded (no secret) and retried on the usual schedule, never switched to ours', async () => {
    await tenant('t-broken', { savedAt: '2026-01-05T08:20:00Z', test: { at: '2026-01-05T08:30:00Z', status: 'success' }, password: `${TENANT_PASS}-rotated` });
    const systemBefore = system.messages.length;
    clock.set('2026-01-05T17:02:00Z');
    await app.reminderScheduler.runDue();
    const [first, ...more] = await deliveries('t-broken');
    expect(more).toEqual([]);
    expect(first).toMatchObject({ outcome: 'retry', sender: 'tenant' });
    expect(first!.detail).toMatch(/^tenant smtp: .*535/);
    const { rows } = await sql.query<{ state: string }>(`SELECT state FROM notification.reminders WHERE session_id = 't-broken-user-s' AND ordinal = 1`);
    expect(rows).toEqual([{ state: 'sending' }]);
    expect(system.messages.length).toBe(systemBefore);
    expect(tenantBox.received.filter((m) => m.to.includes('user@t-broken.test'))).toEqual([]);
  });

  it('the session service not answering: retried, nothing sent through ours', async () => {
    await tenant('t-nosession', { savedAt: '2026-01-05T08:20:00Z', test: { at: '2026-01-05T08:30:00Z', status: 'success' } });
    await rpc.stop();
    clock.set('2026-01-05T17:03:00Z');
    await app.reminderScheduler.runDue();
    expect(await deliveries('t-nosession')).toEqual([
      { outcome: 'retry', sender: 'tenant', detail: expect.stringMatching(/^tenant smtp settings unavailable: (no_responders|timeout)$/) },
    ]);
    expect(system.messages.filter((m) => m.to.includes('user@t-nosession.test'))).toEqual([]);
  });

  it('the tenant password is in no event, no row of the notification schema, no log line, and never in clear on the bus', async () => {
    const secrets = [TENANT_PASS, `${TENANT_PASS}-rotated`];
    const stream = JSON.stringify(await readStream(nats));
    expect(stream).toContain('notification.created');
    for (const s of secrets) expect(stream).not.toContain(s);

    const { rows: tables } = await sql.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'notification'`);
    expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining(['email_channels', 'deliveries', 'reminders', 'notifications', 'outbox']));
    for (const { table_name } of tables) {
      const { rows } = await sql.query<{ row: string }>(`SELECT t::text AS row FROM notification."${table_name}" t`);
      for (const s of secrets) expect(rows.filter((r) => r.row.includes(s)).map((r) => `${table_name}: ${r.row.slice(0, 80)}`)).toEqual([]);
    }

    const logText = logs.join('');
    expect(logText).toContain('reminder email');
    expect(logText).toContain('"sender":"tenant"');
    for (const s of secrets) expect(logText).not.toContain(s);

    const bus = onTheBus.join('\n');
    expect(bus).toContain('"sealed":"v1.');
    for (const s of secrets) expect(bus).not.toContain(s);
    expect(bus).not.toContain('help@acme.test'); // the whole settings object is sealed, the login too
  });
});
