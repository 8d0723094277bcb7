/**
 * Starts the whole system locally: every built service as its own process plus the gateway.
 * Uses DATABASE_URL / NATS_URL when set, else the default local ports. Dev secrets are generated
 * once into .data/ (local mode only) and dev tokens are printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintToken } from '@glavito/auth';
import { brokerState, loadBrokerSettings, migrateBroker } from '@glavito/broker';
import { connect as connectNats } from '@nats-io/transport-node';
import pg from 'pg';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = path.join(root, '.data');

type LocalSecrets = { JWT_SECRET: string; STEP_DATA_ENCRYPTION_KEY: string; NOTIFY_CREDENTIALS_KEY: string };

/** Made once per checkout and kept in .data/; a key added later (NOTIFY_CREDENTIALS_KEY) is added to the file. */
function localSecrets(): LocalSecrets {
  const file = path.join(dataDir, 'local-secrets.json');
  const kept: Partial<LocalSecrets> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const secrets: LocalSecrets = {
    JWT_SECRET: kept.JWT_SECRET ?? randomBytes(32).toString('base64url'),
    STEP_DATA_ENCRYPTION_KEY: kept.STEP_DATA_ENCRYPTION_KEY ?? randomBytes(32).toString('base64'),
    // Seals a tenant's SMTP settings from session to notification (reminders through the tenant's own server).
    NOTIFY_CREDENTIALS_KEY: kept.NOTIFY_CREDENTIALS_KEY ?? randomBytes(32).toString('base64'),
  };
  if (Object.keys(kept).length !== Object.keys(secrets).length) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  }
  return secrets;
}

function answers(url: string, port: number): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port || port) });
    s.setTimeout(1000);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('timeout', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(false));
  });
}

async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  await client.end();
}

async function waitReady(name: string, url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode}`);
    try {
      const r = await fetch(`${url}/health/ready`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${name} did not become ready at ${url}`);
}

const env = process.env;
const DATABASE_URL = env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/glavito_onboarding';
const NATS_URL = env.NATS_URL ?? 'nats://127.0.0.1:4222';
const production = env.NODE_ENV === 'production';

const requested = env.GLAVITO_MODE ?? 'auto';
if (!['auto', 'servers', 'embedded'].includes(requested)) {
  console.error(`GLAVITO_MODE must be auto, servers or embedded (got "${requested}")`);
  process.exit(1);
}
const serversAnswer = (await answers(DATABASE_URL, 5432)) && (await answers(NATS_URL, 4222));
const configured = Boolean(env.DATABASE_URL || env.NATS_URL);
const mode = requested === 'auto' ? (serversAnswer || configured ? 'servers' : 'embedded') : requested;
if (mode === 'servers' && !serversAnswer) {
  console.error(
    `PostgreSQL (${new URL(DATABASE_URL).host}) or NATS (${NATS_URL}) is not answering.\n` +
      'Start them (see README), set DATABASE_URL / NATS_URL, or run with GLAVITO_MODE=embedded.',
  );
  process.exit(1);
}
if (mode === 'embedded' && production) {
  console.error('Embedded mode is for local use only; it refuses NODE_ENV=production.');
  process.exit(1);
}

const secrets = production
  ? { JWT_SECRET: env.JWT_SECRET ?? '', STEP_DATA_ENCRYPTION_KEY: env.STEP_DATA_ENCRYPTION_KEY ?? '', NOTIFY_CREDENTIALS_KEY: env.NOTIFY_CREDENTIALS_KEY ?? '' }
  : { ...localSecrets(), ...pick(env, ['JWT_SECRET', 'STEP_DATA_ENCRYPTION_KEY', 'NOTIFY_CREDENTIALS_KEY']) };

function pick(source: NodeJS.ProcessEnv, keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.filter((k) => source[k]).map((k) => [k, source[k] as string]));
}

