import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { ConnectionHistoryResponseSchema, ConnectionTestResultSchema } from '@glavito/contracts';
import { createLogger } from '@glavito/logging';
import { readStream, waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startHarness, type Harness } from './helpers.js';

let h: Harness;
let server: http.Server;
let base: string;
let inFlight = 0;
let maxInFlight = 0;
const logs: string[] = [];
const owner = { userId: 'owner', tenantId: 'tenant-a' };
const CANARY = 'CANARY-webhook-secret-7f3a';

beforeAll(async () => {
  server = http.createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    req.resume();
    setTimeout(() => {
      inFlight--;
      res.writeHead(req.url === '/fail' ? 500 : 200).end('{}');
    }, 300);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sink = new Writable({ write: (chunk, _enc, cb) => (logs.push(String(chunk)), cb()) });
  h = await startHarness({
    // A day-long window: a minute-long one could roll over between two tests (or within the limit test) and
    // reset the counts it relies on (seen once in a full run on a loaded machine).
    env: {
      CONNECTION_TEST_ALLOWED_CIDRS: '127.0.0.1/32',
      CONNECTION_TEST_USER_LIMIT: '25',
      CONNECTION_TEST_TENANT_LIMIT: '40',
      CONNECTION_TEST_RATE_WINDOW: '1d',
    },
    loggerInstance: createLogger('connection-test', 'trace', sink),
  });
  h.addSession({ id: 's-a', ...owner });
});
afterAll(async () => {
  await h?.close();
  server?.close();
});

const hook = (path: string, extra: Record<string, unknown> = {}) => ({ channel: 'webhook', config: { url: `${base}${path}`, secret: CANARY, ...extra } });

