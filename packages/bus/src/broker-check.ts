import { eventStreams, mismatchMessage, streamMismatches, type BrokerSettings, type BrokerState } from '@glavito/broker';
import type { EventBus } from './event-bus.js';

export class BrokerStateError extends Error {
  constructor(problems: string[]) {
    super(mismatchMessage(problems));
    this.name = 'BrokerStateError';
  }
}

/**
 * What differs between the event and dead-letter streams this release expects and the broker's; empty when
 * they match. Read-only (`streams.info`): the broker migration owns them. Throws BrokerStateError when a
 * stream is missing (nothing could be published or consumed).
 */
export async function checkEventStreams(
  bus: Pick<EventBus, 'streamInfo'>,
  settings: Pick<BrokerSettings, 'EVENT_STREAM' | 'EVENT_SUBJECT_PREFIX' | 'EVENT_RETENTION' | 'DEAD_LETTER_PREFIX'>,
): Promise<string[]> {
  const problems: string[] = [];
  for (const def of eventStreams(settings)) {
    const observed = await bus.streamInfo(def.name);
    if (!observed) throw new BrokerStateError([`stream ${def.name} does not exist`]);
    problems.push(...streamMismatches(def, observed));
  }
  return problems;
}

/** Throws BrokerStateError when the bucket does not exist; services open buckets, the migration creates them. */
export async function requireBucket(bus: Pick<EventBus, 'bucketInfo'>, bucket: string, ttlMs?: number): Promise<string[]> {
  const info = await bus.bucketInfo(bucket);
  if (!info) throw new BrokerStateError([`KV bucket ${bucket} does not exist`]);
  return ttlMs !== undefined && info.ttlMs !== ttlMs ? [`KV bucket ${bucket} keeps entries ${info.ttlMs} ms, expected ${ttlMs} ms`] : [];
}

/**
 * The broker migration through the bus interface, for the in-process bus of embedded mode (no replicas, no
 * durable upgrades: it starts empty every time). NATS is migrated by `migrateBroker` (`pnpm bus:migrate`).
 */
export async function migrateEventBus(bus: Pick<EventBus, 'ensureStream' | 'keyValue'>, state: BrokerState): Promise<void> {
  for (const s of state.streams) await bus.ensureStream({ name: s.name, subjects: s.subjects, maxAgeMs: s.maxAgeMs, duplicateWindowMs: s.duplicateWindowMs });
  for (const b of state.buckets) await bus.keyValue(b.bucket, b.ttlMs);
}
