/**
 * Step save (HTTP, through the gateway) → progress_update (WebSocket, through the gateway), the way users load
 * the system: every save completes the NEXT step of a session walking its flow (so the session's progress
 * moves and milestones fire), 1,000 sessions of distinct tenants and users, 5,000 sockets connected (each
 * saving user's own, the rest users of the same tenants who watch nothing), at fixed save rates. Each save
 * carries its own correlation id, which the push echoes, so every latency sample is exact. CPU per save is
 * read per process from /proc; Postgres and NATS are private servers of this run, so their CPU is ours only.
 *
 * Run: pnpm bench push-latency [--baseline <commit>]
 *   --baseline <commit> (or BENCH_BASELINE): the same benchmark against that commit's services (git worktree),
 *   alternating with this checkout's, and the ratio of CPU per save.
 *   BENCH_RATES=250,500  BENCH_SESSIONS=1000  BENCH_SOCKETS=5000  BENCH_SECONDS=10  BENCH_WARMUP_SECONDS=2
 *   BENCH_ROUNDS (default 1, or 2 with a baseline)  BENCH_LOG_LEVEL (default info, the README's)
 *   BENCH_ANALYZE=0 skips the ANALYZE of the database between the setup and the measured saves (see ANALYZE).
 *   BENCH_TRACE=<file> writes one JSON line per measured save with the time of each leg (see `Trace`).
 *   BENCH_NODE_FLAGS="--flag …" starts every service process with these Node/V8 flags too (both arms).
 *   BENCH_WS_DIRECT=1 connects the sockets straight to realtime, not through the gateway: what the gateway's relay
 *   of pushes and heartbeats costs (a measurement; browsers only ever reach the gateway).
 *   BENCH_CPU_PROFILE_DIR=<dir> writes a V8 CPU profile of every service and prints each measured window's bounds;
 *   `node --import tsx bench/profile-summary.ts <file> --from <µs> --to <µs>` then shows where that window's time went.
 *   BENCH_PG_STATEMENTS=1 loads pg_stat_statements into the private Postgres and prints, per arm, the statements
 *   that took most of its time, planning and execution (where Postgres' share of a save goes); a number > 12 shows that many.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connectBus } from '@glavito/bus';
import { TENANT_SETUP_STEPS, TENANT_STEP_DATA_SCHEMAS } from '@glavito/contracts';
import { startNatsServer, startPostgresServer, waitFor } from '@glavito/testkit';
import pg from 'pg';
import { Pool } from 'undici';
import { WebSocket } from 'ws';
import { startSystem, type ServiceProcess } from '../tests/e2e/test/system.js';
import { arms, type Checkout } from './lib/baseline.js';
import { childNamed, cpuMeter, type CpuTargets } from './lib/cpu.js';
import { atFixedRate, fmt, summarize, table } from './lib/stats.js';

const RATES = (process.env.BENCH_RATES || '250,500').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS || 10);
/** Each rate first runs this long at the same rate, reported apart: pools connect, statements get prepared, V8 optimises. */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS || 2);
const SOCKETS = Number(process.env.BENCH_SOCKETS || 5000);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL || 'info';
const TRACE_FILE = process.env.BENCH_TRACE;
const WS_DIRECT = process.env.BENCH_WS_DIRECT === '1';
const MAX_IN_FLIGHT = 1024;
const PG_STATEMENTS = Boolean(process.env.BENCH_PG_STATEMENTS);
/** BENCH_CPU_PROFILE_DIR (tests/e2e/test/system.ts): each service writes a V8 profile; the measured windows are printed. */
const PROFILING = Boolean(process.env.BENCH_CPU_PROFILE_DIR);
/** CLOCK_MONOTONIC in µs: the clock of V8's profile timestamps, the same in every process of the machine. */
const monotonicMicros = () => process.hrtime.bigint() / 1000n;
/**
 * Statistics of the tables as the setup left them (ANALYZE), before the measured saves: a running database has them
 * (autovacuum analyzes a table after every ~10 % of change), this one was created a minute ago. Without them the
 * plans that connections cache during the setup were made for near-empty tables. BENCH_ANALYZE=0 measures without.
 */
