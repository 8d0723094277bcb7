import type { ClientFrame, ConnectedDataSchema, ProgressResponseSchema, ProgressSnapshot, PushData, SessionJoinedDataSchema } from '@glavito/contracts';
import { PROGRESS_PUSH_EVENTS, PUSH_EVENTS, WS_CLOSE, type ProgressPushEventName, type PushEventName } from '@glavito/contracts/ws-names';
import type { z } from 'zod';
import { backoffDelay, restartDelay } from './backoff.js';
import { GlavitoRealtimeError } from './errors.js';
import { resolveToken, type TokenSource } from './http.js';
import { RecentIds } from './recent-ids.js';

/** The part of a WebSocket the SDK uses: the browser's, Node 22's global one and `ws`'s all fit. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'error', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export type { PushEventName };
/** What a push of that name carries (`sessionId`, `eventId`, `timestamp`, its payload), from the contract. */
export type PushEventData<E extends PushEventName = PushEventName> = PushData<E>;
/** A push, discriminated by `event`: `if (e.event === 'progress_update') e.data.progress.progressPercentage`. */
export type PushEvent<E extends PushEventName = PushEventName> = { [K in E]: { event: K; data: PushData<K> } }[E];
/**
 * A session's progress as of the progress service's per-session `seq` (larger = newer). `progress` is what
 * the push or the `getProgress` answer carried; these fields are in both.
 */
export interface ProgressState {
  sessionId: string;
  seq: number;
  progress: Omit<ProgressSnapshot, 'nextStep'>;
}
export type RealtimeProgress = z.infer<typeof ProgressResponseSchema>;
export type ConnectedInfo = z.infer<typeof ConnectedDataSchema>;
export type JoinResult = z.infer<typeof SessionJoinedDataSchema>;

/**
 * `connecting` first connection (or after `reconnect()`), `open` the server said `connected`,
 * `reconnecting` waiting for or making the next attempt, `unauthorized` the server refused the token
 * (close 4401: no retry until `reconnect()`), `closed` after `close()` (final).
 */
export type RealtimeState = 'connecting' | 'open' | 'reconnecting' | 'unauthorized' | 'closed';

export interface StateDetail {
  previous: RealtimeState;
  /** Close code and reason of the socket that went away. */
  code?: number;
  reason?: string;
  /** Reconnect attempt number (1-based) and the wait before it. */
  attempt?: number;
  delayMs?: number;
  connected?: ConnectedInfo;
}

export interface RealtimeOptions {
  /** `wss://host/onboarding` (`http(s)://` becomes `ws(s)://`; in a page, `/onboarding` works too). The token goes in `?token=`. */
  url: string;
  /** A JWT or a function returning a fresh one; called before every connection attempt. */
  token: TokenSource;
  /** Defaults to the global `WebSocket`; on Node 20 pass `WebSocket` from the `ws` package. */
  WebSocket?: WebSocketConstructor;
  /** Backoff bounds for reconnecting (default 500 ms … 30 s); `false` never reconnects. */
  reconnect?: { minDelayMs?: number; maxDelayMs?: number } | false;
  /** How long `join`, `leave` and `getProgress` wait for their answer (default 10 s). */
  requestTimeoutMs?: number;
  /** How many recent event ids are remembered to drop duplicates (default 1000). */
  dedupeCapacity?: number;
  /**
   * Every push (`progress_update`, `step_completed`, …), once each, in the order the server sent them, except a
   * `progress_update` older (by `seq`) than a progress the connection already saw for that session: it would move
   * a bar backwards. `on(name, handler)` subscribes to one push name.
   */
  onEvent?: (event: PushEvent) => void;
  /**
   * A session's progress moved forward: a progress push or a `getProgress` answer with a larger `seq` than any
   * before. Never called with an older state, so a bar drawn from it never moves backwards.
   */
  onProgress?: (state: ProgressState) => void;
  /** Every state change, and every new reconnect attempt (with its `attempt` and `delayMs`). */
  onStateChange?: (state: RealtimeState, detail: StateDetail) => void;
  /**
   * A join (the first one, or a re-join after a reconnect) answered `recovered: false`: events may have
   * been missed, so refetch the session's state over HTTP. Also called for a first join without
   * `lastEventId`, so that one callback can load the initial state too.
   */
  onResyncRequired?: (sessionId: string, result: JoinResult) => void;
  /** Errors not tied to a call: server `error` frames without an id, failed re-joins, a token function that threw. */
  onError?: (error: GlavitoRealtimeError) => void;
}

