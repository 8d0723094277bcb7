import { Writable } from 'node:stream';
import { mintToken } from '@glavito/auth';
import {
  createTestDatabase,
  createTestNats,
  serviceTestEnv,
  startFakeStripe,
  TEST_JWT_SECRET,
  type FakeStripe,
  type FakeStripeAccount,
  type TestDatabase,
  type TestNats,
} from '@glavito/testkit';
import type { FastifyInstance } from 'fastify';
import Stripe from 'stripe';
import { buildApp } from '../src/app.js';
import { loadPaymentConfig, type PaymentConfig } from '../src/config.js';

/** Canaries: the platform's Stripe secrets. They must never show in an answer, a log line, an event or a row. */
export const SECRET_KEY = 'sk_test_CANARYsecretKEY0123456789';
export const WEBHOOK_SECRET = 'whsec_CANARYwebhookSECRET0123456789';

export interface Harness {
  app: FastifyInstance;
  db: TestDatabase;
  nats: TestNats;
  stripe: FakeStripe;
  config: PaymentConfig;
  logs: string[];
  close(): Promise<void>;
}

export async function startHarness(env: Record<string, string | undefined> = {}): Promise<Harness> {
  const db = await createTestDatabase();
  const nats = await createTestNats();
  const stripe = await startFakeStripe({ apiKey: SECRET_KEY });
  const config = loadPaymentConfig({
    ...serviceTestEnv(db, nats),
    STRIPE_SECRET_KEY: SECRET_KEY,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_URL: stripe.url,
    STRIPE_MAX_RETRIES: '0',
    STRIPE_TIMEOUT: '3s',
    APP_URL: 'https://app.glavito.test',
    ...env,
  } as Record<string, string>);
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const app = await buildApp(config, { logger: { level: 'trace', stream } });
  await app.ready();
  return {
    app,
    db,
    nats,
    stripe,
    config,
    logs,
    async close() {
      await app.close();
      await stripe.close();
      await nats.cleanup();
      await db.drop();
    },
  };
}

export const bearer = (user: { userId: string; tenantId: string; roles?: string[] }) => ({
  authorization: `Bearer ${mintToken({ secret: TEST_JWT_SECRET, userId: user.userId, tenantId: user.tenantId, roles: user.roles ?? ['admin'] })}`,
});

let eventCounter = 0;
/** A Stripe `account.updated` event for the account as the fake now has it, `created` at the given second. */
export function accountUpdatedEvent(
  account: FakeStripeAccount,
  created = Math.floor(Date.now() / 1000),
  id = `evt_${Date.now().toString(36)}${eventCounter++}`,
) {
  return {
    id,
    object: 'event',
    type: 'account.updated',
    created,
    livemode: false,
    api_version: '2025-01-27',
    account: account.id,
    data: { object: account },
    pending_webhooks: 1,
    request: { id: null },
  };
}

/** Signed as Stripe signs (the SDK's own test helper); `timestamp` in seconds, default now. */
export function signed(payload: unknown, opts: { secret?: string; timestamp?: number } = {}) {
  const body = JSON.stringify(payload);
  const header = Stripe.webhooks.generateTestHeaderString({
    payload: body,
    secret: opts.secret ?? WEBHOOK_SECRET,
    ...(opts.timestamp ? { timestamp: opts.timestamp } : {}),
  });
  return { body, headers: { 'content-type': 'application/json', 'stripe-signature': header } };
}

export const SETUP_BODY = {
  stripeAccount: {
    email: 'billing@acme.test',
    country: 'FR',
    businessType: 'company',
    businessProfile: { name: 'Acme', url: 'https://acme.test', mcc: '5734', productDescription: 'Support software' },
  },
  billingConfiguration: { currency: 'eur', taxRate: 20 },
};