const ANALYZE = process.env.BENCH_ANALYZE !== '0';
/** BENCH_PG_STATEMENTS=1 shows the top 12 statements; a larger number shows that many. */
const PG_STATEMENTS_SHOWN = Math.max(12, Number(process.env.BENCH_PG_STATEMENTS) || 0);

/** The statements that took most of Postgres' execution time since the last reset (pg_stat_statements). */
async function topStatements(url: string, reset: boolean): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    if (reset) {
      await client.query('SELECT pg_stat_statements_reset()');
      return [];
    }
    const { rows } = await client.query<{
      calls: string;
      total_ms: number;
      mean_us: number;
      plan_us: number;
      jit_functions: string;
      jit_ms: number;
      rows: string;
      query: string;
    }>(
      // JIT: Postgres compiles a statement whose estimated cost passes jit_above_cost at every execution.
      `SELECT calls, total_exec_time + total_plan_time AS total_ms, mean_exec_time * 1000 AS mean_us, mean_plan_time * 1000 AS plan_us,
              jit_functions, jit_generation_time + jit_inlining_time + jit_optimization_time + jit_emission_time AS jit_ms, rows, query
       FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time + total_plan_time DESC LIMIT $1`,
      [PG_STATEMENTS_SHOWN],
    );
    return rows.map((r) => ({
      calls: Number(r.calls),
      'total ms (planning + execution)': fmt(r.total_ms),
      'mean planning µs': fmt(r.plan_us),
      'mean execution µs': fmt(r.mean_us),
      'JIT functions / ms': `${r.jit_functions} / ${fmt(r.jit_ms)}`,
      rows: Number(r.rows),
      statement: r.query.replace(/\s+/g, ' ').slice(0, 110).replace(/\|/g, '/'),
    }));
  } finally {
    await client.end();
  }
}

/** The steps a tenant_setup session still has after its start (welcome is done), in an order their dependencies allow. */
const WALK = TENANT_SETUP_STEPS.filter((s) => s.id !== 'welcome').map((s) => {
  const example = (TENANT_STEP_DATA_SCHEMAS[s.id as keyof typeof TENANT_STEP_DATA_SCHEMAS].meta()?.examples as unknown[] | undefined)?.[0];
  if (!example) throw new Error(`no example data for step ${s.id}`);
  return { stepId: s.id, body: JSON.stringify(example) };
});
const SAVES_NEEDED = RATES.reduce((sum, r) => sum + Math.round(r * (WARMUP_SECONDS + SECONDS)), 0);
/** Enough sessions that no save repeats a step: 1,000 by default (10 new steps each). */
const SESSIONS = Math.max(Number(process.env.BENCH_SESSIONS || 1000), Math.ceil(SAVES_NEEDED / WALK.length));

/**
 * One save's legs, in ms since the save was due (wall clock; all processes share it): the HTTP answer, the
 * step event's `occurredAt` (session, after commit), its step_completed push, the progress event's
 * `occurredAt`, the progress service's own event id time and the progress_update push.
 */
interface Trace {
  rate: number;
  sentAt: number;
  answered?: number;
  stepEvent?: number;
  stepPush?: number;
  progressEvent?: number;
  progressCreated?: number;
  progressPush?: number;
}
const wallNow = () => performance.timeOrigin + performance.now();

/** Waits until every consumer of the event stream has nothing left to deliver or to be acked (then 1 s more for the relays). */
async function consumersDrained(natsUrl: string, stream: string): Promise<void> {
  const bus = await connectBus({ servers: natsUrl, name: 'bench-push-latency' });
  try {
    await waitFor(
      async () => {
        const consumers = await bus.jsm.consumers.list(stream).next();
        return consumers.every((c) => c.num_pending === 0 && c.num_ack_pending === 0);
      },
      { timeoutMs: 300_000, intervalMs: 500, message: 'consumers drained' },
    );
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    await bus.nc.close();
  }
}