export interface RealtimeConnection {
  readonly state: RealtimeState;
  /** What the server said on `connected` (undefined while not open). */
  readonly info: ConnectedInfo | undefined;
  /**
   * Joins a session's live events; resolves once the server confirms (waiting for the connection when
   * it is down). The SDK re-joins it after every reconnect with the last event id it delivered.
   */
  join(sessionId: string, options?: { lastEventId?: string }): Promise<JoinResult>;
  leave(sessionId: string): Promise<void>;
  /** The session's current progress, asked over the socket (`get_progress`). */
  getProgress(sessionId: string): Promise<RealtimeProgress>;
  /** Calls `handler` for every push of that name (filtered like `onEvent`); returns the unsubscribe function. */
  on<E extends PushEventName>(event: E, handler: (event: PushEvent<E>) => void): () => void;
  /** The newest progress (largest `seq`) this connection saw for a session, from pushes and `getProgress`. */
  progress(sessionId: string): ProgressState | undefined;
  /** The last event id delivered for a joined session (persist it to resume after a page reload). */
  lastEventId(sessionId: string): string | undefined;
  /** Drops the current socket and connects again now, e.g. after `unauthorized` once the token was renewed. */
  reconnect(): void;
  close(): void;
}

interface InFrame {
  event: string;
  data: Record<string, unknown>;
  id?: string;
}

type OutFrame = Omit<ClientFrame, 'id'>;

interface Pending {
  frame: ClientFrame;
  sent: boolean;
  timer: ReturnType<typeof setTimeout>;
  resolve(frame: InFrame): void;
  reject(err: GlavitoRealtimeError): void;
}

interface SessionEntry {
  lastEventId?: string;
  /** The server confirmed a join at least once. */
  confirmed: boolean;
  result?: JoinResult;
  waiters: Array<{ resolve(result: JoinResult): void; reject(err: Error): void }>;
  retries: number;
  retryTimer?: ReturnType<typeof setTimeout>;
}

const OPEN = 1;
const PUSHES = new Set<string>(PUSH_EVENTS);
const PROGRESS_PUSHES = new Set<string>(PROGRESS_PUSH_EVENTS);

// The server's frames are checked by hand, not with the contract's zod schemas, so that zod stays out of the browser bundle.
const isString = (v: unknown): v is string => typeof v === 'string';
const isInt = (v: unknown): v is number => Number.isInteger(v);

function connectedInfo(d: Record<string, unknown>): ConnectedInfo | undefined {
  return isString(d.clientId) && isString(d.userId) && isString(d.tenantId) && isInt(d.heartbeatMs)
    ? { clientId: d.clientId, userId: d.userId, tenantId: d.tenantId, heartbeatMs: d.heartbeatMs }
    : undefined;
}

function joinResult(d: Record<string, unknown>, sessionId: string): JoinResult {
  return isString(d.sessionId) && typeof d.recovered === 'boolean' && isInt(d.replayed)
    ? { sessionId: d.sessionId, recovered: d.recovered, replayed: d.replayed }
    : { sessionId, recovered: false, replayed: 0 };
}

function errorOf(d: Record<string, unknown>, fallback: string): GlavitoRealtimeError {
  return isString(d.code) && isString(d.message) ? new GlavitoRealtimeError(d.code, d.message) : new GlavitoRealtimeError('error', fallback);
}

function toWebSocketUrl(url: string): string {
  // A relative URL (same-origin frontend) resolves against the page.
  const u = new URL(url, (globalThis as { location?: { href: string } }).location?.href);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new TypeError(`connectRealtime: unsupported URL scheme ${u.protocol}`);
  return u.toString();
}

function textOf(data: unknown): string | null {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(new Uint8Array(data));
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return null;
}

function parseFrame(raw: unknown): InFrame | null {
  const text = textOf(raw);
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { event, data, id } = value as Record<string, unknown>;
  if (typeof event !== 'string' || typeof data !== 'object' || data === null) return null;
  return { event, data: data as Record<string, unknown>, ...(typeof id === 'string' ? { id } : {}) };
}

