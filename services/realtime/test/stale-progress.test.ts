import type { EventEnvelope } from '@glavito/contracts';
import { describe, expect, it } from 'vitest';
import { createHub } from '../src/domain/hub.js';
import { eventFor, resetSeqs } from './helpers.js';

/**
 * Two progress replicas can publish one session's updates out of order (each right after its own commit).
 * A socket must never be shown an older progress snapshot after a newer one; other events still go out.
 */
function setup() {
  const hub = createHub({ maxBufferedBytes: 1 << 20, messagesPerSecond: 10, onPresenceChange: () => {} });
  const frames: Array<{ event: string; data: { eventId: string } }> = [];
  const socket = { bufferedAmount: 0, readyState: 1, send: (d: string) => void frames.push(JSON.parse(d)), ping: () => {}, close: () => {}, terminate: () => {} };
  const session = { id: 'sp-1', tenantId: 'sp-t', userId: 'sp-u' };
  const client = hub.connect('c1', socket, { userId: session.userId, tenantId: session.tenantId, roles: [] } as never);
  return { hub, frames, client, session };
}

const ids = (frames: Array<{ data: { eventId: string } }>) => frames.map((f) => f.data.eventId);

describe('progress snapshots out of order', () => {
  it('drops a progress_update older than one already pushed, live', () => {
    resetSeqs();
    const { hub, frames, session } = setup();
    const [p1, p2, p3] = [1, 2, 3].map(() => eventFor(session, 'progress.updated')) as [EventEnvelope, EventEnvelope, EventEnvelope];
    const step = eventFor(session, 'step.completed');
    // Stream order: p2 landed before p1.
    hub.dispatch(10, p2);
    hub.dispatch(11, p1);
    hub.dispatch(12, step);
    hub.dispatch(13, p3);
    expect(ids(frames)).toEqual([p2.id, step.id, p3.id]);
  });

  it('drops it in a replay too, where replayed and live events meet', () => {
    resetSeqs();
    const { hub, frames, client, session } = setup();
    const [p1, p2, p3] = [1, 2, 3].map(() => eventFor(session, 'progress.updated')) as [EventEnvelope, EventEnvelope, EventEnvelope];
    hub.join(client, session.id);
    hub.beginReplay(client, session.id);
    // Live during the replay (buffered): p3; in the replay: p2 then p1 (out of order in the stream).
    hub.dispatch(22, p3);
    hub.endReplay(client, session.id, 0, [
      { seq: 20, event: p2 },
      { seq: 21, event: p1 },
    ]);
    expect(ids(frames)).toEqual([p2.id, p3.id]);
  });
});
