import { listenWithGracefulShutdown } from '@glavito/http';
import { buildApp } from './app.js';
import { loadPaymentConfig } from './config.js';

const config = loadPaymentConfig();
const app = await buildApp(config);
await listenWithGracefulShutdown(app, { port: config.PORT, host: config.HOST });
