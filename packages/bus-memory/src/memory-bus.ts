import {
  BusRequestError,
  subjectMatches,
  type DeliveredMessage,
  type DurableConfig,
  type EventBus,
  type KeyValueStore,
  type Stoppable,
  type StoredMessage,
  type StreamConfig,
} from '@glavito/bus';

/**
 * The in-process EventBus of the embedded local mode: every service runs in one Node process and
 * shares this bus. It follows the JetStream semantics the NATS adapter relies on (limits retention,
 * msgId dedupe window, explicit-ack durable consumers with ackWait/maxDeliver, deliver policy all),
 * with the same defaults as `createNatsBus`.
 *
 * Publishing never runs a handler: it stores the message and schedules deliveries (setImmediate), so a
 * producer publishing inside a database transaction never waits for a consumer.
 *
 * Deliberate choices where JetStream and an in-process bus differ:
 * - A message is never handed to a worker while the handler of its previous delivery is still
 *   running (even once its ackWait has expired): it is redelivered as soon as that handler returns,
 *   if it is still unsettled. A late ack from a slow handler therefore always counts.
 * - A handler that throws without settling its message is treated like one that forgot to: the
 *   message comes back after ackWait.
 * - A `serve` handler that rejects answers `{"error":"internal error"}`, as the NATS adapter does.
 */

const DEFAULT_MAX_AGE_MS = 7 * 86_400_000;
const DEFAULT_DUPLICATE_WINDOW_MS = 2 * 60_000;
const DEFAULT_ACK_WAIT_MS = 30_000;
/** Same default as the NATS adapter (and `runConsumer`). */
const DEFAULT_MAX_DELIVER = 10;
/** How often retention, dedupe windows and KV TTLs are swept when nobody touches them. */
const SWEEP_INTERVAL_MS = 1000;

/** setTimeout's ceiling; longer delays would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const encoder = new TextEncoder();
const noop = () => {};

interface Entry {
  seq: number;
  subject: string;
  data: Uint8Array;
  time: number;
}

interface Watcher {
  filter: string;
  handler: (msg: StoredMessage) => void;
  /** Next stream sequence this watcher has not looked at yet. */
  cursor: number;
  stopped: boolean;
}

class MemoryStream {
  subjects: string[];
  maxAgeMs: number;
  duplicateWindowMs: number;
  /** Live messages are `messages[head..]`, with contiguous sequences. */
  private messages: Entry[] = [];
  private head = 0;
  lastSeq = 0;
  /** msgId → first publish; insertion order is publish-time order, so expiry sweeps from the front. */
  private readonly msgIds = new Map<string, { seq: number; time: number }>();
  readonly durables = new Map<string, Durable>();
  readonly watchers = new Set<Watcher>();
  private fanOutScheduled = false;

  constructor(
    readonly name: string,
    config: StreamConfig,
    private readonly bus: BusState,
  ) {
    this.subjects = [...config.subjects];
    this.maxAgeMs = config.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    this.duplicateWindowMs = config.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
  }

  takes(subject: string): boolean {
    return this.subjects.some((p) => subjectMatches(p, subject));
  }

  get firstSeq(): number {
    return this.head < this.messages.length ? this.messages[this.head]!.seq : this.lastSeq + 1;
  }

  at(seq: number): Entry | undefined {
    const first = this.firstSeq;
    if (seq < first || seq > this.lastSeq) return undefined;
    return this.messages[this.head + (seq - first)];
  }

  /** Stores the message unless its msgId was seen within the duplicate window. */
  append(subject: string, data: Uint8Array, msgId: string): { seq: number; duplicate: boolean } {
    const now = this.bus.now();
    this.prune(now);
    if (msgId) {
      const seen = this.msgIds.get(msgId);
      if (seen) return { seq: seen.seq, duplicate: true };
    }
    const seq = ++this.lastSeq;
    this.messages.push({ seq, subject, data, time: now });
    if (msgId && this.duplicateWindowMs > 0) this.msgIds.set(msgId, { seq, time: now });
    if (this.watchers.size > 0) this.scheduleFanOut();
    for (const d of this.durables.values()) if (subjectMatches(d.filter, subject)) d.schedulePump();
    return { seq, duplicate: false };
  }

