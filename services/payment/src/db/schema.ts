import { sql } from 'drizzle-orm';
import { bigint, boolean, doublePrecision, index, integer, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import { outboxTable } from '@glavito/outbox';

export const paymentSchema = pgSchema('payment');
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'string' });

/** One Stripe connected account per tenant: our mapping account → tenant, and its state as Stripe last said. */
export const accounts = paymentSchema.table('accounts', {
  tenantId: text('tenant_id').primaryKey(),
  accountId: text('account_id').notNull().unique(),
  /** The admin who set it up (the userId of its events). */
  createdBy: text('created_by').notNull(),
  email: text('email').notNull(),
  country: text('country').notNull(),
  businessType: text('business_type').notNull(),
  chargesEnabled: boolean('charges_enabled').notNull().default(false),
  payoutsEnabled: boolean('payouts_enabled').notNull().default(false),
  detailsSubmitted: boolean('details_submitted').notNull().default(false),
  currentlyDue: text('currently_due')
    .array()
    .notNull()
    .default(sql`'{}'::text[]`),
  pastDue: text('past_due')
    .array()
    .notNull()
    .default(sql`'{}'::text[]`),
  disabledReason: text('disabled_reason'),
  /** When Stripe said what is stored (seconds; a webhook's `created` or a live read): older news is not applied. */
  stateAt: bigint('state_at', { mode: 'number' }).notNull(),
  /** Sequence of this account's payment.account_updated events. */
  eventSeq: integer('event_seq').notNull().default(0),
  createdAt: ts('created_at').notNull(),
  updatedAt: ts('updated_at').notNull(),
});

export const billingConfigs = paymentSchema.table('billing_configs', {
  tenantId: text('tenant_id').primaryKey(),
  currency: text('currency').notNull(),
  taxRate: doublePrecision('tax_rate'),
  invoicePrefix: text('invoice_prefix').notNull(),
  paymentTerms: integer('payment_terms').notNull(),
  autoCharge: boolean('auto_charge').notNull(),
  lateFeeRate: doublePrecision('late_fee_rate'),
  reminderDays: integer('reminder_days').array().notNull(),
  updatedAt: ts('updated_at').notNull(),
  updatedBy: text('updated_by').notNull(),
});

/** Inbox: each Stripe event id is applied once, whatever Stripe redelivers. */
export const webhookEvents = paymentSchema.table(
  'webhook_events',
  {
    eventId: text('event_id').primaryKey(),
    type: text('type').notNull(),
    accountId: text('account_id'),
    outcome: text('outcome').notNull(),
    receivedAt: ts('received_at').notNull().defaultNow(),
  },
  (t) => [index('webhook_events_received').on(t.receivedAt)],
);

/** The outbox (its DDL is @glavito/outbox's outboxMigration, run after the drizzle migrations). */
export const outbox = outboxTable(paymentSchema);
