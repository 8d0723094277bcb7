import { afterEach, describe, expect, it } from 'vitest';
import { BusRequestError, type DeliveredMessage, type EventBus } from '@glavito/bus';
// The one suite every EventBus adapter passes; it lives beside the interface and the NATS adapter.
import { describeEventBusContract } from '../../bus/test/event-bus.contract.js';
import { createMemoryBus } from '../src/memory-bus.js';

describeEventBusContract('memory', async () => {
  const bus = createMemoryBus();
  return { bus, prefix: 'mem', stream: 'MEM', cleanup: () => bus.close() };
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const text = (d: Uint8Array) => new TextDecoder().decode(d);

async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Behaviour specific to the in-process adapter (embedded mode), beyond the shared contract. */
describe('memory bus specifics', () => {
  const buses: EventBus[] = [];
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()));
  });

  async function busWithStream(opts: { now?: () => number; maxAgeMs?: number; duplicateWindowMs?: number } = {}): Promise<EventBus> {
    const bus = createMemoryBus({ now: opts.now });
    buses.push(bus);
    await bus.ensureStream({ name: 'S', subjects: ['ev.>'], maxAgeMs: opts.maxAgeMs, duplicateWindowMs: opts.duplicateWindowMs });
    return bus;
  }

  it('resolves publish before any handler runs', async () => {
    const bus = await busWithStream();
    await bus.ensureDurable({ stream: 'S', durable: 'd', filterSubject: 'ev.>' });
    const calls: string[] = [];
    await bus.consumeDurable('S', 'd', async (m) => {
      calls.push('durable');
      m.ack();
    });
    await bus.consumeNew('S', 'ev.>', () => void calls.push('live'));
    await bus.publish('ev.1', 'x', 'x');
    expect(calls).toEqual([]);
    await waitFor(() => calls.length === 2, 'both handlers');
  });

  it('delivers a durable’s backlog to one worker in stream order', async () => {
    const bus = await busWithStream();
    for (let i = 0; i < 50; i++) await bus.publish(`ev.${i % 3}`, String(i), `id-${i}`);
    await bus.ensureDurable({ stream: 'S', durable: 'd', filterSubject: 'ev.>' });
    const seqs: number[] = [];
    await bus.consumeDurable('S', 'd', async (m) => {
      seqs.push(m.seq);
      m.ack();
    });
    await waitFor(() => seqs.length === 50, 'the backlog');
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it('does not redeliver a message while the handler of its previous delivery still runs; a late ack counts', async () => {
    const bus = await busWithStream();
    await bus.ensureDurable({ stream: 'S', durable: 'd', filterSubject: 'ev.>', ackWaitMs: 100 });
    await bus.publish('ev.slow', 'x', 'slow');
    const got: number[] = [];
    const worker = async (m: DeliveredMessage) => {
      got.push(m.deliveryCount);
      await sleep(400); // 4 × ackWait
      m.ack();
    };
    await bus.consumeDurable('S', 'd', worker);
    await bus.consumeDurable('S', 'd', worker);
    await sleep(800);
    expect(got).toEqual([1]);
    expect(await bus.pendingFor('S', 'd')).toBe(0);
  });

  it('redelivers, once its handler returns, a message whose ackWait expired while it ran', async () => {
    const bus = await busWithStream();
    await bus.ensureDurable({ stream: 'S', durable: 'd', filterSubject: 'ev.>', ackWaitMs: 100 });
    await bus.publish('ev.slow', 'x', 'slow');
    const got: Array<{ n: number; at: number }> = [];
    const started = Date.now();
    await bus.consumeDurable('S', 'd', async (m) => {
      got.push({ n: m.deliveryCount, at: Date.now() - started });
      if (m.deliveryCount === 1) await sleep(400);
      else m.ack();
    });
    await waitFor(() => got.length === 2, 'the redelivery');
    expect(got.map((g) => g.n)).toEqual([1, 2]);
    expect(got[1]!.at).toBeGreaterThanOrEqual(390);
  });

  it('treats a handler that throws without settling like one that forgot: redelivery after ackWait', async () => {
    const bus = await busWithStream();
    await bus.ensureDurable({ stream: 'S', durable: 'd', filterSubject: 'ev.>', ackWaitMs: 150 });
    await bus.publish('ev.1', 'x', 'x');
    const got: number[] = [];
    await bus.consumeDurable('S', 'd', async (m) => {
      got.push(m.deliveryCount);
      if (m.deliveryCount === 1) throw new Error('boom');
      m.ack();
    });
    await waitFor(() => got.length === 2, 'the redelivery');
    expect(got).toEqual([1, 2]);
  });

  it('uses the NATS adapter defaults: maxDeliver 10', async () => {
    const bus = await busWithStream();
    await bus.ensureDurable({ stream: 'S', durable: 'd', filterSubject: 'ev.>' });
    await bus.publish('ev.1', 'x', 'x');
    let n = 0;
    await bus.consumeDurable('S', 'd', async (m) => {
      n = m.deliveryCount;
      m.nak();
    });
    await sleep(300);
    expect(n).toBe(10);
    expect(await bus.pendingFor('S', 'd')).toBe(0);
  });

  it('gives queue-group members requests in turn', async () => {
    const bus = await busWithStream();
    for (const id of ['A', 'B', 'C']) bus.serve('rpc.x', 'q', async () => id);
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push(await bus.request('rpc.x', '', 1000));
    expect(answers).toEqual(['A', 'B', 'C', 'A', 'B', 'C']);
  });

  it('serves wildcard subjects and answers an error reply when the handler fails', async () => {
    const bus = await busWithStream();
    bus.serve('rpc.*.get', 'q', async (p) => {
      if (p === 'bad') throw new Error('nope');
      return `ok:${p}`;
    });
    expect(await bus.request('rpc.users.get', 'x', 1000)).toBe('ok:x');
    expect(JSON.parse(await bus.request('rpc.users.get', 'bad', 1000))).toEqual({ error: 'internal error' });
  });

  it('follows its clock for the duplicate window, retention and KV expiry', async () => {
    let t = 1_000_000;
    const bus = await busWithStream({ now: () => t, maxAgeMs: 10_000, duplicateWindowMs: 1000 });
    expect((await bus.publish('ev.1', 'a', 'same')).duplicate).toBe(false);
    t += 999;
    expect((await bus.publish('ev.1', 'b', 'same')).duplicate).toBe(true);
    t += 2;
    expect((await bus.publish('ev.1', 'c', 'same')).duplicate).toBe(false);
    expect(await bus.readSince('S', 'ev.>', new Date(t - 1))).toHaveLength(1);
    t += 9_999;
    expect((await bus.readSince('S', 'ev.>', new Date(0))).map((m) => text(m.data))).toEqual(['c']);
    t += 2;
    expect(await bus.readSince('S', 'ev.>', new Date(0))).toEqual([]);

    const kv = await bus.keyValue('B', 500);
    await kv.put('k', 'v');
    t += 499;
    expect(await kv.get('k')).toBe('v');
    t += 1;
    expect(await kv.get('k')).toBeNull();
  });

  it('holds no more than the retention window, and durables skip what retention dropped', async () => {
    let t = 0;
    const bus = await busWithStream({ now: () => t, maxAgeMs: 1000, duplicateWindowMs: 100 });
    await bus.ensureDurable({ stream: 'S', durable: 'd', filterSubject: 'ev.>' });
    for (let i = 0; i < 5000; i++) {
      t += 1;
      await bus.publish('ev.x', String(i), `id-${i}`);
    }
    const kept = await bus.readSince('S', 'ev.>', new Date(0));
    expect(kept).toHaveLength(1001);
    expect(await bus.pendingFor('S', 'd')).toBe(1001);
    const first: string[] = [];
    await bus.consumeDurable('S', 'd', async (m) => {
      first.push(text(m.data));
      m.ack();
    });
    await waitFor(() => first.length === 1001, 'the retained messages');
    expect(first[0]).toBe('3999');
  });

  it('moves a few thousand messages a second through shared durables', async () => {
    const bus = await busWithStream();
    await bus.ensureDurable({ stream: 'S', durable: 'd', filterSubject: 'ev.>' });
    let handled = 0;
    for (let w = 0; w < 3; w++) {
      await bus.consumeDurable('S', 'd', async (m) => {
        handled++;
        m.ack();
      });
    }
    const started = Date.now();
    for (let i = 0; i < 5000; i++) await bus.publish(`ev.${i % 10}`, `{"i":${i}}`, `id-${i}`);
    await waitFor(() => handled === 5000, 'all messages', 10_000);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await bus.pendingFor('S', 'd')).toBe(0);
  });

  it('rejects streams whose subjects overlap another stream’s, and invalid names', async () => {
    const bus = await busWithStream();
    await expect(bus.ensureStream({ name: 'T', subjects: ['ev.*.x'] })).rejects.toThrow(/overlap/);
    await bus.ensureStream({ name: 'S', subjects: ['ev.>', 'more.>'] }); // updating itself is fine
    await expect(bus.ensureStream({ name: 'a.b', subjects: ['z.>'] })).rejects.toThrow(/stream name/);
    await expect(bus.publish('ev.*', 'x', 'w')).rejects.toThrow(/subject/);
    const kv = await bus.keyValue('B', 1000);
    await expect(kv.put('bad key', 'x')).rejects.toThrow(/key/);
    await expect(bus.keyValue('bad.bucket', 1000)).rejects.toThrow(/bucket/);
  });

  it('rejects unknown streams and durables', async () => {
    const bus = await busWithStream();
    await expect(bus.ensureDurable({ stream: 'NOPE', durable: 'd', filterSubject: 'ev.>' })).rejects.toThrow(/not found/);
    await expect(bus.consumeDurable('S', 'nope', async () => {})).rejects.toThrow(/not found/);
    await expect(bus.pendingFor('S', 'nope')).rejects.toThrow(/not found/);
    await expect(bus.readSince('NOPE', '>', new Date(0))).rejects.toThrow(/not found/);
    await expect(bus.consumeNew('NOPE', '>', () => {})).rejects.toThrow(/not found/);
  });

  it('stops everything on close and rejects further use', async () => {
    const bus = await busWithStream();
    await bus.ensureDurable({ stream: 'S', durable: 'd', filterSubject: 'ev.>', ackWaitMs: 50 });
    let deliveries = 0;
    await bus.consumeDurable('S', 'd', async () => {
      deliveries++; // never settles: would be redelivered every 50 ms
    });
    bus.serve('rpc.slow', 'q', () => new Promise(() => {}));
    const inFlight = bus.request('rpc.slow', '', 60_000);
    await bus.publish('ev.1', 'x', 'x');
    await waitFor(() => deliveries === 1, 'the delivery');
    await bus.close();
    await expect(inFlight).rejects.toThrow(/closed/);
    await sleep(200);
    expect(deliveries).toBe(1);
    expect(bus.isReady()).toBe(false);
    await expect(bus.publish('ev.2', 'x', 'y')).rejects.toThrow(/closed/);
    await expect(bus.request('rpc.slow', '', 100)).rejects.not.toBeInstanceOf(BusRequestError);
    await expect(bus.keyValue('B', 1000)).rejects.toThrow(/closed/);
    expect(() => bus.serve('rpc.x', 'q', async () => '')).toThrow(/closed/);
    await bus.close(); // idempotent
  });
});