  /** Drops messages older than maxAge and msgIds older than the duplicate window. */
  prune(now: number): void {
    const oldest = now - this.maxAgeMs;
    while (this.head < this.messages.length && this.messages[this.head]!.time < oldest) this.head++;
    if (this.head > 0 && (this.head === this.messages.length || this.head >= 1024) && this.head * 2 >= this.messages.length) {
      this.messages = this.messages.slice(this.head);
      this.head = 0;
    }
    const windowStart = now - this.duplicateWindowMs;
    for (const [id, seen] of this.msgIds) {
      if (seen.time >= windowStart) break;
      this.msgIds.delete(id);
    }
  }

  /** Live messages from `fromSeq` on (pruned ones skipped), in sequence order. */
  *from(fromSeq: number): Generator<Entry> {
    for (let seq = Math.max(fromSeq, this.firstSeq); seq <= this.lastSeq; seq++) {
      const e = this.at(seq);
      if (e) yield e;
    }
  }

  private scheduleFanOut(): void {
    if (this.fanOutScheduled) return;
    this.fanOutScheduled = true;
    setImmediate(() => {
      this.fanOutScheduled = false;
      if (this.bus.closed) return;
      for (const w of this.watchers) {
        for (const e of this.from(w.cursor)) {
          if (w.stopped) break;
          w.cursor = e.seq + 1;
          if (subjectMatches(w.filter, e.subject)) callDetached(() => w.handler(toStored(e)));
        }
        if (!w.stopped) w.cursor = this.lastSeq + 1;
      }
    });
  }
}

/** One delivery of a message; only the current delivery of an unsettled message can nak it. */
interface Delivery {
  settled: boolean;
}

interface PendingMessage {
  seq: number;
  deliveries: number;
  /** The delivery whose ack/nak/term still counts as current; null once nak'd or its ackWait expired. */
  current: Delivery | null;
  /** While a delivery is current: its ack deadline. Otherwise: when it may be redelivered. */
  dueAt: number;
  /** The handler of the latest delivery has not returned yet: do not hand the message out again. */
  handlerRunning: boolean;
}

interface Worker {
  handler: (msg: DeliveredMessage) => Promise<void>;
  busy: boolean;
  stopped: boolean;
  /** Settles when the running handler returns. */
  running: Promise<void> | null;
}

class Durable {
  filter = '';
  ackWaitMs: number;
  maxDeliver: number;
  /** Next stream sequence never delivered to this durable. */
  private cursor = 1;
  /** Delivered and not yet acked/termed (in flight or waiting for redelivery). */
  private readonly pending = new Map<number, PendingMessage>();
  /** Subset of `pending` not in flight: waiting for their redelivery time. */
  private readonly waiting = new Set<number>();
  /** Attached workers; the one served least recently comes first. */
  private readonly workers = new Set<Worker>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private pumpScheduled = false;

  constructor(
    private readonly stream: MemoryStream,
    config: DurableConfig,
    private readonly bus: BusState,
  ) {
    this.ackWaitMs = DEFAULT_ACK_WAIT_MS;
    this.maxDeliver = DEFAULT_MAX_DELIVER;
    this.cursor = Math.max(1, config.startAtSeq ?? 1);
    this.configure(config);
  }

  /** Limits and the filter can change on an existing durable; its position cannot (as with the NATS adapter). */
  configure(config: DurableConfig): void {
    this.filter = config.filterSubject;
    this.ackWaitMs = Math.max(1, config.ackWaitMs ?? DEFAULT_ACK_WAIT_MS);
    this.maxDeliver = config.maxDeliver ?? DEFAULT_MAX_DELIVER;
  }

  attach(handler: Worker['handler']): Stoppable {
    const worker: Worker = { handler, busy: false, stopped: false, running: null };
    this.workers.add(worker);
    this.schedulePump();
    return {
      stop: async () => {
        worker.stopped = true;
        this.workers.delete(worker);
        await worker.running;
      },
    };
  }

