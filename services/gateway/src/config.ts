import { commonEnvSchema, env, loadConfig } from '@glavito/config';
import type { ServiceName } from '@glavito/contracts';
import { z } from 'zod';

const httpUrl = z.url({ protocol: /^https?$/ });

/** Unset or empty means the service is not deployed: its routes answer 503. */
const serviceUrl = z.preprocess(
  (v) => (v === '' ? undefined : v),
  httpUrl.transform((u) => u.replace(/\/+$/, '')).optional(),
);

export const ConfigSchema = commonEnvSchema.extend({
  PORT: env.port(3000),
  SESSION_URL: serviceUrl,
  PROGRESS_URL: serviceUrl,
  CONNECTION_TEST_URL: serviceUrl,
  REALTIME_URL: serviceUrl,
  /** CORS origins, comma-separated. */
  FRONTEND_URL: z
    .string()
    .default('http://localhost:3000')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(httpUrl.transform((u) => new URL(u).origin)).min(1)),
  RATE_LIMIT_MAX: env.int(300, 1),
  RATE_LIMIT_WINDOW: env.duration('1m'),
  BODY_LIMIT_BYTES: env.int(1024 * 1024, 1),
  UPSTREAM_TIMEOUT_MS: env.int(30_000, 1),
  /** Behind an ingress, req.ip (the rate-limit key of anonymous callers) must come from X-Forwarded-For. */
  TRUST_PROXY: env.bool.default(false),
});

export type GatewayConfig = z.infer<typeof ConfigSchema>;
export type Upstreams = Record<ServiceName, string | undefined>;

export function loadGatewayConfig(source: Record<string, string | undefined> = process.env): GatewayConfig {
  return loadConfig(ConfigSchema, source);
}

export function upstreamsOf(config: GatewayConfig): Upstreams {
  return {
    session: config.SESSION_URL,
    progress: config.PROGRESS_URL,
    'connection-test': config.CONNECTION_TEST_URL,
    realtime: config.REALTIME_URL,
  };
}
