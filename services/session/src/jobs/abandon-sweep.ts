import fp from 'fastify-plugin';
import { abandonSession } from '../domain/session-rules.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Marks sessions idle for longer than ABANDON_AFTER as abandoned; returns how many. */
    sweepAbandoned: () => Promise<number>;
  }
}

export const abandonSweepPlugin = fp<{ abandonAfterMs: number; intervalMs: number }>(
  async (app, opts) => {
    async function sweep(): Promise<number> {
      const cutoff = new Date(app.now().getTime() - opts.abandonAfterMs).toISOString();
      let total = 0;
      for (;;) {
        const n = await app.sessionRepository.abandonInactive(cutoff, 200, abandonSession);
        total += n;
        if (n < 200) break;
      }
      if (total > 0) app.log.info({ abandoned: total }, 'abandon sweep');
      return total;
    }
    app.decorate('sweepAbandoned', sweep);
    const timer = setInterval(() => {
      sweep().catch((err: Error) => app.log.warn({ err: err.message }, 'abandon sweep failed; will retry'));
    }, opts.intervalMs);
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));
  },
  { name: 'abandon-sweep', dependencies: ['session-repository'] },
);
