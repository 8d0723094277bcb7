import { AuditEventSchema, type AuditEvent } from '@glavito/contracts';
import { readStream, waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountUpdatedEvent, bearer, SECRET_KEY, SETUP_BODY, signed, startHarness, WEBHOOK_SECRET, type Harness } from './helpers.js';

/** Audit records the payment service writes: one per change, in the change's transaction (its outbox), never a secret. */
const ADMIN = { userId: 'ada', tenantId: 'pay-audit', roles: ['admin'] };
const ORIGIN = { 'user-agent': 'pay-audit/1.0', 'x-forwarded-for': '198.51.100.31', 'x-correlation-id': 'corr-pay-1', 'x-request-id': 'req-pay-1' };

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

async function auditEvents(): Promise<AuditEvent[]> {
  const { rows } = await h.db.pool.query("SELECT payload FROM payment.outbox WHERE payload->>'type' = 'audit.recorded' ORDER BY seq");
  return rows.map((r: { payload: unknown }) => AuditEventSchema.parse(r.payload));
}
const ofAction = async (action: string) => (await auditEvents()).filter((e) => e.action === action);
const inject = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown, who = ADMIN) =>
  h.app.inject({ method, url, headers: { ...bearer(who), ...ORIGIN }, ...(payload !== undefined ? { payload: payload as object } : {}) });
const webhook = (payload: unknown) => {
  const s = signed(payload);
  return h.app.inject({
    method: 'POST',
    url: '/onboarding/payment/webhooks/stripe',
    headers: { ...s.headers, 'x-correlation-id': 'corr-stripe-1', 'user-agent': 'Stripe/1.0' },
    payload: s.body,
  });
};
const byAdmin = {
  tenantId: 'pay-audit',
  actor: { subject: 'ada', roles: ['admin'] },
  outcome: { result: 'allowed', code: null },
  requestId: 'req-pay-1',
  correlationId: 'corr-pay-1',
  clientIp: '198.51.100.31',
  userAgent: 'pay-audit/1.0',
};

