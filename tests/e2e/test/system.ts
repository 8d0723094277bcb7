import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintToken } from '@glavito/auth';
import {
  createTestDatabase,
  createTestNats,
  serviceEntryArgs,
  startFakeStripe,
  TEST_JWT_SECRET,
  type FakeStripe,
  type TestDatabase,
  type TestNats,
} from '@glavito/testkit';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const ENCRYPTION_KEY = Buffer.alloc(32, 3).toString('base64');
/** The notification service's unsubscribe-link key in these systems (tests sign links with it). */
export const TEST_UNSUBSCRIBE_SECRET = 'test-unsubscribe-secret-long-enough-0123456789';
/** The payment service's Stripe webhook signing secret in these systems (tests sign Stripe events with it). */
export const TEST_STRIPE_WEBHOOK_SECRET = 'whsec_testSystemWebhookSecret0123456789';

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

export type StartCommandPorts = Record<'gateway' | 'session' | 'progress' | 'connectionTest' | 'realtime' | 'notification' | 'payment', number>;

/** Free ports for every process of the README's start command. */
export async function startCommandPorts(): Promise<StartCommandPorts> {
  return {
    gateway: await freePort(),
    session: await freePort(),
    progress: await freePort(),
    connectionTest: await freePort(),
    realtime: await freePort(),
    notification: await freePort(),
    payment: await freePort(),
  };
}

/** The start command's port variables for those ports. */
export function startCommandPortEnv(ports: StartCommandPorts): Record<string, string> {
  return {
    PORT: String(ports.gateway),
    SESSION_PORT: String(ports.session),
    PROGRESS_PORT: String(ports.progress),
    CONNECTION_TEST_PORT: String(ports.connectionTest),
    REALTIME_PORT: String(ports.realtime),
    NOTIFICATION_PORT: String(ports.notification),
    PAYMENT_PORT: String(ports.payment),
  };
}

