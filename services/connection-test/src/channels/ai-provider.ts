import Anthropic from '@anthropic-ai/sdk';
import { AiProviderConfigSchema } from '@glavito/contracts';
import { GoogleGenerativeAI, GoogleGenerativeAIAbortError, GoogleGenerativeAIError, GoogleGenerativeAIFetchError } from '@google/generative-ai';
import OpenAI from 'openai';
import type { z } from 'zod';
import { classifyError, ConnectionTestFailure, defaultHint } from '../domain/result.js';
import type { Channel, ChannelContext, ChannelOutcome } from './types.js';

type AiConfig = z.infer<typeof AiProviderConfigSchema>;
type Provider = AiConfig['provider'];
type Refusal = { stage: 'auth' | 'permission'; failure: ConnectionTestFailure };

const NAMES: Record<Provider, string> = { openai: 'OpenAI', anthropic: 'Anthropic', google: 'Google AI' };
const KEY_HINTS: Record<Provider, string> = {
  openai: 'Check the API key at platform.openai.com → API keys: it may be mistyped, revoked, or belong to a deleted project.',
  anthropic: 'Check the API key in the Anthropic Console → API keys: it may be mistyped, disabled or deleted.',
  google: 'Check the API key in Google AI Studio → API keys (or the Google Cloud console): it may be mistyped, deleted or expired.',
};
/** The model probed with countTokens when the tenant names none (free; nothing is generated). */
const GOOGLE_PROBE_MODEL = 'gemini-2.5-flash';

function clip(s: string | null | undefined, n = 240): string | undefined {
  const t = (s ?? '').trim();
  if (!t) return undefined;
  return t.length > n ? `${t.slice(0, n - 3)}...` : t;
}

/**
 * A provider's HTTP answer onto the taxonomy: thrown when the request itself failed (rate limit,
 * outage), a Refusal when the provider judged the key. Provider messages for rejected keys are not
 * passed on: they quote part of the key.
 */
function statusRefusal(provider: Provider, status: number, info: { code?: string | null; type?: string | null; message?: string | null }): Refusal {
  const name = NAMES[provider];
  const details = { provider, httpStatus: status, ...(info.code ? { providerCode: info.code } : {}), ...(info.type ? { providerType: info.type } : {}) };
  if (status === 429) {
    const quota = info.code === 'insufficient_quota';
    throw new ConnectionTestFailure(
      'rate_limited',
      quota ? `${name} says the account has no quota left` : `${name} is rate limiting this key`,
      quota ? 'The key works but its account is out of credit or over its spending limit: check billing with the provider.' : defaultHint('rate_limited'),
      details,
    );
  }
  if (status >= 500)
    throw new ConnectionTestFailure(
      'provider_unavailable',
      status === 529 ? `${name} is overloaded (529)` : `${name} answered ${status}`,
      defaultHint('provider_unavailable'),
      details,
    );
  if (status === 401)
    return { stage: 'auth', failure: new ConnectionTestFailure('auth_invalid', `${name} rejected the API key`, KEY_HINTS[provider], details) };
  if (status === 403) {
    const said = clip(info.message);
    return {
      stage: 'permission',
      failure: new ConnectionTestFailure(
        'permission_missing',
        `${name} accepted the key but refused the request${said ? `: ${said}` : ''}`,
        provider === 'openai'
          ? "A restricted key needs read access to Models (or use an unrestricted key); also check the key's project and role."
          : provider === 'anthropic'
            ? "The key's workspace or organization may not use this API; check the key's workspace permissions in the Anthropic Console."
            : "The key may not use the Generative Language API: enable it for the key's project, and check the key's API restrictions.",
        details,
      ),
    };
  }
  throw new ConnectionTestFailure(
    'provider_unavailable',
    `${name} refused the request (${status})`,
    "The provider endpoint answered unexpectedly; check the service's provider URL setting.",
    details,
  );
}

/** OpenAI and Anthropic share the Stainless error classes' shape. */
function sdkRefusal(provider: 'openai' | 'anthropic', err: unknown): Refusal {
  const isApiError = err instanceof OpenAI.APIError || err instanceof Anthropic.APIError;
  if (!isApiError) throw classifyError(err);
  if (
    err instanceof OpenAI.APIConnectionTimeoutError ||
    err instanceof Anthropic.APIConnectionTimeoutError ||
    err instanceof OpenAI.APIUserAbortError ||
    err instanceof Anthropic.APIUserAbortError
  )
    throw new ConnectionTestFailure('timeout', `${NAMES[provider]} did not answer in time`, defaultHint('timeout'));
  // fetch wraps socket errors: cause is TypeError('fetch failed') whose own cause carries the code.
  if (err instanceof OpenAI.APIConnectionError || err instanceof Anthropic.APIConnectionError) throw classifyError(err.cause ?? err);
  if (err instanceof OpenAI.APIError)
    return statusRefusal(provider, err.status ?? 0, { code: err.code, type: err.type, message: err.status === 403 ? apiMessage(err.error) : undefined });
  const a = err as InstanceType<typeof Anthropic.APIError>;
  return statusRefusal(provider, a.status ?? 0, { type: a.type, code: a.errorCode, message: a.status === 403 ? a.apiMessage : undefined });
}

