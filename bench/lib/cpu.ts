/** CPU time per process from /proc (Linux): shows which process a benchmark's work lands on. */
import fs from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

function statFields(pid: number): string[] | null {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  } catch {
    return null; // exited
  }
}

function processCpuMs(pid: number): number {
  const fields = statFields(pid);
  return fields ? (Number(fields[11]) + Number(fields[12])) * TICK_MS : 0;
}

/**
 * A process and all its descendants, each with the time of its children that have exited and been waited for
 * (a Postgres backend that ended is counted in its postmaster): the whole tree's CPU, none of it twice.
 */
function treeCpuMs(root: number): number {
  const children = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const ppid = Number(statFields(Number(d))?.[1]);
    if (ppid) children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
  }
  let total = 0;
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    const f = statFields(pid);
    if (f) total += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS;
    todo.push(...(children.get(pid) ?? []));
  }
  return total;
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

/** The pid of a child of `parent` whose command is `comm` (a server a test kit launcher started). */
export function childNamed(parent: number, comm: string): number {
  const pid = pidsNamed(comm).find((p) => Number(statFields(p)?.[1]) === parent);
  if (!pid) throw new Error(`no ${comm} process started by ${parent}`);
  return pid;
}

/**
 * Named groups: a pid, every process whose command starts with a prefix (all postgres backends, nats-server),
 * or a process tree (a private postmaster and its backends).
 */
export type CpuTargets = Record<string, number | { comm: string } | { tree: number }>;

function sample(targets: CpuTargets): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, t] of Object.entries(targets)) {
    out[name] = typeof t === 'number' ? processCpuMs(t) : 'tree' in t ? treeCpuMs(t.tree) : pidsNamed(t.comm).reduce((sum, pid) => sum + processCpuMs(pid), 0);
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
