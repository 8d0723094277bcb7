import { listenWithGracefulShutdown } from '@glavito/http';
import { buildApp } from './app.js';
import { loadNotificationConfig } from './config.js';

const config = loadNotificationConfig();
const app = await buildApp(config);
await listenWithGracefulShutdown(app, { port: config.PORT, host: config.HOST });
