import fp from 'fastify-plugin';
import type { RealtimeConfig } from '../config.js';
import { createHub, type Hub } from '../domain/hub.js';
// The metrics decorator's type lives with its plugin; the build (unlike typecheck) sees only what src imports.
import type {} from '@glavito/http/metrics';

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
    app.metrics.gauge('ws_connections', 'Open WebSocket connections on this replica', () => hub.clients.size);
    // Ticks of a twentieth of the interval, each pinging a twentieth of the sockets (see hub.heartbeat).
    const ticksPerInterval = 20;
    const heartbeat = setInterval(
      () => hub.heartbeat(Date.now(), config.WS_HEARTBEAT_MS, ticksPerInterval),
      Math.max(1, Math.floor(config.WS_HEARTBEAT_MS / ticksPerInterval)),
    );
    heartbeat.unref();
    // Drain: tell every client to reconnect elsewhere before the process goes away. The WebSocket server
    // waits for every socket before the onClose hooks (presence removal, NATS drain) run, so a peer that
    // does not answer the close (it stopped reading) is dropped after a second instead of holding the
    // shutdown for ws's 30 s close timeout.
    app.addHook('preClose', async () => {
      clearInterval(heartbeat);
      const sockets = [...hub.clients.values()].map((c) => c.socket);
      for (const s of sockets) s.close(1012, 'service restarting; reconnect');
      if (sockets.length > 0) setTimeout(() => sockets.forEach((s) => s.terminate()), 1000).unref();
    });
  },
  { name: 'hub' },
);
