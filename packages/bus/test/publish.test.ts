import { parseEvent, sessionSubjectFilter } from '@glavito/contracts';
import { createTestNats, type TestNats } from '@glavito/testkit';
import { RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, createNatsBus, ensureStream, publishEvent, type Bus } from '../src/index.js';
import { decode, makeEnvelope, readStream, streamCount } from './helpers.js';

let nats: TestNats;
let bus: Bus;
let stream: string;
let prefix: string;

beforeAll(async () => {
  nats = await createTestNats({ migrate: false });
  bus = await connectBus({ servers: nats.url, name: 'bus-publish-test' });
  stream = `${nats.streamName}_PUB`;
  prefix = `${nats.subjectPrefix}.pub`;
});

afterAll(async () => {
  await bus?.nc.drain();
  await nats?.cleanup();
});

describe('connectBus', () => {
  it('fails loudly when NATS is unreachable', async () => {
    await expect(connectBus({ servers: 'nats://127.0.0.1:1', name: 'unreachable', timeoutMs: 500 })).rejects.toThrow();
  });
});

describe('ensureStream', () => {
  it('creates the stream and is idempotent', async () => {
    const spec = { name: stream, subjects: [`${prefix}.>`], maxAgeMs: 3_600_000, duplicateWindowMs: 60_000 };
    await ensureStream(bus.jsm, spec);
    await ensureStream(bus.jsm, spec);

    const info = await bus.jsm.streams.info(stream);
    expect(info.config).toMatchObject({
      name: stream,
      subjects: [`${prefix}.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: 3_600_000 * 1_000_000,
      duplicate_window: 60_000 * 1_000_000,
    });
    expect(info.state.messages).toBe(0);
    const names: string[] = [];
    for await (const s of bus.jsm.streams.list()) if (s.config.name === stream) names.push(s.config.name);
    expect(names).toEqual([stream]);
  });

  it('updates the limits of an existing stream without losing its messages', async () => {
    await publishEvent(bus.js, prefix, makeEnvelope({ tenantId: 'keep' }));
    await ensureStream(bus.jsm, { name: stream, subjects: [`${prefix}.>`], maxAgeMs: 7_200_000, duplicateWindowMs: 60_000 });
    const info = await bus.jsm.streams.info(stream);
    expect(info.config.max_age).toBe(7_200_000 * 1_000_000);
    expect(info.state.messages).toBe(1);
  });

  it('is safe when two replicas ensure the same stream at once', async () => {
    const spec = { name: `${stream}_RACE`, subjects: [`${prefix}_race.>`] };
    await Promise.all([ensureStream(bus.jsm, spec), ensureStream(bus.jsm, spec), ensureStream(bus.jsm, spec)]);
    expect((await bus.jsm.streams.info(spec.name)).config.subjects).toEqual([`${prefix}_race.>`]);
  });
});

describe('publishEvent', () => {
  it('publishes to <prefix>.<tenant>.<session>.<type> with the event id as msgID', async () => {
    const env = makeEnvelope({ tenantId: 'tenant_subject', sessionId: 'sess_a', sessionSeq: 1 });
    const ack = await publishEvent(bus.js, prefix, env);
    expect(ack).toMatchObject({ stream, duplicate: false });

    const msgs = await readStream(bus.js, bus.jsm, stream, sessionSubjectFilter(prefix, 'tenant_subject', 'sess_a'));
    expect(msgs).toHaveLength(1);
    const [msg] = msgs;
    expect(msg!.subject).toBe(`${prefix}.tenant_subject.sess_a.session.paused`);
    expect(msg!.headers?.get('Nats-Msg-Id')).toBe(env.id);
    expect(parseEvent(decode(msg!))).toEqual(env);
  });

  it('dedupes the same envelope by msgID', async () => {
    const env = makeEnvelope({ tenantId: 'tenant_dedupe' });
    const before = await streamCount(bus.jsm, stream);
    const first = await publishEvent(bus.js, prefix, env);
    const second = await publishEvent(bus.js, prefix, env);

    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);
    expect(await streamCount(bus.jsm, stream)).toBe(before + 1);
    expect(await readStream(bus.js, bus.jsm, stream, `${prefix}.tenant_dedupe.>`)).toHaveLength(1);
  });

  it('refuses an envelope that breaks its contract, and publishes nothing', async () => {
    const before = await streamCount(bus.jsm, stream);
    const env = makeEnvelope({ tenantId: 'tenant_bad' });
    await expect(publishEvent(bus.js, prefix, { ...env, tenantId: 'has.dot' })).rejects.toThrow();
    await expect(publishEvent(bus.js, prefix, { ...env, data: { ...env.data, status: 'nope' } } as never)).rejects.toThrow();
    expect(await streamCount(bus.jsm, stream)).toBe(before);
  });
});

describe('EventBus.publish on NATS', () => {
  it('fails when nothing acknowledges in time, when the answer is no ack, and when no stream listens', async () => {
    const events = await createNatsBus({ servers: nats.url, name: 'bus-publish-acks', timeoutMs: 300 });
    // Subjects no other test's stream takes.
    const at = `${nats.subjectPrefix}.acks`;
    try {
      // A plain subscriber instead of a stream: the message is delivered, nobody acks it.
      const silent = bus.nc.subscribe(`${at}.silent`);
      const garbled = bus.nc.subscribe(`${at}.garbled`, { callback: (_err, msg) => void msg.respond('not json') });
      await bus.nc.flush();
      await expect(events.publish(`${at}.silent`, 'x', 'silent-1')).rejects.toThrow(/timeout/i);
      await expect(events.publish(`${at}.garbled`, 'x', 'garbled-1')).rejects.toThrow();
      await expect(events.publish(`${at}.nobody`, 'x', 'nobody-1')).rejects.toThrow(/jetstream is not enabled/);
      silent.unsubscribe();
      garbled.unsubscribe();
      // Many in flight at once each get their own ack.
      await ensureStream(bus.jsm, { name: `${stream}_ACKS`, subjects: [`${at}.acked.>`] });
      const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => events.publish(`${at}.acked.${i % 7}`, `m${i}`, `acked-${i}`)));
      expect(acks.map((a) => a.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(acks.every((a) => !a.duplicate)).toBe(true);
    } finally {
      await events.close();
    }
  });
});