export interface ServiceProcess {
  name: string;
  url: string;
  child: ChildProcess;
  logs: string[];
  /** The environment it was started with (beside PORT): a restart on the same port reuses it. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Runs a service the way the start command does: its own Node process on a free port (or on `fixedPort`, to
 * restart one in place), from this checkout's sources or, with TEST_SERVICES_FROM=build, its build output (see
 * serviceEntryArgs). `from` is another checkout to run it from (a benchmark's baseline commit): always its sources,
 * as a worktree is not built.
 */
export async function startService(
  name: string,
  env: Record<string, string>,
  fixedPort?: number,
  from = root,
  readyTimeoutMs = 60_000,
): Promise<ServiceProcess> {
  const port = fixedPort ?? (await freePort());
  const logs: string[] = [];
  // BENCH_CPU_PROFILE_DIR=dir writes a V8 CPU profile of every service process when it exits (profiling benchmarks).
  const profile = process.env.BENCH_CPU_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${path.join(process.env.BENCH_CPU_PROFILE_DIR, name)}`] : [];
  // BENCH_NODE_FLAGS="--flag …": extra Node/V8 flags for every service process (a benchmark comparing runtime settings).
  const flags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn(
    process.execPath,
    [...flags, ...profile, ...serviceEntryArgs(path.join(from, 'services', name), 'server', from === root ? undefined : 'source')],
    {
      cwd: from,
      env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'info', HOST: '127.0.0.1', ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout!.on('data', (d: Buffer) => logs.push(...d.toString().split('\n').filter(Boolean)));
  child.stderr!.on('data', (d: Buffer) => logs.push(...d.toString().split('\n').filter(Boolean)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}):\n${logs.slice(-20).join('\n')}`);
    try {
      if ((await fetch(`${url}/health/ready`)).ok) break;
    } catch {
      // not yet listening
    }
    if (Date.now() > deadline) throw new Error(`${name} not ready:\n${logs.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    name,
    url,
    child,
    logs,
    env,
    stop: () =>
      new Promise<void>((resolve) => {
        // A process killed by a signal has no exit code, only a signal code: it is gone too.
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export interface System {
  gateway: ServiceProcess;
  session: ServiceProcess;
  progress: ServiceProcess;
  connectionTest: ServiceProcess;
  realtime: ServiceProcess;
  /** null when the checkout started (a benchmark baseline) predates the notification service. */
  notification: ServiceProcess | null;
  /** The payment service on a local Stripe API server (null when the checkout predates it). */
  payment: ServiceProcess | null;
  /** The audit service (null when the checkout predates it). */
  audit: ServiceProcess | null;
  stripe: FakeStripe | null;
  db: TestDatabase;
  nats: TestNats;
  token(user: { userId: string; tenantId: string; roles?: string[] }): string;
  stop(): Promise<void>;
}

export interface StartSystemOptions {
  /** Extra environment per service (benchmarks raise limits, tests shorten timeouts). */
  env?: Partial<Record<'session' | 'progress' | 'connection-test' | 'realtime' | 'notification' | 'payment' | 'gateway', Record<string, string>>>;
  logLevel?: string;
  /** The gateway's requests per user (or IP) per minute; default 10,000. */
  rateLimitMax?: number;
  /** Runs the services from another checkout (a benchmark's baseline commit in a git worktree). */
  root?: string;
}

/** Session service + gateway as processes on a fresh database, stream and subject prefix. */
export async function startSystem(opts: StartSystemOptions = {}): Promise<System> {
  const db = await createTestDatabase();
  const nats = await createTestNats();
  const common = {
    JWT_SECRET: TEST_JWT_SECRET,
    DATABASE_URL: db.url,
    NATS_URL: nats.url,
    EVENT_STREAM: nats.streamName,
    EVENT_SUBJECT_PREFIX: nats.subjectPrefix,
    RPC_SUBJECT_PREFIX: nats.rpcPrefix,
    DEAD_LETTER_PREFIX: nats.dlqPrefix,
    ...(opts.logLevel ? { LOG_LEVEL: opts.logLevel } : {}),
  };
  const withPayment = existsSync(path.join(opts.root ?? root, 'services', 'payment'));
  const stripe = withPayment ? await startFakeStripe() : null;
  const [session, progress, connectionTest, realtime, notification, payment] = await Promise.all([
    startService('session', { ...common, STEP_DATA_ENCRYPTION_KEY: ENCRYPTION_KEY, ...opts.env?.session }, undefined, opts.root),
    startService('progress', { ...common, ...opts.env?.progress }, undefined, opts.root),
    // Loopback is allowed so the end-to-end webhook test can reach its local receiver.
    startService('connection-test', { ...common, CONNECTION_TEST_ALLOWED_CIDRS: '127.0.0.1/32', ...opts.env?.['connection-test'] }, undefined, opts.root),
    startService('realtime', { ...common, PRESENCE_BUCKET: `${nats.streamName}_presence`, ...opts.env?.realtime }, undefined, opts.root),
    existsSync(path.join(opts.root ?? root, 'services', 'notification'))
      ? startService('notification', { ...common, NOTIFY_UNSUBSCRIBE_SECRET: TEST_UNSUBSCRIBE_SECRET, ...opts.env?.notification }, undefined, opts.root)
      : null,
    stripe
      ? startService(
          'payment',
          {
            ...common,
            STRIPE_SECRET_KEY: stripe.apiKey,
            STRIPE_WEBHOOK_SECRET: TEST_STRIPE_WEBHOOK_SECRET,
            STRIPE_API_URL: stripe.url,
            STRIPE_MAX_RETRIES: '0',
            ...opts.env?.payment,
          },
          undefined,
          opts.root,
        )
      : null,
  ]);
  // The audit trail (absent from a checkout that predates it, e.g. a benchmark baseline).
  const audit = existsSync(path.join(opts.root ?? root, 'services', 'audit')) ? await startService('audit', { ...common }, undefined, opts.root) : null;
  const gateway = await startService(
    'gateway',
    {
      ...(opts.logLevel ? { LOG_LEVEL: opts.logLevel } : {}),
      JWT_SECRET: TEST_JWT_SECRET,
      SESSION_URL: session.url,
      PROGRESS_URL: progress.url,
      CONNECTION_TEST_URL: connectionTest.url,
      REALTIME_URL: realtime.url,
      ...(notification ? { NOTIFICATION_URL: notification.url } : {}),
      ...(payment ? { PAYMENT_URL: payment.url } : {}),
      // Refusals at the edge go to this system's audit stream.
      ...(audit ? { AUDIT_URL: audit.url, NATS_URL: nats.url, EVENT_SUBJECT_PREFIX: nats.subjectPrefix } : {}),
      RATE_LIMIT_MAX: String(opts.rateLimitMax ?? 10_000),
      ...opts.env?.gateway,
    },
    undefined,
    opts.root,
  );
  return {
    gateway,
    session,
    progress,
    connectionTest,
    realtime,
    notification,
    payment,
    audit,
    stripe,
    db,
    nats,
    token: (u) => mintToken({ secret: TEST_JWT_SECRET, userId: u.userId, tenantId: u.tenantId, roles: u.roles ?? ['agent'] }),
    async stop() {
      await gateway.stop();
      await Promise.all([session.stop(), progress.stop(), connectionTest.stop(), realtime.stop(), notification?.stop(), payment?.stop(), audit?.stop()]);
      await stripe?.close();
      await nats.cleanup();
      await db.drop();
    },
  };
}
