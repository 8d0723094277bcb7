import { busEnvShape, commonEnvSchema, databaseEnvShape, env, loadConfig } from '@glavito/config';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';

const providerUrl = (fallback: string) =>
  z
    .url({ protocol: /^https?$/ })
    .default(fallback)
    .transform((u) => u.replace(/\/+$/, ''));

export const ConnectionTestConfigSchema = commonEnvSchema.extend({
  PORT: env.port(3003),
  ...databaseEnvShape,
  ...busEnvShape,
  CONNECTION_TEST_CONSUMER: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('connection-test'),
  /** CIDRs user-supplied hosts may reach although private/loopback (operators only), comma-separated. */
  CONNECTION_TEST_ALLOWED_CIDRS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .refine((list) => list.every((c) => ipaddr.isValidCIDR(c)), 'must be comma-separated CIDRs like 10.0.0.0/8'),
  CONNECTION_TEST_DEFAULT_TIMEOUT: env.duration('10s').refine((ms) => ms >= 100 && ms <= 30_000, 'must be between 100ms and 30s'),
  /** Tests running at once in one replica; more wait their turn. */
  CONNECTION_TEST_MAX_CONCURRENCY: env.int(32, 1, 1000),
  /** Tests per tenant and per user in each window (shared by all replicas). */
  CONNECTION_TEST_TENANT_LIMIT: env.int(60, 1),
  CONNECTION_TEST_USER_LIMIT: env.int(20, 1),
  CONNECTION_TEST_RATE_WINDOW: env.duration('1m'),
  PROVIDER_SLACK_API_URL: providerUrl('https://slack.com/api'),
  PROVIDER_MS_LOGIN_URL: providerUrl('https://login.microsoftonline.com'),
  PROVIDER_WHATSAPP_GRAPH_URL: providerUrl('https://graph.facebook.com/v21.0'),
  PROVIDER_STRIPE_API_URL: providerUrl('https://api.stripe.com'),
  PROVIDER_OPENAI_URL: providerUrl('https://api.openai.com/v1'),
  PROVIDER_ANTHROPIC_URL: providerUrl('https://api.anthropic.com'),
  PROVIDER_GOOGLE_AI_URL: providerUrl('https://generativelanguage.googleapis.com'),
  BODY_LIMIT_BYTES: env.int(262_144, 1024, 10 * 1_048_576),
});
export type ConnectionTestConfig = z.infer<typeof ConnectionTestConfigSchema>;

export function loadConnectionTestConfig(source: Record<string, string | undefined> = process.env): ConnectionTestConfig {
  return loadConfig(ConnectionTestConfigSchema, source);
}
