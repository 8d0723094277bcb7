import net from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { EmailConfigSchema, type ImapServerSchema, type MailServerSchema } from '@glavito/contracts';
import { ImapFlow } from 'imapflow';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { z } from 'zod';
import { resolveTarget, type ResolvedTarget } from '../domain/outbound-policy.js';
import { classifyError, ConnectionTestFailure, defaultHint } from '../domain/result.js';
import { certificateFailure, judge, parseTrust, tlsOptions, verdictWarning, type Trust, type TrustVerdict } from '../domain/tls-trust.js';
import type { Channel, ChannelContext } from './types.js';

type MailServer = z.infer<typeof MailServerSchema>;
type ImapServer = z.infer<typeof ImapServerSchema>;
type Protocol = 'SMTP' | 'IMAP';

/** What we say in EHLO: a fixed name, never this machine's host name. */
const EHLO_NAME = 'connection-test.glavito.invalid';
const NETWORK_CODES = /^(ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ECONNRESET|EPIPE|EADDRNOTAVAIL)$/;
const TLS_CODES = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET|HOSTNAME_MISMATCH|DEPTH_ZERO|EPROTO/i;
const APP_PASSWORD_HINT = 'For Gmail/Outlook use an app password, and check that the mailbox allows this protocol (SMTP AUTH / IMAP access).';

/**
 * Each stage gets what is left of the test's time, minus a margin, so a stage that hangs fails with
 * its own message ("no greeting…") just before the runner's deadline would cut it short.
 */
function budget(ctx: ChannelContext): () => number {
  const end = Date.now() + ctx.timeoutMs - Math.min(250, Math.max(25, Math.floor(ctx.timeoutMs / 10)));
  return () => Math.max(end - Date.now(), 50);
}

/**
 * TLS options that check the certificate against the host the tenant typed, with the test's own trust
 * (a custom CA; with allowSelfSigned the handshake is judged before the login instead).
 */
function tlsFor(target: ResolvedTarget, trust: Trust): { servername?: string; rejectUnauthorized: boolean; ca?: string[] } {
  return { ...(net.isIP(target.hostname) ? {} : { servername: target.hostname }), ...tlsOptions(trust) };
}

/** The effective `secure`: TLS from the first byte when asked, or by default on the implicit-TLS ports. */
function isSecure(server: MailServer, protocol: Protocol): boolean {
  return server.secure ?? server.port === (protocol === 'SMTP' ? 465 : 993);
}

function tlsReason(code: string, message: string, host: string): string {
  if (/SELF_SIGNED/.test(code)) return 'the certificate is self-signed';
  if (code === 'CERT_HAS_EXPIRED') return 'the certificate has expired';
  if (code === 'CERT_NOT_YET_VALID') return 'the certificate is not valid yet';
  if (/ALTNAME|HOSTNAME_MISMATCH/.test(code)) return `the certificate is not valid for ${host}`;
  if (/UNABLE_TO_(VERIFY|GET)/.test(code)) return 'the certificate chain is incomplete or from an unknown authority';
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH|UNKNOWN_PROTOCOL|HTTP_REQUEST/.test(code) || /wrong version number|packet length/i.test(message))
    return 'the server did not answer with TLS on this port';
  if (/disconnected before secure TLS/i.test(message)) return 'the server closed the connection during the TLS handshake';
  return code || 'handshake failed';
}

function tlsFailure(protocol: Protocol, server: MailServer, code: string, message: string): ConnectionTestFailure {
  if (/CERT|SELF_SIGNED|UNABLE_TO_|HOSTNAME_MISMATCH|ALTNAME/.test(code))
    return certificateFailure(protocol, code, server.host, undefined, parseTrust(server.tls));
  const reason = tlsReason(code, message, server.host);
  const secure = isSecure(server, protocol);
  const tlsPort = protocol === 'SMTP' ? 465 : 993;
  const plainPort = protocol === 'SMTP' ? 587 : 143;
  const hint = /did not answer with TLS|during the TLS handshake/.test(reason)
    ? secure
      ? `This port does not speak TLS from the first byte. Use secure: false (STARTTLS, usually port ${plainPort}) or the TLS port (usually ${tlsPort}).`
      : "The server offered STARTTLS but the upgrade failed. Check the server's TLS setup."
    : `The server's certificate was refused (${reason}). Install a certificate from a public authority that is valid for ${server.host}, or use the host name the certificate was issued for.`;
  return new ConnectionTestFailure('tls', `${protocol}: TLS failed (${reason}${code && reason !== code ? `, ${code}` : ''})`, hint);
}

