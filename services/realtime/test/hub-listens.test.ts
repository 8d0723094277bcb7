import { describe, expect, it } from 'vitest';
import { createHub, type SocketLike } from '../src/domain/hub.js';

const socket = (): SocketLike => ({ bufferedAmount: 0, readyState: 1, send() {}, ping() {}, close() {}, terminate() {} });

describe('hub.listens (which raw events this replica needs to read at all)', () => {
  it('is true for an event of a local socket’s user or joined session (tenant-scoped), false otherwise', () => {
    const hub = createHub({ maxBufferedBytes: 1 << 20, messagesPerSecond: 10, onPresenceChange: () => {} });
    const ann = hub.connect('c1', socket(), { tenantId: 't1', userId: 'ann', roles: ['agent'] } as never);
    hub.join(ann, 's-watched');
    const ev = (over: Record<string, unknown>) => ({ type: 'step.completed', tenantId: 't1', userId: 'bob', sessionId: 's-other', ...over });

    expect(hub.listens(ev({ userId: 'ann' }))).toBe(true);
    expect(hub.listens(ev({ sessionId: 's-watched' }))).toBe(true);
    expect(hub.listens(ev({ type: 'notification.created', userId: 'ann' }))).toBe(true);
    // A notification is its recipient's alone: watching the session is not listening to it.
    expect(hub.listens(ev({ type: 'notification.created', sessionId: 's-watched' }))).toBe(false);
    expect(hub.listens(ev({}))).toBe(false);
    expect(hub.listens(ev({ tenantId: 't2', userId: 'ann' }))).toBe(false);
    expect(hub.listens(ev({ tenantId: 't2', sessionId: 's-watched' }))).toBe(false);
    // What cannot be keyed is read, so the reader can say what is wrong with it.
    expect(hub.listens(ev({ userId: 7 }))).toBe(true);
    expect(hub.listens('text')).toBe(true);

    hub.leave(ann, 's-watched');
    expect(hub.listens(ev({ sessionId: 's-watched' }))).toBe(false);
    hub.disconnect(ann);
    expect(hub.listens(ev({ userId: 'ann' }))).toBe(false);
  });
});