async function analyze(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('ANALYZE');
  } finally {
    await client.end();
  }
}

async function inBatches<T, R>(items: T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

type Row = Record<string, string | number>;

/** Messages each NATS client connection has sent to / received from the server so far, by connection name (/connz). */
type NatsCounts = Map<string, { sent: number; received: number }>;
async function natsCounts(monitorUrl: string): Promise<NatsCounts> {
  const r = await fetch(`${monitorUrl}/connz?limit=1024`);
  const { connections } = (await r.json()) as { connections: Array<{ name?: string; in_msgs: number; out_msgs: number }> };
  const out: NatsCounts = new Map();
  for (const c of connections) {
    const name = c.name || 'unnamed';
    const sum = out.get(name) ?? { sent: 0, received: 0 };
    out.set(name, { sent: sum.sent + c.in_msgs, received: sum.received + c.out_msgs });
  }
  return out;
}
/** NATS messages per measured save by connection: what each process sent (publishes, acks, pull requests) and received. */
function natsPerSave(before: NatsCounts, after: NatsCounts, saves: number): Row {
  const row: Row = {};
  let sent = 0;
  let received = 0;
  for (const [name, a] of after) {
    if (name.startsWith('bench-')) continue;
    const b = before.get(name) ?? { sent: 0, received: 0 };
    const s = (a.sent - b.sent) / saves;
    const r = (a.received - b.received) / saves;
    if (s === 0 && r === 0) continue;
    sent += s;
    received += r;
    row[name] = `${fmt(s, 2)} / ${fmt(r, 2)}`;
  }
  return { 'total sent / received': `${fmt(sent, 2)} / ${fmt(received, 2)}`, ...row };
}

/** One arm: a fresh system from `checkout` on fresh databases and streams, every rate in turn. */
async function runArm(checkout: Checkout, round: number, servers: { postgresPid: () => number; natsPid: number; natsMonitorUrl: string }) {
  const sys = await startSystem({ logLevel: LOG_LEVEL, rateLimitMax: 100_000_000, root: checkout.root });
  const sockets: WebSocket[] = [];
  const client = new Pool(sys.gateway.url, { connections: 128 });
  try {
    const wsBase = `${(WS_DIRECT ? sys.realtime : sys.gateway).url.replace('http', 'ws')}/onboarding`;
    const sent = new Map<string, number>();
    const latencies: number[] = [];
    const warmupLatencies: number[] = [];
    const warm = new Set<string>();
    const traces = new Map<string, Trace>();
    const sinceSent = (t: Trace | undefined, at: number) => (t ? Math.round((at - t.sentAt) * 10) / 10 : undefined);

    // Each session its own tenant and admin user (a tenant_setup flow); the idle sockets are agents of those tenants.
    const savers = Array.from({ length: SESSIONS }, (_, i) => ({ userId: `push-admin-${i}`, tenantId: `push-tenant-${i}`, roles: ['admin'] }));
    const sessions = await inBatches(savers, 50, async (u) => {
      const token = sys.token(u);
      const r = await client.request({
        path: '/onboarding/start',
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{}',
      });
      const body = (await r.body.json()) as { session?: { id: string } };
      if (!body.session)
        throw new Error(
          `start answered ${r.statusCode}: ${JSON.stringify(body).slice(0, 200)}\n${sys.session.logs
            .filter((l) => l.includes('"level":50'))
            .slice(-3)
            .join('\n')}`,
        );
      return { id: body.session.id, token, next: 0, busy: Promise.resolve() };
    });
    const watchers = Array.from({ length: Math.max(0, SOCKETS - SESSIONS) }, (_, j) =>
      sys.token({ userId: `push-agent-${j}`, tenantId: `push-tenant-${j % SESSIONS}`, roles: ['agent'] }),
    );
    const onFrame = (raw: Buffer) => {
      const f = JSON.parse(raw.toString()) as { event: string; data: { correlationId?: string; timestamp?: string; eventId?: string } };
      if (!f.data?.correlationId) return;
      if (TRACE_FILE) {
        const trace = traces.get(f.data.correlationId);
        if (trace && f.event === 'step_completed')
          Object.assign(trace, { stepPush: sinceSent(trace, wallNow()), stepEvent: sinceSent(trace, Date.parse(f.data.timestamp!)) });
        if (trace && f.event === 'progress_update')
          Object.assign(trace, {
            progressPush: sinceSent(trace, wallNow()),
            progressEvent: sinceSent(trace, Date.parse(f.data.timestamp!)),
            progressCreated: sinceSent(trace, parseInt(f.data.eventId!.replace(/-/g, '').slice(0, 12), 16)),
          });
      }
      if (f.event !== 'progress_update') return;
      const t0 = sent.get(f.data.correlationId);
      if (t0 !== undefined) {
        (warm.has(f.data.correlationId) ? warmupLatencies : latencies).push(performance.now() - t0);
        sent.delete(f.data.correlationId);
      }
    };
    await inBatches([...sessions.map((s) => s.token), ...watchers], 100, (token) => {
      return new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(`${wsBase}?token=${token}`);
        ws.on('message', onFrame);
        ws.once('open', () => resolve());
        ws.once('error', reject);
        sockets.push(ws);
      });
    });
    // Starting the sessions queued their events for the consumers; measure only once they are through.
    await consumersDrained(sys.nats.url, sys.nats.streamName);
    if (ANALYZE) await analyze(sys.db.url);

    const services = Object.values(sys).filter((v): v is ServiceProcess => typeof v === 'object' && v !== null && 'child' in v);
    const processes: CpuTargets = {
      ...Object.fromEntries(services.map((s) => [s.name, s.child.pid!])),
      postgres: { tree: servers.postgresPid() },
      'nats-server': servers.natsPid,
      [`load generator + ${sockets.length} sockets`]: process.pid,
    };
    const idle = cpuMeter(processes);
    await new Promise((r) => setTimeout(r, 3000));
    const idlePerSecond = idle.stop(3);

    const rows: Row[] = [];
    const natsRows: Row[] = [];
    const kernelRows: Row[] = [];
    const switchRows: Row[] = [];
    const cpuRows: Row[] = [
      {
        round,
        commit: checkout.label,
        'saves/s asked': 'idle, µs per second',
        ...idlePerSecond,
        total: Object.values(idlePerSecond).reduce((a, b) => a + b, 0),
      },
    ];
    let k = 0; // the k-th save overall: session k % SESSIONS, its step k / SESSIONS
    for (const rate of RATES) {
      latencies.length = 0;
      warmupLatencies.length = 0;
      warm.clear();
      sent.clear();
      const saveLatencies: number[] = [];
      const warmupSaves = Math.round(rate * WARMUP_SECONDS);
      let measured = 0;
      const failures = new Map<number, number>();
      let meter: ReturnType<typeof cpuMeter> | undefined;
      let natsBefore: Promise<NatsCounts> | undefined;
      let windowStart = 0n;
      const run = await atFixedRate(rate, WARMUP_SECONDS + SECONDS, MAX_IN_FLIGHT, async (i) => {
        const s = sessions[k % SESSIONS]!;
        const step = WALK[Math.floor(k / SESSIONS)]!;
        k++;
        const correlationId = `push-${rate}-${i}`;
        const t0 = performance.now(); // when the save was due: a save waiting for its session's previous one counts that wait
        const isWarm = i < warmupSaves;
        if (!isWarm && !meter) {
          meter = cpuMeter(processes);
          natsBefore = natsCounts(servers.natsMonitorUrl);
          windowStart = monotonicMicros();
        }
        if (isWarm) warm.add(correlationId);
        else measured++;
        const trace: Trace | undefined = TRACE_FILE && !isWarm ? { rate, sentAt: wallNow() } : undefined;
        if (trace) traces.set(correlationId, trace);
        // A user saves a step once the previous one is answered; at saturation the next save waits for it.
        const previous = s.busy;
        let done!: () => void;
        s.busy = new Promise<void>((r) => (done = r));
        try {
          await previous;
          sent.set(correlationId, t0);
          const r = await client.request({
            path: `/onboarding/step/${s.id}/${step.stepId}`,
            method: 'PUT',
            headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json', 'x-correlation-id': correlationId },
            body: step.body,
          });
          await r.body.arrayBuffer();
          if (r.statusCode !== 200) failures.set(r.statusCode, (failures.get(r.statusCode) ?? 0) + 1);
          if (!isWarm) saveLatencies.push(performance.now() - t0);
          if (trace) trace.answered = sinceSent(trace, wallNow());
        } catch {
          failures.set(0, (failures.get(0) ?? 0) + 1);
        } finally {
          done();
        }
      });
      // Every event of the rate is through every consumer before the meter stops: CPU per save includes it all.
      await consumersDrained(sys.nats.url, sys.nats.streamName);
      const cpu = meter!.stop(measured);
      if (PROFILING)
        process.stderr.write(
          `push-latency: ${checkout.label}, ${rate} saves/s, measured window: ${windowStart}–${monotonicMicros()} µs of the monotonic clock (V8 profiles' time: bench/profile-summary.ts --from --to)\n`,
        );
      natsRows.push({
        round,
        commit: checkout.label,
        'saves/s asked': rate,
        ...natsPerSave(await natsBefore!, await natsCounts(servers.natsMonitorUrl), measured),
      });
      cpuRows.push({ round, commit: checkout.label, 'saves/s asked': rate, ...cpu, total: Object.values(cpu).reduce((a, b) => a + b, 0) });
      kernelRows.push({ round, commit: checkout.label, 'saves/s asked': rate, ...meter!.kernelShare() });
      const switches = meter!.switchesPer(measured);
      switchRows.push({ round, commit: checkout.label, 'saves/s asked': rate, ...switches, total: fmt(Object.values(switches).reduce((a, b) => a + b, 0)) });
      const lat = summarize(latencies);
      const save = summarize(saveLatencies);
      const warmup = summarize(warmupLatencies);
      rows.push({
        round,
        commit: checkout.label,
        sockets: sockets.length,
        'saves/s asked': rate,
        'saves sent (warm-up + measured)': `${run.started - measured} + ${measured}`,
        [`skipped (${MAX_IN_FLIGHT} in flight)`]: run.skipped,
        'failed saves (status: n)': failures.size === 0 ? 0 : [...failures].map(([st, n]) => `${st || 'error'}: ${n}`).join(', '),
        'progress pushes received': lat.n + warmup.n,
        'push p50 / p99 / max ms': `${fmt(lat.p50)} / ${fmt(lat.p99)} / ${fmt(lat.max)}`,
        'HTTP p50 / p99 ms': `${fmt(save.p50)} / ${fmt(save.p99)}`,
        'warm-up push p50 / p99 ms': `${fmt(warmup.p50)} / ${fmt(warmup.p99)}`,
      });
    }
    if (TRACE_FILE) writeFileSync(TRACE_FILE, [...traces.values()].map((t) => JSON.stringify(t)).join('\n') + '\n', { flag: 'a' });
    return { rows, cpuRows, kernelRows, switchRows, natsRows };
  } finally {
    await client.close();
    for (const ws of sockets) ws.terminate();
    await sys.stop();
  }
}