function closedPortFailure(protocol: Protocol, server: MailServer, code: string): ConnectionTestFailure {
  return new ConnectionTestFailure(
    'network_unreachable',
    `${protocol}: could not connect to ${server.host}:${server.port} (${code})`,
    defaultHint('network_unreachable'),
  );
}

function greetingTimeout(protocol: Protocol, server: MailServer): ConnectionTestFailure {
  const hint = isSecure(server, protocol)
    ? 'The server accepted the connection but sent nothing. Check the host and port.'
    : `The server accepted the connection but sent no greeting. If this port expects TLS from the first byte (usually ${protocol === 'SMTP' ? 465 : 993}), set secure: true; otherwise check the host and port.`;
  return new ConnectionTestFailure('timeout', `${protocol}: ${server.host}:${server.port} accepted the connection but sent no greeting in time`, hint);
}

const short = (text: unknown) =>
  String(text ?? '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);

/** Maps a nodemailer SMTPConnection error onto the taxonomy; `greeted`: the server has said anything at all. */
function smtpFailure(err: unknown, server: MailServer, greeted: boolean): ConnectionTestFailure {
  if (err instanceof ConnectionTestFailure) return err;
  const e = err as { code?: string; originalCode?: string; responseCode?: number; response?: string; command?: string; timeoutType?: string; message?: string };
  const code = e?.code ?? '';
  const sys = e?.originalCode ?? '';
  const status = e?.responseCode;
  const response = short(e?.response);
  if (code === 'EAUTH' || (status !== undefined && /^AUTH/i.test(e?.command ?? ''))) {
    if (status === 530 || status === 538)
      return new ConnectionTestFailure(
        'tls',
        `SMTP: the server requires encryption before login (${response || status})`,
        'Use secure: true (port 465) or a port that offers STARTTLS (587).',
      );
    if (status !== undefined && status >= 400 && status < 500)
      return new ConnectionTestFailure(
        'provider_unavailable',
        `SMTP: the server could not check the login right now (${response || status})`,
        defaultHint('provider_unavailable'),
      );
    const shown = status ?? 'EAUTH';
    return new ConnectionTestFailure(
      'auth_invalid',
      `SMTP: the server rejected the login${response ? ` (${response})` : ` (${shown})`}`,
      `The mail server rejected the username or password (${shown}). ${APP_PASSWORD_HINT}`,
    );
  }
  if (code === 'ETIMEDOUT') {
    if (e.timeoutType === 'CONNECT_TIMEOUT')
      return new ConnectionTestFailure(
        'timeout',
        `SMTP: no connection to ${server.host}:${server.port} in time`,
        'Nothing answered: check the host and port, and that a firewall lets connections from the internet through.',
      );
    if (e.timeoutType === 'UPGRADE_TIMEOUT') return new ConnectionTestFailure('tls', 'SMTP: the TLS handshake did not finish in time', defaultHint('tls'));
    // The greeting timer and the socket's inactivity timer run out together; either way nothing came.
    if (e.timeoutType === 'GREETING_TIMEOUT' || !greeted) return greetingTimeout('SMTP', server);
    return new ConnectionTestFailure('timeout', 'SMTP: the server stopped answering', defaultHint('timeout'));
  }
  if (code === 'ETLS' || TLS_CODES.test(sys) || (sys === 'ECONNRESET' && /TLS/.test(e?.message ?? '')))
    return tlsFailure('SMTP', server, sys, e?.message ?? '');
  if (NETWORK_CODES.test(sys)) return closedPortFailure('SMTP', server, sys);
  if (code === 'ECONNECTION') {
    if (status !== undefined)
      return new ConnectionTestFailure(
        'provider_unavailable',
        `SMTP: the server refused the session (${response})`,
        'The server is refusing connections right now (busy, or our address is not allowed). Try again later or check its access rules.',
      );
    return new ConnectionTestFailure(
      'network_unreachable',
      'SMTP: the server closed the connection unexpectedly',
      'Check the host and port (SMTP submission is usually 587 with STARTTLS or 465 with TLS).',
    );
  }
  if (code === 'EPROTOCOL')
    return new ConnectionTestFailure(
      'provider_unavailable',
      `SMTP: the server did not answer like an SMTP server${response ? ` (${response})` : ''}`,
      'Check the port: SMTP submission is usually 587 (STARTTLS) or 465 (TLS).',
    );
  const fallback = classifyError(sys ? Object.assign(new Error(e?.message ?? 'SMTP error'), { code: sys }) : err);
  return new ConnectionTestFailure(fallback.code, `SMTP: ${fallback.message}`, fallback.hint, fallback.details);
}

/** Maps an ImapFlow error onto the taxonomy; `greeted`: the server's greeting arrived. */
function imapFailure(err: unknown, server: MailServer, greeted: boolean): ConnectionTestFailure {
  if (err instanceof ConnectionTestFailure) return err;
  const e = err as { code?: string; message?: string; authenticationFailed?: boolean; serverResponseCode?: string; response?: string; tlsFailed?: boolean };
  const code = e?.code ?? '';
  const message = e?.message ?? '';
  if (e?.authenticationFailed) {
    const why = e.serverResponseCode ? `${e.serverResponseCode}` : 'NO';
    // "a1 NO [AUTHENTICATIONFAILED] Invalid credentials" → "Invalid credentials"
    const text = short(e.response).replace(/^\S+\s+(NO|BAD)\s+(\[[^\]]*\]\s*)?/i, '');
    return new ConnectionTestFailure(
      'auth_invalid',
      `IMAP: the server rejected the login (${why}${text ? `: ${text}` : ''})`,
      `The mail server rejected the username or password (${why}). ${APP_PASSWORD_HINT}`,
    );
  }
  if (/Login is disabled/i.test(message))
    return new ConnectionTestFailure(
      'tls',
      'IMAP: the server allows login only over TLS (LOGINDISABLED)',
      'Use secure: true (port 993), or a port that offers STARTTLS.',
    );
  if (/authentication mechanism|No matching authentication method/i.test(message))
    return new ConnectionTestFailure(
      'config_invalid',
      'IMAP: the server offers no password login method we support',
      'The server offers neither LOGIN nor AUTH=PLAIN/LOGIN. Check that password login is enabled for this mailbox.',
    );
  if (code === 'CONNECT_TIMEOUT')
    return new ConnectionTestFailure(
      'timeout',
      `IMAP: no connection to ${server.host}:${server.port} in time`,
      'Nothing answered: check the host and port, and that a firewall lets connections from the internet through.',
    );
  if (code === 'UPGRADE_TIMEOUT') return new ConnectionTestFailure('tls', 'IMAP: the TLS handshake did not finish in time', defaultHint('tls'));
  if (code === 'GREETING_TIMEOUT' || ((code === 'ETIMEOUT' || code === 'ETIMEDOUT') && !greeted)) return greetingTimeout('IMAP', server);
  if (code === 'ETIMEOUT' || code === 'ETIMEDOUT') return new ConnectionTestFailure('timeout', 'IMAP: the server stopped answering', defaultHint('timeout'));
  if (e?.tlsFailed || TLS_CODES.test(code) || (code === 'ECONNRESET' && /TLS/.test(message))) return tlsFailure('IMAP', server, code, message);
  if (NETWORK_CODES.test(code)) return closedPortFailure('IMAP', server, code);
  if (/^(NoConnection|EConnectionClosed|ClosedAfterConnectText|ClosedAfterConnectTLS)$/.test(code))
    return new ConnectionTestFailure(
      'network_unreachable',
      'IMAP: the server closed the connection unexpectedly',
      'Check the host and port (IMAP is usually 993 with TLS or 143 with STARTTLS).',
    );
  if (/^(ParserError|InvalidResponse|UnexpectedTag|MissingTag)/.test(code))
    return new ConnectionTestFailure(
      'provider_unavailable',
      'IMAP: the server did not answer like an IMAP server',
      'Check the port: IMAP is usually 993 (TLS) or 143 (STARTTLS).',
    );
  const fallback = classifyError(err);
  return new ConnectionTestFailure(fallback.code, `IMAP: ${fallback.message}`, fallback.hint, fallback.details);
}

