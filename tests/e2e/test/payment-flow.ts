/**
 * Issue #16's acceptance flow, run against any gateway (the system as processes, and embedded mode in one
 * process): setup → link → Stripe signs `account.updated` → the session's payment_setup completes by itself,
 * with `step_completed` (trigger: stripe) and `progress_update` on the tenant admin's socket, once; then Stripe
 * asks for more (payment_attention_needed) and a successful connection test verifies its channel.
 */
import { PaymentSetupResponseSchema, SessionWithProgressSchema } from '@glavito/contracts';
import { waitFor, type FakeStripe } from '@glavito/testkit';
import Stripe from 'stripe';
import { expect } from 'vitest';
import { WebSocket } from 'ws';

type Frame = { event: string; data: Record<string, unknown> };

export interface PaymentFlowTarget {
  gatewayUrl: string;
  stripe: FakeStripe;
  webhookSecret: string;
  /** A token of the tenant's admin. */
  token: string;
  /** A local HTTP receiver the webhook connection test may reach. */
  hook: string;
}

export async function paymentAcceptance(t: PaymentFlowTarget): Promise<void> {
  const { token, hook } = t;
  const call = async (method: string, path: string, tok: string | null, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${t.gatewayUrl}${path}`, {
      method,
      headers: { ...(tok ? { authorization: `Bearer ${tok}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const stripeWebhook = (event: unknown) => {
    const payload = JSON.stringify(event);
    const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: t.webhookSecret });
    return call('POST', '/onboarding/payment/webhooks/stripe', null, payload, { 'stripe-signature': signature });
  };
  const start = await call('POST', '/onboarding/start', token, { type: 'tenant_setup' });
  const sessionId = SessionWithProgressSchema.parse(start.body).session.id;
  expect((await call('PUT', `/onboarding/step/${sessionId}/organization_setup`, token, { companyName: 'Pay Co', primaryColor: '#123456' })).status).toBe(200);

  const frames: Frame[] = [];
  const ws = new WebSocket(`${t.gatewayUrl.replace('http', 'ws')}/onboarding?token=${encodeURIComponent(token)}`);
  ws.on('message', (raw: Buffer) => frames.push(JSON.parse(raw.toString()) as Frame));
  await waitFor(() => frames.find((f) => f.event === 'connected'), { message: 'socket connected' });

  const setup = await call('POST', '/onboarding/payment/setup', token, {
    stripeAccount: { email: 'billing@pay.test', country: 'FR', businessType: 'company' },
    billingConfiguration: { currency: 'eur' },
  });
  expect(setup.status, JSON.stringify(setup.body)).toBe(201);
  const { account, onboardingUrl } = PaymentSetupResponseSchema.parse(setup.body);
  expect(onboardingUrl).toMatch(/^https:\/\//);
  const link = await call('POST', '/onboarding/payment/account-link', token);
  expect(link.status).toBe(201);
  expect(link.body).toMatchObject({ url: expect.stringMatching(/^https:\/\//), expiresAt: expect.any(String) });

  // The tenant finishes Stripe's onboarding; Stripe says so.
  const enabled = t.stripe.update(account.accountId, {
    charges_enabled: true,
    payouts_enabled: true,
    details_submitted: true,
    requirements: { currently_due: [], past_due: [], disabled_reason: null },
  });
  const event = {
    id: 'evt_e2e_enabled',
    object: 'event',
    type: 'account.updated',
    created: Math.floor(Date.now() / 1000),
    account: account.accountId,
    data: { object: enabled },
  };
  const first = await stripeWebhook(event);
  expect(first).toEqual({ status: 200, body: { received: true, outcome: 'applied' } });
  // Stripe retries: the same event again changes nothing.
  expect((await stripeWebhook(event)).body).toEqual({ received: true, outcome: 'duplicate' });

  const completed = await waitFor(() => frames.find((f) => f.event === 'step_completed' && f.data.stepId === 'payment_setup'), {
    timeoutMs: 20_000,
    message: 'step_completed for payment_setup',
  });
  expect(completed.data).toMatchObject({
    sessionId,
    skipped: false,
    resaved: false,
    trigger: { kind: 'external', source: 'stripe', signal: 'payment.account_updated', ref: account.accountId },
  });
  const session = await waitFor(async () => {
    const s = SessionWithProgressSchema.parse((await call('GET', `/onboarding/session/${sessionId}`, token)).body);
    return s.session.completedSteps.includes('payment_setup') ? s : null;
  });
  expect(session.session.stepData.payment_setup).toEqual({ stripeAccountId: account.accountId });
  // The progress service's push of the state with payment_setup done (its percentage is the session's now).
  const pct = session.progress.progressPercentage;
  await waitFor(() => frames.find((f) => f.event === 'progress_update' && (f.data.progress as { progressPercentage: number }).progressPercentage === pct), {
    timeoutMs: 20_000,
    message: `progress_update at ${pct} %`,
  });
  // Once: wait for anything late, then count.
  await new Promise((r) => setTimeout(r, 1000));
  expect(frames.filter((f) => f.event === 'step_completed' && f.data.stepId === 'payment_setup')).toHaveLength(1);

  // Later Stripe asks for more: the step stays completed, the admin is told, the status shows it.
  const more = t.stripe.update(account.accountId, {
    charges_enabled: false,
    requirements: { currently_due: ['individual.verification.document'], disabled_reason: 'requirements.past_due' },
  });
  expect((await stripeWebhook({ ...event, id: 'evt_e2e_more', created: event.created + 1, data: { object: more } })).body).toMatchObject({
    outcome: 'applied',
  });
  const attention = await waitFor(() => frames.find((f) => f.event === 'payment_attention_needed'), {
    timeoutMs: 20_000,
    message: 'payment_attention_needed push',
  });
  expect(attention.data).toMatchObject({
    sessionId,
    stepId: 'payment_setup',
    accountId: account.accountId,
    currentlyDue: ['individual.verification.document'],
  });
  const status = await call('GET', '/onboarding/status', token);
  const s = status.body.session as { completedSteps: string[]; signals: Record<string, Record<string, { state: string }>> };
  expect(s.completedSteps).toContain('payment_setup');
  expect(s.signals.payment_setup!.stripe!.state).toBe('attention_needed');

  // The second signal: a successful connection test marks its channel verified in channel_configuration.
  const tested = await call('POST', `/onboarding/test-connection/${sessionId}`, token, { channel: 'webhook', config: { url: `${hook}/pay-hook` } });
  expect((tested.body.result as { status: string }).status).toBe('success');
  const verified = await waitFor(async () => {
    const got = SessionWithProgressSchema.parse((await call('GET', `/onboarding/session/${sessionId}`, token)).body).session;
    return got.signals?.channel_configuration?.['channel:webhook'];
  });
  expect(verified).toMatchObject({ state: 'verified', source: 'connection-test', ref: 'webhook' });
  ws.close();
}
