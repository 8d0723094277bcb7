/**
 * Reconnect storm (run by hand, not a test): pnpm bench reconnect-storm
 *
 * N sockets (default 5,000) are joined to sessions on one realtime instance. The instance restarts (graceful
 * close: every socket gets 1012 "service restarting; reconnect"); while it is down each session gets new
 * events; then every socket reconnects at once and re-joins with its lastEventId, as the SDK does. Measured:
 * time from the new instance listening until every socket has its replay (session_joined recovered, every
 * missed event received), the JetStream consumer count on the event stream before / at its peak / after,
 * and the CPU of the realtime process and of nats-server during the storm.
 *
 * Runs on a private nats-server from the test kit (its CPU is this storm's only), a fresh stream, and the
 * realtime service in this process (the harness of its own tests: the session service is faked at its NATS
 * boundary); the clients run in a forked child process.
 *
 * Knobs: BENCH_STORM_SOCKETS (5000), BENCH_STORM_SESSIONS (1000), BENCH_STORM_MISSED (2 events per session while
 * down), BENCH_STORM_ROUNDS (3).
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';

const SOCKETS = Number(process.env.BENCH_STORM_SOCKETS || 5_000);
const SESSIONS = Number(process.env.BENCH_STORM_SESSIONS || 1_000);
const MISSED = Number(process.env.BENCH_STORM_MISSED || 2);
const ROUNDS = Number(process.env.BENCH_STORM_ROUNDS || 3);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ───────────────────────────── client process ─────────────────────────────

type ToChild =
  | { cmd: 'open'; url: string; sockets: Array<{ token: string; sessionId: string }> }
  | { cmd: 'expect'; missed: Record<string, string[]> }
  | { cmd: 'status' }
  | { cmd: 'closeAll' };
type Status = {
  type: 'status';
  joined: number;
  caughtUp: number;
  unrecovered: number;
  lastEventIds: number;
  reconnects: number;
  errors: number;
  lastCaughtUpAt: number;
};
type FromChild = { type: 'opened'; failed: number } | Status | { type: 'closed' };

/** One socket that reconnects as soon as it is closed and re-joins its session with the last event id it saw. */
class StormSocket {
  lastEventId: string | undefined;
  joined = false;
  /** Event ids this socket must receive (missed while the server was down). */
  waitingFor = new Set<string>();
  caughtUpAt = 0;
  unrecovered = 0;
  reconnects = 0;
  errors = 0;
  private ws: WebSocket | null = null;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly token: string,
    readonly sessionId: string,
    private readonly onJoined: () => void,
  ) {}

  connect(): void {
    if (this.stopped) return;
    const ws = new WebSocket(`${this.url}?token=${this.token}`, { perMessageDeflate: false });
    this.ws = ws;
    ws.on('message', (raw: Buffer) => {
      const f = JSON.parse(raw.toString()) as { event: string; data: Record<string, unknown>; id?: string };
      if (f.event === 'connected') {
        ws.send(
          JSON.stringify({
            event: 'join_session',
            data: { sessionId: this.sessionId, ...(this.lastEventId ? { lastEventId: this.lastEventId } : {}) },
            id: 'j',
          }),
        );
      } else if (f.id === 'j') {
        if (f.event !== 'session_joined') {
          this.errors++;
          return void setTimeout(() => ws.close(), 200);
        }
        if (this.lastEventId && f.data.recovered !== true) this.unrecovered++;
        this.joined = true;
        this.onJoined();
        this.check();
      } else if (typeof f.data?.eventId === 'string' && f.data.sessionId === this.sessionId) {
        this.lastEventId = f.data.eventId;
        this.waitingFor.delete(f.data.eventId);
        this.check();
      }
    });
    let opened = false;
    ws.on('open', () => (opened = true));
    ws.on('error', () => {});
    ws.on('close', () => {
      this.joined = false;
      if (this.stopped) return;
      this.reconnects++;
      // At once when an open socket is closed (the storm), then every 100 ms while the server does not answer.
      setTimeout(() => this.connect(), opened ? 0 : 100);
    });
  }

  private check(): void {
    if (this.joined && this.waitingFor.size === 0 && !this.caughtUpAt) this.caughtUpAt = Date.now();
  }

  expect(ids: string[]): void {
    this.waitingFor = new Set(ids);
    this.caughtUpAt = 0;
  }

  close(): Promise<void> {
    this.stopped = true;
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((r) => (ws.once('close', () => r()), ws.terminate()));
  }
}

