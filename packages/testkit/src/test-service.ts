import { createTestDatabase, createTestNats, TEST_JWT_SECRET, type TestDatabase, type TestNats } from './index.js';
import { createTestNatsAt } from './nats-server.js';

/**
 * The variables every service reads to find its database, its stream and subject prefixes and the JWT secret,
 * pointed at one test file's own database and broker names. A service's test config adds its own on top.
 */
export function serviceTestEnv(db: Pick<TestDatabase, 'url'>, nats: TestNats): Record<string, string> {
  return {
    DATABASE_URL: db.url,
    NATS_URL: nats.url,
    EVENT_STREAM: nats.streamName,
    EVENT_SUBJECT_PREFIX: nats.subjectPrefix,
    RPC_SUBJECT_PREFIX: nats.rpcPrefix,
    DEAD_LETTER_PREFIX: nats.dlqPrefix,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'silent',
  };
}

/** What a built service must offer (a Fastify instance does). */
export interface TestServiceApp {
  ready(): PromiseLike<unknown>;
  close(): PromiseLike<unknown>;
}

export interface TestServiceContext {
  db: TestDatabase;
  nats: TestNats;
  /** Registers something the test started beside the app (a fake upstream, a pool, a replica), closed before the app. */
  defer(close: () => unknown): void;
}

export interface TestService<Config, App extends TestServiceApp> {
  app: App;
  db: TestDatabase;
  nats: TestNats;
  config: Config;
  defer(close: () => unknown): void;
  /** Closes what was deferred (last first), then the app, then removes the stream and drops the database. */
  close(): Promise<void>;
}

/**
 * One service under test on a fresh database and fresh broker names (one per test file): makes its config from
 * them, builds the app and waits until it is ready. `natsUrl` points it at another NATS server (e.g. a private
 * one from `startNatsServer`). If the build fails, what was created is removed before the error is rethrown.
 */
export async function startTestService<Config, App extends TestServiceApp>(opts: {
  config(db: TestDatabase, nats: TestNats): Config;
  build(config: Config, ctx: TestServiceContext): Promise<App>;
  natsUrl?: string;
}): Promise<TestService<Config, App>> {
  const db = await createTestDatabase();
  let nats: TestNats;
  try {
    nats = opts.natsUrl ? await createTestNatsAt(opts.natsUrl) : await createTestNats();
  } catch (err) {
    await db.drop();
    throw err;
  }
  const deferred: Array<() => unknown> = [];
  const defer = (close: () => unknown) => void deferred.push(close);
  const removeInfrastructure = async () => {
    for (const close of deferred.splice(0).reverse()) await close();
    await nats.cleanup();
    await db.drop();
  };
  let app: App | undefined;
  let config: Config;
  try {
    config = opts.config(db, nats);
    app = await opts.build(config, { db, nats, defer });
    await app.ready();
  } catch (err) {
    await Promise.resolve(app?.close()).catch(() => {});
    await removeInfrastructure();
    throw err;
  }
  const built = app;
  return {
    app: built,
    db,
    nats,
    config,
    defer,
    async close() {
      for (const close of deferred.splice(0).reverse()) await close();
      await built.close();
      await nats.cleanup();
      await db.drop();
    },
  };
}
