import { ErrorBodySchema, parseEvent, PaymentSetupResponseSchema, PaymentStatusResponseSchema, StripeWebhookResponseSchema } from '@glavito/contracts';
import { readStream, waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountUpdatedEvent, bearer, SECRET_KEY, SETUP_BODY, signed, startHarness, WEBHOOK_SECRET, type Harness } from './helpers.js';

const ADMIN = { userId: 'ada', tenantId: 'tenant-a', roles: ['admin'] };
const AGENT = { userId: 'al', tenantId: 'tenant-a', roles: ['agent'] };
const ADMIN_B = { userId: 'bob', tenantId: 'tenant-b', roles: ['admin'] };

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const setup = (who = ADMIN, body: unknown = SETUP_BODY) =>
  h.app.inject({ method: 'POST', url: '/onboarding/payment/setup', headers: bearer(who), payload: body as object });
const webhook = (payload: unknown, opts: { secret?: string; timestamp?: number } = {}) => {
  const s = signed(payload, opts);
  return h.app.inject({ method: 'POST', url: '/onboarding/payment/webhooks/stripe', headers: s.headers, payload: s.body });
};
const accountRow = async (tenantId: string) => (await h.db.pool.query('SELECT * FROM payment.accounts WHERE tenant_id = $1', [tenantId])).rows[0];
const paymentEvents = async () => (await readStream(h.nats)).filter((e) => e.event.type === 'payment.account_updated').map((e) => parseEvent(e.event));

