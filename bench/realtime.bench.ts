/**
 * Realtime service benchmark (run by hand, not a test):
 *   node --conditions=development --import tsx bench/realtime.bench.ts
 * Real NATS + JetStream through the test kit (NATS_URL or the default local port); loopback TCP sockets.
 *
 * One realtime instance runs in this process; the WebSocket clients run in a forked child process, so
 * this process's memory is the server's (plus the harness's NATS connection) and nothing else.
 *
 * (a) Idle connections: RSS / heap / off-heap buffers of the server before and after N authenticated idle
 *     `ws` connections (default 2,000), per connection. ARCHITECTURE §7 target: ≤ 15 KB per connection.
 * (b) Push latency at a fixed rate: M sockets (default 1,000), socket i = user i joined to session i;
 *     events published through the bus's publishEvent at R/s (default 500/s for 10 s), round-robin over
 *     the sessions, with the send time in the event's correlationId; latency = receipt on the client −
 *     send time (the two processes' clocks are aligned over IPC first).
 *
 * Knobs: BENCH_RT_IDLE (2000), BENCH_RT_SOCKETS (1000), BENCH_RT_RATES ("500", comma-separated), BENCH_RT_SECONDS (10).
 * It imports the service and its test helpers by path: a service is not a library package.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { WebSocket } from 'ws';

const IDLE = Number(process.env.BENCH_RT_IDLE || 2_000);
const SOCKETS = Number(process.env.BENCH_RT_SOCKETS || 1_000);
const RATES = (process.env.BENCH_RT_RATES || '500').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_RT_SECONDS || 10);
const TENANT = 'bench-rt';
const CORR = 'bench:';

/** Wall-clock milliseconds with sub-millisecond resolution (comparable across processes after alignment). */
const now = () => performance.timeOrigin + performance.now();
const sleep = (n: number) => new Promise((r) => setTimeout(r, n));
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

// ───────────────────────────── client process ─────────────────────────────

type ToChild =
  | { cmd: 'clock'; ref: number }
  | { cmd: 'open'; url: string; tokens: string[]; join: string[] | null; concurrency: number }
  | { cmd: 'collect' }
  | { cmd: 'closeAll' };
type FromChild =
  | { type: 'clock'; ref: number; at: number }
  | { type: 'opened'; count: number; failed: number; ms: number }
  | { type: 'collected'; latencies: number[]; pushes: number; closedUnexpectedly: number }
  | { type: 'closed' };

async function clientProcess(): Promise<void> {
  const sockets = new Set<WebSocket>();
  let latencies: number[] = [];
  let pushes = 0;
  let closedUnexpectedly = 0;
  let closing = false;
  const send = (m: FromChild) => process.send!(m);

  /** Opens one socket; resolves after `connected` (and `session_joined` when joining). */
  const openOne = (url: string, token: string, sessionId: string | null) =>
    new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(`${url}?token=${token}`, { perMessageDeflate: false });
      const timer = setTimeout(() => reject(new Error('open timed out')), 20_000);
      ws.on('message', (raw: Buffer) => {
        const f = JSON.parse(raw.toString()) as { event: string; data: { correlationId?: string } };
        if (f.event === 'connected') {
          if (!sessionId) {
            clearTimeout(timer);
            resolve();
          } else ws.send(JSON.stringify({ event: 'join_session', data: { sessionId } }));
        } else if (f.event === 'session_joined') {
          clearTimeout(timer);
          resolve();
        } else if (f.event === 'error') {
          clearTimeout(timer);
          reject(new Error(JSON.stringify(f.data)));
        } else if (f.data.correlationId?.startsWith(CORR)) {
          pushes++;
          latencies.push(now() - Number(f.data.correlationId.slice(CORR.length)));
        }
      });
      ws.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      ws.on('close', () => {
        sockets.delete(ws);
        if (!closing) closedUnexpectedly++;
      });
      sockets.add(ws);
    });

  process.on('message', async (m: ToChild) => {
    switch (m.cmd) {
      case 'clock':
        return send({ type: 'clock', ref: m.ref, at: now() });
      case 'open': {
        const started = now();
        let next = 0;
        let failed = 0;
        const worker = async () => {
          while (next < m.tokens.length) {
            const i = next++;
            await openOne(m.url, m.tokens[i]!, m.join?.[i] ?? null).catch(() => failed++);
          }
        };
        await Promise.all(Array.from({ length: m.concurrency }, worker));
        return send({ type: 'opened', count: m.tokens.length - failed, failed, ms: now() - started });
      }
      case 'collect': {
        const out = { type: 'collected' as const, latencies, pushes, closedUnexpectedly };
        latencies = [];
        pushes = 0;
        return send(out);
      }
      case 'closeAll': {
        closing = true;
        const all = [...sockets].map((ws) => new Promise((r) => (ws.once('close', r), ws.close())));
        await Promise.all(all);
        closing = false;
        return send({ type: 'closed' });
      }
    }
  });
}

