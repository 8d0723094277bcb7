import fp from 'fastify-plugin';
import { createPool, isDatabaseReachable, provisionServiceRole, runMigrations, startInboxPruner, urlForRole, type Pool } from './index.js';

declare module 'fastify' {
  interface FastifyInstance {
    pool: Pool;
    /** URL of the service's own role (for LISTEN connections). */
    serviceDatabaseUrl: string;
    isDatabaseReady: () => Promise<boolean>;
  }
}

export interface ServiceDatabaseOptions {
  /** The schema the service owns, e.g. `session`. */
  schema: string;
  migrationsFolder: string;
  /** Idempotent statements run after the migrations, in the same lock (the outbox's `outboxMigration`). */
  afterMigrations?: readonly string[];
  /** Tables of the schema the service role may only INSERT into and SELECT from (no UPDATE, DELETE, TRUNCATE). */
  appendOnly?: string[];
  /**
   * A pool owned by someone else (embedded mode: the one connection to the in-process PGlite, shared by
   * every service). Migrations run on it; no role is provisioned; it is not closed with the app.
   */
  pool?: Pool;
  config: {
    DATABASE_URL: string;
    SERVICE_DATABASE_URL?: string;
    DB_ROLE?: string;
    DB_PASSWORD?: string;
    MIGRATE_ON_START: boolean;
    DB_POOL_MAX: number;
  };
}

/**
 * Migrates as the admin, provisions `<schema>_svc` (a role that may touch only its own schema) and
 * returns the URL the service runs with.
 */
export async function prepareServiceDatabase(opts: ServiceDatabaseOptions): Promise<string> {
  const { config, schema } = opts;
  const role = config.DB_ROLE ?? `${schema}_svc`;
  const serviceUrl = config.SERVICE_DATABASE_URL ?? urlForRole(config.DATABASE_URL, role, config.DB_PASSWORD);
  if (!config.MIGRATE_ON_START) return serviceUrl;
  const admin = createPool({ connectionString: config.DATABASE_URL, max: 2, applicationName: `${schema}-migrate` });
  try {
    await runMigrations(admin, { schema, migrationsFolder: opts.migrationsFolder, afterMigrations: opts.afterMigrations });
    if (!config.SERVICE_DATABASE_URL) await provisionServiceRole(admin, { schema, role, password: config.DB_PASSWORD, appendOnly: opts.appendOnly });
  } finally {
    await admin.end();
  }
  return serviceUrl;
}

export const dbPlugin = fp<ServiceDatabaseOptions>(
  async (app, opts) => {
    if (opts.pool) {
      const shared = opts.pool;
      await runMigrations(shared, { schema: opts.schema, migrationsFolder: opts.migrationsFolder, afterMigrations: opts.afterMigrations });
      app.decorate('pool', shared);
      app.decorate('serviceDatabaseUrl', opts.config.DATABASE_URL);
      app.decorate('isDatabaseReady', () => isDatabaseReachable(shared));
      return;
    }
    const url = await prepareServiceDatabase(opts);
    const pool = createPool({ connectionString: url, max: opts.config.DB_POOL_MAX, applicationName: opts.schema });
    // Fail loudly at boot when Postgres is unreachable.
    await pool.query('SELECT 1');
    app.decorate('pool', pool);
    app.decorate('serviceDatabaseUrl', url);
    app.decorate('isDatabaseReady', () => isDatabaseReachable(pool));
    app.addHook('onClose', async () => {
      await pool.end();
    });
  },
  { name: 'db' },
);

/** How often a service deletes its inbox rows of events the stream no longer holds. */
const INBOX_PRUNE_INTERVAL_MS = 3_600_000;
/** Kept beyond the stream's retention, for clocks and a stream whose retention was just lowered. */
const INBOX_RETENTION_MARGIN_MS = 86_400_000;

/**
 * The inbox of a consumer service (`<schema>.inbox`: one row per event applied, for idempotence) kept to the events the
 * stream can still deliver: without it the table grew by a row per event for ever. `eventRetentionMs` is the stream's
 * EVENT_RETENTION.
 */
export const inboxRetentionPlugin = fp<{ schema: string; eventRetentionMs: number }>(
  async (app, opts) => {
    const pruner = startInboxPruner({
      pool: app.pool,
      schema: opts.schema,
      retentionMs: opts.eventRetentionMs + INBOX_RETENTION_MARGIN_MS,
      intervalMs: INBOX_PRUNE_INTERVAL_MS,
      log: app.log,
    });
    app.addHook('onClose', async () => pruner.stop());
  },
  { name: 'inbox-retention', dependencies: ['db'] },
);
