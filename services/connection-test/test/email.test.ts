import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { selfSignedCertificate } from '@glavito/testkit';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkStatuses, listenLoopback, stages, loopbackLookup, startChannelTestHarness, testAnswered, type Harness } from './helpers.js';

const MAIL_HOST = 'mail.customer.test';
const SMTP_USER = 'probe@customer.test';
const SMTP_PASS = 'smtp-Pa55-Zq9wX';
const IMAP_USER = 'probe@customer.test';
const IMAP_PASS = 'imap-Pa55-Vr7tK';
const WRONG_PASS = 'wrong-Pa55-Jd4mB';
const PASSWORDS = [SMTP_PASS, IMAP_PASS, WRONG_PASS];

const lookup = loopbackLookup(MAIL_HOST);

let allowed: Harness;
let strict: Harness;
let key: string;
let cert: string;
const closers: Array<() => Promise<void>> = [];

const portOf = (s: net.Server) => (s.address() as AddressInfo).port;
const listen = async <S extends net.Server>(server: S): Promise<S> => {
  closers.push((await listenLoopback(server)).close);
  return server;
};

// ---------------------------------------------------------------- SMTP fakes (the smtp-server package)

interface FakeSmtp {
  port: number;
  connections: number;
  logins: Array<{ username: string; ok: boolean }>;
  servernames: string[];
}

async function startSmtp(options: SMTPServerOptions): Promise<FakeSmtp> {
  const fake: FakeSmtp = { port: 0, connections: 0, logins: [], servernames: [] };
  const server = new SMTPServer({
    logger: false,
    disableReverseLookup: true,
    onConnect(_session, cb) {
      fake.connections++;
      cb();
    },
    onAuth(auth, _session, cb) {
      const ok = auth.username === SMTP_USER && auth.password === SMTP_PASS;
      fake.logins.push({ username: auth.username ?? '', ok });
      if (!ok) return cb(new Error('5.7.8 Authentication credentials invalid'));
      cb(null, { user: auth.username });
    },
    ...(options.key
      ? {
          SNICallback: (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => {
            fake.servernames.push(servername);
            cb(null, tls.createSecureContext({ key, cert }));
          },
        }
      : {}),
    ...options,
  });
  server.on('error', () => {}); // a client that hangs up mid-handshake is what some tests do on purpose
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.port = (server.server.address() as AddressInfo).port;
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return fake;
}

// ---------------------------------------------------------------- IMAP fake (speaks enough IMAP4rev1 for imapflow)

interface FakeImap {
  port: number;
  connections: number;
  /** Commands received, by name (arguments left out: they carry the password). */
  commands: string[];
  logins: Array<{ username: string; ok: boolean }>;
}

/** Splits IMAP arguments: atoms and quoted strings (imapflow quotes plain ASCII values). */
function imapArgs(text: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

function imapSession(fake: FakeImap, opts: { authPlain: boolean; starttls: boolean }) {
  return (socket: net.Socket) => {
    fake.connections++;
    let io: net.Socket = socket;
    let buffer = '';
    let awaitingPlain: string | null = null;
    const caps = () =>
      [
        'IMAP4rev1',
        'ID',
        'ENABLE',
        'NAMESPACE',
        ...(opts.starttls && !(io instanceof tls.TLSSocket) ? ['STARTTLS'] : []),
        ...(opts.authPlain ? ['AUTH=PLAIN'] : []),
      ].join(' ');
    const send = (line: string) => io.write(`${line}\r\n`);
    const login = (tag: string, username: string, password: string) => {
      const ok = username === IMAP_USER && password === IMAP_PASS;
      fake.logins.push({ username, ok });
      send(ok ? `${tag} OK [CAPABILITY ${caps()}] Logged in` : `${tag} NO [AUTHENTICATIONFAILED] Invalid credentials`);
    };
    const handle = (line: string) => {
      if (awaitingPlain) {
        const tag = awaitingPlain;
        awaitingPlain = null;
        if (line === '*') return send(`${tag} BAD Authentication cancelled`);
        const [, username = '', password = ''] = Buffer.from(line, 'base64').toString('utf8').split('\0');
        return login(tag, username, password);
      }
      const m = /^(\S+) (\S+) ?(.*)$/.exec(line);
      if (!m) return send('* BAD Invalid command');
      const [, tag, name, rest] = m as unknown as [string, string, string, string];
      const command = name.toUpperCase();
      fake.commands.push(command);
      switch (command) {
        case 'CAPABILITY':
          send(`* CAPABILITY ${caps()}`);
          return send(`${tag} OK CAPABILITY completed`);
        case 'ID':
          send('* ID ("name" "fake-imap")');
          return send(`${tag} OK ID completed`);
        case 'STARTTLS': {
          if (!opts.starttls) return send(`${tag} BAD STARTTLS not supported`);
          send(`${tag} OK Begin TLS negotiation now`);
          socket.removeAllListeners('data');
          io = new tls.TLSSocket(socket, { isServer: true, secureContext: tls.createSecureContext({ key, cert }) });
          io.on('error', () => {});
          io.on('data', onData);
          return;
        }
        case 'LOGIN': {
          const [username = '', password = ''] = imapArgs(rest);
          return login(tag, username, password);
        }
        case 'AUTHENTICATE': {
          const [mechanism = '', initial] = imapArgs(rest);
          if (!opts.authPlain || mechanism.toUpperCase() !== 'PLAIN') return send(`${tag} NO Unsupported mechanism`);
          if (initial) {
            const [, username = '', password = ''] = Buffer.from(initial, 'base64').toString('utf8').split('\0');
            return login(tag, username, password);
          }
          awaitingPlain = tag;
          return send('+ ');
        }
        case 'NAMESPACE':
          send('* NAMESPACE (("" "/")) NIL NIL');
          return send(`${tag} OK NAMESPACE completed`);
        case 'ENABLE':
          send('* ENABLED');
          return send(`${tag} OK ENABLE completed`);
        case 'LIST':
          send('* LIST (\\HasNoChildren) "/" INBOX');
          return send(`${tag} OK LIST completed`);
        case 'SELECT':
        case 'EXAMINE':
          send('* 0 EXISTS');
          send('* OK [UIDVALIDITY 1] UIDs valid');
          return send(`${tag} OK [READ-ONLY] ${command} completed`);
        case 'NOOP':
          return send(`${tag} OK NOOP completed`);
        case 'LOGOUT':
          send('* BYE Logging out');
          send(`${tag} OK LOGOUT completed`);
          return void io.end();
        default:
          return send(`${tag} BAD Unknown command`);
      }
    };
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let i = buffer.indexOf('\r\n'); i >= 0; i = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        handle(line);
      }
    };
    socket.on('error', () => {});
    socket.on('data', onData);
    send('* OK IMAP4rev1 ready');
  };
}

