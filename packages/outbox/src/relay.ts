import type { EventBus, BusLogger as Logger } from '@glavito/bus';
import type { EventEnvelope } from '@glavito/contracts';
import { prepared, quoteIdent, recentWrites } from '@glavito/db';
import pg from 'pg';
import { payloadText, type OutboxRow } from './enqueue.js';
import { outboxNotifyChannel } from './migration.js';

type SessionRow = OutboxRow & { payload: EventEnvelope };
const isAuditRow = (row: OutboxRow): boolean => row.payload.type === 'audit.recorded';

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
  /** Ask for an immediate pass. */
  wake(): void;
  /**
   * Publishes rows its caller has just committed (enqueued with `publishedBy: 'direct'`)
   * and marks them sent shortly after, several rows per UPDATE. Returns at once; a row that fails to go out
   * stays pending and the relay publishes it when its `relay_after` comes.
   */
  publishCommitted(rows: OutboxRow[]): void;
  /** Waits for direct publishes in flight and their marks, then publishes everything the relay may; resolves with the relay's count. */
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
  const table = `${quoteIdent(schema)}.outbox`;
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
  const claimSql = `BEGIN; SELECT id, subject, payload FROM ${table} WHERE published_at IS NULL AND relay_after <= now() ORDER BY seq LIMIT ${Math.trunc(batchSize)} FOR UPDATE SKIP LOCKED`;
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
      // Rows this process published itself but could not mark yet (Postgres was away) are only marked: sent
      // again after the broker's duplicate window they would be stored twice.
      const sentHere = sentIds.length + markingIds.length > 0 ? new Set([...sentIds, ...markingIds]) : null;
      const unsent = sentHere ? rows.filter((r) => !sentHere.has(r.id)) : rows;
      // Pipelined: one round trip's latency for the whole batch, not one per event.
      await Promise.all(unsent.map((r) => bus.publish(r.subject, JSON.stringify(r.payload), r.id)));
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

  // Direct publishes: in flight, then sent and waiting for their mark.
  const inFlight = new Set<Promise<void>>();
  let sentIds: string[] = [];
  let markingIds: string[] = [];
  let markTimer: NodeJS.Timeout | null = null;
  let marking: Promise<void> | null = null;
  let lastDirectFailureLog = 0;
  // Marks wait a little so that one UPDATE covers many rows (each costs Postgres about 0.3 ms).
  const MARK_DELAY_MS = 100;
  const MAX_UNMARKED = 50_000;

  // Each session's events go out in sessionSeq order. Two commits of one session can have their results
  // read from the pool's sockets in reverse order, so a row that is not the next one this process expects
  // for its session waits for the end of the event-loop turn, and everything handed over by then goes out
  // sorted. The usual case (the session's next event) goes out at once.
  let queued: SessionRow[] = [];
  // The last sessionSeq issued per session, for the sessions this process published last.
  const lastIssued = recentWrites<number>(10_000);

  // After a direct publish failed (NATS away or not answering), rows are handed to the relay instead, which
  // publishes in commit order: newer events must not overtake the ones the outage held back (their consumers
  // would park them behind the gap). Direct publishing resumes once the relay has drained the outbox.
  let relayMode = false;
  const handingOver = new Set<Promise<void>>();
  let handOvers = 0;

  /** Makes committed rows the relay's now (best effort: if Postgres is away too, their relay_after still comes). */
  function handOver(ids: string[]): void {
    handOvers++;
    const p = pool.query(prepared(`UPDATE ${table} SET relay_after = now() WHERE id = ANY($1::uuid[]) AND published_at IS NULL`, [ids])).then(
      () => wake(),
      (err: Error) =>
        logger.warn({ err: err.message, schema, rows: ids.length }, 'outbox: handing rows to the relay failed; it takes them when their relay_after comes'),
    );
    handingOver.add(p);
    void p.finally(() => handingOver.delete(p));
  }

  // When the session's previous event is known to be still on its way (this process issued the one before it),
  // a row waits up to this long for it: the results of two commits can also arrive in different event-loop turns.
  const GAP_WAIT_MS = 100;
  const queuedSince = new WeakMap<SessionRow, number>();
  let queueTimer: NodeJS.Timeout | null = null;

  function publishCommitted(rows: OutboxRow[]): void {
    if (relayMode) return handOver(rows.map((r) => r.id));
    for (const r of rows) {
      if (isAuditRow(r)) {
        issue(r);
        continue;
      }
      const row = r as SessionRow;
      if (queued.length === 0 && (lastIssued.get(row.payload.sessionId) ?? 0) === row.payload.sessionSeq - 1) issue(row);
      else {
        if (queued.length === 0 && !queueTimer) setImmediate(publishQueued);
        queuedSince.set(row, Date.now());
        queued.push(row);
      }
    }
  }

  function publishQueued(): void {
    queueTimer = null;
    const rows = queued;
    queued = [];
    rows.sort((a, b) =>
      a.payload.sessionId < b.payload.sessionId ? -1 : a.payload.sessionId > b.payload.sessionId ? 1 : a.payload.sessionSeq - b.payload.sessionSeq,
    );
    const now = Date.now();
    for (const row of rows) {
      const last = lastIssued.get(row.payload.sessionId);
      const gap = last !== undefined && row.payload.sessionSeq > last + 1;
      if (gap && now - (queuedSince.get(row) ?? now) < GAP_WAIT_MS) queued.push(row);
      else issue(row);
    }
    if (queued.length > 0 && !queueTimer) queueTimer = setTimeout(publishQueued, 5);
  }

  function issue(row: OutboxRow): void {
    if (!isAuditRow(row)) lastIssued.set((row as SessionRow).payload.sessionId, (row as SessionRow).payload.sessionSeq);
    const p = bus.publish(row.subject, payloadText(row), row.id).then(
      () => {
        sentIds.push(row.id);
        scheduleMark(MARK_DELAY_MS);
      },
      (err: Error) => {
        // The row stays pending and is the relay's now, and so is everything committed after it until the relay
        // has drained the outbox. One report a second at most.
        // Audit rows have no order to keep: their failure hands only themselves over.
        if (!isAuditRow(row)) relayMode = true;
        handOver([row.id]);
        if (Date.now() - lastDirectFailureLog > 1000) {
          lastDirectFailureLog = Date.now();
          logger.warn({ err: err.message, schema }, 'outbox: direct publish failed, the relay will publish the event');
        }
      },
    );
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }

  function scheduleMark(delayMs: number): void {
    if (markTimer || marking || sentIds.length === 0) return;
    markTimer = setTimeout(runMark, delayMs);
  }

  function runMark(): void {
    markTimer = null;
    const ids = sentIds;
    sentIds = [];
    markingIds = ids;
    let retryIn = MARK_DELAY_MS;
    marking = pool
      .query(prepared(`UPDATE ${table} SET published_at = now() WHERE id = ANY($1::uuid[]) AND published_at IS NULL`, [ids]))
      .then(
        () => {},
        (err: Error) => {
          // Unmarked rows are re-published by the relay later (the broker drops them by msgID); keep trying meanwhile.
          sentIds = ids.concat(sentIds).slice(-MAX_UNMARKED);
          retryIn = 1000;
          logger.warn({ err: err.message, schema, rows: ids.length }, 'outbox: marking published rows failed, will retry');
        },
      )
      .finally(() => {
        marking = null;
        markingIds = [];
        if (!stopped) scheduleMark(retryIn);
      });
  }

  /** Waits until every direct publish has settled and its mark is written (or has failed once). */
  async function settleDirect(): Promise<void> {
    if (queueTimer) {
      clearTimeout(queueTimer);
      queueTimer = null;
    }
    // Waiting rows go out now, sorted, gap or not.
    if (queued.length > 0) {
      for (const row of queued) queuedSince.set(row, 0);
      publishQueued();
    }
    await Promise.allSettled([...inFlight]);
    if (markTimer) {
      clearTimeout(markTimer);
      markTimer = null;
    }
    await marking;
    if (sentIds.length > 0) {
      runMark();
      await marking;
    }
  }

  async function flush(): Promise<number> {
    await settleDirect();
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
        const handOversBefore = handOvers;
        const handOversPending = handingOver.size;
        await flush();
        // Drained, and no row was handed over since the pass began: new rows may go out directly again.
        if (relayMode && handOversPending === 0 && handOvers === handOversBefore && inFlight.size === 0) {
          relayMode = false;
          logger.info({ schema }, 'outbox: the relay has caught up; writers publish directly again');
        }
        await cleanup();
        backoff = 0;
        // In relay mode another pass comes soon, to hand publishing back to the writers once nothing is left.
        await sleep(relayMode ? Math.min(pollMs, 200) : pollMs);
      } catch (err) {
        // Short and flat: the events held back by an outage go out within a quarter second of the broker answering again
        // (with a 1 s cap, the retry due after a ~1 s outage came up to a second after NATS was back: pushes at 2.0 s).
        backoff = Math.min(backoff ? backoff * 2 : 100, 250);
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
    publishCommitted,
    flush,
    async pending() {
      const r = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE published_at IS NULL`);
      return Number(r.rows[0]!.n);
    },
    async stop() {
      stopped = true;
      wake();
      await loop;
      await settleDirect();
      await listener?.end().catch(() => {});
    },
  };
}