/** An app callback that throws must not break the connection; its error still surfaces as uncaught. */
function safely(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

export function connectRealtime(options: RealtimeOptions): RealtimeConnection {
  const Implementation = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!Implementation) throw new TypeError('connectRealtime: no WebSocket implementation here; pass one (on Node 20: `WebSocket` from the "ws" package)');
  const Socket: WebSocketConstructor = Implementation;
  const baseUrl = toWebSocketUrl(options.url);
  const reconnectEnabled = options.reconnect !== false;
  const bounds = options.reconnect || {};
  const minDelayMs = Math.max(0, bounds.minDelayMs ?? 500);
  const maxDelayMs = Math.max(minDelayMs, bounds.maxDelayMs ?? 30_000);
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const recent = new RecentIds(options.dedupeCapacity ?? 1000);

  const sessions = new Map<string, SessionEntry>();
  const pending = new Map<string, Pending>();
  let ws: WebSocketLike | null = null;
  let state: RealtimeState = 'connecting';
  let info: ConnectedInfo | undefined;
  let attempt = 0;
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped by close()/reconnect(): an attempt still waiting for its token is then abandoned. */
  let generation = 0;
  let frameSeq = 0;
  const progressBySession = new Map<string, ProgressState>();
  const listeners = new Map<PushEventName, Set<(event: PushEvent) => void>>();

  const isOpen = () => state === 'open' && ws !== null && ws.readyState === OPEN;
  const report = (err: GlavitoRealtimeError) => safely(() => options.onError?.(err));

  function setState(next: RealtimeState, detail: Omit<StateDetail, 'previous'> = {}, always = false): void {
    if (next === state && !always) return;
    const previous = state;
    state = next;
    safely(() => options.onStateChange?.(next, { previous, ...detail }));
  }

  function rejectPending(code: string, message: string, onlySent: boolean): void {
    for (const [id, p] of pending) {
      if (onlySent && !p.sent) continue;
      clearTimeout(p.timer);
      pending.delete(id);
      p.reject(new GlavitoRealtimeError(code, message));
    }
  }

  /** Rejects join() promises of sessions never confirmed, and forgets those sessions. */
  function dropUnconfirmed(code: string, message: string): void {
    for (const [sessionId, entry] of sessions) {
      if (entry.confirmed) continue;
      sessions.delete(sessionId);
      for (const w of entry.waiters.splice(0)) w.reject(new GlavitoRealtimeError(code, message));
    }
  }

  function transmit(p: Pending): void {
    try {
      ws!.send(JSON.stringify(p.frame));
      p.sent = true;
    } catch {
      // The socket is going away; its close event follows and the frame goes out on the next connection.
    }
  }

  function request(frame: OutFrame): Promise<InFrame> {
    if (state === 'closed') return Promise.reject(new GlavitoRealtimeError('closed', 'the realtime connection is closed'));
    if (state === 'unauthorized') return Promise.reject(new GlavitoRealtimeError('unauthorized', 'the server refused the token'));
    const id = `c${++frameSeq}`;
    return new Promise<InFrame>((resolve, reject) => {
      const p: Pending = {
        frame: { ...frame, id } as ClientFrame,
        sent: false,
        resolve,
        reject,
        timer: setTimeout(() => {
          pending.delete(id);
          reject(new GlavitoRealtimeError('timeout', `${frame.event}: no answer within ${requestTimeoutMs} ms`));
        }, requestTimeoutMs),
      };
      pending.set(id, p);
      // Not open: it waits (within its timeout) and goes out once the server says `connected`.
      if (isOpen()) transmit(p);
    });
  }

  function startJoin(sessionId: string): void {
    const entry = sessions.get(sessionId);
    if (!entry) return;
    clearTimeout(entry.retryTimer);
    const data = entry.lastEventId ? { sessionId, lastEventId: entry.lastEventId } : { sessionId };
    const socket = ws;
    request({ event: 'join_session', data }).then(
      (frame) => {
        if (sessions.get(sessionId) !== entry) return;
        const result = joinResult(frame.data, sessionId);
        entry.confirmed = true;
        entry.result = result;
        entry.retries = 0;
        for (const w of entry.waiters.splice(0)) w.resolve(result);
        if (!result.recovered) safely(() => options.onResyncRequired?.(sessionId, result));
      },
      (err: GlavitoRealtimeError) => {
        if (sessions.get(sessionId) !== entry) return;
        // Lost with its socket: the next connection re-joins. Closed/unauthorized: handled where that happens.
        if (err.code === 'connection_lost' || err.code === 'closed' || err.code === 'unauthorized') return;
        if (!entry.confirmed || err.code === 'session_not_found') {
          sessions.delete(sessionId);
          if (entry.waiters.length > 0) for (const w of entry.waiters.splice(0)) w.reject(err);
          else report(err);
          return;
        }
        // A re-join the server could not serve right now (upstream_unavailable, timeout…): retry on this socket.
        report(err);
        entry.retryTimer = setTimeout(
          () => {
            if (ws === socket && isOpen()) startJoin(sessionId);
          },
          backoffDelay(entry.retries++, minDelayMs, maxDelayMs),
        );
      },
    );
  }

  /** Keeps the newest progress per session by `seq`; false when `seq` is older than one already seen. */
  function advanceProgress(sessionId: string, seq: number, progress: ProgressState['progress']): boolean {
    const current = progressBySession.get(sessionId);
    if (current && seq < current.seq) return false;
    if (current && seq === current.seq) return true;
    const next: ProgressState = { sessionId, seq, progress };
    progressBySession.set(sessionId, next);
    safely(() => options.onProgress?.(next));
    return true;
  }

  function deliver(event: PushEventName, data: Record<string, unknown>): void {
    const eventId = typeof data.eventId === 'string' ? data.eventId : undefined;
    if (eventId !== undefined) {
      if (!recent.add(eventId)) return;
      const entry = typeof data.sessionId === 'string' ? sessions.get(data.sessionId) : undefined;
      if (entry) entry.lastEventId = eventId;
    }
    if (PROGRESS_PUSHES.has(event) && isString(data.sessionId) && isInt(data.seq) && typeof data.progress === 'object' && data.progress !== null) {
      const fresh = advanceProgress(data.sessionId, data.seq, data.progress as ProgressSnapshot);
      // A stale milestone or completion is still news; a stale progress_update only moves a bar backwards.
      if (!fresh && (event as ProgressPushEventName) === 'progress_update') return;
    }
    const push = { event, data } as PushEvent;
    safely(() => options.onEvent?.(push));
    const handlers = listeners.get(event);
    if (handlers) for (const handler of [...handlers]) safely(() => handler(push));
  }

  function onMessage(raw: unknown): void {
    const frame = parseFrame(raw);
    if (!frame) return;
    if (frame.id !== undefined) {
      const p = pending.get(frame.id);
      if (p) {
        clearTimeout(p.timer);
        pending.delete(frame.id);
        if (frame.event === 'error') {
          p.reject(errorOf(frame.data, 'the server refused the request'));
        } else {
          p.resolve(frame);
        }
        return;
      }
    }
    switch (frame.event) {
      case 'connected': {
        info = connectedInfo(frame.data);
        attempt = 0;
        setState('open', info ? { connected: info } : {});
        for (const sessionId of sessions.keys()) startJoin(sessionId);
        for (const p of pending.values()) if (!p.sent) transmit(p);
        return;
      }
      case 'error': {
        report(errorOf(frame.data, 'server error'));
        return;
      }
      default:
        if (PUSHES.has(frame.event) && frame.id === undefined) deliver(frame.event as PushEventName, frame.data);
    }
  }

  function scheduleReconnect(code?: number, reason?: string): void {
    let delayMs: number;
    if (code === WS_CLOSE.serviceRestart) {
      delayMs = restartDelay(minDelayMs);
    } else {
      // Rate limited: wait long (anywhere up to the maximum) rather than hammer the limit again.
      delayMs = backoffDelay(code === WS_CLOSE.rateLimited ? Math.max(attempt, 32) : attempt, minDelayMs, maxDelayMs);
      attempt++;
    }
    setState('reconnecting', { code, reason, attempt: attempt || 1, delayMs }, true);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      void open();
    }, delayMs);
  }

  function onClose(code: number, reason: string): void {
    info = undefined;
    rejectPending('connection_lost', 'the connection was lost before the answer came', true);
    for (const entry of sessions.values()) clearTimeout(entry.retryTimer);
    if (state === 'closed') return;
    if (code === WS_CLOSE.unauthorized) {
      rejectPending('unauthorized', 'the server refused the token', false);
      dropUnconfirmed('unauthorized', 'the server refused the token');
      setState('unauthorized', { code, reason });
      return;
    }
    if (!reconnectEnabled) {
      shutdown({ code, reason });
      return;
    }
    scheduleReconnect(code, reason);
  }

  async function open(): Promise<void> {
    const mine = generation;
    let token: string;
    try {
      token = await resolveToken(options.token);
    } catch (err) {
      if (mine !== generation || state === 'closed') return;
      report(new GlavitoRealtimeError('token_unavailable', `the token function failed: ${(err as Error)?.message ?? String(err)}`));
      if (reconnectEnabled) scheduleReconnect();
      else shutdown({});
      return;
    }
    if (mine !== generation || state === 'closed') return;
    const url = new URL(baseUrl);
    url.searchParams.set('token', token);
    let socket: WebSocketLike;
    try {
      socket = new Socket(url.toString());
    } catch (err) {
      report(new GlavitoRealtimeError('connect_failed', (err as Error)?.message ?? String(err)));
      if (reconnectEnabled) scheduleReconnect();
      else shutdown({});
      return;
    }
    ws = socket;
    socket.addEventListener('message', (event) => {
      if (ws === socket) onMessage(event.data);
    });
    socket.addEventListener('close', (event) => {
      if (ws !== socket) return;
      ws = null;
      onClose(event.code, event.reason);
    });
    // A failed connection also fires `close` (code 1006), which is where it is handled.
    socket.addEventListener('error', () => {});
  }

  function shutdown(detail: Omit<StateDetail, 'previous'>): void {
    generation++;
    clearTimeout(reconnectTimer);
    reconnectTimer = undefined;
    const socket = ws;
    ws = null;
    info = undefined;
    setState('closed', detail);
    rejectPending('closed', 'the realtime connection is closed', false);
    for (const entry of sessions.values()) {
      clearTimeout(entry.retryTimer);
      for (const w of entry.waiters.splice(0)) w.reject(new GlavitoRealtimeError('closed', 'the realtime connection is closed'));
    }
    sessions.clear();
    if (socket && socket.readyState <= OPEN) socket.close(1000, 'client closed');
  }

  void open();

  return {
    get state() {
      return state;
    },
    get info() {
      return info;
    },
    join(sessionId, opts = {}) {
      if (state === 'closed') return Promise.reject(new GlavitoRealtimeError('closed', 'the realtime connection is closed'));
      if (state === 'unauthorized')
        return Promise.reject(new GlavitoRealtimeError('unauthorized', 'the server refused the token; call reconnect() with a valid one'));
      return new Promise<JoinResult>((resolve, reject) => {
        const existing = sessions.get(sessionId);
        if (existing) {
          // Already joined (or joining): no second join frame, which would report a spurious "not recovered".
          if (existing.result && existing.waiters.length === 0) resolve(existing.result);
          else existing.waiters.push({ resolve, reject });
          return;
        }
        sessions.set(sessionId, { lastEventId: opts.lastEventId, confirmed: false, waiters: [{ resolve, reject }], retries: 0 });
        if (isOpen()) startJoin(sessionId);
      });
    },
    async leave(sessionId) {
      progressBySession.delete(sessionId);
      const entry = sessions.get(sessionId);
      if (!entry) return;
      sessions.delete(sessionId);
      clearTimeout(entry.retryTimer);
      for (const w of entry.waiters.splice(0)) w.reject(new GlavitoRealtimeError('left', `left session ${sessionId} before it was joined`));
      if (!isOpen()) return;
      await request({ event: 'leave_session', data: { sessionId } }).catch((err: GlavitoRealtimeError) => {
        // Gone with its socket: the next connection does not re-join, which is the same outcome.
        if (err.code !== 'connection_lost' && err.code !== 'closed') throw err;
      });
    },
    async getProgress(sessionId) {
      const frame = await request({ event: 'get_progress', data: { sessionId } });
      const { progress, seq } = frame.data as { progress: RealtimeProgress; seq?: number };
      // The answer as the server gave it; the progress state only moves if it is newer than what pushes brought.
      advanceProgress(sessionId, isInt(seq) ? seq : progress.seq, progress);
      return progress;
    },
    on(event, handler) {
      let handlers = listeners.get(event);
      if (!handlers) listeners.set(event, (handlers = new Set()));
      const h = handler as (event: PushEvent) => void;
      handlers.add(h);
      return () => void handlers.delete(h);
    },
    progress(sessionId) {
      return progressBySession.get(sessionId);
    },
    lastEventId(sessionId) {
      return sessions.get(sessionId)?.lastEventId;
    },
    reconnect() {
      if (state === 'closed') throw new GlavitoRealtimeError('closed', 'the realtime connection is closed');
      generation++;
      clearTimeout(reconnectTimer);
      reconnectTimer = undefined;
      const socket = ws;
      ws = null;
      info = undefined;
      rejectPending('connection_lost', 'reconnecting', true);
      if (socket && socket.readyState <= OPEN) socket.close(1000, 'client reconnecting');
      attempt = 0;
      setState('connecting');
      void open();
    },
    close() {
      if (state !== 'closed') shutdown({});
    },
  };
}
