import { CONNECTION_CONFIG_SCHEMAS, connectionConfigErrors, maskSecrets, MASK, isSecretKey, walk, type FieldError } from '@glavito/contracts';
import { v7 as uuidv7 } from 'uuid';
import type { Channel, ChannelContext, ProviderUrls } from '../channels/types.js';
import type { Lookup, OutboundPolicy } from './outbound-policy.js';
import { classifyError, ConnectionTestFailure, defaultHint, type Check, type ConnectionTestResult } from './result.js';
import { createKeyedLock, type KeyedLock } from './keyed-lock.js';
import { trustErrors } from './tls-trust.js';

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
  /** Serializes tests to one target (host:port) in this process; default: a lock of this runner call only. */
  targetLock?: KeyedLock;
}

/** Every credential value in a config (at any depth), so it can be scrubbed from free text that comes back. */
function secretValues(config: unknown): string[] {
  const out: string[] = [];
  walk(config, (k, v) => {
    // A custom CA is not a secret, but it is the tenant's: it never goes into results, history or events.
    if ((isSecretKey(k) || k === 'caCertificate') && typeof v === 'string' && v.length >= 4) out.push(v);
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
 * Every rule a config must meet before a test runs: its channel's schema, then what only the service
 * can check (PEM certificates parse, a connection string parses). Field paths are relative to the config.
 */
export function configErrors(channelName: TestRequest['channel'], channel: Channel | undefined, config: unknown): FieldError[] {
  const schemaErrors = connectionConfigErrors(channelName, config);
  if (schemaErrors) return schemaErrors;
  const tlsErrors = tlsPaths(config).flatMap((p) => trustErrors(valueAt(config, p) as never, p.join('.')));
  const parsed = CONNECTION_CONFIG_SCHEMAS[channelName].parse(config);
  return [...tlsErrors, ...(channel?.validate?.(parsed as never) ?? [])];
}

function valueAt(root: unknown, path: string[]): unknown {
  return path.reduce<unknown>((cur, k) => (cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined), root);
}

function tlsPaths(value: unknown, path: string[] = []): string[][] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([k, v]) => (k === 'tls' ? [[...path, k]] : tlsPaths(v, [...path, k])));
}

/** The kind of stage a check name stands for ("smtp auth" → auth, "imap connect" → connect). */
function stageOf(name: string): string {
  return (
    name
      .split(' ')
      .filter((w) => !w.startsWith('('))
      .at(-1) ?? name
  );
}

function protocolOf(name: string): string {
  const words = name.split(' ');
  return words.length > 1 ? `${words[0]!.toUpperCase()}: ` : '';
}

const SLOW_LOGIN_HINT =
  'The server is slow to answer logins, which mail and database servers do on purpose after failed attempts from the same address (wrong passwords, from this test or another client). Wait a few minutes, check the password, then test once; every failed attempt makes the delay longer. Raising the timeout (up to 30 s) shows whether the login would pass.';

/** A stage that ran out of time, said for that stage (a slow login is not a network problem). */
function stageTimeout(name: string, elapsedMs: number, checks: Check[]): ConnectionTestFailure {
  const stage = stageOf(name);
  const protocol = protocolOf(name);
  const prefix = name.includes(' ') ? `${name.split(' ')[0]} ` : '';
  if (stage === 'auth' || stage === 'login') {
    const connect = checks.find((c) => c.name === `${prefix}connect` && c.status !== 'error');
    return new ConnectionTestFailure(
      'rate_limited',
      `${protocol}the server did not answer the login within ${elapsedMs} ms${connect ? `, though it accepted the connection in ${connect.durationMs} ms` : ''}: it is probably throttling logins after failed attempts`,
      SLOW_LOGIN_HINT,
      { stage: 'auth', reason: 'slow_login' },
    );
  }
  if (stage === 'tls')
    return new ConnectionTestFailure(
      'timeout',
      `${protocol}the TLS handshake did not finish within ${elapsedMs} ms`,
      'The port may not speak TLS (check secure / the port), or the server is overloaded.',
      { stage: 'tls' },
    );
  if (stage === 'connect')
    return new ConnectionTestFailure('timeout', `${protocol}no connection within ${elapsedMs} ms`, defaultHint('timeout'), { stage: 'connect' });
  return new ConnectionTestFailure('timeout', `${protocol}no answer within ${elapsedMs} ms (during ${name})`, defaultHint('timeout'), { stage });
}

/**
 * Runs one test: validates the config, waits for other tests to the same target, gives the channel its
 * own deadline, records each stage as a check (exactly one in error when it fails) and turns any failure
 * into a result with a code, a hint and the non-secret target. Never throws.
 */
export async function runConnectionTest(req: TestRequest, deps: RunnerDeps): Promise<RunOutcome> {
  const checks: Check[] = [];
  const channel = deps.channels[req.channel];
  const id = uuidv7();
  let started = Date.now();
  let summary: Record<string, unknown> = {};
  const finish = (r: Omit<ConnectionTestResult, 'id' | 'channel' | 'checks' | 'responseTime' | 'timestamp'>): RunOutcome => {
    const secrets = secretValues(req.config);
    const timestamp = (deps.now?.() ?? new Date()).toISOString();
    // A snapshot: a stage that settles after the deadline must not change the stored result.
    const result = scrub(
      {
        id,
        channel: req.channel,
        ...r,
        details: maskSecrets(r.details),
        checks: checks.map((c) => ({ ...c })),
        responseTime: Date.now() - started,
        timestamp,
      } as ConnectionTestResult,
      secrets,
    );
    return { result, configSummary: scrubObject(maskSecrets(summary), secrets) };
  };

  const schemaErrors = CONNECTION_CONFIG_SCHEMAS[req.channel] ? configErrors(req.channel, channel, req.config) : [];
  const errors = schemaErrors.length > 0 || channel ? schemaErrors : [{ field: 'channel', rule: 'enum', message: `channel ${req.channel} is not supported` }];
  if (errors.length > 0) {
    checks.push({ name: 'config', status: 'error', durationMs: 0, message: errors.map((e) => e.message).join('; ') });
    return finish({
      status: 'error',
      message: 'The configuration is invalid',
      errorCode: 'config_invalid',
      hint: defaultHint('config_invalid'),
      details: { stage: 'config', errors },
    });
  }
  const config = CONNECTION_CONFIG_SCHEMAS[req.channel].parse(req.config) as never;
  checks.push({ name: 'config', status: 'success', durationMs: 0 });
  summary = channel!.summarize(config);
  const timeoutMs = Math.min(Math.max(req.timeout ?? deps.defaultTimeoutMs, 100), 30_000);
  const lock = deps.targetLock ?? createKeyedLock();
  // Tests to one host:port wait for each other, so our own attempts never trip the server's login throttling.
  const targets = channel!.serializePerTarget ? (channel!.targets?.(config) ?? []).map((t) => `${t.host.toLowerCase()}:${t.port}`) : [];

  return lock.run(targets, async () => {
    // Time spent waiting for another test to the same server is not this test's.
    started = Date.now();
    const controller = new AbortController();
    let warned = false;
    let inFlight: { name: string; t0: number; settled: boolean } | null = null;

    const ctx: ChannelContext = {
      timeoutMs,
      signal: controller.signal,
      policy: deps.policy,
      providers: deps.providers,
      lookup: deps.lookup,
      userAgent: deps.userAgent ?? 'Glavito-Connection-Test/1.0',
      async step(name, fn, describe) {
        const t0 = Date.now();
        const me = { name, t0, settled: false };
        inFlight = me;
        try {
          const value = await fn();
          if (!me.settled) checks.push({ name, status: 'success', durationMs: Date.now() - t0, ...(describe?.(value) ? { message: describe(value) } : {}) });
          return value;
        } catch (err) {
          let failure = classifyError(err);
          // A login that times out after a good connection is the server holding logins back.
          if (failure.code === 'timeout' && ['auth', 'login'].includes(stageOf(name))) failure = stageTimeout(name, Date.now() - t0, checks);
          if (!me.settled) checks.push({ name, status: 'error', durationMs: Date.now() - t0, message: failure.message });
          throw new ConnectionTestFailure(failure.code, failure.message, failure.hint, { stage: stageOf(name), ...failure.details });
        } finally {
          me.settled = true;
          if (inFlight === me) inFlight = null;
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
    let timedOut: ConnectionTestFailure | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const current = inFlight as { name: string; t0: number; settled: boolean } | null;
        if (current && !current.settled) {
          current.settled = true;
          timedOut = stageTimeout(current.name, Date.now() - current.t0, checks);
          checks.push({ name: current.name, status: 'error', durationMs: Date.now() - current.t0, message: timedOut.message });
        } else {
          timedOut = new ConnectionTestFailure('timeout', `No answer within ${timeoutMs} ms`, defaultHint('timeout'), { stage: 'deadline' });
          checks.push({ name: 'deadline', status: 'error', durationMs: Date.now() - started, message: timedOut.message });
        }
        controller.abort();
        reject(timedOut);
      }, timeoutMs);
    });
    try {
      const outcome = await Promise.race([channel!.test(config, ctx), deadline]);
      return finish({
        status: warned ? 'warning' : 'success',
        message: outcome.message,
        ...(outcome.hint ? { hint: outcome.hint } : {}),
        details: { ...summary, ...(outcome.details ?? {}) },
      });
    } catch (err) {
      const failure = timedOut ?? classifyError(err);
      // Every failed test names exactly one stage in error: a failure raised between stages gets its own.
      if (!checks.some((c) => c.status === 'error'))
        checks.push({ name: String(failure.details.stage ?? 'test'), status: 'error', durationMs: 0, message: failure.message });
      const stage = checks.find((c) => c.status === 'error')!.name;
      return finish({
        status: 'error',
        message: failure.message,
        errorCode: failure.code,
        hint: failure.hint ?? defaultHint(failure.code),
        details: { ...summary, ...failure.details, stage },
      });
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
  });
}
