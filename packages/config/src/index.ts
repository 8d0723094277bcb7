import { z } from 'zod';

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Parses environment variables once; a bad value fails loudly with every problem listed. */
export function loadConfig<S extends z.ZodType>(schema: S, env: Record<string, string | undefined> = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
}

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

export const env = {
  bool,
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  int: (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max).default(fallback),
  url: () => z.url(),
  /** A duration such as 500ms, 30s, 15m, 1h, 7d; parsed to milliseconds. */
  duration: (fallback: string) =>
    z
      .string()
      .default(fallback)
      .transform((v, ctx) => {
        const ms = parseDuration(v);
        if (ms === null) {
          ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration like 30s, 15m, 1h or 7d` });
          return z.NEVER;
        }
        return ms;
      }),
};

export function parseDuration(value: string): number | null {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit] ?? 1;
  return n * factor;
}

/** Settings every service shares. */
export const commonEnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HOST: z.string().default('127.0.0.1'),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters (HS256 key)'),
  JWT_EXPIRES_IN: z
    .string()
    .regex(/^\d+[smhd]?$/, 'must look like 3600, 15m or 1h')
    .default('1h'),
});

const subjectPrefix = (fallback: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be dot-separated tokens of A-Z, a-z, 0-9, _ or -')
    .default(fallback);

/** Postgres settings of a service that owns a schema; each process gets its own values. */
export const databaseEnvShape = {
  /** Admin URL: runs migrations and provisions the service role. */
  DATABASE_URL: z.url(),
  /** URL the service itself uses; defaults to DATABASE_URL with user DB_ROLE. */
  SERVICE_DATABASE_URL: z.url().optional(),
  DB_ROLE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/)
    .optional(),
  DB_PASSWORD: z.string().optional(),
  /** Set to false where a migration job runs separately (Kubernetes). */
  MIGRATE_ON_START: bool.default(true),
  DB_POOL_MAX: env.int(10, 1, 200),
};

/** NATS / JetStream settings shared by every service. */
export const busEnvShape = {
  NATS_URL: z.string().min(1),
  EVENT_STREAM: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('ONBOARDING_EVENTS'),
  EVENT_SUBJECT_PREFIX: subjectPrefix('onboarding.events'),
  /** How long events stay in the stream (replay window). */
  EVENT_RETENTION: env.duration('7d'),
  /** Request/reply subjects: `<prefix>.session.get`, `<prefix>.progress.get`. */
  RPC_SUBJECT_PREFIX: subjectPrefix('onboarding.rpc'),
  /** Poison messages go to `<prefix>.<consumer>` (a stream of their own). */
  DEAD_LETTER_PREFIX: subjectPrefix('onboarding.dlq'),
  /**
   * Audit events (`<prefix>.<tenantId>.<action>`) travel on a stream of their own, read only by the audit service.
   * Unset: `<EVENT_STREAM>_AUDIT` and `<EVENT_SUBJECT_PREFIX>_audit` (see auditNames), so they follow the event names.
   */
  AUDIT_STREAM: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .optional(),
  AUDIT_SUBJECT_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be dot-separated tokens of A-Z, a-z, 0-9, _ or -')
    .optional(),
};

/** The audit stream and subject prefix: set explicitly, or derived from the event stream's names. */
export function auditNames(c: { EVENT_STREAM: string; EVENT_SUBJECT_PREFIX: string; AUDIT_STREAM?: string; AUDIT_SUBJECT_PREFIX?: string }): {
  stream: string;
  subjectPrefix: string;
} {
  return { stream: c.AUDIT_STREAM ?? `${c.EVENT_STREAM}_AUDIT`, subjectPrefix: c.AUDIT_SUBJECT_PREFIX ?? `${c.EVENT_SUBJECT_PREFIX}_audit` };
}