describe('setup', () => {
  it('creates one Express account with the capabilities, daily payouts and an idempotency key, stores the billing defaults, and links to onboarding', async () => {
    const res = await setup();
    expect(res.statusCode, res.body).toBe(201);
    const body = PaymentSetupResponseSchema.parse(res.json());
    expect(body.created).toBe(true);
    expect(body.account).toMatchObject({ email: 'billing@acme.test', country: 'FR', businessType: 'company', chargesEnabled: false, canCharge: false });
    expect(body.billingConfiguration).toMatchObject({
      currency: 'eur',
      taxRate: 20,
      invoicePrefix: 'INV',
      paymentTerms: 30,
      autoCharge: false,
      lateFeeRate: null,
      reminderDays: [7, 3, 1],
    });
    expect(body.onboardingUrl).toMatch(/^https:\/\/connect\.stripe\.test\//);
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now());

    const create = h.stripe.requests.find((r) => r.path === '/v1/accounts' && r.method === 'POST')!;
    expect(create.body).toMatchObject({
      type: 'express',
      email: 'billing@acme.test',
      country: 'FR',
      business_type: 'company',
      business_profile: { name: 'Acme', url: 'https://acme.test', mcc: '5734', product_description: 'Support software' },
      capabilities: { card_payments: { requested: 'true' }, transfers: { requested: 'true' } },
      settings: { payouts: { schedule: { interval: 'daily' } } },
      metadata: { tenantId: 'tenant-a' },
    });
    const link = h.stripe.requests.find((r) => r.path === '/v1/account_links')!;
    expect(link.body).toMatchObject({
      account: body.account.accountId,
      type: 'account_onboarding',
      return_url: 'https://app.glavito.test/onboarding/payment-setup?success=true',
      refresh_url: 'https://app.glavito.test/onboarding/payment-setup?refresh=true',
    });
    for (const r of h.stripe.requests.filter((x) => x.method === 'POST')) expect(r.idempotencyKey, r.path).toMatch(/^glavito-/);
  });

  it('a second setup returns the existing account (200, created: false), never a second account or a 500', async () => {
    const first = await accountRow('tenant-a');
    const res = await setup(ADMIN, { ...SETUP_BODY, billingConfiguration: { currency: 'usd', paymentTerms: 14 } });
    expect(res.statusCode, res.body).toBe(200);
    const body = PaymentSetupResponseSchema.parse(res.json());
    expect(body).toMatchObject({ created: false, account: { accountId: first.account_id } });
    expect(body.billingConfiguration).toMatchObject({ currency: 'usd', paymentTerms: 14, invoicePrefix: 'INV' });
    expect(h.stripe.accounts.size).toBe(1);
    const all = await Promise.all([setup(), setup(), setup()]);
    expect(all.map((r) => r.statusCode)).toEqual([200, 200, 200]);
    expect(h.stripe.accounts.size).toBe(1);
    expect((await h.db.pool.query('SELECT count(*)::int AS n FROM payment.accounts')).rows[0].n).toBe(1);
  });

  it('refuses bad input with a 400 naming the field, and agents with a 403', async () => {
    const bad = await setup(ADMIN, {
      stripeAccount: { ...SETUP_BODY.stripeAccount, country: 'france' },
      billingConfiguration: { currency: 'EUR', reminderDays: [3, 3] },
    });
    expect(bad.statusCode).toBe(400);
    const fields = (ErrorBodySchema.parse(bad.json()).details as Array<{ field: string }>).map((d) => d.field);
    expect(fields).toEqual(
      expect.arrayContaining(['body.stripeAccount.country', 'body.billingConfiguration.currency', 'body.billingConfiguration.reminderDays']),
    );
    expect((await setup(AGENT)).statusCode).toBe(403);
    expect((await h.app.inject({ method: 'GET', url: '/onboarding/payment/status', headers: bearer(AGENT) })).statusCode).toBe(403);
  });

  it('Stripe answering 5xx: 502 with a clear code, and nothing stored for the tenant', async () => {
    h.stripe.failNext({ status: 500, path: /^\/v1\/accounts$/ });
    const res = await setup({ userId: 'cy', tenantId: 'tenant-c', roles: ['admin'] });
    expect(res.statusCode).toBe(502);
    expect(res.json()).toMatchObject({ code: 'PAYMENT_PROVIDER_ERROR' });
    expect(await accountRow('tenant-c')).toBeUndefined();
    expect((await h.db.pool.query("SELECT count(*)::int AS n FROM payment.billing_configs WHERE tenant_id = 'tenant-c'")).rows[0].n).toBe(0);
  });

  it('Stripe down: 503 with a clear code and nothing stored; once back, setup works and makes one account', async () => {
    const before = h.stripe.accounts.size;
    await h.stripe.pause();
    try {
      const res = await setup({ userId: 'dee', tenantId: 'tenant-d', roles: ['admin'] });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ code: 'PAYMENT_PROVIDER_UNAVAILABLE' });
      expect(await accountRow('tenant-d')).toBeUndefined();
    } finally {
      await h.stripe.resume();
    }
    expect((await setup({ userId: 'dee', tenantId: 'tenant-d', roles: ['admin'] })).statusCode).toBe(201);
    expect(h.stripe.accounts.size).toBe(before + 1);
  });

  it('the link failing after the account was made: 502, the account is kept, and the retry returns it with a link', async () => {
    const who = { userId: 'eve', tenantId: 'tenant-e', roles: ['admin'] };
    h.stripe.failNext({ status: 503, path: /account_links/ });
    const res = await setup(who);
    expect(res.statusCode).toBe(502);
    const stored = await accountRow('tenant-e');
    expect(stored.account_id).toMatch(/^acct_/);
    const again = await setup(who);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ created: false, account: { accountId: stored.account_id } });
  });

  it('Stripe refusing a parameter is a 422 naming it', async () => {
    const res = await setup(
      { userId: 'fay', tenantId: 'tenant-f', roles: ['admin'] },
      { ...SETUP_BODY, stripeAccount: { ...SETUP_BODY.stripeAccount, country: 'ZZ' } },
    );
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ code: 'PAYMENT_PROVIDER_REJECTED', details: [{ field: 'stripeAccount.country' }] });
    expect(await accountRow('tenant-f')).toBeUndefined();
  });
});

