import { statSync } from 'node:fs';
import path from 'node:path';
import { brokerEnvShape } from '@glavito/broker';
import { busEnvShape, commonEnvSchema, ConfigError, env, loadConfig } from '@glavito/config';
import type { ServiceName } from '@glavito/contracts';
import { z } from 'zod';

const httpUrl = z.url({ protocol: /^https?$/ });

/** Comma-separated http(s) origins; a URL with a path stands for its origin (what a browser sends). */
const originList = z
  .string()
  .default('')
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  )
  .pipe(
    z.array(
      z
        .url({ protocol: /^https?$/, error: 'must be an http(s) origin such as https://app.example.com (no "*": list each origin)' })
        .transform((u) => new URL(u).origin),
    ),
  );

/** Unset or empty means the service is not deployed: its routes answer 503. */
const serviceUrl = z.preprocess((v) => (v === '' ? undefined : v), httpUrl.transform((u) => u.replace(/\/+$/, '')).optional());

export const ConfigSchema = commonEnvSchema.extend({
  PORT: env.port(3000),
  SESSION_URL: serviceUrl,
  PROGRESS_URL: serviceUrl,
  CONNECTION_TEST_URL: serviceUrl,
  REALTIME_URL: serviceUrl,
  NOTIFICATION_URL: serviceUrl,
  PAYMENT_URL: serviceUrl,
  AUDIT_URL: serviceUrl,
  /** Browser origins allowed by CORS, comma-separated; unset = none (same-origin pages only). */
  FRONTEND_URL: originList,
  /** More allowed origins, added to FRONTEND_URL (local start adds the dev-server origins here). */
  CORS_ORIGINS: originList,
  /** A folder of static files served at /console (the built reference console); unset = no console. */
  CONSOLE_DIR: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .transform((p) => path.resolve(p))
      .refine((p) => statSync(p, { throwIfNoEntry: false })?.isDirectory() === true, 'must be an existing folder (the built console, e.g. apps/console/dist)')
      .optional(),
  ),
  RATE_LIMIT_MAX: env.int(300, 1),
  RATE_LIMIT_WINDOW: brokerEnvShape.RATE_LIMIT_WINDOW,
  /** `nats`: one budget across every replica (KV bucket RATE_LIMIT_BUCKET on NATS_URL); `memory`: per process. */
  RATE_LIMIT_STORE: z.enum(['memory', 'nats']).default('memory'),
  RATE_LIMIT_BUCKET: brokerEnvShape.RATE_LIMIT_BUCKET,
  /** Longest wait for the shared store on a request; past it the request goes through (fail open). */
  RATE_LIMIT_STORE_TIMEOUT: env.duration('250ms'),
  /** The shared rate-limit bucket (RATE_LIMIT_STORE=nats) and the audit stream the gateway publishes refusals to. */
  NATS_URL: z.string().min(1).optional(),
  /** Audit subjects: AUDIT_SUBJECT_PREFIX, else `<EVENT_SUBJECT_PREFIX>_audit` (as every service). */
  EVENT_SUBJECT_PREFIX: busEnvShape.EVENT_SUBJECT_PREFIX,
  AUDIT_SUBJECT_PREFIX: busEnvShape.AUDIT_SUBJECT_PREFIX,
  /** Refusals published one by one per actor, code and minute before the rest are counted into one summary record. */
  AUDIT_DENIALS_PER_MINUTE: env.int(10, 1, 10_000),
  BODY_LIMIT_BYTES: env.int(1024 * 1024, 1),
  UPSTREAM_TIMEOUT_MS: env.int(30_000, 1),
  /** Longest age (ms) of the services' route manifests, read when a request matches no route of this build (routes added without a gateway release); 0 = never. */
  ROUTE_MANIFEST_REFRESH: env.int(30_000, 0),
  /** Behind an ingress, req.ip (the rate-limit key of anonymous callers) must come from X-Forwarded-For. */
  TRUST_PROXY: env.bool.default(false),
});

export type GatewayConfig = z.infer<typeof ConfigSchema>;
export type Upstreams = Record<ServiceName, string | undefined>;

export function loadGatewayConfig(source: Record<string, string | undefined> = process.env): GatewayConfig {
  const config = loadConfig(ConfigSchema, source);
  if (config.RATE_LIMIT_STORE === 'nats' && !config.NATS_URL)
    throw new ConfigError(['NATS_URL: required when RATE_LIMIT_STORE=nats (the shared rate-limit bucket lives on NATS)']);
  return config;
}

/** Every origin CORS allows: FRONTEND_URL and CORS_ORIGINS, each once. */
export function allowedOriginsOf(config: GatewayConfig): string[] {
  return [...new Set([...config.FRONTEND_URL, ...config.CORS_ORIGINS])];
}

export function upstreamsOf(config: GatewayConfig): Upstreams {
  return {
    session: config.SESSION_URL,
    progress: config.PROGRESS_URL,
    'connection-test': config.CONNECTION_TEST_URL,
    realtime: config.REALTIME_URL,
    notification: config.NOTIFICATION_URL,
    payment: config.PAYMENT_URL,
    audit: config.AUDIT_URL,
  };
}
