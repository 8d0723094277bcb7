import { listenWithGracefulShutdown } from '@glavito/http';
import { buildApp } from './app.js';
import { loadAuditConfig } from './config.js';

const config = loadAuditConfig();
const app = await buildApp(config);
await listenWithGracefulShutdown(app, { port: config.PORT, host: config.HOST });
