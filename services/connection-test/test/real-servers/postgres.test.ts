import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SSL_MODES, type SslMode } from '@glavito/contracts';
import { createTestCa, selfSignedCertificate, startPostgresServer, type PostgresServer } from '@glavito/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loopbackLookup, startChannelTestHarness, testAnswered, type Harness } from '../helpers.js';

/**
 * Real PostgreSQL 15 servers with SCRAM and SSL (one with a certificate from a private CA, one
 * self-signed, both for db.customer.test), and roles a tenant might give us: a superuser, a table
 * owner and a read-only role. psql, run with the same sslmode, is the reference for what each mode means.
 */

const run = promisify(execFile);
const DB_HOST = 'db.customer.test';
const SUPER_PASS = 'Super-Pa55-real';
const OWNER_PASS = 'Owner-Pa55-real';
const READER_PASS = 'Reader-Pa55-real';
const lookup = loopbackLookup(DB_HOST);

const ca = createTestCa('Customer Private CA');
let caSigned: PostgresServer;
let selfSigned: PostgresServer;
let h: Harness;
let dir: string;
let psqlAvailable = true;

async function seed(server: PostgresServer): Promise<void> {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`CREATE ROLE app_owner LOGIN PASSWORD '${OWNER_PASS}'`);
  await admin.query(`CREATE ROLE app_reader LOGIN PASSWORD '${READER_PASS}'`);
  await admin.query('CREATE DATABASE app OWNER postgres');
  await admin.end();
  const app = new pg.Client({ connectionString: server.url.replace(/\/postgres$/, '/app') });
  await app.connect();
  await app.query(
    'CREATE TABLE orders (id int PRIMARY KEY); ALTER TABLE orders OWNER TO app_owner; GRANT USAGE ON SCHEMA public TO app_reader; GRANT SELECT ON orders TO app_reader',
  );
  await app.end();
}

beforeAll(async () => {
  [caSigned, selfSigned] = await Promise.all([
    startPostgresServer({ password: SUPER_PASS, ssl: ca.issue([DB_HOST]) }),
    startPostgresServer({ password: SUPER_PASS, ssl: selfSignedCertificate([DB_HOST]) }),
  ]);
  await Promise.all([seed(caSigned), seed(selfSigned)]);
  dir = mkdtempSync(join(tmpdir(), 'ct-real-pg-'));
  writeFileSync(join(dir, 'ca.pem'), ca.cert);
  psqlAvailable = await run('psql', ['--version']).then(
    () => true,
    () => false,
  );
  if (!psqlAvailable) console.warn('real-server postgres: psql not found, the sslmode comparison with psql is skipped (apt-get install postgresql-client)');
  h = await startChannelTestHarness({ env: { CONNECTION_TEST_ALLOWED_CIDRS: '127.0.0.1/32' }, lookup });
}, 120_000);

