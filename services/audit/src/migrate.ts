/**
 * One-off migration (Kubernetes Job, compose one-shot): applies the drizzle migrations of schema `audit` as the
 * admin (DATABASE_URL) and provisions the service role (DB_ROLE, DB_PASSWORD) with no UPDATE or DELETE on the
 * records, then exits.
 */
import { commonEnvSchema, databaseEnvShape, loadConfig } from '@glavito/config';
import { prepareServiceDatabase } from '@glavito/db/plugin';
import { createLogger } from '@glavito/logging';
import { DATABASE } from './app.js';

const config = loadConfig(commonEnvSchema.pick({ LOG_LEVEL: true }).extend(databaseEnvShape));
const logger = createLogger('audit-migrate', config.LOG_LEVEL);
const started = Date.now();
try {
  await prepareServiceDatabase({
    ...DATABASE,
    config: { ...config, MIGRATE_ON_START: true },
  });
  logger.info({ schema: 'audit', role: config.DB_ROLE ?? 'audit_svc', ms: Date.now() - started }, 'migrations applied, service role provisioned');
} catch (err) {
  logger.error({ err }, 'migration failed');
  process.exitCode = 1;
}
