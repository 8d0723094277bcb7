import { brokerEnvShape } from '@glavito/broker';
import { busEnvShape, commonEnvSchema, env, loadConfig } from '@glavito/config';
import type { z } from 'zod';

export const RealtimeConfigSchema = commonEnvSchema.extend({
  PORT: env.port(3004),
  ...busEnvShape,
  /** Ping interval; a socket that misses one pong is dropped at the next tick. */
  WS_HEARTBEAT_MS: env.duration('30s'),
  /** A socket with more unsent bytes than this is a slow consumer and is cut off. */
  WS_MAX_BUFFERED_BYTES: env.int(1_048_576, 1024),
  /** Largest client frame accepted. */
  WS_MAX_FRAME_BYTES: env.int(16_384, 256),
  /** Client frames per second per connection (burst of twice that). */
  WS_MESSAGES_PER_SECOND: env.int(20, 1),
  /** How far back join_session may replay with lastEventId. */
  WS_REPLAY_WINDOW: env.duration('24h'),
  /** NATS KV bucket holding each replica's socket counts (created by the broker migration with PRESENCE_TTL). */
  PRESENCE_BUCKET: brokerEnvShape.PRESENCE_BUCKET,
  /** A replica that stops refreshing its counts (crash) drops out after this long. */
  PRESENCE_TTL: brokerEnvShape.PRESENCE_TTL,
});
export type RealtimeConfig = z.infer<typeof RealtimeConfigSchema>;

export function loadRealtimeConfig(source: Record<string, string | undefined> = process.env): RealtimeConfig {
  return loadConfig(RealtimeConfigSchema, source);
}
