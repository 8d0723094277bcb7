/**
 * Issue #16's acceptance, through the gateway: payment setup → account link → Stripe signs `account.updated`
 * (the tenant finished Stripe's onboarding) → the session's payment_setup completes by itself, with
 * `step_completed` (trigger: stripe) and `progress_update` on the tenant admin's socket, once. Stripe is a
 * local server speaking its API, reached by the real SDK; webhooks are signed with the SDK's test helper.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentAcceptance } from './payment-flow.js';
import { startSystem, TEST_STRIPE_WEBHOOK_SECRET, type System } from './system.js';

let sys: System;
let receiver: http.Server;
let hook = '';
beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    req.resume();
    res.writeHead(204).end();
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  sys = await startSystem({ logLevel: 'warn' });
});
afterAll(async () => {
  await sys?.stop();
  receiver?.close();
});

const ADMIN = { userId: 'pay-admin', tenantId: 'pay-tenant', roles: ['admin'] };

async function call(method: string, path: string, token: string | null, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${sys.gateway.url}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('payment setup completes the payment step by itself', () => {
  it('setup → link → signed account.updated → payment_setup completed with step_completed and progress_update on the admin socket, once', async () => {
    await paymentAcceptance({ gatewayUrl: sys.gateway.url, stripe: sys.stripe!, webhookSecret: TEST_STRIPE_WEBHOOK_SECRET, token: sys.token(ADMIN), hook });
  });

  it('a bad signature is a 400 through the gateway and changes nothing', async () => {
    const payload = JSON.stringify({ id: 'evt_forged', type: 'account.updated', created: 1, data: { object: {} } });
    const forged = Stripe.webhooks.generateTestHeaderString({ payload, secret: 'whsec_notOurs' });
    const r = await call('POST', '/onboarding/payment/webhooks/stripe', null, payload, { 'stripe-signature': forged });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ code: 'PAYMENT_WEBHOOK_SIGNATURE_INVALID' });
    const { rows } = await sys.db.pool.query("SELECT count(*)::int AS n FROM payment.webhook_events WHERE event_id = 'evt_forged'");
    expect(rows[0].n).toBe(0);
  });
});
