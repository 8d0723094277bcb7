import { TeamsConfigSchema } from '@glavito/contracts';
import { request } from 'undici';
import { ConnectionTestFailure, defaultHint } from '../domain/result.js';
import type { Channel } from './types.js';

const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';

interface TokenAnswer {
  access_token?: unknown;
  token_type?: unknown;
  expires_in?: unknown;
  error?: unknown;
  error_description?: unknown;
  error_codes?: unknown;
}

/** The AADSTS number Microsoft puts in error_codes and at the start of error_description. */
function aadstsCode(body: TokenAnswer): number | undefined {
  if (Array.isArray(body.error_codes) && typeof body.error_codes[0] === 'number') return body.error_codes[0];
  const m = /AADSTS(\d+)/.exec(String(body.error_description ?? ''));
  return m ? Number(m[1]) : undefined;
}

/** First line of error_description without the trace/correlation ids and timestamp that follow it. */
function describeError(body: TokenAnswer): string {
  const first = String(body.error_description ?? body.error ?? '').split(/\r?\n|\s+Trace ID:/)[0] ?? '';
  return first.length > 300 ? `${first.slice(0, 297)}...` : first;
}

function tokenFailure(status: number, body: TokenAnswer): ConnectionTestFailure {
  const code = aadstsCode(body);
  const error = typeof body.error === 'string' ? body.error : undefined;
  const said = describeError(body);
  const details = { httpStatus: status, ...(error ? { error } : {}), ...(code !== undefined ? { aadsts: `AADSTS${code}` } : {}) };
  const msg = (prefix: string) => `${prefix}${said ? `: ${said}` : ''}`;
  switch (code) {
    case 7000215:
      return new ConnectionTestFailure(
        'auth_invalid',
        msg('Microsoft rejected the client secret'),
        "The client secret is wrong. Copy the secret's Value (not its Secret ID) from Certificates & secrets in the app registration.",
        details,
      );
    case 7000222:
      return new ConnectionTestFailure(
        'auth_invalid',
        msg('The client secret has expired'),
        'Create a new client secret under Certificates & secrets in the app registration and save it here.',
        details,
      );
    case 700016:
      return new ConnectionTestFailure(
        'auth_invalid',
        msg('No application with this client id exists in the directory'),
        'Check the Application (client) ID, and that the app is registered in this tenant or has been consented to by its administrator.',
        { ...details, field: 'clientId' },
      );
    case 90002:
    case 900023:
    case 90023:
      return new ConnectionTestFailure(
        'config_invalid',
        msg('The directory (tenant) was not found'),
        "Check the Directory (tenant) ID or domain on the app registration's Overview page.",
        { ...details, field: 'tenantId' },
      );
    case 65001:
      return new ConnectionTestFailure(
        'permission_missing',
        msg('The app has not been granted consent in this tenant'),
        "An administrator must grant admin consent for the app's Microsoft Graph application permissions (API permissions → Grant admin consent).",
        details,
      );
    case 7000112:
      return new ConnectionTestFailure(
        'auth_invalid',
        msg('The application is disabled'),
        'Enable the app (Enterprise applications → Properties → Enabled for users to sign in).',
        details,
      );
  }
  if (status === 429) return new ConnectionTestFailure('rate_limited', msg('Microsoft is rate limiting token requests'), defaultHint('rate_limited'), details);
  if (status >= 500)
    return new ConnectionTestFailure(
      'provider_unavailable',
      msg(`Microsoft identity platform answered ${status}`),
      defaultHint('provider_unavailable'),
      details,
    );
  if (error === 'unauthorized_client' || error === 'consent_required')
    return new ConnectionTestFailure(
      'permission_missing',
      msg('The app may not use the client-credentials flow in this tenant'),
      'An administrator must consent to the app and its application permissions in this tenant.',
      details,
    );
  if (error === 'invalid_client' || status === 401)
    return new ConnectionTestFailure(
      'auth_invalid',
      msg('Microsoft rejected the client credentials'),
      'Check the Application (client) ID and client secret.',
      details,
    );
  return new ConnectionTestFailure(
    'auth_invalid',
    msg(`Microsoft refused the token request (${status})`),
    'Check the tenant ID, client ID and client secret of the app registration.',
    details,
  );
}

/**
 * Requests an app-only token for Microsoft Graph with the client-credentials grant. Success proves the
 * tenant, client id and secret belong together; the token itself is dropped at once, never returned.
 */
export const teamsChannel: Channel<typeof TeamsConfigSchema> = {
  schema: TeamsConfigSchema,
  summarize: (c) => ({ tenantId: c.tenantId, clientId: c.clientId }),
  async test(config, ctx) {
    const url = `${ctx.providers.microsoftLoginUrl}/${encodeURIComponent(config.tenantId)}/oauth2/v2.0/token`;
    const form = new URLSearchParams({ client_id: config.clientId, client_secret: config.clientSecret, grant_type: 'client_credentials', scope: GRAPH_SCOPE });

    const answer = await ctx.step(
      'request',
      async () => {
        const res = await request(url, {
          method: 'POST',
          body: form.toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'user-agent': ctx.userAgent },
          signal: ctx.signal,
          headersTimeout: ctx.timeoutMs,
          bodyTimeout: ctx.timeoutMs,
        });
        const text = await res.body.text();
        let body: TokenAnswer = {};
        try {
          body = JSON.parse(text) as TokenAnswer;
        } catch {
          // Not JSON (a proxy's error page, say): judged by the status alone.
        }
        if (res.statusCode === 429 || res.statusCode >= 500) throw tokenFailure(res.statusCode, body);
        return { status: res.statusCode, body };
      },
      (a) => `HTTP ${a.status}`,
    );

    const granted = await ctx.step(
      'auth',
      async () => {
        const { status, body } = answer;
        if (status >= 200 && status < 300 && typeof body.access_token === 'string' && body.access_token.length > 0)
          return {
            scheme: typeof body.token_type === 'string' ? body.token_type : 'Bearer',
            expiresIn: typeof body.expires_in === 'number' ? body.expires_in : Number(body.expires_in) || undefined,
          };
        if (status >= 200 && status < 300)
          throw new ConnectionTestFailure('provider_unavailable', 'Microsoft answered without an access token', defaultHint('provider_unavailable'), {
            httpStatus: status,
          });
        throw tokenFailure(status, body);
      },
      (g) => `Token issued${g.expiresIn ? ` (valid ${g.expiresIn} s)` : ''}`,
    );

    // `tokenType` would be masked as a credential-like key by the runner, hence `authScheme`.
    return {
      message: 'Microsoft issued an app-only token for Microsoft Graph',
      details: { tenantId: config.tenantId, clientId: config.clientId, authScheme: granted.scheme, expiresIn: granted.expiresIn, scope: GRAPH_SCOPE },
    };
  },
};