// ───────────────────────────── server / driver process ─────────────────────────────

class Clients {
  private waiting = new Map<string, (m: FromChild) => void>();
  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: FromChild) => {
      const resolve = this.waiting.get(m.type);
      this.waiting.delete(m.type);
      resolve?.(m);
    });
  }

  static start(): Clients {
    const child = fork(fileURLToPath(import.meta.url), [], {
      execArgv: ['--conditions=development', '--import', 'tsx'],
      env: { ...process.env, BENCH_REALTIME_ROLE: 'clients' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Clients(child);
  }

  ask<T extends FromChild['type']>(m: ToChild, reply: T): Promise<Extract<FromChild, { type: T }>> {
    return new Promise((resolve) => {
      this.waiting.set(reply, resolve as (m: FromChild) => void);
      this.child.send(m);
    });
  }

  /** Offset of the child's clock from ours (ms), from the IPC round trip with the smallest delay. */
  async clockOffset(): Promise<{ offset: number; rtt: number }> {
    let best = { offset: 0, rtt: Infinity };
    for (let i = 0; i < 50; i++) {
      const sent = now();
      const r = await this.ask({ cmd: 'clock', ref: sent }, 'clock');
      const back = now();
      if (back - sent < best.rtt) best = { rtt: back - sent, offset: r.at - (sent + back) / 2 };
    }
    return best;
  }

  stop(): void {
    this.child.kill('SIGTERM');
  }
}

let gc: (() => void) | undefined;
function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  for (let i = 0; i < 3; i++) gc();
}

async function settledMemory() {
  await sleep(500);
  collectGarbage();
  await sleep(200);
  collectGarbage();
  return process.memoryUsage();
}

async function main(): Promise<void> {
  // Server-side imports only here: the client process stays a bare `ws` client.
  const { jetstream } = await import('@nats-io/jetstream');
  const { publishEvent } = await import('@glavito/bus');
  const { eventFor, startHarness, tokenFor } = await import('../services/realtime/test/helpers.js');
  const { closeHarness, listen } = await import('../services/realtime/test/sockets.js');
  type Envelope = ReturnType<typeof eventFor>;

  const h = await startHarness({ LOG_LEVEL: 'silent' });
  const clients = Clients.start();
  const rows: string[] = [];
  try {
    const app = await h.startInstance();
    const url = await listen(app);
    const js = jetstream(h.nats.nc);
    const waitClients = async (n: number) => {
      const deadline = Date.now() + 30_000;
      while (app.hub.clients.size !== n) {
        if (Date.now() > deadline) throw new Error(`hub holds ${app.hub.clients.size} clients, expected ${n}`);
        await sleep(20);
      }
    };

    // (a) idle connections
    const idleTokens = Array.from({ length: IDLE }, (_, i) => tokenFor({ userId: `idle-${i}`, tenantId: TENANT }, '2h'));
    // Warm-up: the first connections pay for lazily compiled code and pools, not per connection.
    await clients.ask({ cmd: 'open', url, tokens: idleTokens.slice(0, 50), join: null, concurrency: 25 }, 'opened');
    await waitClients(50);
    await clients.ask({ cmd: 'closeAll' }, 'closed');
    await waitClients(0);
    const before = await settledMemory();
    const opened = await clients.ask({ cmd: 'open', url, tokens: idleTokens, join: null, concurrency: 50 }, 'opened');
    await waitClients(IDLE);
    const after = await settledMemory();
    const kb = (a: number, b: number) => (a - b) / 1024 / IDLE;
    const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
    const perConnRss = kb(after.rss, before.rss);
    const perConnHeap = kb(after.heapUsed, before.heapUsed);
    const perConnOffHeap = kb(after.external + after.arrayBuffers, before.external + before.arrayBuffers);
    console.log(`(a) ${opened.count} idle connections opened in ${(opened.ms / 1000).toFixed(1)} s (${opened.failed} failed)`);
    await clients.ask({ cmd: 'closeAll' }, 'closed');
    await waitClients(0);

    // (b) push latency at a fixed rate
    const sessions = Array.from({ length: SOCKETS }, (_, i) => ({ id: `bs-${i}`, tenantId: TENANT, userId: `user-${i}` }));
    for (const s of sessions) h.addSession(s);
    const tokens = sessions.map((s) => tokenFor({ userId: s.userId, tenantId: TENANT }, '2h'));
    const joinedRun = await clients.ask({ cmd: 'open', url, tokens, join: sessions.map((s) => s.id), concurrency: 50 }, 'opened');
    await waitClients(SOCKETS);
    console.log(`(b) ${joinedRun.count} sockets joined their sessions in ${(joinedRun.ms / 1000).toFixed(1)} s (${joinedRun.failed} failed)`);
    const clock = await clients.clockOffset();
    const latencyRows: string[] = [];
    for (const rate of RATES) {
      const total = rate * SECONDS;
      // Envelopes are built beforehand; only the send time is stamped at publish.
      const events: Envelope[] = Array.from({ length: total }, (_, i) => eventFor(sessions[i % SOCKETS]!, 'progress.updated'));
      await clients.ask({ cmd: 'collect' }, 'collected');
      const ackMs: number[] = [];
      const inFlight: Array<Promise<unknown>> = [];
      const started = now();
      let sent = 0;
      // A 5 ms tick publishes whatever is due by then: a fixed rate, not a closed loop waiting for acks.
      while (sent < total) {
        const due = Math.min(total, Math.floor(((now() - started) / 1000) * rate));
        for (; sent < due; sent++) {
          const at = now();
          const e = { ...events[sent]!, correlationId: `${CORR}${at.toFixed(3)}` };
          inFlight.push(publishEvent(js, h.nats.subjectPrefix, e).then(() => ackMs.push(now() - at)));
        }
        await sleep(5);
      }
      const publishSeconds = (now() - started) / 1000;
      await Promise.all(inFlight);
      // Let the last pushes arrive.
      let got = { type: 'collected' as const, latencies: [] as number[], pushes: 0, closedUnexpectedly: 0 };
      const received: number[] = [];
      let pushes = 0;
      for (let waited = 0; waited < 10_000; waited += 250) {
        await sleep(250);
        got = await clients.ask({ cmd: 'collect' }, 'collected');
        received.push(...got.latencies);
        pushes += got.pushes;
        if (pushes >= total) break;
      }
      // The child's receipt times are on its clock: bring them onto ours.
      const lat = received.map((l) => l - clock.offset).sort((a, b) => a - b);
      const acks = ackMs.sort((a, b) => a - b);
      latencyRows.push(
        `| ${rate}/s × ${SECONDS} s | ${total} | ${(total / publishSeconds).toFixed(0)}/s | ${pushes} | ${percentile(lat, 50).toFixed(2)} | ${percentile(lat, 90).toFixed(2)} | ${percentile(lat, 99).toFixed(2)} | ${lat[lat.length - 1]!.toFixed(2)} | ${percentile(acks, 50).toFixed(2)} / ${percentile(acks, 99).toFixed(2)} | ${got.closedUnexpectedly} |`,
      );
    }
    await clients.ask({ cmd: 'closeAll' }, 'closed');

    rows.push(
      '### Realtime: idle connections (one instance, server process only)',
      '',
      '| connections | RSS before → after (MB) | heapUsed before → after (MB) | external+arrayBuffers before → after (MB) | RSS / conn (KB) | heap / conn (KB) | off-heap / conn (KB) | target |',
      '|---|---|---|---|---|---|---|---|',
      `| ${IDLE} | ${mb(before.rss)} → ${mb(after.rss)} | ${mb(before.heapUsed)} → ${mb(after.heapUsed)} | ${mb(before.external + before.arrayBuffers)} → ${mb(after.external + after.arrayBuffers)} | ${perConnRss.toFixed(1)} | ${perConnHeap.toFixed(1)} | ${perConnOffHeap.toFixed(1)} | ≤ 15 KB (${perConnRss <= 15 ? 'met' : 'NOT met'}) |`,
      '',
      `### Realtime: push latency, publish → receipt on the client (${SOCKETS} sockets, each user i joined to session i; events round-robin over the sessions)`,
      '',
      '| offered load | events | achieved publish rate | pushes received | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | publish ack p50 / p99 (ms) | sockets dropped |',
      '|---|---|---|---|---|---|---|---|---|---|',
      ...latencyRows,
      '',
      `Clock alignment between the processes: IPC round trip ${clock.rtt.toFixed(3)} ms, offset ${clock.offset.toFixed(3)} ms. Machine: ${(await import('node:os')).cpus().length} cores, Node ${process.version}.`,
    );
    console.log(`\n${rows.join('\n')}\n`);
  } finally {
    clients.stop();
    await closeHarness(h);
  }
}

if (process.env.BENCH_REALTIME_ROLE === 'clients') await clientProcess();
else await main();
