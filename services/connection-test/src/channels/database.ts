import net from 'node:net';
import { DatabaseConfigSchema, type FieldError } from '@glavito/contracts';
import pg from 'pg';
import type { z } from 'zod';
import { resolveTarget } from '../domain/outbound-policy.js';
import { classifyError, ConnectionTestFailure, defaultHint } from '../domain/result.js';
import type { Channel, ChannelContext } from './types.js';

type DatabaseConfig = z.infer<typeof DatabaseConfigSchema>;

/** verify: TLS with the certificate checked (pg's default for sslmode=require/verify-*); no-verify: TLS, certificate not checked. */
type SslMode = 'off' | 'verify' | 'no-verify';

interface DatabaseTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
  ssl: SslMode;
}

const HOST = /^[A-Za-z0-9.:-]+$/;

function invalid(field: string, message: string): ConnectionTestFailure {
  const errors: FieldError[] = [{ field, rule: 'dsn', message }];
  return new ConnectionTestFailure('config_invalid', message, defaultHint('config_invalid'), { errors });
}

function sslFromParams(params: URLSearchParams): SslMode | undefined {
  const mode = params.get('sslmode');
  if (mode !== null) {
    if (mode === 'disable' || mode === 'allow') return 'off';
    if (mode === 'no-verify') return 'no-verify';
    if (['prefer', 'require', 'verify-ca', 'verify-full'].includes(mode)) return 'verify';
    throw invalid('connectionString', `sslmode=${mode} is not a known SSL mode`);
  }
  const ssl = params.get('ssl');
  if (ssl === null) return undefined;
  if (ssl === 'no-verify') return 'no-verify';
  return ['true', '1'].includes(ssl) ? 'verify' : 'off';
}

/**
 * The connection string is parsed here, not by pg: pg would let it override the address we checked,
 * follow `host=/socket/path` to a local Unix socket and read `sslrootcert=` files from our disk.
 * Fields given next to a connection string win over its parts. Never echoes the string (it holds the password).
 */