async function startImap(opts: { authPlain: boolean; starttls?: boolean; implicitTls?: boolean }): Promise<FakeImap> {
  const fake: FakeImap = { port: 0, connections: 0, commands: [], logins: [] };
  const session = imapSession(fake, { authPlain: opts.authPlain, starttls: opts.starttls ?? false });
  const server = opts.implicitTls ? tls.createServer({ key, cert }, session) : net.createServer(session);
  if (opts.implicitTls) server.on('tlsClientError', () => {});
  await listen(server);
  fake.port = portOf(server);
  return fake;
}

// ---------------------------------------------------------------- plumbing

let smtpPlain: FakeSmtp;
let smtpTls: FakeSmtp;
let smtpStarttls: FakeSmtp;
let smtpNoAuth: FakeSmtp;
let imapPlain: FakeImap;
let imapLogin: FakeImap;
let imapStarttls: FakeImap;
let imapTls: FakeImap;
let silentPort: number;
let silentConnections = 0;
let closedPort: number;

beforeAll(async () => {
  ({ key, cert } = selfSignedCertificate([MAIL_HOST]));

  smtpPlain = await startSmtp({ authOptional: false, disabledCommands: ['STARTTLS'], allowInsecureAuth: true });
  smtpTls = await startSmtp({ secure: true, key, cert, authOptional: false });
  smtpStarttls = await startSmtp({ key, cert, authOptional: false });
  smtpNoAuth = await startSmtp({ authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'] });
  imapPlain = await startImap({ authPlain: true });
  imapLogin = await startImap({ authPlain: false });
  imapStarttls = await startImap({ authPlain: true, starttls: true });
  imapTls = await startImap({ authPlain: true, implicitTls: true });

  const silent = await listen(
    net.createServer((socket) => {
      silentConnections++;
      socket.on('error', () => {});
      socket.resume(); // reads (and ignores) everything, answers nothing
    }),
  );
  silentPort = portOf(silent);
  const gone = net.createServer();
  await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
  closedPort = portOf(gone);
  await new Promise<void>((resolve) => gone.close(() => resolve()));

  // The fakes live on loopback: one service allows it (as an operator would for an internal
  // network), the other runs with the default policy.
  allowed = await startChannelTestHarness({ env: { CONNECTION_TEST_ALLOWED_CIDRS: '127.0.0.1/32' }, lookup });
  strict = await startChannelTestHarness({ lookup });
}, 60_000);

afterAll(async () => {
  await allowed?.close();
  await strict?.close();
  for (const close of closers.reverse()) await close();
});

type Check = { name: string; status: string; message?: string };

async function run(h: Harness, config: Record<string, unknown>, timeout?: number) {
  const result = await testAnswered(h, 'email', config, PASSWORDS, timeout);
  return {
    result,
    checks: checkStatuses(result),
    check: (name: string) => (result.checks as Check[]).find((c) => c.name === name),
  };
}

const smtp = (port: number, extra: Record<string, unknown> = {}) => ({
  host: MAIL_HOST,
  port,
  secure: false,
  username: SMTP_USER,
  password: SMTP_PASS,
  ...extra,
});
const imap = (port: number, extra: Record<string, unknown> = {}) => ({
  host: MAIL_HOST,
  port,
  secure: false,
  username: IMAP_USER,
  password: IMAP_PASS,
  ...extra,
});

// ---------------------------------------------------------------- tests

describe('email channel: SMTP', () => {
  it('connects to the checked address, logs in, and warns that the server offers no encryption', async () => {
    const before = smtpPlain.logins.length;
    const { result, checks, check } = await run(allowed, { smtp: smtp(smtpPlain.port) });
    expect(result).toMatchObject({
      channel: 'email',
      status: 'warning',
      details: { smtp: { host: MAIL_HOST, port: smtpPlain.port, encryption: 'none', authenticated: true } },
    });
    expect(result.message).toBe('SMTP accepted the login');
    expect(checks).toEqual([
      ['config', 'success'],
      ['smtp dns', 'success'],
      ['smtp connect', 'success'],
      ['smtp tls', 'warning'],
      ['smtp auth', 'success'],
    ]);
    expect(check('smtp dns')?.message).toBe('127.0.0.1');
    expect(smtpPlain.logins.slice(before)).toEqual([{ username: SMTP_USER, ok: true }]);
  });

  it('maps a rejected password (535) to auth_invalid with an app-password hint', async () => {
    const { result, checks } = await run(allowed, { smtp: smtp(smtpPlain.port, { password: WRONG_PASS }) });
    expect(result).toMatchObject({ status: 'error', errorCode: 'auth_invalid' });
    expect(result.hint).toMatch(/rejected the username or password \(535\)/);
    expect(result.hint).toMatch(/app password/);
    expect(checks).toEqual([
      ['config', 'success'],
      ['smtp dns', 'success'],
      ['smtp connect', 'success'],
      ['smtp tls', 'warning'],
      ['smtp auth', 'error'],
    ]);
    expect(smtpPlain.logins.at(-1)).toEqual({ username: SMTP_USER, ok: false });
  });

  it('refuses a self-signed certificate on implicit TLS, having sent the host name as SNI to the checked address', async () => {
    const { result, checks } = await run(allowed, { smtp: smtp(smtpTls.port, { secure: true }) });
    expect(result).toMatchObject({ status: 'error', errorCode: 'tls' });
    expect(result.message).toMatch(/self-signed/);
    expect(checks).toEqual(stages(['config', 'smtp dns', 'smtp connect'], 'error'));
    expect(smtpTls.servernames).toContain(MAIL_HOST);
    expect(smtpTls.logins).toEqual([]);
  });

  it('refuses a self-signed certificate offered through STARTTLS, before any login', async () => {
    const { result, checks } = await run(allowed, { smtp: smtp(smtpStarttls.port) });
    expect(result).toMatchObject({ status: 'error', errorCode: 'tls' });
    expect(checks).toEqual(stages(['config', 'smtp dns', 'smtp connect'], 'error'));
    expect(smtpStarttls.servernames).toContain(MAIL_HOST);
    expect(smtpStarttls.logins).toEqual([]);
  });

  it('reports tls when secure: true meets a port that does not speak TLS', async () => {
    const { result, checks } = await run(allowed, { smtp: smtp(smtpPlain.port, { secure: true }) });
    expect(result).toMatchObject({ status: 'error', errorCode: 'tls' });
    expect(result.message).toMatch(/did not answer with TLS/);
    expect(result.hint).toMatch(/secure: false/);
    expect(checks.at(-1)).toEqual(['smtp connect', 'error']);
  });

  it('reports timeout when the server accepts the connection but never greets', async () => {
    const before = silentConnections;
    const { result, checks, check } = await run(allowed, { smtp: smtp(silentPort) }, 500);
    expect(result).toMatchObject({ status: 'error', errorCode: 'timeout' });
    expect(result.message).toMatch(/sent no greeting/);
    expect(result.hint).toMatch(/secure: true/);
    expect(result.responseTime).toBeLessThan(2000);
    expect(checks).toEqual(stages(['config', 'smtp dns', 'smtp connect'], 'error'));
    expect(check('smtp connect')?.message).toMatch(/no greeting/);
    expect(silentConnections).toBe(before + 1);
  });

  it('reports network_unreachable for a closed port', async () => {
    const { result, checks } = await run(allowed, { smtp: smtp(closedPort) });
    expect(result).toMatchObject({ status: 'error', errorCode: 'network_unreachable' });
    expect(result.message).toMatch(/ECONNREFUSED/);
    expect(checks.at(-1)).toEqual(['smtp connect', 'error']);
  });

  it('warns instead of passing when the server offers no AUTH, so the credentials were not checked', async () => {
    const { result, checks } = await run(allowed, { smtp: smtp(smtpNoAuth.port) });
    expect(result).toMatchObject({ status: 'warning', details: { smtp: { authenticated: false } } });
    expect(result.message).toMatch(/credentials were not checked/);
    expect(checks).toEqual([
      ['config', 'success'],
      ['smtp dns', 'success'],
      ['smtp connect', 'success'],
      ['smtp tls', 'warning'],
      ['smtp auth', 'warning'],
    ]);
  });

  it('reports dns for a name that does not resolve', async () => {
    const { result, checks } = await run(allowed, { smtp: smtp(smtpPlain.port, { host: 'nowhere.customer.test' }) });
    expect(result).toMatchObject({ status: 'error', errorCode: 'dns' });
    expect(checks).toEqual(stages(['config', 'smtp dns'], 'error'));
  });
});

describe('email channel: IMAP', () => {
  it('logs in with AUTHENTICATE PLAIN, lists the mailboxes, opens INBOX read-only (EXAMINE) and logs out', async () => {
    const before = imapPlain.commands.length;
    const { result, checks } = await run(allowed, { imap: imap(imapPlain.port) });
    expect(result).toMatchObject({
      status: 'warning',
      message: 'IMAP accepted the login and INBOX opened read-only',
      details: { imap: { host: MAIL_HOST, port: imapPlain.port, encryption: 'none', authenticated: true, mailbox: { name: 'INBOX', messages: 0 } } },
    });
    expect(checks).toEqual([
      ['config', 'success'],
      ['imap dns', 'success'],
      ['imap connect', 'success'],
      ['imap auth', 'success'],
      ['imap tls', 'warning'],
      ['imap mailbox', 'success'],
    ]);
    const commands = imapPlain.commands.slice(before);
    expect(commands).toContain('AUTHENTICATE');
    expect(commands).toEqual(expect.arrayContaining(['LIST', 'EXAMINE']));
    expect(commands.at(-1)).toBe('LOGOUT');
    expect(commands.filter((c) => ['SELECT', 'FETCH', 'STORE', 'APPEND', 'EXPUNGE', 'DELETE', 'CREATE'].includes(c))).toEqual([]);
    expect(imapPlain.logins.at(-1)).toEqual({ username: IMAP_USER, ok: true });
  });

  it('maps NO [AUTHENTICATIONFAILED] to auth_invalid (AUTHENTICATE PLAIN and LOGIN)', async () => {
    for (const fake of [imapPlain, imapLogin]) {
      const before = fake.commands.length;
      const { result, checks } = await run(allowed, { imap: imap(fake.port, { password: WRONG_PASS }) });
      expect(result).toMatchObject({ status: 'error', errorCode: 'auth_invalid' });
      expect(result.message).toBe('IMAP: the server rejected the login (AUTHENTICATIONFAILED: Invalid credentials)');
      expect(result.hint).toMatch(/app password/);
      expect(checks).toEqual(stages(['config', 'imap dns', 'imap connect', 'imap auth'], 'error'));
      expect(fake.commands.slice(before)).toContain(fake === imapLogin ? 'LOGIN' : 'AUTHENTICATE');
      expect(fake.logins.at(-1)).toEqual({ username: IMAP_USER, ok: false });
    }
  });

  it('logs in with LOGIN when the server offers no SASL mechanism', async () => {
    const { result } = await run(allowed, { imap: imap(imapLogin.port) });
    expect(result).toMatchObject({ status: 'warning', details: { imap: { authenticated: true } } });
    expect(imapLogin.logins.at(-1)).toEqual({ username: IMAP_USER, ok: true });
  });

  it('refuses a self-signed certificate, on implicit TLS and through STARTTLS, before any login', async () => {
    for (const [fake, secure] of [
      [imapTls, true],
      [imapStarttls, false],
    ] as const) {
      const { result, checks } = await run(allowed, { imap: imap(fake.port, { secure }) });
      expect(result).toMatchObject({ status: 'error', errorCode: 'tls' });
      expect(result.message).toMatch(/self-signed/);
      expect(checks.at(-1)).toEqual(['imap connect', 'error']);
      expect(fake.logins).toEqual([]);
    }
    expect(imapStarttls.commands).toContain('STARTTLS');
  });

  it('reports tls when secure: true meets a port that does not speak TLS', async () => {
    const { result } = await run(allowed, { imap: imap(imapPlain.port, { secure: true }) });
    expect(result).toMatchObject({ status: 'error', errorCode: 'tls' });
    expect(result.message).toMatch(/did not answer with TLS/);
  });

  it('reports timeout for a server that never greets and network_unreachable for a closed port', async () => {
    const silent = await run(allowed, { imap: imap(silentPort) }, 500);
    expect(silent.result).toMatchObject({ status: 'error', errorCode: 'timeout' });
    expect(silent.result.message).toMatch(/sent no greeting/);
    expect(silent.result.responseTime).toBeLessThan(2000);
    expect(silent.checks.at(-1)).toEqual(['imap connect', 'error']);
    const closed = await run(allowed, { imap: imap(closedPort) });
    expect(closed.result).toMatchObject({ status: 'error', errorCode: 'network_unreachable' });
    expect(closed.checks.at(-1)).toEqual(['imap connect', 'error']);
  });
});

describe('email channel: SMTP and IMAP together', () => {
  it('tests both, in order', async () => {
    const { result, checks } = await run(allowed, { smtp: smtp(smtpPlain.port), imap: imap(imapPlain.port) });
    expect(result).toMatchObject({ status: 'warning', message: 'SMTP and IMAP accepted the login and INBOX opened read-only' });
    expect(checks).toEqual([
      ['config', 'success'],
      ['smtp dns', 'success'],
      ['smtp connect', 'success'],
      ['smtp tls', 'warning'],
      ['smtp auth', 'success'],
      ['imap dns', 'success'],
      ['imap connect', 'success'],
      ['imap auth', 'success'],
      ['imap tls', 'warning'],
      ['imap mailbox', 'success'],
    ]);
  });

  it('still tests IMAP when SMTP fails, and reports the SMTP failure', async () => {
    const { result, checks } = await run(allowed, { smtp: smtp(smtpPlain.port, { password: WRONG_PASS }), imap: imap(imapPlain.port) });
    expect(result).toMatchObject({ status: 'error', errorCode: 'auth_invalid' });
    expect(result.message).toMatch(/^SMTP:/);
    expect(checks).toContainEqual(['smtp auth', 'error']);
    expect(checks).toContainEqual(['imap auth', 'success']);
  });

  it('stores a summary with hosts, ports, secure and usernames, never passwords', async () => {
    const { result } = await run(allowed, { smtp: smtp(smtpPlain.port), imap: { host: MAIL_HOST, port: 993, username: IMAP_USER, password: IMAP_PASS } }, 300);
    const { rows } = await allowed.db.pool.query('SELECT config_summary FROM connection_test.test_runs WHERE id = $1', [result.id]);
    expect(rows[0].config_summary).toEqual({
      smtp: { host: MAIL_HOST, port: smtpPlain.port, secure: false, username: SMTP_USER },
      imap: { host: MAIL_HOST, port: 993, secure: true, username: IMAP_USER, mailbox: 'INBOX' },
    });
    for (const secret of PASSWORDS) expect(JSON.stringify(rows)).not.toContain(secret);
  });
});

describe('email channel: outbound policy', () => {
  it('blocks loopback before connecting, by address and by a name that resolves to it', async () => {
    const before = { smtp: smtpPlain.connections, imap: imapPlain.connections };
    for (const host of ['127.0.0.1', MAIL_HOST]) {
      const { result, checks } = await run(strict, { smtp: smtp(smtpPlain.port, { host }), imap: imap(imapPlain.port, { host }) });
      expect(result).toMatchObject({ status: 'error', errorCode: 'blocked_by_policy' });
      expect(result.message).toMatch(/127\.0\.0\.1 are not allowed/);
      expect(checks).toEqual([
        ['config', 'success'],
        ['smtp dns', 'error'],
        ['imap dns', 'error'],
      ]);
    }
    expect({ smtp: smtpPlain.connections, imap: imapPlain.connections }).toEqual(before);
  });
});
