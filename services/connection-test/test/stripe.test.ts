import http from 'node:http';
import { ConnectionTestResultSchema } from '@glavito/contracts';
import { describe, expect, it } from 'vitest';
import { channelHarness, checkStatuses as checks, expectNetworkUnreachable, expectTimedOut, stages } from './helpers.js';

/** A fake Stripe API answering GET /v1/account with Stripe's account object and error envelope. */
const GOOD = 'sk_test_51GoodKey0123456789abcdefGHIJ';
const LIVE = 'sk_live_51GoodKey0123456789abcdefGHIJ';
const ONBOARDING = 'sk_test_51OnboardingKey0123456789abcd';
const INVALID = 'sk_test_51InvalidKey0123456789abcdefg';
const RESTRICTED = 'rk_test_51RestrictedKey0123456789abcd';
const LIMITED = 'sk_test_51LimitedKey0123456789abcdefg';
const BROKEN = 'sk_test_51BrokenKey0123456789abcdefgh';
const SLOW = 'sk_test_51SlowKey0123456789abcdefghijk';
const ACCOUNT = 'acct_1GoodAccount0001';
const OTHER_ACCOUNT = 'acct_1SomeoneElse0002';

const masked = (key: string) => `${key.slice(0, 8)}${'*'.repeat(key.length - 12)}${key.slice(-4)}`;
const stripeError = (type: string, message: string, extra: Record<string, unknown> = {}) => ({ error: { type, message, ...extra } });
const account = (id: string, chargesEnabled = true) => ({
  id,
  object: 'account',
  business_profile: { name: 'Acme Inc.' },
  charges_enabled: chargesEnabled,
  payouts_enabled: chargesEnabled,
  details_submitted: chargesEnabled,
  country: 'US',
  default_currency: 'usd',
  type: 'standard',
});

const received: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; key: string }> = [];

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const key = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    received.push({ method: req.method!, url: req.url!, headers: req.headers, key });
    const json = (status: number, payload: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': 'req_fake123' }).end(JSON.stringify(payload));
    if (req.method !== 'GET' || req.url !== '/v1/account')
      return json(404, stripeError('invalid_request_error', `Unrecognized request URL (${req.method}: ${req.url}).`));
    switch (key) {
      case GOOD:
      case LIVE:
        return json(200, account(ACCOUNT));
      case ONBOARDING:
        return json(200, account(ACCOUNT, false));
      case RESTRICTED:
        return json(
          403,
          stripeError(
            'invalid_request_error',
            `The provided key '${masked(RESTRICTED)}' does not have the required permissions for this endpoint on account '${ACCOUNT}'. Having the 'rak_account_read' permission would allow this request to continue.`,
          ),
        );
      case LIMITED:
        return json(
          429,
          stripeError('invalid_request_error', 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.', {
            code: 'rate_limit',
          }),
        );
      case BROKEN:
        return json(500, stripeError('api_error', 'An unknown error occurred'));
      case SLOW:
        return void setTimeout(() => json(200, account(ACCOUNT)), 3000);
      default:
        return json(401, stripeError('invalid_request_error', `Invalid API Key provided: ${masked(key)}`));
    }
  });
});
const stripe = channelHarness('stripe', server, (base) => ({ PROVIDER_STRIPE_API_URL: base }));
const test = stripe.test;
const hitsFor = (key: string) => received.filter((r) => r.key === key);

