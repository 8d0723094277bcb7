import type { Bus, BusLogger } from '@glavito/bus';
import { readEvent } from '@glavito/contracts';
import type { Pool, PoolOptions } from '@glavito/db';
import { ANALYTICS_LOCK } from './repositories/analytics-repository.js';
import { createProjectionRepository, opaqueEvent } from './repositories/projection-repository.js';

/**
 * The rebuild command's pool. No statement timeout: the service's 10 s is for answering requests, and this offline
 * command starts by deleting whole tables (a DELETE of 5M rows took 2 s here: ~25M step timings, or half that on a
 * slow day, would have failed it before anything was replayed).
 */
export const REBUILD_POOL_OPTIONS = { max: 4, applicationName: 'progress-rebuild', statementTimeoutMillis: 0 } satisfies Partial<PoolOptions>;

/**
 * Empties the read model and replays the event stream into it with the same code the live consumer
 * runs, without emitting events again (they were emitted the first time). Run it with the consumers
 * stopped (CONSUME_EVENTS=false or scaled to zero); afterwards they resume and the inbox drops what the
 * rebuild already applied.
 */
export async function rebuildProjections(opts: {
  pool: Pool;
  bus: Bus;
  stream: string;
  subjectPrefix: string;
  logger: BusLogger;
}): Promise<{ events: number; applied: number }> {
  const { pool, bus, stream, subjectPrefix, logger } = opts;
  // DELETE, not TRUNCATE: the service's role may delete its rows but does not own its tables (the migrator
  // does), and TRUNCATE needs ownership or a grant. One multi-statement query is one implicit transaction.
  // The analytics go with them (the replay writes them again); under the compactor's lock, so a fold in flight
  // cannot land after the delete.
  await pool.query(
    `SELECT pg_advisory_xact_lock(${ANALYTICS_LOCK}); DELETE FROM progress.projections; DELETE FROM progress.step_timings; DELETE FROM progress.milestones;
     DELETE FROM progress.pending_events; DELETE FROM progress.inbox; DELETE FROM progress.stat_delta_sets; DELETE FROM progress.stat_deltas; DELETE FROM progress.stat_counts`,
  );
  const info = await bus.jsm.streams.info(stream);
  const lastSeq = info.state.last_seq;
  const repo = createProjectionRepository(pool, { subjectPrefix });
  let events = 0;
  let applied = 0;
  if (info.state.messages === 0) return { events, applied };
  // A single filter as a string: the client sends an array as `filter_subjects`, which needs nats-server 2.10.
  const consumer = await bus.js.consumers.get(stream, { filter_subjects: `${subjectPrefix}.>` });
  const messages = await consumer.consume({ max_messages: 256 });
  for await (const msg of messages) {
    try {
      // Older versions upcast; one this build cannot read is stepped over in its session's order, as live.
      const read = readEvent(msg.json());
      const outcome = await repo.process(read.known ? read.event : opaqueEvent(read.envelope), false);
      events++;
      if (outcome === 'applied') applied++;
    } catch (err) {
      logger.warn({ streamSeq: msg.seq, err: (err as Error).message.slice(0, 200) }, 'rebuild: event skipped');
    }
    if (msg.seq >= lastSeq) break;
  }
  await messages.close();
  return { events, applied };
}
