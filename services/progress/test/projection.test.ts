import { ProgressResponseSchema } from '@glavito/contracts';
import { readStream, waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_TENANT_STEPS, bearer, simulateSession, startHarness, type ProgressHarness } from './helpers.js';

let h: ProgressHarness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const owner = { userId: 'u-1', tenantId: 't-1' };
const progressOf = async (sessionId: string, user = owner) => h.app.inject({ method: 'GET', url: `/onboarding/progress/${sessionId}`, headers: bearer(user) });
const appliedSeq = async (sessionId: string) =>
  (await h.db.pool.query<{ applied_seq: number }>('SELECT applied_seq FROM progress.projections WHERE session_id = $1', [sessionId])).rows[0]?.applied_seq ?? 0;

describe('projection from session events', () => {
  it('follows a whole tenant flow: 9 % → 100 %, four milestones in threshold order', async () => {
    const events = simulateSession({ sessionId: 's-flow', ...owner, steps: ALL_TENANT_STEPS, complete: true });
    const seen: number[] = [];
    for (const e of events) {
      await h.publish([e]);
      await waitFor(async () => (await appliedSeq('s-flow')) >= e.sessionSeq);
      if (e.sessionSeq >= 2) seen.push(ProgressResponseSchema.parse((await progressOf('s-flow')).json()).progressPercentage);
    }
    expect(seen).toEqual([9, 18, 27, 36, 45, 55, 64, 73, 82, 91, 100, 100]);
    const final = ProgressResponseSchema.parse((await progressOf('s-flow')).json());
    expect(final).toMatchObject({
      totalSteps: 11,
      completedSteps: 11,
      estimatedTimeRemaining: 0,
      estimatedCompletion: null,
      nextRecommendedAction: 'Onboarding complete',
    });
    expect(final.milestones.map((m) => [m.threshold, m.title, m.reachedAt !== null])).toEqual([
      [25, 'Getting Started', true],
      [50, 'Halfway There', true],
      [75, 'Almost Done', true],
      [100, 'Completed', true],
    ]);
    const milestoneEvents = await waitFor(async () => {
      const all = (await readStream(h.nats)).filter((m) => m.event.type === 'milestone.reached' && m.event.sessionId === 's-flow');
      return all.length >= 4 ? all : null;
    });
    expect(milestoneEvents.map((m) => m.event.data.threshold)).toEqual([25, 50, 75, 100]);
    const progressEvents = (await readStream(h.nats)).filter((m) => m.event.type === 'progress.updated' && m.event.sessionId === 's-flow');
    expect(progressEvents).toHaveLength(events.length);
    expect(progressEvents.every((m) => m.event.correlationId === 'corr-s-flow')).toBe(true);
    // The service numbers its own events per session: progress and milestone events interleave, 1..n.
    const own = (await readStream(h.nats)).filter((m) => m.event.sessionId === 's-flow' && ['progress.updated', 'milestone.reached'].includes(m.event.type));
    expect(own.map((m) => m.event.sessionSeq)).toEqual(own.map((_, i) => i + 1));
  });

  it('a session completed with optional steps left reads 100 %, nothing remaining, and its completion update comes last, after its milestones', async () => {
    const events = simulateSession({
      sessionId: 's-early',
      ...owner,
      steps: ['organization_setup', 'skip:channel_configuration', 'knowledge_base'],
      complete: true,
    });
    await h.publish(events);
    await waitFor(async () => (await appliedSeq('s-early')) === events.length);
    const final = ProgressResponseSchema.parse((await progressOf('s-early')).json());
    expect(final).toMatchObject({
      totalSteps: 11,
      completedSteps: 3,
      skippedSteps: 1,
      progressPercentage: 100,
      estimatedTimeRemaining: 0,
      estimatedCompletion: null,
      currentStep: null,
      nextRecommendedAction: 'Onboarding complete',
    });
    expect(final.milestones.every((m) => m.reachedAt !== null)).toBe(true);
    const own = await waitFor(async () => {
      const all = (await readStream(h.nats)).filter((m) => m.event.sessionId === 's-early' && ['progress.updated', 'milestone.reached'].includes(m.event.type));
      return all.length === events.length + 4 ? all : null;
    });
    expect(final.seq).toBe(own.length);
    // 36 % before completion (25 reached then); completion crosses 50, 75 and 100 once each, then the completion update.
    expect(own.slice(-4).map((m) => (m.event.type === 'milestone.reached' ? m.event.data.threshold : m.event.data.trigger))).toEqual([
      50,
      75,
      100,
      'session.completed',
    ]);
    const last = own.at(-1)!.event;
    expect(last.data).toMatchObject({ progress: { progressPercentage: 100, nextStep: null }, completion: { forced: false } });
    expect(own.filter((m) => m.event.type === 'milestone.reached').map((m) => m.event.data.threshold)).toEqual([25, 50, 75, 100]);
  });

  it('estimates completion from the observed pace, clamped', async () => {
    // 10 minutes per event: the user needs 10 min for steps estimated at 10 (organization) → pace 1 … then slower.
    const events = simulateSession({ sessionId: 's-pace', ...owner, steps: ['organization_setup'], minutesPerEvent: 40 });
    await h.publish(events);
    await waitFor(async () => (await appliedSeq('s-pace')) === 3);
    const p = ProgressResponseSchema.parse((await progressOf('s-pace')).json());
    // started 09:00, organization_setup done at 10:20 (80 min for 10 catalog minutes) → pace 8, clamped to 4;
    // 123 catalog minutes remain → 492 minutes after 10:20 = 18:32.
    expect(p.estimatedTimeRemaining).toBe(123);
    expect(p.estimatedCompletion).toBe('2026-01-05T18:32:00.000Z');
  });

  it('applies duplicates once and out-of-order events in sequence, with no duplicate milestone', async () => {
    const inOrder = simulateSession({ sessionId: 's-ref', ...owner, steps: ALL_TENANT_STEPS.slice(0, 6) });
    const shuffled = simulateSession({ sessionId: 's-mess', ...owner, steps: ALL_TENANT_STEPS.slice(0, 6) });
    await h.publish(inOrder);
    // Reversed, and every event twice (distinct deliveries of the same event id are deduped by the broker,
    // so republish under the stream dedupe window is a no-op: push the second copies directly through the handler).
    for (const e of [...shuffled].reverse()) await h.publish([e]);
    await waitFor(async () => (await appliedSeq('s-ref')) === 8 && (await appliedSeq('s-mess')) === 8);
    for (const e of shuffled) expect(await h.app.projectionRepository.process(e)).toBe('duplicate');
    const ref = (await progressOf('s-ref')).json();
    const mess = (await progressOf('s-mess')).json();
    expect({ ...mess, sessionId: 's-ref' }).toEqual(ref);
    const { rows } = await h.db.pool.query(
      "SELECT session_id, count(*)::int AS n FROM progress.milestones WHERE session_id IN ('s-ref', 's-mess') GROUP BY session_id ORDER BY session_id",
    );
    expect(rows).toEqual([
      { session_id: 's-mess', n: 2 },
      { session_id: 's-ref', n: 2 },
    ]);
    const pending = await h.db.pool.query("SELECT count(*)::int AS n FROM progress.pending_events WHERE session_id = 's-mess'");
    expect(pending.rows[0].n).toBe(0);
    const milestoneEvents = await waitFor(async () => {
      const all = (await readStream(h.nats)).filter((m) => m.event.type === 'milestone.reached' && m.event.sessionId === 's-mess');
      return all.length === 2 ? all : null;
    });
    expect(milestoneEvents.map((m) => m.event.data.threshold)).toEqual([25, 50]);
  });
});

