import { busEnvShape, commonEnvSchema, databaseEnvShape, env, loadConfig } from '@glavito/config';
import { z } from 'zod';

export const SessionConfigSchema = commonEnvSchema.extend({
  PORT: env.port(3001),
  ...databaseEnvShape,
  ...busEnvShape,
  /** base64 of 32 random bytes: encrypts credential fields in step data at rest. */
  STEP_DATA_ENCRYPTION_KEY: z.string().refine((v) => Buffer.from(v, 'base64').length === 32, 'must be base64 of exactly 32 bytes (openssl rand -base64 32)'),
  /**
   * base64 of 32 random bytes, shared with the notification service only: seals the tenant's SMTP settings in
   * `session.tenant_smtp` replies. Unset: that RPC is not served (reminders use the system's SMTP).
   */
  NOTIFY_CREDENTIALS_KEY: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be base64 of exactly 32 bytes (openssl rand -base64 32)')
      .optional(),
  ),
  ABANDON_AFTER: env.duration('7d'),
  ABANDON_SWEEP_INTERVAL: env.duration('15m'),
  BODY_LIMIT_BYTES: env.int(1_048_576, 1024, 50 * 1_048_576),
  /** Sessions remembered after this replica wrote them, so their next save skips the read (0: off). */
  WRITE_CACHE_SIZE: env.int(10_000, 0, 1_000_000),
  /** Durable name prefix of the external-signal consumers (`<it>_payment`, `<it>_connection`). */
  SESSION_SIGNALS_CONSUMER: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('session-signals'),
});
export type SessionConfig = z.infer<typeof SessionConfigSchema>;

export function loadSessionConfig(source: Record<string, string | undefined> = process.env): SessionConfig {
  return loadConfig(SessionConfigSchema, source);
}
