import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BusRequestError, type DeliveredMessage, type EventBus, type Stoppable, type StoredMessage } from '../src/event-bus.js';

/**
 * The behaviour every EventBus adapter promises (see src/event-bus.ts), as one suite that each
 * adapter's test file runs with its own factory.
 *
 * The factory is called before every test and must give a fresh bus plus names unique to that call:
 * `prefix` for subjects and `stream` for stream names. The suite creates `stream` on `<prefix>.ev.>`
 * and, where a test needs other limits, streams named `<stream>_<SUFFIX>` on other `<prefix>.*.>`
 * subjects; request/reply uses `<prefix>.rpc.*` (no stream takes it) and KV buckets are named
 * `<stream>_<SUFFIX>`. `cleanup` removes all of that and closes the bus.
 */
export interface EventBusContractFixture {
  bus: EventBus;
  prefix: string;
  stream: string;
  cleanup(): Promise<void>;
}

const decoder = new TextDecoder();
const text = (data: Uint8Array) => decoder.decode(data);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Resolves with the value of `until` once `poll` returns it, else fails with the last value seen. */
async function eventually<T>(poll: () => Promise<T>, until: T, what: string, timeoutMs = 5000): Promise<void> {
  let last: T | undefined;
  await waitFor(
    async () => {
      last = await poll();
      return last === until;
    },
    `${what} to be ${String(until)}`,
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(`${err.message} (last: ${String(last)})`);
  });
}

interface Delivery {
  subject: string;
  seq: number;
  data: string;
  deliveryCount: number;
  at: number;
}

const record = (m: DeliveredMessage): Delivery => ({ subject: m.subject, seq: m.seq, data: text(m.data), deliveryCount: m.deliveryCount, at: Date.now() });

