/** CPU time per process from /proc (Linux): shows which process a benchmark's work lands on. */
import fs from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

function processCpuMs(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0; // exited
  }
}

/** Every process whose command name starts with `prefix` (e.g. all postgres backends). */
export function pidsNamed(prefix: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return fs.readFileSync(`/proc/${d}/comm`, 'utf8').startsWith(prefix);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Named groups: a pid, or every process whose command starts with a prefix (all postgres backends, nats-server). */
export type CpuTargets = Record<string, number | { comm: string }>;

function sample(targets: CpuTargets): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, t] of Object.entries(targets)) {
    out[name] = typeof t === 'number' ? processCpuMs(t) : pidsNamed(t.comm).reduce((sum, pid) => sum + processCpuMs(pid), 0);
  }
  return out;
}

/** Starts a measurement; `stop(n)` returns CPU microseconds per unit of work (request, save…) for each group. */
export function cpuMeter(targets: CpuTargets) {
  const before = sample(targets);
  return {
    stop(units: number): Record<string, number> {
      const after = sample(targets);
      return Object.fromEntries(Object.keys(targets).map((k) => [k, Math.round(((after[k]! - before[k]!) * 1000) / Math.max(1, units))]));
    },
  };
}
