import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
export { pg };
export { pruneInbox, startInboxPruner, uuidV7Floor } from './inbox.js';

export interface PoolOptions {
  connectionString: string;
  max?: number;
  applicationName?: string;
  /** Fail fast instead of queueing forever when Postgres is down. */
  connectionTimeoutMillis?: number;
  statementTimeoutMillis?: number;
}

const TIMESTAMPTZ_OID = 1184;
const TIMESTAMP_OID = 1114;
/** timestamptz columns come back as ISO-8601 strings (what the API and events carry). */
const isoTypes = {
  getTypeParser(oid: number, format?: string) {
    if (oid === TIMESTAMPTZ_OID || oid === TIMESTAMP_OID) return (v: string) => new Date(oid === TIMESTAMP_OID ? `${v}Z` : v).toISOString();
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as unknown as pg.CustomTypesConfig;

export function createPool(opts: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    types: isoTypes,
    connectionString: opts.connectionString,
    max: opts.max ?? 10,
    application_name: opts.applicationName,
    connectionTimeoutMillis: opts.connectionTimeoutMillis ?? 3000,
    statement_timeout: opts.statementTimeoutMillis ?? 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection (Postgres restart) must not crash the process.
  pool.on('error', () => {});
  // Neither may a checked-out one: pg-pool stops listening for a client's errors while it is checked
  // out, so a connection cut between two queries (a transaction waiting on NATS, a crash of Postgres
  // sending 57P01 to every session) would be an unhandled 'error' event. The error is not lost: the
  // client is no longer queryable, its next query fails (→ 503) and the pool discards it on release.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
}

const statementNames = new Map<string, string>();

/**
 * A query that pg prepares once per connection: Postgres parses it once and, after a few runs, reuses one
 * plan instead of planning it on every call (planning was a third of the hot statements' time). Only for
 * SQL whose text comes from the code (a fixed string or one of a few variants), never with values inlined.
 */
export function prepared(text: string, values: unknown[]): pg.QueryConfig {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `glavito_${statementNames.size}`;
    statementNames.set(text, name);
  }
  return { name, text, values };
}

/**
 * Rows this process wrote last, least recently used evicted (`max` 0 keeps nothing). Only ever a starting
 * point for a version-checked write: when anything else wrote since, the check fails, nothing is written
 * and the row is read afresh.
 */
export function recentWrites<V>(max: number) {
  const entries = new Map<string, V>();
  return {
    get(key: string): V | undefined {
      const value = entries.get(key);
      if (value !== undefined) {
        entries.delete(key);
        entries.set(key, value);
      }
      return value;
    },
    set(key: string, value: V): void {
      if (max <= 0) return;
      entries.delete(key);
      entries.set(key, value);
      if (entries.size > max) entries.delete(entries.keys().next().value!);
    },
    delete(key: string): void {
      entries.delete(key);
    },
  };
}

/**
 * Where a transaction runs: `{ pool }` opens one of its own; `{ client }` is a caller's connection already inside
 * BEGIN, which `inTransaction` joins (no BEGIN/COMMIT/ROLLBACK of its own: the caller's transaction decides).
 */
export type TransactionScope = { pool: pg.Pool } | { client: pg.PoolClient };

/**
 * Runs `fn` in one transaction and returns its result. On `{ pool }`: connect, BEGIN, `fn`, COMMIT; on a throw,
 * ROLLBACK and rethrow the original error; the connection always goes back to the pool. Work that must follow the
 * commit (publishing outbox rows) goes after the call, never inside `fn`. On `{ client }`: `fn` runs on that
 * client, in the caller's transaction.
 */
export async function inTransaction<T>(scope: TransactionScope, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  if ('client' in scope) return fn(scope.client);
  const client = await scope.pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    // A failed ROLLBACK means a dead connection, which pg-pool discards on release; the caller needs fn's error.
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

export function createDb<TSchema extends Record<string, unknown>>(pool: pg.Pool, schema?: TSchema): NodePgDatabase<TSchema> {
  return (schema ? drizzle(pool, { schema }) : drizzle(pool)) as NodePgDatabase<TSchema>;
}
export type { NodePgDatabase };

/**
 * Applies a service's drizzle migrations, journaled in its own schema (`<schema>.__migrations`), then
 * `afterMigrations`: idempotent statements a shared package owns for every service (the outbox).
 */
export async function runMigrations(pool: pg.Pool, opts: { schema: string; migrationsFolder: string; afterMigrations?: readonly string[] }): Promise<void> {
  const client = await pool.connect();
  try {
    // One migrator per schema at a time, even when several replicas start together.
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`migrate:${opts.schema}`]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(opts.schema)}`);
      await migrate(drizzle(client), { migrationsFolder: opts.migrationsFolder, migrationsSchema: opts.schema, migrationsTable: '__migrations' });
      for (const statement of opts.afterMigrations ?? []) await client.query(statement);
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`migrate:${opts.schema}`]);
    }
  } finally {
    client.release();
  }
}

export function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`unsafe SQL identifier: ${name}`);
  return `"${name}"`;
}

/**
 * Creates (or updates) the login role a service runs as. It may use only its own schema:
 * no grants elsewhere, so cross-schema SQL fails with "permission denied".
 */
export async function provisionServiceRole(pool: pg.Pool, opts: { schema: string; role: string; password?: string; appendOnly?: string[] }): Promise<void> {
  const schema = quoteIdent(opts.schema);
  const role = quoteIdent(opts.role);
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', ['provision-roles']);
    try {
      const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [opts.role]);
      if (exists.rowCount === 0) await client.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`);
      if (opts.password !== undefined) await client.query(`ALTER ROLE ${role} PASSWORD ${pg.escapeLiteral(opts.password)}`);
      const db = (await client.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db;
      await client.query(`GRANT CONNECT ON DATABASE ${pg.escapeIdentifier(db)} TO ${role}`);
      await client.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
      await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${role}`);
      await client.query(`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA ${schema} TO ${role}`);
      await client.query(`REVOKE ALL ON SCHEMA public FROM ${role}`);
      // Append-only tables (the audit records): the service may add and read rows, never change or remove one.
      for (const table of opts.appendOnly ?? []) await client.query(`REVOKE UPDATE, DELETE, TRUNCATE ON ${schema}.${quoteIdent(table)} FROM ${role}`);
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', ['provision-roles']);
    }
  } finally {
    client.release();
  }
}

/** The admin URL with another user (and password): the URL a service connects with as its own role. */
export function urlForRole(adminUrl: string, role: string, password?: string): string {
  const url = new URL(adminUrl);
  url.username = role;
  url.password = password ?? '';
  return url.toString();
}

/**
 * Errors that mean "the database (or the way to it) is down" (Postgres restarting or failing over, the pool
 * unable to connect) rather than anything wrong with the request: worth retrying, never a client's fault.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const { code = '', message = '' } = (error ?? {}) as { code?: string; message?: string };
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006', '53300'].includes(code))
    return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down)/i.test(
    message,
  );
}

export async function isDatabaseReachable(pool: pg.Pool): Promise<boolean> {
  try {
    await pool.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}
