import http from 'node:http';
import { ConnectionTestResultSchema } from '@glavito/contracts';
import { describe, expect, it } from 'vitest';
import { bearer, channelHarness, channelUser as user, checkStatuses as checks, expectNetworkUnreachable, expectTimedOut, stages } from './helpers.js';

/** A fake Slack Web API: the behaviour is picked by the bot token, as Slack's would be by the token's state. */
const GOOD = 'xoxb-1111-2222-goodtoken';
const NO_SCOPES_HEADER = 'xoxb-1111-2222-noscopes';
const REVOKED = 'xoxb-1111-2222-revokedtoken';
const LIMITED = 'xoxb-1111-2222-limitedtoken';
const BROKEN = 'xoxb-1111-2222-brokentoken';
const SLOW = 'xoxb-1111-2222-slowtoken';

const identity = {
  ok: true,
  url: 'https://acme.slack.com/',
  team: 'Acme',
  user: 'glavito',
  team_id: 'T0123ABC',
  user_id: 'U0123ABC',
  bot_id: 'B0123ABC',
  is_enterprise_install: false,
};

const received: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string; token: string }> = [];

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    received.push({ method: req.method!, url: req.url!, headers: req.headers, body, token });
    const json = (status: number, payload: unknown, headers: Record<string, string> = {}) =>
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(payload));
    if (req.method !== 'POST' || req.url !== '/api/auth.test') return json(404, { ok: false, error: 'unknown_method' });
    switch (token) {
      case GOOD:
        return json(200, identity, { 'x-oauth-scopes': 'chat:write,channels:read,users:read', 'x-accepted-oauth-scopes': '' });
      case NO_SCOPES_HEADER:
        return json(200, identity);
      case REVOKED:
        return json(200, { ok: false, error: 'invalid_auth' });
      case LIMITED:
        return json(429, { ok: false, error: 'ratelimited' }, { 'retry-after': '30' });
      case BROKEN:
        return res.writeHead(503, { 'content-type': 'text/html' }).end('<html>Service Unavailable</html>');
      case SLOW:
        return void setTimeout(() => json(200, identity), 3000);
      default:
        return json(200, { ok: false, error: 'not_authed' });
    }
  });
});
const slack = channelHarness('slack', server, (base) => ({ PROVIDER_SLACK_API_URL: `${base}/api` }));
const test = slack.test;
const hitsFor = (token: string) => received.filter((r) => r.token === token);