describe('status, account, link, billing configuration', () => {
  it('status is live from Stripe and cached briefly', async () => {
    const acct = (await accountRow('tenant-a')).account_id as string;
    h.stripe.update(acct, { payouts_enabled: true, requirements: { currently_due: ['external_account'], past_due: ['tos_acceptance.date'] } });
    const res = await h.app.inject({ method: 'GET', url: '/onboarding/payment/status', headers: bearer(ADMIN) });
    expect(res.statusCode, res.body).toBe(200);
    expect(PaymentStatusResponseSchema.parse(res.json())).toMatchObject({
      isConfigured: true,
      accountId: acct,
      payoutsEnabled: true,
      chargesEnabled: false,
      currentlyDue: ['external_account'],
      pastDue: ['tos_acceptance.date'],
      requirements: ['external_account', 'tos_acceptance.date'],
    });
    const reads = () => h.stripe.requests.filter((r) => r.method === 'GET' && r.path === `/v1/accounts/${acct}`).length;
    const n = reads();
    await h.app.inject({ method: 'GET', url: '/onboarding/payment/status', headers: bearer(ADMIN) });
    expect(reads()).toBe(n);
    const other = await h.app.inject({ method: 'GET', url: '/onboarding/payment/status', headers: bearer(ADMIN_B) });
    expect(other.json()).toMatchObject({ isConfigured: false, accountId: null });
  });

  it('account-link: a fresh link with its expiry; 409 before setup', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/onboarding/payment/account-link', headers: bearer(ADMIN) });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ url: expect.stringMatching(/^https:\/\//), expiresAt: expect.any(String) });
    const none = await h.app.inject({ method: 'POST', url: '/onboarding/payment/account-link', headers: bearer(ADMIN_B) });
    expect(none.statusCode).toBe(409);
    expect(none.json()).toMatchObject({ code: 'PAYMENT_ACCOUNT_MISSING' });
  });

  it('account and billing-config: own tenant only, null before setup; PUT validated', async () => {
    const own = await h.app.inject({ method: 'GET', url: '/onboarding/payment/account', headers: bearer(ADMIN) });
    expect(own.json().account.accountId).toMatch(/^acct_/);
    expect((await h.app.inject({ method: 'GET', url: '/onboarding/payment/account', headers: bearer(ADMIN_B) })).json()).toEqual({ account: null });
    expect((await h.app.inject({ method: 'GET', url: '/onboarding/payment/billing-config', headers: bearer(ADMIN_B) })).json()).toEqual({
      billingConfiguration: null,
    });

    const put = await h.app.inject({
      method: 'PUT',
      url: '/onboarding/payment/billing-config',
      headers: bearer(ADMIN),
      payload: { currency: 'gbp', invoicePrefix: 'ACME-', lateFeeRate: 1.5, reminderDays: [10, 2] },
    });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json().billingConfiguration).toMatchObject({
      currency: 'gbp',
      invoicePrefix: 'ACME-',
      paymentTerms: 30,
      autoCharge: false,
      lateFeeRate: 1.5,
      reminderDays: [10, 2],
      taxRate: null,
    });
    const bad = await h.app.inject({
      method: 'PUT',
      url: '/onboarding/payment/billing-config',
      headers: bearer(ADMIN),
      payload: { currency: 'gbp', taxRate: 120, paymentTerms: -1, extra: 1 },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().details.map((d: { field: string }) => d.field)).toEqual(expect.arrayContaining(['body.taxRate', 'body.paymentTerms']));
    expect(
      (await h.app.inject({ method: 'GET', url: '/onboarding/payment/billing-config', headers: bearer(ADMIN) })).json().billingConfiguration.currency,
    ).toBe('gbp');
  });
});

