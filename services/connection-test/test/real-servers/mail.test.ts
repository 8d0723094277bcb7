import {
  createTestCa,
  mailServersUnavailable,
  selfSignedCertificate,
  startDovecot,
  startPostfix,
  type DovecotServer,
  type PostfixServer,
} from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, channelUser as user, loopbackLookup, startChannelTestHarness, testAnswered, type Harness } from '../helpers.js';

/**
 * Debian's Postfix 3.7 (submission with STARTTLS, SASL through Dovecot) and Dovecot 2.3 (IMAP with
 * STARTTLS, IMAPS), started by the test kit in private directories. Certificates: a private CA for
 * mail.customer.test, and self-signed ones for self.customer.test. The wrong-password tests come last:
 * Dovecot then slows down every login from 127.0.0.1 (its auth penalty), which is what they check.
 */

const unavailable = mailServersUnavailable();
if (unavailable) console.warn(`real-server mail suite skipped: ${unavailable}`);

const CA_HOST = 'mail.customer.test';
const SELF_HOST = 'self.customer.test';
const ALICE = { username: 'alice@customer.test', password: 'Alice-Pa55-real' };
const LOCKED = { username: 'locked@customer.test', password: 'Locked-Pa55-real' };
const WRONG = 'Wrong-Pa55-real';
const lookup = loopbackLookup(CA_HOST, SELF_HOST);

