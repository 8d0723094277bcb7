/**
 * The payment acceptance flow in embedded mode (`pnpm start` with no servers: PGlite and the in-process bus,
 * every service in one process), payments configured against the test kit's Stripe API server.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mintToken } from '@glavito/auth';
import { startEmbedded, type EmbeddedSystem } from '@glavito/local';
import { startFakeStripe, TEST_JWT_SECRET, type FakeStripe } from '@glavito/testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { paymentAcceptance } from './payment-flow.js';
import { freePort } from './system.js';

const WEBHOOK_SECRET = 'whsec_embeddedWebhookSecret0123456789';
const dataDir = mkdtempSync(path.join(tmpdir(), 'glavito-embedded-payment-'));
let system: EmbeddedSystem;
let stripe: FakeStripe;
let receiver: http.Server;
let hook = '';

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    req.resume();
    res.writeHead(204).end();
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  stripe = await startFakeStripe();
  system = await startEmbedded({
    dataDir,
    ports: {
      gateway: await freePort(),
      session: await freePort(),
      progress: await freePort(),
      connectionTest: await freePort(),
      realtime: await freePort(),
      payment: await freePort(),
    },
    env: {
      JWT_SECRET: TEST_JWT_SECRET,
      STEP_DATA_ENCRYPTION_KEY: Buffer.alloc(32, 5).toString('base64'),
      LOG_LEVEL: 'warn',
      STRIPE_SECRET_KEY: stripe.apiKey,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      STRIPE_API_URL: stripe.url,
      STRIPE_MAX_RETRIES: '0',
      CONNECTION_TEST_ALLOWED_CIDRS: '127.0.0.1/32',
    },
  });
}, 240_000);
afterAll(async () => {
  await system?.stop();
  await stripe?.close();
  receiver?.close();
  rmSync(dataDir, { recursive: true, force: true });
}, 120_000);

describe('payment in embedded mode', () => {
  it('setup → link → signed account.updated → payment_setup completes by itself, once, with its pushes', { timeout: 180_000 }, async () => {
    const token = mintToken({ secret: TEST_JWT_SECRET, userId: 'emb-pay-admin', tenantId: 'emb-pay-tenant', roles: ['admin'] });
    await paymentAcceptance({ gatewayUrl: system.gatewayUrl, stripe, webhookSecret: WEBHOOK_SECRET, token, hook });
  });
});
