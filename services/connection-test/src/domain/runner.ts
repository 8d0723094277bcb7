import { CONNECTION_CONFIG_SCHEMAS, issuesToFieldErrors, maskSecrets, MASK, isSecretKey, walk } from '@glavito/contracts';
import { v7 as uuidv7 } from 'uuid';
import type { Channel, ChannelContext, ProviderUrls } from '../channels/types.js';
import type { Lookup, OutboundPolicy } from './outbound-policy.js';
import { classifyError, ConnectionTestFailure, defaultHint, type Check, type ConnectionTestResult } from './result.js';

export interface TestRequest {
  channel: keyof typeof CONNECTION_CONFIG_SCHEMAS;
  config: Record<string, unknown>;
  timeout?: number;
}

export interface RunnerDeps {
  channels: Record<string, Channel>;
  policy: OutboundPolicy;
  providers: ProviderUrls;
  defaultTimeoutMs: number;
  lookup?: Lookup;
  userAgent?: string;
  now?: () => Date;
}

/** Every credential value in a config (at any depth), so it can be scrubbed from whatever comes back. */
/** Every credential value in a config (at any depth), so it can be scrubbed from free text that comes back. */
function secretValues(config: unknown): string[] {
  const out: string[] = [];
  walk(config, (k, v) => {
    if (isSecretKey(k) && typeof v === 'string' && v.length >= 4) out.push(v);
    return undefined;
  });
  return out;
}

function scrubText(value: string, secrets: string[]): string {
  return secrets.reduce((acc, secret) => acc.split(secret).join(MASK), value);
}

/** Free-text fields (message, hint, check messages, details) lose any credential; enums and ids stay intact. */
function scrub(result: ConnectionTestResult, secrets: string[]): ConnectionTestResult {
  if (secrets.length === 0) return result;
  const text = (v: string) => scrubText(v, secrets);
  return {
    ...result,
    message: text(result.message),
    ...(result.hint ? { hint: text(result.hint) } : {}),
    checks: result.checks.map((c) => (c.message ? { ...c, message: text(c.message) } : c)),
    details: JSON.parse(JSON.stringify(result.details), (_k, v) => (typeof v === 'string' ? text(v) : v)) as Record<string, unknown>,
  };
}

function scrubObject<T>(value: T, secrets: string[]): T {
  return JSON.parse(JSON.stringify(value), (_k, v) => (typeof v === 'string' ? scrubText(v, secrets) : v)) as T;
}

export interface RunOutcome {
  result: ConnectionTestResult;
  /** Redacted config for history rows. */
  configSummary: Record<string, unknown>;
}

/**
 * Runs one test: validates the config, gives the channel its own deadline, records each stage as a
 * check and turns any failure into a result with a code and a hint. Never throws.
 */
export async function runConnectionTest(req: TestRequest, deps: RunnerDeps): Promise<RunOutcome> {
  const started = Date.now();
  const checks: Check[] = [];
  const channel = deps.channels[req.channel];
  const timestamp = (deps.now?.() ?? new Date()).toISOString();
  const id = uuidv7();
  const finish = (r: Omit<ConnectionTestResult, 'id' | 'channel' | 'checks' | 'responseTime' | 'timestamp'>, summary: Record<string, unknown>): RunOutcome => {
    const secrets = secretValues(req.config);
    const result = scrub({ id, channel: req.channel, ...r, details: maskSecrets(r.details), checks, responseTime: Date.now() - started, timestamp } as ConnectionTestResult, secrets);
    return { result, configSummary: scrubObject(maskSecrets(summary), secrets) };
  };

  const schema = CONNECTION_CONFIG_SCHEMAS[req.channel];
  const parsed = schema.safeParse(req.config);
  if (!channel || !parsed.success) {
    const errors = parsed.success ? [] : issuesToFieldErrors(parsed.error.issues, req.config);
    checks.push({ name: 'config', status: 'error', durationMs: 0, message: errors.map((e) => e.message).join('; ') || 'unsupported channel' });
    return finish({ status: 'error', message: 'The configuration is invalid', errorCode: 'config_invalid', hint: defaultHint('config_invalid'), details: { errors } }, {});
  }
  checks.push({ name: 'config', status: 'success', durationMs: 0 });
  const summary = channel.summarize(parsed.data);
  const timeoutMs = Math.min(Math.max(req.timeout ?? deps.defaultTimeoutMs, 100), 30_000);
  const controller = new AbortController();
  let warned = false;

  const ctx: ChannelContext = {
    timeoutMs,
    signal: controller.signal,
    policy: deps.policy,
    providers: deps.providers,
    lookup: deps.lookup,
    userAgent: deps.userAgent ?? 'Glavito-Connection-Test/1.0',
    async step(name, fn, describe) {
      const t0 = Date.now();
      try {
        const value = await fn();
        checks.push({ name, status: 'success', durationMs: Date.now() - t0, ...(describe?.(value) ? { message: describe(value) } : {}) });
        return value;
      } catch (err) {
        const failure = classifyError(err);
        checks.push({ name, status: 'error', durationMs: Date.now() - t0, message: failure.message });
        throw failure;
      }
    },
    warn(name, message) {
      warned = true;
      checks.push({ name, status: 'warning', durationMs: 0, message });
    },
    skip(name, message) {
      checks.push({ name, status: 'skipped', durationMs: 0, message });
    },
  };

  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new ConnectionTestFailure('timeout', `No answer within ${timeoutMs} ms`, defaultHint('timeout')));
    }, timeoutMs);
  });
  try {
    const outcome = await Promise.race([channel.test(parsed.data, ctx), deadline]);
    return finish({ status: warned ? 'warning' : 'success', message: outcome.message, details: outcome.details ?? {} }, summary);
  } catch (err) {
    const failure = controller.signal.aborted ? new ConnectionTestFailure('timeout', `No answer within ${timeoutMs} ms`, defaultHint('timeout')) : classifyError(err);
    if (controller.signal.aborted && !checks.some((c) => c.status === 'error')) checks.push({ name: 'deadline', status: 'error', durationMs: Date.now() - started, message: failure.message });
    return finish({ status: 'error', message: failure.message, errorCode: failure.code, hint: failure.hint ?? defaultHint(failure.code), details: failure.details }, summary);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}
