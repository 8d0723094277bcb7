import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { auditNames, brokerState, loadBrokerSettings, migrateBroker, type BrokerSettings } from '@glavito/broker';
import pg from 'pg';
import { tcpAnswers } from './ports.js';

/**
 * Real Postgres and NATS for tests. Order: DATABASE_URL / NATS_URL → the default local ports when
 * they answer → Testcontainers (needs a Docker engine) → a clear failure.
 */

const urlAnswers = (url: string, fallbackPort: number) => {
  const u = new URL(url);
  return tcpAnswers(u.hostname, Number(u.port || fallbackPort));
};

const DEFAULT_PG = 'postgres://postgres@127.0.0.1:5432/postgres';
const DEFAULT_NATS = 'nats://127.0.0.1:4222';

let adminUrlPromise: Promise<string> | undefined;
let natsUrlPromise: Promise<string> | undefined;

async function startContainer<T>(what: string, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    throw new Error(
      `No ${what} for tests: set ${what === 'PostgreSQL' ? 'DATABASE_URL' : 'NATS_URL'}, run it on its default port, ` +
        `or start a Docker engine for Testcontainers (${(err as Error).message.split('\n')[0]})`,
    );
  }
}

export function adminDatabaseUrl(): Promise<string> {
  adminUrlPromise ??= (async () => {
    if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
    if (await urlAnswers(DEFAULT_PG, 5432)) return DEFAULT_PG;
    return startContainer('PostgreSQL', async () => {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const c = await new PostgreSqlContainer('postgres:15-alpine').start();
      return c.getConnectionUri();
    });
  })();
  return adminUrlPromise;
}

export function natsUrl(): Promise<string> {
  natsUrlPromise ??= (async () => {
    if (process.env.NATS_URL) return process.env.NATS_URL;
    if (await urlAnswers(DEFAULT_NATS, 4222)) return DEFAULT_NATS;
    return startContainer('NATS', async () => {
      const { NatsContainer } = await import('@testcontainers/nats');
      const c = await new NatsContainer('nats:2.10-alpine').withArg('-js', '').start();
      return `nats://${c.getHost()}:${c.getMappedPort(4222)}`;
    });
  })();
  return natsUrlPromise;
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

export interface TestDatabase {
  /** URL of the fresh database, as the admin (migrations, provisioning). */
  url: string;
  name: string;
  /** An admin pool on the fresh database, for assertions on stored state. */
  pool: pg.Pool;
  drop(): Promise<void>;
}

/** A fresh, empty database for one test file. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = await adminDatabaseUrl();
  const name = uniqueName('t');
  const adminClient = new pg.Client({ connectionString: admin });
  await adminClient.connect();
  await adminClient.query(`CREATE DATABASE "${name}"`);
  await adminClient.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
  pool.on('error', () => {});
  return {
    url: url.toString(),
    name,
    pool,
    async drop() {
      await pool.end();
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface TestNats {
  url: string;
  /** Subject prefix unique to this test file, e.g. `t_ab12.events`. */
  subjectPrefix: string;
  /** Stream name unique to this test file. */
  streamName: string;
  /** Request/reply subject prefix unique to this test file. */
  rpcPrefix: string;
  /** Dead-letter subject prefix unique to this test file. */
  dlqPrefix: string;
  /** KV buckets unique to this test file (realtime presence, gateway rate limits). */
  presenceBucket: string;
  rateLimitBucket: string;
  /** The audit stream and subject prefix of this test file. */
  auditStream: string;
  auditPrefix: string;
  /** The broker settings of this file's prefix (what `pnpm bus:migrate` would read from the env). */
  brokerSettings: BrokerSettings;
  /** Runs the broker migration again (e.g. after a test changed a stream), optionally with other settings. */
  migrate(overrides?: Record<string, string>): Promise<void>;
  nc: NatsConnection;
  cleanup(): Promise<void>;
}

/**
 * A NATS connection plus a fresh subject prefix, stream and bucket names for one test file, with the broker
 * state applied for them by the same migration as `pnpm bus:migrate` (services only check it at boot).
 * `migrate: false` leaves the broker untouched; `broker` sets other migration variables (e.g. EVENT_RETENTION).
 */
