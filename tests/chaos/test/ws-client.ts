import { WebSocket } from 'ws';

/**
 * A raw WebSocket client watching one session, as a frontend would: it remembers the last event id it
 * saw, and whenever its socket drops it reconnects (to the same realtime instance, or the next one on
 * its list when that one does not answer) and re-joins with `lastEventId`. It keeps every push it
 * received, so the suite can check "each event once, none missing" afterwards.
 */

type Frame = { event: string; data: Record<string, unknown>; id?: string };

export interface WsClientOptions {
  name: string;
  /** ws:// base URLs (realtime instances or the gateway), tried in order when one does not answer. */
  targets: () => string[];
  token: string;
  sessionId: string;
  /** The first join replays from here: an event id of the session already in the stream. */
  anchorEventId: string;
}

export class WsClient {
  /** eventId → how many times it arrived, over all sockets. */
  readonly received = new Map<string, number>();
  /** eventId → when it first arrived (ms since epoch). */
  readonly arrivedAt = new Map<string, number>();
  /** Every push as it arrived: which request caused it (correlationId), and when. */
  readonly pushes: Array<{ event: string; eventId: string; correlationId?: string; at: number }> = [];
  /** Pushes that arrived twice on the same socket. */
  readonly sameSocketDuplicates: string[] = [];
  /** Joins answered `recovered: false` (the replay did not find lastEventId). */
  readonly unrecovered: string[] = [];
  readonly errors: string[] = [];
  lastEventId: string;
  connections = 0;
  joins = 0;
  joined = false;
  private ws: WebSocket | null = null;
  private target = 0;
  private stopped = false;
  private socketNo = 0;
  private joinSeq = 0;

  constructor(readonly opts: WsClientOptions) {
    this.lastEventId = opts.anchorEventId;
  }

  get name(): string {
    return this.opts.name;
  }

  start(): void {
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.terminate();
    });
  }

  private connect(): void {
    if (this.stopped) return;
    const targets = this.opts.targets();
    const base = targets[this.target % targets.length]!;
    const no = ++this.socketNo;
    const ws = new WebSocket(`${base}/onboarding?token=${this.opts.token}`);
    this.ws = ws;
    let opened = false;
    let joinTimer: NodeJS.Timeout | undefined;
    const seenHere = new Set<string>();

    const sendJoin = () => {
      if (ws.readyState !== WebSocket.OPEN) return;
      const id = `j${++this.joinSeq}`;
      ws.send(JSON.stringify({ event: 'join_session', data: { sessionId: this.opts.sessionId, lastEventId: this.lastEventId }, id }));
      clearTimeout(joinTimer);
      // No answer at all: give up on this socket and connect again.
      joinTimer = setTimeout(() => ws.terminate(), 10_000);
    };

    ws.on('open', () => {
      opened = true;
      this.connections++;
    });
    ws.on('message', (raw: Buffer) => {
      const frame = JSON.parse(raw.toString()) as Frame;
      if (frame.event === 'connected') return sendJoin();
      if (frame.id?.startsWith('j')) {
        clearTimeout(joinTimer);
        if (frame.event === 'session_joined') {
          this.joins++;
          this.joined = true;
          if (frame.data.recovered !== true) this.unrecovered.push(`socket ${no}: join from ${this.lastEventId} not recovered`);
        } else {
          // e.g. upstream_unavailable while the session service or NATS is down: try again shortly.
          this.errors.push(`socket ${no}: ${frame.event} ${JSON.stringify(frame.data)}`);
          setTimeout(sendJoin, 300);
        }
        return;
      }
      const eventId = frame.data?.eventId;
      if (typeof eventId !== 'string' || frame.data.sessionId !== this.opts.sessionId) return;
      if (seenHere.has(eventId)) this.sameSocketDuplicates.push(`${frame.event} ${eventId} (socket ${no})`);
      seenHere.add(eventId);
      this.received.set(eventId, (this.received.get(eventId) ?? 0) + 1);
      if (!this.arrivedAt.has(eventId)) this.arrivedAt.set(eventId, Date.now());
      this.pushes.push({
        event: frame.event,
        eventId,
        correlationId: typeof frame.data.correlationId === 'string' ? frame.data.correlationId : undefined,
        at: Date.now(),
      });
      this.lastEventId = eventId;
    });
    ws.on('error', () => {
      // the close event follows
    });
    ws.on('close', () => {
      clearTimeout(joinTimer);
      this.joined = false;
      if (this.ws === ws) this.ws = null;
      if (this.stopped) return;
      // This instance did not even accept the connection: try the next one on the list.
      if (!opened) this.target++;
      setTimeout(() => this.connect(), opened ? 100 : 250);
    });
  }
}
