import { SlackConfigSchema } from '@glavito/contracts';
import { ErrorCode, LogLevel, WebClient, type AuthTestResponse, type FetchFunction, type Logger } from '@slack/web-api';
import { classifyError, ConnectionTestFailure, defaultHint } from '../domain/result.js';
import type { Channel, ChannelContext } from './types.js';

/** Slack's platform errors that mean the token itself is no good. */
const AUTH_ERRORS: Record<string, string> = {
  invalid_auth: 'the bot token was revoked or mistyped',
  not_authed: 'no token reached Slack; the bot token was revoked or mistyped',
  token_revoked: 'the bot token was revoked or mistyped (the app was uninstalled or the token rotated)',
  token_expired: 'the token expired (token rotation is on); reinstall the app or refresh the token',
  account_inactive: 'the bot user or its workspace was deactivated',
  invalid_token: 'the bot token was revoked or mistyped',
  not_allowed_token_type: 'this kind of token cannot call the Web API; use the Bot User OAuth Token (xoxb-…)',
};
const PERMISSION_ERRORS = new Set(['missing_scope', 'team_access_not_granted', 'ekm_access_denied', 'access_denied', 'no_permission']);
const UNAVAILABLE_ERRORS = new Set(['fatal_error', 'internal_error', 'service_unavailable', 'request_timeout']);

const SILENT: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => LogLevel.ERROR,
  setName: () => {},
};

const TOKEN_KINDS: Record<string, string> = { xoxb: 'bot', xoxp: 'user', xoxa: 'app', xoxr: 'refresh' };

/** Where in the test a failure belongs: the provider never answered, or it answered and refused. */
type Refusal = { stage: 'auth' | 'permission'; failure: ConnectionTestFailure };

function rateLimited(retryAfter?: number): ConnectionTestFailure {
  return new ConnectionTestFailure(
    'rate_limited',
    `Slack is rate limiting this token${retryAfter !== undefined ? ` (retry after ${retryAfter} s)` : ''}`,
    defaultHint('rate_limited'),
    retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {},
  );
}

/** Maps what the SDK threw: a thrown failure for request-level trouble, a Refusal when Slack answered no. */
function interpret(err: unknown): Refusal {
  const e = err as {
    code?: string;
    data?: { error?: string; needed?: string };
    statusCode?: number;
    retryAfter?: number;
    original?: unknown;
    message?: string;
  };
  switch (e?.code) {
    case ErrorCode.PlatformError: {
      const code = String(e.data?.error ?? 'unknown_error');
      const reason = AUTH_ERRORS[code];
      if (reason)
        return {
          stage: 'auth',
          failure: new ConnectionTestFailure('auth_invalid', `Slack rejected the token (${code})`, `Slack says ${code}: ${reason}.`, { slackError: code }),
        };
      if (PERMISSION_ERRORS.has(code))
        return {
          stage: 'permission',
          failure: new ConnectionTestFailure(
            'permission_missing',
            `Slack refused the call (${code})`,
            'Add the missing scopes under OAuth & Permissions in the Slack app, then reinstall it to the workspace.',
            { slackError: code, ...(e.data?.needed ? { neededScopes: e.data.needed } : {}) },
          ),
        };
      if (code === 'ratelimited') throw rateLimited();
      if (UNAVAILABLE_ERRORS.has(code))
        throw new ConnectionTestFailure('provider_unavailable', `Slack had an error (${code})`, defaultHint('provider_unavailable'), { slackError: code });
      return {
        stage: 'auth',
        failure: new ConnectionTestFailure(
          'auth_invalid',
          `Slack refused the token (${code})`,
          `Slack says ${code}: check the bot token and that the app is installed in the workspace.`,
          { slackError: code },
        ),
      };
    }
    case ErrorCode.RateLimitedError:
      throw rateLimited(e.retryAfter);
    case ErrorCode.HTTPError: {
      const status = e.statusCode ?? 0;
      if (status >= 500) throw new ConnectionTestFailure('provider_unavailable', `Slack answered HTTP ${status}`, defaultHint('provider_unavailable'));
      if (status === 401)
        return {
          stage: 'auth',
          failure: new ConnectionTestFailure(
            'auth_invalid',
            'Slack rejected the token (HTTP 401)',
            'Slack says invalid_auth: the bot token was revoked or mistyped.',
          ),
        };
      if (status === 403)
        return {
          stage: 'permission',
          failure: new ConnectionTestFailure('permission_missing', 'Slack refused the call (HTTP 403)', defaultHint('permission_missing')),
        };
      throw classifyError({ status });
    }
    case ErrorCode.RequestError:
      // fetch wraps socket errors: original is TypeError('fetch failed') whose cause carries the code.
      throw classifyError(e.original);
    default:
      // A 429 without a usable Retry-After comes back as a plain error from the retry layer.
      if (/rate limit|retry header/i.test(String(e?.message))) throw rateLimited();
      throw classifyError(err);
  }
}