async function clientProcess(): Promise<void> {
  let sockets: StormSocket[] = [];
  const send = (m: FromChild) => process.send!(m);
  process.on('message', async (m: ToChild) => {
    switch (m.cmd) {
      case 'open': {
        let joined = 0;
        await new Promise<void>((resolve) => {
          sockets = m.sockets.map((s) => new StormSocket(m.url, s.token, s.sessionId, () => ++joined >= m.sockets.length && resolve()));
          // Opened 200 at a time: the first connection of all is not what is measured.
          let i = 0;
          const batch = () => {
            for (const end = Math.min(sockets.length, i + 200); i < end; i++) sockets[i]!.connect();
            if (i < sockets.length) setTimeout(batch, 20);
          };
          batch();
        });
        return send({ type: 'opened', failed: 0 });
      }
      case 'expect':
        for (const s of sockets) s.expect(m.missed[s.sessionId] ?? []);
        return;
      case 'status':
        return send({
          type: 'status',
          joined: sockets.filter((s) => s.joined).length,
          caughtUp: sockets.filter((s) => s.caughtUpAt > 0).length,
          unrecovered: sockets.reduce((n, s) => n + s.unrecovered, 0),
          lastEventIds: sockets.filter((s) => s.lastEventId).length,
          reconnects: sockets.reduce((n, s) => n + s.reconnects, 0),
          errors: sockets.reduce((n, s) => n + s.errors, 0),
          lastCaughtUpAt: Math.max(0, ...sockets.map((s) => s.caughtUpAt)),
        });
      case 'closeAll':
        await Promise.all(sockets.map((s) => s.close()));
        return send({ type: 'closed' });
    }
  });
}

// ───────────────────────────── server / driver process ─────────────────────────────

class Clients {
  private waiting = new Map<string, (m: FromChild) => void>();
  constructor(private readonly child: ChildProcess) {
    child.on('message', (m: FromChild) => {
      const resolve = this.waiting.get(m.type);
      this.waiting.delete(m.type);
      resolve?.(m);
    });
  }
  ask<T extends FromChild['type']>(m: ToChild, reply: T): Promise<Extract<FromChild, { type: T }>> {
    return new Promise((resolve) => {
      this.waiting.set(reply, resolve as (m: FromChild) => void);
      this.child.send(m);
    });
  }
  tell(m: ToChild): void {
    this.child.send(m);
  }
}

const TICK_MS = 10;
function cpuMsOf(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}
/** The pid of the nats-server listening on `port` (the private one, not a shared server). */
function natsPid(port: number): number {
  for (const d of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.endsWith('nats-server') && cmd.includes(String(port))) return Number(d);
    } catch {
      // gone
    }
  }
  throw new Error(`no nats-server process on port ${port}`);
}

