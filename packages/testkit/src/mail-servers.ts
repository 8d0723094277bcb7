import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, chownSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import type { KeyPair } from './tls-certs.js';
import { freePort, tcpAnswers } from './ports.js';
import { opensslAvailable } from './tls-certs.js';

/**
 * Debian's Dovecot (IMAP, and the SASL service Postfix logs in through) and Postfix (SMTP submission),
 * each in a private directory with its own configuration, on free 127.0.0.1 ports. Nothing of the
 * system's mail setup (/etc/postfix, /etc/dovecot, /var/spool/postfix) is read or changed.
 *
 * Dovecot's anvil keeps an auth penalty per client address: after failed logins, later logins (even with
 * the right password) are answered late: 2 s, 6 s, then ~8 s here. Tests that want to see this throttling
 * should fail logins on purpose; others should keep their wrong passwords to the end of the file.
 */

const DOVECOT = '/usr/sbin/dovecot';
const POSTFIX = '/usr/sbin/postfix';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const asRoot = () => process.getuid?.() === 0;

/** Why the mail servers cannot run here (a missing package, not root for Postfix), or null when they can. */
export function mailServersUnavailable(): string | null {
  const missing = [
    !isExecutable(DOVECOT) && 'dovecot-imapd (/usr/sbin/dovecot)',
    !isExecutable(POSTFIX) && 'postfix (/usr/sbin/postfix)',
    !opensslAvailable() && 'openssl',
  ].filter(Boolean);
  if (missing.length > 0) return `not installed: ${missing.join(', ')} (apt-get install -y postfix dovecot-imapd openssl)`;
  // Postfix's master must switch to its mail_owner: it does not run as an ordinary user.
  if (!asRoot()) return 'Postfix needs to start as root (its master process switches to the postfix user)';
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Spawns a foreground server and waits until every port accepts connections; the last output is in the error. */
async function spawnServer(
  what: string,
  cmd: string,
  args: string[],
  ports: number[],
  logFile: string,
  timeoutMs: number,
): Promise<{ child: ChildProcess; exited: Promise<void> }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const up = await Promise.all(ports.map((port) => tcpAnswers('127.0.0.1', port)));
    if (up.every(Boolean)) return { child, exited };
    const gone = child.exitCode !== null || child.signalCode !== null;
    if (spawnError || gone || Date.now() > deadline) {
      if (!gone) child.kill('SIGKILL');
      let log = '';
      try {
        log = readFileSync(logFile, 'utf8').slice(-3000);
      } catch {
        // no log yet
      }
      throw new Error(
        `${what} failed to start: ${spawnError?.message ?? (gone ? `exited with code ${String(child.exitCode)}` : 'ports did not answer in time')}\n${output}${log}`.trim(),
      );
    }
    await sleep(100);
  }
}

export interface MailUser {
  username: string;
  password: string;
  /** `unreadable`: the account logs in, but its INBOX lives in a directory the mail process may not enter. */
  mailbox?: 'ok' | 'unreadable';
}

export interface DovecotOptions {
  users: MailUser[];
  /** The certificate for connections without SNI (and names not listed in `certificatesByName`). */
  certificate: KeyPair;
  /** Certificates chosen by the name the client asks for (SNI), e.g. a self-signed one for one host name. */
  certificatesByName?: Record<string, KeyPair>;
  /** Dovecot's auth_failure_delay (seconds to wait before answering a failed login; Dovecot's default is 2). */
  authFailureDelaySeconds?: number;
  startTimeoutMs?: number;
}

export interface DovecotServer {
  /** IMAP with STARTTLS (plain login is allowed on 127.0.0.1). */
  imapPort: number;
  /** IMAP over TLS from the first byte. */
  imapsPort: number;
  /** Dovecot's SASL socket, for Postfix's smtpd_sasl_path. */
  authSocket: string;
  dir: string;
  logFile: string;
  stop(): Promise<void>;
}

function mailIds(): { uid: number; gid: number; user: string } {
  // As root, mail processes run as nobody (Dovecot refuses uid 0); otherwise as ourselves.
  if (asRoot())
    return {
      uid: Number(execFileSync('id', ['-u', 'nobody']).toString().trim()),
      gid: Number(execFileSync('id', ['-g', 'nobody']).toString().trim()),
      user: 'nobody',
    };
  const me = userInfo();
  return { uid: me.uid, gid: me.gid, user: me.username };
}

