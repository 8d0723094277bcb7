import { listenWithGracefulShutdown } from '@glavito/http';
import { buildApp } from './app.js';
import { loadGatewayConfig } from './config.js';

const config = loadGatewayConfig();
const app = await buildApp(config);
await listenWithGracefulShutdown(app, { port: config.PORT, host: config.HOST });
