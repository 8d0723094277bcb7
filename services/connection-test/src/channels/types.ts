import type { FieldError } from '@glavito/contracts';
import type { z } from 'zod';
import type { Check } from '../domain/result.js';
import type { Lookup, OutboundPolicy } from '../domain/outbound-policy.js';

/** Provider endpoints are operator settings (tests point them at local fakes), never user input. */
export interface ProviderUrls {
  slackApiUrl: string;
  microsoftLoginUrl: string;
  whatsappGraphUrl: string;
  stripeApiUrl: string;
  openaiUrl: string;
  anthropicUrl: string;
  googleAiUrl: string;
}

export interface ChannelContext {
  timeoutMs: number;
  /** Aborted when the test's time is up. */
  signal: AbortSignal;
  policy: OutboundPolicy;
  providers: ProviderUrls;
  /** DNS lookup (the system's; tests may pass another). */
  lookup?: Lookup;
  userAgent: string;
  /** Runs one stage (dns → connect → tls → auth → permission) and records it as a check. */
  step<T>(name: string, fn: () => Promise<T>, describe?: (value: T) => string | undefined): Promise<T>;
  /** Records a stage that passed with a reservation (the result becomes a warning). */
  warn(name: string, message: string): void;
  /** Records a stage that was not run. */
  skip(name: string, message: string): void;
}

export interface Target {
  /** The config field that names the host (e.g. smtp.host, url, connectionString). */
  field: string;
  host: string;
  port: number;
}

export interface ChannelOutcome {
  message: string;
  /** For a warning: what to change (e.g. use a read-only role). */
  hint?: string;
  details?: Record<string, unknown>;
}

export interface Channel<S extends z.ZodType = z.ZodType> {
  schema: S;
  /** What history may keep of a config: no credential, ever (host, port, user, database, URL without userinfo). */
  summarize(config: z.infer<S>): Record<string, unknown>;
  /** Checks beyond the schema that need no network (a connection string parses…): field errors, relative to the config. */
  validate?(config: z.infer<S>): FieldError[];
  /**
   * The tenant's servers the test talks to, with the field that names each: validate-connection-config
   * checks these hosts against the outbound policy.
   */
  targets?(config: z.infer<S>): Target[];
  /** Login protocols (mail, databases) throttle after failed logins: their tests run one at a time per target. */
  serializePerTarget?: boolean;
  test(config: z.infer<S>, ctx: ChannelContext): Promise<ChannelOutcome>;
}

export type { Check };
