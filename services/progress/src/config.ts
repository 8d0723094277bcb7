import { busEnvShape, commonEnvSchema, databaseEnvShape, env, loadConfig } from '@glavito/config';
import { z } from 'zod';

export const ProgressConfigSchema = commonEnvSchema.extend({
  PORT: env.port(3002),
  ...databaseEnvShape,
  ...busEnvShape,
  /** Durable consumers shared by every replica: this name for step events, `<name>_sessions` for session events. */
  PROGRESS_CONSUMER: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('progress'),
  /** Deliveries of one event before it is dead-lettered. */
  CONSUMER_MAX_DELIVER: env.int(8, 2, 100),
  CONSUMER_ACK_WAIT: env.duration('5s'),
  /** Events applied at once per replica; one session's events still apply in order (row lock + parking). */
  CONSUMER_CONCURRENCY: env.int(8, 1, 64),
  /** Projections remembered after this replica wrote them, so their next event skips the read (0: off). */
  WRITE_CACHE_SIZE: env.int(10_000, 0, 1_000_000),
  /** How often the tenant analytics' deltas are folded into their day and month counts (reads add unfolded ones). */
  STATS_COMPACT_INTERVAL: env.duration('1s'),
  /** false only to measure what the analytics cost (bench): they stop following the projection, statistics go wrong. */
  STATS_AGGREGATES: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /** Set to false to serve reads only (e.g. while a rebuild runs elsewhere). */
  CONSUME_EVENTS: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
});
export type ProgressConfig = z.infer<typeof ProgressConfigSchema>;

export function loadProgressConfig(source: Record<string, string | undefined> = process.env): ProgressConfig {
  return loadConfig(ProgressConfigSchema, source);
}
