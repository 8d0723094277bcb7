import { createTestNats, createTestNatsAt, startNatsServer, waitFor, type NatsServer, type TestNats } from '@glavito/testkit';
import { Kvm } from '@nats-io/kv';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bearer, makeApp, makeToken } from './helpers.js';

/**
 * Two gateway replicas behind one load balancer: with RATE_LIMIT_STORE=nats they spend one budget per caller
 * (a NATS KV bucket made by the broker migration), not one each. A day-long window, so no window boundary
 * falls inside a test; the kit's migration gives the bucket the same window.
 */
let nats: TestNats;
const apps: FastifyInstance[] = [];

beforeAll(async () => {
  nats = await createTestNats({ broker: { RATE_LIMIT_WINDOW: '1d' } });
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});
afterAll(async () => {
  await nats?.cleanup();
});

const replica = async (env: Record<string, string>) => {
  const app = await makeApp({ RATE_LIMIT_MAX: '6', RATE_LIMIT_WINDOW: '1d', ...env });
  apps.push(app);
  return app;
};
// A generous store timeout: on a loaded test machine a slow answer would fail open and let a request through.
const shared = (t: TestNats) => ({ RATE_LIMIT_STORE: 'nats', NATS_URL: t.url, RATE_LIMIT_BUCKET: t.rateLimitBucket, RATE_LIMIT_STORE_TIMEOUT: '5s' });
const status = async (app: FastifyInstance, headers: Record<string, string>) =>
  (await app.inject({ method: 'GET', url: '/onboarding/status', headers })).statusCode;

describe('shared rate limit (RATE_LIMIT_STORE=nats)', () => {
  it('two replicas share one budget per caller: the 7th request is refused on either', async () => {
    const [one, two] = [await replica(shared(nats)), await replica(shared(nats))];
    const carol = bearer(makeToken({ userId: 'carol' }));
    const codes: number[] = [];
    // Alternating, as a load balancer would spread them; no upstream is configured, so an allowed request is a 503.
    for (let i = 0; i < 8; i++) codes.push(await status(i % 2 === 0 ? one : two, carol));
    expect(codes).toEqual([503, 503, 503, 503, 503, 503, 429, 429]);
    const limited = await one.inject({ method: 'GET', url: '/onboarding/status', headers: carol });
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Another caller has a budget of their own.
    expect(await status(two, bearer(makeToken({ userId: 'dave' })))).toBe(503);
    // The count is in the bucket, not in either process.
    const kv = await new Kvm(nats.nc).open(nats.rateLimitBucket);
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    const carolKey = keys.find((k) => Buffer.from(k.split('.')[0]!, 'base64url').toString() === 'user:tenant-1:carol');
    expect(Number((await kv.get(carolKey!))!.string())).toBe(9);
  });

  it('concurrent requests on both replicas never let more than the budget through', async () => {
    const [one, two] = [await replica(shared(nats)), await replica(shared(nats))];
    const erin = bearer(makeToken({ userId: 'erin' }));
    const codes = await Promise.all(Array.from({ length: 20 }, (_, i) => status(i % 2 === 0 ? one : two, erin)));
    expect(codes.filter((c) => c === 503)).toHaveLength(6);
    expect(codes.filter((c) => c === 429)).toHaveLength(14);
  });

  it('without the shared store each replica has its own budget (the problem it solves)', async () => {
    const [one, two] = [await replica({}), await replica({})];
    const frank = bearer(makeToken({ userId: 'frank' }));
    const codes: number[] = [];
    for (let i = 0; i < 12; i++) codes.push(await status(i % 2 === 0 ? one : two, frank));
    expect(codes.every((c) => c === 503)).toBe(true);
  });

  it('refuses to start when the bucket was never made by the broker migration', async () => {
    await expect(replica({ ...shared(nats), RATE_LIMIT_BUCKET: `${nats.streamName}_missing` })).rejects.toThrow(
      /KV bucket .*_missing does not exist.*bus:migrate/,
    );
  });
});

describe('shared rate limit when NATS goes away', () => {
  let server: NatsServer;
  let privateNats: TestNats;
  afterAll(async () => {
    await privateNats?.cleanup().catch(() => {});
    await server?.stop();
  });

  it('fails open (requests go through, counted in gateway_rate_limit_store_errors_total) and limits again once NATS is back', async () => {
    server = await startNatsServer();
    privateNats = await createTestNatsAt(server.url, { broker: { RATE_LIMIT_WINDOW: '1d' } });
    const app = await replica(shared(privateNats));
    const gina = bearer(makeToken({ userId: 'gina' }));
    for (let i = 0; i < 6; i++) expect(await status(app, gina)).toBe(503);
    expect(await status(app, gina)).toBe(429);

    await server.kill();
    // Past the budget, yet let through: the limiter is down, the API is not. No 5 s timeout per request
    // either: once the connection is known to be down the store fails open at once.
    const started = Date.now();
    for (let i = 0; i < 5; i++) expect(await status(app, gina)).toBe(503);
    const perRequest = (Date.now() - started) / 5;
    expect(perRequest).toBeLessThan(2000);
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(Number(/^gateway_rate_limit_store_errors_total(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1]), metrics.slice(0, 3000)).toBeGreaterThanOrEqual(5);

    server = await startNatsServer({ port: server.port, storeDir: server.storeDir });
    // Once reconnected, the stored count (7, nothing was written while down) applies again.
    await waitFor(async () => (await status(app, gina)) === 429, { timeoutMs: 20_000, message: 'the limit applies again after NATS is back' });
  });
});
