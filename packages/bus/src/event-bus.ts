/**
 * The bus every service talks to. Two adapters honour it: NATS JetStream (production, tests) and an
 * in-process bus (embedded local mode). One contract test suite runs against both.
 */

export interface StreamConfig {
  name: string;
  /** NATS-style subject patterns (`*` one token, `>` the rest). */
  subjects: string[];
  /** How long messages stay (replay window). */
  maxAgeMs?: number;
  /** Publishes with the same msgId inside this window are stored once. */
  duplicateWindowMs?: number;
}

export interface StreamInfo {
  name: string;
  subjects: string[];
  maxAgeMs: number;
  duplicateWindowMs: number;
  replicas: number;
}

export interface DurableConfig {
  stream: string;
  durable: string;
  filterSubject: string;
  /** A message not acked within this time is delivered again. */
  ackWaitMs?: number;
  /** Deliveries after which the bus stops redelivering a message. */
  maxDeliver?: number;
  /** Only when the durable is created: its first message is the first at or after this stream sequence (default: the stream's first). */
  startAtSeq?: number;
}

export interface StoredMessage {
  subject: string;
  /** Stream sequence: strictly increasing in publish order. */
  seq: number;
  data: Uint8Array;
}

export interface DeliveredMessage extends StoredMessage {
  /** 1 on the first delivery. */
  deliveryCount: number;
  ack(): void;
  /** Deliver again after `delayMs`. */
  nak(delayMs?: number): void;
  /** Never deliver again. */
  term(): void;
  /** Still being handled: restarts the ack wait without a new delivery. */
  working(): void;
}

export interface Stoppable {
  stop(): Promise<void>;
}

export interface KeyValueStore {
  put(key: string, value: string): Promise<void>;
  get(key: string): Promise<string | null>;
  keys(): Promise<string[]>;
  delete(key: string): Promise<void>;
}

export interface EventBus {
  readonly kind: 'nats' | 'memory';
  /** Creates or updates a stream. Only the broker migration (and tests) call it; services check with `streamInfo`. */
  ensureStream(config: StreamConfig): Promise<void>;
  /** A stream's configuration as the broker has it; null when it does not exist. */
  streamInfo(name: string): Promise<StreamInfo | null>;
  /** A KV bucket's limits as the broker has them; null when it does not exist. */
  bucketInfo(bucket: string): Promise<{ ttlMs: number; replicas: number } | null>;
  /** Stores a message once per msgId (within the stream's duplicate window). Rejects when no stream takes the subject. */
  publish(subject: string, data: string | Uint8Array, msgId: string): Promise<{ seq: number; duplicate: boolean }>;
  ensureDurable(config: DurableConfig): Promise<void>;
  /**
   * Delivers a durable's messages to `handler`, up to `concurrency` (default 1) at a time per call; several
   * calls (replicas) share the durable. A slow message holds up only its own handler slot, never messages
   * behind it. The handler must ack, nak or term each message.
   */
  consumeDurable(
    stream: string,
    durable: string,
    handler: (msg: DeliveredMessage) => Promise<void>,
    /** prefetch: messages asked for ahead (a batching handler takes many at once; default 16 or 4 per slot). */
    opts?: { concurrency?: number; prefetch?: number },
  ): Promise<Stoppable>;
  /** Messages published from now on whose subject matches, in stream order (no acks, no persistence of position). */
  consumeNew(stream: string, filterSubject: string, handler: (msg: StoredMessage) => void): Promise<Stoppable>;
  /** Stored messages matching `filterSubject` published at or after `since`, in stream order. */
  readSince(stream: string, filterSubject: string, since: Date): Promise<StoredMessage[]>;
  /** Messages of a durable not yet acked (waiting or in flight). */
  pendingFor(stream: string, durable: string): Promise<number>;
  /** The durable's ack floor (every message it takes up to this stream sequence is acked); null when it does not exist. */
  ackFloor(stream: string, durable: string): Promise<number | null>;
  /** Request/reply; rejects with code 'no_responders' or 'timeout'. */
  request(subject: string, payload: string, timeoutMs: number): Promise<string>;
  /** Answers requests on `subject`; one member of `queue` answers each request. */
  serve(subject: string, queue: string, handler: (payload: string) => Promise<string>): Stoppable;
  /** A key/value bucket whose entries expire `ttlMs` after their last write. */
  keyValue(bucket: string, ttlMs: number): Promise<KeyValueStore>;
  isReady(): boolean;
  close(): Promise<void>;
}

export class BusRequestError extends Error {
  constructor(
    message: string,
    public readonly code: 'no_responders' | 'timeout',
  ) {
    super(message);
    this.name = 'BusRequestError';
  }
}

/** NATS subject matching: `*` matches one token, `>` one or more trailing tokens. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
