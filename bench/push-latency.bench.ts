/**
 * Step save (HTTP, through the gateway) → progress_update (WebSocket, through the gateway) latency at a
 * fixed save rate with 1,000+ sockets connected. Each save carries its own correlation id, which the push
 * echoes, so every latency sample is exact.
 * Run: node --conditions=development --import tsx bench/push-latency.bench.ts   (BENCH_RATES=100,250,500, BENCH_SOCKETS, BENCH_SECONDS)
 * BENCH_TRACE=<file> writes one JSON line per measured save with the time of each leg (see `Trace`).
 */
import { writeFileSync } from 'node:fs';
import { connectBus } from '@glavito/bus';
import { waitFor } from '@glavito/testkit';
import { Pool } from 'undici';
import { WebSocket } from 'ws';
import { startSystem } from '../tests/e2e/test/system.js';
import { cpuMeter } from './lib/cpu.js';
import { atFixedRate, fmt, summarize, table } from './lib/stats.js';

const SOCKETS = Number(process.env.BENCH_SOCKETS || 1000);
const RATES = (process.env.BENCH_RATES || '100,250,500').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS || 10);
/**
 * Each rate first runs this long unmeasured (then straight on, same rate): pools open their connections,
 * statements get prepared and V8 optimises the hot paths. Those saves are reported in their own column.
 */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS || 2);
const TRACE_FILE = process.env.BENCH_TRACE;

/**
 * One save's legs, in ms since the save was sent (wall clock; all processes share it): the HTTP answer,
 * the step event's `occurredAt` (session, after commit), its step_completed push, the progress event's
 * `occurredAt` (progress service) and the progress_update push. Event times have 1 ms resolution.
 */
interface Trace {
  rate: number;
  sentAt: number;
  answered?: number;
  stepEvent?: number;
  stepPush?: number;
  progressEvent?: number;
  /** When the progress service created its event (the ms in its uuid v7 id; `occurredAt` is the step's). */
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
      { timeoutMs: 120_000, intervalMs: 500, message: 'consumers drained' },
    );
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    await bus.nc.close();
  }
}