export async function createTestNats(
  opts: { url?: string; reconnectForever?: boolean; migrate?: boolean; broker?: Record<string, string> } = {},
): Promise<TestNats> {
  const url = opts.url ?? (await natsUrl());
  const id = uniqueName('t');
  const nc = await connect({ servers: url, name: `test-${id}`, ...(opts.reconnectForever ? { maxReconnectAttempts: -1, reconnectTimeWait: 250 } : {}) });
  const streamName = id.toUpperCase();
  const names = {
    EVENT_STREAM: streamName,
    EVENT_SUBJECT_PREFIX: `${id}.events`,
    DEAD_LETTER_PREFIX: `${id}.dlq`,
    PRESENCE_BUCKET: `${streamName}_presence`,
    RATE_LIMIT_BUCKET: `${streamName}_ratelimit`,
  };
  const settingsFor = (overrides: Record<string, string> = {}) => loadBrokerSettings({ ...names, ...opts.broker, ...overrides });
  const nats: TestNats = {
    url,
    subjectPrefix: names.EVENT_SUBJECT_PREFIX,
    rpcPrefix: `${id}.rpc`,
    dlqPrefix: names.DEAD_LETTER_PREFIX,
    presenceBucket: names.PRESENCE_BUCKET,
    rateLimitBucket: names.RATE_LIMIT_BUCKET,
    auditStream: auditNames(names).stream,
    auditPrefix: auditNames(names).subjectPrefix,
    brokerSettings: settingsFor(),
    streamName,
    nc,
    async migrate(overrides) {
      await migrateBroker(nc, brokerState(settingsFor(overrides)));
    },
    async cleanup() {
      try {
        const jsm = await jetstreamManager(nc);
        for await (const s of jsm.streams.list()) {
          if (s.config.name.startsWith(streamName) || s.config.name.startsWith(`KV_${streamName}`)) await jsm.streams.delete(s.config.name);
        }
      } catch {
        // the stream may never have been created
      }
      await nc.drain();
    },
  };
  if (opts.migrate !== false) await nats.migrate();
  return nats;
}

/**
 * `pnpm bus:migrate` against a given server with the given variables (EVENT_STREAM, PRESENCE_BUCKET, …), for
 * suites that run the system on private servers under fixed names.
 */
export async function migrateBrokerAt(url: string, env: Record<string, string | undefined>): Promise<void> {
  const nc = await connect({ servers: url.split(','), name: 'test-bus-migrate' });
  try {
    await migrateBroker(nc, brokerState(loadBrokerSettings(env)));
  } finally {
    await nc.drain();
  }
}

/** Polls until `check` returns a truthy value or the deadline passes. */
export async function waitFor<T>(
  check: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`waitFor timed out: ${opts.message ?? ''} ${last ? String(last) : ''}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

export interface StoredEvent {
  subject: string;
  streamSeq: number;
  event: {
    id: string;
    type: string;
    sessionSeq: number;
    sessionId: string;
    tenantId: string;
    userId: string;
    correlationId: string;
    data: Record<string, unknown>;
  };
}

/** Every message in the test stream, in stream order (parsed JSON). */
export async function readStream(nats: TestNats, streamName = nats.streamName): Promise<StoredEvent[]> {
  const jsm = await jetstreamManager(nats.nc);
  let info;
  try {
    info = await jsm.streams.info(streamName);
  } catch {
    return [];
  }
  const out: StoredEvent[] = [];
  if (info.state.messages === 0) return out;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(streamName, { seq }).catch(() => null);
    if (m) out.push({ subject: m.subject, streamSeq: seq, event: m.json() });
  }
  return out;
}
export { serviceTestEnv, startTestService, type TestService, type TestServiceApp, type TestServiceContext } from './test-service.js';
export {
  startNatsServer,
  startNatsCluster,
  createTestNatsAt,
  resolveNatsServerBin,
  type NatsCluster,
  type NatsServer,
  type NatsServerOptions,
} from './nats-server.js';
export { freePort } from './ports.js';
export { startPostgresServer, resolvePostgresBinDir, type PostgresServer, type PostgresServerOptions } from './postgres-server.js';
export { createTestCa, opensslAvailable, selfSignedCertificate, type KeyPair, type TestCa } from './tls-certs.js';
export {
  mailServersUnavailable,
  startDovecot,
  startPostfix,
  type DovecotOptions,
  type DovecotServer,
  type MailUser,
  type PostfixListener,
  type PostfixOptions,
  type PostfixServer,
} from './mail-servers.js';
export { startFakeStripe, parseStripeForm, type FakeStripe, type FakeStripeAccount, type FakeStripeRequest } from './stripe-server.js';
export { serviceEntryArgs, servicesFrom, type ServicesFrom } from './service-entry.js';
