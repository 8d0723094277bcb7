import http from 'node:http';
import { ConnectionTestResultSchema } from '@glavito/contracts';
import { describe, expect, it } from 'vitest';
import { channelHarness, checkStatuses as checks, expectNetworkUnreachable, expectTimedOut, stages } from './helpers.js';

/** A fake Microsoft identity platform token endpoint speaking its v2.0 error format. */
const TENANT = '11111111-2222-3333-4444-555555555555';
const CLIENT = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const UNKNOWN_CLIENT = 'ffffffff-0000-0000-0000-000000000000';
const UNKNOWN_TENANT = 'nosuchtenant.onmicrosoft.com';
const SECRET = 'Q~goodSecret.Value_0123456789abcdef';
// Scenario secrets are long and random-looking like real ones: the runner scrubs secret values from
// every string it returns, so a short secret such as "limited" would also mangle "rate_limited".
const WRONG = 'Q~wrongSecret.Value_9876543210zyxwvu';
const NEEDS_CONSENT = 'Q~consentSecret.Value_0123456789abc';
const LIMITED = 'Q~limitedSecret.Value_0123456789abc';
const BROKEN = 'Q~brokenSecret.Value_0123456789abcd';
const SLOW = 'Q~slowSecret.Value_0123456789abcdef';
const ACCESS_TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.FAKE-GRAPH-ACCESS-TOKEN.signature';

const received: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; form: URLSearchParams }> = [];

function aadError(status: number, error: string, code: number, text: string) {
  return {
    status,
    body: {
      error,
      error_description: `AADSTS${code}: ${text}\r\nTrace ID: 0b3c1f7e-1234-4cde-9abc-0123456789ab\r\nCorrelation ID: 9f8e7d6c-5b4a-4321-8765-43210fedcba9\r\nTimestamp: 2026-11-02 10:00:00Z`,
      error_codes: [code],
      timestamp: '2026-11-02 10:00:00Z',
      trace_id: '0b3c1f7e-1234-4cde-9abc-0123456789ab',
      correlation_id: '9f8e7d6c-5b4a-4321-8765-43210fedcba9',
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
  };
}

const server = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => (raw += c));
  req.on('end', () => {
    const form = new URLSearchParams(raw);
    received.push({ method: req.method!, url: req.url!, headers: req.headers, form });
    const json = (status: number, payload: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(payload));
    const m = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !m) return json(404, { error: 'not_found' });
    const tenant = decodeURIComponent(m[1]!);
    const secret = form.get('client_secret');
    let answer: { status: number; body: unknown };
    if (tenant === UNKNOWN_TENANT)
      answer = aadError(
        400,
        'invalid_request',
        90002,
        `Tenant '${UNKNOWN_TENANT}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      );
    else if (form.get('client_id') === UNKNOWN_CLIENT)
      answer = aadError(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${UNKNOWN_CLIENT}' was not found in the directory 'Contoso'. This can happen if the application has not been installed by the administrator of the tenant.`,
      );
    else if (secret === NEEDS_CONSENT)
      answer = aadError(
        400,
        'invalid_grant',
        65001,
        "The user or administrator has not consented to use the application with ID 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'.",
      );
    else if (secret === LIMITED)
      answer = {
        status: 429,
        body: {
          error: 'temporarily_unavailable',
          error_description: 'AADSTS50196: The server terminated an operation because it encountered a client request loop.',
        },
      };
    else if (secret === BROKEN)
      answer = {
        status: 503,
        body: { error: 'temporarily_unavailable', error_description: 'AADSTS90033: A transient error has occurred. Please try again.' },
      };
    else if (secret === SLOW) return void setTimeout(() => json(200, { token_type: 'Bearer', expires_in: 3599, access_token: ACCESS_TOKEN }), 3000);
    else if (secret !== SECRET)
      answer = aadError(
        401,
        'invalid_client',
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${CLIENT}'.`,
      );
    else answer = { status: 200, body: { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: ACCESS_TOKEN } };
    json(answer.status, answer.body);
  });
});
const teams = channelHarness('teams', server, (base) => ({ PROVIDER_MS_LOGIN_URL: base }));
const test = teams.test;
const lastFormWith = (secret: string) => received.filter((r) => r.form.get('client_secret') === secret).at(-1);
const good = { tenantId: TENANT, clientId: CLIENT, clientSecret: SECRET };

