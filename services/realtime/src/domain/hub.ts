import type { EventEnvelope, Principal } from '@glavito/contracts';
import { toPushFrame } from './frames.js';

/** The part of a WebSocket the hub uses (ws's WebSocket fits). */
export interface SocketLike {
  readonly bufferedAmount: number;
  readonly readyState: number;
  send(data: string): void;
  ping(): void;
  close(code: number, reason: string): void;
  terminate(): void;
}

const OPEN = 1;

/** A notification is its recipient's alone: not sent to others watching the session, not replayed on join (the list route has them). */
export const isPersonal = (e: EventEnvelope) => e.type === 'notification.created';

export interface Client {
  id: string;
  socket: SocketLike;
  principal: Principal;
  joined: Set<string>;
  /**
   * Per session, the stream sequences this socket has been sent without a gap: every event of the session
   * from `from` to `to` went out (or the client said it had it, with lastEventId). Live events arrive in
   * stream order, so one range is enough; a replay fills in what came before it.
   */
  delivered: Map<string, { from: number; to: number }>;
  /** Sessions being replayed: live events wait here until the replay is done. */
  replaying: Map<string, Array<{ seq: number; event: EventEnvelope }>>;
  /** When the unanswered heartbeat ping went out; null once answered. */
  pingedAt: number | null;
  tokens: number;
  refilledAt: number;
  violations: number;
}

export interface HubOptions {
  maxBufferedBytes: number;
  messagesPerSecond: number;
  onPresenceChange: () => void;
}

/**
 * Local sockets of one replica: who listens to which user and session, and exactly-once delivery per
 * socket (an event reaching a socket both as "its user's" and as "its joined session's" is sent once).
 */
