import { buildAuditEvent, buildEnvelope, type AuditInput } from '@glavito/bus';
import { enqueue, outboxArrays, outboxInsertSql, type OutboxRow, toAuditOutboxRow, toOutboxRow, writeAuditEvent } from '@glavito/outbox';
import { canCharge, type BillingConfiguration, type PaymentAccount, type PaymentAccountState } from '@glavito/contracts';
import { inTransaction, type Pool, type PoolClient } from '@glavito/db';
import type { AuditRequestContext } from '@glavito/http';
import type { accounts, billingConfigs } from '../db/schema.js';

type Queryable = Pool | PoolClient;

export type AccountRow = typeof accounts.$inferSelect;
type BillingRow = typeof billingConfigs.$inferSelect;

const ACCOUNT_COLUMNS = `tenant_id AS "tenantId", account_id AS "accountId", created_by AS "createdBy", email, country, business_type AS "businessType",
  charges_enabled AS "chargesEnabled", payouts_enabled AS "payoutsEnabled", details_submitted AS "detailsSubmitted",
  currently_due AS "currentlyDue", past_due AS "pastDue", disabled_reason AS "disabledReason", state_at::float8 AS "stateAt",
  event_seq AS "eventSeq", created_at AS "createdAt", updated_at AS "updatedAt"`;
const BILLING_COLUMNS = `tenant_id AS "tenantId", currency, tax_rate AS "taxRate", invoice_prefix AS "invoicePrefix", payment_terms AS "paymentTerms",
  auto_charge AS "autoCharge", late_fee_rate AS "lateFeeRate", reminder_days AS "reminderDays", updated_at AS "updatedAt", updated_by AS "updatedBy"`;

export function toAccount(r: AccountRow): PaymentAccount {
  return {
    accountId: r.accountId,
    email: r.email,
    country: r.country,
    businessType: r.businessType as PaymentAccount['businessType'],
    chargesEnabled: r.chargesEnabled,
    payoutsEnabled: r.payoutsEnabled,
    detailsSubmitted: r.detailsSubmitted,
    currentlyDue: r.currentlyDue,
    pastDue: r.pastDue,
    disabledReason: r.disabledReason,
    canCharge: canCharge(r),
    createdAt: new Date(r.createdAt).toISOString(),
    updatedAt: new Date(r.updatedAt).toISOString(),
  };
}

export function toBilling(r: BillingRow): BillingConfiguration {
  return {
    currency: r.currency,
    taxRate: r.taxRate,
    invoicePrefix: r.invoicePrefix,
    paymentTerms: r.paymentTerms,
    autoCharge: r.autoCharge,
    lateFeeRate: r.lateFeeRate,
    reminderDays: r.reminderDays,
    updatedAt: new Date(r.updatedAt).toISOString(),
  };
}

export interface BillingValues {
  currency: string;
  taxRate?: number;
  invoicePrefix: string;
  paymentTerms: number;
  autoCharge: boolean;
  lateFeeRate?: number;
  reminderDays: number[];
}

const sameState = (a: PaymentAccountState, b: PaymentAccountState) =>
  a.chargesEnabled === b.chargesEnabled &&
  a.payoutsEnabled === b.payoutsEnabled &&
  a.detailsSubmitted === b.detailsSubmitted &&
  a.disabledReason === b.disabledReason &&
  JSON.stringify(a.currentlyDue) === JSON.stringify(b.currentlyDue) &&
  JSON.stringify(a.pastDue) === JSON.stringify(b.pastDue);

/** Billing fields an audit record names when they change (names only; the values are in the configuration). */
const BILLING_FIELDS = ['currency', 'taxRate', 'invoicePrefix', 'paymentTerms', 'autoCharge', 'lateFeeRate', 'reminderDays'] as const;

/** Who asked and from where; without one (a job), the actor is `system`. */
export type AuditOrigin = AuditRequestContext;
const SYSTEM: AuditOrigin = { actor: { subject: 'system', roles: [] }, requestId: null, correlationId: null, clientIp: null, userAgent: null };

export type ApplyOutcome = 'applied' | 'unchanged' | 'stale';
export type WebhookOutcome = { outcome: 'applied' | 'duplicate' | 'stale' | 'ignored'; reason?: string; tenantId?: string };