  /** Every message up to this stream sequence is acked (or not this durable's). */
  ackFloor(): number {
    this.dropPruned();
    let lowest = this.cursor;
    for (const seq of this.pending.keys()) lowest = Math.min(lowest, seq);
    return lowest - 1;
  }

  pendingCount(): number {
    this.dropPruned();
    let n = this.pending.size;
    for (const e of this.stream.from(this.cursor)) if (subjectMatches(this.filter, e.subject)) n++;
    return n;
  }

  schedulePump(): void {
    if (this.pumpScheduled || this.bus.closed) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.workers) w.stopped = true;
    this.workers.clear();
  }

  /** Drops state of messages the stream no longer holds (retention). */
  dropPruned(): void {
    const first = this.stream.firstSeq;
    if (this.cursor < first) this.cursor = first;
    for (const seq of this.pending.keys()) {
      if (seq < first) {
        this.pending.delete(seq);
        this.waiting.delete(seq);
      }
    }
  }

  private pump(): void {
    if (this.bus.closed) return;
    for (const worker of [...this.workers]) {
      if (worker.busy || worker.stopped) continue;
      const next = this.take();
      if (!next) return;
      this.deliver(worker, next.state, next.entry);
    }
  }

  /** The next message to deliver: due redeliveries first (lowest sequence), then new messages. */
  private take(): { state: PendingMessage; entry: Entry } | null {
    const now = this.bus.now();
    for (;;) {
      let best: PendingMessage | undefined;
      for (const seq of this.waiting) {
        const s = this.pending.get(seq)!;
        if (s.handlerRunning || s.dueAt > now) continue;
        if (!best || s.seq < best.seq) best = s;
      }
      if (!best) break;
      const entry = this.stream.at(best.seq);
      if (entry) return { state: best, entry };
      // Gone with the stream's retention: nothing left to redeliver.
      this.pending.delete(best.seq);
      this.waiting.delete(best.seq);
    }
    for (const entry of this.stream.from(this.cursor)) {
      this.cursor = entry.seq + 1;
      if (!subjectMatches(this.filter, entry.subject)) continue;
      const state: PendingMessage = { seq: entry.seq, deliveries: 0, current: null, dueAt: now, handlerRunning: false };
      this.pending.set(entry.seq, state);
      return { state, entry };
    }
    return null;
  }

  private deliver(worker: Worker, state: PendingMessage, entry: Entry): void {
    const delivery: Delivery = { settled: false };
    state.deliveries++;
    state.current = delivery;
    state.handlerRunning = true;
    state.dueAt = this.bus.now() + this.ackWaitMs;
    this.waiting.delete(state.seq);
    this.armTimer(state.dueAt);

    const msg: DeliveredMessage = {
      ...toStored(entry),
      deliveryCount: state.deliveries,
      ack: () => this.settle(state.seq, delivery, 'ack'),
      nak: (delayMs?: number) => this.settle(state.seq, delivery, 'nak', delayMs),
      term: () => this.settle(state.seq, delivery, 'term'),
      working: () => {
        if (delivery.settled || state.current !== delivery || this.bus.closed) return;
        state.dueAt = this.bus.now() + this.ackWaitMs;
      },
    };

    // Least recently served worker first next time.
    this.workers.delete(worker);
    this.workers.add(worker);
    worker.busy = true;
    let result: Promise<void>;
    try {
      result = Promise.resolve(worker.handler(msg));
    } catch (err) {
      result = Promise.reject(err);
    }
    worker.running = result.then(noop, noop).then(() => {
      worker.busy = false;
      worker.running = null;
      state.handlerRunning = false;
      this.schedulePump();
    });
  }

  private settle(seq: number, delivery: Delivery, how: 'ack' | 'nak' | 'term', delayMs?: number): void {
    if (delivery.settled || this.bus.closed) return;
    delivery.settled = true;
    const state = this.pending.get(seq);
    if (!state) return;
    if (how !== 'nak') {
      // A late ack (after ackWait) still counts: the work was done.
      this.pending.delete(seq);
      this.waiting.delete(seq);
      return;
    }
    if (state.current !== delivery) return; // stale: already waiting for redelivery
    state.current = null;
    this.waitForRedelivery(state, this.bus.now() + Math.max(0, delayMs ?? 0));
  }

  /** Queues the message again, unless it has used up its deliveries. */
  private waitForRedelivery(state: PendingMessage, dueAt: number): void {
    if (this.maxDeliver > 0 && state.deliveries >= this.maxDeliver) {
      this.pending.delete(state.seq);
      this.waiting.delete(state.seq);
      return;
    }
    state.dueAt = dueAt;
    this.waiting.add(state.seq);
    if (dueAt > this.bus.now()) this.armTimer(dueAt);
    else this.schedulePump();
  }

  private armTimer(at: number): void {
    if (this.bus.closed || at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.onTimer(), Math.min(MAX_TIMER_MS, Math.max(0, at - this.bus.now())));
    this.timer.unref();
  }

  /** Expires ack deadlines and releases due redeliveries, then re-arms for the next deadline. */
  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.bus.closed) return;
    const now = this.bus.now();
    let next = Infinity;
    let ready = false;
    for (const state of [...this.pending.values()]) {
      if (state.current) {
        if (state.dueAt > now) next = Math.min(next, state.dueAt);
        else {
          state.current = null; // ackWait expired: that delivery can no longer nak
          this.waitForRedelivery(state, now);
          ready ||= this.waiting.has(state.seq);
        }
      } else if (this.waiting.has(state.seq)) {
        if (state.dueAt > now) next = Math.min(next, state.dueAt);
        else ready = true;
      }
    }
    if (next < Infinity) this.armTimer(next);
    if (ready) this.schedulePump();
  }
}