describe('teams channel', () => {
  it('gets a client-credentials token for Graph and never returns the token', async () => {
    const r = await test(good);
    expect(r.statusCode).toBe(200);
    const { result } = r.json();
    ConnectionTestResultSchema.parse(result);
    expect(result).toMatchObject({
      channel: 'teams',
      status: 'success',
      details: { tenantId: TENANT, clientId: CLIENT, authScheme: 'Bearer', expiresIn: 3599 },
    });
    expect(checks(result)).toEqual(stages(['config', 'request', 'auth'], 'success'));
    const hit = lastFormWith(SECRET)!;
    expect(hit.method).toBe('POST');
    expect(hit.url).toBe(`/${TENANT}/oauth2/v2.0/token`);
    expect(hit.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(hit.form)).toEqual({
      client_id: CLIENT,
      client_secret: SECRET,
      grant_type: 'client_credentials',
      scope: 'https://graph.microsoft.com/.default',
    });
    expect(hit.headers.authorization).toBeUndefined();
    expect(r.body).not.toContain(SECRET);
    expect(r.body).not.toContain(ACCESS_TOKEN);
    expect(r.body).not.toContain('FAKE-GRAPH');
  });

  it('encodes a domain tenant into the path', async () => {
    await test({ ...good, tenantId: 'contoso.onmicrosoft.com' });
    expect(received.at(-1)!.url).toBe('/contoso.onmicrosoft.com/oauth2/v2.0/token');
  });

  it('maps a wrong secret (invalid_client, AADSTS7000215, 401) to auth_invalid', async () => {
    const r = await test({ ...good, clientSecret: WRONG });
    const { result } = r.json();
    ConnectionTestResultSchema.parse(result);
    expect(result).toMatchObject({
      status: 'error',
      errorCode: 'auth_invalid',
      details: { httpStatus: 401, error: 'invalid_client', aadsts: 'AADSTS7000215' },
    });
    expect(result.message).toMatch(/AADSTS7000215: Invalid client secret provided/);
    expect(result.message).not.toMatch(/Trace ID|Correlation ID/);
    expect(result.hint).toMatch(/secret's Value \(not its Secret ID\)/);
    expect(checks(result)).toEqual(stages(['config', 'request', 'auth'], 'error'));
    expect(r.body).not.toContain(WRONG);
  });

  it('maps an unknown application (AADSTS700016) to auth_invalid pointing at the client id', async () => {
    const { result } = (await test({ ...good, clientId: UNKNOWN_CLIENT })).json();
    expect(result).toMatchObject({ status: 'error', errorCode: 'auth_invalid', details: { aadsts: 'AADSTS700016', field: 'clientId' } });
    expect(result.hint).toMatch(/Application \(client\) ID/);
  });

  it('maps an unknown tenant (AADSTS90002) to config_invalid', async () => {
    const { result } = (await test({ ...good, tenantId: UNKNOWN_TENANT })).json();
    expect(result).toMatchObject({ status: 'error', errorCode: 'config_invalid', details: { aadsts: 'AADSTS90002', field: 'tenantId' } });
    expect(result.hint).toMatch(/Directory \(tenant\) ID/);
    expect(received.at(-1)!.url).toBe(`/${UNKNOWN_TENANT}/oauth2/v2.0/token`);
  });

  it('maps missing admin consent (AADSTS65001) to permission_missing', async () => {
    const { result } = (await test({ ...good, clientSecret: NEEDS_CONSENT })).json();
    expect(result).toMatchObject({ status: 'error', errorCode: 'permission_missing', details: { aadsts: 'AADSTS65001' } });
    expect(result.hint).toMatch(/admin consent/);
  });

  it('maps 429 to rate_limited and 5xx to provider_unavailable', async () => {
    const limited = (await test({ ...good, clientSecret: LIMITED })).json().result;
    expect(limited).toMatchObject({ status: 'error', errorCode: 'rate_limited' });
    expect(checks(limited)).toEqual(stages(['config', 'request'], 'error'));
    const broken = (await test({ ...good, clientSecret: BROKEN })).json().result;
    expect(broken).toMatchObject({ status: 'error', errorCode: 'provider_unavailable', details: { httpStatus: 503 } });
  });

  it('times out on a slow server within the requested timeout', async () => {
    const r = await test({ ...good, clientSecret: SLOW }, 300);
    expectTimedOut(r);
    expect(r.body).not.toContain(ACCESS_TOKEN);
  });

  it('reports network_unreachable when the login endpoint refuses connections', async () => {
    await teams.unreachable(async (test) => expectNetworkUnreachable(await test(good), SECRET));
  });

  it('rejects a malformed tenant or client id before any request', async () => {
    const before = received.length;
    const r = await test({ ...good, clientId: 'not-a-guid' });
    expect(r.statusCode).toBe(422);
    expect(r.json()).toMatchObject({ code: 'CONNECTION_TEST_CONFIG_INVALID', details: [{ field: 'config.clientId', rule: 'format' }] });
    expect(received.length).toBe(before);
  });
});
