import { busEnvShape, commonEnvSchema, databaseEnvShape, env, loadConfig } from '@glavito/config';
import { z } from 'zod';

/** Unset and empty are the same: Stripe is not configured, and the payment routes say so (503). */
const optionalSecret = (prefix: RegExp, hint: string) => z.preprocess((v) => (v === '' ? undefined : v), z.string().regex(prefix, hint).optional());

export const PaymentConfigSchema = commonEnvSchema.extend({
  PORT: env.port(3006),
  ...databaseEnvShape,
  ...busEnvShape,
  /** The platform's Stripe secret key (Connect platform account). Unset: the payment routes answer 503. */
  STRIPE_SECRET_KEY: optionalSecret(/^(sk|rk)_(test|live)_[A-Za-z0-9]+$/, 'must be a Stripe secret or restricted key (sk_test_…, sk_live_…, rk_…)'),
  /** The signing secret of the webhook endpoint (whsec_…). Unset: the webhook answers 503. */
  STRIPE_WEBHOOK_SECRET: optionalSecret(/^whsec_[A-Za-z0-9+/=_-]+$/, 'must be a webhook signing secret (whsec_…)'),
  /** Stripe's API base URL; an operator setting (tests point it at a local server). */
  STRIPE_API_URL: z
    .url({ protocol: /^https?$/ })
    .default('https://api.stripe.com')
    .transform((u) => new URL(u)),
  STRIPE_TIMEOUT: env.duration('10s').refine((ms) => ms >= 100 && ms <= 60_000, 'must be between 100ms and 60s'),
  /** Retries of a failed Stripe call by the SDK (with the same idempotency key). */
  STRIPE_MAX_RETRIES: env.int(1, 0, 5),
  /** How old a signed webhook may be (Stripe's default tolerance is 5 minutes). */
  STRIPE_WEBHOOK_TOLERANCE: env.duration('5m'),
  /** How long a live status read from Stripe is reused. */
  PAYMENT_STATUS_CACHE_TTL: env.duration('30s'),
  /** The frontend's URL: Stripe sends the tenant back to `<APP_URL>/onboarding/payment-setup?success=true` (or `?refresh=true`). */
  APP_URL: z
    .url({ protocol: /^https?$/ })
    .default('http://localhost:3000')
    .transform((u) => u.replace(/\/+$/, '')),
  BODY_LIMIT_BYTES: env.int(262_144, 1024, 10 * 1_048_576),
});
export type PaymentConfig = z.infer<typeof PaymentConfigSchema>;

export function loadPaymentConfig(source: Record<string, string | undefined> = process.env): PaymentConfig {
  return loadConfig(PaymentConfigSchema, source);
}
