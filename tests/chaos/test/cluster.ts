import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintToken } from '@glavito/auth';
import {
  migrateBrokerAt,
  serviceEntryArgs,
  startNatsServer,
  startPostgresServer,
  TEST_JWT_SECRET,
  type NatsServer,
  type PostgresServer,
} from '@glavito/testkit';

/**
 * The whole system on private servers: its own Postgres and its own nats-server (never the shared ones
 * other suites use), and every service as its own Node process on a fixed port, so that any of them
 * can be SIGKILLed and started again where the others (and the gateway) expect it.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64');

export const STREAM = 'CHAOS_EVENTS';
export const SUBJECT_PREFIX = 'chaos.events';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.once('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type ServiceName = 'session' | 'progress' | 'connection-test' | 'realtime' | 'audit' | 'gateway';

/** One service process on a fixed port: start, SIGKILL, start again. */
export class ServiceProcess {
  readonly url: string;
  /** The last lines of every run's output (warnings and errors; LOG_LEVEL=warn). */
  readonly logs: string[] = [];
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** How long each start took until /health/ready answered 200. */
  readonly startTimes: number[] = [];
  /** Exits nobody asked for (a crash of the service itself), with the output that preceded them. */
  readonly unexpectedExits: string[] = [];
  private expectingExit = false;