export interface PaymentRepositoryOptions {
  subjectPrefix: string;
  publishCommitted: (rows: OutboxRow[]) => void;
  /** Subject prefix of audit events: each change's record goes into the outbox in the change's transaction. */
  auditSubjectPrefix?: string;
}

export function createPaymentRepository(pool: Pool, opts: PaymentRepositoryOptions) {
  const auditRow = (input: AuditInput): OutboxRow[] => (opts.auditSubjectPrefix ? [toAuditOutboxRow(opts.auditSubjectPrefix, buildAuditEvent(input))] : []);

  /** `work` in one transaction; its events are published once it has committed. */
  async function committing<T>(work: (client: PoolClient) => Promise<{ result: T; events?: OutboxRow[] }>): Promise<T> {
    const { result, events = [] } = await inTransaction({ pool }, work);
    opts.publishCommitted(events);
    return result;
  }

  async function accountByTenant(db: Queryable, tenantId: string, lock = false): Promise<AccountRow | null> {
    const { rows } = await db.query<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM payment.accounts WHERE tenant_id = $1${lock ? ' FOR UPDATE' : ''}`, [tenantId]);
    return rows[0] ?? null;
  }

  async function upsertBilling(db: Queryable, tenantId: string, b: BillingValues, userId: string, now: string): Promise<BillingRow> {
    const { rows } = await db.query<BillingRow>(
      `INSERT INTO payment.billing_configs (tenant_id, currency, tax_rate, invoice_prefix, payment_terms, auto_charge, late_fee_rate, reminder_days, updated_at, updated_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::int[], $9, $10)
       ON CONFLICT (tenant_id) DO UPDATE SET currency = EXCLUDED.currency, tax_rate = EXCLUDED.tax_rate, invoice_prefix = EXCLUDED.invoice_prefix,
         payment_terms = EXCLUDED.payment_terms, auto_charge = EXCLUDED.auto_charge, late_fee_rate = EXCLUDED.late_fee_rate,
         reminder_days = EXCLUDED.reminder_days, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
       RETURNING ${BILLING_COLUMNS}`,
      [tenantId, b.currency, b.taxRate ?? null, b.invoicePrefix, b.paymentTerms, b.autoCharge, b.lateFeeRate ?? null, b.reminderDays, now, userId],
    );
    return rows[0]!;
  }

  /**
   * Stores what Stripe said about an account when it is news: said at `stateAt` (seconds), not older than what
   * is stored (out-of-order webhooks never move the state back), and different from it. A change writes its
   * payment.account_updated event in the same transaction.
   */
  async function applyState(
    client: PoolClient,
    current: AccountRow,
    state: PaymentAccountState,
    source: { stateAt: number; stripeEventId: string; correlationId: string; now: string; via: 'webhook' | 'live_read'; origin?: AuditOrigin },
  ): Promise<{ outcome: ApplyOutcome; events: OutboxRow[] }> {
    if (source.stateAt < current.stateAt) return { outcome: 'stale', events: [] };
    if (sameState(current, state)) {
      await client.query('UPDATE payment.accounts SET state_at = GREATEST(state_at, $2) WHERE tenant_id = $1', [current.tenantId, source.stateAt]);
      return { outcome: 'unchanged', events: [] };
    }
    const seq = current.eventSeq + 1;
    const row = toOutboxRow(
      opts.subjectPrefix,
      buildEnvelope({
        type: 'payment.account_updated',
        tenantId: current.tenantId,
        sessionId: current.accountId,
        userId: current.createdBy,
        sessionSeq: seq,
        correlationId: source.correlationId,
        data: { accountId: current.accountId, ...state, canCharge: canCharge(state), stripeEventId: source.stripeEventId, stripeCreated: source.stateAt },
      }),
    );
    // Stripe changed the account: recorded as the system's doing (whoever's request brought the news), names only.
    const audit = auditRow({
      ...(source.origin ?? SYSTEM),
      actor: SYSTEM.actor,
      tenantId: current.tenantId,
      action: 'payment.account_update',
      target: { type: 'payment_account', id: current.accountId },
      outcome: { result: 'allowed', code: null },
      details: {
        via: source.via,
        stripeEventId: source.stripeEventId,
        chargesEnabled: state.chargesEnabled,
        payoutsEnabled: state.payoutsEnabled,
        detailsSubmitted: state.detailsSubmitted,
        canCharge: canCharge(state),
        currentlyDue: state.currentlyDue.slice(0, 50).map((r) => r.slice(0, 256)),
        pastDue: state.pastDue.slice(0, 50).map((r) => r.slice(0, 256)),
        disabledReason: state.disabledReason,
      },
    });
    const rows = [row, ...audit];
    await client.query(
      `WITH upd AS (
         UPDATE payment.accounts SET charges_enabled = $2, payouts_enabled = $3, details_submitted = $4, currently_due = $5::text[], past_due = $6::text[],
           disabled_reason = $7, state_at = $8, event_seq = $9, updated_at = $10
         WHERE tenant_id = $1 RETURNING tenant_id
       )
       ${outboxInsertSql('payment', ['$11', '$12', '$13'], { publishedBy: 'direct', after: 'upd' })}`,
      [
        current.tenantId,
        state.chargesEnabled,
        state.payoutsEnabled,
        state.detailsSubmitted,
        state.currentlyDue,
        state.pastDue,
        state.disabledReason,
        source.stateAt,
        seq,
        source.now,
        ...outboxArrays(rows),
      ],
    );
    return { outcome: 'applied', events: rows };
  }

  return {
    accountByTenant: (tenantId: string) => accountByTenant(pool, tenantId),

    async billing(tenantId: string): Promise<BillingRow | null> {
      const { rows } = await pool.query<BillingRow>(`SELECT ${BILLING_COLUMNS} FROM payment.billing_configs WHERE tenant_id = $1`, [tenantId]);
      return rows[0] ?? null;
    },

    /** Sets the billing configuration; the change and its record (the fields that changed, by name) commit together. */
    async putBilling(tenantId: string, b: BillingValues, userId: string, now: string, origin?: AuditOrigin): Promise<BillingRow> {
      return committing<BillingRow>(async (client) => {
        const before = (await client.query<BillingRow>(`SELECT ${BILLING_COLUMNS} FROM payment.billing_configs WHERE tenant_id = $1 FOR UPDATE`, [tenantId]))
          .rows[0];
        const after = await upsertBilling(client, tenantId, b, userId, now);
        const changed = BILLING_FIELDS.filter((f) => !before || JSON.stringify(before[f]) !== JSON.stringify(after[f]));
        const events = auditRow({
          ...(origin ?? SYSTEM),
          tenantId,
          action: 'payment.billing_change',
          target: { type: 'billing_configuration', id: tenantId },
          outcome: { result: 'allowed', code: null },
          details: { created: !before, changed: [...changed], currency: after.currency },
        });
        await enqueue(client, 'payment', events, { publishedBy: 'direct' });
        return { result: after, events };
      });
    },

    /**
     * The record of an action that changes nothing stored here (an onboarding link made at Stripe), in its own
     * statement: the caller hands out the result only once it is committed.
     */
    async recordAudit(input: AuditInput): Promise<void> {
      if (!opts.auditSubjectPrefix) return;
      await writeAuditEvent(pool, { publishCommitted: opts.publishCommitted }, { schema: 'payment', subjectPrefix: opts.auditSubjectPrefix }, input);
    },

    /**
     * Setup under a per-tenant lock: the existing account, or the one `create` makes at Stripe, stored with the
     * billing configuration in one transaction. A failed Stripe call rolls everything back: nothing half-made.
     */
    async setup(
      tenantId: string,
      userId: string,
      billing: BillingValues,
      now: string,
      create: () => Promise<PaymentAccountState & { accountId: string; email: string; country: string; businessType: string }>,
      origin?: AuditOrigin,
    ): Promise<{ created: boolean; account: AccountRow; billing: BillingRow }> {
      const setupAudit = async (client: PoolClient, account: AccountRow, saved: BillingRow, created: boolean): Promise<OutboxRow[]> => {
        const events = auditRow({
          ...(origin ?? SYSTEM),
          tenantId,
          action: 'payment.setup',
          target: { type: 'payment_account', id: account.accountId },
          outcome: { result: 'allowed', code: null },
          details: { created, country: account.country, businessType: account.businessType, currency: saved.currency },
        });
        await enqueue(client, 'payment', events, { publishedBy: 'direct' });
        return events;
      };
      return committing<{ created: boolean; account: AccountRow; billing: BillingRow }>(async (client) => {
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`payment-setup:${tenantId}`]);
        const existing = await accountByTenant(client, tenantId);
        if (existing) {
          const saved = await upsertBilling(client, tenantId, billing, userId, now);
          return { result: { created: false, account: existing, billing: saved }, events: await setupAudit(client, existing, saved, false) };
        }
        const made = await create();
        const { rows } = await client.query<AccountRow>(
          `INSERT INTO payment.accounts (tenant_id, account_id, created_by, email, country, business_type, charges_enabled, payouts_enabled, details_submitted,
             currently_due, past_due, disabled_reason, state_at, event_seq, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text[], $11::text[], $12, $13, 0, $14, $14)
           RETURNING ${ACCOUNT_COLUMNS}`,
          [
            tenantId,
            made.accountId,
            userId,
            made.email,
            made.country,
            made.businessType,
            made.chargesEnabled,
            made.payoutsEnabled,
            made.detailsSubmitted,
            made.currentlyDue,
            made.pastDue,
            made.disabledReason,
            Math.floor(Date.parse(now) / 1000),
            now,
          ],
        );
        const saved = await upsertBilling(client, tenantId, billing, userId, now);
        return { result: { created: true, account: rows[0]!, billing: saved }, events: await setupAudit(client, rows[0]!, saved, true) };
      });
    },

    /** A live read from Stripe, stored when it is newer news than what we have (it may complete a step elsewhere). */
    async applyLiveState(
      tenantId: string,
      state: PaymentAccountState,
      at: { stateAt: number; now: string; correlationId: string; origin?: AuditOrigin },
    ): Promise<{ account: AccountRow | null; outcome: ApplyOutcome | 'missing' }> {
      return committing<{ account: AccountRow | null; outcome: ApplyOutcome | 'missing' }>(async (client) => {
        const current = await accountByTenant(client, tenantId, true);
        if (!current) return { result: { account: null, outcome: 'missing' as const } };
        const { outcome, events } = await applyState(client, current, state, { ...at, stripeEventId: `live:${at.stateAt}`, via: 'live_read' });
        return { result: { account: await accountByTenant(client, tenantId), outcome }, events };
      });
    },

    /**
     * One webhook event, once: its id goes into the inbox in the same transaction as what it changes. The account
     * (and so the tenant) is found from our own mapping of account ids, never from the event's data.
     */
    async applyWebhook(
      event: { id: string; type: string; accountId: string | null; created: number; state: PaymentAccountState | null },
      at: { now: string; correlationId: string; origin?: AuditOrigin },
    ): Promise<WebhookOutcome> {
      return committing<WebhookOutcome>(async (client) => {
        const fresh = await client.query(
          `INSERT INTO payment.webhook_events (event_id, type, account_id, outcome) VALUES ($1, $2, $3, 'received') ON CONFLICT (event_id) DO NOTHING`,
          [event.id, event.type, event.accountId],
        );
        if (fresh.rowCount === 0) return { result: { outcome: 'duplicate' as const } };
        const settle = async (outcome: 'applied' | 'stale' | 'ignored', reason?: string, tenantId?: string): Promise<WebhookOutcome> => {
          await client.query('UPDATE payment.webhook_events SET outcome = $2 WHERE event_id = $1', [event.id, reason ? `${outcome}:${reason}` : outcome]);
          return { outcome, ...(reason ? { reason } : {}), ...(tenantId ? { tenantId } : {}) };
        };
        if (event.type !== 'account.updated' || !event.state || !event.accountId) return { result: await settle('ignored', 'event_type') };
        const { rows } = await client.query<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM payment.accounts WHERE account_id = $1 FOR UPDATE`, [event.accountId]);
        const current = rows[0];
        if (!current) return { result: await settle('ignored', 'unknown_account') };
        const { outcome, events } = await applyState(client, current, event.state, { stateAt: event.created, stripeEventId: event.id, ...at, via: 'webhook' });
        return { result: await settle(outcome === 'stale' ? 'stale' : 'applied', outcome === 'unchanged' ? 'unchanged' : undefined, current.tenantId), events };
      });
    },
  };
}
export type PaymentRepository = ReturnType<typeof createPaymentRepository>;
