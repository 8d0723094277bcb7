import { canCharge, type BillingConfigurationInputSchema, type PaymentSetupBodySchema } from '@glavito/contracts';
import type { z } from 'zod';
import type Stripe from 'stripe';
import { AccountMissingError, StripeNotConfiguredError } from '../errors.js';
import { toAccount, toBilling, type AuditOrigin, type BillingValues, type PaymentRepository } from '../repositories/payment-repository.js';
import { verifyWebhook, type StripeGateway } from './stripe-gateway.js';

export interface PaymentServiceDeps {
  repository: PaymentRepository;
  /** Null when STRIPE_SECRET_KEY is not set. */
  stripe: StripeGateway | null;
  webhookSecret: string | undefined;
  webhookToleranceMs: number;
  statusCacheTtlMs: number;
  appUrl: string;
  now: () => Date;
  onWebhook?: (type: string, outcome: string) => void;
}

/** Who asks; `origin` (actor, request and correlation ids, address, user agent) goes into the audit records. */
type Caller = { tenantId: string; userId: string; origin?: AuditOrigin };
type StatusAnswer = {
  isConfigured: boolean;
  accountId: string | null;
  chargesEnabled: boolean;
  payoutsEnabled: boolean;
  detailsSubmitted: boolean;
  canCharge: boolean;
  currentlyDue: string[];
  pastDue: string[];
  requirements: string[];
  disabledReason: string | null;
  checkedAt: string | null;
};

const billingValues = (b: z.output<typeof BillingConfigurationInputSchema>): BillingValues => b;