export function describeEventBusContract(name: string, factory: () => Promise<EventBusContractFixture>): void {
  describe(`EventBus contract (${name})`, () => {
    let fx: EventBusContractFixture;
    let bus: EventBus;
    let stream: string;
    /** Subjects of the main stream. */
    let ev: string;
    let rpc: string;
    const running: Stoppable[] = [];
    /** Gates a test opened; released before cleanup so no handler is left hanging. */
    const gates: Array<() => void> = [];

    beforeEach(async () => {
      fx = await factory();
      bus = fx.bus;
      stream = fx.stream;
      ev = `${fx.prefix}.ev`;
      rpc = `${fx.prefix}.rpc`;
      await bus.ensureStream({ name: stream, subjects: [`${ev}.>`] });
    });

    afterEach(async () => {
      for (const open of gates.splice(0)) open();
      // Bounded, so one stuck handler reports as a failed test rather than a hung run.
      await Promise.all(running.splice(0).map((s) => Promise.race([s.stop(), sleep(3000)])));
      await fx.cleanup();
    });

    function gate(): { wait: Promise<void>; open: () => void } {
      let open!: () => void;
      const wait = new Promise<void>((resolve) => (open = resolve));
      gates.push(open);
      return { wait, open };
    }

    async function durable(
      durableName: string,
      filterSubject: string,
      limits: { ackWaitMs?: number; maxDeliver?: number; startAtSeq?: number } = {},
    ): Promise<void> {
      await bus.ensureDurable({ stream, durable: durableName, filterSubject, ...limits });
    }

    async function consume(durableName: string, handler: (msg: DeliveredMessage) => Promise<void>, concurrency?: number): Promise<Stoppable> {
      const s = await bus.consumeDurable(stream, durableName, handler, { concurrency });
      running.push(s);
      return s;
    }

    async function publishAll(subjects: string[]): Promise<number[]> {
      const seqs: number[] = [];
      for (const [i, subject] of subjects.entries()) seqs.push((await bus.publish(subject, `m${i}`, `${subject}#${i}`)).seq);
      return seqs;
    }

    it('is ready once created', () => {
      expect(bus.isReady()).toBe(true);
      expect(['nats', 'memory']).toContain(bus.kind);
    });

    describe('publish', () => {
      it('stores each distinct msgId with strictly increasing sequences, string or bytes', async () => {
        const a = await bus.publish(`${ev}.p.1`, 'one', 'id-1');
        const b = await bus.publish(`${ev}.p.2`, new TextEncoder().encode('two'), 'id-2');
        const c = await bus.publish(`${ev}.p.1`, 'one', 'id-3');
        expect([a.duplicate, b.duplicate, c.duplicate]).toEqual([false, false, false]);
        expect(b.seq).toBeGreaterThan(a.seq);
        expect(c.seq).toBeGreaterThan(b.seq);
        const stored = await bus.readSince(stream, `${ev}.>`, new Date(0));
        expect(stored.map((m) => [m.subject, m.seq, text(m.data)])).toEqual([
          [`${ev}.p.1`, a.seq, 'one'],
          [`${ev}.p.2`, b.seq, 'two'],
          [`${ev}.p.1`, c.seq, 'one'],
        ]);
      });

      it('stores a msgId once within the duplicate window and answers with the original sequence', async () => {
        const first = await bus.publish(`${ev}.d.1`, 'original', 'same-id');
        const again = await bus.publish(`${ev}.d.1`, 'retry', 'same-id');
        expect(first.duplicate).toBe(false);
        expect(again).toEqual({ seq: first.seq, duplicate: true });
        const stored = await bus.readSince(stream, `${ev}.d.>`, new Date(0));
        expect(stored.map((m) => text(m.data))).toEqual(['original']);
      });

      it('stores a msgId again once the duplicate window has passed', async () => {
        await bus.ensureStream({ name: `${stream}_DW`, subjects: [`${fx.prefix}.dw.>`], duplicateWindowMs: 500 });
        const first = await bus.publish(`${fx.prefix}.dw.1`, 'a', 'dw-id');
        await sleep(2000);
        const later = await bus.publish(`${fx.prefix}.dw.1`, 'b', 'dw-id');
        expect(later.duplicate).toBe(false);
        expect(later.seq).toBeGreaterThan(first.seq);
        expect((await bus.readSince(`${stream}_DW`, `${fx.prefix}.dw.>`, new Date(0))).map((m) => text(m.data))).toEqual(['a', 'b']);
      });

      it('rejects a subject that no stream takes', async () => {
        await expect(bus.publish(`${fx.prefix}.nostream.x`, 'lost', 'nostream-1')).rejects.toBeInstanceOf(Error);
      });

      it('drops messages older than the stream max age', async () => {
        // 4 s to live: the first read must see the message before it expires, and on a loaded CI host 1 s was not
        // always enough (the message expired during the read, which then waited for it in vain).
        await bus.ensureStream({ name: `${stream}_AGE`, subjects: [`${fx.prefix}.age.>`], maxAgeMs: 4000, duplicateWindowMs: 500 });
        await bus.publish(`${fx.prefix}.age.1`, 'short-lived', 'age-1');
        expect(await bus.readSince(`${stream}_AGE`, `${fx.prefix}.age.>`, new Date(0))).toHaveLength(1);
        await eventually(
          async () => (await bus.readSince(`${stream}_AGE`, `${fx.prefix}.age.>`, new Date(0))).length,
          0,
          'messages left in the stream',
          12_000,
        );
      });
    });

    describe('durable consumers', () => {
      it('delivers the matching messages with deliveryCount 1; acked ones are not delivered again', async () => {
        await durable('acks', `${ev}.a.>`, { ackWaitMs: 300 });
        const [a1, , a2] = await publishAll([`${ev}.a.1`, `${ev}.b.1`, `${ev}.a.2`]);
        const got: Delivery[] = [];
        await consume('acks', async (m) => {
          got.push(record(m));
          m.ack();
        });
        await waitFor(() => got.length >= 2, 'two deliveries');
        await sleep(1000); // > 3 × ackWait
        expect(got.map((d) => [d.subject, d.seq, d.data, d.deliveryCount]).sort((x, y) => Number(x[1]) - Number(y[1]))).toEqual([
          [`${ev}.a.1`, a1, 'm0', 1],
          [`${ev}.a.2`, a2, 'm2', 1],
        ]);
        await eventually(() => bus.pendingFor(stream, 'acks'), 0, 'pendingFor');
      });

      it('redelivers a nak’d message, at once or after the delay, with an increasing deliveryCount', async () => {
        await durable('naks', `${ev}.n.>`, { ackWaitMs: 5000 });
        await publishAll([`${ev}.n.1`]);
        const got: Delivery[] = [];
        await consume('naks', async (m) => {
          got.push(record(m));
          if (m.deliveryCount === 1) m.nak();
          else if (m.deliveryCount === 2) m.nak(600);
          else m.ack();
        });
        await waitFor(() => got.length >= 3, 'three deliveries');
        expect(got.map((d) => d.deliveryCount)).toEqual([1, 2, 3]);
        expect(new Set(got.map((d) => d.seq)).size).toBe(1);
        expect(got[1]!.at - got[0]!.at).toBeLessThan(2000);
        expect(got[2]!.at - got[1]!.at).toBeGreaterThanOrEqual(500);
        await sleep(500);
        expect(got).toHaveLength(3);
        await eventually(() => bus.pendingFor(stream, 'naks'), 0, 'pendingFor');
      });

      it('never delivers a term’d message again', async () => {
        await durable('terms', `${ev}.t.>`, { ackWaitMs: 300 });
        await publishAll([`${ev}.t.1`]);
        const got: Delivery[] = [];
        await consume('terms', async (m) => {
          got.push(record(m));
          m.term();
        });
        await waitFor(() => got.length >= 1, 'the delivery');
        await sleep(1200); // > 3 × ackWait
        expect(got.map((d) => d.deliveryCount)).toEqual([1]);
        await eventually(() => bus.pendingFor(stream, 'terms'), 0, 'pendingFor');
      });

      it('redelivers a message not acked within ackWait', async () => {
        await durable('ackwait', `${ev}.w.>`, { ackWaitMs: 300 });
        await publishAll([`${ev}.w.1`]);
        const got: Delivery[] = [];
        await consume('ackwait', async (m) => {
          got.push(record(m));
          if (m.deliveryCount > 1) m.ack(); // the first delivery is left unsettled
        });
        await waitFor(() => got.length >= 2, 'the redelivery');
        expect(got.map((d) => d.deliveryCount)).toEqual([1, 2]);
        expect(got[1]!.seq).toBe(got[0]!.seq);
        expect(got[1]!.at - got[0]!.at).toBeGreaterThanOrEqual(250);
        await sleep(800);
        expect(got).toHaveLength(2);
        await eventually(() => bus.pendingFor(stream, 'ackwait'), 0, 'pendingFor');
      });

      it('stops redelivering after maxDeliver deliveries (nak’d or expired)', async () => {
        await durable('maxdeliver', `${ev}.x.>`, { ackWaitMs: 300, maxDeliver: 3 });
        await publishAll([`${ev}.x.1`]);
        const got: Delivery[] = [];
        await consume('maxdeliver', async (m) => {
          got.push(record(m));
          if (m.deliveryCount < 3) m.nak(); // the last delivery is left to expire
        });
        await waitFor(() => got.length >= 3, 'three deliveries');
        await sleep(1500); // 5 × ackWait
        expect(got.map((d) => d.deliveryCount)).toEqual([1, 2, 3]);
        // No longer waiting nor in flight.
        await eventually(() => bus.pendingFor(stream, 'maxdeliver'), 0, 'pendingFor');
      });

      it('shares a durable between workers: each handles one message at a time, no message reaches both', async () => {
        await durable('shared', `${ev}.s.>`);
        const handledBy = new Map<number, string[]>();
        const inFlight = new Set<number>();
        const active = { A: 0, B: 0 };
        const maxActive = { A: 0, B: 0 };
        const overlaps: number[] = [];
        const worker = (id: 'A' | 'B') => async (m: DeliveredMessage) => {
          active[id]++;
          maxActive[id] = Math.max(maxActive[id], active[id]);
          if (inFlight.has(m.seq)) overlaps.push(m.seq);
          inFlight.add(m.seq);
          handledBy.set(m.seq, [...(handledBy.get(m.seq) ?? []), id]);
          await sleep(25);
          inFlight.delete(m.seq);
          active[id]--;
          m.ack();
        };
        await consume('shared', worker('A'));
        await consume('shared', worker('B'));
        const seqs = await publishAll(Array.from({ length: 20 }, (_, i) => `${ev}.s.${i}`));
        await waitFor(() => handledBy.size >= 20, 'all 20 messages handled', 10_000);
        await sleep(300);
        expect([...handledBy.keys()].sort((x, y) => x - y)).toEqual(seqs);
        expect([...handledBy.values()].filter((ids) => ids.length > 1)).toEqual([]);
        expect(overlaps).toEqual([]);
        expect(maxActive).toEqual({ A: 1, B: 1 });
        const byA = [...handledBy.values()].filter((ids) => ids[0] === 'A').length;
        expect(byA).toBeGreaterThan(0);
        expect(byA).toBeLessThan(20);
        await eventually(() => bus.pendingFor(stream, 'shared'), 0, 'pendingFor');
      });

      it('runs up to `concurrency` handlers per call; a message stuck in its handler holds back none behind it', async () => {
        await durable('slots', `${ev}.c.>`);
        const stuck = gate();
        const handled: number[] = [];
        let active = 0;
        let maxActive = 0;
        let first: number | undefined;
        await consume(
          'slots',
          async (m) => {
            first ??= m.seq;
            active++;
            maxActive = Math.max(maxActive, active);
            if (m.seq === first) await stuck.wait;
            else await sleep(5);
            handled.push(m.seq);
            active--;
            m.ack();
          },
          3,
        );
        const seqs = await publishAll(Array.from({ length: 40 }, (_, i) => `${ev}.c.${i}`));
        // Everything but the stuck message goes through the two other slots while it waits.
        await waitFor(() => handled.length >= 39, '39 messages handled while the first is stuck', 10_000);
        expect(handled).not.toContain(first);
        expect(maxActive).toBe(3);
        stuck.open();
        await waitFor(() => handled.length === 40, 'the stuck message handled once released', 5000);
        expect([...handled].sort((x, y) => x - y)).toEqual(seqs);
        await eventually(() => bus.pendingFor(stream, 'slots'), 0, 'pendingFor');
      });

      it('a durable created after messages were published delivers all of them', async () => {
        const seqs = await publishAll([`${ev}.l.1`, `${ev}.l.2`, `${ev}.other`, `${ev}.l.3`, `${ev}.l.4`, `${ev}.l.5`]);
        await durable('late', `${ev}.l.>`);
        expect(await bus.pendingFor(stream, 'late')).toBe(5);
        const got: Delivery[] = [];
        await consume('late', async (m) => {
          got.push(record(m));
          m.ack();
        });
        await waitFor(() => got.length >= 5, 'five deliveries');
        await sleep(200);
        expect(got.map((d) => d.seq).sort((x, y) => x - y)).toEqual(seqs.filter((_, i) => i !== 2));
        expect(got.every((d) => d.deliveryCount === 1)).toBe(true);
      });

      it('takes a new filter when ensured again: from then on only the new filter’s messages arrive', async () => {
        await durable('refilter', `${ev}.r.>`);
        await durable('refilter', `${ev}.r.session.>`);
        const [, wanted] = await publishAll([`${ev}.r.step.1`, `${ev}.r.session.1`, `${ev}.r.progress.1`]);
        const got: Delivery[] = [];
        await consume('refilter', async (m) => {
          got.push(record(m));
          m.ack();
        });
        await waitFor(() => got.length >= 1, 'the session message');
        await sleep(300);
        expect(got.map((d) => [d.subject, d.seq])).toEqual([[`${ev}.r.session.1`, wanted]]);
      });

      it('starts a new durable at `startAtSeq`; on an existing durable the start is ignored', async () => {
        const seqs = await publishAll([`${ev}.st.1`, `${ev}.st.2`, `${ev}.st.3`, `${ev}.st.4`]);
        await durable('from-third', `${ev}.st.>`, { startAtSeq: seqs[2] });
        await durable('from-third', `${ev}.st.>`, { startAtSeq: seqs[0] });
        const got: number[] = [];
        await consume('from-third', async (m) => {
          got.push(m.seq);
          m.ack();
        });
        await waitFor(() => got.length >= 2, 'the last two');
        await sleep(200);
        expect(got).toEqual(seqs.slice(2));
      });

      it('reports the ack floor: null for no such durable, then the sequence up to which all is acked', async () => {
        expect(await bus.ackFloor(stream, 'floor')).toBeNull();
        await durable('floor', `${ev}.fl.>`);
        const seqs = await publishAll([`${ev}.fl.1`, `${ev}.fl.2`, `${ev}.fl.3`]);
        const held = gate();
        await consume('floor', async (m) => {
          if (m.seq === seqs[2]) await held.wait;
          m.ack();
        });
        await eventually(() => bus.ackFloor(stream, 'floor'), seqs[1]!, 'floor below the held message');
        held.open();
        await eventually(() => bus.ackFloor(stream, 'floor'), seqs[2]!, 'floor after it');
      });

      it('keeps its position when workers stop and others start; a stopped worker gets nothing more', async () => {
        await durable('position', `${ev}.k.>`, { ackWaitMs: 1000 });
        await publishAll([`${ev}.k.1`, `${ev}.k.2`, `${ev}.k.3`]);
        const first: Delivery[] = [];
        const a = await consume('position', async (m) => {
          first.push(record(m));
          m.ack();
        });
        await waitFor(() => first.length >= 3, 'the first three');
        await a.stop();
        const [s4, s5] = await publishAll([`${ev}.k.4`, `${ev}.k.5`]);
        const second: Delivery[] = [];
        await consume('position', async (m) => {
          second.push(record(m));
          m.ack();
        });
        await waitFor(() => second.length >= 2, 'the next two');
        await sleep(300);
        expect(first).toHaveLength(3);
        expect(second.map((d) => [d.seq, d.deliveryCount]).sort((x, y) => x[0]! - y[0]!)).toEqual([
          [s4, 1],
          [s5, 1],
        ]);
      });
    });

    describe('pendingFor', () => {
      it('counts the messages not yet acked: waiting or in flight, not acked, not term’d, not filtered out', async () => {
        await durable('pending', `${ev}.q.>`, { ackWaitMs: 30_000 });
        expect(await bus.pendingFor(stream, 'pending')).toBe(0);
        await publishAll([`${ev}.q.1`, `${ev}.q.2`, `${ev}.other`, `${ev}.q.3`, `${ev}.q.4`]);
        expect(await bus.pendingFor(stream, 'pending')).toBe(4);

        const hold = gate();
        let handled = 0;
        await consume('pending', async (m) => {
          handled++;
          if (handled === 1) m.ack();
          else if (handled === 2) m.term();
          else if (handled === 3) {
            await hold.wait; // in flight
            m.nak(60_000); // then waiting for a redelivery far away
          } else m.ack();
        });
        await waitFor(() => handled >= 3, 'the third delivery');
        // The third in flight, the fourth waiting behind it.
        await eventually(() => bus.pendingFor(stream, 'pending'), 2, 'pendingFor while the third is in flight');
        hold.open();
        await waitFor(() => handled >= 4, 'the fourth delivery');
        await eventually(() => bus.pendingFor(stream, 'pending'), 1, 'pendingFor with one nak’d for later');
      });
    });

    describe('consumeNew', () => {
      it('delivers only messages published after it started that match its filter, in stream order', async () => {
        await publishAll([`${ev}.live.a.0`]);
        const got: StoredMessage[] = [];
        running.push(await bus.consumeNew(stream, `${ev}.live.a.*`, (m) => void got.push(m)));
        const seqs: number[] = [];
        for (const [subject, data] of [
          [`${ev}.live.a.1`, 'x1'],
          [`${ev}.live.b.1`, 'y1'],
          [`${ev}.live.a.2`, 'x2'],
          [`${ev}.live.a.3`, 'x3'],
        ] as const) {
          seqs.push((await bus.publish(subject, data, `${subject}-new`)).seq);
        }
        await waitFor(() => got.length >= 3, 'three live messages');
        await sleep(300);
        expect(got.map((m) => [m.subject, m.seq, text(m.data)])).toEqual([
          [`${ev}.live.a.1`, seqs[0], 'x1'],
          [`${ev}.live.a.2`, seqs[2], 'x2'],
          [`${ev}.live.a.3`, seqs[3], 'x3'],
        ]);
      });

      it('delivers nothing after stop()', async () => {
        const got: StoredMessage[] = [];
        const sub = await bus.consumeNew(stream, `${ev}.live.>`, (m) => void got.push(m));
        running.push(sub);
        await publishAll([`${ev}.live.1`]);
        await waitFor(() => got.length >= 1, 'the first live message');
        await sub.stop();
        await publishAll([`${ev}.live.2`]);
        await sleep(500);
        expect(got.map((m) => m.subject)).toEqual([`${ev}.live.1`]);
      });

      it('gives each subscriber its own copy of every new message', async () => {
        const one: number[] = [];
        const two: number[] = [];
        running.push(await bus.consumeNew(stream, `${ev}.fan.>`, (m) => void one.push(m.seq)));
        running.push(await bus.consumeNew(stream, `${ev}.fan.>`, (m) => void two.push(m.seq)));
        const seqs = await publishAll([`${ev}.fan.1`, `${ev}.fan.2`]);
        await waitFor(() => one.length >= 2 && two.length >= 2, 'both subscribers');
        expect(one).toEqual(seqs);
        expect(two).toEqual(seqs);
      });
    });

    describe('readSince', () => {
      it('returns the stored messages matching the filter published at or after `since`, in stream order', async () => {
        const before = await publishAll([`${ev}.r.a.1`, `${ev}.r.b.1`]);
        await sleep(100);
        const since = new Date();
        await sleep(100);
        const after = await publishAll([`${ev}.r.a.2`, `${ev}.r.b.2`, `${ev}.r.a.3`]);

        const recent = await bus.readSince(stream, `${ev}.r.a.>`, since);
        expect(recent.map((m) => [m.subject, m.seq])).toEqual([
          [`${ev}.r.a.2`, after[0]],
          [`${ev}.r.a.3`, after[2]],
        ]);
        const all = await bus.readSince(stream, `${ev}.r.>`, new Date(0));
        expect(all.map((m) => m.seq)).toEqual([...before, ...after]);
        expect(all.map((m) => text(m.data))).toEqual(['m0', 'm1', 'm0', 'm1', 'm2']);
        expect(await bus.readSince(stream, `${ev}.r.>`, new Date(Date.now() + 60_000))).toEqual([]);
        expect(await bus.readSince(stream, `${ev}.nothing.>`, new Date(0))).toEqual([]);
      });
    });

    describe('request/serve', () => {
      it('answers a request with the handler’s reply', async () => {
        running.push(bus.serve(`${rpc}.echo`, 'echo', async (p) => `echo:${p}`));
        expect(await bus.request(`${rpc}.echo`, 'hi', 2000)).toBe('echo:hi');
      });

      it('has exactly one member of a queue group answer each request', async () => {
        const calls = { A: 0, B: 0 };
        for (const id of ['A', 'B'] as const) {
          running.push(
            bus.serve(`${rpc}.q`, 'workers', async (p) => {
              calls[id]++;
              return `${id}:${p}`;
            }),
          );
        }
        for (let i = 0; i < 10; i++) expect(await bus.request(`${rpc}.q`, String(i), 2000)).toMatch(new RegExp(`^[AB]:${i}$`));
        await sleep(200);
        expect(calls.A + calls.B).toBe(10);
      });

      it('rejects with no_responders when nobody serves the subject (any more)', async () => {
        const err = await bus.request(`${rpc}.nobody`, 'x', 2000).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(BusRequestError);
        expect((err as BusRequestError).code).toBe('no_responders');

        const s = bus.serve(`${rpc}.gone`, 'gone', async () => 'here');
        expect(await bus.request(`${rpc}.gone`, 'x', 2000)).toBe('here');
        await s.stop();
        const after = await bus.request(`${rpc}.gone`, 'x', 2000).catch((e: unknown) => e);
        expect(after).toBeInstanceOf(BusRequestError);
        expect((after as BusRequestError).code).toBe('no_responders');
      });

      it('rejects with timeout when the handler takes longer than timeoutMs', async () => {
        running.push(
          bus.serve(`${rpc}.slow`, 'slow', async () => {
            await sleep(1500);
            return 'late';
          }),
        );
        const started = Date.now();
        const err = await bus.request(`${rpc}.slow`, 'x', 200).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(BusRequestError);
        expect((err as BusRequestError).code).toBe('timeout');
        expect(Date.now() - started).toBeGreaterThanOrEqual(150);
        expect(Date.now() - started).toBeLessThan(1200);
      });
    });

    describe('keyValue', () => {
      it('puts, gets, lists and deletes entries', async () => {
        const kv = await bus.keyValue(`${stream}_KV`, 60_000);
        expect(await kv.get('missing')).toBeNull();
        expect(await kv.keys()).toEqual([]);
        await kv.put('a', '1');
        await kv.put('b.c', '2');
        await kv.put('a', '3');
        expect(await kv.get('a')).toBe('3');
        expect(await kv.get('b.c')).toBe('2');
        expect((await kv.keys()).sort()).toEqual(['a', 'b.c']);
        await kv.delete('a');
        expect(await kv.get('a')).toBeNull();
        expect(await kv.keys()).toEqual(['b.c']);
        await kv.delete('never-there');
      });

      it('is one bucket for every handle opened on its name', async () => {
        const one = await bus.keyValue(`${stream}_SHARED`, 60_000);
        const two = await bus.keyValue(`${stream}_SHARED`, 60_000);
        await one.put('k', 'v');
        expect(await two.get('k')).toBe('v');
        expect(await (await bus.keyValue(`${stream}_OTHER`, 60_000)).get('k')).toBeNull();
      });

      it('expires entries ttlMs after their last write', async () => {
        const kv = await bus.keyValue(`${stream}_TTL`, 1000);
        const t0 = Date.now();
        await kv.put('once', 'x');
        await kv.put('rewritten', 'v1');
        await sleep(600 - (Date.now() - t0));
        await kv.put('rewritten', 'v2');
        await sleep(1300 - (Date.now() - t0));
        // 1.3 s after the first write, 0.7 s after the last one.
        expect(await kv.get('rewritten')).toBe('v2');
        await sleep(600 + 2500 - (Date.now() - t0));
        expect(await kv.get('once')).toBeNull();
        expect(await kv.get('rewritten')).toBeNull();
        expect(await kv.keys()).toEqual([]);
      });
    });
  });
}
