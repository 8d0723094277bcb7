import { z } from 'zod';

/** Stripe account ids as Stripe writes them; they also travel in NATS subjects (no dots). */
export const StripeAccountIdSchema = z.string().regex(/^acct_[A-Za-z0-9]{1,60}$/, 'must be a Stripe account id (acct_…)');

export const StripeBusinessProfileSchema = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    url: z
      .url({ protocol: /^https?$/ })
      .max(500)
      .optional(),
    mcc: z
      .string()
      .regex(/^\d{4}$/, 'must be a 4-digit merchant category code')
      .optional(),
    productDescription: z.string().trim().min(1).max(500).optional(),
  })
  .strict();

export const PaymentAccountInputSchema = z
  .object({
    email: z.email().max(320),
    country: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 country code in capitals, e.g. FR'),
    businessType: z.enum(['individual', 'company']),
    businessProfile: StripeBusinessProfileSchema.optional(),
  })
  .strict();
export type PaymentAccountInput = z.infer<typeof PaymentAccountInputSchema>;

const percent = z.number().min(0).max(100);

/** What a tenant bills with. Defaults as in the original system: INV, 30 days, no auto-charge, reminders 7/3/1 days before. */
export const BillingConfigurationInputSchema = z
  .object({
    currency: z.string().regex(/^[a-z]{3}$/, 'must be an ISO 4217 code in lower case, e.g. eur'),
    taxRate: percent.optional().describe('percent, 0-100'),
    invoicePrefix: z
      .string()
      .regex(/^[A-Z0-9][A-Z0-9-]{0,11}$/, 'must be 1-12 capital letters, digits or dashes')
      .default('INV'),
    paymentTerms: z.number().int().min(0).max(365).default(30).describe('days until an invoice is due'),
    autoCharge: z.boolean().default(false),
    lateFeeRate: percent.optional().describe('percent, 0-100'),
    reminderDays: z
      .array(z.number().int().min(0).max(365))
      .max(10)
      .refine((d) => new Set(d).size === d.length, 'must not repeat a day')
      .default([7, 3, 1])
      .describe('days before the due date a reminder is sent'),
  })
  .strict();
export type BillingConfigurationInput = z.input<typeof BillingConfigurationInputSchema>;

export const BillingConfigurationSchema = z.object({
  currency: z.string(),
  taxRate: z.number().nullable(),
  invoicePrefix: z.string(),
  paymentTerms: z.number().int(),
  autoCharge: z.boolean(),
  lateFeeRate: z.number().nullable(),
  reminderDays: z.array(z.number().int()),
  updatedAt: z.string(),
});
export type BillingConfiguration = z.infer<typeof BillingConfigurationSchema>;

export const PaymentSetupBodySchema = z.object({ stripeAccount: PaymentAccountInputSchema, billingConfiguration: BillingConfigurationInputSchema }).strict();

/** The account's state as Stripe last told us (no key, no secret: Stripe ids and flags only). */
export const PaymentAccountStateSchema = z.object({
  chargesEnabled: z.boolean(),
  payoutsEnabled: z.boolean(),
  detailsSubmitted: z.boolean(),
  currentlyDue: z.array(z.string()),
  pastDue: z.array(z.string()),
  disabledReason: z.string().nullable(),
});
export type PaymentAccountState = z.infer<typeof PaymentAccountStateSchema>;

/** An account can take payments once Stripe enables charges and has the details it asked for. */
export const canCharge = (s: Pick<PaymentAccountState, 'chargesEnabled' | 'detailsSubmitted'>) => s.chargesEnabled && s.detailsSubmitted;

export const PaymentAccountSchema = PaymentAccountStateSchema.extend({
  accountId: StripeAccountIdSchema,
  email: z.string(),
  country: z.string(),
  businessType: z.enum(['individual', 'company']),
  canCharge: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type PaymentAccount = z.infer<typeof PaymentAccountSchema>;

export const AccountLinkSchema = z.object({ url: z.url(), expiresAt: z.string().describe('ISO time after which Stripe refuses the link') });

export const PaymentSetupResponseSchema = z.object({
  /** false: the tenant already had an account; it is returned (setup is idempotent). */
  created: z.boolean(),
  account: PaymentAccountSchema,
  billingConfiguration: BillingConfigurationSchema,
  onboardingUrl: z.url(),
  expiresAt: z.string(),
  message: z.string(),
});

export const PaymentStatusResponseSchema = z.object({
  isConfigured: z.boolean().describe('the tenant has a Stripe account'),
  accountId: StripeAccountIdSchema.nullable(),
  chargesEnabled: z.boolean(),
  payoutsEnabled: z.boolean(),
  detailsSubmitted: z.boolean(),
  canCharge: z.boolean(),
  currentlyDue: z.array(z.string()),
  pastDue: z.array(z.string()),
  /** currentlyDue followed by pastDue (the original API's one list). */
  requirements: z.array(z.string()),
  disabledReason: z.string().nullable(),
  checkedAt: z.string().nullable().describe('when Stripe was last asked (answers are cached briefly)'),
});

export const PaymentAccountResponseSchema = z.object({ account: PaymentAccountSchema.nullable() });
export const BillingConfigResponseSchema = z.object({ billingConfiguration: BillingConfigurationSchema.nullable() });

/** A Stripe event as Stripe posts it; the service reads the raw bytes and checks their signature first. */
export const StripeWebhookBodySchema = z.looseObject({
  id: z.string(),
  type: z.string(),
  created: z.number().int(),
  data: z.looseObject({ object: z.record(z.string(), z.unknown()) }),
});
export const StripeWebhookResponseSchema = z.object({
  received: z.literal(true),
  /** applied | duplicate (this event id was applied before) | stale (older than what we know) | ignored (unknown account or type). */
  outcome: z.enum(['applied', 'duplicate', 'stale', 'ignored']),
});