interface Responder {
  subject: string;
  queue: string;
  handler: (payload: string) => Promise<string>;
}

interface BusState {
  now: () => number;
  closed: boolean;
}

interface KvEntry {
  value: string;
  writtenAt: number;
}

class Bucket {
  /** Insertion order is write order (a put re-inserts), so expired entries sit at the front. */
  readonly entries = new Map<string, KvEntry>();
  constructor(readonly ttlMs: number) {}

  expire(now: number): void {
    if (this.ttlMs <= 0) return;
    for (const [key, e] of this.entries) {
      if (now - e.writtenAt < this.ttlMs) break;
      this.entries.delete(key);
    }
  }
}

const STREAM_NAME = /^[^.*>\s]+$/;
const BUCKET_NAME = /^[-\w]+$/;
const KV_KEY = /^[-/=.\w]+$/;

function validSubject(subject: string, wildcards: boolean): boolean {
  return subject.split('.').every((t, i, all) => t.length > 0 && !/\s/.test(t) && (wildcards ? !(t === '>' && i !== all.length - 1) : t !== '*' && t !== '>'));
}

/** Whether some subject matches both patterns. */
function patternsOverlap(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; ; i++) {
    if (i >= x.length || i >= y.length) return x.length === y.length;
    if (x[i] === '>') return i < y.length;
    if (y[i] === '>') return i < x.length;
    if (x[i] !== '*' && y[i] !== '*' && x[i] !== y[i]) return false;
  }
}

function toStored(e: Entry): StoredMessage {
  return { subject: e.subject, seq: e.seq, data: e.data.slice() };
}

/** Calls a handler typed as sync without letting a throw or a rejected promise escape. */
function callDetached(fn: () => unknown): void {
  try {
    const r = fn();
    if (r && typeof (r as Promise<unknown>).then === 'function') (r as Promise<unknown>).then(noop, noop);
  } catch {
    // a watcher's failure is its own business
  }
}

