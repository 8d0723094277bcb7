import http from 'node:http';
import { ConnectionTestResultSchema } from '@glavito/contracts';
import { describe, expect, it } from 'vitest';
import { channelHarness, checkStatuses as checks, expectNetworkUnreachable, expectTimedOut, stages } from './helpers.js';

/** A fake Graph API (v21.0) answering phone-number lookups with Graph's error envelope. */
const PHONE_ID = '106540352242922';
const UNKNOWN_PHONE_ID = '999999999999999';
const GOOD = 'EAAGoodSystemUserToken0123456789abcdefZZ';
const INVALID = 'EAAInvalidToken0123456789abcdefghijklmnZZ';
const NO_PERMISSION = 'EAANoPermissionToken0123456789abcdefghZZ';
const LIMITED = 'EAALimitedToken0123456789abcdefghijklmZZ';
const BROKEN = 'EAABrokenToken0123456789abcdefghijklmnoZZ';
const SLOW = 'EAASlowToken0123456789abcdefghijklmnopqZZ';

const received: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; token: string }> = [];

const graphError = (message: string, type: string, code: number, extra: Record<string, unknown> = {}) => ({
  error: { message, type, code, ...extra, fbtrace_id: 'AbCdEfGhIjK' },
});

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    received.push({ method: req.method!, url: req.url!, headers: req.headers, token });
    const json = (status: number, payload: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' }).end(JSON.stringify(payload));
    const url = new URL(req.url!, 'http://graph.local');
    const m = /^\/v21\.0\/(\d+)$/.exec(url.pathname);
    if (req.method !== 'GET' || !m) return json(400, graphError('Unknown path components', 'OAuthException', 2500));
    switch (token) {
      case INVALID:
        return json(401, graphError('Invalid OAuth access token - Cannot parse access token', 'OAuthException', 190));
      case NO_PERMISSION:
        return json(403, graphError('(#10) Application does not have permission for this action', 'OAuthException', 10));
      case LIMITED:
        return json(400, graphError('(#80007) Rate limit issues', 'OAuthException', 80007));
      case BROKEN:
        return json(500, graphError('An unknown error has occurred.', 'OAuthException', 1, { is_transient: true }));
      case SLOW:
        return void setTimeout(() => json(200, { id: m[1] }), 3000);
      case GOOD:
        if (m[1] !== PHONE_ID)
          return json(
            400,
            graphError(
              `Unsupported get request. Object with ID '${m[1]}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
              'GraphMethodException',
              100,
              { error_subcode: 33 },
            ),
          );
        return json(200, { display_phone_number: '+1 555-010-0100', verified_name: 'Acme Support', quality_rating: 'GREEN', id: PHONE_ID });
      default:
        return json(400, graphError('An active access token must be used to query information about the current user.', 'OAuthException', 2500));
    }
  });
});
const whatsapp = channelHarness('whatsapp', server, (base) => ({ PROVIDER_WHATSAPP_GRAPH_URL: `${base}/v21.0` }));
const test = whatsapp.test;
const hitsFor = (token: string) => received.filter((r) => r.token === token);

describe('whatsapp channel', () => {
  it('looks the phone number up with a bearer token and reports how it shows to customers', async () => {
    const r = await test({ phoneNumberId: PHONE_ID, accessToken: GOOD });
    expect(r.statusCode).toBe(200);
    const { result } = r.json();
    ConnectionTestResultSchema.parse(result);
    expect(result).toMatchObject({
      channel: 'whatsapp',
      status: 'success',
      details: { phoneNumberId: PHONE_ID, displayPhoneNumber: '+1 555-010-0100', verifiedName: 'Acme Support', qualityRating: 'GREEN' },
    });
    expect(checks(result)).toEqual(stages(['config', 'request', 'auth', 'permission'], 'success'));
    const [hit, ...more] = hitsFor(GOOD);
    expect(more).toHaveLength(0);
    expect(hit!.method).toBe('GET');
    expect(hit!.url).toBe(`/v21.0/${PHONE_ID}?fields=display_phone_number,verified_name,quality_rating`);
    expect(hit!.headers.authorization).toBe(`Bearer ${GOOD}`);
    // The token never travels in the query string.
    expect(hit!.url).not.toContain('access_token');
    expect(r.body).not.toContain(GOOD);
  });

  it('maps Graph error 190 to auth_invalid', async () => {
    const r = await test({ phoneNumberId: PHONE_ID, accessToken: INVALID });
    const { result } = r.json();
    ConnectionTestResultSchema.parse(result);
    expect(result).toMatchObject({ status: 'error', errorCode: 'auth_invalid', details: { graphCode: 190, httpStatus: 401, fbtraceId: 'AbCdEfGhIjK' } });
    expect(result.message).toMatch(/Invalid OAuth access token/);
    expect(result.hint).toMatch(/System User access token/);
    expect(checks(result)).toEqual(stages(['config', 'request', 'auth'], 'error'));
    expect(r.body).not.toContain(INVALID);
  });

  it('maps Graph error 10 to permission_missing', async () => {
    const r = await test({ phoneNumberId: PHONE_ID, accessToken: NO_PERMISSION });
    const { result } = r.json();
    expect(result).toMatchObject({ status: 'error', errorCode: 'permission_missing', details: { graphCode: 10 } });
    expect(result.hint).toMatch(/whatsapp_business_management/);
    expect(checks(result)).toEqual(stages(['config', 'request', 'auth', 'permission'], 'error'));
    expect(r.body).not.toContain(NO_PERMISSION);
  });

  it('maps an unknown phone number id (Graph 100, subcode 33) to config_invalid', async () => {
    const { result } = (await test({ phoneNumberId: UNKNOWN_PHONE_ID, accessToken: GOOD })).json();
    expect(result).toMatchObject({ status: 'error', errorCode: 'config_invalid', details: { graphCode: 100, graphSubcode: 33, field: 'phoneNumberId' } });
    expect(result.hint).toMatch(/Phone number ID/);
    expect(received.at(-1)!.url).toMatch(new RegExp(`^/v21\\.0/${UNKNOWN_PHONE_ID}\\?`));
  });

  it('maps Graph rate-limit codes to rate_limited and errors 1/5xx to provider_unavailable', async () => {
    const limited = (await test({ phoneNumberId: PHONE_ID, accessToken: LIMITED })).json().result;
    expect(limited).toMatchObject({ status: 'error', errorCode: 'rate_limited', details: { graphCode: 80007 } });
    expect(checks(limited)).toEqual(stages(['config', 'request'], 'error'));
    const broken = (await test({ phoneNumberId: PHONE_ID, accessToken: BROKEN })).json().result;
    expect(broken).toMatchObject({ status: 'error', errorCode: 'provider_unavailable', details: { httpStatus: 500 } });
  });

  it('times out on a slow server within the requested timeout', async () => {
    const r = await test({ phoneNumberId: PHONE_ID, accessToken: SLOW }, 300);
    expectTimedOut(r);
    expect(r.body).not.toContain(SLOW);
  });

  it('reports network_unreachable when the Graph endpoint refuses connections', async () => {
    await whatsapp.unreachable(async (test) => expectNetworkUnreachable(await test({ phoneNumberId: PHONE_ID, accessToken: GOOD }), GOOD));
  });

  it('rejects a non-numeric phone number id before any request', async () => {
    const before = received.length;
    const r = await test({ phoneNumberId: '+1 555 0100', accessToken: GOOD });
    expect(r.statusCode).toBe(422);
    expect(r.json()).toMatchObject({
      code: 'CONNECTION_TEST_CONFIG_INVALID',
      details: [{ field: 'config.phoneNumberId', rule: 'format', message: 'config.phoneNumberId must be a numeric phone number id' }],
    });
    expect(r.body).not.toContain(GOOD);
    expect(received.length).toBe(before);
  });
});