export async function benchPushLatency() {
  const sys = await startSystem({ logLevel: 'warn', rateLimitMax: 100_000_000 });
  const sockets: WebSocket[] = [];
  try {
    const wsBase = `${sys.gateway.url.replace('http', 'ws')}/onboarding`;
    const sent = new Map<string, number>();
    const latencies: number[] = [];
    const warmupLatencies: number[] = [];
    const warm = new Set<string>();
    const traces = new Map<string, Trace>();
    const sinceSent = (t: Trace | undefined, at: number) => (t ? Math.round((at - t.sentAt) * 10) / 10 : undefined);
    const users = Array.from({ length: SOCKETS }, (_, i) => ({ userId: `push-${i}`, tenantId: 'push-tenant', roles: ['admin'] }));
    const sessions: Array<{ id: string; token: string }> = [];
    for (let i = 0; i < users.length; i += 50) {
      const chunk = await Promise.all(
        users.slice(i, i + 50).map(async (u) => {
          const token = sys.token(u);
          const r = await fetch(`${sys.gateway.url}/onboarding/start`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
          return { id: ((await r.json()) as { session: { id: string } }).session.id, token };
        }),
      );
      sessions.push(...chunk);
    }
    for (let i = 0; i < sessions.length; i += 100) {
      await Promise.all(
        sessions.slice(i, i + 100).map(
          (s) =>
            new Promise<void>((resolve, reject) => {
              const ws = new WebSocket(`${wsBase}?token=${s.token}`);
              ws.on('message', (raw: Buffer) => {
                const f = JSON.parse(raw.toString()) as { event: string; data: { correlationId?: string; timestamp?: string } };
                if (TRACE_FILE && f.data.correlationId) {
                  const trace = traces.get(f.data.correlationId);
                  if (trace && f.event === 'step_completed') Object.assign(trace, { stepPush: sinceSent(trace, wallNow()), stepEvent: sinceSent(trace, Date.parse(f.data.timestamp!)) });
                  if (trace && f.event === 'progress_update') Object.assign(trace, {
                      progressPush: sinceSent(trace, wallNow()),
                      progressEvent: sinceSent(trace, Date.parse(f.data.timestamp!)),
                      progressCreated: sinceSent(trace, parseInt((f.data as { eventId: string }).eventId.replace(/-/g, '').slice(0, 12), 16)),
                    });
                }
                if (f.event !== 'progress_update' || !f.data.correlationId) return;
                const t0 = sent.get(f.data.correlationId);
                if (t0 !== undefined) {
                  (warm.has(f.data.correlationId) ? warmupLatencies : latencies).push(performance.now() - t0);
                  sent.delete(f.data.correlationId);
                }
              });
              ws.once('open', () => resolve());
              ws.once('error', reject);
              sockets.push(ws);
            }),
        ),
      );
    }
    // Starting the sessions queued 2 events each for the consumers; measure only once they are through.
    await consumersDrained(sys.nats.url, sys.nats.streamName);
    const body = JSON.stringify({ companyName: 'Push Co', primaryColor: '#abcdef' });
    const rows: Array<Record<string, string | number>> = [];
    const cpuRows: Array<Record<string, string | number>> = [];
    const processes = {
      gateway: sys.gateway.child.pid!,
      session: sys.session.child.pid!,
      progress: sys.progress.child.pid!,
      realtime: sys.realtime.child.pid!,
      'connection-test': sys.connectionTest.child.pid!,
      postgres: { comm: 'postgres' },
      'nats-server': { comm: 'nats-server' },
      'load generator + 1,000 clients': process.pid,
    };
    // A keep-alive pool, lighter than fetch: the load generator shares the two cores with the system it measures.
    const client = new Pool(sys.gateway.url, { connections: 64 });
    let p99At500 = NaN;
    let offset = 0;
    for (const rate of RATES) {
      latencies.length = 0;
      warmupLatencies.length = 0;
      warm.clear();
      const saveLatencies: number[] = [];
      sent.clear();
      const warmupSaves = Math.round(rate * WARMUP_SECONDS);
      let measured = 0;
      let failed = 0;
      const base = offset;
      const meter = cpuMeter(processes);
      const run = await atFixedRate(rate, WARMUP_SECONDS + SECONDS, 256, async (i) => {
        const s = sessions[(base + i) % sessions.length]!;
        const correlationId = `push-${rate}-${i}`;
        const t0 = performance.now();
        sent.set(correlationId, t0);
        if (i < warmupSaves) warm.add(correlationId);
        else measured++;
        const trace: Trace | undefined = TRACE_FILE && i >= warmupSaves ? { rate, sentAt: wallNow() } : undefined;
        if (trace) traces.set(correlationId, trace);
        const r = await client.request({
          path: `/onboarding/step/${s.id}/organization_setup`,
          method: 'PUT',
          headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json', 'x-correlation-id': correlationId },
          body,
        });
        if (r.statusCode !== 200) failed++;
        await r.body.arrayBuffer();
        if (i >= warmupSaves) saveLatencies.push(performance.now() - t0);
        if (trace) trace.answered = sinceSent(trace, wallNow());
      });
      offset += run.started;
      // Let the pipeline drain before the next rate.
      await new Promise((r) => setTimeout(r, 5000));
      const cpu = meter.stop(run.started);
      cpuRows.push({ 'saves/s asked': rate, ...Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v])), total: Object.values(cpu).reduce((a, b) => a + b, 0) });
      const lat = summarize(latencies);
      const save = summarize(saveLatencies);
      const warmup = summarize(warmupLatencies);
      if (rate === 500) p99At500 = lat.p99;
      rows.push({
        sockets: sockets.length,
        'saves/s asked': rate,
        'saves sent (warm-up + measured)': `${run.started - measured} + ${measured}`,
        'skipped (256 in flight)': run.skipped,
        'failed saves': failed,
        'pushes received': lat.n + warmup.n,
        'p50 ms': fmt(lat.p50),
        'p99 ms': fmt(lat.p99),
        'max ms': fmt(lat.max),
        'save answered p50 / p99 ms': `${fmt(save.p50)} / ${fmt(save.p99)}`,
        'warm-up p50 / p99 / max ms': `${fmt(warmup.p50)} / ${fmt(warmup.p99)} / ${fmt(warmup.max)}`,
      });
    }
    await client.close();
    if (TRACE_FILE) writeFileSync(TRACE_FILE, [...traces.values()].map((t) => JSON.stringify(t)).join('\n') + '\n');
    return { rows, cpuRows, p99: p99At500 };
  } finally {
    for (const ws of sockets) ws.terminate();
    await sys.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchPushLatency();
  console.log(table(r.rows));
  console.log(`\nCPU time per save by process (µs, including the drain after each rate; 2 cores = 2,000,000 µs/s):\n\n${table(r.cpuRows)}`);
  console.log(`\nsave → progress_update p99 at 500 saves/s: ${fmt(r.p99)} ms (target ≤ 30 ms with 1,000 sockets)`);
}
