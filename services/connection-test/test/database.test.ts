import { randomBytes } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { adminDatabaseUrl, selfSignedCertificate } from '@glavito/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bearer,
  channelUser as user,
  checkStatuses,
  listenLoopback,
  stages,
  loopbackLookup,
  startChannelTestHarness,
  testAnswered,
  type Harness,
} from './helpers.js';

const DB_HOST = 'db.customer.test';
const suffix = randomBytes(4).toString('hex');
const PROBE_ROLE = `ct_probe_${suffix}`;
const NOLOGIN_ROLE = `ct_nologin_${suffix}`;
const PROBE_DB = `ct_probe_db_${suffix}`;
const LOCKED_DB = `ct_locked_db_${suffix}`;
const PROBE_PASS = `db-Pa55-${suffix}-Kx`;
const WRONG_PASS = `wrong-Pa55-${suffix}-Qz`;
const PASSWORDS = [PROBE_PASS, WRONG_PASS];

let admin: pg.Client;
let adminUrl: URL;
let pgAddress: string;
let pgPort: number;
let allowed: Harness;
let strict: Harness;
const closers: Array<() => Promise<void>> = [];

const lookup = loopbackLookup(DB_HOST);

async function listen(server: net.Server): Promise<number> {
  const { port, close } = await listenLoopback(server);
  closers.push(close);
  return port;
}

/**
 * A TCP proxy in front of the real PostgreSQL that reads the frontend messages going through it and
 * records every SQL statement (simple and extended protocol), to prove what the probe ran.
 */
interface Proxy {
  port: number;
  connections: number;
  statements: string[];
}
async function startRecordingProxy(): Promise<Proxy> {
  const proxy: Proxy = { port: 0, connections: 0, statements: [] };
  const server = net.createServer((client) => {
    proxy.connections++;
    const upstream = net.connect(pgPort, pgAddress);
    let buf = Buffer.alloc(0);
    let started = false;
    const parse = () => {
      for (;;) {
        if (!started) {
          if (buf.length < 8) return;
          const len = buf.readInt32BE(0);
          if (buf.length < len) return;
          if (buf.readInt32BE(4) !== 80877103) started = true; // anything but SSLRequest is the startup message
          buf = buf.subarray(len);
          continue;
        }
        if (buf.length < 5) return;
        const len = buf.readInt32BE(1);
        if (buf.length < 1 + len) return;
        const type = String.fromCharCode(buf[0]!);
        const body = buf.subarray(5, 1 + len);
        buf = buf.subarray(1 + len);
        if (type === 'Q') proxy.statements.push(body.subarray(0, body.indexOf(0)).toString('utf8'));
        if (type === 'P') {
          const sql = body.subarray(body.indexOf(0) + 1);
          proxy.statements.push(sql.subarray(0, sql.indexOf(0)).toString('utf8'));
        }
      }
    };
    client.on('data', (chunk) => {
      upstream.write(chunk);
      buf = Buffer.concat([buf, chunk]);
      parse();
    });
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.end());
  });
  proxy.port = await listen(server);
  return proxy;
}

/**
 * Speaks just enough of the PostgreSQL protocol to ask for a password in clear text and refuse it
 * (28P01). With `tls`, it answers SSLRequest with 'S' and a self-signed certificate.
 */
