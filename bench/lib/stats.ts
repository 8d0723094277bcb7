/** Small helpers shared by the benchmarks (they print ratios; absolute numbers depend on the machine). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summarize(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.at(-1) ?? NaN };
}

export const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

export function table(rows: Array<Record<string, string | number>>): string {
  const cols = Object.keys(rows[0] ?? {});
  const line = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
  return [line(cols), line(cols.map(() => '---')), ...rows.map((r) => line(cols.map((c) => r[c] ?? '')))].join('\n');
}

/** Runs `fn` at a fixed rate for `seconds`, never more than `maxInFlight` at once. */
export async function atFixedRate(
  ratePerSecond: number,
  seconds: number,
  maxInFlight: number,
  fn: (i: number) => Promise<void>,
): Promise<{ started: number; skipped: number }> {
  const total = Math.round(ratePerSecond * seconds);
  const interval = 1000 / ratePerSecond;
  const t0 = performance.now();
  let inFlight = 0;
  let skipped = 0;
  const running: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (inFlight >= maxInFlight) {
      skipped++;
      continue;
    }
    inFlight++;
    running.push(fn(i).finally(() => inFlight--));
  }
  await Promise.allSettled(running);
  return { started: total - skipped, skipped };
}