const sanitizeName = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');

export async function startDovecot(opts: DovecotOptions): Promise<DovecotServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'dovecot-test-'));
  chmodSync(dir, 0o755);
  const [imapPort, imapsPort] = [await freePort(), await freePort()];
  const ids = mailIds();
  for (const sub of ['run', 'state', 'mail', 'locked', 'tls']) mkdirSync(path.join(dir, sub), { mode: 0o755 });
  // The unreadable INBOXes live under a directory no mail process may enter.
  chmodSync(path.join(dir, 'locked'), 0o000);
  const tlsFile = (name: string, pair: KeyPair) => {
    writeFileSync(path.join(dir, 'tls', `${name}.crt`), pair.cert);
    writeFileSync(path.join(dir, 'tls', `${name}.key`), pair.key, { mode: 0o600 });
    return { cert: path.join(dir, 'tls', `${name}.crt`), key: path.join(dir, 'tls', `${name}.key`) };
  };
  const main = tlsFile('default', opts.certificate);
  const byName = Object.entries(opts.certificatesByName ?? {}).map(([name, pair]) => ({ name, files: tlsFile(sanitizeName(name), pair) }));

  const lines = opts.users.map((u) => {
    if (/[:\n]/.test(u.username) || /[:\n]/.test(u.password)) throw new Error(`mail user ${u.username}: no ':' or newline in user names and passwords`);
    const home = path.join(dir, 'mail', sanitizeName(u.username));
    mkdirSync(home, { recursive: true });
    if (asRoot()) chownSync(home, ids.uid, ids.gid);
    const extra = u.mailbox === 'unreadable' ? `userdb_mail=maildir:${home}/Maildir:INBOX=${path.join(dir, 'locked', sanitizeName(u.username))}` : '';
    return `${u.username}:{PLAIN}${u.password}:${ids.uid}:${ids.gid}::${home}::${extra}`;
  });
  writeFileSync(path.join(dir, 'users'), `${lines.join('\n')}\n`, { mode: 0o600 });
  // Dovecot's auth worker reads the users file as its internal user.
  if (asRoot()) chownSync(path.join(dir, 'users'), Number(execFileSync('id', ['-u', 'dovecot']).toString().trim()), 0);

  const logFile = path.join(dir, 'dovecot.log');
  const own = asRoot() ? '' : `default_internal_user = ${ids.user}\ndefault_login_user = ${ids.user}\n`;
  const conf = `# Written by @glavito/testkit for one test run.
instance_name = dovecot-test-${path.basename(dir)}
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${logFile}
${own}protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <${main.cert}
ssl_key = <${main.key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = ${opts.authFailureDelaySeconds ?? 2} secs
mail_location = maildir:~/Maildir
first_valid_uid = ${Math.min(ids.uid, 1000) || 1}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/users
}
userdb {
  driver = passwd-file
  args = username_format=%u ${dir}/users
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${imapPort}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${imapsPort}
    ssl = yes
  }
}
service auth {
  unix_listener auth-client {
    mode = 0666
  }
}
${byName.map(({ name, files }) => `local_name ${name} {\n  ssl_cert = <${files.cert}\n  ssl_key = <${files.key}\n}`).join('\n')}
`;
  const confFile = path.join(dir, 'dovecot.conf');
  writeFileSync(confFile, conf);

  const { child, exited } = await spawnServer('dovecot', DOVECOT, ['-F', '-c', confFile], [imapPort, imapsPort], logFile, opts.startTimeoutMs ?? 20_000);
  const reap = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', reap);
  return {
    imapPort,
    imapsPort,
    authSocket: path.join(dir, 'run', 'auth-client'),
    dir,
    logFile,
    async stop() {
      process.removeListener('exit', reap);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      chmodSync(path.join(dir, 'locked'), 0o755);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PostfixListener {
  /** A name for the listener (its port is returned under this name). */
  name: string;
  /** The certificate offered with STARTTLS on this port. */
  certificate: KeyPair;
}

export interface PostfixOptions {
  /** Dovecot's SASL socket (DovecotServer.authSocket): logins are checked against Dovecot's users. */
  saslSocket: string;
  /** Submission ports (STARTTLS offered, AUTH only after STARTTLS). */
  listeners: PostfixListener[];
  startTimeoutMs?: number;
}

export interface PostfixServer {
  ports: Record<string, number>;
  dir: string;
  logFile: string;
  stop(): Promise<void>;
}

export async function startPostfix(opts: PostfixOptions): Promise<PostfixServer> {
  const reason = mailServersUnavailable();
  if (reason) throw new Error(`postfix: ${reason}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'postfix-test-'));
  chmodSync(dir, 0o755);
  const conf = path.join(dir, 'conf');
  const queue = path.join(dir, 'queue');
  const data = path.join(dir, 'data');
  const tlsDir = path.join(dir, 'tls');
  for (const d of [conf, queue, data, tlsDir]) mkdirSync(d, { mode: 0o755 });
  chownSync(data, Number(execFileSync('id', ['-u', 'postfix']).toString().trim()), Number(execFileSync('id', ['-g', 'postfix']).toString().trim()));
  const ports: Record<string, number> = {};
  const services: string[] = [];
  for (const l of opts.listeners) {
    const port = await freePort();
    ports[l.name] = port;
    const base = path.join(tlsDir, sanitizeName(l.name));
    // Postfix reads the key and its chain from one file, key first.
    writeFileSync(`${base}.pem`, `${l.certificate.key.trim()}\n${l.certificate.cert.trim()}\n`, { mode: 0o600 });
    services.push(`127.0.0.1:${port} inet n - n - - smtpd\n  -o syslog_name=postfix/${sanitizeName(l.name)}\n  -o smtpd_tls_chain_files=${base}.pem`);
  }
  const logFile = path.join(dir, 'postfix.log');
  writeFileSync(
    path.join(conf, 'main.cf'),
    `# Written by @glavito/testkit for one test run.
compatibility_level = 3.6
queue_directory = ${queue}
data_directory = ${data}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mail.test
mydestination =
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
maillog_file_prefixes = ${dir}
maillog_file = ${logFile}
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = ${opts.saslSocket}
smtpd_sasl_auth_enable = yes
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtp_tls_security_level = none
`,
  );
  // Only the services smtpd and the queue need; none chrooted (the paths above are absolute).
  writeFileSync(
    path.join(conf, 'master.cf'),
    `${services.join('\n')}
pickup    unix  n  -  n  60     1  pickup
cleanup   unix  n  -  n  -      0  cleanup
qmgr      unix  n  -  n  300    1  qmgr
tlsmgr    unix  -  -  n  1000?  1  tlsmgr
rewrite   unix  -  -  n  -      -  trivial-rewrite
bounce    unix  -  -  n  -      0  bounce
defer     unix  -  -  n  -      0  bounce
trace     unix  -  -  n  -      0  bounce
verify    unix  -  -  n  -      1  verify
flush     unix  n  -  n  1000?  0  flush
proxymap  unix  -  -  n  -      -  proxymap
smtp      unix  -  -  n  -      -  smtp
relay     unix  -  -  n  -      -  smtp
showq     unix  n  -  n  -      -  showq
error     unix  -  -  n  -      -  error
retry     unix  -  -  n  -      -  error
discard   unix  -  -  n  -      -  discard
anvil     unix  -  -  n  -      1  anvil
scache    unix  -  -  n  -      1  scache
postlog   unix-dgram n - n -    1  postlogd
`,
  );
  try {
    // `check` creates the queue directories with Postfix's owners and modes.
    execFileSync(POSTFIX, ['-c', conf, 'check'], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(`postfix check failed: ${(err as Error).message}\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
  }
  const { child, exited } = await spawnServer('postfix', POSTFIX, ['-c', conf, 'start-fg'], Object.values(ports), logFile, opts.startTimeoutMs ?? 20_000);
  const reap = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', reap);
  return {
    ports,
    dir,
    logFile,
    async stop() {
      process.removeListener('exit', reap);
      if (child.exitCode === null && child.signalCode === null) {
        try {
          execFileSync(POSTFIX, ['-c', conf, 'stop'], { stdio: 'ignore' });
        } catch {
          child.kill('SIGTERM');
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
