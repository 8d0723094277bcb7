import { buildApp } from './app.js';
import { loadGatewayConfig } from './config.js';

const SHUTDOWN_GRACE_MS = 10_000;

const config = loadGatewayConfig();
const app = await buildApp(config);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    app.log.info({ signal }, 'shutting down');
    // In-flight requests get a grace period; a stuck upstream must not block the rollout forever.
    setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS).unref();
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}

try {
  await app.listen({ port: config.PORT, host: config.HOST });
} catch (err) {
  app.log.fatal({ err }, 'gateway failed to start');
  process.exit(1);
}
