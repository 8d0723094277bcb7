import { commonEnvSchema, env, loadConfig } from '@glavito/config';
import { z } from 'zod';

export const SessionConfigSchema = commonEnvSchema.extend({
  PORT: env.port(3001),
  /** Admin URL: runs migrations and provisions the service role. */
  DATABASE_URL: z.url(),
  /** URL the service itself uses; defaults to DATABASE_URL with the role `session_svc`. */
  SESSION_DATABASE_URL: z.url().optional(),
  SESSION_DB_ROLE: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('session_svc'),
  SESSION_DB_PASSWORD: z.string().optional(),
  /** Set to false where a migration job runs separately (Kubernetes). */
  MIGRATE_ON_START: env.bool.default(true),
  DB_POOL_MAX: env.int(10, 1, 200),
  NATS_URL: z.string().min(1),
  EVENT_STREAM: z.string().regex(/^[A-Za-z0-9_-]+$/).default('ONBOARDING_EVENTS'),
  EVENT_SUBJECT_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/).default('onboarding.events'),
  /** Request/reply subjects other services call: `<prefix>.session.get`. */
  RPC_SUBJECT_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/).default('onboarding.rpc'),
  /** How long events stay in the stream (replay window). */
  EVENT_RETENTION: env.duration('7d'),
  /** base64 of 32 random bytes: encrypts credential fields in step data at rest. */
  STEP_DATA_ENCRYPTION_KEY: z
    .string()
    .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be base64 of exactly 32 bytes (openssl rand -base64 32)'),
  ABANDON_AFTER: env.duration('7d'),
  ABANDON_SWEEP_INTERVAL: env.duration('15m'),
  BODY_LIMIT_BYTES: env.int(1_048_576, 1024, 50 * 1_048_576),
});
export type SessionConfig = z.infer<typeof SessionConfigSchema>;

export function loadSessionConfig(source: Record<string, string | undefined> = process.env): SessionConfig {
  return loadConfig(SessionConfigSchema, source);
}
