import { DeliverPolicy, jetstream, jetstreamManager, type Consumer, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { BusRequestError, type DeliveredMessage, type DurableConfig, type EventBus, type KeyValueStore, type StreamConfig } from './event-bus.js';
import { connectionOptions, ensureDurableConsumer, ensureStream, isNotFound } from './nats.js';

/**
 * How long one pull request of a consumer lives (its idle heartbeat is half of it). nats.js checks its
 * consumer again after a reconnect and, when that check fails (JetStream still starting after a broker
 * restart), retries only after this long: with the 30 s default a NATS restart froze the live feed and
 * the durable consumers for ~40 s, with 5 s the chaos suite saw pushes 6.5 s late after a restart. 1 s (the
 * least nats.js takes) bounds that stall at the cost of one pull request and two heartbeats a second per
 * idle consumer.
 */
const PULL_EXPIRES_MS = 1000;
/**
 * How long a handled message's ack may wait to go out with others. Each ack sent alone was a socket write of its
 * own (a system call that wakes the broker): the notification durable, which sees every event, sent three or four
 * per step save, the progress durable one. Sent together they are one write. Far below any ack wait, so nothing
 * is redelivered for it; a crash in between redelivers what was handled, as a crash between the handler's commit
 * and its ack always could.
 */
const ACK_BATCH_MS = 20;
/** Acks pending beyond this many go out at once. */
const ACK_BATCH_MAX = 64;

/** How often the live feed's watchdog asks the server about its consumer (see consumeNew). */
const LIVE_FEED_CHECK_MS = 5000;
/** How long the live feed waits for an answer about its consumer before it asks again. */
const LIVE_FEED_REQUEST_TIMEOUT_MS = 1500;
/** The least time between two replacements of the live feed's consumer (missed heartbeats are reported every half second). */
const LIVE_FEED_REPLACE_MIN_MS = 2000;

type NatsConnection = Awaited<ReturnType<typeof connect>>;

/** The live feed's current ordered consumer, its message iterator and the loop handling them. */
interface LiveFeed {
  consumer: Consumer;
  messages: ConsumerMessages;
  done: Promise<void>;
}

/** How long readSince keeps reading what matched when it started, before it gives up. */
const READ_SINCE_DEADLINE_MS = 10_000;

/**
 * A promise per connection generation that resolves when the connection drops. A publish in flight then would
 * only fail at its timeout (5 s) after the broker is back, and a writer's later events wait behind it in order
 * (the outbox hands them to its relay): a NATS restart held pushes back 7 s. It fails at once instead and the
 * relay sends it again; if the broker had stored it, the same Nats-Msg-Id makes the copy a duplicate it drops.
 * `down()` is true between a disconnect and the reconnect: a publish asked for then fails at once too (buffered
 * by the client, its ack timed out 5 s after the restart in the chaos suite), and the relay's retries, 100 ms
 * apart at first, find the broker as soon as it answers.
 */
function watchConnection(nc: NatsConnection): { lost: () => Promise<void>; down: () => boolean } {
  const generation = () => {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  };
  let lost = generation();
  let down = false;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'reconnect') down = false;
      if (s.type !== 'disconnect') continue;
      down = true;
      const current = lost;
      lost = generation();
      current.resolve();
    }
  })();
  return { lost: () => lost.promise, down: () => down };
}

/** Acks collected for ACK_BATCH_MS (or ACK_BATCH_MAX of them), then sent in one go: nats.js writes them in one write. */
function ackBatcher(): { ack(m: JsMsg): void; close(): void } {
  let pending: JsMsg[] = [];
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    for (const m of batch) {
      try {
        m.ack();
      } catch {
        // The connection is closing: the message comes back after its ack wait, and its handler is idempotent.
      }
    }
  };
  return {
    ack(m) {
      pending.push(m);
      if (closed || pending.length >= ACK_BATCH_MAX) flush();
      else timer ??= setTimeout(flush, ACK_BATCH_MS);
    },
    /** Sends what is pending; later acks (a caller settling after the stop) go out at once. */
    close() {
      closed = true;
      flush();
    },
  };
}

