import { listenWithGracefulShutdown } from '@glavito/http';
import { buildApp } from './app.js';
import { loadConnectionTestConfig } from './config.js';

const config = loadConnectionTestConfig();
const app = await buildApp(config);
await listenWithGracefulShutdown(app, { port: config.PORT, host: config.HOST });