describe('webhooks', () => {
  let acct: string;
  beforeAll(async () => {
    acct = (await accountRow('tenant-a')).account_id;
  });

  it('a bad or stale signature is a 400 and changes nothing', async () => {
    const state = await accountRow('tenant-a');
    const event = accountUpdatedEvent(h.stripe.update(acct, { charges_enabled: true, details_submitted: true }));
    const wrong = await webhook(event, { secret: 'whsec_someoneElse' });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json()).toMatchObject({ code: 'PAYMENT_WEBHOOK_SIGNATURE_INVALID' });
    const stale = await webhook(event, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    expect(stale.statusCode).toBe(400);
    const unsigned = await h.app.inject({
      method: 'POST',
      url: '/onboarding/payment/webhooks/stripe',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(event),
    });
    expect(unsigned.statusCode).toBe(400);
    // The body changed after signing: the signature covers the raw bytes.
    const s = signed(event);
    const tampered = await h.app.inject({
      method: 'POST',
      url: '/onboarding/payment/webhooks/stripe',
      headers: s.headers,
      payload: s.body.replace('"charges_enabled":true', '"charges_enabled":false'),
    });
    expect(tampered.statusCode).toBe(400);
    expect(await accountRow('tenant-a')).toEqual(state);
    expect((await h.db.pool.query('SELECT count(*)::int AS n FROM payment.webhook_events')).rows[0].n).toBe(0);
  });

  it('account.updated applies once (replays are duplicates) and publishes payment.account_updated through the outbox', async () => {
    const event = accountUpdatedEvent(
      h.stripe.update(acct, { charges_enabled: true, details_submitted: true, requirements: { currently_due: [], past_due: [], disabled_reason: null } }),
    );
    const first = await webhook(event);
    expect(first.statusCode, first.body).toBe(200);
    expect(StripeWebhookResponseSchema.parse(first.json())).toEqual({ received: true, outcome: 'applied' });
    for (let i = 0; i < 3; i++) expect((await webhook(event)).json()).toEqual({ received: true, outcome: 'duplicate' });
    expect(await accountRow('tenant-a')).toMatchObject({ charges_enabled: true, details_submitted: true });
    const events = await waitFor(async () => {
      const e = (await paymentEvents()).filter((x) => (x.data as { stripeEventId: string }).stripeEventId === event.id);
      return e.length > 0 ? e : null;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect((await paymentEvents()).filter((x) => (x.data as { stripeEventId: string }).stripeEventId === event.id)).toHaveLength(1);
    expect(events[0]).toMatchObject({ tenantId: 'tenant-a', sessionId: acct, userId: 'ada', data: { accountId: acct, canCharge: true, chargesEnabled: true } });
  });

  it('events out of order never move the state backwards', async () => {
    const t = Math.floor(Date.now() / 1000) + 100;
    const newer = accountUpdatedEvent(h.stripe.update(acct, { requirements: { currently_due: ['individual.verification.document'], past_due: [] } }), t + 10);
    const older = accountUpdatedEvent({ ...h.stripe.accounts.get(acct)!, charges_enabled: false, details_submitted: false }, t);
    expect((await webhook(newer)).json().outcome).toBe('applied');
    expect((await webhook(older)).json().outcome).toBe('stale');
    expect(await accountRow('tenant-a')).toMatchObject({ charges_enabled: true, details_submitted: true, currently_due: ['individual.verification.document'] });
  });

  it("the tenant comes from our account mapping: another tenant's account event changes only that tenant, whatever its metadata says", async () => {
    await setup(ADMIN_B);
    const acctB = (await accountRow('tenant-b')).account_id as string;
    const a = await accountRow('tenant-a');
    const spoof = accountUpdatedEvent(
      { ...h.stripe.update(acctB, { charges_enabled: true, details_submitted: true }), metadata: { tenantId: 'tenant-a' } },
      Math.floor(Date.now() / 1000) + 200,
    );
    expect((await webhook(spoof)).json().outcome).toBe('applied');
    expect(await accountRow('tenant-a')).toEqual(a);
    expect(await accountRow('tenant-b')).toMatchObject({ charges_enabled: true });
    const ev = await waitFor(async () => (await paymentEvents()).find((e) => (e.data as { stripeEventId: string }).stripeEventId === spoof.id));
    expect(ev).toMatchObject({ tenantId: 'tenant-b', userId: 'bob' });
  });

  it('unknown accounts and other event types are acknowledged, ignored and counted', async () => {
    const unknown = accountUpdatedEvent({ ...h.stripe.accounts.get(acct)!, id: 'acct_unknown000' });
    expect((await webhook(unknown)).json()).toEqual({ received: true, outcome: 'ignored' });
    expect(
      (await webhook({ id: 'evt_other1', object: 'event', type: 'payout.paid', created: 1, data: { object: { id: 'po_1', object: 'payout' } } })).json(),
    ).toEqual({ received: true, outcome: 'ignored' });
    const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/payment_webhook_events_total\{[^}]*type="account.updated"[^}]*outcome="unknown_account"[^}]*\} 1/);
    expect(metrics.body).toMatch(/payment_webhook_events_total\{[^}]*type="payout.paid"[^}]*outcome="event_type"[^}]*\} 1/);
  });
});

