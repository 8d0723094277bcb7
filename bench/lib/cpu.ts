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

/** CPU time in user space and in the kernel (system calls: socket reads and writes, epoll), ms. */
interface CpuMs {
  user: number;
  system: number;
}

function processCpuMs(pid: number): CpuMs {
  const fields = statFields(pid);
  return fields ? { user: Number(fields[11]) * TICK_MS, system: Number(fields[12]) * TICK_MS } : { user: 0, system: 0 };
}

const add = (a: CpuMs, b: CpuMs): CpuMs => ({ user: a.user + b.user, system: a.system + b.system });

/**
 * A process and all its descendants, each with the time of its children that have exited and been waited for
 * (a Postgres backend that ended is counted in its postmaster): the whole tree's CPU, none of it twice.
 */
function treeCpuMs(root: number): CpuMs {
  const children = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const ppid = Number(statFields(Number(d))?.[1]);
    if (ppid) children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
  }
  let total: CpuMs = { user: 0, system: 0 };
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    const f = statFields(pid);
    if (f) total = add(total, { user: (Number(f[11]) + Number(f[13])) * TICK_MS, system: (Number(f[12]) + Number(f[14])) * TICK_MS });
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

function sample(targets: CpuTargets): Record<string, CpuMs> {
  const out: Record<string, CpuMs> = {};
  for (const [name, t] of Object.entries(targets)) {
    out[name] =
      typeof t === 'number'
        ? processCpuMs(t)
        : 'tree' in t
          ? treeCpuMs(t.tree)
          : pidsNamed(t.comm).reduce((sum, pid) => add(sum, processCpuMs(pid)), { user: 0, system: 0 });
  }
  return out;
}

/**
 * Starts a measurement; `stop(n)` returns CPU microseconds per unit of work (request, save…) for each group, and
 * `kernelShare()` (after stop) the part of each group's time spent in the kernel, in per cent.
 */
export function cpuMeter(targets: CpuTargets) {
  const before = sample(targets);
  let after: Record<string, CpuMs> | undefined;
  const spent = (k: string) => ({ user: after![k]!.user - before[k]!.user, system: after![k]!.system - before[k]!.system });
  return {
    stop(units: number): Record<string, number> {
      after = sample(targets);
      return Object.fromEntries(
        Object.keys(targets).map((k) => {
          const { user, system } = spent(k);
          return [k, Math.round(((user + system) * 1000) / Math.max(1, units))];
        }),
      );
    },
    kernelShare(): Record<string, number> {
      if (!after) throw new Error('kernelShare() reads the interval stop() closed');
      return Object.fromEntries(
        Object.keys(targets).map((k) => {
          const { user, system } = spent(k);
          return [k, Math.round((100 * system) / Math.max(1, user + system))];
        }),
      );
    },
  };
}