export async function benchPushLatency() {
  const started = Date.now();
  // Private servers: their CPU is this benchmark's alone (the shared ones serve every test on the machine).
  const postgres = await startPostgresServer(
    PG_STATEMENTS
      ? { settings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all', 'pg_stat_statements.track_planning': 'on' } }
      : {},
  );
  const nats = await startNatsServer({ monitor: true });
  const natsPid = childNamed(process.pid, 'nats-server');
  const env = { DATABASE_URL: process.env.DATABASE_URL, NATS_URL: process.env.NATS_URL };
  process.env.DATABASE_URL = postgres.url;
  process.env.NATS_URL = nats.url;
  const rows: Row[] = [];
  const cpuRows: Row[] = [];
  const kernelRows: Row[] = [];
  const switchRows: Row[] = [];
  const natsRows: Row[] = [];
  const statements: string[] = [];
  const plan = arms();
  try {
    for (const { round, checkout } of plan.runs) {
      process.stderr.write(`push-latency: round ${round}, ${checkout.label}\n`);
      try {
        if (PG_STATEMENTS) await topStatements(postgres.url, true);
        const r = await runArm(checkout, round, { postgresPid: () => postmasterPid(postgres.dataDir), natsPid, natsMonitorUrl: nats.monitorUrl! });
        rows.push(...r.rows);
        cpuRows.push(...r.cpuRows);
        kernelRows.push(...r.kernelRows);
        switchRows.push(...r.switchRows);
        natsRows.push(...r.natsRows);
        if (PG_STATEMENTS)
          statements.push(
            `\nPostgres statements by execution time, round ${round}, ${checkout.label} (every rate):\n\n${table(await topStatements(postgres.url, false))}`,
          );
      } catch (err) {
        // One arm failing (a service that does not start) still leaves the others' figures.
        rows.push({ round, commit: checkout.label, sockets: `failed: ${(err as Error).message.split('\n').slice(0, 4).join(' ').slice(0, 300)}` });
      }
    }
  } finally {
    Object.assign(process.env, env);
    await nats.stop();
    await postgres.cleanup();
  }
  return {
    rows,
    cpuRows,
    kernelRows,
    switchRows,
    natsRows,
    statements,
    baseline: plan.baseline?.label,
    candidate: plan.candidate.label,
    seconds: (Date.now() - started) / 1000,
  };
}

const postmasterPid = (dataDir: string) => Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);

