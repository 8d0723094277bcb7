import http from 'node:http';
import { ConnectionTestResultSchema } from '@glavito/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelHarness, checkStatuses as checks, expectNetworkUnreachable, expectTimedOut, stages } from './helpers.js';

/**
 * One fake server speaking three providers' HTTP shapes under /openai/v1, /anthropic and /google.
 * The behaviour is picked by the API key.
 */
const OPENAI = {
  good: 'sk-proj-GoodKey0123456789abcdefghijklmnop',
  invalid: 'sk-proj-InvalidKey0123456789abcdefghijkl',
  restricted: 'sk-proj-RestrictedKey0123456789abcdefghi',
  limited: 'sk-proj-LimitedKey0123456789abcdefghijkl',
  quota: 'sk-proj-NoQuotaKey0123456789abcdefghijkl',
  broken: 'sk-proj-BrokenKey0123456789abcdefghijklm',
  slow: 'sk-proj-SlowKey0123456789abcdefghijklmnop',
};
const ANTHROPIC = {
  good: 'sk-ant-api03-GoodKey0123456789abcdefghijkl',
  invalid: 'sk-ant-api03-InvalidKey0123456789abcdefgh',
  forbidden: 'sk-ant-api03-ForbiddenKey0123456789abcdef',
  limited: 'sk-ant-api03-LimitedKey0123456789abcdefgh',
  overloaded: 'sk-ant-api03-OverloadedKey0123456789abcde',
  slow: 'sk-ant-api03-SlowKey0123456789abcdefghijkl',
};
const GOOGLE = {
  good: 'AIzaSyGoodKey0123456789abcdefghijklmn',
  invalid: 'AIzaSyInvalidKey0123456789abcdefghijk',
  disabled: 'AIzaSyDisabledKey0123456789abcdefghij',
  limited: 'AIzaSyLimitedKey0123456789abcdefghijk',
  unavailable: 'AIzaSyUnavailableKey0123456789abcdefg',
  slow: 'AIzaSySlowKey0123456789abcdefghijklmn',
};
const ALL_KEYS = [...Object.values(OPENAI), ...Object.values(ANTHROPIC), ...Object.values(GOOGLE)];

const OPENAI_MODELS = ['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small'];
const ANTHROPIC_MODELS = ['claude-sonnet-4-5-20250929', 'claude-haiku-4-5-20251001'];
const GOOGLE_MODELS = ['gemini-1.5-flash', 'gemini-2.5-flash'];

const received: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string; key: string }> = [];
const savedEnv: Record<string, string | undefined> = {};
// The SDKs would read these if the channel let them: each points somewhere wrong or adds a credential.
const POISONED_ENV = {
  OPENAI_BASE_URL: 'http://127.0.0.1:9/poisoned',
  OPENAI_ORG_ID: 'org-poisoned',
  OPENAI_PROJECT_ID: 'proj_poisoned',
  OPENAI_ADMIN_KEY: 'sk-admin-poisoned0123456789',
  ANTHROPIC_BASE_URL: 'http://127.0.0.1:9/poisoned',
  ANTHROPIC_AUTH_TOKEN: 'poisoned-auth-token-0123456789',
};

