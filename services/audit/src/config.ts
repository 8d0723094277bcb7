import { busEnvShape, commonEnvSchema, databaseEnvShape, env, loadConfig } from '@glavito/config';
import { z } from 'zod';

export const AuditConfigSchema = commonEnvSchema.extend({
  PORT: env.port(3007),
  ...databaseEnvShape,
  ...busEnvShape,
  /** Durable consumer of the audit stream, shared by every replica. */
  AUDIT_CONSUMER: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('audit'),
  /** Deliveries of one event before it is dead-lettered (a transient database outage does not count: held in place). */
  CONSUMER_MAX_DELIVER: env.int(20, 2, 1000),
  CONSUMER_ACK_WAIT: env.duration('30s'),
  /** Events in flight per replica: they are appended in batches, one transaction per batch. */
  CONSUMER_CONCURRENCY: env.int(512, 1, 4096),
  AUDIT_BATCH_SIZE: env.int(500, 1, 5000),
  /** Set to false to serve reads only. */
  CONSUME_EVENTS: env.bool.default(true),
});
export type AuditConfig = z.infer<typeof AuditConfigSchema>;

export function loadAuditConfig(source: Record<string, string | undefined> = process.env): AuditConfig {
  return loadConfig(AuditConfigSchema, source);
}