interface FakePg {
  port: number;
  connections: number;
  passwords: string[];
  sslRequests: number;
  servernames: string[];
}
async function startFakePg(opts: { tls?: boolean } = {}): Promise<FakePg> {
  const fake: FakePg = { port: 0, connections: 0, passwords: [], sslRequests: 0, servernames: [] };
  const server = net.createServer((socket) => {
    fake.connections++;
    socket.on('error', () => {});
    let io: net.Socket = socket;
    let buf = Buffer.alloc(0);
    let started = false;
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (!started) {
          if (buf.length < 8 || buf.length < buf.readInt32BE(0)) return;
          const len = buf.readInt32BE(0);
          const code = buf.readInt32BE(4);
          buf = buf.subarray(len);
          if (code === 80877103) {
            fake.sslRequests++;
            if (!opts.tls) {
              io.write('N');
              continue;
            }
            io.write('S');
            socket.removeListener('data', onData);
            const secureContext = tls.createSecureContext({ key, cert });
            io = new tls.TLSSocket(socket, {
              isServer: true,
              secureContext,
              SNICallback: (name, cb) => {
                fake.servernames.push(name);
                cb(null, secureContext);
              },
            });
            io.on('error', () => {});
            io.on('data', onData);
            return;
          }
          started = true;
          const auth = Buffer.alloc(9);
          auth.write('R', 0);
          auth.writeInt32BE(8, 1);
          auth.writeInt32BE(3, 5); // AuthenticationCleartextPassword
          io.write(auth);
          continue;
        }
        if (buf.length < 5 || buf.length < 1 + buf.readInt32BE(1)) return;
        const len = buf.readInt32BE(1);
        const type = String.fromCharCode(buf[0]!);
        const body = buf.subarray(5, 1 + len);
        buf = buf.subarray(1 + len);
        if (type === 'p') {
          fake.passwords.push(body.subarray(0, body.indexOf(0)).toString('utf8'));
          const fields = Buffer.from(`SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user "${PROBE_ROLE}"\0\0`, 'utf8');
          const head = Buffer.alloc(5);
          head.write('E', 0);
          head.writeInt32BE(4 + fields.length, 1);
          io.end(Buffer.concat([head, fields]));
        }
      }
    };
    socket.on('data', onData);
  });
  fake.port = await listen(server);
  return fake;
}

let proxy: Proxy;
let fakePg: FakePg;
let fakePgTls: FakePg;
let key: string;
let cert: string;
let silentPort: number;
let closedPort: number;

beforeAll(async () => {
  adminUrl = new URL(await adminDatabaseUrl());
  pgPort = Number(adminUrl.port || 5432);
  pgAddress = (await dnsLookup(adminUrl.hostname.replace(/^\[|\]$/g, ''))).address;
  admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  await admin.query(`CREATE ROLE ${PROBE_ROLE} LOGIN PASSWORD '${PROBE_PASS}'`);
  await admin.query(`CREATE ROLE ${NOLOGIN_ROLE} NOLOGIN PASSWORD '${PROBE_PASS}'`);
  for (const db of [PROBE_DB, LOCKED_DB]) {
    await admin.query(`CREATE DATABASE ${db}`);
    await admin.query(`REVOKE CONNECT ON DATABASE ${db} FROM PUBLIC`);
  }
  await admin.query(`GRANT CONNECT ON DATABASE ${PROBE_DB} TO ${PROBE_ROLE}`);
  const seed = new pg.Client({ connectionString: Object.assign(new URL(adminUrl), { pathname: `/${PROBE_DB}` }).toString() });
  await seed.connect();
  await seed.query('CREATE TABLE sentinel (id int PRIMARY KEY); INSERT INTO sentinel VALUES (1)');
  await seed.query(`GRANT SELECT ON sentinel TO ${PROBE_ROLE}`);
  await seed.end();

  proxy = await startRecordingProxy();
  ({ key, cert } = selfSignedCertificate([DB_HOST]));
  fakePg = await startFakePg();
  fakePgTls = await startFakePg({ tls: true });
  silentPort = await listen(net.createServer((s) => s.on('error', () => {}).resume())); // reads (and ignores) everything, answers nothing
  const gone = net.createServer();
  await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
  closedPort = (gone.address() as AddressInfo).port;
  await new Promise<void>((resolve) => gone.close(() => resolve()));

  const cidrs = [...new Set(['127.0.0.1/32', `${pgAddress}/${net.isIPv6(pgAddress) ? 128 : 32}`])].join(',');
  allowed = await startChannelTestHarness({ env: { CONNECTION_TEST_ALLOWED_CIDRS: cidrs }, lookup });
  strict = await startChannelTestHarness({ lookup });
}, 60_000);