describe.skipIf(unavailable !== null)('real mail servers (Postfix, Dovecot)', () => {
  const ca = createTestCa('Customer Mail CA');
  let dovecot: DovecotServer;
  let postfix: PostfixServer;
  let h: Harness;

  beforeAll(async () => {
    dovecot = await startDovecot({
      users: [ALICE, { ...LOCKED, mailbox: 'unreadable' }],
      certificate: ca.issue([CA_HOST]),
      certificatesByName: { [SELF_HOST]: selfSignedCertificate([SELF_HOST]) },
      // Failed logins answer at once; Dovecot's own penalty still slows the logins after them.
      authFailureDelaySeconds: 0,
    });
    postfix = await startPostfix({
      saslSocket: dovecot.authSocket,
      listeners: [
        { name: 'ca', certificate: ca.issue([CA_HOST]) },
        { name: 'self', certificate: selfSignedCertificate([SELF_HOST]) },
      ],
    });
    h = await startChannelTestHarness({ env: { CONNECTION_TEST_ALLOWED_CIDRS: '127.0.0.1/32' }, lookup });
  }, 120_000);

  afterAll(async () => {
    await h?.close();
    await postfix?.stop();
    await dovecot?.stop();
  });

  const smtp = (listener: 'ca' | 'self', extra: Record<string, unknown> = {}) => ({
    host: listener === 'ca' ? CA_HOST : SELF_HOST,
    port: postfix.ports[listener],
    ...ALICE,
    ...extra,
  });
  const imap = (host: string, extra: Record<string, unknown> = {}) => ({ host, port: dovecot.imapPort, ...ALICE, ...extra });

  async function test(config: Record<string, unknown>, timeout?: number) {
    const result = await testAnswered(h, 'email', config, [ALICE.password, LOCKED.password, WRONG, 'BEGIN CERTIFICATE'], timeout);
    return result as {
      status: string;
      errorCode?: string;
      message: string;
      hint?: string;
      details: Record<string, Record<string, unknown>>;
      checks: Array<{ name: string; status: string; message?: string }>;
    };
  }
  const errors = (r: { checks: Array<{ name: string; status: string }> }) => r.checks.filter((c) => c.status === 'error').map((c) => c.name);

  it('SMTP and IMAP with a private CA: refused without it (the hint names tls.caCertificate), a warning with it', async () => {
    const refused = await test({ smtp: smtp('ca'), imap: imap(CA_HOST) });
    expect(refused).toMatchObject({ status: 'error', errorCode: 'tls' });
    expect(refused.hint).toMatch(/tls\.caCertificate/);
    expect(errors(refused)).toEqual(['smtp connect', 'imap connect']);
    const trusted = await test({ smtp: smtp('ca', { tls: { caCertificate: ca.cert } }), imap: imap(CA_HOST, { tls: { caCertificate: ca.cert } }) });
    expect(trusted).toMatchObject({
      status: 'warning',
      details: {
        smtp: { encryption: 'starttls', tls: 'custom_ca', authenticated: true },
        imap: { encryption: 'starttls', tls: 'custom_ca', mailbox: { name: 'INBOX' } },
      },
    });
    expect(trusted.checks.filter((c) => c.status === 'warning').map((c) => [c.name, c.message])).toEqual([
      ['smtp tls', expect.stringMatching(/trusted by the custom CA/)],
      ['imap tls', expect.stringMatching(/trusted by the custom CA/)],
    ]);
    // IMAPS (TLS from the first byte) too.
    const imaps = await test({ imap: imap(CA_HOST, { port: dovecot.imapsPort, secure: true, tls: { caCertificate: ca.cert } }) });
    expect(imaps).toMatchObject({ status: 'warning', details: { imap: { encryption: 'tls', tls: 'custom_ca' } } });
  });

  it('SMTP and IMAP with a self-signed certificate: refused without allowSelfSigned (the hint names it), a warning with it', async () => {
    const refused = await test({ smtp: smtp('self'), imap: imap(SELF_HOST) });
    expect(refused).toMatchObject({ status: 'error', errorCode: 'tls' });
    expect(refused.message).toMatch(/self-signed/);
    expect(refused.hint).toMatch(/tls\.allowSelfSigned/);
    const accepted = await test({ smtp: smtp('self', { tls: { allowSelfSigned: true } }), imap: imap(SELF_HOST, { tls: { allowSelfSigned: true } }) });
    expect(accepted).toMatchObject({ status: 'warning', details: { smtp: { tls: 'self_signed', authenticated: true }, imap: { tls: 'self_signed' } } });
    expect(accepted.checks).toContainEqual(
      expect.objectContaining({ name: 'imap tls', status: 'warning', message: expect.stringMatching(/self-signed certificate was accepted/) }),
    );
    // The exception is for self-signed certificates only: the CA-signed one is still from an unknown CA.
    const unknownCa = await test({ imap: imap(CA_HOST, { tls: { allowSelfSigned: true } }) });
    expect(unknownCa).toMatchObject({ status: 'error', errorCode: 'tls' });
  });

  it('an account that logs in but whose INBOX cannot be opened fails the mailbox stage', async () => {
    const result = await test({ imap: imap(CA_HOST, { ...LOCKED, tls: { caCertificate: ca.cert } }) });
    expect(result).toMatchObject({
      status: 'error',
      errorCode: 'permission_missing',
      details: { stage: 'imap mailbox', imap: { host: CA_HOST, username: LOCKED.username } },
    });
    expect(result.message).toMatch(/logged in as locked@customer\.test, but the mailbox "INBOX" cannot be opened/);
    expect(result.checks.map((c) => [c.name, c.status])).toEqual([
      ['config', 'success'],
      ['imap dns', 'success'],
      ['imap connect', 'success'],
      ['imap tls', 'warning'],
      ['imap auth', 'success'],
      ['imap mailbox', 'error'],
    ]);
    const missing = await test({ imap: imap(CA_HOST, { mailbox: 'Support', tls: { caCertificate: ca.cert } }) });
    expect(missing).toMatchObject({ status: 'error', errorCode: 'config_invalid', details: { stage: 'imap mailbox' } });
  });

  it('tests to one server run one after another', async () => {
    const tests = Array.from({ length: 3 }, () => ({ channel: 'email', config: { imap: imap(CA_HOST, { tls: { caCertificate: ca.cert } }) } }));
    const r = await h.app.inject({ method: 'POST', url: '/onboarding/test-connections/s1', headers: bearer(user), payload: { tests } });
    const windows = (r.json().results as Array<{ status: string; timestamp: string; responseTime: number }>).map((x) => {
      expect(x.status).toBe('warning');
      const end = Date.parse(x.timestamp);
      return [end - x.responseTime, end] as const;
    });
    windows.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < windows.length; i++) expect(windows[i]![0]).toBeGreaterThanOrEqual(windows[i - 1]![1] - 1);
  });

  it('a throttled login (after failed attempts) is reported as throttling in the auth stage, not as a network timeout', async () => {
    const cfg = { tls: { caCertificate: ca.cert } };
    for (let i = 0; i < 2; i++) {
      const wrong = await test({ imap: imap(CA_HOST, { ...cfg, password: WRONG }) }, 15_000);
      expect(wrong).toMatchObject({ status: 'error', errorCode: 'auth_invalid' });
    }
    for (const config of [{ imap: imap(CA_HOST, cfg) }, { smtp: smtp('ca', cfg) }]) {
      const throttled = await test(config, 2000);
      const protocol = config.imap ? 'imap' : 'smtp';
      expect(throttled, throttled.message).toMatchObject({
        status: 'error',
        errorCode: 'rate_limited',
        details: { stage: `${protocol} auth`, reason: 'slow_login' },
      });
      expect(throttled.message).toMatch(
        /did not answer the login within \d+ ms, though it accepted the connection in \d+ ms: it is probably throttling logins after failed attempts/,
      );
      expect(throttled.hint).toMatch(/throttl|failed attempts/);
      expect(errors(throttled)).toEqual([`${protocol} auth`]);
      expect(throttled.checks.find((c) => c.name === `${protocol} connect`)?.status).toBe('success');
    }
  });
});
