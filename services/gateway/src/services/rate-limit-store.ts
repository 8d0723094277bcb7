import { mismatchMessage } from '@glavito/broker';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';

/**
 * A `store` for @fastify/rate-limit on a NATS KV bucket, so every gateway replica spends one budget per key.
 *
 * Fixed windows aligned to the epoch (`floor(now / window)`), so replicas agree on the window without talking to
 * each other; one KV key per caller and window, incremented with compare-and-set (the revision it last saw:
 * usually one round trip, a re-read on a conflict with another replica). The bucket's TTL (the broker migration
 * makes it two windows) removes old windows.
 *
 * When the store cannot answer within `timeoutMs` or NATS is disconnected, the request is let through (fail open:
 * an outage of the limiter must not become an outage of the API) and `onError` counts it; while disconnected it
 * fails open at once instead of waiting for the timeout on every request.
 */

export interface RateLimitCounts {
  current: number;
  ttl: number;
}

export interface SharedRateLimitStore {
  incr(key: string, timeWindowMs: number): Promise<RateLimitCounts>;
  close(): Promise<void>;
}

const MAX_CAS_ATTEMPTS = 8;

/** A KV key holds only `[-/_=.A-Za-z0-9]`: callers' keys (`user:<tenant>:<id>`, IPv6 addresses) are encoded. */
const kvKey = (key: string, window: number) => `${Buffer.from(key).toString('base64url')}.${window}`;

export async function createSharedRateLimitStore(opts: {
  servers: string;
  bucket: string;
  timeoutMs: number;
  now?: () => number;
}): Promise<SharedRateLimitStore> {
  const now = opts.now ?? Date.now;
  const nc: NatsConnection = await connect({
    servers: opts.servers.split(',').map((s) => s.trim()),
    name: 'gateway-rate-limit',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    timeout: 5000,
    noAsyncTraces: true,
  });
  try {
    // The bucket belongs to the broker migration; the gateway only opens it.
    await (await jetstreamManager(nc)).streams.info(`KV_${opts.bucket}`);
  } catch (err) {
    await nc.close();
    throw /not found/i.test(String(err)) ? new Error(mismatchMessage([`KV bucket ${opts.bucket} does not exist`])) : err;
  }
  const kv: KV = await new Kvm(jetstream(nc, { timeout: opts.timeoutMs })).open(opts.bucket);
  let connected = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') connected = false;
      else if (s.type === 'reconnect') connected = true;
    }
  })();

  // The last revision and count this replica saw per key: the usual increment is one update, no read first.
  const seen = new Map<string, { revision: number; count: number }>();
  const remember = (k: string, v: { revision: number; count: number }) => {
    seen.delete(k);
    seen.set(k, v);
    // Bounded: the oldest keys go first (Map keeps insertion order).
    if (seen.size > 10_000) seen.delete(seen.keys().next().value!);
  };

  /** Adds `n` to the key's count with compare-and-set; resolves to the count after it. */
  async function add(k: string, n: number): Promise<number> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const last = seen.get(k);
      try {
        if (last) {
          const revision = await kv.update(k, String(last.count + n), last.revision);
          remember(k, { revision, count: last.count + n });
          return last.count + n;
        }
        const entry = await kv.get(k);
        if (!entry || entry.operation !== 'PUT') {
          const revision = await kv.create(k, String(n));
          remember(k, { revision, count: n });
          return n;
        }
        const count = Number(entry.string()) + n;
        const revision = await kv.update(k, String(count), entry.revision);
        remember(k, { revision, count });
        return count;
      } catch (err) {
        // Another replica wrote first (wrong last sequence): read again and retry.
        const e = err as { code?: unknown; message?: string };
        if (e.code !== 10071 && !/wrong last sequence/i.test(e.message ?? '')) throw err;
        seen.delete(k);
      }
    }
    throw new Error(`rate limit: ${MAX_CAS_ATTEMPTS} conflicting writes in a row on ${k}`);
  }

  // Requests of one key in this process are coalesced: while one write is in flight the next ones wait and go
  // out as one `+n`, so a burst costs a write or two instead of a conflict storm between this process's own writes.
  const batches = new Map<string, { inFlight: boolean; waiting: Array<{ resolve: (n: number) => void; reject: (e: Error) => void }> }>();
  function increment(k: string): Promise<number> {
    let batch = batches.get(k);
    if (!batch) {
      batch = { inFlight: false, waiting: [] };
      batches.set(k, batch);
    }
    const b = batch;
    const result = new Promise<number>((resolve, reject) => b.waiting.push({ resolve, reject }));
    const flush = () => {
      if (b.inFlight) return;
      if (b.waiting.length === 0) return void batches.delete(k);
      const group = b.waiting.splice(0);
      b.inFlight = true;
      add(k, group.length)
        .then(
          (count) => group.forEach((w, i) => w.resolve(count - group.length + 1 + i)),
          (err: Error) => group.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          b.inFlight = false;
          flush();
        });
    };
    flush();
    return result;
  }

  return {
    async incr(key, timeWindowMs) {
      if (!connected) throw new Error('rate limit store: NATS is disconnected');
      const t = now();
      const window = Math.floor(t / timeWindowMs);
      let timer: NodeJS.Timeout | undefined;
      const current = await Promise.race([
        increment(kvKey(key, window)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`rate limit store: no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
        }),
      ]).finally(() => clearTimeout(timer));
      return { current, ttl: (window + 1) * timeWindowMs - t };
    },
    async close() {
      await nc.drain().catch(() => nc.close());
    },
  };
}