afterAll(async () => {
  await allowed?.close();
  await strict?.close();
  for (const close of closers.reverse()) await close();
  if (admin) {
    for (const db of [PROBE_DB, LOCKED_DB]) await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    for (const role of [PROBE_ROLE, NOLOGIN_ROLE]) await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.end();
  }
});

async function run(h: Harness, config: Record<string, unknown>, timeout?: number) {
  const result = await testAnswered(h, 'database', config, PASSWORDS, timeout);
  return { result, checks: checkStatuses(result) };
}

/** Through the recording proxy, by a name that resolves to it. */
const viaProxy = (extra: Record<string, unknown> = {}) => ({
  host: DB_HOST,
  port: proxy.port,
  database: PROBE_DB,
  user: PROBE_ROLE,
  password: PROBE_PASS,
  ...extra,
});
const OK_CHECKS = [
  ['config', 'success'],
  ['dns', 'success'],
  ['connect', 'success'],
  ['tls', 'warning'],
  ['query', 'success'],
  ['permissions', 'success'],
];
const WRITES_RE = /\b(insert|update|delete|merge|create|drop|alter|truncate|grant|revoke|copy|commit|vacuum|lock|call|do)\b/i;
/** A statement that writes: its keywords outside string literals (the privilege probe names 'INSERT' as data). */
const WRITES = { test: (sql: string) => WRITES_RE.test(sql.replace(/'[^']*'/g, "''")) };

describe('database channel', () => {
  it('connects to the checked address, runs read-only probes and reports the server version', async () => {
    const before = proxy.statements.length;
    const { rows } = await admin.query<{ server_version: string }>('SHOW server_version');
    const { result, checks } = await run(allowed, viaProxy());
    expect(result).toMatchObject({
      channel: 'database',
      status: 'warning',
      details: {
        serverVersion: rows[0]!.server_version,
        database: PROBE_DB,
        user: PROBE_ROLE,
        host: DB_HOST,
        port: proxy.port,
        sslmode: 'prefer',
        ssl: 'off',
        readOnly: true,
        superuser: false,
      },
    });
    expect(result.details).not.toHaveProperty('password');
    expect(checks).toEqual(OK_CHECKS);
    const statements = proxy.statements.slice(before);
    expect(statements[0]).toBe('BEGIN READ ONLY');
    expect(statements.at(-1)).toBe('ROLLBACK');
    expect(statements).toContain('SELECT 1');
    expect(statements.filter((s) => WRITES.test(s))).toEqual([]);
  });

  it('accepts a connection string (percent-encoded parts) and lets fields override it', async () => {
    const url = `postgresql://${encodeURIComponent(PROBE_ROLE)}:${encodeURIComponent(PROBE_PASS)}@${DB_HOST}:${proxy.port}/${PROBE_DB}?sslmode=disable`;
    const { result, checks } = await run(allowed, { connectionString: url });
    expect(result).toMatchObject({ status: 'warning', details: { database: PROBE_DB, user: PROBE_ROLE, sslmode: 'disable', ssl: 'off' } });
    expect(checks).toEqual(OK_CHECKS);
    const overridden = await run(allowed, { connectionString: url.replace(`/${PROBE_DB}`, '/nope'), database: PROBE_DB });
    expect(overridden.result).toMatchObject({ status: 'warning', details: { database: PROBE_DB } });
  });

  it('connects directly to the server by address', async () => {
    const { result, checks } = await run(allowed, { host: pgAddress, port: pgPort, database: PROBE_DB, user: PROBE_ROLE, password: PROBE_PASS });
    expect(result).toMatchObject({ status: 'warning', details: { database: PROBE_DB, readOnly: true } });
    expect(checks).toEqual(OK_CHECKS);
  });

  it('maps an unknown database to config_invalid with a hint', async () => {
    const { result, checks } = await run(allowed, viaProxy({ database: `missing_${suffix}` }));
    expect(result).toMatchObject({ status: 'error', errorCode: 'config_invalid', details: { errors: [{ field: 'database', rule: 'exists' }] } });
    expect(result.message).toMatch(/does not exist \(3D000\)/);
    expect(result.hint).toMatch(/database name/);
    expect(checks).toEqual(stages(['config', 'dns', 'connect'], 'error'));
  });

  it('maps a refused password (28P01) to auth_invalid, having sent the password only to the checked address', async () => {
    const { result, checks } = await run(allowed, { host: DB_HOST, port: fakePg.port, database: PROBE_DB, user: PROBE_ROLE, password: WRONG_PASS });
    expect(result).toMatchObject({ status: 'error', errorCode: 'auth_invalid' });
    expect(result.message).toMatch(/28P01/);
    expect(checks).toEqual(stages(['config', 'dns', 'connect'], 'error'));
    expect(fakePg.passwords).toEqual([WRONG_PASS]);
  });

  it('maps a role that does not exist, or may not log in, to auth_invalid', async () => {
    const missing = await run(allowed, viaProxy({ user: `ct_nobody_${suffix}` }));
    expect(missing.result).toMatchObject({ status: 'error', errorCode: 'auth_invalid' });
    expect(missing.result.message).toMatch(/does not exist/);
    expect(missing.checks.at(-1)).toEqual(['connect', 'error']);
    const nologin = await run(allowed, viaProxy({ user: NOLOGIN_ROLE }));
    expect(nologin.result).toMatchObject({ status: 'error', errorCode: 'auth_invalid' });
    expect(nologin.result.hint).toMatch(/ALTER ROLE/);
  });

  it('maps a missing CONNECT privilege (42501) to permission_missing', async () => {
    const { result, checks } = await run(allowed, viaProxy({ database: LOCKED_DB }));
    expect(result).toMatchObject({ status: 'error', errorCode: 'permission_missing' });
    expect(result.hint).toMatch(/GRANT CONNECT/);
    expect(checks.at(-1)).toEqual(['connect', 'error']);
  });

  it('maps SSL on a server without SSL to tls', async () => {
    const real = await run(allowed, viaProxy({ ssl: true }));
    const realSsl = (await admin.query<{ ssl: string }>('SHOW ssl')).rows[0]!.ssl;
    if (realSsl === 'off') {
      expect(real.result).toMatchObject({ status: 'error', errorCode: 'tls' });
      expect(real.result.message).toMatch(/does not support SSL/);
    }
    const before = fakePg.sslRequests;
    const fake = await run(allowed, { connectionString: `postgres://${PROBE_ROLE}:${PROBE_PASS}@${DB_HOST}:${fakePg.port}/${PROBE_DB}?sslmode=require` });
    expect(fake.result).toMatchObject({ status: 'error', errorCode: 'tls' });
    expect(fake.checks.at(-1)).toEqual(['connect', 'error']);
    expect(fakePg.sslRequests).toBe(before + 1);
  });

  it('checks the certificate against the host name while connecting to the checked address, before sending the password', async () => {
    const { result, checks } = await run(allowed, {
      host: DB_HOST,
      port: fakePgTls.port,
      database: PROBE_DB,
      user: PROBE_ROLE,
      password: PROBE_PASS,
      ssl: true,
    });
    expect(result).toMatchObject({ status: 'error', errorCode: 'tls' });
    expect(result.message).toMatch(/self-signed/);
    expect(checks.at(-1)).toEqual(['connect', 'error']);
    expect(fakePgTls.servernames).toEqual([DB_HOST]);
    expect(fakePgTls.passwords).toEqual([]);
    // sslmode=no-verify skips the certificate check (as pg does): the handshake passes and the login is tried.
    const noVerify = await run(allowed, {
      connectionString: `postgres://${PROBE_ROLE}:${PROBE_PASS}@${DB_HOST}:${fakePgTls.port}/${PROBE_DB}?sslmode=no-verify`,
    });
    expect(noVerify.result).toMatchObject({ status: 'error', errorCode: 'auth_invalid' });
    expect(fakePgTls.passwords).toEqual([PROBE_PASS]);
  });

  it('maps a closed port to network_unreachable and a silent server to timeout', async () => {
    const closed = await run(allowed, viaProxy({ port: closedPort }));
    expect(closed.result).toMatchObject({ status: 'error', errorCode: 'network_unreachable' });
    expect(closed.checks.at(-1)).toEqual(['connect', 'error']);
    const silent = await run(allowed, viaProxy({ port: silentPort }), 500);
    expect(silent.result).toMatchObject({ status: 'error', errorCode: 'timeout' });
    expect(silent.result.responseTime).toBeLessThan(2000);
    expect(silent.checks.at(-1)).toEqual(['connect', 'error']);
  });

  it('refuses connection strings that point at a Unix socket', async () => {
    for (const connectionString of ['postgres:///postgres?host=/var/run/postgresql', `postgres://${DB_HOST}/postgres?host=%2Fvar%2Frun%2Fpostgresql`]) {
      const r = await allowed.app.inject({
        method: 'POST',
        url: '/onboarding/test-connection/s1',
        headers: bearer(user),
        payload: { channel: 'database', config: { connectionString, user: PROBE_ROLE, password: PROBE_PASS } },
      });
      expect(r.statusCode).toBe(422);
      expect(r.json().details).toEqual([{ field: 'config.connectionString', rule: 'dsn', message: expect.stringMatching(/Unix socket/) }]);
      for (const secret of PASSWORDS) expect(r.body).not.toContain(secret);
    }
  });

  it('blocks loopback before connecting, by address and by a name that resolves to it', async () => {
    const before = { proxy: proxy.connections, fake: fakePg.connections };
    for (const host of ['127.0.0.1', DB_HOST]) {
      const { result, checks } = await run(strict, viaProxy({ host }));
      expect(result).toMatchObject({ status: 'error', errorCode: 'blocked_by_policy' });
      expect(checks).toEqual(stages(['config', 'dns'], 'error'));
    }
    const fake = await run(strict, { connectionString: `postgres://${PROBE_ROLE}:${PROBE_PASS}@127.0.0.1:${fakePg.port}/${PROBE_DB}` });
    expect(fake.result).toMatchObject({ errorCode: 'blocked_by_policy' });
    expect({ proxy: proxy.connections, fake: fakePg.connections }).toEqual(before);
  });

  it('stores a summary without the password', async () => {
    const { result } = await run(allowed, { connectionString: `postgres://${PROBE_ROLE}:${PROBE_PASS}@${DB_HOST}:${proxy.port}/${PROBE_DB}` });
    const { rows } = await allowed.db.pool.query('SELECT config_summary FROM connection_test.test_runs WHERE id = $1', [result.id]);
    expect(rows[0].config_summary).toEqual({ host: DB_HOST, port: proxy.port, database: PROBE_DB, user: PROBE_ROLE, sslmode: 'prefer' });
    for (const secret of PASSWORDS) expect(JSON.stringify(rows)).not.toContain(secret);
  });

  it('left nothing behind: no new objects, the sentinel row untouched, only read-only statements', async () => {
    const c = new pg.Client({ connectionString: Object.assign(new URL(adminUrl), { pathname: `/${PROBE_DB}` }).toString() });
    await c.connect();
    try {
      const tables = await c.query("SELECT table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')");
      expect(tables.rows).toEqual([{ table_name: 'sentinel' }]);
      expect((await c.query('SELECT id FROM sentinel')).rows).toEqual([{ id: 1 }]);
    } finally {
      await c.end();
    }
    expect(proxy.statements.length).toBeGreaterThan(0);
    expect(proxy.statements.filter((s) => WRITES.test(s))).toEqual([]);
    // Every probe's statements sit inside BEGIN READ ONLY … ROLLBACK.
    const shapes = proxy.statements.map((s) => (s === 'BEGIN READ ONLY' ? '[' : s === 'ROLLBACK' ? ']' : '.')).join('');
    expect(shapes).toMatch(/^(\[\.+\])+$/);
  });
});
