import createError from '@fastify/error';

export const StripeNotConfiguredError = createError(
  'PAYMENT_STRIPE_NOT_CONFIGURED',
  'Payments are not configured on this server: set %s (see .env.example) and restart the payment service',
  503,
);
export const AccountMissingError = createError(
  'PAYMENT_ACCOUNT_MISSING',
  'The tenant has no Stripe account yet: call POST /onboarding/payment/setup first',
  409,
);
export const ProviderUnavailableError = createError(
  'PAYMENT_PROVIDER_UNAVAILABLE',
  'Stripe could not be reached (%s); nothing was changed, retry shortly',
  503,
);
export const ProviderError = createError('PAYMENT_PROVIDER_ERROR', 'Stripe answered with an error (HTTP %s); nothing was changed, retry shortly', 502);
export const ProviderAuthError = createError('PAYMENT_PROVIDER_AUTH_FAILED', 'Stripe refused the platform key: check STRIPE_SECRET_KEY', 503);
export const ProviderRejectedError = createError('PAYMENT_PROVIDER_REJECTED', 'Stripe refused the request: %s', 422);
export const WebhookSignatureError = createError(
  'PAYMENT_WEBHOOK_SIGNATURE_INVALID',
  'The Stripe-Signature header is missing, does not match the body, or is older than the tolerance',
  400,
);
