import { describe, expect, it } from 'vitest';
import { createHub, type Client } from '../src/domain/hub.js';

/** The hub's heartbeat schedule on recording sockets and a hand-driven clock (no timers, no network). */
const INTERVAL = 1000;
const TICKS = 20;
const TICK = INTERVAL / TICKS;

function setup(sockets: number) {
  const hub = createHub({ maxBufferedBytes: 1 << 20, messagesPerSecond: 10, onPresenceChange: () => {} });
  const pings = new Map<string, number[]>();
  const terminated = new Set<string>();
  const clients: Client[] = [];
  let now = 0;
  const add = (id: string) => {
    pings.set(id, []);
    const socket = {
      bufferedAmount: 0,
      readyState: 1,
      send: () => {},
      ping: () => pings.get(id)!.push(now),
      close: () => {},
      terminate: () => {
        terminated.add(id);
        hub.disconnect(client);
      },
    };
    const client = hub.connect(id, socket, { userId: id, tenantId: 't', roles: [] } as never);
    clients.push(client);
    return client;
  };
  for (let i = 0; i < sockets; i++) add(`s${i}`);
  /** Runs the heartbeat ticks up to `until`; `answer` decides which pinged sockets pong before the next tick. */
  const runUntil = (until: number, answer: (c: Client) => boolean = () => true) => {
    const perTick: number[] = [];
    for (; now <= until; now += TICK) {
      const before = [...pings.values()].reduce((n, p) => n + p.length, 0);
      hub.heartbeat(now, INTERVAL, TICKS);
      perTick.push([...pings.values()].reduce((n, p) => n + p.length, 0) - before);
      for (const c of clients) if (c.pingedAt !== null && answer(c)) c.pingedAt = null;
    }
    return perTick;
  };
  return { hub, pings, terminated, add, runUntil };
}

describe('heartbeat schedule', () => {
  it('spreads the pings of 1,000 sockets over the interval: a twentieth per tick, each socket once per interval', () => {
    const { pings, runUntil } = setup(1000);
    const perTick = runUntil(5 * INTERVAL - 1);
    expect(Math.max(...perTick)).toBe(50);
    for (const [id, at] of pings) {
      expect(at.length, id).toBe(5);
      const gaps = at.slice(1).map((t, i) => t - at[i]!);
      expect(
        gaps.every((g) => g === INTERVAL),
        `${id}: ${gaps}`,
      ).toBe(true);
    }
  });

  it('pings a lone socket once per interval, not on every tick', () => {
    const { pings, runUntil } = setup(1);
    runUntil(3 * INTERVAL - 1);
    expect(pings.get('s0')).toEqual([0, INTERVAL, 2 * INTERVAL]);
  });

  it('drops the sockets that leave a ping unanswered until their next turn, keeps those that answer', () => {
    const { pings, terminated, runUntil } = setup(100);
    const silent = (c: Client) => Number(c.id.slice(1)) % 10 === 0;
    runUntil(2 * INTERVAL - 1, (c) => !silent(c));
    expect([...terminated].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `s${i * 10}`).sort());
    for (const [id, at] of pings) expect(at.length, id).toBe(terminated.has(id) ? 1 : 2);
  });

  it('reaches sockets that connect during a pass in that pass, and never drops one pinged less than half an interval ago', () => {
    const { hub, pings, terminated, add, runUntil } = setup(40);
    runUntil(INTERVAL / 2);
    const late = add('late');
    // The last of the first pass (which ends in the tick that starts the second).
    runUntil(INTERVAL, (c) => c !== late);
    expect(pings.get('late')).toEqual([INTERVAL]);
    // Everyone ahead of it leaves: the second pass reaches it at once, a tick after its unanswered ping.
    for (const c of [...hub.clients.values()]) if (c !== late) hub.disconnect(c);
    runUntil(INTERVAL + 2 * TICK, () => false);
    expect(terminated.has('late')).toBe(false);
    // Its next turn, an interval later, drops it.
    runUntil(2 * INTERVAL, () => false);
    expect(terminated.has('late')).toBe(true);
  });
});
