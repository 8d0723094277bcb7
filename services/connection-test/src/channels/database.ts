import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { DatabaseConfigSchema, SSL_MODES, type FieldError, type SslMode } from '@glavito/contracts';
import pg from 'pg';
import type { z } from 'zod';
import { resolveTarget } from '../domain/outbound-policy.js';
import { classifyError, ConnectionTestFailure, defaultHint } from '../domain/result.js';
import { certificateFailure, judge, parseTrust, tlsOptions, verdictWarning, type Trust, type TrustVerdict } from '../domain/tls-trust.js';
import type { Channel, ChannelContext } from './types.js';

type DatabaseConfig = z.infer<typeof DatabaseConfigSchema>;

interface DatabaseTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
  /** libpq's sslmode (default prefer, as psql). */
  sslmode: SslMode;
}

const HOST = /^[A-Za-z0-9.:-]+$/;

function invalid(field: string, message: string): ConnectionTestFailure {
  const errors: FieldError[] = [{ field, rule: 'dsn', message }];
  return new ConnectionTestFailure('config_invalid', message, defaultHint('config_invalid'), { errors });
}

function sslFromParams(params: URLSearchParams): SslMode | undefined {
  const mode = params.get('sslmode');
  if (mode !== null) {
    if ((SSL_MODES as readonly string[]).includes(mode)) return mode as SslMode;
    // node-postgres' spelling of "encrypt, do not verify"; libpq calls it require.
    if (mode === 'no-verify') return 'require';
    throw invalid('connectionString', `sslmode=${mode} is not an SSL mode PostgreSQL knows (${SSL_MODES.join(', ')})`);
  }
  const ssl = params.get('ssl');
  if (ssl === null) return undefined;
  if (ssl === 'no-verify') return 'require';
  return ['true', '1'].includes(ssl) ? 'verify-full' : 'disable';
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
    if (hostParam?.startsWith('/')) throw invalid('connectionString', "Unix socket paths are not supported; give the server's host name");
    const host = (url.hostname || hostParam || '').replace(/^\[|\]$/g, '');
    if (host && !HOST.test(host)) throw invalid('connectionString', 'connectionString must name exactly one host');
    let decoded: { user: string; password: string; database: string };
    try {
      decoded = {
        user: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
        database: decodeURIComponent(url.pathname.replace(/^\//, '')),
      };
    } catch {
      throw invalid('connectionString', 'connectionString has malformed percent-encoding');
    }
    fromUrl = {
      ...(host ? { host } : {}),
      ...(url.port ? { port: Number(url.port) } : {}),
      ...(decoded.user ? { user: decoded.user } : {}),
      ...(url.password ? { password: decoded.password } : {}),
      ...(decoded.database ? { database: decoded.database } : {}),
      ...(sslFromParams(url.searchParams) ? { sslmode: sslFromParams(url.searchParams) } : {}),
    };
  }
  const host = c.host?.replace(/^\[|\]$/g, '') ?? fromUrl.host;
  const user = c.user ?? fromUrl.user;
  if (!host) throw invalid(c.connectionString ? 'connectionString' : 'host', "Give the database server's host");
  if (!user) throw invalid(c.connectionString ? 'connectionString' : 'user', 'Give the user to connect as');
  const password = c.password ?? fromUrl.password;
  return {
    host,
    port: c.port ?? fromUrl.port ?? 5432,
    user,
    // libpq's default: a database named like the user.
    database: c.database ?? fromUrl.database ?? user,
    ...(password !== undefined ? { password } : {}),
    sslmode: c.sslmode ?? (c.ssl === undefined ? (fromUrl.sslmode ?? 'prefer') : c.ssl ? 'verify-full' : 'disable'),
  };
}

function budget(ctx: ChannelContext): () => number {
  const end = Date.now() + ctx.timeoutMs - Math.min(250, Math.max(25, Math.floor(ctx.timeoutMs / 10)));
  return () => Math.max(end - Date.now(), 50);
}

/** Maps a pg error (SQLSTATE, socket, TLS, client-side timeout) onto the taxonomy. */
function pgFailure(err: unknown, t: DatabaseTarget, trust: Trust = parseTrust(undefined)): ConnectionTestFailure {
  if (err instanceof ConnectionTestFailure) return err;
  const e = err as { code?: string; message?: string };
  const code = e?.code ?? '';
  const message = String(e?.message ?? err);
  const server = message.replace(/\s+/g, ' ').slice(0, 200);
  switch (code) {
    case '28P01':
      return new ConnectionTestFailure(
        'auth_invalid',
        `PostgreSQL rejected the password for user "${t.user}" (28P01)`,
        'Check the user name and password. A password set with an old md5 hash can also fail on servers that only accept SCRAM.',
      );
    case '28000':
      if (/no pg_hba\.conf entry/i.test(message) && /no encryption|SSL off/i.test(message))
        return new ConnectionTestFailure(
          'tls',
          'PostgreSQL requires SSL for this connection (28000)',
          'Turn SSL on: sslmode=require (encrypted), or better verify-full (encrypted, certificate checked).',
        );
      if (/no pg_hba\.conf entry/i.test(message))
        return new ConnectionTestFailure(
          'permission_missing',
          `PostgreSQL does not accept this user from our address: ${server}`,
          "Allow connections for this user and database from our address in pg_hba.conf (or your provider's network settings).",
        );
      return new ConnectionTestFailure(
        'auth_invalid',
        `PostgreSQL refused the login: ${server} (28000)`,
        /not permitted to log in/i.test(message)
          ? `The role exists but may not log in: ALTER ROLE "${t.user}" LOGIN.`
          : 'Check the user name: it must be an existing role that may log in.',
      );
    case '3D000':
      return new ConnectionTestFailure(
        'config_invalid',
        `Database "${t.database}" does not exist (3D000)`,
        'Check the database name (it is case-sensitive); without one, a database named like the user is used.',
        {
          errors: [{ field: 'database', rule: 'exists', message: `database "${t.database}" does not exist` }],
        },
      );
    case '42501':
      return new ConnectionTestFailure(
        'permission_missing',
        `User "${t.user}" lacks a permission: ${server} (42501)`,
        `Grant what is missing, e.g. GRANT CONNECT ON DATABASE "${t.database}" TO "${t.user}".`,
      );
    case '57014':
      return new ConnectionTestFailure('timeout', 'A test query ran into the statement timeout (57014)', defaultHint('timeout'));
    case '53300':
    case '57P03':
      return new ConnectionTestFailure(
        'provider_unavailable',
        `PostgreSQL is not accepting connections right now: ${server} (${code})`,
        'The server is busy, starting or shutting down. Try again shortly.',
      );
  }
  if (/does not support SSL/i.test(message))
    return new ConnectionTestFailure(
      'tls',
      `The server does not support SSL connections (sslmode=${t.sslmode})`,
      'Enable SSL on the server, or use sslmode=prefer (SSL when offered) or sslmode=disable (no SSL: the password travels in clear text).',
    );
  if (/error establishing an SSL connection/i.test(message)) return new ConnectionTestFailure('tls', 'The server refused to start SSL', defaultHint('tls'));
  if (/CERT|SELF_SIGNED|UNABLE_TO_|HOSTNAME_MISMATCH|ALTNAME/.test(code)) {
    const f = certificateFailure('PostgreSQL', code, t.host, (err as { cert?: never }).cert, trust);
    return new ConnectionTestFailure(
      'tls',
      f.message,
      `${f.hint} sslmode=require encrypts without checking the certificate (as psql does); verify-ca checks the issuer but not the host name.`,
      f.details,
    );
  }
  if (/ERR_TLS|ERR_SSL|EPROTO/.test(code) || /disconnected before secure TLS/i.test(message))
    return new ConnectionTestFailure(
      'tls',
      `TLS failed (${code || 'handshake'})`,
      "The SSL handshake failed. Check the server's SSL settings, or use sslmode=disable to connect without SSL.",
    );
  if (/^(ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ECONNRESET|EPIPE|EADDRNOTAVAIL)$/.test(code))
    return new ConnectionTestFailure('network_unreachable', `Could not connect to ${t.host}:${t.port} (${code})`, defaultHint('network_unreachable'));
  if (/timeout expired|Query read timeout/i.test(message))
    return new ConnectionTestFailure('timeout', `PostgreSQL at ${t.host}:${t.port} did not answer in time`, defaultHint('timeout'));
  if (/Connection terminated/i.test(message))
    return new ConnectionTestFailure(
      'network_unreachable',
      'The server closed the connection unexpectedly',
      'Check the host and port (PostgreSQL usually listens on 5432) and that the server accepts connections from our address.',
    );
  if (/^SASL:/.test(message))
    return new ConnectionTestFailure(
      'auth_invalid',
      /non-empty string/.test(message)
        ? 'The server asks for a password, and none was given'
        : `The password exchange failed (${message.replace(/^SASL: /, '').slice(0, 120)})`,
      'Check the user name and password.',
    );
  if (/^08/.test(code))
    return new ConnectionTestFailure('provider_unavailable', `PostgreSQL connection error: ${server} (${code})`, defaultHint('provider_unavailable'));
  return classifyError(err);
}

interface ProbeRow {
  server_version: string;
  user: string;
  database: string;
  superuser: boolean;
  in_recovery: boolean;
  default_read_only: string;
  database_create: boolean;
  create_schemas: string[] | null;
  writable_tables: string[] | null;
  writable_count: number;
}

/**
 * What the role may change in this database, read from the catalogs (nothing is tried): superuser,
 * INSERT/UPDATE/DELETE/TRUNCATE on any table, CREATE on a schema or on the database.
 */
const PROBE_SQL = `
WITH writable AS (
  SELECT format('%I.%I', n.nspname, c.relname) AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
    AND (has_table_privilege(c.oid, 'INSERT') OR has_table_privilege(c.oid, 'UPDATE') OR has_table_privilege(c.oid, 'DELETE') OR has_table_privilege(c.oid, 'TRUNCATE'))
)
SELECT current_setting('server_version') AS server_version, current_user AS user, current_database() AS database,
  r.rolsuper AS superuser, pg_is_in_recovery() AS in_recovery,
  current_setting('default_transaction_read_only') AS default_read_only,
  has_database_privilege(current_database(), 'CREATE') AS database_create,
  (SELECT array_agg(n.nspname::text ORDER BY n.nspname) FROM pg_namespace n
    WHERE has_schema_privilege(n.oid, 'CREATE') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%') AS create_schemas,
  (SELECT array_agg(name) FROM (SELECT name FROM writable ORDER BY name LIMIT 5) w) AS writable_tables,
  (SELECT count(*)::int FROM writable) AS writable_count
FROM pg_roles r WHERE r.rolname = current_user`;

/** Why the role is not read-only (empty: it is). A standby (in recovery) cannot write whatever the grants say. */
function writeReasons(r: ProbeRow): string[] {
  if (r.in_recovery) return [];
  const reasons: string[] = [];
  if (r.superuser) reasons.push('it is a superuser');
  if (r.writable_count > 0)
    reasons.push(
      `it may change ${r.writable_count} table${r.writable_count === 1 ? '' : 's'} (${(r.writable_tables ?? []).join(', ')}${r.writable_count > 5 ? ', …' : ''})`,
    );
  if (r.create_schemas?.length) reasons.push(`it may CREATE in schema ${r.create_schemas.join(', ')}`);
  if (r.database_create) reasons.push(`it may CREATE schemas in database ${r.database}`);
  return reasons;
}

const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** The SSL options for one attempt; null = no SSL. */
function sslFor(mode: SslMode, trust: Trust, host: string, ssl: boolean): pg.ClientConfig['ssl'] {
  if (!ssl) return false;
  const servername = net.isIP(host) ? {} : { servername: host };
  if (!verifies(mode, trust)) return { ...servername, rejectUnauthorized: false };
  return {
    ...servername,
    ...tlsOptions(trust),
    // verify-ca: the issuer is checked, the host name is not (libpq's meaning).
    ...(mode === 'verify-full' ? {} : { checkServerIdentity: () => undefined }),
  };
}

/** Whether the certificate is checked: verify-*, and (as libpq does when it has a root certificate) any SSL mode when a CA is given. */
function verifies(mode: SslMode, trust: Trust): boolean {
  return mode === 'verify-full' || mode === 'verify-ca' || (mode !== 'disable' && trust.caPems.length > 0);
}

/**
 * Connects to the tenant's PostgreSQL at the checked address with libpq's sslmode meanings, and runs
 * read-only probes inside `BEGIN READ ONLY … ROLLBACK`: nothing is ever written, and no session setting
 * survives the test. A role that could write is a warning: the integration should use a read-only role.
 */
export const databaseChannel: Channel<typeof DatabaseConfigSchema> = {
  schema: DatabaseConfigSchema,
  serializePerTarget: true,
  summarize: (c) => {
    try {
      const t = parseDatabaseConfig(c);
      return {
        host: t.host,
        port: t.port,
        database: t.database,
        user: t.user,
        sslmode: t.sslmode,
        ...(c.tls ? { tls: { customCa: c.tls.caCertificate !== undefined, allowSelfSigned: c.tls.allowSelfSigned === true } } : {}),
      };
    } catch {
      return {
        ...(c.host ? { host: c.host } : {}),
        ...(c.port ? { port: c.port } : {}),
        ...(c.database ? { database: c.database } : {}),
        ...(c.user ? { user: c.user } : {}),
      };
    }
  },
  validate: (c) => {
    try {
      parseDatabaseConfig(c);
      return [];
    } catch (err) {
      return err instanceof ConnectionTestFailure ? ((err.details.errors as FieldError[] | undefined) ?? []) : [];
    }
  },
  targets: (c) => {
    try {
      const t = parseDatabaseConfig(c);
      return [{ field: c.host ? 'host' : 'connectionString', host: t.host, port: t.port }];
    } catch {
      return [];
    }
  },
  async test(config, ctx) {
    const remaining = budget(ctx);
    const t = parseDatabaseConfig(config);
    const trust = parseTrust(config.tls);
    const target = await ctx.step(
      'dns',
      () => resolveTarget(ctx.policy, t.host, ctx.lookup),
      (r) => r.address,
    );

    let client: pg.Client | null = null;
    const abort = () => client?.connection.stream.destroy();
    ctx.signal.addEventListener('abort', abort, { once: true });
    let verdict: TrustVerdict = 'unverified';
    let encrypted = false;
    let fellBack: string | undefined;

    /** One connection attempt; the certificate is judged before the password is handed over. */
    const attempt = async (ssl: boolean) => {
      let refused: ConnectionTestFailure | undefined;
      const judged = () => {
        if (!ssl || !verifies(t.sslmode, trust)) return;
        try {
          verdict = judge(c.connection.stream as TLSSocket, trust, t.sslmode === 'verify-full' ? t.host : null, 'PostgreSQL');
        } catch (err) {
          refused = err as ConnectionTestFailure;
          c.connection.stream.destroy();
          throw refused;
        }
      };
      const c = new pg.Client({
        host: target.address,
        port: t.port,
        user: t.user,
        database: t.database,
        // A function, so pg never falls back to PGPASSWORD or ~/.pgpass (our own credentials) when none is given.
        password: () => {
          judged();
          return t.password ?? '';
        },
        ssl: sslFor(t.sslmode, trust, t.host, ssl),
        application_name: 'glavito-connection-test',
        connectionTimeoutMillis: remaining(),
        // Client-side only: statement_timeout goes in with SET LOCAL, because poolers (PgBouncer)
        // refuse unknown startup parameters.
        query_timeout: remaining(),
        keepAlive: false,
      });
      c.on('error', () => {}); // a server that drops us later must not crash the process
      client = c;
      try {
        await c.connect();
      } catch (err) {
        await c.end().catch(() => {});
        throw (
          refused ??
          (ctx.signal.aborted
            ? new ConnectionTestFailure('timeout', `PostgreSQL at ${t.host}:${t.port} did not answer in time`, defaultHint('timeout'))
            : pgFailure(err, t, trust))
        );
      }
      // Without a password exchange (trust), the certificate is judged now.
      if (ssl && verifies(t.sslmode, trust) && verdict === 'unverified') {
        try {
          judged();
        } catch (err) {
          await c.end().catch(() => {});
          throw err;
        }
      }
      encrypted = ssl;
    };

    try {
      await ctx.step(
        'connect',
        async () => {
          const sslFirst = !['disable', 'allow'].includes(t.sslmode);
          try {
            await attempt(sslFirst);
          } catch (err) {
            // libpq's fallbacks: prefer tries SSL, then plain when SSL fails (even a refused certificate);
            // allow tries plain, then SSL when the server insists on it.
            const f = err as ConnectionTestFailure;
            if (t.sslmode === 'prefer' && f.code === 'tls') {
              fellBack = f.message;
              await attempt(false);
            } else if (t.sslmode === 'allow' && f.code === 'tls' && /requires SSL/.test(f.message)) await attempt(true);
            else throw err;
          }
        },
        () => `as ${t.user} to ${t.database}${encrypted ? ' over SSL' : ''}`,
      );
      const trusted = verdictWarning(verdict, 'PostgreSQL');
      if (trusted) ctx.warn('tls', trusted);
      else if (!encrypted)
        ctx.warn(
          'tls',
          `The connection is not encrypted (sslmode=${t.sslmode}${fellBack ? `; SSL failed: ${fellBack}` : t.sslmode === 'allow' ? '' : ''}): the password and data travel in clear text. Use sslmode=verify-full to require a checked SSL connection.`,
        );
      else if (!verifies(t.sslmode, trust))
        ctx.warn('tls', `SSL is on, but the server certificate was not checked (sslmode=${t.sslmode}); use verify-full to check it.`);
      const c = client as unknown as pg.Client;
      const row = await ctx.step(
        'query',
        async () => {
          try {
            await c.query('BEGIN READ ONLY');
            await c.query(`SET LOCAL statement_timeout = ${Math.floor(remaining())}`);
            await c.query('SELECT 1');
            const r = await c.query<ProbeRow>(PROBE_SQL);
            await c.query('ROLLBACK');
            return r.rows[0]!;
          } catch (err) {
            if (!ctx.signal.aborted) await c.query('ROLLBACK').catch(() => {});
            throw pgFailure(err, t);
          }
        },
        (r) => `PostgreSQL ${r.server_version}`,
      );
      const reasons = writeReasons(row);
      const readOnly = reasons.length === 0;
      const defaultReadOnly = row.default_read_only === 'on';
      if (!readOnly)
        ctx.warn(
          'permissions',
          `The role ${row.user} can write: ${reasons.join('; ')}${defaultReadOnly ? ' (its transactions are read-only by default, but it may switch that off)' : ''}.`,
        );
      else
        await ctx.step(
          'permissions',
          async () => row,
          () => (row.in_recovery ? 'read-only: the server is a standby' : `read-only: ${row.user} may not change any table`),
        );
      return {
        message: `Connected to PostgreSQL ${row.server_version} as ${row.user}${readOnly ? ' (a read-only role)' : '; the role can write'}`,
        ...(readOnly
          ? {}
          : {
              hint: `Use a role that can only read, e.g. CREATE ROLE glavito_reader LOGIN PASSWORD '…'; GRANT CONNECT ON DATABASE ${quoteIdent(row.database)} TO glavito_reader; GRANT USAGE ON SCHEMA public TO glavito_reader; GRANT SELECT ON ALL TABLES IN SCHEMA public TO glavito_reader;`,
            }),
        details: {
          serverVersion: row.server_version,
          database: row.database,
          user: row.user,
          host: t.host,
          port: t.port,
          sslmode: t.sslmode,
          ssl: encrypted ? (verifies(t.sslmode, trust) ? (t.sslmode === 'verify-full' ? 'verified' : 'verified-ca') : 'unverified') : 'off',
          tls: verdict,
          readOnly,
          superuser: row.superuser,
          defaultTransactionReadOnly: defaultReadOnly,
          ...(readOnly ? {} : { writeAccess: reasons }),
        },
      };
    } finally {
      ctx.signal.removeEventListener('abort', abort);
      await (client as pg.Client | null)?.end().catch(() => {});
    }
  },
};