describe('batches', () => {
  it('runs 10 tests concurrently, each with its own result even when some fail', async () => {
    maxInFlight = 0;
    const tests = [...Array.from({ length: 8 }, () => hook('/ok')), hook('/fail'), { channel: 'webhook', config: { url: 'http://127.0.0.1:1/closed' } }];
    const started = Date.now();
    const r = await h.app.inject({ method: 'POST', url: '/onboarding/test-connections/s-a', headers: bearer(owner), payload: { tests } });
    expect(r.statusCode).toBe(200);
    const { results } = r.json();
    expect(results).toHaveLength(10);
    results.forEach((x: unknown) => ConnectionTestResultSchema.parse(x));
    expect(results.slice(0, 8).every((x: { status: string }) => x.status === 'success')).toBe(true);
    expect(results[8]).toMatchObject({ status: 'error', errorCode: 'provider_unavailable' });
    expect(results[9]).toMatchObject({ status: 'error', errorCode: 'network_unreachable' });
    // The fake server saw them overlap: 9 requests of 300 ms each finished far sooner than 2.7 s.
    expect(maxInFlight).toBeGreaterThanOrEqual(5);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('accepts a bare array, refuses more than 10 and malformed bodies with 400', async () => {
    const bare = await h.app.inject({ method: 'POST', url: '/onboarding/test-connections/s-a', headers: bearer(owner), payload: [hook('/ok')] });
    expect(bare.json().results).toHaveLength(1);
    const tooMany = await h.app.inject({
      method: 'POST',
      url: '/onboarding/test-connections/s-a',
      headers: bearer(owner),
      payload: Array.from({ length: 11 }, () => hook('/ok')),
    });
    expect(tooMany.statusCode).toBe(400);
    const badChannel = await h.app.inject({
      method: 'POST',
      url: '/onboarding/test-connection/s-a',
      headers: bearer(owner),
      payload: { channel: 'fax', config: {} },
    });
    expect(badChannel.statusCode).toBe(400);
    expect(badChannel.json().details[0]).toMatchObject({ field: 'body.channel', rule: 'enum' });
    const badTimeout = await h.app.inject({
      method: 'POST',
      url: '/onboarding/test-connection/s-a',
      headers: bearer(owner),
      payload: { ...hook('/ok'), timeout: 60_000 },
    });
    expect(badTimeout.statusCode).toBe(400);
  });
});

describe('history, events and secrets', () => {
  it('keeps history newest first with cursor pagination and no secret', async () => {
    const page1 = await h.app.inject({ method: 'GET', url: '/onboarding/connection-history/s-a?limit=4', headers: bearer(owner) });
    const body1 = ConnectionHistoryResponseSchema.parse(page1.json());
    expect(body1.items).toHaveLength(4);
    expect(body1.nextCursor).not.toBeNull();
    const page2 = ConnectionHistoryResponseSchema.parse(
      (await h.app.inject({ method: 'GET', url: `/onboarding/connection-history/s-a?limit=4&cursor=${body1.nextCursor}`, headers: bearer(owner) })).json(),
    );
    const all = [...body1.items, ...page2.items];
    expect(new Set(all.map((i) => i.id)).size).toBe(all.length);
    const times = all.map((i) => Date.parse(i.timestamp));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const bad = await h.app.inject({ method: 'GET', url: '/onboarding/connection-history/s-a?cursor=nope', headers: bearer(owner) });
    expect(bad.statusCode).toBe(400);
  });

  it('emits connection.tested per result with consecutive sequence numbers', async () => {
    const events = await waitFor(async () => {
      const all = (await readStream(h.nats)).filter((e) => e.event.type === 'connection.tested');
      return all.length >= 11 ? all : null;
    });
    expect(events.map((e) => e.event.sessionSeq)).toEqual(events.map((_, i) => i + 1));
    expect(events[0]!.event).toMatchObject({ sessionId: 's-a', tenantId: 'tenant-a', userId: 'owner' });
  });

  it('never lets a canary secret into responses, history rows, events or logs', async () => {
    const r = await h.app.inject({
      method: 'POST',
      url: '/onboarding/test-connection/s-a',
      headers: bearer(owner),
      payload: hook('/ok', { url: `${base}/ok?token=${CANARY}` }),
    });
    expect(r.body).not.toContain(CANARY);
    const rows = await h.db.pool.query('SELECT row_to_json(t)::text AS j FROM connection_test.test_runs t');
    expect(rows.rows.map((x) => x.j).join('\n')).not.toContain(CANARY);
    const outbox = await h.db.pool.query('SELECT payload::text AS p FROM connection_test.outbox');
    expect(outbox.rows.map((x) => x.p).join('\n')).not.toContain(CANARY);
    await waitFor(async () => (await readStream(h.nats)).length >= 12);
    expect(JSON.stringify(await readStream(h.nats))).not.toContain(CANARY);
    expect(logs.join('')).not.toContain(CANARY);
    expect(logs.length).toBeGreaterThan(0);
  });

  it('writes one connection.test audit record per test (channel, target host, outcome), with its event, never a secret', async () => {
    const tested = (await readStream(h.nats)).filter((e) => e.event.type === 'connection.tested').length;
    const audit = await waitFor(async () => {
      const all = await readStream(h.nats, h.nats.auditStream);
      return all.length >= tested
        ? all.map(
            (m) =>
              m.event as unknown as {
                action: string;
                tenantId: string;
                actor: { subject: string };
                target: unknown;
                outcome: { result: string };
                details: Record<string, unknown>;
              },
          )
        : null;
    });
    expect(audit).toHaveLength(tested);
    expect(audit.every((a) => a.action === 'connection.test' && a.tenantId === 'tenant-a' && a.actor.subject === 'owner')).toBe(true);
    expect(audit[audit.length - 1]).toMatchObject({
      target: { type: 'session', id: 's-a' },
      outcome: { result: 'allowed' },
      details: { channel: 'webhook', targetHost: '127.0.0.1', status: 'success' },
    });
    expect(audit.some((a) => a.outcome.result === 'failed')).toBe(true);
    expect(JSON.stringify(audit)).not.toContain(CANARY);
  });
});

describe('access and limits', () => {
  it("another tenant's session, or another agent's, is 404 for tests and history", async () => {
    const other = { userId: 'x', tenantId: 'tenant-b', roles: ['admin'] };
    expect((await h.app.inject({ method: 'POST', url: '/onboarding/test-connection/s-a', headers: bearer(other), payload: hook('/ok') })).statusCode).toBe(404);
    expect((await h.app.inject({ method: 'GET', url: '/onboarding/connection-history/s-a', headers: bearer(other) })).statusCode).toBe(404);
    const colleague = { userId: 'colleague', tenantId: 'tenant-a' };
    expect((await h.app.inject({ method: 'GET', url: '/onboarding/connection-history/s-a', headers: bearer(colleague) })).statusCode).toBe(404);
    const admin = { userId: 'boss', tenantId: 'tenant-a', roles: ['admin'] };
    expect((await h.app.inject({ method: 'GET', url: '/onboarding/connection-history/s-a', headers: bearer(admin) })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: '/onboarding/connection-history/unknown', headers: bearer(owner) })).statusCode).toBe(404);
  });

  it('validate-connection-config reports field errors without connecting', async () => {
    const r = await h.app.inject({
      method: 'POST',
      url: '/onboarding/validate-connection-config',
      headers: bearer(owner),
      payload: { channel: 'slack', config: { botToken: 'nope' } },
    });
    expect(r.json()).toEqual({ isValid: false, errors: [{ field: 'botToken', rule: 'format', message: 'botToken must be a Slack token (xoxb-…)' }] });
    const ok = await h.app.inject({
      method: 'POST',
      url: '/onboarding/validate-connection-config',
      headers: bearer(owner),
      payload: { channel: 'webhook', config: { url: 'https://hooks.example.com/x' } },
    });
    expect(ok.json()).toEqual({ isValid: true, errors: [] });
  });

  it('validate-connection-config applies the outbound policy: a target the test would refuse is invalid', async () => {
    const validate = (channel: string, config: Record<string, unknown>) =>
      h.app
        .inject({ method: 'POST', url: '/onboarding/validate-connection-config', headers: bearer(owner), payload: { channel, config } })
        .then((r) => r.json());
    expect(await validate('webhook', { url: 'http://169.254.169.254/latest/meta-data' })).toEqual({
      isValid: false,
      errors: [{ field: 'url', rule: 'blocked_by_policy', message: expect.stringMatching(/^url: Connections to 169\.254\.169\.254 are not allowed/) }],
    });
    const mail = await validate('email', { imap: { host: '10.1.2.3', port: 993, username: 'u', password: 'p4ss-word' } });
    expect(mail).toMatchObject({ isValid: false, errors: [{ field: 'imap.host', rule: 'blocked_by_policy' }] });
    const db = await validate('database', { connectionString: 'postgres://u:secret-pw@[::1]:5432/app' });
    expect(db).toMatchObject({ isValid: false, errors: [{ field: 'connectionString', rule: 'blocked_by_policy' }] });
    expect(JSON.stringify(db)).not.toContain('secret-pw');
  });

  it('bad configs are a 422 with proof-read messages on both routes; in a batch each field says which test', async () => {
    const single = await h.app.inject({
      method: 'POST',
      url: '/onboarding/test-connection/s-a',
      headers: bearer(owner),
      payload: { channel: 'email', config: {} },
    });
    expect(single.statusCode).toBe(422);
    expect(single.json()).toMatchObject({
      code: 'CONNECTION_TEST_CONFIG_INVALID',
      details: [{ field: 'config.smtp', rule: 'smtp_or_imap', message: 'Give smtp, imap or both' }],
    });
    const mysql = await h.app.inject({
      method: 'POST',
      url: '/onboarding/test-connection/s-a',
      headers: bearer(owner),
      payload: { channel: 'database', config: { connectionString: 'mysql://u:p@db.example.com/app' } },
    });
    expect(mysql.json().details).toEqual([
      {
        field: 'config.connectionString',
        rule: 'format',
        message: 'config.connectionString must start with postgres:// or postgresql:// (only PostgreSQL is supported)',
      },
    ]);
    expect(mysql.body).not.toContain('mysql://u:p@');
    const batch = await h.app.inject({
      method: 'POST',
      url: '/onboarding/test-connections/s-a',
      headers: bearer(owner),
      payload: { tests: [hook('/ok'), { channel: 'database', config: { host: 'db.example.com', user: 'u', sslmode: 'no-verify' } }] },
    });
    expect(batch.statusCode).toBe(422);
    expect(batch.json().details).toEqual([{ field: 'tests.1.config.sslmode', rule: 'enum', message: expect.stringContaining('verify-full') }]);
    const bare = await h.app.inject({
      method: 'POST',
      url: '/onboarding/test-connections/s-a',
      headers: bearer(owner),
      payload: [{ channel: 'webhook', config: { url: 'ftp://x' } }],
    });
    expect(bare.json().details).toEqual([expect.objectContaining({ field: '0.config.url', rule: 'http_url' })]);
  });

  it('the test beyond the per-user limit gets 429 with Retry-After', async () => {
    // 25 per user per window; earlier tests in this file used 14.
    const used = (
      await h.db.pool.query("SELECT count FROM connection_test.rate_limit_counters WHERE key = 'user:tenant-a:owner' ORDER BY window_start DESC LIMIT 1")
    ).rows[0].count as number;
    for (let i = used; i < 25; i++) {
      const ok = await h.app.inject({ method: 'POST', url: '/onboarding/test-connection/s-a', headers: bearer(owner), payload: hook('/ok') });
      expect(ok.statusCode).toBe(200);
    }
    const limited = await h.app.inject({ method: 'POST', url: '/onboarding/test-connection/s-a', headers: bearer(owner), payload: hook('/ok') });
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.json()).toMatchObject({ code: 'CONNECTION_TEST_RATE_LIMITED' });
  });
});
