import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['development'] },
  ssr: { resolve: { conditions: ['development'] } },
  // One long scenario: private Postgres and NATS, every service as a process, load and crashes throughout.
  test: { testTimeout: 600_000, hookTimeout: 300_000, pool: 'forks', fileParallelism: false },
});