/** The payment context's one capability: setup, status, links, billing configuration and Stripe's webhooks. */
export function createPaymentService(deps: PaymentServiceDeps) {
  const { repository } = deps;
  const statusCache = new Map<string, { until: number; value: StatusAnswer }>();
  const MAX_CACHED = 10_000;

  const stripe = (): StripeGateway => {
    if (!deps.stripe) throw new StripeNotConfiguredError('STRIPE_SECRET_KEY');
    return deps.stripe;
  };
  const linkUrls = () => ({
    refreshUrl: `${deps.appUrl}/onboarding/payment-setup?refresh=true`,
    returnUrl: `${deps.appUrl}/onboarding/payment-setup?success=true`,
  });
  const nowIso = () => deps.now().toISOString();

  return {
    /** Throws the 503 that names the missing variable when Stripe is not configured. */
    requireConfigured(): void {
      stripe();
    },

    async setup(caller: Caller, body: z.output<typeof PaymentSetupBodySchema>, requestKey: string) {
      const gateway = stripe();
      const now = nowIso();
      const { created, account, billing } = await repository.setup(
        caller.tenantId,
        caller.userId,
        billingValues(body.billingConfiguration),
        now,
        async () => {
          const facts = await gateway.createAccount(caller.tenantId, body.stripeAccount);
          return { ...facts, email: body.stripeAccount.email, country: body.stripeAccount.country, businessType: body.stripeAccount.businessType };
        },
        caller.origin,
      );
      statusCache.delete(caller.tenantId);
      // After the commit: the account is ours whatever happens to the link (a retry of setup hands out a new one).
      const link = await gateway.createAccountLink(account.accountId, linkUrls(), requestKey);
      return {
        created,
        account: toAccount(account),
        billingConfiguration: toBilling(billing),
        onboardingUrl: link.url,
        expiresAt: link.expiresAt,
        message: created ? 'Payment integration initialized' : 'Stripe account already exists for this tenant; here is a fresh onboarding link',
      };
    },

    async status(caller: Caller, correlationId: string): Promise<StatusAnswer> {
      const gateway = stripe();
      const cached = statusCache.get(caller.tenantId);
      if (cached && cached.until > Date.now()) return cached.value;
      const stored = await repository.accountByTenant(caller.tenantId);
      if (!stored) {
        return {
          isConfigured: false,
          accountId: null,
          chargesEnabled: false,
          payoutsEnabled: false,
          detailsSubmitted: false,
          canCharge: false,
          currentlyDue: [],
          pastDue: [],
          requirements: [],
          disabledReason: null,
          checkedAt: null,
        };
      }
      const live = await gateway.retrieveAccount(stored.accountId);
      const checkedAt = deps.now();
      // A live read is news like a webhook: stored (and published) when it says something new.
      await repository.applyLiveState(caller.tenantId, live, {
        stateAt: Math.floor(checkedAt.getTime() / 1000),
        now: checkedAt.toISOString(),
        correlationId,
        origin: caller.origin,
      });
      const value: StatusAnswer = {
        isConfigured: true,
        accountId: stored.accountId,
        chargesEnabled: live.chargesEnabled,
        payoutsEnabled: live.payoutsEnabled,
        detailsSubmitted: live.detailsSubmitted,
        canCharge: canCharge(live),
        currentlyDue: live.currentlyDue,
        pastDue: live.pastDue,
        requirements: [...live.currentlyDue, ...live.pastDue],
        disabledReason: live.disabledReason,
        checkedAt: checkedAt.toISOString(),
      };
      if (statusCache.size >= MAX_CACHED) statusCache.delete(statusCache.keys().next().value!);
      statusCache.set(caller.tenantId, { until: Date.now() + deps.statusCacheTtlMs, value });
      return value;
    },

    async accountLink(caller: Caller, requestKey: string) {
      const gateway = stripe();
      const stored = await repository.accountByTenant(caller.tenantId);
      if (!stored) throw new AccountMissingError();
      const link = await gateway.createAccountLink(stored.accountId, linkUrls(), requestKey);
      // Nothing of ours changes: the link is handed out only once its record is committed (never the URL itself,
      // which lets whoever holds it fill in the account).
      await repository.recordAudit({
        ...(caller.origin ?? { actor: { subject: caller.userId, roles: [] }, requestId: null, correlationId: null, clientIp: null, userAgent: null }),
        tenantId: caller.tenantId,
        action: 'payment.account_link',
        target: { type: 'payment_account', id: stored.accountId },
        outcome: { result: 'allowed', code: null },
        details: { expiresAt: link.expiresAt },
      });
      return link;
    },

    async account(caller: Caller) {
      stripe();
      const stored = await repository.accountByTenant(caller.tenantId);
      return { account: stored ? toAccount(stored) : null };
    },

    async billing(caller: Caller) {
      stripe();
      const row = await repository.billing(caller.tenantId);
      return { billingConfiguration: row ? toBilling(row) : null };
    },

    async putBilling(caller: Caller, body: z.output<typeof BillingConfigurationInputSchema>) {
      stripe();
      return { billingConfiguration: toBilling(await repository.putBilling(caller.tenantId, billingValues(body), caller.userId, nowIso(), caller.origin)) };
    },

    async webhook(raw: Buffer, signature: string | undefined, correlationId: string, origin?: AuditOrigin) {
      if (!deps.webhookSecret) throw new StripeNotConfiguredError('STRIPE_WEBHOOK_SECRET');
      const event = verifyWebhook(raw, signature, deps.webhookSecret, deps.webhookToleranceMs);
      const object = (event.data?.object ?? {}) as Partial<Stripe.Account>;
      const isAccount = event.type === 'account.updated' && object.object === 'account' && typeof object.id === 'string';
      const result = await repository.applyWebhook(
        {
          id: event.id,
          type: event.type,
          accountId: isAccount ? object.id! : (event.account ?? null),
          created: event.created,
          state: isAccount
            ? {
                chargesEnabled: object.charges_enabled === true,
                payoutsEnabled: object.payouts_enabled === true,
                detailsSubmitted: object.details_submitted === true,
                currentlyDue: object.requirements?.currently_due ?? [],
                pastDue: object.requirements?.past_due ?? [],
                disabledReason: object.requirements?.disabled_reason ?? null,
              }
            : null,
        },
        { now: nowIso(), correlationId, origin },
      );
      if (result.tenantId) statusCache.delete(result.tenantId);
      deps.onWebhook?.(event.type, result.reason ?? result.outcome);
      return { eventId: event.id, type: event.type, ...result };
    },
  };
}
export type PaymentService = ReturnType<typeof createPaymentService>;
