/**
 * Runs at most `max` tasks at once; the others wait their turn in arrival order. A freed slot passes straight to
 * the next waiter, so no task that arrives meanwhile gets ahead of it and the bound holds exactly.
 */
export function concurrencyLimit(max: number) {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async function run<T>(task: () => Promise<T>): Promise<T> {
    if (active < max) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}
