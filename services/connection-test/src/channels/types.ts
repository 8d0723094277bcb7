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

export interface ChannelOutcome {
  message: string;
  details?: Record<string, unknown>;
}

export interface Channel<S extends z.ZodType = z.ZodType> {
  schema: S;
  /** What history may keep of a config: no credential, ever. */
  summarize(config: z.infer<S>): Record<string, unknown>;
  test(config: z.infer<S>, ctx: ChannelContext): Promise<ChannelOutcome>;
}

export type { Check };
