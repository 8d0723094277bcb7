import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';

export interface Bus {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

/**
 * How every connection of ours is made: it fails loudly at boot when NATS does not answer, and afterwards
 * reconnects forever. No async traces: nats.js would otherwise build an Error (a stack capture) for every
 * request and publish just in case it times out, a few per cent of a service's CPU; our errors name the
 * subject instead.
 */
export function connectionOptions(opts: { servers: string; name: string; timeoutMs?: number }) {
  return {
    servers: opts.servers.split(',').map((s) => s.trim()),
    name: opts.name,
    timeout: opts.timeoutMs ?? 5000,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    noAsyncTraces: true,
  };
}

/** Connects or throws: a service that cannot reach NATS at boot fails loudly. */
export async function connectBus(opts: { servers: string; name: string; timeoutMs?: number }): Promise<Bus> {
  const nc = await connect(connectionOptions(opts));
  const jsm = await jetstreamManager(nc, { timeout: opts.timeoutMs ?? 5000 });
  return { nc, js: jetstream(nc, { timeout: opts.timeoutMs ?? 5000 }), jsm };
}

export interface StreamSpec {
  name: string;
  subjects: string[];
  /** How long events stay replayable (realtime recovery window). */
  maxAgeMs?: number;
  /** Broker-side dedupe window for Nats-Msg-Id. */
  duplicateWindowMs?: number;
  maxBytes?: number;
}

const ns = (ms: number) => ms * 1_000_000;

/** Creates the stream, or updates its limits when it exists. */
export async function ensureStream(jsm: JetStreamManager, spec: StreamSpec): Promise<void> {
  const config = {
    name: spec.name,
    subjects: spec.subjects,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: ns(spec.maxAgeMs ?? 7 * 86_400_000),
    duplicate_window: ns(spec.duplicateWindowMs ?? 2 * 60_000),
    max_bytes: spec.maxBytes ?? -1,
  };
  try {
    await jsm.streams.info(spec.name);
    await jsm.streams.update(spec.name, config);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add(config);
    } catch (addErr) {
      // Another replica created it first.
      if (!/already in use|exists/i.test(String(addErr))) throw addErr;
    }
  }
}

export interface DurableSpec {
  stream: string;
  durable: string;
  filterSubject: string;
  ackWaitMs?: number;
  maxDeliver?: number;
  maxAckPending?: number;
  /** Only on creation: deliver from this stream sequence on. */
  startAtSeq?: number;
}

export async function ensureDurableConsumer(jsm: JetStreamManager, spec: DurableSpec): Promise<void> {
  const config = {
    durable_name: spec.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: spec.filterSubject,
    ack_wait: ns(spec.ackWaitMs ?? 30_000),
    max_deliver: spec.maxDeliver ?? 10,
    max_ack_pending: spec.maxAckPending ?? 1000,
  };
  try {
    await jsm.consumers.info(spec.stream, spec.durable);
    await jsm.consumers.update(spec.stream, spec.durable, {
      // A release that narrows what a consumer reads takes effect on the existing durable too.
      filter_subject: config.filter_subject,
      ack_wait: config.ack_wait,
      max_deliver: config.max_deliver,
      max_ack_pending: config.max_ack_pending,
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.consumers.add(
      spec.stream,
      spec.startAtSeq && spec.startAtSeq > 1 ? { ...config, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: spec.startAtSeq } : config,
    );
  }
}

export function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; api_error?: { err_code?: number }; message?: string };
  return e?.api_error?.err_code === 10059 || e?.api_error?.err_code === 10014 || /not found/i.test(e?.message ?? '');
}

/** The slice of a pino/Fastify logger the bus needs. */
export interface BusLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