function openaiRoute(key: string, path: string, json: (s: number, b: unknown) => void) {
  const err = (status: number, message: string, type: string, code: string | null, param: string | null = null) =>
    json(status, { error: { message, type, param, code } });
  switch (key) {
    case OPENAI.invalid:
      return err(
        401,
        `Incorrect API key provided: sk-proj-${'*'.repeat(20)}mnop. You can find your API key at https://platform.openai.com/account/api-keys.`,
        'invalid_request_error',
        'invalid_api_key',
      );
    case OPENAI.restricted:
      return err(
        403,
        'You have insufficient permissions for this operation. Missing scopes: api.model.read. Check that you have the correct role in your organization or project.',
        'invalid_request_error',
        null,
      );
    case OPENAI.limited:
      return err(429, 'Rate limit reached for requests. Please try again in 20s.', 'requests', 'rate_limit_exceeded');
    case OPENAI.quota:
      return err(429, 'You exceeded your current quota, please check your plan and billing details.', 'insufficient_quota', 'insufficient_quota');
    case OPENAI.broken:
      return err(500, 'The server had an error while processing your request. Sorry about that!', 'server_error', null);
    case OPENAI.slow:
      return void setTimeout(() => json(200, { object: 'list', data: [] }), 3000);
    case OPENAI.good: {
      if (path === '/models')
        return json(200, { object: 'list', data: OPENAI_MODELS.map((id) => ({ id, object: 'model', created: 1715367049, owned_by: 'system' })) });
      const id = decodeURIComponent(path.replace(/^\/models\//, ''));
      if (id === 'gpt-4o-2024-08-06') return json(200, { id, object: 'model', created: 1722814719, owned_by: 'system' });
      return err(404, `The model '${id}' does not exist`, 'invalid_request_error', 'model_not_found', 'model');
    }
    default:
      return err(401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
  }
}

function anthropicRoute(key: string, path: string, json: (s: number, b: unknown) => void) {
  const err = (status: number, type: string, message: string) => json(status, { type: 'error', error: { type, message }, request_id: 'req_011CFakeRequest' });
  const model = (id: string) => ({ type: 'model', id, display_name: id, created_at: '2025-09-29T00:00:00Z' });
  switch (key) {
    case ANTHROPIC.invalid:
      return err(401, 'authentication_error', 'invalid x-api-key');
    case ANTHROPIC.forbidden:
      return err(403, 'permission_error', 'Your API key does not have permission to use the specified resource.');
    case ANTHROPIC.limited:
      return err(429, 'rate_limit_error', 'Number of requests has exceeded your per-minute rate limit');
    case ANTHROPIC.overloaded:
      return err(529, 'overloaded_error', 'Overloaded');
    case ANTHROPIC.slow:
      return void setTimeout(() => json(200, { data: [], has_more: false, first_id: null, last_id: null }), 3000);
    case ANTHROPIC.good: {
      if (path === '/v1/models')
        return json(200, { data: ANTHROPIC_MODELS.map(model), has_more: false, first_id: ANTHROPIC_MODELS[0], last_id: ANTHROPIC_MODELS.at(-1) });
      const id = decodeURIComponent(path.replace(/^\/v1\/models\//, ''));
      if (id === 'claude-sonnet-4-5') return json(200, model('claude-sonnet-4-5-20250929'));
      return err(404, 'not_found_error', `model: ${id}`);
    }
    default:
      return err(401, 'authentication_error', 'invalid x-api-key');
  }
}

function googleRoute(key: string, path: string, json: (s: number, b: unknown) => void) {
  const err = (code: number, status: string, message: string, reason?: string) =>
    json(code, {
      error: {
        code,
        message,
        status,
        ...(reason
          ? {
              details: [
                {
                  '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
                  reason,
                  domain: 'googleapis.com',
                  metadata: { service: 'generativelanguage.googleapis.com' },
                },
              ],
            }
          : {}),
      },
    });
  const m = /^\/v1beta\/models\/([^/:]+):countTokens$/.exec(path);
  if (!m) return err(404, 'NOT_FOUND', `Unknown path ${path}`);
  switch (key) {
    case GOOGLE.invalid:
      return err(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', 'API_KEY_INVALID');
    case GOOGLE.disabled:
      return err(403, 'PERMISSION_DENIED', 'Generative Language API has not been used in project 123456789 before or it is disabled.', 'SERVICE_DISABLED');
    case GOOGLE.limited:
      return err(429, 'RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).');
    case GOOGLE.unavailable:
      return err(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.');
    case GOOGLE.slow:
      return void setTimeout(() => json(200, { totalTokens: 1 }), 3000);
    case GOOGLE.good:
      if (!GOOGLE_MODELS.includes(m[1]!))
        return err(404, 'NOT_FOUND', `models/${m[1]} is not found for API version v1beta, or is not supported for countTokens.`);
      return json(200, { totalTokens: 1 });
    default:
      return err(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', 'API_KEY_INVALID');
  }
}

// Poisoned before the harness starts, restored after it has closed (after-hooks run in reverse).
beforeAll(() => {
  for (const [k, v] of Object.entries(POISONED_ENV)) {
    savedEnv[k] = process.env[k];
    process.env[k] = v;
  }
});
afterAll(() => {
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const url = new URL(req.url!, 'http://fake.local');
    const key = String(req.headers['x-goog-api-key'] ?? req.headers['x-api-key'] ?? String(req.headers.authorization ?? '').replace(/^Bearer /, ''));
    received.push({ method: req.method!, url: req.url!, headers: req.headers, body, key });
    const json = (status: number, payload: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    if (url.pathname.startsWith('/openai/v1/models') && req.method === 'GET') return openaiRoute(key, url.pathname.slice('/openai/v1'.length), json);
    if (url.pathname.startsWith('/anthropic/v1/models') && req.method === 'GET') return anthropicRoute(key, url.pathname.slice('/anthropic'.length), json);
    if (url.pathname.startsWith('/google/v1beta/models/') && req.method === 'POST') return googleRoute(key, url.pathname.slice('/google'.length), json);
    json(404, { error: { message: `No fake for ${req.method} ${url.pathname}` } });
  });
});
const ai = channelHarness('ai_provider', server, (base) => ({
  PROVIDER_OPENAI_URL: `${base}/openai/v1`,
  PROVIDER_ANTHROPIC_URL: `${base}/anthropic`,
  PROVIDER_GOOGLE_AI_URL: `${base}/google`,
}));
const test = ai.test;
const hitsFor = (key: string) => received.filter((r) => r.key === key);

describe('ai_provider channel: openai', () => {
  it('lists models with the key as a bearer token and counts them', async () => {
    const r = await test({ provider: 'openai', apiKey: OPENAI.good });
    expect(r.statusCode).toBe(200);
    const { result } = r.json();
    ConnectionTestResultSchema.parse(result);
    expect(result).toMatchObject({ channel: 'ai_provider', status: 'success', details: { provider: 'openai', modelsAvailable: OPENAI_MODELS.length } });
    expect(checks(result)).toEqual(stages(['config', 'request', 'auth', 'permission', 'model'], 'skipped'));
    const [hit, ...more] = hitsFor(OPENAI.good);
    expect(more).toHaveLength(0);
    expect(hit).toMatchObject({ method: 'GET', url: '/openai/v1/models' });
    expect(hit!.headers.authorization).toBe(`Bearer ${OPENAI.good}`);
    // OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment are not sent.
    expect(hit!.headers['openai-organization']).toBeUndefined();
    expect(hit!.headers['openai-project']).toBeUndefined();
    expect(r.body).not.toContain(OPENAI.good);
  });

  it('checks a named model: listed, found by lookup, or a warning when the key cannot see it', async () => {
    const listed = (await test({ provider: 'openai', apiKey: OPENAI.good, model: 'gpt-4o' })).json().result;
    expect(listed).toMatchObject({ status: 'success', details: { model: 'gpt-4o', modelAvailable: true } });
    const lookedUp = (await test({ provider: 'openai', apiKey: OPENAI.good, model: 'gpt-4o-2024-08-06' })).json().result;
    expect(lookedUp).toMatchObject({ status: 'success', details: { model: 'gpt-4o-2024-08-06', modelAvailable: true } });
    expect(received.some((r) => r.url === '/openai/v1/models/gpt-4o-2024-08-06' && r.method === 'GET')).toBe(true);
    const missing = (await test({ provider: 'openai', apiKey: OPENAI.good, model: 'gpt-unknown' })).json().result;
    expect(missing).toMatchObject({ status: 'warning', details: { model: 'gpt-unknown', modelAvailable: false, modelsAvailable: 3 } });
    expect(missing.checks.at(-1)).toMatchObject({ name: 'model', status: 'warning' });
    expect(missing.checks.at(-1).message).toMatch(/gpt-unknown is not available/);
  });

  it('maps 401 to auth_invalid without echoing the provider message that quotes the key', async () => {
    const r = await test({ provider: 'openai', apiKey: OPENAI.invalid });
    const { result } = r.json();
    expect(result).toMatchObject({
      status: 'error',
      errorCode: 'auth_invalid',
      details: { provider: 'openai', httpStatus: 401, providerCode: 'invalid_api_key' },
    });
    expect(result.hint).toMatch(/platform\.openai\.com/);
    expect(checks(result)).toEqual(stages(['config', 'request', 'auth'], 'error'));
    expect(r.body).not.toContain(OPENAI.invalid);
    expect(r.body).not.toContain('Incorrect API key provided');
  });

  it('maps 403 to permission_missing with the provider reason', async () => {
    const { result } = (await test({ provider: 'openai', apiKey: OPENAI.restricted })).json();
    expect(result).toMatchObject({ status: 'error', errorCode: 'permission_missing', details: { httpStatus: 403 } });
    expect(result.message).toMatch(/Missing scopes: api\.model\.read/);
    expect(checks(result).at(-1)).toEqual(['permission', 'error']);
  });

  it('maps 429 to rate_limited (quota exhaustion with a billing hint) and 5xx to provider_unavailable, without retrying', async () => {
    const limited = (await test({ provider: 'openai', apiKey: OPENAI.limited })).json().result;
    expect(limited).toMatchObject({ status: 'error', errorCode: 'rate_limited', details: { providerCode: 'rate_limit_exceeded' } });
    expect(checks(limited)).toEqual(stages(['config', 'request'], 'error'));
    const quota = (await test({ provider: 'openai', apiKey: OPENAI.quota })).json().result;
    expect(quota).toMatchObject({ status: 'error', errorCode: 'rate_limited', details: { providerCode: 'insufficient_quota' } });
    expect(quota.hint).toMatch(/billing/);
    const broken = (await test({ provider: 'openai', apiKey: OPENAI.broken })).json().result;
    expect(broken).toMatchObject({ status: 'error', errorCode: 'provider_unavailable', details: { httpStatus: 500 } });
    for (const key of [OPENAI.limited, OPENAI.quota, OPENAI.broken]) expect(hitsFor(key)).toHaveLength(1);
  });

  it('times out on a slow server within the requested timeout', async () => {
    const r = await test({ provider: 'openai', apiKey: OPENAI.slow }, 300);
    expectTimedOut(r);
    expect(hitsFor(OPENAI.slow)).toHaveLength(1);
  });
});

describe('ai_provider channel: anthropic', () => {
  it('lists models with the tenant key (never a credential from the environment)', async () => {
    const r = await test({ provider: 'anthropic', apiKey: ANTHROPIC.good });
    const { result } = r.json();
    ConnectionTestResultSchema.parse(result);
    expect(result).toMatchObject({ status: 'success', details: { provider: 'anthropic', modelsAvailable: ANTHROPIC_MODELS.length } });
    expect(checks(result)).toEqual(stages(['config', 'request', 'auth', 'permission', 'model'], 'skipped'));
    const [hit, ...more] = hitsFor(ANTHROPIC.good);
    expect(more).toHaveLength(0);
    expect(hit!.method).toBe('GET');
    expect(hit!.url).toMatch(/^\/anthropic\/v1\/models\?limit=1000$/);
    // SDK 1.x sends the key as a bearer token (older ones used x-api-key): either way the tenant's key only.
    expect(hit!.headers['x-api-key'] ?? String(hit!.headers.authorization).replace(/^Bearer /, '')).toBe(ANTHROPIC.good);
    expect(hit!.headers['anthropic-version']).toBeTruthy();
    // ANTHROPIC_AUTH_TOKEN from the environment is not sent.
    expect(JSON.stringify(hit!.headers)).not.toContain('poisoned');
    expect(r.body).not.toContain(ANTHROPIC.good);
  });

  it('resolves a model alias by lookup and warns about an unknown model', async () => {
    const alias = (await test({ provider: 'anthropic', apiKey: ANTHROPIC.good, model: 'claude-sonnet-4-5' })).json().result;
    expect(alias).toMatchObject({ status: 'success', details: { model: 'claude-sonnet-4-5', modelAvailable: true } });
    expect(received.some((r) => r.url.startsWith('/anthropic/v1/models/claude-sonnet-4-5'))).toBe(true);
    const missing = (await test({ provider: 'anthropic', apiKey: ANTHROPIC.good, model: 'claude-nonexistent' })).json().result;
    expect(missing).toMatchObject({ status: 'warning', details: { modelAvailable: false } });
  });

  it('maps 401, 403, 429 and 529 onto the taxonomy', async () => {
    const invalid = await test({ provider: 'anthropic', apiKey: ANTHROPIC.invalid });
    expect(invalid.json().result).toMatchObject({ status: 'error', errorCode: 'auth_invalid', details: { providerType: 'authentication_error' } });
    expect(invalid.json().result.hint).toMatch(/Anthropic Console/);
    expect(invalid.body).not.toContain(ANTHROPIC.invalid);
    expect((await test({ provider: 'anthropic', apiKey: ANTHROPIC.forbidden })).json().result).toMatchObject({
      status: 'error',
      errorCode: 'permission_missing',
      details: { providerType: 'permission_error' },
    });
    expect((await test({ provider: 'anthropic', apiKey: ANTHROPIC.limited })).json().result).toMatchObject({ status: 'error', errorCode: 'rate_limited' });
    const overloaded = (await test({ provider: 'anthropic', apiKey: ANTHROPIC.overloaded })).json().result;
    expect(overloaded).toMatchObject({ status: 'error', errorCode: 'provider_unavailable', details: { httpStatus: 529 } });
    expect(overloaded.message).toMatch(/overloaded/);
    for (const key of [ANTHROPIC.limited, ANTHROPIC.overloaded]) expect(hitsFor(key)).toHaveLength(1);
  });

  it('times out on a slow server within the requested timeout', async () => {
    expectTimedOut(await test({ provider: 'anthropic', apiKey: ANTHROPIC.slow }, 300));
  });
});

describe('ai_provider channel: google', () => {
  it('proves the key with a free countTokens call, the key in x-goog-api-key only', async () => {
    const r = await test({ provider: 'google', apiKey: GOOGLE.good });
    const { result } = r.json();
    ConnectionTestResultSchema.parse(result);
    expect(result).toMatchObject({ status: 'success', details: { provider: 'google', model: 'gemini-2.5-flash', modelAvailable: true } });
    expect(checks(result)).toEqual(stages(['config', 'request', 'auth', 'permission', 'model'], 'success'));
    const [hit, ...more] = hitsFor(GOOGLE.good);
    expect(more).toHaveLength(0);
    expect(hit).toMatchObject({ method: 'POST', url: '/google/v1beta/models/gemini-2.5-flash:countTokens' });
    expect(hit!.headers['x-goog-api-key']).toBe(GOOGLE.good);
    expect(hit!.url).not.toContain('key=');
    expect(hit!.url).not.toContain(GOOGLE.good);
    expect(hit!.body).toContain('ping');
    expect(r.body).not.toContain(GOOGLE.good);
  });

  it('checks the named model and warns when it is not found', async () => {
    const ok = (await test({ provider: 'google', apiKey: GOOGLE.good, model: 'gemini-2.5-flash' })).json().result;
    expect(ok).toMatchObject({ status: 'success', details: { model: 'gemini-2.5-flash', modelAvailable: true } });
    expect(received.at(-1)!.url).toBe('/google/v1beta/models/gemini-2.5-flash:countTokens');
    const missing = (await test({ provider: 'google', apiKey: GOOGLE.good, model: 'gemini-0.1-nope' })).json().result;
    expect(missing).toMatchObject({ status: 'warning', details: { model: 'gemini-0.1-nope', modelAvailable: false } });
    expect(missing.checks.at(-1)).toMatchObject({ name: 'model', status: 'warning' });
  });

  it('maps API_KEY_INVALID (400) to auth_invalid, 403 to permission_missing, 429 and 503', async () => {
    const invalid = await test({ provider: 'google', apiKey: GOOGLE.invalid });
    expect(invalid.json().result).toMatchObject({
      status: 'error',
      errorCode: 'auth_invalid',
      details: { provider: 'google', providerCode: 'API_KEY_INVALID' },
    });
    expect(checks(invalid.json().result)).toEqual(stages(['config', 'request', 'auth'], 'error'));
    expect(invalid.body).not.toContain(GOOGLE.invalid);
    const disabled = (await test({ provider: 'google', apiKey: GOOGLE.disabled })).json().result;
    expect(disabled).toMatchObject({ status: 'error', errorCode: 'permission_missing', details: { providerCode: 'SERVICE_DISABLED' } });
    expect(disabled.hint).toMatch(/Generative Language API/);
    expect((await test({ provider: 'google', apiKey: GOOGLE.limited })).json().result).toMatchObject({ status: 'error', errorCode: 'rate_limited' });
    expect((await test({ provider: 'google', apiKey: GOOGLE.unavailable })).json().result).toMatchObject({
      status: 'error',
      errorCode: 'provider_unavailable',
      details: { httpStatus: 503 },
    });
  });

  it('times out on a slow server within the requested timeout', async () => {
    expectTimedOut(await test({ provider: 'google', apiKey: GOOGLE.slow }, 300));
  });
});

describe('ai_provider channel: all providers', () => {
  it('reports network_unreachable when the provider endpoint refuses connections', async () => {
    await ai.unreachable(async (test) => {
      for (const [provider, apiKey] of [
        ['openai', OPENAI.good],
        ['anthropic', ANTHROPIC.good],
        ['google', GOOGLE.good],
      ] as const)
        expectNetworkUnreachable(await test({ provider, apiKey }), apiKey, provider);
    });
  });

  it('never called a paid generation endpoint, and no SDK followed the *_BASE_URL environment', () => {
    expect(received.length).toBeGreaterThan(0);
    for (const hit of received) {
      expect(hit.url).not.toMatch(/chat\/completions|\/completions|\/responses|\/messages|generateContent|streamGenerateContent|embed/);
      expect(hit.url).not.toContain('poisoned');
      expect(JSON.stringify(hit.headers)).not.toContain('poisoned');
    }
    expect(received.every((hit) => ALL_KEYS.includes(hit.key))).toBe(true);
  });
});
