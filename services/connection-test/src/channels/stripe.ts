import { StripeConfigSchema } from '@glavito/contracts';
import Stripe from 'stripe';
import { classifyError, ConnectionTestFailure, defaultHint } from '../domain/result.js';
import type { Channel, ChannelContext } from './types.js';

type Refusal = { stage: 'auth' | 'permission'; failure: ConnectionTestFailure };

/** sk_/rk_ and test_/live_ from the key's prefix (never the key itself). */
function keyFacts(secretKey: string): { keyKind: 'secret' | 'restricted'; livemode: boolean } {
  return { keyKind: secretKey.startsWith('rk_') ? 'restricted' : 'secret', livemode: /^(sk|rk)_live_/.test(secretKey) };
}

/**
 * Stripe's own error messages quote a shortened key ("sk_test_****abcd"), so they are not passed on;
 * the failure carries Stripe's error code and request id instead.
 */
function interpret(err: unknown): Refusal {
  if (!(err instanceof Stripe.errors.StripeError)) throw classifyError(err);
  // The fetch client wraps socket errors: detail is TypeError('fetch failed') whose cause carries the code.
  if (err instanceof Stripe.errors.StripeConnectionError) throw classifyError(err.detail ?? err);
  const status = err.statusCode ?? 0;
  const details = {
    httpStatus: status,
    ...(err.code ? { stripeCode: err.code } : {}),
    ...(err.rawType ? { stripeType: err.rawType } : {}),
    ...(err.requestId ? { requestId: err.requestId } : {}),
  };
  if (err instanceof Stripe.errors.StripeRateLimitError || status === 429)
    throw new ConnectionTestFailure('rate_limited', 'Stripe is rate limiting this key', defaultHint('rate_limited'), details);
  if (status >= 500 || err instanceof Stripe.errors.StripeAPIError)
    throw new ConnectionTestFailure('provider_unavailable', `Stripe answered ${status || 'with an error'}`, defaultHint('provider_unavailable'), details);
  if (err instanceof Stripe.errors.StripeAuthenticationError || status === 401) {
    const expired = err.code === 'api_key_expired';
    return {
      stage: 'auth',
      failure: new ConnectionTestFailure(
        'auth_invalid',
        expired ? 'The Stripe key has expired' : 'Stripe rejected the key',
        expired
          ? 'The key was rolled or expired. Copy a current key from Developers → API keys in the Stripe Dashboard.'
          : 'Check the secret key (sk_…) or restricted key (rk_…) from Developers → API keys in the Stripe Dashboard, and that it was not rolled or deleted.',
        details,
      ),
    };
  }
  if (err instanceof Stripe.errors.StripePermissionError || status === 403 || (err.rawType as string | undefined) === 'permission_error') {
    const needed = /'(rak_[a-z0-9_]+)'/.exec(err.message)?.[1];
    return {
      stage: 'permission',
      failure: new ConnectionTestFailure(
        'permission_missing',
        `The key may not read its account${needed ? ` (needs ${needed})` : ''}`,
        'This restricted key lacks the permission to read account details. Edit the key in Developers → API keys and give it read access to "Account" (or use the secret key).',
        { ...details, ...(needed ? { requiredPermission: needed } : {}) },
      ),
    };
  }
  throw new ConnectionTestFailure('provider_unavailable', `Stripe refused the request (${status})`, defaultHint('provider_unavailable'), details);
}

/** Stripe's fetch client with the test's deadline added to its own timeout signal. */
function httpClient(ctx: ChannelContext) {
  return Stripe.createFetchHttpClient((input, init) =>
    globalThis.fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, ctx.signal]) : ctx.signal }),
  );
}

/**
 * Reads the key's OWN account (GET /v1/account, no id, no Stripe-Account header): the test never
 * reads another account, so a platform key cannot be used to look at a connected account.
 */
export const stripeChannel: Channel<typeof StripeConfigSchema> = {
  schema: StripeConfigSchema,
  summarize: (c) => ({ ...keyFacts(c.secretKey), ...(c.accountId ? { accountId: c.accountId } : {}) }),
  async test(config, ctx) {
    const base = new URL(ctx.providers.stripeApiUrl);
    const protocol = base.protocol === 'http:' ? 'http' : 'https';
    const stripe = new Stripe(config.secretKey, {
      host: base.hostname,
      port: base.port ? Number(base.port) : protocol === 'http' ? 80 : 443,
      protocol,
      maxNetworkRetries: 0,
      timeout: ctx.timeoutMs,
      telemetry: false,
      httpClient: httpClient(ctx),
    });
    const facts = keyFacts(config.secretKey);

    const answer = await ctx.step(
      'request',
      async (): Promise<{ account: Stripe.Account } | { refused: Refusal }> => {
        try {
          return { account: await stripe.accounts.retrieveCurrent() };
        } catch (err) {
          return { refused: interpret(err) };
        }
      },
      () => 'Stripe answered GET /v1/account',
    );
    const refusal = 'refused' in answer ? answer.refused : undefined;

    await ctx.step(
      'auth',
      async () => {
        if (refusal?.stage === 'auth') throw refusal.failure;
      },
      () => `${facts.keyKind === 'restricted' ? 'Restricted' : 'Secret'} ${facts.livemode ? 'live' : 'test'} key accepted`,
    );

    const account = await ctx.step(
      'permission',
      async () => {
        if (refusal) throw refusal.failure;
        const acct = (answer as { account: Stripe.Account }).account;
        if (config.accountId && config.accountId !== acct.id)
          throw new ConnectionTestFailure(
            'permission_missing',
            `The key belongs to account ${acct.id}, not ${config.accountId}`,
            `This key belongs to another Stripe account (${acct.id}). The test only ever reads the key's own account, never another one (no platform access to connected accounts): use ${config.accountId}'s own key, or correct the account id.`,
            { keyAccountId: acct.id, expectedAccountId: config.accountId },
          );
        return acct;
      },
      (a) => `Read account ${a.id}`,
    );

    if (account.charges_enabled === false)
      ctx.warn('account', 'The key works, but this account cannot accept charges yet: finish its onboarding in the Stripe Dashboard');

    return {
      message: `Connected to Stripe account ${account.id}${facts.livemode ? ' (live mode)' : ' (test mode)'}`,
      details: {
        accountId: account.id,
        chargesEnabled: account.charges_enabled,
        payoutsEnabled: account.payouts_enabled,
        detailsSubmitted: account.details_submitted,
        livemode: facts.livemode,
        keyKind: facts.keyKind,
        ...(account.country ? { country: account.country } : {}),
        ...(account.default_currency ? { defaultCurrency: account.default_currency } : {}),
        ...(account.business_profile?.name ? { businessName: account.business_profile.name } : {}),
      },
    };
  },
};