/** CPU per save of the candidate's arms over the baseline's, per rate and process. */
function ratios(cpuRows: Row[], base: string | undefined, current: string): string {
  if (!base || !cpuRows.some((r) => r.commit === base) || !cpuRows.some((r) => r.commit === current)) return '';
  const lines: Row[] = [];
  for (const rate of RATES) {
    const of = (label: string) => cpuRows.filter((r) => r.commit === label && r['saves/s asked'] === rate);
    const mean = (rs: Row[], key: string) => rs.reduce((a, r) => a + Number(r[key]), 0) / Math.max(1, rs.length);
    const keys = Object.keys(cpuRows[0]!).filter((k) => !['round', 'commit', 'saves/s asked'].includes(k));
    lines.push({ 'saves/s asked': rate, ...Object.fromEntries(keys.map((key) => [key, fmt(mean(of(current), key) / mean(of(base), key), 2)])) });
  }
  return `\nCPU per save, ${current} / ${base} (mean of the rounds; < 1 is cheaper):\n\n${table(lines)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchPushLatency();
  console.log(table(r.rows));
  console.log(
    `\nCPU time per measured save by process (µs; from the first measured save until every consumer has drained; 2 cores = 2,000,000 µs/s):\n\n${table(r.cpuRows)}`,
  );
  console.log(ratios(r.cpuRows, r.baseline, r.candidate));
  console.log(`\nOf that CPU time, the part spent in the kernel (system calls: socket reads and writes, epoll), per cent:\n\n${table(r.kernelRows)}`);
  console.log(
    `\nContext switches per measured save, all threads of each process (a process woken for a message runs on caches others used):\n\n${table(r.switchRows)}`,
  );
  console.log(
    `\nNATS messages per measured save by client connection, sent / received (publishes, acks and pull requests / deliveries, acks of publishes):\n\n${table(r.natsRows)}`,
  );
  for (const s of r.statements) console.log(s);
  console.log(
    `\nTargets: push p99 ≤ 30 ms at 500 new-step saves/s with 5,000 sockets; HTTP p50 < 10 ms below 600/s; CPU per save ≤ 0.5 × the previous commit's.`,
  );
}