function apiMessage(body: unknown): string | undefined {
  const m = (body as { message?: unknown } | undefined)?.message;
  return typeof m === 'string' ? m : undefined;
}

function isNotFound(err: unknown): boolean {
  return (err instanceof OpenAI.APIError || err instanceof Anthropic.APIError) && err.status === 404;
}

/** request → auth → permission around one call that proves the key. */
async function staged<T>(ctx: ChannelContext, name: string, call: () => Promise<T>, interpret: (err: unknown) => Refusal): Promise<T> {
  const answer = await ctx.step(
    'request',
    async (): Promise<{ value: T } | { refused: Refusal }> => {
      try {
        return { value: await call() };
      } catch (err) {
        return { refused: interpret(err) };
      }
    },
    () => `${name} answered`,
  );
  const refusal = 'refused' in answer ? answer.refused : undefined;
  await ctx.step(
    'auth',
    async () => {
      if (refusal?.stage === 'auth') throw refusal.failure;
    },
    () => 'API key accepted',
  );
  return ctx.step('permission', async () => {
    if (refusal) throw refusal.failure;
    return (answer as { value: T }).value;
  });
}

async function testOpenAi(config: AiConfig, ctx: ChannelContext): Promise<ChannelOutcome> {
  // Every option the SDK would otherwise read from OPENAI_* environment variables is given explicitly.
  const client = new OpenAI({
    apiKey: config.apiKey,
    baseURL: ctx.providers.openaiUrl,
    organization: null,
    project: null,
    adminAPIKey: null,
    webhookSecret: null,
    maxRetries: 0,
    timeout: ctx.timeoutMs,
    logLevel: 'off',
  });
  const opts = { signal: ctx.signal, timeout: ctx.timeoutMs, maxRetries: 0 };
  const page = await staged(
    ctx,
    'OpenAI',
    () => client.models.list(opts),
    (err) => sdkRefusal('openai', err),
  );
  const ids = page.data.map((m) => m.id);
  const available = await modelStage(ctx, 'openai', config.model, ids, (m) => client.models.retrieve(m, opts));
  return outcome('openai', ids.length, config.model, available);
}

async function testAnthropic(config: AiConfig, ctx: ChannelContext): Promise<ChannelOutcome> {
  // authToken: null keeps ANTHROPIC_AUTH_TOKEN unread; the base URL is never taken from ANTHROPIC_BASE_URL.
  const client = new Anthropic({
    apiKey: config.apiKey,
    authToken: null,
    baseURL: ctx.providers.anthropicUrl,
    webhookKey: null,
    maxRetries: 0,
    timeout: ctx.timeoutMs,
    logLevel: 'off',
  });
  const opts = { signal: ctx.signal, timeout: ctx.timeoutMs, maxRetries: 0 };
  const page = await staged(
    ctx,
    'Anthropic',
    () => client.models.list({ limit: 1000 }, opts),
    (err) => sdkRefusal('anthropic', err),
  );
  const ids = page.data.map((m) => m.id);
  const available = await modelStage(ctx, 'anthropic', config.model, ids, (m) => client.models.retrieve(m, {}, opts));
  return outcome('anthropic', ids.length, config.model, available);
}

/** Runs the model check; a model the key cannot see makes the result a warning, not a failure. */
async function modelStage(
  ctx: ChannelContext,
  provider: 'openai' | 'anthropic',
  model: string | undefined,
  ids: string[],
  retrieve: (m: string) => Promise<unknown>,
): Promise<boolean | undefined> {
  if (!model) {
    ctx.skip('model', 'No model given');
    return undefined;
  }
  if (ids.includes(model)) {
    await ctx.step(
      'model',
      async () => model,
      (m) => `${m} is available`,
    );
    return true;
  }
  let found: boolean;
  try {
    await retrieve(model);
    found = true;
  } catch (err) {
    if (!isNotFound(err)) {
      ctx.warn('model', `Could not check ${model}: ${classifyError(err).message}`);
      return undefined;
    }
    found = false;
  }
  if (found)
    await ctx.step(
      'model',
      async () => model,
      (m) => `${m} is available`,
    );
  else ctx.warn('model', `${model} is not available to this key (${NAMES[provider]} lists ${ids.length} models)`);
  return found;
}

