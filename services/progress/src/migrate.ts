/**
 * One-off migration (Kubernetes Job, compose one-shot): applies the drizzle migrations of schema `progress` as
 * the admin (DATABASE_URL) and provisions the service role (DB_ROLE, DB_PASSWORD), then exits. Needs only the
 * database settings, so the job never sees JWT_SECRET or other service secrets.
 */
import { commonEnvSchema, databaseEnvShape, loadConfig } from '@glavito/config';
import { prepareServiceDatabase } from '@glavito/db/plugin';
import { createLogger } from '@glavito/logging';
import { DATABASE } from './app.js';

const config = loadConfig(commonEnvSchema.pick({ LOG_LEVEL: true }).extend(databaseEnvShape));
const logger = createLogger('progress-migrate', config.LOG_LEVEL);
const started = Date.now();
try {
  await prepareServiceDatabase({ ...DATABASE, config: { ...config, MIGRATE_ON_START: true } });
  logger.info({ schema: 'progress', role: config.DB_ROLE ?? 'progress_svc', ms: Date.now() - started }, 'migrations applied, service role provisioned');
} catch (err) {
  logger.error({ err }, 'migration failed');
  process.exitCode = 1;
}
