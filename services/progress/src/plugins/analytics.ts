import fp from 'fastify-plugin';

/** Delta sets (applied events) folded per transaction. */
const BATCH = 5_000;

/**
 * Fills the analytics from projections that predate them (once per database, before any event is applied
 * here), then folds the deltas every applied event writes into the day and month counts, every
 * `intervalMs`. Replicas all run it; one at a time does the work (advisory lock).
 */
export const analyticsPlugin = fp<{ intervalMs: number }>(
  async (app, opts) => {
    const { analytics } = app.statisticsRepository;
    const backfilled = await analytics.backfill();
    if (backfilled) app.log.info(backfilled, 'analytics filled from the existing projections');

    let timer: NodeJS.Timeout | undefined;
    let running: Promise<void> | undefined;
    let stopped = false;
    const run = async () => {
      try {
        // A large backlog (a rebuild, a burst) is folded in batches, as long as each batch comes back full.
        while (!stopped && (await analytics.compact(BATCH)) === BATCH);
      } catch (err) {
        // Postgres away: the deltas wait in their table, reads still count them.
        app.log.warn({ err: (err as Error).message }, 'analytics compaction failed; retried on the next tick');
      }
    };
    const tick = () => {
      running = run().finally(() => {
        running = undefined;
        if (!stopped) timer = setTimeout(tick, opts.intervalMs);
      });
    };
    timer = setTimeout(tick, opts.intervalMs);
    timer.unref();
    app.addHook('onClose', async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    });
  },
  { name: 'progress-analytics', dependencies: ['db', 'progress-repositories'] },
);
