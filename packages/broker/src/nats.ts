import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { bucketStreamName, type BrokerState, type BucketDefinition, type StreamDefinition } from './state.js';

const ns = (ms: number) => ms * 1_000_000;

/** The JetStream configuration of a stream definition (what `nats stream info -j` shows as `config`). */
export function jetStreamConfig(def: StreamDefinition) {
  return {
    name: def.name,
    subjects: def.subjects,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: def.replicas,
    max_age: ns(def.maxAgeMs),
    duplicate_window: ns(def.duplicateWindowMs),
    max_bytes: -1,
    max_msgs: -1,
    max_msgs_per_subject: -1,
    max_msg_size: -1,
    max_consumers: -1,
  } satisfies Partial<StreamConfig>;
}

/** The fields a bucket definition fixes on its stream (KV_<bucket>). */
function bucketStreamFields(def: BucketDefinition) {
  // JetStream refuses a duplicate window longer than max_age.
  return { max_age: ns(def.ttlMs), duplicate_window: ns(Math.min(def.ttlMs, 120_000)), num_replicas: def.replicas, max_msgs_per_subject: 1 };
}

export interface MigrationStep {
  kind: 'stream' | 'bucket' | 'seed';
  name: string;
  action: 'created' | 'updated' | 'unchanged' | 'skipped';
  changes?: string[];
}

export interface BrokerLogger {
  info(msg: string): void;
}

export function isNotFound(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; message?: string };
  return e?.api_error?.err_code === 10059 || e?.api_error?.err_code === 10014 || /not found/i.test(e?.message ?? '');
}

/** Field-by-field differences between what the server has and what the definition wants. */
function differences(actual: Record<string, unknown>, wanted: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(wanted)) {
    if (JSON.stringify(actual[key]) !== JSON.stringify(value)) out.push(`${key} ${JSON.stringify(actual[key])} → ${JSON.stringify(value)}`);
  }
  return out;
}

async function applyStream(jsm: JetStreamManager, def: StreamDefinition): Promise<MigrationStep> {
  const wanted = jetStreamConfig(def);
  try {
    const info = await jsm.streams.info(def.name);
    const changes = differences(info.config as unknown as Record<string, unknown>, wanted);
    if (changes.length === 0) return { kind: 'stream', name: def.name, action: 'unchanged' };
    await jsm.streams.update(def.name, wanted);
    return { kind: 'stream', name: def.name, action: 'updated', changes };
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add(wanted);
    } catch (addErr) {
      // Two migrations at once (two test files, a job retried): the other created it.
      if (!/already in use|exists/i.test(String(addErr))) throw addErr;
      return applyStream(jsm, def);
    }
    return { kind: 'stream', name: def.name, action: 'created' };
  }
}

async function applyBucket(nc: NatsConnection, jsm: JetStreamManager, def: BucketDefinition): Promise<MigrationStep> {
  const streamName = bucketStreamName(def.bucket);
  const wanted = bucketStreamFields(def);
  try {
    const info = await jsm.streams.info(streamName);
    const changes = differences(info.config as unknown as Record<string, unknown>, wanted);
    if (changes.length === 0) return { kind: 'bucket', name: def.bucket, action: 'unchanged' };
    await jsm.streams.update(streamName, { ...info.config, ...wanted });
    return { kind: 'bucket', name: def.bucket, action: 'updated', changes };
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await new Kvm(nc).create(def.bucket, { ttl: def.ttlMs, history: 1, replicas: def.replicas });
    } catch (addErr) {
      if (!/already in use|exists/i.test(String(addErr))) throw addErr;
      return applyBucket(nc, jsm, def);
    }
    return { kind: 'bucket', name: def.bucket, action: 'created' };
  }
}

async function applySeed(jsm: JetStreamManager, seed: BrokerState['seeds'][number]): Promise<MigrationStep> {
  const step = { kind: 'seed' as const, name: `${seed.stream}/${seed.durable}` };
  let floor: number;
  try {
    await jsm.consumers.info(seed.stream, seed.durable);
    return { ...step, action: 'unchanged' };
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    floor = (await jsm.consumers.info(seed.stream, seed.fromDurable)).ack_floor.stream_seq;
  } catch (err) {
    if (!isNotFound(err)) throw err;
    // Nothing to upgrade from: the owning service creates its durable from the start of the stream.
    return { ...step, action: 'skipped' };
  }
  await jsm.consumers.add(seed.stream, {
    durable_name: seed.durable,
    ack_policy: AckPolicy.Explicit,
    filter_subject: seed.filterSubject,
    ack_wait: ns(seed.ackWaitMs),
    max_deliver: seed.maxDeliver,
    ...(floor > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: floor + 1 } : { deliver_policy: DeliverPolicy.All }),
  });
  return { ...step, action: 'created', changes: [`starts at stream sequence ${floor + 1} (after ${seed.fromDurable}'s ack floor)`] };
}

/** Creates or brings up to date every stream and bucket, then runs the one-time durable upgrades. Idempotent. */
export async function migrateBroker(nc: NatsConnection, state: BrokerState, log?: BrokerLogger): Promise<MigrationStep[]> {
  const jsm = await jetstreamManager(nc);
  const steps: MigrationStep[] = [];
  const record = (s: MigrationStep) => {
    steps.push(s);
    log?.info(`${s.kind} ${s.name}: ${s.action}${s.changes?.length ? ` (${s.changes.join('; ')})` : ''}`);
  };
  for (const def of state.streams) record(await applyStream(jsm, def));
  for (const def of state.buckets) record(await applyBucket(nc, jsm, def));
  for (const seed of state.seeds) record(await applySeed(jsm, seed));
  return steps;
}
