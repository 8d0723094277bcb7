import { busEnvShape, commonEnvSchema, databaseEnvShape, env, loadConfig } from '@glavito/config';
import { z } from 'zod';

const optionalUrl = (protocols: RegExp, message: string) =>
  z.preprocess((v) => (v === '' ? undefined : v), z.url({ protocol: protocols, error: message }).optional());

export const NotificationConfigSchema = commonEnvSchema.extend({
  PORT: env.port(3008),
  ...databaseEnvShape,
  ...busEnvShape,
  NOTIFICATION_CONSUMER: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('notification'),
  /** The system's SMTP server (smtp:// or smtps://, credentials in the URL); unset = in-app notifications only. */
  NOTIFY_SMTP_URL: optionalUrl(/^smtps?$/, 'must be an smtp:// or smtps:// URL, e.g. smtp://user:pass@mail.example.com:587'),
  /**
   * base64 of 32 random bytes, the same as the session service's: opens the tenant SMTP settings it seals for us
   * (`session.tenant_smtp`). Unset: every email goes through NOTIFY_SMTP_URL, whatever the tenant tested.
   */
  NOTIFY_CREDENTIALS_KEY: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be base64 of exactly 32 bytes (openssl rand -base64 32)')
      .optional(),
  ),
  NOTIFY_EMAIL_FROM: z.string().min(3).max(200).default('Glavito Onboarding <onboarding@glavito.local>'),
  /** Domain of the Message-IDs (the idempotency key of each reminder email). */
  NOTIFY_MESSAGE_ID_DOMAIN: z
    .string()
    .regex(/^[A-Za-z0-9.-]+$/)
    .default('notifications.glavito.local'),
  /** The frontend: links in reminders point to `<NOTIFY_APP_URL>/onboarding/<sessionId>/<stepId>`. */
  NOTIFY_APP_URL: z
    .url({ protocol: /^https?$/ })
    .default('http://127.0.0.1:3000/console')
    .transform((u) => u.replace(/\/+$/, '')),
  /** Public URL of the gateway: the unsubscribe link and List-Unsubscribe point there. */
  NOTIFY_PUBLIC_API_URL: z
    .url({ protocol: /^https?$/ })
    .default('http://127.0.0.1:3000')
    .transform((u) => u.replace(/\/+$/, '')),
  /** Key of the signed unsubscribe links (≥ 32 characters); unset = derived from JWT_SECRET. */
  NOTIFY_UNSUBSCRIBE_SECRET: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(32, 'must be at least 32 characters').optional()),
  /** How often due reminders are looked for; 0 = never by itself (tests drive the scheduler). */
  NOTIFY_SCAN_INTERVAL: env.duration('15s'),
  /** How long a claimed reminder is this replica's to send before another replica may take it over. */
  NOTIFY_SEND_LEASE: env.duration('2m').refine((ms) => ms >= 1000, 'must be at least 1s'),
  NOTIFY_MAX_EMAIL_ATTEMPTS: env.int(5, 1, 50),
  NOTIFY_BATCH_SIZE: env.int(50, 1, 1000),
  NOTIFY_SMTP_TIMEOUT: env.duration('20s'),
  BODY_LIMIT_BYTES: env.int(65_536, 1024, 1_048_576),
});
export type NotificationConfig = z.infer<typeof NotificationConfigSchema>;

export function loadNotificationConfig(source: Record<string, string | undefined> = process.env): NotificationConfig {
  return loadConfig(NotificationConfigSchema, source);
}