function googleRefusal(err: unknown): Refusal {
  if (err instanceof GoogleGenerativeAIAbortError) throw new ConnectionTestFailure('timeout', 'Google AI did not answer in time', defaultHint('timeout'));
  if (err instanceof GoogleGenerativeAIFetchError) {
    const status = err.status ?? 0;
    const reasons = (err.errorDetails ?? []).map((d) => d.reason).filter((r): r is string => typeof r === 'string');
    const info = { code: reasons[0] ?? null, type: err.statusText ?? null, message: null };
    // Google answers an unknown or expired key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
    if (reasons.includes('API_KEY_INVALID') || /API key (not valid|expired)/i.test(err.message)) return statusRefusal('google', 401, info);
    if (status === 400 && /location is not supported/i.test(err.message))
      return statusRefusal('google', 403, { ...info, message: 'User location is not supported for the API use.' });
    if (status === 400)
      throw new ConnectionTestFailure('config_invalid', 'Google AI refused the request (400)', 'Check the model name (e.g. gemini-2.5-flash).', {
        provider: 'google',
        httpStatus: 400,
        field: 'model',
        ...(info.code ? { providerCode: info.code } : {}),
      });
    return statusRefusal('google', status, info);
  }
  // The SDK flattens network errors into "Error fetching from <url>: fetch failed", dropping the socket code.
  if (err instanceof GoogleGenerativeAIError && /fetch failed/i.test(err.message))
    throw new ConnectionTestFailure('network_unreachable', 'The connection to the Google AI API failed', defaultHint('network_unreachable'));
  throw classifyError(err);
}

async function testGoogle(config: AiConfig, ctx: ChannelContext): Promise<ChannelOutcome> {
  const model = config.model ?? GOOGLE_PROBE_MODEL;
  // The SDK sends the key in the x-goog-api-key header (never in the query string).
  // No SDK `timeout`: this SDK arms a timer per request that it never clears; the test's deadline
  // (ctx.signal, aborted at timeoutMs) cancels the request instead.
  const generative = new GoogleGenerativeAI(config.apiKey).getGenerativeModel({ model }, { baseUrl: ctx.providers.googleAiUrl });
  // countTokens is free and generates nothing; it proves the key against a concrete model.
  const result = await staged(
    ctx,
    'Google AI',
    async () => {
      try {
        return { totalTokens: (await generative.countTokens('ping', { signal: ctx.signal })).totalTokens };
      } catch (err) {
        // A 404 comes after Google has accepted the key: the key works, the model does not exist for it.
        if (err instanceof GoogleGenerativeAIFetchError && err.status === 404) return { modelMissing: true as const };
        throw err;
      }
    },
    googleRefusal,
  );
  let available: boolean;
  if ('modelMissing' in result) {
    ctx.warn('model', config.model ? `${model} is not available to this key` : `The key works, but the probe model ${model} was not found`);
    available = false;
  } else {
    await ctx.step(
      'model',
      async () => model,
      (m) => `${m} is available`,
    );
    available = true;
  }
  return outcome('google', undefined, model, available);
}

function outcome(provider: Provider, modelsAvailable: number | undefined, model: string | undefined, modelAvailable: boolean | undefined): ChannelOutcome {
  return {
    message: `${NAMES[provider]} accepted the API key${model && modelAvailable === false ? `, but ${model} is not available` : ''}`,
    details: {
      provider,
      ...(modelsAvailable !== undefined ? { modelsAvailable } : {}),
      ...(model ? { model, modelAvailable } : {}),
    },
  };
}

/**
 * Proves an AI provider key with the cheapest call that needs it: listing models (OpenAI, Anthropic)
 * or counting tokens (Google). Never calls a generation endpoint.
 */
export const aiProviderChannel: Channel<typeof AiProviderConfigSchema> = {
  schema: AiProviderConfigSchema,
  summarize: (c) => ({ provider: c.provider, ...(c.model ? { model: c.model } : {}) }),
  async test(config, ctx) {
    switch (config.provider) {
      case 'openai':
        return testOpenAi(config, ctx);
      case 'anthropic':
        return testAnthropic(config, ctx);
      case 'google':
        return testGoogle(config, ctx);
    }
  },
};
