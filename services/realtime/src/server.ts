import { listenWithGracefulShutdown } from '@glavito/http';
import { buildApp } from './app.js';
import { loadRealtimeConfig } from './config.js';

const config = loadRealtimeConfig();
const app = await buildApp(config);
await listenWithGracefulShutdown(app, { port: config.PORT, host: config.HOST });
