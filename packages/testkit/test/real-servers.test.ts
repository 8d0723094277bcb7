import net from 'node:net';
import tls from 'node:tls';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestCa,
  mailServersUnavailable,
  selfSignedCertificate,
  startDovecot,
  startPostfix,
  startPostgresServer,
  type DovecotServer,
  type PostfixServer,
  type PostgresServer,
} from '../src/index.js';

const unavailable = mailServersUnavailable();
if (unavailable) console.warn(`testkit real servers: mail servers skipped (${unavailable})`);

/** Reads from a socket until `done(text)` says the answer is complete. */
function readUntil(socket: net.Socket, done: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (done(text)) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

describe('PostgreSQL with SCRAM and SSL', () => {
  const ca = createTestCa();
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgresServer({ password: 'pg-super-secret', ssl: ca.issue(['db.test', '127.0.0.1']) });
  });
  afterAll(() => server?.cleanup());

  it('wants the password over TCP and offers SSL with the CA-signed certificate', async () => {
    const wrong = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', password: 'nope', database: 'postgres' });
    await expect(wrong.connect()).rejects.toMatchObject({ code: '28P01' });
    await wrong.end().catch(() => {});
    const c = new pg.Client({
      host: '127.0.0.1',
      port: server.port,
      user: 'postgres',
      password: 'pg-super-secret',
      database: 'postgres',
      ssl: { ca: ca.cert, servername: 'db.test' },
    });
    await c.connect();
    try {
      const { rows } = await c.query<{ ssl: boolean; method: string }>(
        "SELECT ssl, (SELECT setting FROM pg_settings WHERE name = 'password_encryption') AS method FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
      );
      expect(rows[0]).toEqual({ ssl: true, method: 'scram-sha-256' });
    } finally {
      await c.end();
    }
  });
});

describe.skipIf(unavailable !== null)('Dovecot and Postfix', () => {
  const ca = createTestCa();
  let dovecot: DovecotServer;
  let postfix: PostfixServer;
  beforeAll(async () => {
    dovecot = await startDovecot({
      users: [{ username: 'alice@mail.test', password: 'alice-pass' }],
      certificate: ca.issue(['mail.test']),
      certificatesByName: { 'self.test': selfSignedCertificate(['self.test']) },
    });
    postfix = await startPostfix({ saslSocket: dovecot.authSocket, listeners: [{ name: 'submission', certificate: ca.issue(['mail.test']) }] });
  });
  afterAll(async () => {
    await postfix?.stop();
    await dovecot?.stop();
  });

  it('Dovecot answers IMAPS with the certificate chosen by SNI, and logs a user in', async () => {
    for (const [servername, trusted] of [
      ['mail.test', true],
      ['self.test', false],
    ] as const) {
      const socket = tls.connect({ host: '127.0.0.1', port: dovecot.imapsPort, servername, ca: ca.cert, rejectUnauthorized: false });
      await new Promise((resolve) => socket.once('secureConnect', resolve));
      expect(socket.authorized).toBe(trusted);
      await readUntil(socket, (t) => t.includes('\r\n'));
      socket.write('a1 LOGIN alice@mail.test alice-pass\r\n');
      expect(await readUntil(socket, (t) => /^a1 /m.test(t))).toMatch(/^a1 OK/m);
      socket.destroy();
    }
  });

  it('Postfix offers STARTTLS and AUTH after it', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: postfix.ports.submission! });
    expect(await readUntil(socket, (t) => /^220 /m.test(t))).toMatch(/^220 mail\.test/);
    socket.write('EHLO client.test\r\n');
    const ehlo = await readUntil(socket, (t) => /^250 /m.test(t));
    expect(ehlo).toMatch(/STARTTLS/);
    expect(ehlo).not.toMatch(/AUTH/);
    socket.write('QUIT\r\n');
    socket.destroy();
  });
});