export function createMemoryBus(opts: { now?: () => number } = {}): EventBus {
  const state: BusState = { now: opts.now ?? Date.now, closed: false };
  const streams = new Map<string, MemoryStream>();
  const responders = new Set<Responder>();
  /** Round-robin position per queue group (pattern + queue name). */
  const roundRobin = new Map<string, number>();
  const buckets = new Map<string, Bucket>();
  const openRequests = new Set<{ timer: NodeJS.Timeout; reject: (err: Error) => void }>();

  const sweeper = setInterval(() => {
    const now = state.now();
    for (const s of streams.values()) {
      s.prune(now);
      for (const d of s.durables.values()) d.dropPruned();
    }
    for (const b of buckets.values()) b.expire(now);
  }, SWEEP_INTERVAL_MS);
  sweeper.unref();

  function open(): void {
    if (state.closed) throw new Error('memory bus: closed');
  }

  function streamNamed(name: string): MemoryStream {
    const s = streams.get(name);
    if (!s) throw new Error(`memory bus: stream ${name} not found`);
    return s;
  }

  function durableNamed(stream: string, durable: string): Durable {
    const d = streamNamed(stream).durables.get(durable);
    if (!d) throw new Error(`memory bus: consumer ${durable} not found on stream ${stream}`);
    return d;
  }

  return {
    kind: 'memory',

    async ensureStream(config) {
      open();
      if (!STREAM_NAME.test(config.name)) throw new Error(`memory bus: invalid stream name ${JSON.stringify(config.name)}`);
      if (config.subjects.length === 0) throw new Error(`memory bus: stream ${config.name} needs subjects`);
      for (const p of config.subjects) if (!validSubject(p, true)) throw new Error(`memory bus: invalid subject ${JSON.stringify(p)}`);
      // Like JetStream: two streams may not take the same subject.
      for (const other of streams.values()) {
        if (other.name === config.name) continue;
        const clash = config.subjects.find((p) => other.subjects.some((q) => patternsOverlap(p, q)));
        if (clash) throw new Error(`memory bus: subjects ${clash} overlap with stream ${other.name}`);
      }
      const existing = streams.get(config.name);
      if (existing) {
        existing.subjects = [...config.subjects];
        existing.maxAgeMs = config.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
        existing.duplicateWindowMs = config.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
        existing.prune(state.now());
      } else {
        streams.set(config.name, new MemoryStream(config.name, config, state));
      }
    },

    async streamInfo(name) {
      open();
      const s = streams.get(name);
      return s ? { name, subjects: [...s.subjects], maxAgeMs: s.maxAgeMs, duplicateWindowMs: s.duplicateWindowMs, replicas: 1 } : null;
    },

    async bucketInfo(bucket) {
      open();
      const b = buckets.get(bucket);
      return b ? { ttlMs: b.ttlMs, replicas: 1 } : null;
    },

    async publish(subject, data, msgId) {
      open();
      if (!validSubject(subject, false)) throw new Error(`memory bus: invalid publish subject ${JSON.stringify(subject)}`);
      for (const stream of streams.values()) {
        if (stream.takes(subject)) return stream.append(subject, typeof data === 'string' ? encoder.encode(data) : data.slice(), msgId);
      }
      throw new Error(`memory bus: no stream takes subject ${subject}`);
    },

    async ensureDurable(config) {
      open();
      const stream = streamNamed(config.stream);
      if (!validSubject(config.filterSubject, true)) throw new Error(`memory bus: invalid filter ${JSON.stringify(config.filterSubject)}`);
      const existing = stream.durables.get(config.durable);
      if (existing) existing.configure(config);
      else stream.durables.set(config.durable, new Durable(stream, config, state));
    },

    async consumeDurable(stream, durable, handler, opts = {}) {
      open();
      const d = durableNamed(stream, durable);
      // Each worker takes one message when it is free: no message waits behind a busy worker.
      const workers = Array.from({ length: Math.max(1, opts.concurrency ?? 1) }, () => d.attach(handler));
      return {
        async stop() {
          await Promise.all(workers.map((w) => w.stop()));
        },
      };
    },

    async consumeNew(stream, filterSubject, handler) {
      open();
      const s = streamNamed(stream);
      const watcher: Watcher = { filter: filterSubject, handler, cursor: s.lastSeq + 1, stopped: false };
      s.watchers.add(watcher);
      return {
        async stop() {
          watcher.stopped = true;
          s.watchers.delete(watcher);
        },
      };
    },

    async readSince(stream, filterSubject, since) {
      open();
      const s = streamNamed(stream);
      s.prune(state.now());
      const from = since.getTime();
      const out: StoredMessage[] = [];
      for (const e of s.from(s.firstSeq)) if (e.time >= from && subjectMatches(filterSubject, e.subject)) out.push(toStored(e));
      return out;
    },

    async pendingFor(stream, durable) {
      open();
      const d = durableNamed(stream, durable);
      streamNamed(stream).prune(state.now());
      return d.pendingCount();
    },

    async ackFloor(stream, durable) {
      open();
      const d = streamNamed(stream).durables.get(durable);
      return d ? d.ackFloor() : null;
    },

    request(subject, payload, timeoutMs) {
      return new Promise<string>((resolve, reject) => {
        open();
        // One member per queue group, like NATS; the first answer wins.
        const groups = new Map<string, Responder[]>();
        for (const r of responders) {
          if (!subjectMatches(r.subject, subject)) continue;
          const key = r.queue ? `${r.subject}\u0000${r.queue}` : `${r.subject}\u0000\u0000${groups.size}`;
          const members = groups.get(key) ?? [];
          members.push(r);
          groups.set(key, members);
        }
        if (groups.size === 0) {
          reject(new BusRequestError(`${subject}: no responders`, 'no_responders'));
          return;
        }
        let done = false;
        const pending = {
          timer: setTimeout(
            () => finish(() => reject(new BusRequestError(`${subject}: no reply within ${timeoutMs} ms`, 'timeout'))),
            Math.min(MAX_TIMER_MS, Math.max(0, timeoutMs)),
          ),
          reject: (err: Error) => finish(() => reject(err)),
        };
        pending.timer.unref();
        openRequests.add(pending);
        function finish(settle: () => void): void {
          if (done) return;
          done = true;
          clearTimeout(pending.timer);
          openRequests.delete(pending);
          settle();
        }
        for (const [key, members] of groups) {
          const turn = roundRobin.get(key) ?? 0;
          roundRobin.set(key, turn + 1);
          const member = members[turn % members.length]!;
          // Asynchronous like a network hop; a failing handler answers an error, as with the NATS adapter.
          void Promise.resolve()
            .then(() => member.handler(payload))
            .then(
              (reply) => reply,
              () => JSON.stringify({ error: 'internal error' }),
            )
            .then((reply) => finish(() => resolve(reply)));
        }
      });
    },

    serve(subject, queue, handler) {
      open();
      if (!validSubject(subject, true)) throw new Error(`memory bus: invalid subject ${JSON.stringify(subject)}`);
      const r: Responder = { subject, queue, handler };
      responders.add(r);
      return {
        async stop() {
          responders.delete(r);
        },
      };
    },

    async keyValue(bucket, ttlMs) {
      open();
      if (!BUCKET_NAME.test(bucket)) throw new Error(`memory bus: invalid bucket name ${JSON.stringify(bucket)}`);
      // Like a JetStream bucket: created once, its TTL fixed by the first caller.
      let b = buckets.get(bucket);
      if (!b) {
        b = new Bucket(ttlMs);
        buckets.set(bucket, b);
      }
      const store = b;
      const checkKey = (key: string) => {
        if (!KV_KEY.test(key) || key.startsWith('.') || key.endsWith('.')) throw new Error(`memory bus: invalid key ${JSON.stringify(key)}`);
      };
      const kv: KeyValueStore = {
        async put(key, value) {
          open();
          checkKey(key);
          store.entries.delete(key);
          store.entries.set(key, { value, writtenAt: state.now() });
        },
        async get(key) {
          open();
          checkKey(key);
          store.expire(state.now());
          return store.entries.get(key)?.value ?? null;
        },
        async keys() {
          open();
          store.expire(state.now());
          return [...store.entries.keys()];
        },
        async delete(key) {
          open();
          checkKey(key);
          store.entries.delete(key);
        },
      };
      return kv;
    },

    isReady: () => !state.closed,

    async close() {
      if (state.closed) return;
      state.closed = true;
      clearInterval(sweeper);
      for (const s of streams.values()) {
        for (const d of s.durables.values()) d.close();
        for (const w of s.watchers) w.stopped = true;
        s.watchers.clear();
      }
      responders.clear();
      for (const r of [...openRequests]) r.reject(new Error('memory bus: closed'));
    },
  };
}
