/**
 * Where a process's CPU went, from a V8 profile (`node --cpu-prof`, or BENCH_CPU_PROFILE_DIR of the push benchmark):
 * self time by package (or Node internal module, or our own code) and by function, as shares of the busy time.
 * --from/--to (µs of the monotonic clock, as the push benchmark prints them) keep only the samples of a measured
 * window, so the boot, the setup and the warm-up do not blur the shares.
 *
 * Run: node --import tsx bench/profile-summary.ts <file.cpuprofile> [--from <µs>] [--to <µs>] [--top <n>]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The package a script belongs to (`pg@8.23.1`), a Node module (`node:net`), `ours`, or a native frame's name. */
export function placeOf(url: string, functionName: string): string {
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  const pkg = /node_modules\/\.pnpm\/((?:@[^+/]+\+)?[^@/]+@[^_/]+)/.exec(url);
  if (pkg) return pkg[1]!.replace('+', '/');
  if (url) return 'ours';
  return functionName || '(anonymous)';
}

export interface Share {
  name: string;
  micros: number;
  percent: number;
}

/** Self time of each place and function within [from, to] (µs, monotonic), sorted, as shares of the busy time. */
export function summarize(profile: Profile, from = -Infinity, to = Infinity) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byPlace = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t < from || t > to) continue;
    const frame = nodes.get(profile.samples[i]!)!.callFrame;
    if (frame.functionName === '(idle)') {
      idle += delta;
      continue;
    }
    busy += delta;
    const place = placeOf(frame.url, frame.functionName);
    byPlace.set(place, (byPlace.get(place) ?? 0) + delta);
    const where = place === 'ours' ? frame.url.replace(/^.*?\/(services|packages)\//, '$1/') : place;
    const fn = frame.url ? `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}` : place;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + delta);
  }
  const sorted = (m: Map<string, number>): Share[] =>
    [...m].sort((a, b) => b[1] - a[1]).map(([name, micros]) => ({ name, micros, percent: busy > 0 ? (100 * micros) / busy : 0 }));
  return { busyMicros: busy, idleMicros: idle, places: sorted(byPlace), functions: sorted(byFunction) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { from: { type: 'string' }, to: { type: 'string' }, top: { type: 'string', default: '30' } },
  });
  if (positionals.length !== 1) {
    console.error('usage: profile-summary <file.cpuprofile> [--from <µs>] [--to <µs>] [--top <n>]');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as Profile;
  const r = summarize(profile, values.from ? Number(values.from) : undefined, values.to ? Number(values.to) : undefined);
  const top = Number(values.top);
  const line = (s: Share) => `${s.percent.toFixed(1).padStart(5)} %  ${s.name}`;
  console.log(`busy ${(r.busyMicros / 1e6).toFixed(2)} s, idle ${(r.idleMicros / 1e6).toFixed(2)} s\n\nby place:`);
  console.log(r.places.slice(0, top).map(line).join('\n'));
  console.log('\nby function:');
  console.log(r.functions.slice(0, top).map(line).join('\n'));
}