const ports = {
  gateway: Number(env.PORT ?? 3000),
  session: Number(env.SESSION_PORT ?? 3001),
  progress: Number(env.PROGRESS_PORT ?? 3002),
  connectionTest: Number(env.CONNECTION_TEST_PORT ?? 3003),
  realtime: Number(env.REALTIME_PORT ?? 3004),
  payment: Number(env.PAYMENT_PORT ?? 3006),
  notification: Number(env.NOTIFICATION_PORT ?? 3008),
  audit: Number(env.AUDIT_PORT ?? 3007),
};
// Local mode only (the gateway does not guess it): pages on the usual dev-server origins may call the gateway
// besides those in CORS_ORIGINS, and the built console, when there is one, is served at /console/.
const DEV_SERVER_PORTS = [5173, 4173, 3000, 8080];
const consoleDist = path.join(root, 'apps', 'console', 'dist');
if (!production && !env.CONSOLE_DIR && existsSync(path.join(root, 'apps', 'console', 'package.json'))) await buildConsole();
const gatewayLocal: Record<string, string> = production
  ? {}
  : {
      CORS_ORIGINS: [env.CORS_ORIGINS, ...DEV_SERVER_PORTS.flatMap((p) => [`http://localhost:${p}`, `http://127.0.0.1:${p}`])].filter(Boolean).join(','),
      ...(env.CONSOLE_DIR || !existsSync(path.join(consoleDist, 'index.html')) ? {} : { CONSOLE_DIR: consoleDist }),
    };
const consoleDir = env.CONSOLE_DIR || gatewayLocal.CONSOLE_DIR;

const shared = { ...env, ...secrets, DATABASE_URL, NATS_URL, HOST: '127.0.0.1' };
const services: Array<{ name: string; port: number; env: Record<string, string | undefined> }> = [
  { name: 'session', port: ports.session, env: { PORT: String(ports.session) } },
  { name: 'progress', port: ports.progress, env: { PORT: String(ports.progress) } },
  { name: 'connection-test', port: ports.connectionTest, env: { PORT: String(ports.connectionTest) } },
  { name: 'realtime', port: ports.realtime, env: { PORT: String(ports.realtime) } },
  // Without STRIPE_SECRET_KEY its routes answer 503 naming the variable; everything else works.
  { name: 'payment', port: ports.payment, env: { PORT: String(ports.payment) } },
  { name: 'notification', port: ports.notification, env: { PORT: String(ports.notification) } },
  { name: 'audit', port: ports.audit, env: { PORT: String(ports.audit) } },
  {
    name: 'gateway',
    port: ports.gateway,
    env: {
      ...gatewayLocal,
      PORT: String(ports.gateway),
      HOST: env.HOST ?? '127.0.0.1',
      SESSION_URL: `http://127.0.0.1:${ports.session}`,
      PROGRESS_URL: `http://127.0.0.1:${ports.progress}`,
      CONNECTION_TEST_URL: `http://127.0.0.1:${ports.connectionTest}`,
      REALTIME_URL: `http://127.0.0.1:${ports.realtime}`,
      PAYMENT_URL: `http://127.0.0.1:${ports.payment}`,
      NOTIFICATION_URL: `http://127.0.0.1:${ports.notification}`,
      AUDIT_URL: `http://127.0.0.1:${ports.audit}`,
    },
  },
];

const children = new Map<string, ChildProcess>();
let stopping = false;
function stopAll(code = 0): void {
  stopping = true;
  for (const c of children.values()) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 500).unref();
}

/** A crashed service comes back after a backoff that grows while it keeps crashing (reset after a minute of running). */
const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 15_000;
const STABLE_AFTER_MS = 60_000;

function spawnService(svc: (typeof services)[number]): ChildProcess {
  const child = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', path.join(root, 'services', svc.name, 'src', 'server.ts')], {
    env: { ...shared, ...svc.env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.set(svc.name, child);
  return child;
}

/** Keeps a service running: one that exits by itself is restarted (and says so); only Ctrl-C stops everything. */
function supervise(svc: (typeof services)[number], child: ChildProcess): void {
  let attempt = 0;
  const watch = (c: ChildProcess, startedAt: number) => {
    c.once('exit', (code, signal) => {
      if (stopping) return;
      if (Date.now() - startedAt > STABLE_AFTER_MS) attempt = 0;
      attempt++;
      const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** (attempt - 1));
      console.error(
        `[start] ${svc.name} (pid ${c.pid}) exited (${signal ? `signal ${signal}` : `code ${code}`}); restarting it in ${delay} ms (restart ${attempt}); the other services keep serving`,
      );
      setTimeout(() => {
        if (stopping) return;
        const next = spawnService(svc);
        watch(next, Date.now());
        waitReady(svc.name, `http://127.0.0.1:${svc.port}`, next).then(
          () => console.error(`[start] ${svc.name} is back (pid ${next.pid})`),
          (err: Error) => console.error(`[start] ${svc.name} did not come back: ${err.message}`),
        );
      }, delay).unref();
    });
  };
  watch(child, Date.now());
}

