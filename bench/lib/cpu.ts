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

/**
 * CPU time in user space and in the kernel (system calls: socket reads and writes, epoll), ms; and how many times
 * the process's threads were switched out (each wake-up after one starts on caches the others have used).
 */
interface CpuMs {
  user: number;
  system: number;
  switches: number;
}

const NONE: CpuMs = { user: 0, system: 0, switches: 0 };

/** Voluntary and involuntary context switches of every live thread of a process. */
function switchesOf(pid: number): number {
  let n = 0;
  try {
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      const status = fs.readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8');
      for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) n += Number(m[1]);
    }
  } catch {
    // exited
  }
  return n;
}

function processCpuMs(pid: number): CpuMs {
  const fields = statFields(pid);
  return fields ? { user: Number(fields[11]) * TICK_MS, system: Number(fields[12]) * TICK_MS, switches: switchesOf(pid) } : NONE;
}

const add = (a: CpuMs, b: CpuMs): CpuMs => ({ user: a.user + b.user, system: a.system + b.system, switches: a.switches + b.switches });

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
  let total = NONE;
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    const f = statFields(pid);
    if (f)
      total = add(total, {
        user: (Number(f[11]) + Number(f[13])) * TICK_MS,
        system: (Number(f[12]) + Number(f[14])) * TICK_MS,
        switches: switchesOf(pid),
      });
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
      typeof t === 'number' ? processCpuMs(t) : 'tree' in t ? treeCpuMs(t.tree) : pidsNamed(t.comm).reduce((sum, pid) => add(sum, processCpuMs(pid)), NONE);
  }
  return out;
}

/**
 * Starts a measurement; `stop(n)` returns CPU microseconds per unit of work (request, save…) for each group, and
 * `kernelShare()` (after stop) the part of each group's time spent in the kernel, in per cent, and `switchesPer(n)` its
 * threads' context switches per unit (of live threads: a thread that ended in between is not counted).
 */
export function cpuMeter(targets: CpuTargets) {
  const before = sample(targets);
  let after: Record<string, CpuMs> | undefined;
  const spent = (k: string) => ({
    user: after![k]!.user - before[k]!.user,
    system: after![k]!.system - before[k]!.system,
    switches: after![k]!.switches - before[k]!.switches,
  });
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
    switchesPer(units: number): Record<string, number> {
      if (!after) throw new Error('switchesPer() reads the interval stop() closed');
      return Object.fromEntries(Object.keys(targets).map((k) => [k, Math.round((10 * spent(k).switches) / Math.max(1, units)) / 10]));
    },
  };
}
