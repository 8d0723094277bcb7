import { authPlugin } from '@glavito/auth';
import type { EventBus } from '@glavito/bus';
import { busPlugin } from '@glavito/bus/plugin';
import { healthRoutes } from '@glavito/http';
import { createServiceApp } from '@glavito/http/service-app';
import websocket from '@fastify/websocket';
import type { FastifyServerOptions } from 'fastify';
import type { RealtimeConfig } from './config.js';
import { eventFeedPlugin } from './plugins/event-feed.js';
import { hubPlugin } from './plugins/hub.js';
import { presencePlugin } from './plugins/presence.js';
import { clientCountRoutes } from './routes/clients.js';
import { socketRoutes } from './routes/socket.js';

export interface BuildOptions {
  /** Embedded mode: the shared in-process bus. */
  infra?: { bus?: EventBus };
  logger?: FastifyServerOptions['logger'];
  loggerInstance?: FastifyServerOptions['loggerInstance'];
}

export async function buildApp(config: RealtimeConfig, opts: BuildOptions = {}) {
  const app = await createServiceApp({ service: 'realtime', logLevel: config.LOG_LEVEL, logger: opts.logger, loggerInstance: opts.loggerInstance });
  await app.register(authPlugin, { secret: config.JWT_SECRET });
  await app.register(busPlugin, { name: 'realtime', config, bus: opts.infra?.bus });
  await app.register(hubPlugin, { config });
  await app.register(presencePlugin, { config });
  await app.register(eventFeedPlugin, { config });
  await app.register(websocket, {
    options: { maxPayload: config.WS_MAX_FRAME_BYTES, perMessageDeflate: false },
    // A client's protocol violation (oversized frame, text that is not UTF-8…) is not a server error: ws has
    // already sent the close frame with the matching code (1009, 1007…) and stopped reading. Cutting the
    // connection now would reset it while the client is still sending, and the client would see 1006
    // instead of the code; it gets a second to read the close frame and answer it.
    errorHandler(error, socket, request) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string' && code.startsWith('WS_ERR_')) {
        request.log.warn({ code, reason: error.message }, 'websocket closed: client protocol violation');
        setTimeout(() => socket.terminate(), 1000).unref();
        return;
      }
      request.log.error({ err: error }, 'websocket failed');
      socket.terminate();
    },
  });

  await app.register(healthRoutes, { checks: { bus: () => app.bus.isReady() } });
  await app.register(socketRoutes, { config });
  await app.register(clientCountRoutes, { config });
  return app;
}