async function main(): Promise<void> {
  const { startNatsServer } = await import('@glavito/testkit');
  const server = await startNatsServer();
  // The harness connects where NATS_URL points: the private server, so its CPU and consumers are this bench's alone.
  process.env.NATS_URL = server.url;
  const { eventFor, startHarness, tokenFor } = await import('../services/realtime/test/helpers.js');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const h = await startHarness({ LOG_LEVEL: 'silent', WS_HEARTBEAT_MS: '60s' });
  const jsm = await jetstreamManager(h.nats.nc);
  const consumers = async () => (await jsm.streams.info(h.config.EVENT_STREAM)).state.consumer_count;
  const child = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--conditions=development', '--import', 'tsx'],
    env: { ...process.env, BENCH_STORM_ROLE: 'clients' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const clients = new Clients(child);
  const rows: string[] = [];
  try {
    const sessions = Array.from({ length: SESSIONS }, (_, i) => ({ id: `storm-s${i}`, tenantId: `storm-t${i % 10}`, userId: `storm-u${i}` }));
    for (const s of sessions) h.addSession(s);
    const sockets = Array.from({ length: SOCKETS }, (_, i) => {
      const s = sessions[i % SESSIONS]!;
      return { token: tokenFor({ userId: s.userId, tenantId: s.tenantId }), sessionId: s.id };
    });
    let app = await h.startInstance();
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    const url = `ws://127.0.0.1:${port}/onboarding`;
    const publishAll = async (events: ReturnType<typeof eventFor>[]) => {
      for (let i = 0; i < events.length; i += 256) await h.publish(...events.slice(i, i + 256));
    };

    await clients.ask({ cmd: 'open', url, sockets }, 'opened');
    // One live event per session, so every socket has a lastEventId to re-join with.
    await publishAll(sessions.map((s) => eventFor(s, 'step.completed')));
    for (;;) {
      const st = await clients.ask({ cmd: 'status' }, 'status');
      if (st.lastEventIds === SOCKETS) break;
      await sleep(100);
    }
    const natsServerPid = natsPid(server.port);

    rows.push(
      '| round | sockets | sessions | missed events per socket | all replayed after | consumers before / peak / after | realtime CPU ms | nats-server CPU ms | recovered: false | join errors |',
    );
    rows.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (let round = 1; round <= ROUNDS; round++) {
      const before = await consumers();
      // Restart: a graceful close (every socket gets 1012 and starts reconnecting), events while down, a new instance.
      await app.close();
      const missed = sessions.map((s) => Array.from({ length: MISSED }, () => eventFor(s, 'progress.updated')));
      await publishAll(missed.flat());
      clients.tell({ cmd: 'expect', missed: Object.fromEntries(sessions.map((s, i) => [s.id, missed[i]!.map((e) => e.id)])) });
      await sleep(300);
      let peak = before;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, await consumers().catch(() => peak));
          await sleep(25);
        }
      })();
      const cpu0 = { rt: process.cpuUsage(), nats: cpuMsOf(natsServerPid) };
      app = await h.startInstance();
      await app.listen({ port, host: '127.0.0.1' });
      const readyAt = Date.now();
      let st: Status;
      const deadline = readyAt + 120_000;
      for (;;) {
        st = await clients.ask({ cmd: 'status' }, 'status');
        if (st.caughtUp === SOCKETS || Date.now() > deadline) break;
        await sleep(50);
      }
      const rtCpu = process.cpuUsage(cpu0.rt);
      const natsCpu = cpuMsOf(natsServerPid) - cpu0.nats;
      const allMs = st.caughtUp === SOCKETS ? `${st.lastCaughtUpAt - readyAt} ms` : `not all within 120 s (${st.caughtUp}/${SOCKETS})`;
      // After: the count once it has settled (replay readers delete their consumers; nothing should linger).
      let after = await consumers();
      for (let i = 0; i < 40 && after !== before; i++) {
        await sleep(250);
        after = await consumers();
      }
      sampling = false;
      await sampler;
      rows.push(
        `| ${round} | ${SOCKETS} | ${SESSIONS} | ${MISSED} | ${allMs} | ${before} / ${peak} / ${after} | ${Math.round((rtCpu.user + rtCpu.system) / 1000)} | ${natsCpu} | ${st.unrecovered} | ${st.errors} |`,
      );
      process.stderr.write(`${rows.at(-1)}\n`);
      await sleep(2000);
    }
    await clients.ask({ cmd: 'closeAll' }, 'closed');
  } finally {
    child.kill('SIGTERM');
    await h.close().catch(() => {});
    await server.stop();
    fs.rmSync(server.storeDir, { recursive: true, force: true });
  }
  console.log(
    [
      `${SOCKETS} sockets on ${SESSIONS} sessions (${SOCKETS / SESSIONS} per session) re-join with lastEventId at once after a graceful restart of the realtime instance; each missed ${MISSED} events. "all replayed after": from the new instance listening until the last socket had session_joined and every missed event. CPU: realtime process (with the fake session service's answers) and the private nats-server, from the new instance listening until then.`,
      '',
      ...rows,
    ].join('\n'),
  );
}

if (process.env.BENCH_STORM_ROLE === 'clients') await clientProcess();
else await main();