interface ServerReport {
  host: string;
  port: number;
  encryption: 'tls' | 'starttls' | 'none';
  /** False when the server offered no way to log in, so the credentials were not checked. */
  authenticated: boolean;
  /** How the certificate was trusted (unverified: no TLS). */
  tls: TrustVerdict;
  /** IMAP: the mailbox opened read-only, and how many messages it holds. */
  mailbox?: { name: string; messages: number };
}

async function testSmtp(server: MailServer, ctx: ChannelContext, remaining: () => number): Promise<ServerReport> {
  const target = await ctx.step(
    'smtp dns',
    () => resolveTarget(ctx.policy, server.host, ctx.lookup),
    (t) => t.address,
  );
  const secure = isSecure(server, 'SMTP');
  const trust = parseTrust(server.tls);
  // nodemailer's SMTPConnection is what transport.verify() runs; driving it directly gives each stage
  // its own check, a handle to close on abort, and tells "server offers no AUTH" apart from success.
  const conn = new SMTPConnection({
    host: target.address,
    port: server.port,
    secure,
    name: EHLO_NAME,
    tls: tlsFor(target, trust),
    connectionTimeout: remaining(),
    greetingTimeout: remaining(),
    socketTimeout: remaining(),
    logger: false,
  });
  let verdict: TrustVerdict = 'unverified';
  // Errors arrive as 'error' events as well as callbacks: route both to the stage in flight.
  let fail: ((err: unknown) => void) | undefined;
  conn.on('error', (err) => fail?.(err));
  const stage = (run: (resolve: () => void, reject: (err: unknown) => void) => void) =>
    new Promise<void>((resolve, reject) => {
      fail = reject;
      run(resolve, reject);
    })
      .catch((err: unknown) => {
        throw smtpFailure(err, server, conn.lastServerResponse !== false);
      })
      .finally(() => {
        fail = undefined;
      });
  const abort = () => {
    fail?.(new ConnectionTestFailure('timeout', 'SMTP: the test ran out of time', defaultHint('timeout')));
    conn.close();
  };
  ctx.signal.addEventListener('abort', abort, { once: true });
  let done = false;
  try {
    await ctx.step(
      'smtp connect',
      async () => {
        await stage((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
        // The handshake is judged before the login goes out (nodemailer keeps the TLS socket as _socket).
        const socket = (conn as unknown as { _socket?: TLSSocket })._socket;
        if (socket instanceof tls.TLSSocket) verdict = judge(socket, trust, net.isIP(server.host) ? server.host : target.hostname, 'SMTP');
      },
      () => (secure ? 'TLS' : conn.secure ? 'STARTTLS' : 'unencrypted'),
    );
    const encryption = secure ? 'tls' : conn.secure ? 'starttls' : 'none';
    const trusted = verdictWarning(verdict, 'SMTP');
    if (trusted) ctx.warn('smtp tls', trusted);
    if (encryption === 'none')
      ctx.warn('smtp tls', 'The server offers no encryption (no STARTTLS): the password travels in clear text. Use port 465 (TLS) or 587 (STARTTLS).');
    if (!conn.allowsAuth) {
      ctx.warn(
        'smtp auth',
        'The server offers no login (AUTH) on this port, so the username and password were not checked. Mail is accepted only if the server trusts our address; use the submission port (587/465) to send with a login.',
      );
      done = true;
      conn.quit();
      return { host: server.host, port: server.port, encryption, authenticated: false, tls: verdict };
    }
    await ctx.step('smtp auth', () =>
      stage((resolve, reject) => conn.login({ user: server.username, pass: server.password }, (err) => (err ? reject(err) : resolve()))),
    );
    done = true;
    conn.quit();
    return { host: server.host, port: server.port, encryption, authenticated: true, tls: verdict };
  } finally {
    ctx.signal.removeEventListener('abort', abort);
    if (!done) conn.close();
    // QUIT closes the connection once answered; a server that never answers is cut off shortly after.
    else setTimeout(() => conn.close(), 2000).unref();
  }
}

/** A mailbox that logs in but cannot be opened: the integration could not read mail. */
function mailboxFailure(err: unknown, server: ImapServer, name: string): ConnectionTestFailure {
  if (err instanceof ConnectionTestFailure) return err;
  const e = err as { serverResponseCode?: string; responseText?: string; response?: string; message?: string };
  const code = e?.serverResponseCode ?? '';
  const text = short(e?.responseText ?? e?.response ?? e?.message).replace(/^\S+\s+(NO|BAD)\s+(\[[^\]]*\]\s*)?/i, '');
  if (code === 'NONEXISTENT' || /does not exist|doesn't exist|unknown mailbox/i.test(text))
    return new ConnectionTestFailure(
      'config_invalid',
      `IMAP: the mailbox "${name}" does not exist`,
      'Check imap.mailbox (names are case-sensitive, folders may need their prefix, e.g. INBOX.Support); without it, INBOX is opened.',
      {
        errors: [{ field: 'imap.mailbox', rule: 'exists', message: `mailbox "${name}" does not exist` }],
      },
    );
  return new ConnectionTestFailure(
    'permission_missing',
    `IMAP: logged in as ${server.username}, but the mailbox "${name}" cannot be opened${code || text ? ` (${[code, text].filter(Boolean).join(': ')})` : ''}`,
    "The account works but its mail cannot be read: the mail server could not open this mailbox (its storage, permissions or quota; the server's log says why). Fix it on the server, or name a mailbox that opens in imap.mailbox.",
  );
}

async function testImap(server: ImapServer, ctx: ChannelContext, remaining: () => number): Promise<ServerReport> {
  const target = await ctx.step(
    'imap dns',
    () => resolveTarget(ctx.policy, server.host, ctx.lookup),
    (t) => t.address,
  );
  const secure = isSecure(server, 'IMAP');
  const trust = parseTrust(server.tls);
  const tlsOpts = tlsFor(target, trust);
  const hostname = net.isIP(server.host) ? server.host : target.hostname;
  let verdict: TrustVerdict = 'unverified';
  // Our own sockets under imapflow: each handshake (TLS or STARTTLS) is judged before LOGIN is written.
  const onSecure = (socket: TLSSocket, next: () => void) => {
    try {
      verdict = judge(socket, trust, hostname, 'IMAP');
    } catch (err) {
      socket.destroy(err as Error);
      return;
    }
    next();
  };
  const transport = {
    connect(opts: { host: string; port: number }, onConnect: () => void) {
      if (!secure) return net.connect({ host: opts.host, port: opts.port }, onConnect);
      const socket: TLSSocket = tls.connect({ ...tlsOpts, host: opts.host, port: opts.port }, () => onSecure(socket, onConnect));
      return socket;
    },
    upgrade(plain: net.Socket, _opts: unknown, onUpgraded: () => void) {
      const socket: TLSSocket = tls.connect({ ...tlsOpts, socket: plain }, () => onSecure(socket, onUpgraded));
      return socket;
    },
  };
  const client = new ImapFlow({
    host: target.address,
    port: server.port,
    secure,
    ...(tlsOpts.servername ? { servername: tlsOpts.servername } : {}),
    tls: tlsOpts,
    auth: { user: server.username, pass: server.password },
    logger: false,
    transport: transport as never,
    disableAutoIdle: true,
    disableCompression: true,
    disableAutoEnable: true,
    clientInfo: { name: 'Glavito Connection Test', version: false, vendor: false, 'support-url': false, date: false },
    connectionTimeout: remaining(),
    greetingTimeout: remaining(),
    socketTimeout: remaining(),
  } as never);
  client.on('error', () => {}); // failures reach connect()'s promise; an unheard 'error' event would crash the process
  // When imapflow starts the login, the connection (greeting, TLS or STARTTLS) is done: the stages split there.
  let authStarted!: () => void;
  const loginStarted = new Promise<void>((resolve) => {
    authStarted = resolve;
  });
  const internals = client as unknown as { authenticate: (...args: unknown[]) => Promise<unknown> };
  const authenticate = internals.authenticate.bind(client);
  internals.authenticate = (...args: unknown[]) => {
    authStarted();
    return authenticate(...args);
  };
  const connecting = client.connect().catch((err: unknown) => {
    throw ctx.signal.aborted
      ? new ConnectionTestFailure('timeout', 'IMAP: the test ran out of time', defaultHint('timeout'))
      : imapFailure(err, server, client.greeting !== undefined || client.authenticated === true);
  });
  connecting.catch(() => {}); // settled through the steps below
  const abort = () => client.close();
  ctx.signal.addEventListener('abort', abort, { once: true });
  try {
    await ctx.step(
      'imap connect',
      () => Promise.race([loginStarted, connecting]),
      () => (secure ? 'TLS' : client.secureConnection ? 'STARTTLS' : 'unencrypted'),
    );
    const encryption = secure ? 'tls' : client.secureConnection ? 'starttls' : 'none';
    const trusted = verdictWarning(verdict, 'IMAP');
    if (trusted) ctx.warn('imap tls', trusted);
    await ctx.step('imap auth', () => connecting);
    if (encryption === 'none')
      ctx.warn('imap tls', 'The server offers no encryption (no STARTTLS): the password travels in clear text. Use port 993 (TLS) or 143 with STARTTLS.');
    const name = server.mailbox ?? 'INBOX';
    // LIST, then EXAMINE (read-only SELECT): nothing is marked as read, moved or deleted.
    const mailbox = await ctx.step(
      'imap mailbox',
      async () => {
        try {
          const list = await client.list();
          const opened = await client.mailboxOpen(name, { readOnly: true });
          return { name: opened.path, messages: Number(opened.exists ?? 0), listed: list.length };
        } catch (err) {
          throw mailboxFailure(err, server, name);
        }
      },
      (m) => `${m.name} opened read-only (${m.messages} message${m.messages === 1 ? '' : 's'}, ${m.listed} mailbox${m.listed === 1 ? '' : 'es'} listed)`,
    );
    await client.logout().catch(() => {});
    return { host: server.host, port: server.port, encryption, authenticated: true, tls: verdict, mailbox: { name: mailbox.name, messages: mailbox.messages } };
  } finally {
    ctx.signal.removeEventListener('abort', abort);
    client.close();
  }
}

/**
 * Logs in to SMTP and/or IMAP as the tenant configured them: resolve and check the host, connect to
 * exactly that address (certificates are still checked against the host name), greet, log in; for
 * IMAP also list the mailboxes and open INBOX (or imap.mailbox) read-only, then leave. No mail is sent,
 * none is marked read. With both servers given, both are tested and the first failure is reported.
 */
export const emailChannel: Channel<typeof EmailConfigSchema> = {
  schema: EmailConfigSchema,
  serializePerTarget: true,
  summarize: (c) => {
    const server = (s: MailServer, protocol: Protocol) => ({
      host: s.host,
      port: s.port,
      secure: isSecure(s, protocol),
      username: s.username,
      ...(s.tls ? { tls: { customCa: s.tls.caCertificate !== undefined, allowSelfSigned: s.tls.allowSelfSigned === true } } : {}),
    });
    return {
      ...(c.smtp ? { smtp: server(c.smtp, 'SMTP') } : {}),
      ...(c.imap ? { imap: { ...server(c.imap, 'IMAP'), mailbox: c.imap.mailbox ?? 'INBOX' } } : {}),
    };
  },
  targets: (c) => [
    ...(c.smtp ? [{ field: 'smtp.host', host: c.smtp.host, port: c.smtp.port }] : []),
    ...(c.imap ? [{ field: 'imap.host', host: c.imap.host, port: c.imap.port }] : []),
  ],
  async test(config, ctx) {
    const remaining = budget(ctx);
    const details: Record<string, ServerReport> = {};
    let failure: unknown;
    if (config.smtp) {
      try {
        details.smtp = await testSmtp(config.smtp, ctx, remaining);
      } catch (err) {
        failure = err;
      }
    }
    if (config.imap && !ctx.signal.aborted) {
      try {
        details.imap = await testImap(config.imap, ctx, remaining);
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure) throw failure;
    const parts = [details.smtp && 'SMTP', details.imap && 'IMAP'].filter(Boolean).join(' and ');
    const unchecked = details.smtp?.authenticated === false;
    return {
      message: unchecked
        ? `${parts} answered; the SMTP server offered no login, so the credentials were not checked`
        : `${parts} accepted the login${details.imap?.mailbox ? ` and ${details.imap.mailbox.name} opened read-only` : ''}`,
      details,
    };
  },
};
