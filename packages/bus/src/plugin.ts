import fp from 'fastify-plugin';
import { BrokerStateError, checkEventStreams } from './broker-check.js';
import type { EventBus } from './event-bus.js';
import { createNatsBus } from './nats-bus.js';

declare module 'fastify' {
  interface FastifyInstance {
    bus: EventBus;
  }
}

export interface BusPluginOptions {
  name: string;
  config: { NATS_URL?: string; EVENT_STREAM: string; EVENT_SUBJECT_PREFIX: string; EVENT_RETENTION: number; DEAD_LETTER_PREFIX: string };
  /** An existing bus (embedded mode: the in-process bus shared by every service). Not closed with the app. */
  bus?: EventBus;
}

/** Connects to the bus (NATS unless one is given; failing loudly), checks the event and dead-letter streams (never changes them). */
export const busPlugin = fp<BusPluginOptions>(
  async (app, opts) => {
    const { config } = opts;
    if (!opts.bus && !config.NATS_URL) throw new Error('busPlugin: NATS_URL is required');
    const bus = opts.bus ?? (await createNatsBus({ servers: config.NATS_URL!, name: opts.name }));
    // The broker migration owns the streams; a service only checks them. A missing stream fails the boot, other
    // differences (an older or newer release's limits) keep it not ready with one log line naming the fix.
    const problems = await checkEventStreams(bus, config).catch(async (err: unknown) => {
      if (!opts.bus) await bus.close();
      if (err instanceof BrokerStateError) app.log.error(err.message);
      throw err;
    });
    if (problems.length > 0) app.log.error(new BrokerStateError(problems).message);
    // Readiness (every service's `bus` check) stays false while the broker state does not match.
    app.decorate('bus', problems.length === 0 ? bus : { ...bus, isReady: () => false });
    app.addHook('onClose', async () => {
      if (!opts.bus) await bus.close();
    });
  },
  { name: 'bus' },
);