afterAll(async () => {
  await h?.close();
  await Promise.all([caSigned?.cleanup(), selfSigned?.cleanup()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function test(config: Record<string, unknown>) {
  const result = await testAnswered(h, 'database', config, [SUPER_PASS, OWNER_PASS, READER_PASS, ca.cert.slice(40, 120)]);
  return result as {
    status: string;
    errorCode?: string;
    message: string;
    hint?: string;
    details: Record<string, unknown>;
    checks: Array<{ name: string; status: string; message?: string }>;
  };
}

const as = (server: PostgresServer, role: 'postgres' | 'app_owner' | 'app_reader', extra: Record<string, unknown> = {}) => ({
  host: DB_HOST,
  port: server.port,
  database: 'app',
  user: role,
  password: role === 'postgres' ? SUPER_PASS : role === 'app_owner' ? OWNER_PASS : READER_PASS,
  ...extra,
});

/** What psql says for the same server and sslmode: connected or not, and over SSL or not. */
async function psql(server: PostgresServer, sslmode: SslMode, rootcert: boolean): Promise<{ ok: boolean; ssl?: boolean }> {
  const conninfo = `host=${DB_HOST} hostaddr=127.0.0.1 port=${server.port} dbname=app user=app_reader sslmode=${sslmode}${rootcert ? ` sslrootcert=${join(dir, 'ca.pem')}` : ` sslrootcert=${join(dir, 'missing.pem')}`} connect_timeout=5`;
  try {
    const { stdout } = await run('psql', [conninfo, '-XAtc', 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'], {
      env: { ...process.env, PGPASSWORD: READER_PASS, HOME: dir },
    });
    return { ok: true, ssl: stdout.trim() === 't' };
  } catch {
    return { ok: false };
  }
}

describe('real PostgreSQL: what the role can do', () => {
  it('a read-only role is reported read-only, with no permissions warning', async () => {
    const result = await test(as(caSigned, 'app_reader', { sslmode: 'verify-full', tls: { caCertificate: ca.cert } }));
    expect(result.details).toMatchObject({ readOnly: true, superuser: false, user: 'app_reader', sslmode: 'verify-full', ssl: 'verified', tls: 'custom_ca' });
    expect(result.checks).toContainEqual(expect.objectContaining({ name: 'permissions', status: 'success' }));
    expect(result.hint).toBeUndefined();
  });

  it('a wrong password: auth_invalid as the server itself refuses it (28P01, SCRAM), the password nowhere in the answer', async () => {
    const wrong = 'Wrong-Pa55-real';
    const result = (await testAnswered(
      h,
      'database',
      { ...as(caSigned, 'app_reader', { sslmode: 'verify-full', tls: { caCertificate: ca.cert } }), password: wrong },
      [wrong, READER_PASS],
    )) as { status: string; errorCode?: string; message: string };
    expect(result).toMatchObject({ status: 'error', errorCode: 'auth_invalid' });
    expect(result.message).toMatch(/28P01/);
  });

  it('a table owner and a superuser can write: a warning with a hint to use a read-only role', async () => {
    for (const [role, why] of [
      ['app_owner', /may change 1 table \(public\.orders\)/],
      ['postgres', /superuser/],
    ] as const) {
      const result = await test(as(caSigned, role, { sslmode: 'verify-full', tls: { caCertificate: ca.cert } }));
      expect(result.status, result.message).toBe('warning');
      expect(result.details).toMatchObject({ readOnly: false, user: role });
      expect(result.message).toMatch(/the role can write/);
      expect(result.checks).toContainEqual(expect.objectContaining({ name: 'permissions', status: 'warning', message: expect.stringMatching(why) }));
      expect(result.hint).toMatch(/GRANT SELECT/);
    }
  });
});

describe('real PostgreSQL: sslmode means what it means to psql', () => {
  const servers = () =>
    [
      ['CA-signed', caSigned],
      ['self-signed', selfSigned],
    ] as const;

  it.each(SSL_MODES.map((m) => [m]))('sslmode=%s, without and with the CA certificate', async (sslmode) => {
    for (const [name, server] of servers()) {
      for (const withCa of [false, true]) {
        const result = await test(as(server, 'app_reader', { sslmode, ...(withCa ? { tls: { caCertificate: ca.cert } } : {}) }));
        const ours = { ok: result.status !== 'error', ...(result.status !== 'error' ? { ssl: result.details.ssl !== 'off' } : {}) };
        if (psqlAvailable)
          expect(ours, `${name} server, sslmode=${sslmode}${withCa ? ' with the CA' : ''}: ${result.message}`).toEqual(await psql(server, sslmode, withCa));
        if (!ours.ok) {
          expect(result.errorCode).toBe('tls');
          expect(result.checks.filter((c) => c.status === 'error')).toEqual([expect.objectContaining({ name: 'connect' })]);
          // Every hint names options that exist: libpq's sslmodes and our tls.* fields.
          for (const mode of (result.hint ?? '').match(/sslmode=[\w-]+/g) ?? []) expect(SSL_MODES).toContain(mode.replace('sslmode=', ''));
        }
      }
    }
  });

  it('a self-signed certificate: refused by verify-full with a hint naming the options, accepted with tls.allowSelfSigned as a warning', async () => {
    const refused = await test(as(selfSigned, 'app_reader', { sslmode: 'verify-full' }));
    expect(refused).toMatchObject({
      status: 'error',
      errorCode: 'tls',
      details: { stage: 'connect', host: DB_HOST, port: selfSigned.port, user: 'app_reader', database: 'app' },
    });
    expect(refused.message).toMatch(/self-signed/);
    expect(refused.hint).toMatch(/tls\.allowSelfSigned/);
    expect(refused.hint).toMatch(/sslmode=require/);
    const accepted = await test(as(selfSigned, 'app_reader', { sslmode: 'verify-full', tls: { allowSelfSigned: true } }));
    expect(accepted).toMatchObject({ status: 'warning', details: { tls: 'self_signed', readOnly: true } });
    expect(accepted.checks).toContainEqual({
      name: 'tls',
      status: 'warning',
      durationMs: 0,
      message: expect.stringMatching(/self-signed certificate was accepted/),
    });
    // allowSelfSigned does not accept a certificate from an unknown CA.
    const unknownCa = await test(as(caSigned, 'app_reader', { sslmode: 'verify-full', tls: { allowSelfSigned: true } }));
    expect(unknownCa).toMatchObject({ status: 'error', errorCode: 'tls' });
    expect(unknownCa.hint).toMatch(/tls\.caCertificate/);
  });

  it('a CA-signed certificate for another name: verify-full refuses it and says which name to use, verify-ca accepts it', async () => {
    const other = { host: '127.0.0.1', port: caSigned.port, database: 'app', user: 'app_reader', password: READER_PASS, tls: { caCertificate: ca.cert } };
    const full = await test({ ...other, sslmode: 'verify-full' });
    expect(full).toMatchObject({ status: 'error', errorCode: 'tls' });
    expect(full.hint).toMatch(new RegExp(`names ${DB_HOST.replace(/\./g, '\\.')}`));
    const caOnly = await test({ ...other, sslmode: 'verify-ca' });
    expect(caOnly).toMatchObject({ status: 'warning', details: { ssl: 'verified-ca', tls: 'custom_ca' } });
  });
});
