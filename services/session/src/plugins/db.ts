import { fileURLToPath } from 'node:url';
import { createPool, isDatabaseReachable, provisionServiceRole, runMigrations, urlForRole, type Pool } from '@glavito/db';
import fp from 'fastify-plugin';
import type { SessionConfig } from '../config.js';

declare module 'fastify' {
  interface FastifyInstance {
    pool: Pool;
    /** URL of the service's own role (for LISTEN connections). */
    serviceDatabaseUrl: string;
    isDatabaseReady: () => Promise<boolean>;
  }
}

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** Migrates as the admin, then runs as `session_svc`, a role that can touch only the `session` schema. */
export async function prepareDatabase(config: SessionConfig): Promise<string> {
  const serviceUrl = config.SESSION_DATABASE_URL ?? urlForRole(config.DATABASE_URL, config.SESSION_DB_ROLE, config.SESSION_DB_PASSWORD);
  if (!config.MIGRATE_ON_START) return serviceUrl;
  const admin = createPool({ connectionString: config.DATABASE_URL, max: 2, applicationName: 'session-migrate' });
  try {
    await runMigrations(admin, { schema: 'session', migrationsFolder: MIGRATIONS_FOLDER });
    if (!config.SESSION_DATABASE_URL) await provisionServiceRole(admin, { schema: 'session', role: config.SESSION_DB_ROLE, password: config.SESSION_DB_PASSWORD });
  } finally {
    await admin.end();
  }
  return serviceUrl;
}

export const dbPlugin = fp<{ config: SessionConfig }>(
  async (app, { config }) => {
    const url = await prepareDatabase(config);
    const pool = createPool({ connectionString: url, max: config.DB_POOL_MAX, applicationName: 'session' });
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