describe('stripe channel', () => {
  it("reads the key's own account with GET /v1/account and reports its state", async () => {
    const r = await test({ secretKey: GOOD, accountId: ACCOUNT });
    expect(r.statusCode).toBe(200);
    const { result } = r.json();
    ConnectionTestResultSchema.parse(result);
    expect(result).toMatchObject({
      channel: 'stripe',
      status: 'success',
      details: {
        accountId: ACCOUNT,
        chargesEnabled: true,
        payoutsEnabled: true,
        detailsSubmitted: true,
        livemode: false,
        keyKind: 'secret',
        country: 'US',
        defaultCurrency: 'usd',
      },
    });
    expect(checks(result)).toEqual(stages(['config', 'request', 'auth', 'permission'], 'success'));
    const [hit, ...more] = hitsFor(GOOD);
    expect(more).toHaveLength(0);
    expect(hit).toMatchObject({ method: 'GET', url: '/v1/account' });
    expect(hit!.headers.authorization).toBe(`Bearer ${GOOD}`);
    expect(hit!.headers['stripe-account']).toBeUndefined();
    expect(r.body).not.toContain(GOOD);
  });

  it('takes livemode from the key', async () => {
    const { result } = (await test({ secretKey: LIVE })).json();
    expect(result).toMatchObject({ status: 'success', details: { livemode: true, accountId: ACCOUNT } });
    expect(result.message).toMatch(/live mode/);
  });

  it('warns when the account cannot accept charges yet', async () => {
    const { result } = (await test({ secretKey: ONBOARDING })).json();
    expect(result).toMatchObject({ status: 'warning', details: { chargesEnabled: false } });
    expect(result.checks.at(-1)).toMatchObject({ name: 'account', status: 'warning' });
  });

  it("refuses an accountId that is not the key's own account, without ever reading the other account", async () => {
    const r = await test({ secretKey: GOOD, accountId: OTHER_ACCOUNT });
    const { result } = r.json();
    ConnectionTestResultSchema.parse(result);
    expect(result).toMatchObject({ status: 'error', errorCode: 'permission_missing', details: { keyAccountId: ACCOUNT, expectedAccountId: OTHER_ACCOUNT } });
    expect(result.message).toContain(OTHER_ACCOUNT);
    expect(result.hint).toMatch(/belongs to another Stripe account/);
    expect(result.hint).toMatch(/never another one/);
    expect(checks(result)).toEqual(stages(['config', 'request', 'auth', 'permission'], 'error'));
    const hit = hitsFor(GOOD).at(-1)!;
    expect(hit.url).toBe('/v1/account');
    expect(hit.headers['stripe-account']).toBeUndefined();
  });

  it('maps 401 to auth_invalid without echoing the partly masked key Stripe quotes', async () => {
    const r = await test({ secretKey: INVALID });
    const { result } = r.json();
    expect(result).toMatchObject({
      status: 'error',
      errorCode: 'auth_invalid',
      details: { httpStatus: 401, stripeType: 'invalid_request_error', requestId: 'req_fake123' },
    });
    expect(result.hint).toMatch(/API keys/);
    expect(checks(result)).toEqual(stages(['config', 'request', 'auth'], 'error'));
    expect(r.body).not.toContain(INVALID);
    expect(r.body).not.toContain(masked(INVALID));
    expect(r.body).not.toContain(INVALID.slice(-4));
  });

  it('maps a restricted key without account read (403) to permission_missing', async () => {
    const r = await test({ secretKey: RESTRICTED });
    const { result } = r.json();
    expect(result).toMatchObject({ status: 'error', errorCode: 'permission_missing', details: { httpStatus: 403, requiredPermission: 'rak_account_read' } });
    expect(result.message).toMatch(/rak_account_read/);
    expect(result.hint).toMatch(/restricted key/);
    expect(checks(result)).toEqual(stages(['config', 'request', 'auth', 'permission'], 'error'));
    expect(r.body).not.toContain(masked(RESTRICTED));
  });

  it('maps 429 to rate_limited and 500 to provider_unavailable, without retrying', async () => {
    const limited = (await test({ secretKey: LIMITED })).json().result;
    expect(limited).toMatchObject({ status: 'error', errorCode: 'rate_limited', details: { httpStatus: 429, stripeCode: 'rate_limit' } });
    expect(checks(limited)).toEqual(stages(['config', 'request'], 'error'));
    expect(hitsFor(LIMITED)).toHaveLength(1);
    const broken = (await test({ secretKey: BROKEN })).json().result;
    expect(broken).toMatchObject({ status: 'error', errorCode: 'provider_unavailable', details: { httpStatus: 500 } });
    expect(hitsFor(BROKEN)).toHaveLength(1);
  });

  it('times out on a slow server within the requested timeout', async () => {
    const r = await test({ secretKey: SLOW }, 300);
    expectTimedOut(r);
    expect(r.body).not.toContain(SLOW);
  });

  it('reports network_unreachable when the Stripe endpoint refuses connections', async () => {
    await stripe.unreachable(async (test) => expectNetworkUnreachable(await test({ secretKey: GOOD }), GOOD));
  });

  it('only ever called GET /v1/account, never /v1/accounts/{id}', () => {
    expect(received.length).toBeGreaterThan(0);
    for (const hit of received) {
      expect(hit.method).toBe('GET');
      expect(hit.url).toBe('/v1/account');
      expect(hit.headers['stripe-account']).toBeUndefined();
    }
    expect(received.some((hit) => hit.url.startsWith('/v1/accounts'))).toBe(false);
  });
});
