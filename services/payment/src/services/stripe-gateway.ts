import { createHash } from 'node:crypto';
import type { PaymentAccountInput, PaymentAccountState } from '@glavito/contracts';
import Stripe from 'stripe';
import { ProviderAuthError, ProviderError, ProviderRejectedError, ProviderUnavailableError, WebhookSignatureError } from '../errors.js';

export interface StripeSettings {
  secretKey: string;
  apiUrl: URL;
  timeoutMs: number;
  maxRetries: number;
}

/** A Stripe account reduced to what we keep: ids and flags, never a key. */
export interface StripeAccountFacts extends PaymentAccountState {
  accountId: string;
}

export function factsOf(account: Stripe.Account): StripeAccountFacts {
  return {
    accountId: account.id,
    chargesEnabled: account.charges_enabled === true,
    payoutsEnabled: account.payouts_enabled === true,
    detailsSubmitted: account.details_submitted === true,
    currentlyDue: account.requirements?.currently_due ?? [],
    pastDue: account.requirements?.past_due ?? [],
    disabledReason: account.requirements?.disabled_reason ?? null,
  };
}

/**
 * Stripe's errors mapped to ours. Stripe's own messages can quote a shortened key, so only its error code,
 * parameter and request id are kept; the message is ours.
 */
export function providerError(err: unknown): Error {
  if (!(err instanceof Stripe.errors.StripeError)) return new ProviderUnavailableError('no answer');
  if (err instanceof Stripe.errors.StripeConnectionError) return new ProviderUnavailableError('connection failed');
  const status = err.statusCode ?? 0;
  const meta = { stripeCode: err.code, stripeRequestId: err.requestId };
  if (err instanceof Stripe.errors.StripeAuthenticationError || status === 401) return Object.assign(new ProviderAuthError(), meta);
  if (err instanceof Stripe.errors.StripeRateLimitError || status === 429) return Object.assign(new ProviderUnavailableError('rate limited'), meta);
  if (status >= 500 || status === 0) return Object.assign(new ProviderError(String(status || 'error')), meta);
  const field = err.param ? `stripeAccount.${err.param.replace(/\[/g, '.').replace(/\]/g, '')}` : 'stripeAccount';
  return Object.assign(new ProviderRejectedError(err.code ?? err.type), {
    ...meta,
    details: [{ field, rule: err.code ?? 'stripe_rejected', message: `Stripe refused ${err.param ?? 'the request'} (${err.code ?? err.type})` }],
  });
}

async function call<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw providerError(err);
  }
}

export interface AccountLink {
  url: string;
  expiresAt: string;
}

/**
 * The calls the payment service makes to Stripe, on the real SDK. Every create carries an idempotency key, so
 * a retried request (the SDK's own retries, a client retrying after a timeout) never makes a second object.
 */
export function createStripeGateway(settings: StripeSettings) {
  const protocol = settings.apiUrl.protocol === 'http:' ? 'http' : 'https';
  const stripe = new Stripe(settings.secretKey, {
    host: settings.apiUrl.hostname,
    port: Number(settings.apiUrl.port || (protocol === 'http' ? 80 : 443)),
    protocol,
    timeout: settings.timeoutMs,
    maxNetworkRetries: settings.maxRetries,
    appInfo: { name: 'glavito-onboarding-payment' },
  });

  return {
    /**
     * An Express account for the tenant. The key is derived from the tenant and the request's parameters: the
     * same setup sent again (after a crash between Stripe's answer and our commit) gets the same account back.
     */
    async createAccount(tenantId: string, input: PaymentAccountInput): Promise<StripeAccountFacts> {
      const params: Stripe.AccountCreateParams = {
        type: 'express',
        country: input.country,
        email: input.email,
        business_type: input.businessType,
        ...(input.businessProfile
          ? {
              business_profile: {
                ...(input.businessProfile.name ? { name: input.businessProfile.name } : {}),
                ...(input.businessProfile.url ? { url: input.businessProfile.url } : {}),
                ...(input.businessProfile.mcc ? { mcc: input.businessProfile.mcc } : {}),
                ...(input.businessProfile.productDescription ? { product_description: input.businessProfile.productDescription } : {}),
              },
            }
          : {}),
        capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
        settings: { payouts: { schedule: { interval: 'daily' } } },
        metadata: { tenantId },
      };
      const idempotencyKey = `glavito-account-${tenantId}-${createHash('sha256').update(JSON.stringify(params)).digest('hex').slice(0, 24)}`;
      return factsOf(await call(() => stripe.accounts.create(params, { idempotencyKey })));
    },

    async retrieveAccount(accountId: string): Promise<StripeAccountFacts> {
      return factsOf(await call(() => stripe.accounts.retrieve(accountId)));
    },

    /** `requestKey` identifies the caller's request: its retries reuse the link, a new request gets a new one. */
    async createAccountLink(accountId: string, urls: { refreshUrl: string; returnUrl: string }, requestKey: string): Promise<AccountLink> {
      const link = await call(() =>
        stripe.accountLinks.create(
          { account: accountId, refresh_url: urls.refreshUrl, return_url: urls.returnUrl, type: 'account_onboarding' },
          { idempotencyKey: `glavito-link-${accountId}-${requestKey}` },
        ),
      );
      return { url: link.url, expiresAt: new Date(link.expires_at * 1000).toISOString() };
    },
  };
}
export type StripeGateway = ReturnType<typeof createStripeGateway>;

/** Checks a webhook's signature over its raw bytes (Stripe's scheme: HMAC-SHA256 of `t.payload`, within the tolerance). */
export function verifyWebhook(raw: Buffer, signature: string | undefined, secret: string, toleranceMs: number): Stripe.Event {
  if (!signature) throw new WebhookSignatureError();
  try {
    return Stripe.webhooks.constructEvent(raw, signature, secret, Math.max(1, Math.floor(toleranceMs / 1000)));
  } catch {
    throw new WebhookSignatureError();
  }
}
