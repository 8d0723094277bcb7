import { readEvent, type EventEnvelope, type RawEventEnvelope, type UnknownEventReason } from '@glavito/contracts';
import type { DeliveredMessage, EventBus, Stoppable } from './event-bus.js';
import type { BusLogger as Logger } from './nats.js';

/** Throw from a handler for a message that can never succeed: it is terminated and dead-lettered. */
export class PoisonMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoisonMessageError';
  }
}

/** Throw from a handler to have the message redelivered after `delayMs` (counts as a delivery). */
export class RetryLaterError extends Error {
  constructor(
    message: string,
    public readonly delayMs = 500,
  ) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

export interface ConsumerOptions {
  bus: EventBus;
  stream: string;
  durable: string;
  logger: Logger;
  handler: (event: EventEnvelope, msg: DeliveredMessage) => Promise<void>;
  /** Must equal the durable's maxDeliver: on the last attempt a failing message is dead-lettered. */
  maxDeliver?: number;
  deadLetterSubject: string;
  backoffMs?: (deliveryCount: number) => number;
  /**
   * Handlers running at once in this process (workers sharing the durable). Only for handlers that are
   * safe concurrently, e.g. ones that serialise per key with a row lock.
   */
  concurrency?: number;
  /**
   * Errors that mean a dependency is down (the database restarting or failing over), not that the message
   * is bad. Such a message is held and retried in place, its ack wait kept alive, without using up its
   * deliveries: an outage of any length delays events instead of dead-lettering them.
   */
  isTransient?: (err: unknown) => boolean;
  /** Must equal the durable's ack wait [30 s]: a running or held message's ack wait is restarted well within it. */
  ackWaitMs?: number;
  /**
   * An event of a type or version this build does not know (a newer producer): it is acknowledged, never
   * dead-lettered, and counted here (a metric). Runs before the ack.
   */
  countUnknown?: (unknown: UnknownEvent) => void;
  /**
   * Optional extra work for such an event before its ack, e.g. an ordered consumer stepping over its
   * `sessionSeq` so that the session's later events are not held behind it. Errors are handled as the
   * handler's (redelivered, transient ones held).
   */
  onUnknown?: (unknown: UnknownEvent, msg: DeliveredMessage) => Promise<void>;
  /**
   * Which events the handler does anything with, judged from the raw envelope (type and data as sent) before
   * it is read. An event for which this is false is acknowledged unread: not validated, not counted, never
   * dead-lettered. Only for events the handler would ignore whatever their data says (a durable over every
   * subject that acts on a few types: reading the others against their contracts is most of its CPU).
   */
  reads?: (type: string, data: Readonly<Record<string, unknown>>) => boolean;
  /** Events handled many at a time (see BatchOptions); the others go to `handler` one by one, as always. */
  batch?: BatchOptions;
}

/**
 * Batches for a handler whose per-event cost is mostly a round trip (one statement for many events instead of one
 * each). Events `takes` accepts wait up to `lingerMs` (or until `maxEvents`) and go to `handler` together; batches
 * run one after another, in order. An event handled alone waits for the batches holding an event of its `keyOf`
 * (they run at once then); events of other keys are independent, so they are not held back by a batch's linger.
 * A batch whose handler throws goes through the one-by-one `handler` instead, event by event, with its retries,
 * holding and dead-lettering: handlers must be idempotent (a batch may have partly applied), as they must be
 * anyway for redeliveries.
 */
export interface BatchOptions {
  takes: (event: EventEnvelope) => boolean;
  keyOf: (event: EventEnvelope) => string;
  handler: (events: EventEnvelope[]) => Promise<void>;
  /** [100] */
  maxEvents?: number;
  /** [20] How long the first event of a batch waits for others: the latency this adds. */
  lingerMs?: number;
}

const DEFAULT_BATCH_MAX = 100;

interface Batcher {
  add(event: EventEnvelope, msg: DeliveredMessage): Promise<void>;
  /** Resolves once no pending or running batch holds an event of this one's key. */
  before(event: EventEnvelope): Promise<void>;
  /** Runs what is pending and waits for every batch. */
  flush(): Promise<void>;
}

function createBatcher(
  opts: BatchOptions,
  logger: Logger,
  settleAlone: (event: EventEnvelope, msg: DeliveredMessage) => Promise<void>,
  keepAliveMs: number,
): Batcher {
  const maxEvents = opts.maxEvents ?? DEFAULT_BATCH_MAX;
  const lingerMs = opts.lingerMs ?? 20;
  let pending: Array<{ event: EventEnvelope; msg: DeliveredMessage }> = [];
  let pendingKeys = new Set<string>();
  const runningKeys: Array<Set<string>> = [];
  let timer: NodeJS.Timeout | undefined;
  let tail: Promise<void> = Promise.resolve();

  // A message waiting in a batch, or behind a batch held while Postgres is down (its events then go one by one,
  // each held in turn), must not be redelivered under it: its ack wait is restarted when it has waited keepAliveMs.
  const waitingSince = new Map<DeliveredMessage, number>();
  let keepAlive: NodeJS.Timeout | undefined;
  const waiting = (msg: DeliveredMessage) => {
    waitingSince.set(msg, Date.now());
    keepAlive ??= setInterval(() => {
      const due = Date.now() - keepAliveMs;
      for (const [m, since] of waitingSince) {
        if (since > due) continue;
        m.working();
        waitingSince.set(m, Date.now());
      }
    }, keepAliveMs);
  };
  const settled = (msg: DeliveredMessage) => {
    waitingSince.delete(msg);
    if (waitingSince.size === 0 && keepAlive) {
      clearInterval(keepAlive);
      keepAlive = undefined;
    }
  };

  async function run(batch: typeof pending): Promise<void> {
    try {
      await opts.handler(batch.map((b) => b.event));
    } catch (err) {
      logger.warn({ events: batch.length, err: (err as Error).message }, 'consumer: batch failed; handling its events one by one');
      for (const b of batch) {
        // settleAlone keeps its own message alive while it runs.
        settled(b.msg);
        await settleAlone(b.event, b.msg);
      }
      return;
    }
    for (const b of batch) {
      settled(b.msg);
      b.msg.ack();
    }
  }
  function flush(): Promise<void> {
    clearTimeout(timer);
    timer = undefined;
    if (pending.length > 0) {
      const batch = pending;
      const keys = pendingKeys;
      pending = [];
      pendingKeys = new Set();
      runningKeys.push(keys);
      tail = tail
        .then(() => run(batch))
        // Never a rejected tail: the batches after this one must still run (its messages come back unacked).
        .catch((err: unknown) => logger.error({ err: (err as Error).message }, 'consumer: batch could not be settled'))
        .finally(() => runningKeys.splice(runningKeys.indexOf(keys), 1));
    }
    return tail;
  }
  return {
    async add(event, msg) {
      waiting(msg);
      pending.push({ event, msg });
      pendingKeys.add(opts.keyOf(event));
      if (pending.length >= maxEvents) await flush();
      else timer ??= setTimeout(() => void flush(), lingerMs);
    },
    async before(event) {
      const key = opts.keyOf(event);
      if (pendingKeys.has(key) || runningKeys.some((keys) => keys.has(key))) await flush();
    },
    flush,
  };
}

export interface UnknownEvent {
  reason: UnknownEventReason;
  envelope: RawEventEnvelope;
}

/** Longest pause between two tries of a held message. */
const HOLD_RETRY_MAX_MS = 2000;

export type ConsumerHandle = Stoppable;

const decoder = new TextDecoder();

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Runs a durable consumer: each message is parsed against the event contract and handed to the
 * handler, and acked only after the handler (which commits its own transaction) returns.
 */
export async function runConsumer(opts: ConsumerOptions): Promise<ConsumerHandle> {
  const { bus, logger } = opts;
  const maxDeliver = opts.maxDeliver ?? 10;
  const backoff = opts.backoffMs ?? ((n: number) => Math.min(250 * 2 ** (n - 1), 10_000));

  async function deadLetter(msg: DeliveredMessage, reason: string): Promise<void> {
    const letter = JSON.stringify({
      reason: reason.slice(0, 500),
      subject: msg.subject,
      streamSeq: msg.seq,
      deliveryCount: msg.deliveryCount,
      data: decoder.decode(msg.data),
    });
    try {
      await bus.publish(opts.deadLetterSubject, letter, `dlq:${opts.stream}:${msg.seq}`);
    } catch (err) {
      // Keep the message rather than lose it: it comes back and is dead-lettered on a later try.
      logger.error({ err: (err as Error).message }, 'consumer: dead-letter publish failed; will retry');
      msg.nak(5000);
      return;
    }
    logger.error({ subject: msg.subject, streamSeq: msg.seq, reason }, 'consumer: message dead-lettered');
    msg.term();
  }

  let stopping = false;
  // Each pause of a held message is at most a third of its ack wait, and restarts it before and after.
  const longestPause = Math.max(10, Math.min(HOLD_RETRY_MAX_MS, Math.floor((opts.ackWaitMs ?? 30_000) / 3)));

  /** Runs the handler; while it fails with a transient error, waits and tries again (until stop). */
  async function handleHolding(event: EventEnvelope, msg: DeliveredMessage): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await opts.handler(event, msg);
        if (attempt > 1) logger.info({ eventId: event.id, type: event.type, attempts: attempt }, 'consumer: dependency back, held event handled');
        return;
      } catch (err) {
        if (stopping || !opts.isTransient?.(err)) throw err;
        if (attempt === 1)
          logger.warn({ eventId: event.id, type: event.type, err: (err as Error).message }, 'consumer: dependency unavailable, holding the event and retrying');
        msg.working();
        await new Promise((resolve) => setTimeout(resolve, Math.min(longestPause, 100 * 2 ** (attempt - 1))));
        msg.working();
      }
    }
  }

  /** Runs the handler for one read event and settles its message: ack, or nak/dead-letter on failure. */
  async function settleAlone(event: EventEnvelope, msg: DeliveredMessage): Promise<void> {
    // A handler slower than the ack wait must not have its message redelivered under it: the ack wait is kept
    // short (a crashed replica's in-flight events come back quickly) and restarted while the handler runs.
    const keepAlive = setInterval(() => msg.working(), longestPause);
    try {
      await handleHolding(event, msg);
      msg.ack();
    } catch (err) {
      // Only while stopping: another replica (or this one, restarted) takes it over.
      if (opts.isTransient?.(err)) msg.nak(backoff(msg.deliveryCount));
      else if (err instanceof PoisonMessageError) await deadLetter(msg, err.message);
      else if (msg.deliveryCount >= maxDeliver) await deadLetter(msg, `failed ${msg.deliveryCount} times: ${(err as Error).message}`);
      else if (err instanceof RetryLaterError) msg.nak(err.delayMs);
      else {
        const delay = backoff(msg.deliveryCount);
        logger.warn(
          { eventId: event.id, type: event.type, attempt: msg.deliveryCount, err: (err as Error).message, retryInMs: delay },
          'consumer: handler failed, will redeliver',
        );
        msg.nak(delay);
      }
    } finally {
      clearInterval(keepAlive);
    }
  }
  const batcher = opts.batch ? createBatcher(opts.batch, logger, settleAlone, longestPause) : undefined;

  const handle = async (msg: DeliveredMessage): Promise<void> => {
    let event: EventEnvelope;
    try {
      const raw: unknown = JSON.parse(decoder.decode(msg.data));
      if (opts.reads && isPlainObject(raw) && typeof raw.type === 'string' && isPlainObject(raw.data) && !opts.reads(raw.type, raw.data)) {
        msg.ack();
        return;
      }
      const read = readEvent(raw);
      if (!read.known) {
        await skipUnknown({ reason: read.reason, envelope: read.envelope }, msg);
        return;
      }
      event = read.event;
    } catch (err) {
      await deadLetter(msg, `contract violation: ${(err as Error).message.slice(0, 300)}`);
      return;
    }
    if (batcher && opts.batch!.takes(event)) return batcher.add(event, msg);
    await batcher?.before(event);
    await settleAlone(event, msg);
  };
  /** Acknowledges an event this build cannot read (after the consumer's own step-over, if any) and counts it. */
  async function skipUnknown(unknown: UnknownEvent, msg: DeliveredMessage): Promise<void> {
    const { envelope } = unknown;
    try {
      await opts.onUnknown?.(unknown, msg);
    } catch (err) {
      if (opts.isTransient?.(err) || msg.deliveryCount < maxDeliver) {
        msg.nak(backoff(msg.deliveryCount));
        return;
      }
      // Still acknowledged below: an event this build cannot read must never be dead-lettered.
      logger.error({ eventId: envelope.id, type: envelope.type, err: (err as Error).message }, 'consumer: step-over of an unknown event failed; acknowledged');
    }
    opts.countUnknown?.(unknown);
    logger.info(
      { eventId: envelope.id, type: envelope.type, version: envelope.version, reason: unknown.reason, durable: opts.durable },
      'consumer: event of an unknown type or version acknowledged',
    );
    msg.ack();
  }

  // A batch fills from what was fetched ahead: with the default prefetch a pull request went out every 8 messages.
  const prefetch = opts.batch ? (opts.batch.maxEvents ?? DEFAULT_BATCH_MAX) : undefined;
  const consuming = await bus.consumeDurable(opts.stream, opts.durable, handle, { concurrency: opts.concurrency, prefetch });
  return {
    async stop() {
      stopping = true;
      // Events batched but not yet handled are handled now, as the ones in the handlers are.
      await batcher?.flush();
      await consuming.stop();
      await batcher?.flush();
    },
  };
}
