import { listenWithGracefulShutdown } from '@glavito/http';
import { buildApp } from './app.js';
import { loadSessionConfig } from './config.js';

const config = loadSessionConfig();
const app = await buildApp(config);
await listenWithGracefulShutdown(app, { port: config.PORT, host: config.HOST });
