import { fileURLToPath } from 'node:url';
import type { EventBus } from '@glavito/bus';
import { busPlugin, type BusPluginOptions } from '@glavito/bus/plugin';
import type { Pool } from '@glavito/db';
import { dbPlugin, type ServiceDatabaseOptions } from '@glavito/db/plugin';
import fp from 'fastify-plugin';
import { outboxMigration } from './migration.js';
import { startOutboxRelay, type OutboxRelay } from './relay.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The relay of the service's outbox (and its writers' direct publish). */
    outboxRelay: OutboxRelay;
  }
}

export interface OutboxPluginOptions {
  /** Schema of the service's outbox table (created by `outboxMigration`). */
  schema: string;
}

/** Runs the outbox relay from the app's start to its close. Needs the db and bus plugins registered first. */
export const outboxPlugin = fp<OutboxPluginOptions>(
  async (app, opts) => {
    // In embedded mode the database is in-process: the relay is woken directly, no LISTEN connection.
    const relay = startOutboxRelay({
      pool: app.pool,
      listenUrl: app.bus.kind === 'nats' ? app.serviceDatabaseUrl : undefined,
      schema: opts.schema,
      bus: app.bus,
      logger: app.log,
    });
    app.decorate('outboxRelay', relay);
    if (app.hasDecorator('metrics')) {
      (app as unknown as { metrics: { gauge(n: string, h: string, r: () => Promise<number>): void } }).metrics.gauge(
        'outbox_pending_events',
        'Events written to the outbox and not yet published',
        () => relay.pending(),
      );
    }
    // Registered after the bus: its onClose hook runs before the bus closes, so the relay's last publishes go out.
    app.addHook('onClose', async () => {
      await relay.stop();
    });
  },
  { name: 'outbox', dependencies: ['db', 'bus'] },
);

/** The schema a producing service owns: its drizzle migrations, then the outbox's (for the db plugin and the migrate job). */
export function producerDatabase(schema: string, migrations: URL, opts: { appendOnly?: string[] } = {}) {
  return { schema, migrationsFolder: fileURLToPath(migrations), afterMigrations: outboxMigration(schema), appendOnly: opts.appendOnly };
}

export interface ProducerPluginOptions {
  /** The service's name (NATS connection name). */
  name: string;
  database: ReturnType<typeof producerDatabase>;
  config: ServiceDatabaseOptions['config'] & BusPluginOptions['config'];
  /** Embedded mode: the shared in-process database pool and bus. */
  infra?: { pool?: Pool; bus?: EventBus };
}

/** What every producing service stands on: its database (migrated, own role), the bus and the outbox relay. */
export const producerPlugin = fp<ProducerPluginOptions>(
  async (app, opts) => {
    await app.register(dbPlugin, { ...opts.database, config: opts.config, pool: opts.infra?.pool });
    await app.register(busPlugin, { name: opts.name, config: opts.config, bus: opts.infra?.bus });
    await app.register(outboxPlugin, { schema: opts.database.schema });
  },
  { name: 'producer' },
);