describe('slack channel', () => {
  it('calls auth.test with the bot token and reports the workspace, bot and granted scopes', async () => {
    const r = await test({ botToken: GOOD, requiredScopes: ['chat:write', 'channels:read'] });
    expect(r.statusCode).toBe(200);
    const { result } = r.json();
    ConnectionTestResultSchema.parse(result);
    expect(result).toMatchObject({
      channel: 'slack',
      status: 'success',
      details: {
        team: 'Acme',
        teamId: 'T0123ABC',
        user: 'glavito',
        userId: 'U0123ABC',
        botId: 'B0123ABC',
        url: 'https://acme.slack.com/',
        scopes: ['chat:write', 'channels:read', 'users:read'],
      },
    });
    expect(result.message).toContain('Acme');
    expect(checks(result)).toEqual(stages(['config', 'request', 'auth', 'permission'], 'success'));
    const [hit, ...more] = hitsFor(GOOD);
    expect(more).toHaveLength(0);
    expect(hit).toMatchObject({ method: 'POST', url: '/api/auth.test' });
    expect(hit!.headers.authorization).toBe(`Bearer ${GOOD}`);
    expect(hit!.headers['content-type']).toMatch(/application\/x-www-form-urlencoded/);
    // The token travels in the header only, never in the form body.
    expect(hit!.body).not.toContain(GOOD);
    expect(r.body).not.toContain(GOOD);
  });

  it('skips the scope check when no scopes are required', async () => {
    const { result } = (await test({ botToken: GOOD })).json();
    expect(result.status).toBe('success');
    expect(result.checks.find((c: { name: string }) => c.name === 'permission')).toMatchObject({ status: 'skipped' });
  });

  it('fails with permission_missing naming the scopes the token lacks', async () => {
    const r = await test({ botToken: GOOD, requiredScopes: ['chat:write', 'reactions:write', 'files:write'] });
    const { result } = r.json();
    expect(result).toMatchObject({ status: 'error', errorCode: 'permission_missing', details: { missingScopes: ['reactions:write', 'files:write'] } });
    expect(result.message).toMatch(/reactions:write, files:write/);
    expect(result.hint).toMatch(/OAuth & Permissions/);
    expect(result.hint).toMatch(/reinstall/);
    expect(checks(result)).toEqual(stages(['config', 'request', 'auth', 'permission'], 'error'));
    expect(r.body).not.toContain(GOOD);
  });

  it('warns when Slack does not report the scopes it granted', async () => {
    const { result } = (await test({ botToken: NO_SCOPES_HEADER, requiredScopes: ['chat:write'] })).json();
    expect(result.status).toBe('warning');
    expect(result.checks.find((c: { name: string }) => c.name === 'permission')).toMatchObject({ status: 'warning' });
  });

  it('maps invalid_auth (HTTP 200, ok:false) to auth_invalid with a hint', async () => {
    const r = await test({ botToken: REVOKED, requiredScopes: ['chat:write'] });
    const { result } = r.json();
    ConnectionTestResultSchema.parse(result);
    expect(result).toMatchObject({ status: 'error', errorCode: 'auth_invalid', details: { slackError: 'invalid_auth' } });
    expect(result.hint).toMatch(/Slack says invalid_auth: the bot token was revoked or mistyped/);
    expect(checks(result)).toEqual(stages(['config', 'request', 'auth'], 'error'));
    expect(hitsFor(REVOKED)).toHaveLength(1);
    expect(r.body).not.toContain(REVOKED);
  });

  it('maps HTTP 429 to rate_limited at once, without waiting for Retry-After or retrying', async () => {
    const r = await test({ botToken: LIMITED });
    const { result } = r.json();
    expect(result).toMatchObject({ status: 'error', errorCode: 'rate_limited', details: { retryAfterSeconds: 30 } });
    expect(result.responseTime).toBeLessThan(2000);
    expect(checks(result)).toEqual(stages(['config', 'request'], 'error'));
    expect(hitsFor(LIMITED)).toHaveLength(1);
    expect(r.body).not.toContain(LIMITED);
  });

  it('maps a 5xx answer to provider_unavailable', async () => {
    const { result } = (await test({ botToken: BROKEN })).json();
    expect(result).toMatchObject({ status: 'error', errorCode: 'provider_unavailable' });
    expect(result.message).toMatch(/503/);
    expect(result.hint).toMatch(/provider/i);
    expect(hitsFor(BROKEN)).toHaveLength(1);
  });

  it('times out on a slow server within the requested timeout', async () => {
    const r = await test({ botToken: SLOW }, 300);
    expect(expectTimedOut(r).hint).toMatch(/timeout/);
    expect(r.body).not.toContain(SLOW);
  });

  it('reports network_unreachable when the Slack endpoint refuses connections', async () => {
    await slack.unreachable(async (test) => expectNetworkUnreachable(await test({ botToken: GOOD }), GOOD));
  });

  it('keeps the token out of the stored history', async () => {
    const r = await slack.h.app.inject({ method: 'GET', url: '/onboarding/connection-history/s1', headers: bearer(user) });
    expect(r.statusCode).toBe(200);
    expect(r.json().items.length).toBeGreaterThan(0);
    for (const token of [GOOD, REVOKED, LIMITED, BROKEN, SLOW]) expect(r.body).not.toContain(token);
  });
});
