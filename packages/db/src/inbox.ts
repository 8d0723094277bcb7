import type pg from 'pg';
import { quoteIdent } from './index.js';

/**
 * The smallest UUIDv7 of an instant. Event ids are UUIDv7 (their first 48 bits are the Unix time in ms), so
 * `event_id < uuidV7Floor(t)` is a time range on an inbox's primary key: no index of its own is needed to find old rows.
 */
export function uuidV7Floor(at: Date): string {
  const hex = Math.max(0, Math.floor(at.getTime())).toString(16).padStart(12, '0').slice(-12);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-000000000000`;
}

/**
 * Deletes `<schema>.inbox` rows (event_id uuid primary key, processed_at) of events older than `retentionMs`, in
 * batches; returns how many. An inbox row only has to outlive every way its event can come back: the stream keeps
 * events EVENT_RETENTION, so past it (plus a margin the caller adds) nothing can be redelivered. Both the id's time
 * and processed_at must be old: an id that is not a UUIDv7 (older releases, tests) is kept until processed_at is.
 * Replicas may prune at once: rows another one is deleting are skipped.
 */
export async function pruneInbox(pool: pg.Pool, schema: string, retentionMs: number, opts: { batch?: number; now?: Date } = {}): Promise<number> {
  const table = `${quoteIdent(schema)}.inbox`;
  const before = new Date((opts.now ?? new Date()).getTime() - retentionMs);
  const batch = opts.batch ?? 10_000;
  let total = 0;
  for (;;) {
    const { rowCount } = await pool.query(
      `DELETE FROM ${table} WHERE event_id IN (
         SELECT event_id FROM ${table} WHERE event_id < $1::uuid AND processed_at < $2 ORDER BY event_id LIMIT $3 FOR UPDATE SKIP LOCKED)`,
      [uuidV7Floor(before), before.toISOString(), batch],
    );
    total += rowCount ?? 0;
    if ((rowCount ?? 0) < batch) return total;
  }
}

/**
 * Prunes the inbox every `intervalMs` (first after one interval). Failures (Postgres away) are logged and retried
 * on the next tick; the rows wait.
 */
export function startInboxPruner(opts: {
  pool: pg.Pool;
  schema: string;
  retentionMs: number;
  intervalMs: number;
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = pruneInbox(opts.pool, opts.schema, opts.retentionMs)
      .then(
        (deleted) => {
          if (deleted > 0) opts.log.info({ schema: opts.schema, deleted }, 'inbox: rows of events past the stream retention deleted');
        },
        (err: Error) => opts.log.warn({ schema: opts.schema, err: err.message }, 'inbox: pruning failed; retried on the next tick'),
      )
      .finally(() => (running = undefined));
  }, opts.intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
