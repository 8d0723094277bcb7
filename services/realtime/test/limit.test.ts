import { describe, expect, it } from 'vitest';
import { concurrencyLimit } from '../src/domain/limit.js';

describe('concurrencyLimit', () => {
  it('never runs more than max tasks at once, runs every task, in arrival order, also when tasks fail', async () => {
    const limit = concurrencyLimit(3);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        limit(async () => {
          started.push(i);
          running++;
          peak = Math.max(peak, running);
          await new Promise((r) => setTimeout(r, 1 + (i % 4)));
          running--;
          if (i % 7 === 0) throw new Error(`task ${i}`);
          return i;
        }),
      ),
    );
    expect(peak).toBe(3);
    expect(started).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(8);
    expect(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value)).toHaveLength(42);
  });
});
