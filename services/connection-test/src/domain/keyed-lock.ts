/**
 * One holder at a time per key (e.g. a test target host:port), FIFO. Several keys are taken in sorted
 * order, so two holders of overlapping key sets never wait for each other in a cycle.
 */
export interface KeyedLock {
  run<T>(keys: string[], fn: () => Promise<T>): Promise<T>;
  /** Keys held or waited for right now. */
  readonly size: number;
}

export function createKeyedLock(): KeyedLock {
  const tails = new Map<string, Promise<void>>();
  return {
    async run(keys, fn) {
      const releases: Array<() => void> = [];
      try {
        for (const key of [...new Set(keys)].sort()) {
          const previous = tails.get(key) ?? Promise.resolve();
          let release!: () => void;
          const mine = new Promise<void>((resolve) => {
            release = resolve;
          });
          const tail = previous.then(() => mine);
          tails.set(key, tail);
          releases.push(() => {
            release();
            if (tails.get(key) === tail) tails.delete(key);
          });
          await previous;
        }
        return await fn();
      } finally {
        for (const release of releases.reverse()) release();
      }
    },
    get size() {
      return tails.size;
    },
  };
}
