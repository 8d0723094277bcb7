import { callRpc, serveRpc } from '@glavito/bus';
import {
  ProgressGetReplySchema,
  ProgressResponseSchema,
  rpcSubject,
  SessionGetReplySchema,
  SessionGetRequestSchema,
  type SessionSummary,
} from '@glavito/contracts';
import { fakeSessionService } from '@glavito/test-fakes';
import { waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, simulateSession, startHarness, type ProgressHarness } from './helpers.js';

let h: ProgressHarness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const owner = { userId: 'rpc-owner', tenantId: 'rpc-t' };
type Caller = { userId: string; tenantId: string; isAdmin: boolean };
const progressGet = (sessionId: string, caller: Caller) =>
  callRpc(h.nats.nc, rpcSubject(h.config.RPC_SUBJECT_PREFIX, 'progress.get'), { sessionId, caller }, ProgressGetReplySchema);
const httpProgress = (sessionId: string, user: { userId: string; tenantId: string; roles?: string[] } = owner) =>
  h.app.inject({ method: 'GET', url: `/onboarding/progress/${sessionId}`, headers: bearer(user) });
const appliedSeq = async (sessionId: string) =>
  (await h.db.pool.query<{ applied_seq: number }>('SELECT applied_seq FROM progress.projections WHERE session_id = $1', [sessionId])).rows[0]?.applied_seq ?? 0;

describe('progress.get over NATS request/reply', () => {
  it("answers the projection's progress for the owner and same-tenant admins, not found for anyone else", async () => {
    await h.publish(simulateSession({ sessionId: 'rpc-s1', ...owner, steps: ['organization_setup', 'channel_configuration'] }));
    await waitFor(async () => (await appliedSeq('rpc-s1')) === 4);

    const http = ProgressResponseSchema.parse((await httpProgress('rpc-s1')).json());
    const mine = await progressGet('rpc-s1', { ...owner, isAdmin: false });
    expect(mine).toEqual({ found: true, progress: http });
    // welcome, organization, channel = 3 of 11 → 27 %, the first milestone reached by the third step event.
    expect(mine.found && mine.progress).toMatchObject({ sessionId: 'rpc-s1', completedSteps: 3, progressPercentage: 27, currentStep: 'ai_configuration' });
    expect(mine.found && mine.progress.milestones.map((m) => m.reachedAt)).toEqual(['2026-01-05T09:15:00.000Z', null, null, null]);

    expect(await progressGet('rpc-s1', { userId: 'rpc-admin', tenantId: 'rpc-t', isAdmin: true })).toEqual({ found: true, progress: http });
    // No session service answers here: another tenant and another agent get "not found", not an error.
    expect(await progressGet('rpc-s1', { userId: 'rpc-admin', tenantId: 'rpc-other', isAdmin: true })).toEqual({ found: false });
    expect(await progressGet('rpc-s1', { userId: 'rpc-colleague', tenantId: 'rpc-t', isAdmin: false })).toEqual({ found: false });
  });

  it('rejects a request that breaks its contract with an error reply', async () => {
    await expect(progressGet('not a subject token!', { ...owner, isAdmin: false })).rejects.toMatchObject({ code: 'remote_error' });
    await expect(
      callRpc(h.nats.nc, rpcSubject(h.config.RPC_SUBJECT_PREFIX, 'progress.get'), { sessionId: 'rpc-s1' }, ProgressGetReplySchema),
    ).rejects.toMatchObject({ code: 'remote_error' });
  });
});

