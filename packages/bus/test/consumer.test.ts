import type { EventEnvelope } from '@glavito/contracts';
import { createTestNats, waitFor, type TestNats } from '@glavito/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  connectBus,
  createNatsBus,
  type EventBus,
  ensureDurableConsumer,
  ensureStream,
  PoisonMessageError,
  publishEvent,
  RetryLaterError,
  runConsumer,
  type Bus,
  type ConsumerHandle,
  type ConsumerOptions,
} from '../src/index.js';
import { makeEnvelope, readStream, silentLogger } from './helpers.js';

let nats: TestNats;
let bus: Bus;
let events: EventBus;
let stream: string;
let dlqStream: string;
let prefix: string;
const handles: ConsumerHandle[] = [];

beforeAll(async () => {
  nats = await createTestNats({ migrate: false });
  bus = await connectBus({ servers: nats.url, name: 'bus-consumer-test' });
  events = await createNatsBus({ servers: nats.url, name: 'bus-consumer-events' });
  prefix = nats.subjectPrefix;
  stream = `${nats.streamName}_EVENTS`;
  dlqStream = `${nats.streamName}_DLQ`;
  await ensureStream(bus.jsm, { name: stream, subjects: [`${prefix}.ev.>`] });
  // A second stream captures the dead-letter subjects so the test can read what was dead-lettered.
  await ensureStream(bus.jsm, { name: dlqStream, subjects: [`${prefix}.dlq.>`] });
});

afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop()));
});

afterAll(async () => {
  await bus?.nc.drain();
  await events?.close();
  await nats?.cleanup();
});

const MAX_DELIVER = 3;
// Far above the "terminated" waits below: a message that was not really terminated stays ack-pending.
const ACK_WAIT_MS = 20_000;

/** A durable filtered to one tenant's events, and a consumer on it with a short backoff. */
async function startConsumer(tenant: string, handler: ConsumerOptions['handler'], overrides: Partial<ConsumerOptions> = {}, ackWaitMs = ACK_WAIT_MS) {
  const durable = `d_${tenant}`;
  const deadLetterSubject = `${prefix}.dlq.${tenant}`;
  const spec = { stream, durable, filterSubject: `${prefix}.ev.${tenant}.>`, maxDeliver: MAX_DELIVER, ackWaitMs };
  await ensureDurableConsumer(bus.jsm, spec);
  await ensureDurableConsumer(bus.jsm, spec);
  const handle = await runConsumer({
    bus: events,
    stream,
    durable,
    logger: silentLogger,
    handler,
    maxDeliver: MAX_DELIVER,
    ackWaitMs,
    deadLetterSubject,
    backoffMs: () => 50,
    ...overrides,
  });
  handles.push(handle);
  return { durable, deadLetterSubject };
}

const publish = (env: EventEnvelope) => publishEvent(bus.js, `${prefix}.ev`, env);
const consumerInfo = (durable: string) => bus.jsm.consumers.info(stream, durable);
/** The durable has nothing left to deliver and nothing awaiting an ack. */
const settled = async (durable: string) => {
  const info = await consumerInfo(durable);
  return info.num_pending === 0 && info.num_ack_pending === 0;
};
const deadLettered = (subject: string) => readStream(bus.js, bus.jsm, dlqStream, subject);

describe('ensureDurableConsumer', () => {
  it('creates an explicit-ack durable once and keeps it on a second call', async () => {
    const spec = { stream, durable: 'd_ensure', filterSubject: `${prefix}.ev.ensure.>`, maxDeliver: 4, ackWaitMs: 2000 };
    await ensureDurableConsumer(bus.jsm, spec);
    await ensureDurableConsumer(bus.jsm, { ...spec, maxDeliver: 5 });
    const info = await consumerInfo('d_ensure');
    expect(info.config).toMatchObject({
      durable_name: 'd_ensure',
      ack_policy: 'explicit',
      filter_subject: `${prefix}.ev.ensure.>`,
      max_deliver: 5,
      ack_wait: 2000 * 1_000_000,
    });
  });
});