export function createHub(opts: HubOptions) {
  const clients = new Map<string, Client>();
  const byUser = new Map<string, Set<Client>>();
  const bySession = new Map<string, Set<Client>>();
  let heartbeatPass: { sockets: Iterator<Client>; perTick: number } | null = null;
  let heartbeatPassStartedAt = -Infinity;

  // Keys are tenant-scoped: a user id (or session id) of one tenant never reaches another tenant's sockets.
  const userKey = (tenantId: string, userId: string) => `${tenantId}:${userId}`;
  const sessionKey = (tenantId: string, sessionId: string) => `${tenantId}:${sessionId}`;

  const add = <K>(map: Map<K, Set<Client>>, key: K, c: Client) => {
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(c);
  };
  const remove = <K>(map: Map<K, Set<Client>>, key: K, c: Client) => {
    const set = map.get(key);
    if (!set) return;
    set.delete(c);
    if (set.size === 0) map.delete(key);
  };

  /** Sends a frame unless the socket is backed up; a slow consumer is cut off instead of buffering without bound. */
  function send(c: Client, frame: { event: string; data: Record<string, unknown>; id?: string }): boolean {
    if (c.socket.readyState !== OPEN) return false;
    if (c.socket.bufferedAmount > opts.maxBufferedBytes) {
      c.socket.close(4408, 'slow consumer: send buffer full');
      // A peer that stopped reading will not complete the close handshake either.
      setTimeout(() => c.socket.terminate(), 1000).unref();
      return false;
    }
    c.socket.send(JSON.stringify(frame));
    return true;
  }

  /** Sends an event to one socket unless it already has it; true when a frame went out. */
  function deliver(c: Client, seq: number, event: EventEnvelope): boolean {
    if (isPersonal(event)) {
      const frame = toPushFrame(event);
      return frame ? send(c, frame) : false;
    }
    const buffer = c.replaying.get(event.sessionId);
    if (buffer) {
      buffer.push({ seq, event });
      return false;
    }
    const range = c.delivered.get(event.sessionId);
    if (range && seq <= range.to) return false;
    c.delivered.set(event.sessionId, { from: range?.from ?? seq, to: seq });
    const frame = toPushFrame(event);
    return frame ? send(c, frame) : false;
  }

  return {
    clients,
    connect(id: string, socket: SocketLike, principal: Principal): Client {
      const c: Client = {
        id,
        socket,
        principal,
        joined: new Set(),
        delivered: new Map(),
        replaying: new Map(),
        pingedAt: null,
        tokens: opts.messagesPerSecond * 2,
        refilledAt: Date.now(),
        violations: 0,
      };
      clients.set(id, c);
      add(byUser, userKey(principal.tenantId, principal.userId), c);
      opts.onPresenceChange();
      return c;
    },
    disconnect(c: Client): void {
      if (!clients.delete(c.id)) return;
      remove(byUser, userKey(c.principal.tenantId, c.principal.userId), c);
      for (const s of c.joined) remove(bySession, sessionKey(c.principal.tenantId, s), c);
      opts.onPresenceChange();
    },
    join(c: Client, sessionId: string): void {
      if (c.joined.has(sessionId)) return;
      c.joined.add(sessionId);
      add(bySession, sessionKey(c.principal.tenantId, sessionId), c);
      opts.onPresenceChange();
    },
    leave(c: Client, sessionId: string): void {
      if (!c.joined.delete(sessionId)) return;
      remove(bySession, sessionKey(c.principal.tenantId, sessionId), c);
      c.delivered.delete(sessionId);
      opts.onPresenceChange();
    },
    /**
     * Whether any local socket listens to this (raw, unread) event's user or session: when none does, dispatch
     * would send nothing, so the event need not even be read. True when the ids are not strings (the reader says why).
     */
    listens(raw: unknown): boolean {
      if (typeof raw !== 'object' || raw === null) return true;
      const { tenantId, userId, sessionId, type } = raw as Record<string, unknown>;
      if (typeof tenantId !== 'string' || typeof userId !== 'string' || typeof sessionId !== 'string') return true;
      if (byUser.has(userKey(tenantId, userId))) return true;
      return type !== 'notification.created' && bySession.has(sessionKey(tenantId, sessionId));
    },
    /** One event from the stream (in stream order) to every local socket of its user or its session, once each; returns the frames sent. */
    dispatch(seq: number, event: EventEnvelope): number {
      const watchers = isPersonal(event) ? [] : (bySession.get(sessionKey(event.tenantId, event.sessionId)) ?? []);
      const targets = new Set<Client>([...(byUser.get(userKey(event.tenantId, event.userId)) ?? []), ...watchers]);
      let sent = 0;
      for (const c of targets) if (deliver(c, seq, event)) sent++;
      return sent;
    },
    /** Holds live events of a session for this socket while its missed events are replayed. */
    beginReplay(c: Client, sessionId: string): void {
      c.replaying.set(sessionId, []);
    },
    /**
     * Sends the replayed events (those after `afterSeq`, the client's lastEventId; 0 when it was not
     * found), then whatever arrived live meanwhile, in stream order, each at most once. Events this
     * socket already got live before the join (its user's events, from the moment it connected) are
     * not sent again, but the older ones it missed are: a replay never stops at the first live event.
     */
    endReplay(c: Client, sessionId: string, afterSeq: number, replayed: Array<{ seq: number; event: EventEnvelope }>): void {
      const buffered = c.replaying.get(sessionId) ?? [];
      c.replaying.delete(sessionId);
      const range = c.delivered.get(sessionId);
      const merged = new Map<number, EventEnvelope>();
      for (const r of [...replayed, ...buffered]) merged.set(r.seq, r.event);
      let from = afterSeq > 0 ? Math.min(range?.from ?? afterSeq + 1, afterSeq + 1) : range?.from;
      let to = Math.max(range?.to ?? 0, afterSeq);
      for (const seq of [...merged.keys()].sort((a, b) => a - b)) {
        if (seq <= afterSeq || (range && seq >= range.from && seq <= range.to) || isPersonal(merged.get(seq)!)) continue;
        from ??= seq;
        to = Math.max(to, seq);
        const frame = toPushFrame(merged.get(seq)!);
        if (frame) send(c, frame);
      }
      if (from !== undefined && to > 0) c.delivered.set(sessionId, { from, to });
    },
    send,
    /** Token bucket per connection; false when the client sends too fast. */
    allowMessage(c: Client, now = Date.now()): boolean {
      const burst = opts.messagesPerSecond * 2;
      c.tokens = Math.min(burst, c.tokens + ((now - c.refilledAt) / 1000) * opts.messagesPerSecond);
      c.refilledAt = now;
      if (c.tokens < 1) {
        c.violations++;
        return false;
      }
      c.tokens -= 1;
      return true;
    },
    /**
     * One tick of the heartbeat. A pass over every socket starts at most once per `intervalMs` and pings
     * a `1 / ticksPerInterval` share of them per tick, so the pings (and pongs) of thousands of sockets are
     * spread over the interval instead of arriving as one burst that delays every push for tens of
     * milliseconds. A socket whose previous ping went unanswered for at least half an interval is dropped.
     */
    heartbeat(now: number, intervalMs: number, ticksPerInterval: number): void {
      let budget: number | null = null;
      for (;;) {
        if (!heartbeatPass) {
          if (now - heartbeatPassStartedAt < intervalMs) return;
          heartbeatPassStartedAt = now;
          // A live Map iterator: sockets that connect during the pass are reached in it too.
          heartbeatPass = { sockets: clients.values(), perTick: Math.max(1, Math.ceil(clients.size / ticksPerInterval)) };
        }
        budget ??= heartbeatPass.perTick;
        if (budget === 0) return;
        const next = heartbeatPass.sockets.next();
        if (next.done) {
          // Finished: the next pass may start in this same tick.
          heartbeatPass = null;
          continue;
        }
        budget--;
        const c = next.value;
        if (c.pingedAt === null) {
          c.pingedAt = now;
          c.socket.ping();
        } else if (now - c.pingedAt >= intervalMs / 2) {
          c.socket.terminate();
        }
      }
    },
    /** Socket counts keyed `<tenantId>:<sessionId>` and `<tenantId>:<userId>`. */
    counts() {
      const sessions: Record<string, number> = {};
      const users: Record<string, number> = {};
      for (const [k, set] of bySession) sessions[k] = set.size;
      for (const [k, set] of byUser) users[k] = set.size;
      return { sessions, users };
    },
  };
}

export type Hub = ReturnType<typeof createHub>;
