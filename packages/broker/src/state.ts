import { auditNames, busEnvShape, env, loadConfig } from '@glavito/config';

export { auditNames };
import { z } from 'zod';

/**
 * The broker state the system runs on: every stream, dead-letter stream and KV bucket with its limits, in
 * one place. `pnpm bus:migrate` applies it (local start, compose, the Kubernetes job, and the test kit for
 * each test file's private prefix); services only check it at boot and own nothing but their durables.
 *
 * Adding a stream or a bucket is one entry in `brokerState` below (plus its env variable in
 * `brokerEnvShape` when its name should be configurable). Never create one from a service.
 */

const name = z.string().regex(/^[A-Za-z0-9_-]+$/);

/** The variables the migration reads; services share the same names and defaults. */
export const brokerEnvShape = {
  EVENT_STREAM: busEnvShape.EVENT_STREAM,
  EVENT_SUBJECT_PREFIX: busEnvShape.EVENT_SUBJECT_PREFIX,
  EVENT_RETENTION: busEnvShape.EVENT_RETENTION,
  DEAD_LETTER_PREFIX: busEnvShape.DEAD_LETTER_PREFIX,
  /** The audit events' own stream (read only by the audit service; other consumers never see them). */
  AUDIT_STREAM: busEnvShape.AUDIT_STREAM,
  AUDIT_SUBJECT_PREFIX: busEnvShape.AUDIT_SUBJECT_PREFIX,
  /** NATS KV bucket holding each realtime replica's socket counts. */
  PRESENCE_BUCKET: name.default('onboarding_presence'),
  /** A replica that stops refreshing its counts (crash) drops out after this long. */
  PRESENCE_TTL: env.duration('30s'),
  /** NATS KV bucket of the gateway's shared rate-limit counters. */
  RATE_LIMIT_BUCKET: name.default('onboarding_rate_limits'),
  /** The gateway's rate-limit window: counters live one window (the bucket keeps them one more, then drops them). */
  RATE_LIMIT_WINDOW: env.duration('1m'),
  /** The progress service's step-event durable (its session-event durable is `<it>_sessions`). */
  PROGRESS_CONSUMER: name.default('progress'),
  /** Copies of every stream and bucket: 3 on a NATS cluster, 1 on a single server. */
  NATS_STREAM_REPLICAS: env.int(1, 1, 5),
};

export const BrokerSettingsSchema = z.object(brokerEnvShape);
export type BrokerSettings = z.infer<typeof BrokerSettingsSchema>;

export function loadBrokerSettings(source: Record<string, string | undefined> = process.env): BrokerSettings {
  return loadConfig(BrokerSettingsSchema, source);
}

export interface StreamDefinition {
  name: string;
  subjects: string[];
  /** How long messages stay (replay window). */
  maxAgeMs: number;
  /** Publishes with the same Nats-Msg-Id inside this window are stored once. */
  duplicateWindowMs: number;
  replicas: number;
}

export interface BucketDefinition {
  bucket: string;
  /** Entries expire this long after their last write. */
  ttlMs: number;
  replicas: number;
}

/**
 * A one-time upgrade: when `durable` does not exist yet and `fromDurable` does, create `durable` starting
 * right after `fromDurable`'s ack floor, so the messages that one had not acked yet are not skipped.
 */
export interface DurableSeed {
  stream: string;
  durable: string;
  filterSubject: string;
  fromDurable: string;
  ackWaitMs: number;
  maxDeliver: number;
}

export interface BrokerState {
  streams: StreamDefinition[];
  buckets: BucketDefinition[];
  seeds: DurableSeed[];
}

const DAY = 86_400_000;
const DUPLICATE_WINDOW_MS = 2 * 60_000;

type EventStreamSettings = Pick<BrokerSettings, 'EVENT_STREAM' | 'EVENT_SUBJECT_PREFIX' | 'EVENT_RETENTION' | 'DEAD_LETTER_PREFIX'>;

/** The event stream and its dead-letter stream (also what every service checks at boot). */
export function eventStreams(s: EventStreamSettings, replicas = 1): StreamDefinition[] {
  const stream = (streamName: string, subjectPrefix: string, maxAgeMs: number): StreamDefinition => ({
    name: streamName,
    subjects: [`${subjectPrefix}.>`],
    maxAgeMs,
    duplicateWindowMs: DUPLICATE_WINDOW_MS,
    replicas,
  });
  return [stream(s.EVENT_STREAM, s.EVENT_SUBJECT_PREFIX, s.EVENT_RETENTION), stream(`${s.EVENT_STREAM}_DLQ`, s.DEAD_LETTER_PREFIX, 30 * DAY)];
}

/** Every piece of broker state, derived from the settings. */
export function brokerState(s: BrokerSettings): BrokerState {
  const replicas = s.NATS_STREAM_REPLICAS;
  return {
    streams: [
      ...eventStreams(s, replicas),
      {
        name: auditNames(s).stream,
        subjects: [`${auditNames(s).subjectPrefix}.>`],
        maxAgeMs: s.EVENT_RETENTION,
        duplicateWindowMs: DUPLICATE_WINDOW_MS,
        replicas,
      },
    ],
    buckets: [
      { bucket: s.PRESENCE_BUCKET, ttlMs: s.PRESENCE_TTL, replicas },
      // Two windows: a counter read late in its window is still there; older ones are garbage.
      { bucket: s.RATE_LIMIT_BUCKET, ttlMs: 2 * s.RATE_LIMIT_WINDOW, replicas },
    ],
    seeds: [
      // Upgrade of the progress service from one durable for every event (filter `<prefix>.>`) to one per
      // event family: the session-event durable starts where the old one had got to.
      {
        stream: s.EVENT_STREAM,
        durable: `${s.PROGRESS_CONSUMER}_sessions`,
        filterSubject: `${s.EVENT_SUBJECT_PREFIX}.*.*.session.>`,
        fromDurable: s.PROGRESS_CONSUMER,
        ackWaitMs: 5000,
        maxDeliver: 8,
      },
    ],
  };
}

/** The stream behind a KV bucket (how JetStream stores it). */
export const bucketStreamName = (bucket: string) => `KV_${bucket}`;