describe('runConsumer', () => {
  it('hands valid events to the handler in order and acks them', async () => {
    const sent = [1, 2, 3].map((sessionSeq) => makeEnvelope({ tenantId: 'ok', sessionSeq }));
    for (const env of sent) await publish(env);
    const seen: EventEnvelope[] = [];
    const { durable, deadLetterSubject } = await startConsumer('ok', async (event) => void seen.push(event));

    await waitFor(() => seen.length === 3, { message: 'three events handled' });
    await waitFor(() => settled(durable), { message: 'all acked' });
    expect(seen).toEqual(sent);
    const info = await consumerInfo(durable);
    expect(info.num_redelivered).toBe(0);
    expect(info.ack_floor.consumer_seq).toBe(3);
    expect(await deadLettered(deadLetterSubject)).toEqual([]);
  });

  it('redelivers after a transient failure, then acks', async () => {
    const env = makeEnvelope({ tenantId: 'transient' });
    await publish(env);
    const attempts: number[] = [];
    const { durable, deadLetterSubject } = await startConsumer('transient', async (_event, msg) => {
      attempts.push(msg.deliveryCount);
      if (attempts.length === 1) throw new Error('database briefly unavailable');
    });

    await waitFor(() => attempts.length === 2, { message: 'second attempt' });
    await waitFor(() => settled(durable), { message: 'acked after retry' });
    expect(attempts).toEqual([1, 2]);
    expect(await deadLettered(deadLetterSubject)).toEqual([]);
  });

  it('holds a message while a dependency is down (longer than its ack wait, more tries than maxDeliver), then handles it once', async () => {
    const env = makeEnvelope({ tenantId: 'outage' });
    const down = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const outageEnds = Date.now() + 3000;
    const calls: number[] = [];
    let handled = 0;
    const { durable, deadLetterSubject } = await startConsumer(
      'outage',
      async (_event, msg) => {
        calls.push(msg.deliveryCount);
        if (Date.now() < outageEnds) throw down;
        handled++;
      },
      { isTransient: (err) => (err as { code?: string }).code === 'ECONNREFUSED' },
      1000,
    );
    await publish(env);
    await waitFor(async () => handled === 1 && (await settled(durable)), { timeoutMs: 10_000, message: 'handled after the outage' });
    expect(calls.length).toBeGreaterThan(MAX_DELIVER);
    // One delivery throughout: the ack wait was kept alive and no try counted as a redelivery.
    expect(new Set(calls)).toEqual(new Set([1]));
    expect((await consumerInfo(durable)).num_redelivered).toBe(0);
    expect(await deadLettered(deadLetterSubject)).toEqual([]);
  });

  it('keeps a message whose handler runs longer than its ack wait from being redelivered meanwhile', async () => {
    const env = makeEnvelope({ tenantId: 'slow' });
    const calls: number[] = [];
    const { durable } = await startConsumer(
      'slow',
      async (_event, msg) => {
        calls.push(msg.deliveryCount);
        await new Promise((r) => setTimeout(r, 3500));
      },
      {},
      1000,
    );
    await publish(env);
    await waitFor(async () => calls.length === 1 && (await settled(durable)), { timeoutMs: 10_000, message: 'handled once' });
    expect(calls).toEqual([1]);
    expect((await consumerInfo(durable)).num_redelivered).toBe(0);
  });

  it('redelivers a RetryLaterError and acks once the handler succeeds', async () => {
    await publish(makeEnvelope({ tenantId: 'later' }));
    let calls = 0;
    const { durable, deadLetterSubject } = await startConsumer('later', async () => {
      calls += 1;
      if (calls === 1) throw new RetryLaterError('sequence gap', 20);
    });
    await waitFor(async () => calls === 2 && (await settled(durable)), { message: 'handled after retry-later' });
    expect(await deadLettered(deadLetterSubject)).toEqual([]);
  });

  it('dead-letters a message that keeps failing after maxDeliver attempts', async () => {
    const env = makeEnvelope({ tenantId: 'always' });
    await publish(env);
    const attempts: number[] = [];
    const { durable, deadLetterSubject } = await startConsumer('always', async (_event, msg) => {
      attempts.push(msg.deliveryCount);
      throw new Error('handler bug');
    });

    await waitFor(async () => (await deadLettered(deadLetterSubject)).length === 1, { message: 'dead-lettered' });
    await waitFor(() => settled(durable), { timeoutMs: 5000, message: 'terminated' });
    expect(attempts).toEqual([1, 2, 3]);
    const [dead] = await deadLettered(deadLetterSubject);
    const letter = JSON.parse(new TextDecoder().decode(dead!.data));
    expect(letter).toMatchObject({ deliveryCount: 3, reason: expect.stringContaining('handler bug') });
    expect(JSON.parse(letter.data)).toEqual(env);
  });

  it('dead-letters a PoisonMessageError on the first attempt', async () => {
    const env = makeEnvelope({ tenantId: 'poison' });
    await publish(env);
    let calls = 0;
    const { durable, deadLetterSubject } = await startConsumer('poison', async () => {
      calls += 1;
      throw new PoisonMessageError('unknown step id');
    });
    await waitFor(async () => (await deadLettered(deadLetterSubject)).length === 1, { message: 'dead-lettered' });
    await waitFor(() => settled(durable), { timeoutMs: 5000, message: 'terminated' });
    expect(calls).toBe(1);
    expect((await consumerInfo(durable)).num_redelivered).toBe(0);
  });

  it('dead-letters payloads that are not valid envelopes at once, without calling the handler', async () => {
    const subject = `${prefix}.ev.bad.session_1.session.paused`;
    const valid = makeEnvelope({ tenantId: 'bad' });
    const payloads = ['not json at all', JSON.stringify({ hello: 'world' }), JSON.stringify({ ...valid, data: { ...valid.data, status: 'sleeping' } })];
    for (const p of payloads) await bus.js.publish(subject, p);
    let calls = 0;
    const { durable, deadLetterSubject } = await startConsumer('bad', async () => {
      calls += 1;
    });

    await waitFor(async () => (await deadLettered(deadLetterSubject)).length === 3, { message: 'three dead letters' });
    await waitFor(() => settled(durable), { timeoutMs: 5000, message: 'terminated' });
    expect(calls).toBe(0);
    expect((await consumerInfo(durable)).num_redelivered).toBe(0);
    const dead = await deadLettered(deadLetterSubject);
    expect(dead.map((m) => JSON.parse(new TextDecoder().decode(m.data)).data)).toEqual(payloads);
  });

  it('acknowledges and counts an event of an unknown type or a newer version, never dead-letters it, and goes on with the next', async () => {
    const subject = (type: string) => `${prefix}.ev.newer.session_1.${type}`;
    const newerVersion = { ...makeEnvelope({ tenantId: 'newer', sessionSeq: 1 }), version: 99, data: { shape: 'of the future' } };
    const newerType = { ...makeEnvelope({ tenantId: 'newer', sessionSeq: 2 }), type: 'session.teleported', data: {} };
    await bus.js.publish(subject('session.paused'), JSON.stringify(newerVersion));
    await bus.js.publish(subject('session.teleported'), JSON.stringify(newerType));
    const next = makeEnvelope({ tenantId: 'newer', sessionSeq: 3 });
    await publish(next);
    const counted: Array<{ reason: string; type: string; version: number }> = [];
    const steppedOver: number[] = [];
    const seen: EventEnvelope[] = [];
    const { durable, deadLetterSubject } = await startConsumer('newer', async (event) => void seen.push(event), {
      countUnknown: (u) => void counted.push({ reason: u.reason, type: u.envelope.type, version: u.envelope.version }),
      onUnknown: async (u) => void steppedOver.push(u.envelope.sessionSeq),
    });

    await waitFor(() => seen.length === 1, { message: 'the known event after them handled' });
    await waitFor(() => settled(durable), { message: 'all three acked' });
    expect(seen).toEqual([next]);
    expect(counted).toEqual([
      { reason: 'unknown_version', type: 'session.paused', version: 99 },
      { reason: 'unknown_type', type: 'session.teleported', version: 1 },
    ]);
    expect(steppedOver).toEqual([1, 2]);
    expect((await consumerInfo(durable)).num_redelivered).toBe(0);
    expect(await deadLettered(deadLetterSubject)).toEqual([]);
  });

  it('acknowledges unread the events `reads` leaves out (even broken ones), and still reads and dead-letters the others', async () => {
    const subject = `${prefix}.ev.reads.session_1.session.paused`;
    const valid = (sessionSeq: number, status: string) => ({ ...makeEnvelope({ tenantId: 'reads', sessionSeq }), data: { ...makeEnvelope().data, status } });
    // The handler acts on paused sessions only; `reads` says so from the raw data.
    const ignoredBroken = { ...valid(1, 'active'), sessionSeq: 'not a number' };
    const readBroken = { ...valid(2, 'paused'), sessionSeq: 'not a number' };
    const readValid = valid(3, 'paused');
    for (const env of [ignoredBroken, readBroken, readValid]) await bus.js.publish(subject, JSON.stringify(env));
    const seen: number[] = [];
    const { durable, deadLetterSubject } = await startConsumer('reads', async (event) => void seen.push(event.sessionSeq), {
      reads: (type, data) => type === 'session.paused' && data.status === 'paused',
    });

    await waitFor(() => seen.length === 1, { message: 'the valid event read' });
    await waitFor(() => settled(durable), { message: 'all three settled' });
    expect(seen).toEqual([3]);
    const dead = await deadLettered(deadLetterSubject);
    expect(dead.map((m) => JSON.parse(JSON.parse(new TextDecoder().decode(m.data)).data).data.status)).toEqual(['paused']);
    expect((await consumerInfo(durable)).num_redelivered).toBe(0);
  });

  it('hands an older version of an event to the handler upcast to the latest version', async () => {
    const result = {
      id: 'run-1',
      channel: 'webhook',
      status: 'success',
      message: 'ok',
      details: {},
      checks: [],
      responseTime: 12,
      timestamp: '2026-06-01T10:00:00.000Z',
    };
    const v1 = {
      ...makeEnvelope({ tenantId: 'older', sessionSeq: 1 }),
      type: 'connection.tested',
      version: 1,
      data: { result: { ...result, extra: 'ignored' } },
    };
    await bus.js.publish(`${prefix}.ev.older.session_1.connection.tested`, JSON.stringify(v1));
    const seen: EventEnvelope[] = [];
    const { durable } = await startConsumer('older', async (event) => void seen.push(event));
    await waitFor(() => seen.length === 1, { message: 'handled' });
    await waitFor(() => settled(durable), { message: 'acked' });
    expect(seen[0]).toMatchObject({ type: 'connection.tested', version: 2, data: { result } });
    expect((seen[0]!.data as { result: object }).result).not.toHaveProperty('extra');
  });

  it('stops pulling after stop()', async () => {
    let calls = 0;
    const { durable } = await startConsumer('stopped', async () => {
      calls += 1;
    });
    await publish(makeEnvelope({ tenantId: 'stopped', sessionSeq: 1 }));
    await waitFor(() => calls === 1, { message: 'first event handled' });
    await handles.pop()!.stop();
    await publish(makeEnvelope({ tenantId: 'stopped', sessionSeq: 2 }));
    // The server may still hand it to the closed subscription's last pull (then it waits for ack_wait);
    // either way it is not handled.
    await waitFor(
      async () => {
        const info = await consumerInfo(durable);
        return info.num_pending + info.num_ack_pending === 1;
      },
      { message: 'second event waits in the durable' },
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toBe(1);
  });

  describe('batches', () => {
    const sessionOf = (e: EventEnvelope) => e.sessionId;

    it('hands the events a batch takes to its handler together, in order, and acks them', async () => {
      const sent = [1, 2, 3, 4, 5, 6].map((sessionSeq) => makeEnvelope({ tenantId: 'batched', sessionId: `s${sessionSeq % 2}`, sessionSeq }));
      for (const env of sent) await publish(env);
      const batches: EventEnvelope[][] = [];
      const alone: EventEnvelope[] = [];
      const { durable, deadLetterSubject } = await startConsumer('batched', async (event) => void alone.push(event), {
        batch: { takes: () => true, keyOf: sessionOf, lingerMs: 300, handler: async (events) => void batches.push(events) },
      });
      await waitFor(() => batches.flat().length === 6, { message: 'six events batched' });
      await waitFor(() => settled(durable), { message: 'all acked' });
      expect(batches.flat()).toEqual(sent);
      expect(batches.length).toBeLessThan(6);
      expect(alone).toEqual([]);
      expect((await consumerInfo(durable)).num_redelivered).toBe(0);
      expect(await deadLettered(deadLetterSubject)).toEqual([]);
    });

    it('an event handled alone waits for the batches holding its key, and only for those', async () => {
      // sessionSeq >= 100: handled alone. a1 and b1 are batched (a long linger); c2 (key c) goes first, as nothing
      // batched is of its key; a2 (key a) has the batch run at once and waits for it.
      const [a1, b1, c2, a2] = [
        makeEnvelope({ tenantId: 'keyed', sessionId: 'a', sessionSeq: 1 }),
        makeEnvelope({ tenantId: 'keyed', sessionId: 'b', sessionSeq: 1 }),
        makeEnvelope({ tenantId: 'keyed', sessionId: 'c', sessionSeq: 100 }),
        makeEnvelope({ tenantId: 'keyed', sessionId: 'a', sessionSeq: 100 }),
      ];
      for (const env of [a1!, b1!, c2!, a2!]) await publish(env);
      const log: string[] = [];
      const { durable } = await startConsumer('keyed', async (event) => void log.push(`alone ${event.sessionId}`), {
        batch: {
          takes: (e) => e.sessionSeq < 100,
          keyOf: sessionOf,
          lingerMs: 10_000,
          handler: async (events) => {
            log.push(`batch ${events.map(sessionOf).join('')} started`);
            await new Promise((r) => setTimeout(r, 200));
            log.push('batch done');
          },
        },
      });
      await waitFor(() => settled(durable), { message: 'all acked' });
      expect(log).toEqual(['alone c', 'batch ab started', 'batch done', 'alone a']);
    });

    it('while a dependency is down (longer than the ack wait), a failed batch holds its events in turn and none is redelivered', async () => {
      const sent = [1, 2, 3].map((sessionSeq) => makeEnvelope({ tenantId: 'batchoutage', sessionId: `s${sessionSeq}`, sessionSeq }));
      const down = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      const outageEnds = Date.now() + 3000;
      const handled: EventEnvelope[] = [];
      const deliveries: number[] = [];
      const { durable, deadLetterSubject } = await startConsumer(
        'batchoutage',
        async (event, msg) => {
          deliveries.push(msg.deliveryCount);
          if (Date.now() < outageEnds) throw down;
          handled.push(event);
        },
        {
          isTransient: (err) => (err as { code?: string }).code === 'ECONNREFUSED',
          batch: {
            takes: () => true,
            keyOf: sessionOf,
            lingerMs: 100,
            handler: async (events) => {
              if (Date.now() < outageEnds) throw down;
              handled.push(...events);
            },
          },
        },
        1000,
      );
      for (const env of sent) await publish(env);
      await waitFor(async () => handled.length >= 3 && (await settled(durable)), { timeoutMs: 15_000, message: 'handled after the outage' });
      // A redelivered copy would come back through a batch after the outage and be handled a second time.
      await new Promise((r) => setTimeout(r, 500));
      expect(handled).toEqual(sent);
      // The second and third waited behind the first (held for 3 s, three ack waits) without being redelivered.
      expect(new Set(deliveries)).toEqual(new Set([1]));
      expect((await consumerInfo(durable)).num_redelivered).toBe(0);
      expect(await deadLettered(deadLetterSubject)).toEqual([]);
    });

    it('a batch whose handler fails goes through the one-by-one handler, event by event', async () => {
      const sent = [1, 2, 3].map((sessionSeq) => makeEnvelope({ tenantId: 'batchfail', sessionSeq }));
      for (const env of sent) await publish(env);
      const alone: EventEnvelope[] = [];
      let tries = 0;
      const { durable, deadLetterSubject } = await startConsumer('batchfail', async (event) => void alone.push(event), {
        batch: {
          takes: () => true,
          keyOf: sessionOf,
          lingerMs: 200,
          handler: async () => {
            tries += 1;
            throw new Error('one event of the batch is bad');
          },
        },
      });
      await waitFor(() => alone.length === 3, { message: 'each event handled alone' });
      await waitFor(() => settled(durable), { message: 'all acked' });
      expect(tries).toBeGreaterThanOrEqual(1);
      expect(alone).toEqual(sent);
      expect(await deadLettered(deadLetterSubject)).toEqual([]);
    });
  });
});