describe('audit records of the payment service', () => {
  let acct = '';
  let onboardingUrl = '';

  it('a setup that fails at Stripe records nothing; one that succeeds records one payment.setup', async () => {
    h.stripe.failNext({ status: 500, path: /^\/v1\/accounts$/ });
    expect((await inject('POST', '/onboarding/payment/setup', SETUP_BODY)).statusCode).toBe(502);
    expect(await auditEvents()).toEqual([]);

    const res = await inject('POST', '/onboarding/payment/setup', SETUP_BODY);
    expect(res.statusCode, res.body).toBe(201);
    acct = res.json().account.accountId;
    onboardingUrl = res.json().onboardingUrl;
    const [rec, ...more] = await auditEvents();
    expect(more).toEqual([]);
    expect(rec).toMatchObject({
      ...byAdmin,
      action: 'payment.setup',
      target: { type: 'payment_account', id: acct },
      details: { created: true, country: 'FR', businessType: 'company', currency: 'eur' },
    });
  });

  it('setup again (the existing account, new billing values): one more payment.setup, created false', async () => {
    const res = await inject('POST', '/onboarding/payment/setup', { ...SETUP_BODY, billingConfiguration: { currency: 'usd' } });
    expect(res.statusCode, res.body).toBe(200);
    expect((await ofAction('payment.setup')).map((e) => e.details)).toEqual([
      { created: true, country: 'FR', businessType: 'company', currency: 'eur' },
      { created: false, country: 'FR', businessType: 'company', currency: 'usd' },
    ]);
  });

  it('an onboarding link: one payment.account_link naming the account and expiry, never the URL; none before setup', async () => {
    const res = await inject('POST', '/onboarding/payment/account-link');
    expect(res.statusCode, res.body).toBe(201);
    const [rec, ...more] = await ofAction('payment.account_link');
    expect(more).toEqual([]);
    expect(rec).toMatchObject({ ...byAdmin, target: { type: 'payment_account', id: acct }, details: { expiresAt: res.json().expiresAt } });
    expect(JSON.stringify(rec)).not.toContain(res.json().url);

    const other = { userId: 'ned', tenantId: 'pay-audit-none', roles: ['admin'] };
    expect((await inject('POST', '/onboarding/payment/account-link', undefined, other)).statusCode).toBe(409);
    expect(await ofAction('payment.account_link')).toHaveLength(1);
  });

  it('a billing configuration change: one payment.billing_change naming the fields that changed; a refused body none', async () => {
    const res = await inject('PUT', '/onboarding/payment/billing-config', {
      currency: 'usd',
      invoicePrefix: 'ACME-',
      paymentTerms: 14,
      reminderDays: [7, 3, 1],
    });
    expect(res.statusCode, res.body).toBe(200);
    expect((await inject('PUT', '/onboarding/payment/billing-config', { currency: 'usd', taxRate: 120 })).statusCode).toBe(400);
    const [rec, ...more] = await ofAction('payment.billing_change');
    expect(more).toEqual([]);
    // Before it: the second setup's values (usd, INV, 30 days, no tax rate).
    expect(rec).toMatchObject({
      ...byAdmin,
      target: { type: 'billing_configuration', id: 'pay-audit' },
      details: { created: false, changed: ['invoicePrefix', 'paymentTerms'], currency: 'usd' },
    });
  });

  it('Stripe changing the account (webhook): one payment.account_update by the system; a replay, a stale or an unchanged event none', async () => {
    const event = accountUpdatedEvent(
      h.stripe.update(acct, {
        charges_enabled: true,
        details_submitted: true,
        requirements: { currently_due: ['external_account'], past_due: [], disabled_reason: null },
      }),
    );
    expect((await webhook(event)).json()).toEqual({ received: true, outcome: 'applied' });
    expect((await webhook(event)).json()).toEqual({ received: true, outcome: 'duplicate' });
    const stale = accountUpdatedEvent({ ...h.stripe.accounts.get(acct)!, charges_enabled: false }, event.created - 100);
    expect((await webhook(stale)).json()).toEqual({ received: true, outcome: 'stale' });
    // Unchanged, said in the same second (a second later would make the live read of the next test, stamped with
    // the current second, stale whenever it runs within that second).
    const same = accountUpdatedEvent(h.stripe.accounts.get(acct)!, event.created);
    expect((await webhook(same)).json()).toEqual({ received: true, outcome: 'applied' });

    const [rec, ...more] = await ofAction('payment.account_update');
    expect(more).toEqual([]);
    expect(rec).toMatchObject({
      tenantId: 'pay-audit',
      actor: { subject: 'system', roles: [] },
      target: { type: 'payment_account', id: acct },
      outcome: { result: 'allowed', code: null },
      correlationId: 'corr-stripe-1',
      userAgent: 'Stripe/1.0',
      details: {
        via: 'webhook',
        stripeEventId: event.id,
        chargesEnabled: true,
        detailsSubmitted: true,
        canCharge: true,
        currentlyDue: ['external_account'],
        pastDue: [],
        disabledReason: null,
      },
    });
  });

  it('a live status read that finds the account changed: one payment.account_update by the system, carrying the read’s correlation id', async () => {
    h.stripe.update(acct, { payouts_enabled: true, requirements: { currently_due: [], past_due: [], disabled_reason: null } });
    const res = await inject('GET', '/onboarding/payment/status');
    expect(res.statusCode, res.body).toBe(200);
    const updates = await ofAction('payment.account_update');
    expect(updates).toHaveLength(2);
    expect(updates[1]).toMatchObject({
      actor: { subject: 'system', roles: [] },
      correlationId: 'corr-pay-1',
      details: { via: 'live_read', payoutsEnabled: true, currentlyDue: [] },
    });
  });

  it('no secret, e-mail address or link in any record, and each reaches the audit stream once', async () => {
    const all = await auditEvents();
    expect(all.map((e) => e.action)).toEqual([
      'payment.setup',
      'payment.setup',
      'payment.account_link',
      'payment.billing_change',
      'payment.account_update',
      'payment.account_update',
    ]);
    const text = JSON.stringify(all);
    for (const canary of [SECRET_KEY, WEBHOOK_SECRET, 'CANARY', 'billing@acme.test', onboardingUrl]) expect(text).not.toContain(canary);
    const published = await waitFor(
      async () => {
        const got = await readStream(h.nats, h.nats.auditStream);
        return got.length >= all.length ? got : null;
      },
      { message: `${all.length} audit events in the audit stream` },
    );
    expect(published.map((m) => m.event.id).sort()).toEqual(all.map((e) => e.id).sort());
    expect(published.every((m) => m.subject.startsWith(`${h.nats.auditPrefix}.pay-audit.payment.`))).toBe(true);
  });
});