export function parseDatabaseConfig(c: DatabaseConfig): DatabaseTarget {
  let fromUrl: Partial<DatabaseTarget> = {};
  if (c.connectionString !== undefined) {
    let url: URL;
    try {
      url = new URL(c.connectionString);
    } catch {
      throw invalid('connectionString', 'connectionString is not a valid postgres:// URL');
    }
    const hostParam = url.searchParams.get('host');
    if (hostParam?.startsWith('/')) throw invalid('connectionString', 'Unix socket paths are not supported; give the server\'s host name');
    const host = (url.hostname || hostParam || '').replace(/^\[|\]$/g, '');
    if (host && !HOST.test(host)) throw invalid('connectionString', 'connectionString must name exactly one host');
    let decoded: { user: string; password: string; database: string };
    try {
      decoded = { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password), database: decodeURIComponent(url.pathname.replace(/^\//, '')) };
    } catch {
      throw invalid('connectionString', 'connectionString has malformed percent-encoding');
    }
    fromUrl = {
      ...(host ? { host } : {}),
      ...(url.port ? { port: Number(url.port) } : {}),
      ...(decoded.user ? { user: decoded.user } : {}),
      ...(url.password ? { password: decoded.password } : {}),
      ...(decoded.database ? { database: decoded.database } : {}),
      ...(sslFromParams(url.searchParams) ? { ssl: sslFromParams(url.searchParams) } : {}),
    };
  }
  const host = c.host?.replace(/^\[|\]$/g, '') ?? fromUrl.host;
  const user = c.user ?? fromUrl.user;
  if (!host) throw invalid(c.connectionString ? 'connectionString' : 'host', 'Give the database server\'s host');
  if (!user) throw invalid(c.connectionString ? 'connectionString' : 'user', 'Give the user to connect as');
  const password = c.password ?? fromUrl.password;
  return {
    host,
    port: c.port ?? fromUrl.port ?? 5432,
    user,
    // libpq's default: a database named like the user.
    database: c.database ?? fromUrl.database ?? user,
    ...(password !== undefined ? { password } : {}),
    ssl: c.ssl === undefined ? (fromUrl.ssl ?? 'off') : c.ssl ? 'verify' : 'off',
  };
}

function budget(ctx: ChannelContext): () => number {
  const end = Date.now() + ctx.timeoutMs - Math.min(250, Math.max(25, Math.floor(ctx.timeoutMs / 10)));
  return () => Math.max(end - Date.now(), 50);
}

function tlsReason(code: string, host: string): string {
  if (/SELF_SIGNED/.test(code)) return 'the certificate is self-signed';
  if (code === 'CERT_HAS_EXPIRED') return 'the certificate has expired';
  if (/ALTNAME|HOSTNAME_MISMATCH/.test(code)) return `the certificate is not valid for ${host}`;
  if (/UNABLE_TO_(VERIFY|GET)/.test(code)) return 'the certificate chain is incomplete or from an unknown authority';
  return code || 'handshake failed';
}

/** Maps a pg error (SQLSTATE, socket, TLS, client-side timeout) onto the taxonomy. */
function pgFailure(err: unknown, t: DatabaseTarget): ConnectionTestFailure {
  if (err instanceof ConnectionTestFailure) return err;
  const e = err as { code?: string; message?: string };
  const code = e?.code ?? '';
  const message = String(e?.message ?? err);
  const server = message.replace(/\s+/g, ' ').slice(0, 200);
  switch (code) {
    case '28P01':
      return new ConnectionTestFailure('auth_invalid', `PostgreSQL rejected the password for user "${t.user}" (28P01)`, 'Check the user name and password. A password set with an old md5 hash can also fail on servers that only accept SCRAM.');
    case '28000':
      if (/no pg_hba\.conf entry/i.test(message) && /no encryption|SSL off/i.test(message) && t.ssl === 'off')
        return new ConnectionTestFailure('tls', 'PostgreSQL requires SSL for this connection (28000)', 'Turn SSL on (ssl: true, or sslmode=require in the connection string).');
      if (/no pg_hba\.conf entry/i.test(message))
        return new ConnectionTestFailure('permission_missing', `PostgreSQL does not accept this user from our address: ${server}`, 'Allow connections for this user and database from our address in pg_hba.conf (or your provider\'s network settings).');
      return new ConnectionTestFailure('auth_invalid', `PostgreSQL refused the login: ${server} (28000)`, /not permitted to log in/i.test(message) ? `The role exists but may not log in: ALTER ROLE "${t.user}" LOGIN.` : 'Check the user name: it must be an existing role that may log in.');
    case '3D000':
      return new ConnectionTestFailure('config_invalid', `Database "${t.database}" does not exist (3D000)`, 'Check the database name (it is case-sensitive); without one, a database named like the user is used.', {
        errors: [{ field: 'database', rule: 'exists', message: `database "${t.database}" does not exist` }],
      });
    case '42501':
      return new ConnectionTestFailure('permission_missing', `User "${t.user}" lacks a permission: ${server} (42501)`, `Grant what is missing, e.g. GRANT CONNECT ON DATABASE "${t.database}" TO "${t.user}".`);
    case '57014':
      return new ConnectionTestFailure('timeout', 'A test query ran into the statement timeout (57014)', defaultHint('timeout'));
    case '53300':
    case '57P03':
      return new ConnectionTestFailure('provider_unavailable', `PostgreSQL is not accepting connections right now: ${server} (${code})`, 'The server is busy, starting or shutting down. Try again shortly.');
  }
  if (/does not support SSL/i.test(message)) return new ConnectionTestFailure('tls', 'The server does not support SSL connections', 'Turn SSL off (ssl: false or sslmode=disable), or enable SSL on the server.');
  if (/error establishing an SSL connection/i.test(message)) return new ConnectionTestFailure('tls', 'The server refused to start SSL', defaultHint('tls'));
  if (/CERT|SELF_SIGNED|UNABLE_TO_|HOSTNAME_MISMATCH|ERR_TLS|ERR_SSL|EPROTO/.test(code) || /disconnected before secure TLS/i.test(message))
    return new ConnectionTestFailure('tls', `TLS failed (${tlsReason(code, t.host)})`, `The server's certificate was refused. Use a certificate from a public authority valid for ${t.host}, or sslmode=no-verify to skip the check (not recommended).`);
  if (/^(ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ECONNRESET|EPIPE|EADDRNOTAVAIL)$/.test(code))
    return new ConnectionTestFailure('network_unreachable', `Could not connect to ${t.host}:${t.port} (${code})`, defaultHint('network_unreachable'));
  if (/timeout expired|Query read timeout/i.test(message)) return new ConnectionTestFailure('timeout', `PostgreSQL at ${t.host}:${t.port} did not answer in time`, defaultHint('timeout'));
  if (/Connection terminated/i.test(message))
    return new ConnectionTestFailure('network_unreachable', 'The server closed the connection unexpectedly', 'Check the host and port (PostgreSQL usually listens on 5432) and that the server accepts connections from our address.');
  if (/^SASL:/.test(message))
    return new ConnectionTestFailure('auth_invalid', /non-empty string/.test(message) ? 'The server asks for a password, and none was given' : `The password exchange failed (${message.replace(/^SASL: /, '').slice(0, 120)})`, 'Check the user name and password.');
  if (/^08/.test(code)) return new ConnectionTestFailure('provider_unavailable', `PostgreSQL connection error: ${server} (${code})`, defaultHint('provider_unavailable'));
  return classifyError(err);
}

interface ProbeRow {
  server_version: string;
  user: string;
  database: string;
  read_only: string;
}

/**
 * Connects to the tenant's PostgreSQL at the checked address and runs read-only probes inside
 * `BEGIN READ ONLY … ROLLBACK`: nothing is ever written, and no session setting survives the test.
 */
export const databaseChannel: Channel<typeof DatabaseConfigSchema> = {
  schema: DatabaseConfigSchema,
  summarize: (c) => {
    try {
      const t = parseDatabaseConfig(c);
      return { host: t.host, port: t.port, database: t.database, user: t.user, ssl: t.ssl };
    } catch {
      return { ...(c.host ? { host: c.host } : {}), ...(c.port ? { port: c.port } : {}), ...(c.database ? { database: c.database } : {}), ...(c.user ? { user: c.user } : {}) };
    }
  },
  async test(config, ctx) {
    const remaining = budget(ctx);
    const t = parseDatabaseConfig(config);
    const target = await ctx.step('dns', () => resolveTarget(ctx.policy, t.host, ctx.lookup), (r) => r.address);
    const servername = net.isIP(t.host) ? {} : { servername: t.host };
    const client = new pg.Client({
      host: target.address,
      port: t.port,
      user: t.user,
      database: t.database,
      // A function, so pg never falls back to PGPASSWORD or ~/.pgpass (our own credentials) when none is given.
      password: () => t.password ?? '',
      ssl: t.ssl === 'off' ? false : { ...servername, rejectUnauthorized: t.ssl === 'verify' },
      application_name: 'glavito-connection-test',
      connectionTimeoutMillis: remaining(),
      // Client-side only: statement_timeout goes in with SET LOCAL, because poolers (PgBouncer)
      // refuse unknown startup parameters.
      query_timeout: remaining(),
      keepAlive: false,
    });
    client.on('error', () => {}); // a server that drops us later must not crash the process
    // Destroying the socket settles whatever is in flight (end() would leave a pending connect hanging).
    const abort = () => client.connection.stream.destroy();
    ctx.signal.addEventListener('abort', abort, { once: true });
    try {
      await ctx.step(
        'connect',
        () =>
          client.connect().catch((err: unknown) => {
            throw ctx.signal.aborted ? new ConnectionTestFailure('timeout', `PostgreSQL at ${t.host}:${t.port} did not answer in time`, defaultHint('timeout')) : pgFailure(err, t);
          }),
        () => `as ${t.user} to ${t.database}${t.ssl === 'off' ? '' : ' over SSL'}`,
      );
      if (t.ssl === 'no-verify') ctx.warn('tls', 'SSL is on but the server certificate is not checked (sslmode=no-verify).');
      else if (t.ssl === 'off') ctx.warn('tls', 'The connection is not encrypted (SSL off): the password and data travel in clear text.');
      const row = await ctx.step(
        'query',
        async () => {
          try {
            await client.query('BEGIN READ ONLY');
            await client.query(`SET LOCAL statement_timeout = ${Math.floor(remaining())}`);
            await client.query('SELECT 1');
            const r = await client.query<ProbeRow>(
              "SELECT current_setting('server_version') AS server_version, current_user AS user, current_database() AS database, current_setting('transaction_read_only') AS read_only",
            );
            await client.query('ROLLBACK');
            return r.rows[0]!;
          } catch (err) {
            if (!ctx.signal.aborted) await client.query('ROLLBACK').catch(() => {});
            throw pgFailure(err, t);
          }
        },
        (r) => `PostgreSQL ${r.server_version}`,
      );
      return {
        message: `Connected to PostgreSQL ${row.server_version} as ${row.user} (read-only probe)`,
        details: { serverVersion: row.server_version, database: row.database, user: row.user, host: t.host, port: t.port, ssl: t.ssl, readOnly: row.read_only === 'on' },
      };
    } finally {
      ctx.signal.removeEventListener('abort', abort);
      await client.end().catch(() => {});
    }
  },
};