/** Core NATS request/reply as the bus's `request` and `serve`. */
export function natsRequestReply(nc: NatsConnection): Pick<EventBus, 'request' | 'serve'> {
  return {
    async request(subject, payload, timeoutMs) {
      try {
        const msg = await nc.request(subject, payload, { timeout: timeoutMs });
        return msg.string();
      } catch (err) {
        const text = String((err as Error).message ?? err);
        throw new BusRequestError(`${subject}: ${text}`, /no responders|503/i.test(text) ? 'no_responders' : 'timeout');
      }
    },
    serve(subject, queue, handler) {
      const sub = nc.subscribe(subject, {
        queue,
        callback: (err, msg) => {
          if (err) return;
          void handler(msg.string()).then(
            (reply) => msg.respond(reply),
            () => msg.respond(JSON.stringify({ error: 'internal error' })),
          );
        },
      });
      return {
        async stop() {
          sub.unsubscribe();
        },
      };
    },
  };
}

/** The EventBus on NATS JetStream: streams, durable pull consumers, ordered consumers, request/reply and KV. */
export async function createNatsBus(opts: { servers: string; name: string; timeoutMs?: number }): Promise<EventBus & { nc: NatsConnection }> {
  const timeout = opts.timeoutMs ?? 5000;
  const nc = await connect(connectionOptions(opts));
  const jsm = await jetstreamManager(nc, { timeout });
  const js = jetstream(nc, { timeout });
  // The live feed's own requests (see consumeNew) give up sooner: while a cluster recovers from a lost server, one
  // request can go unanswered when the next one is not, and a 5 s wait each time held the feed up to 17 s.
  const feedJs = jetstream(nc, { timeout: Math.min(timeout, LIVE_FEED_REQUEST_TIMEOUT_MS) });
  const kvm = new Kvm(nc);
  const enc = new TextEncoder();
  const connection = watchConnection(nc);

  return {
    kind: 'nats',
    nc,

    ensureStream: (c: StreamConfig) => ensureStream(jsm, c),

    async streamInfo(name) {
      try {
        const { config } = await jsm.streams.info(name);
        return {
          name,
          subjects: config.subjects ?? [],
          maxAgeMs: config.max_age / 1e6,
          duplicateWindowMs: (config.duplicate_window ?? 0) / 1e6,
          replicas: config.num_replicas,
        };
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
    },

    async bucketInfo(bucket) {
      try {
        const { config } = await jsm.streams.info(`KV_${bucket}`);
        return { ttlMs: config.max_age / 1e6, replicas: config.num_replicas };
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
    },

    async publish(subject, data, msgId) {
      if (connection.down()) throw new Error(`${subject}: not connected to NATS (reconnecting)`);
      const acked = js.publish(subject, typeof data === 'string' ? enc.encode(data) : data, { msgID: msgId, timeout });
      const lost = connection.lost().then(() => {
        throw new Error(`${subject}: the connection to NATS was lost before the publish was acknowledged`);
      });
      acked.catch(() => undefined);
      lost.catch(() => undefined);
      const ack = await Promise.race([acked, lost]);
      return { seq: ack.seq, duplicate: ack.duplicate };
    },

    ensureDurable: (c: DurableConfig) => ensureDurableConsumer(jsm, c),

    async consumeDurable(stream, durable, handler, opts = {}) {
      const concurrency = Math.max(1, opts.concurrency ?? 1);
      const consumer = await js.consumers.get(stream, durable);
      // One pull subscription feeds every handler slot, so a slow message holds up only its own slot (with
      // a prefetch per slot, the messages buffered behind it waited too). A small prefetch: buffered
      // messages' ack_wait runs while earlier ones are handled.
      const messages = await consumer.consume({ max_messages: Math.max(16, concurrency * 4, opts.prefetch ?? 0), expires: PULL_EXPIRES_MS });
      const acks = ackBatcher();
      const handle = async (m: JsMsg) => {
        const msg: DeliveredMessage = {
          subject: m.subject,
          seq: m.seq,
          data: m.data,
          deliveryCount: m.info.deliveryCount,
          ack: () => acks.ack(m),
          nak: (delayMs) => m.nak(delayMs),
          // No reason: nats-server 2.9 ignores `+TERM <reason>` and would redeliver after ack_wait.
          term: () => m.term(),
          working: () => m.working(),
        };
        try {
          await handler(msg);
        } catch {
          // The handler owns settling; one that throws gets the message back later instead of stopping the worker.
          m.nak(1000);
        }
      };
      const done = (async () => {
        const running = new Set<Promise<void>>();
        for await (const m of messages) {
          const slot: Promise<void> = handle(m).finally(() => running.delete(slot));
          running.add(slot);
          if (running.size >= concurrency) await Promise.race(running);
        }
        await Promise.all(running);
      })();
      return {
        async stop() {
          await messages.close();
          await done.catch(() => {});
          acks.close();
        },
      };
    },

    async consumeNew(stream, filterSubject, handler) {
      // The ordered consumer lives on one server of a cluster (R1). When that server dies, nats.js only asks for the
      // consumer's info again and again; that request goes unanswered (the consumer is still assigned to the dead
      // server), so nats.js never recreates it, and the live feed of a realtime replica stayed silent for 15-60 s
      // while the stream kept growing. So the feed replaces its consumer itself, by one starting right after the last
      // message handled, as soon as a question about it goes unanswered after nats.js reports missed heartbeats (about a
      // second of silence while a pull waits); a watchdog also asks every few seconds, in case a consumer is there but
      // silent. Sequences at or below the last one handled are dropped, so a replacement never delivers twice.
      let last = (await jsm.streams.info(stream)).state.last_seq;
      let stopped = false;
      let current: LiveFeed | undefined;
      let replacement: Promise<void> | undefined;
      let replacedAt = 0;
      const open = async (): Promise<LiveFeed> => {
        const consumer = await feedJs.consumers.get(stream, {
          filter_subjects: filterSubject,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: last + 1,
        });
        const messages = await consumer.consume({ max_messages: 512, expires: PULL_EXPIRES_MS });
        void (async () => {
          for await (const s of messages.status()) {
            if (s.type === 'heartbeats_missed' && current?.messages === messages) check('heartbeats');
          }
        })().catch(() => undefined);
        const done = (async () => {
          for await (const m of messages) {
            if (m.seq <= last) continue;
            last = m.seq;
            try {
              handler({ subject: m.subject, seq: m.seq, data: m.data });
            } catch {
              // A failing handler must not stop the live feed for everyone else.
            }
          }
        })().catch(() => undefined);
        return { consumer, messages, done };
      };
      /**
       * Closes the current consumer and opens the next, retrying within a second while the cluster recovers (a new
       * stream or meta leader). One replacement at a time, and not more often than every LIVE_FEED_REPLACE_MIN_MS.
       */
      const replace = () => {
        if (replacement || stopped || Date.now() - replacedAt < LIVE_FEED_REPLACE_MIN_MS) return;
        replacement = (async () => {
          const previous = current!;
          await previous.messages.close().catch(() => undefined);
          // Left alone, a consumer on a live server would stay there until its 5-minute inactivity threshold.
          void previous.consumer.delete().catch(() => undefined);
          for (let attempt = 0; !stopped; attempt++) {
            try {
              const next = await open();
              if (stopped) await next.messages.close().catch(() => undefined);
              else current = next;
              seenAt = last;
              return;
            } catch {
              await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** attempt)));
            }
          }
        })().finally(() => {
          replacement = undefined;
          replacedAt = Date.now();
        });
      };
      current = await open();
      let seenAt = last;
      let checking = false;
      /**
       * Asks the server about the consumer and replaces it when the question goes unanswered or the consumer is gone,
       * or (the watchdog's look) it has messages waiting while nothing arrived since the last look. Missed heartbeats
       * alone are not enough: a busy process misses them too, and nats.js re-pulls from a consumer that is there.
       */
      const check = (by: 'heartbeats' | 'watchdog') => {
        if (checking || replacement || stopped) return;
        checking = true;
        void current!.consumer
          .info()
          .then(
            (info) => by === 'watchdog' && info.num_pending > 0 && last === seenAt,
            () => true,
          )
          .then((stalled) => {
            if (by === 'watchdog') seenAt = last;
            if (stalled) replace();
          })
          .finally(() => (checking = false));
      };
      const watchdog = setInterval(() => check('watchdog'), LIVE_FEED_CHECK_MS);
      watchdog.unref();
      return {
        async stop() {
          stopped = true;
          clearInterval(watchdog);
          await replacement;
          await current!.messages.close().catch(() => undefined);
          await current!.done;
        },
      };
    },

    async readSince(stream, filterSubject, since) {
      const consumer = await js.consumers.get(stream, {
        filter_subjects: filterSubject,
        deliver_policy: DeliverPolicy.StartTime,
        opt_start_time: since.toISOString(),
      });
      const out: Array<{ subject: string; seq: number; data: Uint8Array }> = [];
      try {
        // What matches now is read to the end; nothing at all: answer now instead of waiting for a fetch to expire.
        const expected = (await consumer.info()).num_pending;
        const deadline = Date.now() + READ_SINCE_DEADLINE_MS;
        while (out.length < expected) {
          const batch = await consumer.fetch({ max_messages: Math.min(500, expected - out.length), expires: 2000 });
          let pending = 1;
          for await (const m of batch as AsyncIterable<JsMsg>) {
            out.push({ subject: m.subject, seq: m.seq, data: m.data });
            pending = m.info.pending;
            // Stop as soon as nothing more matches, instead of waiting for `expires`.
            if (pending === 0) break;
          }
          if (pending === 0) break;
          // An empty or short batch is a busy broker (a reconnect storm), not the end: a replay cut short here
          // would skip events the caller then never gets. Past the deadline it fails, so the caller refetches.
          if (Date.now() > deadline) throw new Error(`${filterSubject}: read ${out.length} of ${expected} messages in ${READ_SINCE_DEADLINE_MS} ms`);
        }
        return out;
      } finally {
        // The ordered consumer would otherwise stay on the server for its 5-minute inactivity threshold: a
        // reconnect storm of N sockets re-joining with lastEventId would leave N consumers behind.
        await consumer.delete().catch(() => undefined);
      }
    },

    async pendingFor(stream, durable) {
      const info = await jsm.consumers.info(stream, durable);
      return info.num_pending + info.num_ack_pending;
    },

    async ackFloor(stream, durable) {
      try {
        return (await jsm.consumers.info(stream, durable)).ack_floor.stream_seq;
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
    },

    ...natsRequestReply(nc),

    async keyValue(bucket, ttlMs): Promise<KeyValueStore> {
      let kv;
      try {
        kv = await kvm.create(bucket, { ttl: ttlMs, history: 1 });
      } catch {
        kv = await kvm.open(bucket);
      }
      return {
        async put(key, value) {
          await kv.put(key, value);
        },
        async get(key) {
          const e = await kv.get(key);
          return e && e.operation === 'PUT' && e.length > 0 ? e.string() : null;
        },
        // The bucket's stream knows its live subjects; on nats-server 2.9 the KV key watcher can repeat
        // keys or never finish while the bucket is being written.
        async keys() {
          const prefix = `$KV.${bucket}.`;
          const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}>` });
          const keys = Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
          // A deleted key keeps its subject (the delete marker): list only keys that hold a value.
          const live = await Promise.all(keys.map(async (k) => ((await kv.get(k))?.operation === 'PUT' ? k : null)));
          return live.filter((k): k is string => k !== null);
        },
        async delete(key) {
          await kv.delete(key);
        },
      };
    },

    isReady: () => !nc.isClosed() && nc.info !== undefined,

    async close() {
      await nc.drain().catch(() => nc.close());
    },
  };
}
