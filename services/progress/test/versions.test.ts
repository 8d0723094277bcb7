import { eventSubject, ProgressResponseSchema, type EventEnvelope } from '@glavito/contracts';
import { waitFor } from '@glavito/testkit';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { progressDurables } from '../src/consumers/session-events.js';
import { bearer, simulateSession, startHarness, type ProgressHarness } from './helpers.js';

let h: ProgressHarness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const owner = { userId: 'u-v', tenantId: 't-v' };
const appliedSeq = async (sessionId: string) =>
  (await h.db.pool.query<{ applied_seq: number }>('SELECT applied_seq FROM progress.projections WHERE session_id = $1', [sessionId])).rows[0]?.applied_seq ?? 0;
/** Published as a newer session service would: raw, since this build's publisher refuses what it cannot read. */
const publishRaw = (e: Record<string, unknown> & Pick<EventEnvelope, 'id' | 'tenantId' | 'sessionId'> & { type: string }) =>
  jetstream(h.nats.nc).publish(eventSubject(h.nats.subjectPrefix, e), JSON.stringify(e), { msgID: e.id });

describe('events of a newer session service', () => {
  it('an unknown type and an unknown version in the middle of a session are acknowledged, counted and stepped over: the events after them apply, nothing waits or is dead-lettered', async () => {
    const plain = simulateSession({ sessionId: 's-v', ...owner, steps: ['organization_setup', 'channel_configuration', 'ai_configuration'] });
    // Two events this build cannot read, at sequence 3 and 4; the rest renumbered after them.
    const [started, welcome, ...rest] = plain as [EventEnvelope, EventEnvelope, ...EventEnvelope[]];
    const unknownType = { ...welcome, id: crypto.randomUUID(), type: 'step.annotated_by_robot', sessionSeq: 3, data: { anything: true } };
    const unknownVersion = { ...rest[0]!, id: crypto.randomUUID(), version: 7, sessionSeq: 4, data: { reshaped: true } };
    const later = rest.map((e) => ({ ...e, sessionSeq: e.sessionSeq + 2 }));
    await h.publish([started, welcome]);
    await waitFor(async () => (await appliedSeq('s-v')) === 2);
    await publishRaw(unknownType);
    await publishRaw(unknownVersion);
    await h.publish(later);

    await waitFor(async () => (await appliedSeq('s-v')) === 2 + 2 + later.length, { message: 'every event applied or stepped over, in order' });
    const progress = ProgressResponseSchema.parse((await h.app.inject({ method: 'GET', url: '/onboarding/progress/s-v', headers: bearer(owner) })).json());
    expect(progress).toMatchObject({ completedSteps: 4, progressPercentage: 36 });
    expect((await h.db.pool.query('SELECT 1 FROM progress.pending_events WHERE session_id = $1', ['s-v'])).rowCount).toBe(0);

    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    const { steps } = progressDurables(h.config);
    const counted = (labels: string) =>
      metrics
        .split('\n')
        .find((l) => l.startsWith(`events_unknown_total{consumer="${steps.durable}",${labels}`))
        ?.split(' ')
        .at(-1);
    expect(counted('type="step.annotated_by_robot",version="1",reason="unknown_type"')).toBe('1');
    expect(counted('type="step.completed",version="7",reason="unknown_version"')).toBe('1');
    const jsm = await jetstreamManager(h.nats.nc);
    const info = await jsm.consumers.info(h.config.EVENT_STREAM, steps.durable);
    expect(info.num_ack_pending + info.num_pending).toBe(0);
    expect(info.num_redelivered).toBe(0);
  });
});