describe('secrets', () => {
  it('the Stripe key and webhook secret never show in answers, logs, events or rows', async () => {
    const answers = await Promise.all(
      ['/onboarding/payment/status', '/onboarding/payment/account', '/onboarding/payment/billing-config'].map((url) =>
        h.app.inject({ method: 'GET', url, headers: bearer(ADMIN) }),
      ),
    );
    await h.stripe.pause();
    answers.push(await setup({ userId: 'gil', tenantId: 'tenant-g', roles: ['admin'] }));
    await h.stripe.resume();
    h.stripe.failNext({ status: 401 });
    const refused = await setup({ userId: 'hal', tenantId: 'tenant-h', roles: ['admin'] });
    expect(refused.json()).toMatchObject({ statusCode: 503, code: 'PAYMENT_PROVIDER_AUTH_FAILED' });
    answers.push(refused);
    const stream = JSON.stringify(await readStream(h.nats));
    const rows = JSON.stringify(
      (
        await h.db.pool.query(
          'SELECT (SELECT json_agg(a) FROM payment.accounts a) AS a, (SELECT json_agg(o) FROM payment.outbox o) AS o, (SELECT json_agg(w) FROM payment.webhook_events w) AS w',
        )
      ).rows,
    );
    for (const canary of [SECRET_KEY, WEBHOOK_SECRET, 'CANARY']) {
      for (const r of answers) expect(r.body).not.toContain(canary);
      expect(h.logs.join('')).not.toContain(canary);
      expect(stream).not.toContain(canary);
      expect(rows).not.toContain(canary);
    }
  });
});

describe('without Stripe configured', () => {
  let bare: Harness;
  beforeAll(async () => {
    bare = await startHarness({ STRIPE_SECRET_KEY: '', STRIPE_WEBHOOK_SECRET: '' });
  });
  afterAll(async () => {
    await bare?.close();
  });

  it('every payment route answers 503 naming the variable to set; health stays ready', async () => {
    for (const [method, url] of [
      ['POST', '/onboarding/payment/setup'],
      ['GET', '/onboarding/payment/status'],
      ['POST', '/onboarding/payment/account-link'],
      ['GET', '/onboarding/payment/account'],
      ['GET', '/onboarding/payment/billing-config'],
      ['PUT', '/onboarding/payment/billing-config'],
    ] as const) {
      const res = await bare.app.inject({ method, url, headers: bearer(ADMIN), ...(method !== 'GET' ? { payload: {} } : {}) });
      expect(res.statusCode, `${method} ${url}`).toBe(503);
      expect(res.json()).toMatchObject({ code: 'PAYMENT_STRIPE_NOT_CONFIGURED', message: expect.stringContaining('STRIPE_SECRET_KEY') });
    }
    const hook = await bare.app.inject({
      method: 'POST',
      url: '/onboarding/payment/webhooks/stripe',
      headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' },
      payload: '{}',
    });
    expect(hook.statusCode).toBe(503);
    expect(hook.json().message).toContain('STRIPE_WEBHOOK_SECRET');
    expect((await bare.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
  });
});
