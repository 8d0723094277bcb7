import { jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminDatabaseUrl, createTestNats, startTestService, TEST_JWT_SECRET, type TestNats } from '../src/index.js';

let admin: pg.Pool;
let probe: TestNats;
beforeAll(async () => {
  admin = new pg.Pool({ connectionString: await adminDatabaseUrl(), max: 1 });
  probe = await createTestNats({ migrate: false });
});
afterAll(async () => {
  await admin?.end();
  await probe?.cleanup();
});

const databaseExists = async (name: string) => (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
const streamExists = async (name: string) =>
  (await jetstreamManager(probe.nc)).streams.info(name).then(
    () => true,
    () => false,
  );

describe('startTestService', () => {
  it('builds the service from the env of its own database and stream, and closes what was deferred, then the app, then removes both', async () => {
    const order: string[] = [];
    const service = await startTestService({
      config: (db, nats) => ({ url: db.url, stream: nats.streamName, prefix: nats.subjectPrefix, secret: TEST_JWT_SECRET }),
      async build(config, { defer }) {
        defer(() => order.push('fake upstream'));
        return { ready: async () => void order.push('ready'), close: async () => void order.push('app') };
      },
    });
    service.defer(() => order.push('replica'));
    expect(service.config).toEqual({ url: service.db.url, stream: service.nats.streamName, prefix: service.nats.subjectPrefix, secret: TEST_JWT_SECRET });
    expect(await databaseExists(service.db.name)).toBe(true);
    expect(await streamExists(service.nats.streamName)).toBe(true);

    await service.close();
    expect(order).toEqual(['ready', 'replica', 'fake upstream', 'app']);
    expect(await databaseExists(service.db.name)).toBe(false);
    expect(await streamExists(service.nats.streamName)).toBe(false);
  });

  it('removes the database, the stream and what was deferred when the app fails to start', async () => {
    let seen: { db: string; stream: string } | undefined;
    let fakeClosed = false;
    await expect(
      startTestService({
        config: (db, nats) => ({ db: db.name, stream: nats.streamName }),
        async build(config, { defer }) {
          seen = config;
          defer(() => (fakeClosed = true));
          return { ready: () => Promise.reject(new Error('boot failed')), close: async () => {} };
        },
      }),
    ).rejects.toThrow('boot failed');
    expect(fakeClosed).toBe(true);
    expect(await databaseExists(seen!.db)).toBe(false);
    expect(await streamExists(seen!.stream)).toBe(false);
  });
});