  constructor(
    readonly label: string,
    readonly service: ServiceName,
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  private log(line: string): void {
    this.logs.push(line);
    if (this.logs.length > 5000) this.logs.splice(0, this.logs.length - 4000);
  }

  // Generous: on a loaded 2-core machine four services booting at once have taken over a minute.
  async start(timeoutMs = 120_000): Promise<void> {
    if (this.running) throw new Error(`${this.label} is already running`);
    const t0 = Date.now();
    const child = spawn(process.execPath, serviceEntryArgs(path.join(root, 'services', this.service)), {
      cwd: root,
      env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...this.env, PORT: String(this.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.expectingExit = false;
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        if (!this.expectingExit) this.unexpectedExits.push(`${this.label} exited by itself (${code ?? signal}):\n${this.logs.slice(-25).join('\n')}`);
        resolve();
      }),
    );
    this.log(`--- ${this.label} started (pid ${child.pid}) at ${new Date().toISOString()}`);
    const keep = (d: Buffer) =>
      d
        .toString()
        .split('\n')
        .filter(Boolean)
        .forEach((l) => this.log(l));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`${this.label} exited (${child.exitCode ?? child.signalCode}):\n${this.logs.slice(-30).join('\n')}`);
      try {
        const res = await fetch(`${this.url}/health/ready`, { signal: AbortSignal.timeout(2000) });
        await res.body?.cancel();
        if (res.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${this.label} not ready after ${timeoutMs} ms:\n${this.logs.slice(-30).join('\n')}`);
      // Polled often: recovery bounds are measured from this moment, so it should be the process's, not ours.
      await sleep(25);
    }
    this.readyAt = Date.now();
    this.startTimes.push(this.readyAt - t0);
  }

  /** When the last start's /health/ready first answered 200 (ms since epoch). */
  readyAt = 0;

  /** A crash: SIGKILL, resolved once the process is gone (its port is free again). */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.log(`--- ${this.label} SIGKILL at ${new Date().toISOString()}`);
    this.expectingExit = true;
    this.child!.kill('SIGKILL');
    await this.exited;
  }

  /** Graceful (SIGTERM), for the end of the run. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.expectingExit = true;
    this.child!.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export interface Cluster {
  pg: PostgresServer;
  nats: NatsServer;
  session: ServiceProcess;
  progress: ServiceProcess;
  connectionTest: ServiceProcess;
  realtime1: ServiceProcess;
  realtime2: ServiceProcess;
  /** The audit trail: consumes the audit stream every other service writes to through its outbox. */
  audit: ServiceProcess;
  gateway: ServiceProcess;
  all: ServiceProcess[];
  /** The services that own a schema (readiness follows Postgres). */
  withDatabase: ServiceProcess[];
  token(user: { userId: string; tenantId: string; roles?: string[] }): string;
  /** Kills NATS and starts it again on the same port and store directory. */
  restartNats(): Promise<void>;
  stop(): Promise<void>;
}

export async function startCluster(opts: { connectionTestEnv?: Record<string, string> } = {}): Promise<Cluster> {
  const [pg, natsServer] = await Promise.all([startPostgresServer(), startNatsServer()]);
  let nats = natsServer;
  const common = {
    JWT_SECRET: TEST_JWT_SECRET,
    DATABASE_URL: pg.url,
    NATS_URL: nats.url,
    EVENT_STREAM: STREAM,
    EVENT_SUBJECT_PREFIX: SUBJECT_PREFIX,
    RPC_SUBJECT_PREFIX: 'chaos.rpc',
    DEAD_LETTER_PREFIX: 'chaos.dlq',
  };
  const ports = await Promise.all(Array.from({ length: 7 }, () => freePort()));
  const session = new ServiceProcess('session', 'session', ports[0]!, { ...common, STEP_DATA_ENCRYPTION_KEY: ENCRYPTION_KEY });
  const progress = new ServiceProcess('progress', 'progress', ports[1]!, common);
  const connectionTest = new ServiceProcess('connection-test', 'connection-test', ports[2]!, {
    ...common,
    // Loopback is allowed so connection tests reach the suite's local webhook receiver.
    CONNECTION_TEST_ALLOWED_CIDRS: '127.0.0.1/32',
    CONNECTION_TEST_TENANT_LIMIT: '100000',
    CONNECTION_TEST_USER_LIMIT: '100000',
    ...opts.connectionTestEnv,
  });
  const realtimeEnv = { ...common, PRESENCE_BUCKET: 'chaos_presence', PRESENCE_TTL: '10s' };
  // The broker state, as `pnpm bus:migrate` applies it before a release: the services only check it.
  await migrateBrokerAt(nats.url, realtimeEnv);
  const realtime1 = new ServiceProcess('realtime#1', 'realtime', ports[3]!, realtimeEnv);
  const realtime2 = new ServiceProcess('realtime#2', 'realtime', ports[4]!, realtimeEnv);
  // Ack wait as progress' (5 s): what a killed audit process held is redelivered within the run, not 30 s later.
  const audit = new ServiceProcess('audit', 'audit', ports[6]!, { ...common, CONSUMER_ACK_WAIT: '5s' });
  const gateway = new ServiceProcess('gateway', 'gateway', ports[5]!, {
    JWT_SECRET: TEST_JWT_SECRET,
    SESSION_URL: session.url,
    PROGRESS_URL: progress.url,
    CONNECTION_TEST_URL: connectionTest.url,
    REALTIME_URL: realtime1.url,
    AUDIT_URL: audit.url,
    // Refusals at the edge go to the cluster's audit stream.
    NATS_URL: nats.url,
    EVENT_SUBJECT_PREFIX: SUBJECT_PREFIX,
    RATE_LIMIT_MAX: '1000000',
  });
  const all = [session, progress, connectionTest, realtime1, realtime2, audit, gateway];
  const cluster: Cluster = {
    pg,
    get nats() {
      return nats;
    },
    session,
    progress,
    connectionTest,
    realtime1,
    realtime2,
    audit,
    gateway,
    all,
    withDatabase: [session, progress, connectionTest, audit],
    token: (u) => mintToken({ secret: TEST_JWT_SECRET, userId: u.userId, tenantId: u.tenantId, roles: u.roles ?? ['agent'] }),
    async restartNats() {
      await nats.kill();
      nats = await startNatsServer({ port: nats.port, storeDir: nats.storeDir });
    },
    async stop() {
      await Promise.all(all.map((s) => s.stop().catch(() => {})));
      await nats.stop().catch(() => {});
      rmSync(nats.storeDir, { recursive: true, force: true });
      await pg.cleanup().catch(() => {});
    },
  };
  try {
    // Session first: it creates the stream the consumers of the others bind to (each one ensures it too).
    await session.start();
    await Promise.all([progress.start(), connectionTest.start(), realtime1.start(), realtime2.start(), audit.start()]);
    await gateway.start();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
