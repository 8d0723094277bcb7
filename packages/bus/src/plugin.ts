import type {} from '@glavito/db/plugin';
import fp from 'fastify-plugin';
import { connectBus, ensureStream, type Bus } from './nats.js';
import { startOutboxRelay, type OutboxRelay } from './outbox.js';

declare module 'fastify' {
  interface FastifyInstance {
    bus: Bus;
    /** Present when the service owns an outbox. */
    outboxRelay: OutboxRelay;
    isBusReady: () => boolean;
  }
}

export interface BusPluginOptions {
  name: string;
  config: { NATS_URL: string; EVENT_STREAM: string; EVENT_SUBJECT_PREFIX: string; EVENT_RETENTION: number; DEAD_LETTER_PREFIX: string };
  /** Schema of the service's outbox table; its relay starts with the app and stops with it. */
  outboxSchema?: string;
}

/** Connects to NATS (failing loudly), makes sure the event and dead-letter streams exist, runs the outbox relay. */
export const busPlugin = fp<BusPluginOptions>(
  async (app, opts) => {
    const { config } = opts;
    const bus = await connectBus({ servers: config.NATS_URL, name: opts.name });
    await ensureStream(bus.jsm, { name: config.EVENT_STREAM, subjects: [`${config.EVENT_SUBJECT_PREFIX}.>`], maxAgeMs: config.EVENT_RETENTION });
    await ensureStream(bus.jsm, { name: `${config.EVENT_STREAM}_DLQ`, subjects: [`${config.DEAD_LETTER_PREFIX}.>`], maxAgeMs: 30 * 86_400_000 });
    app.decorate('bus', bus);
    app.decorate('isBusReady', () => !bus.nc.isClosed() && bus.nc.info !== undefined);
    let relay: OutboxRelay | undefined;
    if (opts.outboxSchema) {
      if (!app.hasDecorator('pool')) throw new Error('busPlugin: an outbox needs the db plugin registered first');
      relay = startOutboxRelay({ pool: app.pool, listenUrl: app.serviceDatabaseUrl, schema: opts.outboxSchema, js: bus.js, logger: app.log });
      app.decorate('outboxRelay', relay);
      if (app.hasDecorator('metrics')) {
        (app as unknown as { metrics: { gauge(n: string, h: string, r: () => Promise<number>): void } }).metrics.gauge(
          'outbox_pending_events',
          'Events written to the outbox and not yet published to JetStream',
          () => relay!.pending(),
        );
      }
      // Publish right after our own commits instead of waiting for NOTIFY or the poll.
      app.addHook('onResponse', async () => relay!.wake());
    }
    app.addHook('onClose', async () => {
      await relay?.stop();
      await bus.nc.drain().catch(() => bus.nc.close());
    });
  },
  { name: 'bus' },
);
