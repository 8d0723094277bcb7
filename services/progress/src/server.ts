import { listenWithGracefulShutdown } from '@glavito/http';
import { buildApp } from './app.js';
import { loadProgressConfig } from './config.js';

const config = loadProgressConfig();
const app = await buildApp(config);
await listenWithGracefulShutdown(app, { port: config.PORT, host: config.HOST });
