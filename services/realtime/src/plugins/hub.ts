import fp from 'fastify-plugin';
import type { RealtimeConfig } from '../config.js';
import { createHub, type Hub } from '../domain/hub.js';

declare module 'fastify' {
  interface FastifyInstance {
    hub: Hub;
  }
}

export const hubPlugin = fp<{ config: RealtimeConfig }>(
  async (app, { config }) => {
    const hub = createHub({
      maxBufferedBytes: config.WS_MAX_BUFFERED_BYTES,
      messagesPerSecond: config.WS_MESSAGES_PER_SECOND,
      onPresenceChange: () => app.presenceChanged?.(),
    });
    app.decorate('hub', hub);
    const heartbeat = setInterval(() => hub.heartbeat(), config.WS_HEARTBEAT_MS);
    heartbeat.unref();
    // Drain: tell every client to reconnect elsewhere before the process goes away.
    app.addHook('preClose', async () => {
      clearInterval(heartbeat);
      for (const c of hub.clients.values()) c.socket.close(1012, 'service restarting; reconnect');
    });
  },
  { name: 'hub' },
);
