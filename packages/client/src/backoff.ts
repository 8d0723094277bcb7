/**
 * Delay before reconnect attempt `attempt` (0-based): a random point between `minDelayMs` and an
 * exponentially growing ceiling capped at `maxDelayMs`. The randomness spreads a crowd of clients that
 * lost the same server, so they do not all come back in the same millisecond.
 */
export function backoffDelay(attempt: number, minDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** (attempt + 1));
  return Math.round(minDelayMs + random() * Math.max(0, ceiling - minDelayMs));
}

/** After a planned restart (close 1012) the service is back (or another replica answers) at once: come back quickly, still spread. */
export function restartDelay(minDelayMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * minDelayMs);
}
