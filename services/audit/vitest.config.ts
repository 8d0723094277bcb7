import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['development'] },
  ssr: { resolve: { conditions: ['development'] } },
  // --expose-gc: the export test measures memory retained after a collection, not garbage not yet collected.
  test: { testTimeout: 30_000, hookTimeout: 60_000, pool: 'forks', execArgv: ['--expose-gc'] },
});
