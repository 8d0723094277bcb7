import { connectBus, ensureStream, startOutboxRelay, type Bus, type OutboxRelay } from '@glavito/bus';
import fp from 'fastify-plugin';
import type { SessionConfig } from '../config.js';

declare module 'fastify' {
  interface FastifyInstance {
    bus: Bus;
    outboxRelay: OutboxRelay;
  }
}

export const busPlugin = fp<{ config: SessionConfig }>(
  async (app, { config }) => {
    const bus = await connectBus({ servers: config.NATS_URL, name: 'session' });
    await ensureStream(bus.jsm, {
      name: config.EVENT_STREAM,
      subjects: [`${config.EVENT_SUBJECT_PREFIX}.>`],
      maxAgeMs: config.EVENT_RETENTION,
    });
    const relay = startOutboxRelay({
      pool: app.pool,
      listenUrl: app.serviceDatabaseUrl,
      schema: 'session',
      js: bus.js,
      logger: app.log,
    });
    app.decorate('bus', bus);
    app.decorate('outboxRelay', relay);
    app.addHook('onClose', async () => {
      await relay.stop();
      await bus.nc.drain().catch(() => bus.nc.close());
    });
  },
  { name: 'bus', dependencies: ['db'] },
);
