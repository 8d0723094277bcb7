import { brokerState, jetStreamConfig, migrateBroker } from '@glavito/broker';
import { createTestNats, type TestNats } from '@glavito/testkit';
import { jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkEventStreams, createNatsBus, ensureDurableConsumer, requireBucket, type EventBus } from '../src/index.js';
import { busPlugin } from '../src/plugin.js';

let nats: TestNats;
let bus: EventBus & { nc: unknown };

beforeAll(async () => {
  // The kit applies the broker state for this file's names; these tests migrate again on purpose.
  nats = await createTestNats();
  bus = await createNatsBus({ servers: nats.url, name: 'broker-migrate-test' });
});
afterAll(async () => {
  await bus?.close();
  await nats?.cleanup();
});

describe('migrateBroker (pnpm bus:migrate)', () => {
  it('creates every stream and bucket of the definition, and a second run changes nothing', async () => {
    const state = brokerState(nats.brokerSettings);
    const jsm = await jetstreamManager(nats.nc);
    for (const def of state.streams) {
      const { config } = await jsm.streams.info(def.name);
      expect(config).toMatchObject(jetStreamConfig(def));
    }
    for (const b of state.buckets) expect(await bus.bucketInfo(b.bucket)).toEqual({ ttlMs: b.ttlMs, replicas: 1 });
    const again = await migrateBroker(nats.nc, state);
    expect(again.filter((s) => s.kind !== 'seed').every((s) => s.action === 'unchanged')).toBe(true);
  });

  it('brings changed limits up to date without losing messages, and says what changed', async () => {
    const js = jetstream(nats.nc);
    await js.publish(`${nats.subjectPrefix}.t.s.step.updated`, 'kept', { msgID: 'kept-1' });
    const steps = await migrateBroker(nats.nc, brokerState({ ...nats.brokerSettings, EVENT_RETENTION: 3_600_000, PRESENCE_TTL: 10_000 }));
    const stream = steps.find((s) => s.name === nats.streamName)!;
    expect(stream.action).toBe('updated');
    expect(stream.changes?.join()).toMatch(/max_age 604800000000000 → 3600000000000/);
    expect(steps.find((s) => s.name === nats.presenceBucket)?.action).toBe('updated');
    expect(await bus.bucketInfo(nats.presenceBucket)).toMatchObject({ ttlMs: 10_000 });
    const info = await bus.streamInfo(nats.streamName);
    expect(info).toMatchObject({ maxAgeMs: 3_600_000 });
    expect((await (await jetstreamManager(nats.nc)).streams.info(nats.streamName)).state.messages).toBe(1);
    // What a service of the previous settings sees: a mismatch, named; nothing is changed by looking.
    expect(await checkEventStreams(bus, nats.brokerSettings)).toEqual([`stream ${nats.streamName} keeps messages 3600000 ms, expected 604800000 ms`]);
    expect(await requireBucket(bus, nats.presenceBucket, 30_000)).toEqual([`KV bucket ${nats.presenceBucket} keeps entries 10000 ms, expected 30000 ms`]);
    expect(await bus.streamInfo(nats.streamName)).toEqual(info);
    await nats.migrate();
    expect(await checkEventStreams(bus, nats.brokerSettings)).toEqual([]);
  });

  it('a service finds a missing stream or bucket an error that names the fix', async () => {
    const settings = { ...nats.brokerSettings, EVENT_STREAM: `${nats.streamName}_NONE` };
    await expect(checkEventStreams(bus, settings)).rejects.toThrow(/stream .*_NONE does not exist.*pnpm bus:migrate/);
    await expect(requireBucket(bus, `${nats.streamName}_nobucket`)).rejects.toThrow(/KV bucket .*_nobucket does not exist/);
  });

  it('upgrades the progress durables once: the session-event durable starts after the old durable’s ack floor', async () => {
    const js = jetstream(nats.nc);
    const jsm = await jetstreamManager(nats.nc);
    const settings = { ...nats.brokerSettings, PROGRESS_CONSUMER: 'old_progress' };
    await ensureDurableConsumer(jsm, { stream: nats.streamName, durable: 'old_progress', filterSubject: `${nats.subjectPrefix}.>` });
    for (let i = 0; i < 5; i++) await js.publish(`${nats.subjectPrefix}.t.s${i}.session.started`, String(i), { msgID: `seed-${i}` });
    const old = await js.consumers.get(nats.streamName, 'old_progress');
    let acked = 0;
    for await (const m of (await old.fetch({ max_messages: 3, expires: 1000 })) as AsyncIterable<JsMsg>) {
      await m.ackAck();
      if (++acked === 3) break;
    }
    const floor = await bus.ackFloor(nats.streamName, 'old_progress');
    expect(floor).toBeGreaterThan(0);
    const steps = await migrateBroker(nats.nc, brokerState(settings));
    expect(steps.find((s) => s.kind === 'seed')).toMatchObject({ action: 'created', name: `${nats.streamName}/old_progress_sessions` });
    const seeded = await jsm.consumers.info(nats.streamName, 'old_progress_sessions');
    expect(seeded.config.opt_start_seq).toBe(floor! + 1);
    expect(seeded.config.filter_subject).toBe(`${nats.subjectPrefix}.*.*.session.>`);
    // Once it exists, later migrations leave it alone.
    expect((await migrateBroker(nats.nc, brokerState(settings))).find((s) => s.kind === 'seed')?.action).toBe('unchanged');
  });
});

describe('a service booting (busPlugin)', () => {
  const boot = async (overrides: Record<string, unknown> = {}) => {
    const lines: string[] = [];
    const app = Fastify({ logger: { level: 'error', stream: { write: (l: string) => void lines.push(l) } } });
    const config = {
      NATS_URL: nats.url,
      EVENT_STREAM: nats.streamName,
      EVENT_SUBJECT_PREFIX: nats.subjectPrefix,
      EVENT_RETENTION: 7 * 86_400_000,
      DEAD_LETTER_PREFIX: nats.dlqPrefix,
      ...overrides,
    };
    await app.register(busPlugin, { name: 'boot-test', config });
    return { app, lines, ready: async () => (await app.ready(), app.bus.isReady()) };
  };

  it('is ready and changes nothing when the broker state matches', async () => {
    await nats.migrate();
    const before = await bus.streamInfo(nats.streamName);
    const { app, ready } = await boot();
    expect(await ready()).toBe(true);
    expect(await bus.streamInfo(nats.streamName)).toEqual(before);
    await app.close();
  });

  it('stays not ready, with one log line naming bus:migrate, when its release expects other limits; the stream stays as the migration made it', async () => {
    await nats.migrate({ EVENT_RETENTION: '1h' });
    const { app, lines, ready } = await boot();
    expect(await ready()).toBe(false);
    expect(lines.join('')).toMatch(/broker state does not match this release \(stream .* keeps messages 3600000 ms, expected 604800000 ms\).*bus:migrate/);
    expect(await bus.streamInfo(nats.streamName)).toMatchObject({ maxAgeMs: 3_600_000 });
    await app.close();
    await nats.migrate();
  });

  it('fails the boot, naming bus:migrate, when its stream does not exist', async () => {
    await expect(boot({ EVENT_STREAM: `${nats.streamName}_ABSENT` }).then((b) => b.ready())).rejects.toThrow(/_ABSENT does not exist.*bus:migrate/);
  });
});
