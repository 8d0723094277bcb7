import { eventSubject, type EventEnvelope } from '@glavito/contracts';
import pg from 'pg';
import type { EventBus } from './event-bus.js';
import type { BusLogger as Logger } from './nats.js';

/**
 * The outbox table every producing service owns (in its own schema):
 *   id uuid primary key, seq bigserial, subject text, payload jsonb,
 *   created_at timestamptz default now(), published_at timestamptz null
 * plus a statement trigger that NOTIFYs `<schema>_outbox` (see outboxNotifyTriggerSql).
 */
export function outboxNotifyChannel(schema: string): string {
  return `${schema}_outbox`;
}

export function outboxNotifyTriggerSql(schema: string): string {
  const ch = outboxNotifyChannel(schema);
  return `CREATE OR REPLACE FUNCTION "${schema}".notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('${ch}', ''); RETURN NULL; END $$;
CREATE OR REPLACE TRIGGER outbox_notify AFTER INSERT ON "${schema}".outbox FOR EACH STATEMENT EXECUTE FUNCTION "${schema}".notify_outbox();`;
}

export interface OutboxRow {
  id: string;
  subject: string;
  payload: EventEnvelope;
}

export function toOutboxRow(subjectPrefix: string, env: EventEnvelope): OutboxRow {
  return { id: env.id, subject: eventSubject(subjectPrefix, env), payload: env };
}

/** Inserts rows in the caller's transaction (the same one as the state change). */
export async function insertOutbox(client: pg.PoolClient | pg.Pool, schema: string, rows: OutboxRow[]): Promise<void> {
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO "${schema}".outbox (id, subject, payload) SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[])`,
    [rows.map((r) => r.id), rows.map((r) => r.subject), rows.map((r) => JSON.stringify(r.payload))],
  );
}

export interface OutboxRelayOptions {
  pool: pg.Pool;
  /** Connection string for the LISTEN connection (same database). */
  listenUrl?: string;
  schema: string;
  bus: Pick<EventBus, 'publish'>;
  logger: Logger;
  batchSize?: number;
  /** Fallback poll when no NOTIFY arrives (e.g. the LISTEN connection is down). */
  pollIntervalMs?: number;
  /** Published rows older than this are deleted. */
  retentionMs?: number;
}

export interface OutboxRelay {
  /** Ask for an immediate pass (called after a local commit). */
  wake(): void;
  /** Publishes everything pending now; resolves with the number of rows published. */
  flush(): Promise<number>;
  pending(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Claims pending rows in batches (FOR UPDATE SKIP LOCKED, so replicas share the work), publishes
 * them pipelined with msgID = event id, and marks them sent in the same transaction. A crash between
 * publish and commit re-publishes the batch; the broker drops the duplicates by msgID.
 */
export function startOutboxRelay(opts: OutboxRelayOptions): OutboxRelay {
  const { pool, schema, bus, logger } = opts;
  const batchSize = opts.batchSize ?? 256;
  const pollMs = opts.pollIntervalMs ?? 1000;
  const table = `"${schema}".outbox`;
  let stopped = false;
  let wakeUp: (() => void) | null = null;
  let woken = false;
  let listener: pg.Client | null = null;
  let lastCleanup = 0;

  const wake = () => {
    woken = true;
    wakeUp?.();
  };

  // Two round trips per batch: claim (BEGIN + SELECT) and settle (UPDATE + COMMIT) each go as one
  // simple-protocol string. The only values inlined are a number and ids read back from a uuid column.
  const claimSql = `BEGIN; SELECT id, subject, payload FROM ${table} WHERE published_at IS NULL ORDER BY seq LIMIT ${Math.trunc(batchSize)} FOR UPDATE SKIP LOCKED`;
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

  async function publishBatch(): Promise<number> {
    const client = await pool.connect();
    try {
      const [, claimed] = (await client.query(claimSql)) as unknown as [pg.QueryResult, pg.QueryResult<{ id: string; subject: string; payload: unknown }>];
      const rows = claimed.rows;
      if (rows.length === 0) {
        await client.query('COMMIT');
        return 0;
      }
      // Pipelined: one round trip's latency for the whole batch, not one per event.
      await Promise.all(rows.map((r) => bus.publish(r.subject, JSON.stringify(r.payload), r.id)));
      const ids = rows.map((r) => {
        if (!UUID.test(r.id)) throw new Error(`outbox id is not a uuid: ${r.id}`);
        return `'${r.id}'`;
      });
      await client.query(`UPDATE ${table} SET published_at = now() WHERE id IN (${ids.join(',')}); COMMIT`);
      return rows.length;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async function flush(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await publishBatch();
      total += n;
      if (n < batchSize) return total;
    }
  }

  async function cleanup(): Promise<void> {
    const retention = opts.retentionMs ?? 86_400_000;
    if (Date.now() - lastCleanup < Math.min(retention, 600_000)) return;
    lastCleanup = Date.now();
    await pool.query(`DELETE FROM ${table} WHERE published_at < now() - make_interval(secs => $1)`, [retention / 1000]);
  }

  async function listen(): Promise<void> {
    if (!opts.listenUrl || stopped) return;
    const client = new pg.Client({ connectionString: opts.listenUrl, connectionTimeoutMillis: 3000 });
    client.on('notification', wake);
    client.on('error', () => {
      listener = null;
      client.end().catch(() => {});
      if (!stopped) setTimeout(listenWithRetry, Math.max(pollMs, 1000)).unref();
    });
    await client.connect();
    await client.query(`LISTEN "${outboxNotifyChannel(schema)}"`);
    if (stopped) await client.end();
    else listener = client;
  }

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (woken) return resolve();
      const t = setTimeout(resolve, ms);
      wakeUp = () => {
        clearTimeout(t);
        resolve();
      };
    });

  const loop = (async () => {
    let backoff = 0;
    while (!stopped) {
      woken = false;
      try {
        await flush();
        await cleanup();
        backoff = 0;
        await sleep(pollMs);
      } catch (err) {
        backoff = Math.min(backoff ? backoff * 2 : 100, 5000);
        logger.warn({ err: (err as Error).message, schema, retryInMs: backoff }, 'outbox relay: publish failed, will retry');
        await sleep(backoff);
      }
      wakeUp = null;
    }
  })();

  const listenWithRetry = (): void => {
    void listen().catch((err: Error) => {
      logger.warn({ err: err.message }, 'outbox relay: LISTEN failed, polling until it reconnects');
      if (!stopped) setTimeout(listenWithRetry, Math.max(pollMs, 1000)).unref();
    });
  };
  listenWithRetry();

  return {
    wake,
    flush,
    async pending() {
      const r = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE published_at IS NULL`);
      return Number(r.rows[0]!.n);
    },
    async stop() {
      stopped = true;
      wake();
      await loop;
      await listener?.end().catch(() => {});
    },
  };
}