describe('before the first event arrives', () => {
  const fresh: SessionSummary = {
    id: 'rpc-fresh',
    tenantId: 'rpc-t',
    userId: 'rpc-agent',
    type: 'agent_welcome',
    status: 'active',
    completedSteps: ['welcome'],
    skippedSteps: [],
    currentStep: 'profile_setup',
    startedAt: '2026-01-05T09:00:00.000Z',
    lastActivityAt: '2026-01-05T09:00:00.000Z',
    completedAt: null,
  };
  const agent = { userId: 'rpc-agent', tenantId: 'rpc-t' };

  it('asks the session service and answers its computed progress (HTTP 200 right after start, and over RPC)', async () => {
    // The session service faked at its NATS boundary; this service answers progress.get itself.
    const sessionService = fakeSessionService(h.nats, { serves: ['session.get'] });
    sessionService.add(fresh);
    try {
      const res = await httpProgress('rpc-fresh', agent);
      expect(res.statusCode, res.body).toBe(200);
      // agent_welcome: welcome done, 1 of 8 → 12.5 → 13 %; remaining 5+4+3+8+10+3+5 = 38 minutes; no projection, so no estimate.
      expect(ProgressResponseSchema.parse(res.json())).toEqual({
        sessionId: 'rpc-fresh',
        totalSteps: 8,
        completedSteps: 1,
        skippedSteps: 0,
        progressPercentage: 13,
        estimatedTimeRemaining: 38,
        estimatedCompletion: null,
        currentStep: 'profile_setup',
        nextRecommendedAction: 'Complete Your Profile',
        milestones: [
          { threshold: 25, title: 'Getting Started', reachedAt: null },
          { threshold: 50, title: 'Halfway There', reachedAt: null },
          { threshold: 75, title: 'Almost Done', reachedAt: null },
          { threshold: 100, title: 'Completed', reachedAt: null },
        ],
        seq: 0,
      });
      // The caller travels with the question, so the session service applies its own tenancy rules.
      expect(sessionService.calls).toEqual([{ rpc: 'session.get', request: { sessionId: 'rpc-fresh', caller: { ...agent, isAdmin: false } } }]);

      expect(await progressGet('rpc-fresh', { ...agent, isAdmin: false })).toEqual({ found: true, progress: res.json() });
      expect(await progressGet('rpc-fresh', { userId: 'rpc-admin', tenantId: 'rpc-t', isAdmin: true })).toMatchObject({ found: true });
      // The session service says "not found" for another tenant: so do we (404, never 403).
      expect(await progressGet('rpc-fresh', { userId: 'x', tenantId: 'rpc-other', isAdmin: true })).toEqual({ found: false });
      expect((await httpProgress('rpc-fresh', { userId: 'x', tenantId: 'rpc-other', roles: ['admin'] })).statusCode).toBe(404);

      // Once the events arrive, the projection answers (and the session service is no longer asked).
      await h.publish(simulateSession({ sessionId: 'rpc-fresh', ...agent, type: 'agent_welcome', steps: ['profile_setup'] }));
      await waitFor(async () => (await appliedSeq('rpc-fresh')) === 3);
      const asked = sessionService.calls.length;
      const after = ProgressResponseSchema.parse((await httpProgress('rpc-fresh', agent)).json());
      expect(after).toMatchObject({ completedSteps: 2, progressPercentage: 25, currentStep: 'team_assignment' });
      expect(after.estimatedCompletion).not.toBeNull();
      expect(after.milestones[0]!.reachedAt).toBe('2026-01-05T09:10:00.000Z');
      expect(sessionService.calls).toHaveLength(asked);
    } finally {
      sessionService.stop();
    }
  });

  it('is a 503 to retry (not a 404, a 500 or a hang) when no session service answers, and progress.get answers an error', async () => {
    // Nothing serves session.get (not deployed, or every replica restarting): whether the session exists is unknown.
    const started = Date.now();
    const res = await httpProgress('rpc-unknown', agent);
    expect(res.statusCode, res.body).toBe(503);
    expect(res.json()).toMatchObject({ code: 'SERVICE_DEPENDENCY_UNAVAILABLE' });
    expect(res.headers['retry-after']).toBeDefined();
    expect(Date.now() - started).toBeLessThan(2500);
    await expect(progressGet('rpc-unknown', { ...agent, isAdmin: false })).rejects.toMatchObject({ code: 'remote_error' });
  });

  it('is a 503 when the session service answers with an error (its database away)', async () => {
    const failing = serveRpc({
      nc: h.nats.nc,
      subject: rpcSubject(h.config.RPC_SUBJECT_PREFIX, 'session.get'),
      queue: 'failing-session',
      // The failure is the point here: not worth a warning in the test output.
      logger: { info: () => {}, warn: () => {}, error: () => {} },
      request: SessionGetRequestSchema,
      reply: SessionGetReplySchema,
      handler: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      },
    });
    await h.nats.nc.flush();
    try {
      const res = await httpProgress('rpc-failing', agent);
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json()).toMatchObject({ code: 'SERVICE_DEPENDENCY_UNAVAILABLE' });
    } finally {
      await failing.stop();
    }
  });

  it("answers not found for another tenant's or another agent's projected session without asking the session service", async () => {
    // rpc-s1 is projected (first test) and no session service runs here: a 404 all the same, since the projection says whose it is.
    const stranger = await httpProgress('rpc-s1', { userId: 'x', tenantId: 'rpc-other', roles: ['admin'] });
    expect(stranger.statusCode, stranger.body).toBe(404);
    expect(stranger.json()).toMatchObject({ code: 'PROGRESS_SESSION_NOT_FOUND' });
    expect((await httpProgress('rpc-s1', { userId: 'rpc-colleague', tenantId: 'rpc-t' })).statusCode).toBe(404);
    expect((await httpProgress('rpc-s1', { userId: 'rpc-admin', tenantId: 'rpc-t', roles: ['admin'] })).statusCode).toBe(200);
  });

  it('is a 503 to retry, not a 404, when the question gets no answer in time (NATS away, a stalled session service)', async () => {
    // Someone holds the subject but never replies: whether the session exists is unknown.
    const stalled = h.nats.nc.subscribe(rpcSubject(h.config.RPC_SUBJECT_PREFIX, 'session.get'));
    await h.nats.nc.flush();
    try {
      const res = await httpProgress('rpc-stalled', agent);
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json()).toMatchObject({ code: 'SERVICE_DEPENDENCY_UNAVAILABLE' });
      expect(stalled.getReceived()).toBe(1);
    } finally {
      stalled.unsubscribe();
    }
  });
});
