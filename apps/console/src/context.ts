import {
  connectRealtime,
  createClient,
  type GlavitoClient,
  type JoinResult,
  type PushEvent,
  type RealtimeConnection,
  type RealtimeState,
} from '@glavito/client';
import { apiBase, decodeClaims, type Claims } from './settings.js';

type Listener<A extends unknown[]> = (...args: A) => void;

function emitter<A extends unknown[]>() {
  const listeners = new Set<Listener<A>>();
  return {
    on(fn: Listener<A>): () => void {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    emit(...args: A): void {
      for (const fn of [...listeners]) fn(...args);
    },
  };
}

/** What every page gets: the SDK's HTTP client and one shared WebSocket connection. */
export interface Ctx {
  client: GlavitoClient;
  live: RealtimeConnection;
  claims: Claims;
  isAdmin: boolean;
  liveState(): RealtimeState;
  onLiveState(fn: (state: RealtimeState) => void): () => void;
  onPush(fn: (event: PushEvent) => void): () => void;
  /** A join could not replay what was missed (or is the first one): reload that session over HTTP. */
  onResync(fn: (sessionId: string, result: JoinResult) => void): () => void;
  close(): void;
}

export function createContext(token: string): Ctx | null {
  const claims = decodeClaims(token);
  if (!claims) return null;
  const base = apiBase();
  const client = createClient({ baseUrl: base, token, timeoutMs: 30_000 });
  const states = emitter<[RealtimeState]>();
  const pushes = emitter<[PushEvent]>();
  const resyncs = emitter<[string, JoinResult]>();
  let state: RealtimeState = 'connecting';
  const live = connectRealtime({
    url: `${base}/onboarding`,
    token,
    reconnect: { minDelayMs: 250, maxDelayMs: 5_000 },
    onEvent: (e) => pushes.emit(e),
    onStateChange: (s) => {
      state = s;
      states.emit(s);
    },
    onResyncRequired: (sessionId, result) => resyncs.emit(sessionId, result),
    onError: (err) => console.warn('realtime:', err.message),
  });
  return {
    client,
    live,
    claims,
    isAdmin: claims.roles.includes('admin'),
    liveState: () => state,
    onLiveState: states.on,
    onPush: pushes.on,
    onResync: resyncs.on,
    close: () => live.close(),
  };
}