describe('access', () => {
  it("is 404 for another tenant or another agent's session, visible to the tenant's admin", async () => {
    await h.publish(simulateSession({ sessionId: 's-acl', ...owner, steps: [] }));
    await waitFor(async () => (await appliedSeq('s-acl')) === 2);
    expect((await progressOf('s-acl')).statusCode).toBe(200);
    expect((await progressOf('s-acl', { userId: 'u-2', tenantId: 't-1' })).statusCode).toBe(404);
    expect((await progressOf('s-acl', { userId: 'admin', tenantId: 't-1', roles: ['admin'] } as never)).statusCode).toBe(200);
    expect((await progressOf('s-acl', { userId: 'admin', tenantId: 't-2', roles: ['admin'] } as never)).statusCode).toBe(404);
    expect((await h.app.inject({ method: 'GET', url: '/onboarding/progress/s-acl' })).statusCode).toBe(401);
  });

  it('statistics: admins only, own tenant only, a tenantId parameter is rejected', async () => {
    const agent = await h.app.inject({ method: 'GET', url: '/onboarding/statistics', headers: bearer(owner) });
    expect(agent.statusCode).toBe(403);
    const admin = bearer({ userId: 'admin', tenantId: 't-1', roles: ['admin'] });
    const withTenant = await h.app.inject({ method: 'GET', url: '/onboarding/statistics?tenantId=t-2', headers: admin });
    expect(withTenant.statusCode).toBe(400);
    const ok = await h.app.inject({ method: 'GET', url: '/onboarding/statistics', headers: admin });
    expect(ok.statusCode).toBe(200);
    const other = await h.app.inject({ method: 'GET', url: '/onboarding/statistics', headers: bearer({ userId: 'a', tenantId: 't-empty', roles: ['admin'] }) });
    expect(other.json()).toMatchObject({ totalSessions: 0, completionRate: 0, averageCompletionTime: null });
  });
});