/** The SDK's own timeout signal plus the test's deadline. */
function abortableFetch(ctx: ChannelContext): FetchFunction {
  return (url, init) => globalThis.fetch(url, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, ctx.signal]) : ctx.signal });
}

/** Calls auth.test with the token: proves it, names the workspace and bot, and lists the granted scopes. */
export const slackChannel: Channel<typeof SlackConfigSchema> = {
  schema: SlackConfigSchema,
  summarize: (c) => ({ kind: TOKEN_KINDS[c.botToken.slice(0, 4)] ?? 'unknown', requiredScopes: c.requiredScopes ?? [] }),
  async test(config, ctx) {
    const client = new WebClient(config.botToken, {
      slackApiUrl: `${ctx.providers.slackApiUrl}/`,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      timeout: ctx.timeoutMs,
      fetch: abortableFetch(ctx),
      allowAbsoluteUrls: false,
      logger: SILENT,
    });

    const answer = await ctx.step(
      'request',
      async (): Promise<{ ok: AuthTestResponse } | { refused: Refusal }> => {
        try {
          return { ok: await client.auth.test() };
        } catch (err) {
          return { refused: interpret(err) };
        }
      },
      () => 'Slack answered auth.test',
    );

    const refusal = 'refused' in answer ? answer.refused : undefined;
    const res = await ctx.step(
      'auth',
      async () => {
        if (refusal?.stage === 'auth') throw refusal.failure;
        return 'ok' in answer ? answer.ok : undefined;
      },
      (r) => (r ? `${r.bot_id ? 'Bot' : 'User'} ${r.user ?? r.user_id ?? '?'} in ${r.team ?? r.team_id ?? '?'}` : undefined),
    );

    const granted = res?.response_metadata?.scopes?.filter(Boolean);
    const required = config.requiredScopes ?? [];
    if (refusal?.stage === 'permission') {
      await ctx.step('permission', async () => {
        throw refusal.failure;
      });
    } else if (required.length === 0) {
      ctx.skip('permission', 'No required scopes were given');
    } else if (!granted) {
      ctx.warn('permission', `Slack did not report the token's scopes; could not verify ${required.join(', ')}`);
    } else {
      await ctx.step(
        'permission',
        async () => {
          const missing = required.filter((s) => !granted.includes(s));
          if (missing.length > 0)
            throw new ConnectionTestFailure(
              'permission_missing',
              `The token lacks the required scope${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
              `Add ${missing.join(', ')} under OAuth & Permissions in the Slack app, then reinstall the app to the workspace so the token gets them.`,
              { missingScopes: missing, grantedScopes: granted },
            );
          return required;
        },
        (r) => `All ${r.length} required scopes granted`,
      );
    }

    return {
      message: `Connected to Slack workspace ${res?.team ?? res?.team_id ?? ''}`.trim(),
      details: {
        team: res?.team,
        teamId: res?.team_id,
        user: res?.user,
        userId: res?.user_id,
        botId: res?.bot_id,
        url: res?.url,
        ...(res?.enterprise_id ? { enterpriseId: res.enterprise_id } : {}),
        ...(granted ? { scopes: granted } : {}),
      },
    };
  },
};