/** Local mode serves the console at /console/: build it (about a second) so the link in the banner works. */
function buildConsole(): Promise<boolean> {
  return new Promise((resolve) => {
    const build = spawn('pnpm', ['--filter', '@glavito/console', 'run', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let errors = '';
    build.stderr?.on('data', (d: Buffer) => (errors += d.toString()));
    build.once('error', () => resolve(false));
    build.once('exit', (code) => {
      if (code !== 0) console.error(`[start] the console did not build; starting without it:\n${errors.slice(-2000)}`);
      resolve(code === 0);
    });
  });
}

if (mode === 'embedded') {
  // No servers: PGlite (persisted under .data/pglite) and the in-process bus, every service in this process.
  const { startEmbedded } = await import('@glavito/local');
  const system = await startEmbedded({
    dataDir: env.GLAVITO_DATA_DIR ?? path.join(dataDir, 'pglite'),
    ports: {
      gateway: ports.gateway,
      session: ports.session,
      progress: ports.progress,
      connectionTest: ports.connectionTest,
      realtime: ports.realtime,
      payment: ports.payment,
      notification: ports.notification,
      audit: ports.audit,
    },
    env: { ...env, ...secrets, ...gatewayLocal },
  });
  const shutdown = () =>
    void system.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  console.log('Mode: embedded (PGlite + in-process bus; data in ' + (env.GLAVITO_DATA_DIR ?? path.join(dataDir, 'pglite')) + ')');
} else {
  await ensureDatabase(DATABASE_URL);
  // The broker state (streams, buckets) is applied here, as `pnpm bus:migrate` does; services only check it.
  const nc = await connectNats({ servers: NATS_URL.split(','), name: 'start-bus-migrate', timeout: 5000 });
  await migrateBroker(nc, brokerState(loadBrokerSettings(shared)), { info: (msg) => console.log(`[start] bus:migrate: ${msg}`) });
  await nc.drain();
  process.once('SIGINT', () => stopAll(0));
  process.once('SIGTERM', () => stopAll(0));
  for (const svc of services) {
    const child = spawnService(svc);
    // A service that cannot start at all is a configuration problem: say so and stop, rather than loop.
    try {
      await waitReady(svc.name, `http://127.0.0.1:${svc.port}`, child);
    } catch (err) {
      console.error(`[start] ${(err as Error).message}; stopping the system`);
      stopAll(1);
      await new Promise(() => {});
    }
    supervise(svc, child);
  }
  console.log('Mode: servers (PostgreSQL ' + new URL(DATABASE_URL).host + ', NATS ' + NATS_URL + ')');
}

const gateway = `http://127.0.0.1:${ports.gateway}`;
const consoleLine = consoleDir
  ? `  console:   ${gateway}/console/\n`
  : production
    ? ''
    : '  console:   not built (pnpm --filter @glavito/console build, then start again)\n';
console.log(
  `\nGlavito Onboarding is up.\n  gateway:   ${gateway}\n${consoleLine}  docs:      ${gateway}/docs\n  websocket: ${gateway.replace('http', 'ws')}/onboarding?token=<jwt>\n`,
);
if (!production) {
  console.log(`Browser pages on localhost/127.0.0.1 ports ${DEV_SERVER_PORTS.join(', ')} may call the gateway (CORS_ORIGINS adds more).\n`);
  const admin = mintToken({ secret: secrets.JWT_SECRET, userId: 'demo-admin', tenantId: 'demo-tenant', roles: ['admin'], expiresIn: '12h' });
  const agent = mintToken({ secret: secrets.JWT_SECRET, userId: 'demo-agent', tenantId: 'demo-tenant', roles: ['agent'], expiresIn: '12h' });
  console.log(`Dev tokens (local mode only, valid 12h, tenant demo-tenant):\n  admin: ${admin}\n  agent: ${agent}\n`);
  if (consoleDir)
    console.log(`Open the console signed in:\n  as the admin: ${gateway}/console/#token=${admin}\n  as the agent: ${gateway}/console/#token=${agent}\n`);
  console.log(`Try: curl -s -X POST ${gateway}/onboarding/start -H "Authorization: Bearer <admin token>"\n`);
}
