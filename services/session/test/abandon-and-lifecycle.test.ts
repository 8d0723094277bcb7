import {
  AgentWelcomeStatusSchema,
  CompleteResponseSchema,
  ErrorBodySchema,
  PauseResponseSchema,
  SessionWithProgressSchema,
  StepSaveResponseSchema,
  TenantSetupCompleteResponseSchema,
  TenantSetupStatusSchema,
  TypeResponseSchema,
} from '@glavito/contracts';
import { readStream, waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startHarness, type SessionHarness } from './helpers.js';

const MINUTE = 60_000;
const DAY = 86_400_000;

/** The service's clock (BuildOptions.now): moved by hand, so "7 days later" takes no time. */
let clockMs = Date.parse('2030-01-07T09:00:00.000Z');
const advance = (ms: number) => {
  clockMs += ms;
};
const nowIso = () => new Date(clockMs).toISOString();

let h: SessionHarness;
beforeAll(async () => {
  h = await startHarness({ now: () => new Date(clockMs), env: { ABANDON_AFTER: '7d' } });
});
afterAll(async () => {
  await h?.close();
});

type User = { userId: string; tenantId: string; roles: string[] };
const adminOf = (tenantId: string, userId: string): User => ({ userId, tenantId, roles: ['admin'] });
const agentOf = (tenantId: string, userId: string): User => ({ userId, tenantId, roles: ['agent'] });

type Method = 'GET' | 'POST' | 'PUT';
const call = (user: User, method: Method, url: string, payload?: object) =>
  h.app.inject({ method, url, headers: bearer(user), ...(payload === undefined ? {} : { payload }) });

async function start(user: User, payload: object = {}): Promise<string> {
  const r = await call(user, 'POST', '/onboarding/start', payload);
  expect(r.statusCode, r.body).toBe(201);
  return SessionWithProgressSchema.parse(r.json()).session.id;
}

async function save(user: User, sessionId: string, stepId: string, data: object) {
  const r = await call(user, 'PUT', `/onboarding/step/${sessionId}/${stepId}`, data);
  expect(r.statusCode, `${stepId}: ${r.body}`).toBe(200);
  return StepSaveResponseSchema.parse(r.json());
}

async function getSession(user: User, sessionId: string) {
  const r = await call(user, 'GET', `/onboarding/session/${sessionId}`);
  expect(r.statusCode, r.body).toBe(200);
  return SessionWithProgressSchema.parse(r.json()).session;
}

function expectError(r: { statusCode: number; json(): unknown; body: string }, status: number, code: string) {
  expect(r.statusCode, r.body).toBe(status);
  const body = ErrorBodySchema.parse(r.json());
  expect(body.code).toBe(code);
  return body;
}

type StoredEvent = { id: string; type: string; sessionSeq: number; data: { status?: string; stepId?: string; reason?: string } };

/** A session's events as committed with its state (the outbox), in order. */
async function eventsOf(sessionId: string): Promise<StoredEvent[]> {
  const { rows } = await h.db.pool.query<{ payload: StoredEvent }>(`SELECT payload FROM session.outbox WHERE payload->>'sessionId' = $1 ORDER BY seq`, [
    sessionId,
  ]);
  return rows.map((r) => r.payload);
}
const typesOf = async (sessionId: string) => (await eventsOf(sessionId)).map((e) => e.type);

const ORG = { companyName: 'Lifecycle Ltd', primaryColor: '#445566' };

describe('abandon sweep (ABANDON_AFTER = 7d)', () => {
  const tenant = 'tenant-abandon';
  const idle = adminOf(tenant, 'idle-admin');
  const pausedIdle = adminOf(tenant, 'paused-admin');
  const recent = adminOf(tenant, 'recent-admin');
  const done = adminOf(tenant, 'done-admin');
  const ids: Record<'idle' | 'pausedIdle' | 'recent' | 'done', string> = { idle: '', pausedIdle: '', recent: '', done: '' };

  it('abandons sessions idle for longer than ABANDON_AFTER and nothing else', async () => {
    ids.idle = await start(idle);
    ids.pausedIdle = await start(pausedIdle);
    expect((await call(pausedIdle, 'POST', `/onboarding/pause/${ids.pausedIdle}`)).statusCode).toBe(200);
    ids.recent = await start(recent);
    ids.done = await start(done);
    await save(done, ids.done, 'organization_setup', ORG);
    expect((await call(done, 'POST', `/onboarding/complete/${ids.done}`)).statusCode).toBe(200);

    advance(6 * DAY);
    await save(recent, ids.recent, 'organization_setup', ORG);
    const recentBefore = await getSession(recent, ids.recent);

    // Nothing is old enough yet.
    expect(await h.app.sweepAbandoned()).toBe(0);

    advance(DAY + MINUTE); // idle: 7d 1m since its last activity; recent: 1d 1m
    expect(await h.app.sweepAbandoned()).toBe(2);

    expect((await getSession(idle, ids.idle)).status).toBe('abandoned');
    expect((await getSession(pausedIdle, ids.pausedIdle)).status).toBe('abandoned');
    const idleEvents = await eventsOf(ids.idle);
    expect(idleEvents.map((e) => e.type)).toEqual(['session.started', 'step.completed', 'session.abandoned']);
    expect(idleEvents.at(-1)!.data.status).toBe('abandoned');
    expect(idleEvents.map((e) => e.sessionSeq)).toEqual([1, 2, 3]);
    expect(await typesOf(ids.pausedIdle)).toEqual(['session.started', 'step.completed', 'session.paused', 'session.abandoned']);

    // Active more recently: untouched (same version, no event).
    expect(await getSession(recent, ids.recent)).toEqual(recentBefore);
    expect(await typesOf(ids.recent)).not.toContain('session.abandoned');
    // Completed long ago: untouched.
    expect((await getSession(done, ids.done)).status).toBe('completed');
    expect(await typesOf(ids.done)).not.toContain('session.abandoned');

    // A second sweep finds nothing new.
    expect(await h.app.sweepAbandoned()).toBe(0);
    expect(await typesOf(ids.idle)).toEqual(['session.started', 'step.completed', 'session.abandoned']);
  });

  it('a later step save reactivates an abandoned session (session.resumed, then step.completed)', async () => {
    advance(3 * DAY);
    const r = await save(idle, ids.idle, 'organization_setup', ORG);
    expect(r.session.status).toBe('active');
    expect(r.session.completedSteps).toEqual(['welcome', 'organization_setup']);
    expect(r.session.lastActivityAt).toBe(nowIso());

    const events = await eventsOf(ids.idle);
    expect(events.map((e) => e.type)).toEqual(['session.started', 'step.completed', 'session.abandoned', 'session.resumed', 'step.completed']);
    expect(events[3]!.data.status).toBe('active');
    expect(events[4]!.data).toMatchObject({ stepId: 'organization_setup', status: 'active' });
    expect(events.map((e) => e.sessionSeq)).toEqual([1, 2, 3, 4, 5]);

    // Fresh activity: the next sweep leaves it alone.
    expect(await h.app.sweepAbandoned()).toBe(0);
    expect((await getSession(idle, ids.idle)).status).toBe('active');

    // Resume is for paused sessions only; an abandoned one is reactivated by a save.
    expectError(await call(pausedIdle, 'POST', `/onboarding/resume/${ids.pausedIdle}`), 409, 'SESSION_NOT_PAUSED');
  });

  it('publishes the sweep and reactivation events to the stream in session order', async () => {
    const expected = await eventsOf(ids.idle);
    const published = await waitFor(async () => {
      const mine = (await readStream(h.nats)).filter((e) => e.event.sessionId === ids.idle);
      return mine.length === expected.length ? mine : null;
    });
    expect(published.map((e) => [e.event.id, e.event.type, e.event.sessionSeq])).toEqual(expected.map((e) => [e.id, e.type, e.sessionSeq]));
  });
});

describe('pause and resume', () => {
  const user = adminOf('tenant-pause', 'pause-admin');
  let id: string;

  it('pauses once (200 + session.paused); pausing again is 409 SESSION_ALREADY_PAUSED', async () => {
    id = await start(user);
    const paused = await call(user, 'POST', `/onboarding/pause/${id}`);
    expect(paused.statusCode, paused.body).toBe(200);
    expect(PauseResponseSchema.parse(paused.json()).session.status).toBe('paused');
    expect((await eventsOf(id)).at(-1)).toMatchObject({ type: 'session.paused', sessionSeq: 3, data: { status: 'paused' } });

    expectError(await call(user, 'POST', `/onboarding/pause/${id}`), 409, 'SESSION_ALREADY_PAUSED');
    expect(await typesOf(id)).toEqual(['session.started', 'step.completed', 'session.paused']);
  });

  it('resumes a paused session; resuming one that is not paused is 409 SESSION_NOT_PAUSED', async () => {
    const resumed = await call(user, 'POST', `/onboarding/resume/${id}`);
    expect(resumed.statusCode, resumed.body).toBe(200);
    expect(PauseResponseSchema.parse(resumed.json()).session.status).toBe('active');

    expectError(await call(user, 'POST', `/onboarding/resume/${id}`), 409, 'SESSION_NOT_PAUSED');
    expect(await typesOf(id)).toEqual(['session.started', 'step.completed', 'session.paused', 'session.resumed']);
  });

  it('a save on a paused session resumes it', async () => {
    expect((await call(user, 'POST', `/onboarding/pause/${id}`)).statusCode).toBe(200);
    const r = await save(user, id, 'organization_setup', ORG);
    expect(r.session.status).toBe('active');
    expect((await getSession(user, id)).status).toBe('active');
    expect((await typesOf(id)).slice(-3)).toEqual(['session.paused', 'session.resumed', 'step.completed']);
  });
});

describe('completion and restart', () => {
  const user = adminOf('tenant-complete', 'complete-admin');
  let first: string;

  it('refuses to complete with required steps missing (409 listing them)', async () => {
    first = await start(user);
    const body = expectError(await call(user, 'POST', `/onboarding/complete/${first}`), 409, 'SESSION_REQUIRED_STEPS_MISSING');
    expect(body.details).toEqual([{ missingSteps: ['organization_setup'] }]);
    expect(body.message).toContain('organization_setup');
    expect((await getSession(user, first)).status).toBe('active');
  });

  it('completes once; completing again, saving, skipping or pausing afterwards is 409', async () => {
    await save(user, first, 'organization_setup', ORG);
    const skipped = await call(user, 'POST', `/onboarding/skip/${first}/data_import`, {});
    expect(skipped.statusCode, skipped.body).toBe(200);
    const before = TenantSetupStatusSchema.parse((await call(user, 'GET', '/onboarding/tenant-setup/status')).json());
    // Not completed yet: the session's own figure (welcome, organization_setup done, data_import skipped: 3 of 11).
    expect(before).toMatchObject({
      isCompleted: false,
      sessionId: first,
      completedSteps: ['welcome', 'organization_setup'],
      skippedSteps: ['data_import'],
      missingSteps: [],
      progressPercentage: 27,
    });
    advance(30 * MINUTE);
    const done = await call(user, 'POST', `/onboarding/complete/${first}`);
    expect(done.statusCode, done.body).toBe(200);
    const completed = CompleteResponseSchema.parse(done.json());
    expect(completed.completedAt).toBe(nowIso());
    expect(completed.summary).toMatchObject({ stepsCompleted: 2, type: 'tenant_setup', role: 'tenant_admin', totalTime: 30 });
    expect((await eventsOf(first)).at(-1)).toMatchObject({ type: 'session.completed', data: { status: 'completed' } });
    const eventsAfterCompletion = (await eventsOf(first)).length;

    expectError(await call(user, 'POST', `/onboarding/complete/${first}`), 409, 'SESSION_ALREADY_COMPLETED');
    expectError(await call(user, 'PUT', `/onboarding/step/${first}/knowledge_base`, { categories: ['x'] }), 409, 'SESSION_ALREADY_COMPLETED');
    expectError(await call(user, 'POST', `/onboarding/skip/${first}/knowledge_base`, {}), 409, 'SESSION_ALREADY_COMPLETED');
    expectError(await call(user, 'POST', `/onboarding/pause/${first}`), 409, 'SESSION_ALREADY_COMPLETED');
    expect(await eventsOf(first)).toHaveLength(eventsAfterCompletion);
    const stored = await getSession(user, first);
    expect(stored.status).toBe('completed');
    expect(stored.stepData).not.toHaveProperty('knowledge_base');

    // Completed with optional steps left: 100 %, nothing remaining or next, on every route of the service.
    const read = SessionWithProgressSchema.parse((await call(user, 'GET', `/onboarding/session/${first}`)).json());
    expect(read.session.currentStep).toBeNull();
    expect(read.progress).toMatchObject({
      progressPercentage: 100,
      estimatedTimeRemaining: 0,
      nextStep: null,
      currentStep: null,
      nextRecommendedAction: 'Onboarding complete',
      completedSteps: 2,
      skippedSteps: 1,
    });
    expect((await eventsOf(first)).at(-1)).toMatchObject({ data: { progress: { progressPercentage: 100, nextStep: null } } });
    const tenant = TenantSetupStatusSchema.parse((await call(user, 'GET', '/onboarding/tenant-setup/status')).json());
    expect(tenant).toMatchObject({
      isCompleted: true,
      sessionId: first,
      completedSteps: ['welcome', 'organization_setup'],
      skippedSteps: ['data_import'],
      missingSteps: [],
      progressPercentage: 100,
    });
  });

  it('starting again after completion creates a new session (201, new id); the old one stays completed', async () => {
    const r = await call(user, 'POST', '/onboarding/start', {});
    expect(r.statusCode, r.body).toBe(201);
    const second = SessionWithProgressSchema.parse(r.json()).session;
    expect(second.id).not.toBe(first);
    expect(second).toMatchObject({ status: 'active', type: 'tenant_setup', completedSteps: ['welcome'], currentStep: 'organization_setup' });
    expect((await getSession(user, first)).status).toBe('completed');

    // And that new session is now "the caller's unfinished one".
    const again = await call(user, 'POST', '/onboarding/start', {});
    expect(again.statusCode).toBe(200);
    expect(again.json().session.id).toBe(second.id);
  });
});

describe('agent welcome after tenant setup', () => {
  const tenant = 'tenant-agents';
  const admin = adminOf(tenant, 'agents-admin');
  const agent = agentOf(tenant, 'agent-1');
  let id: string;

  it('is refused with 409 SESSION_TENANT_SETUP_INCOMPLETE until the tenant setup is completed', async () => {
    expectError(await call(agent, 'POST', '/onboarding/start', {}), 409, 'SESSION_TENANT_SETUP_INCOMPLETE');
    expectError(await call(agent, 'POST', '/onboarding/start', { type: 'agent_welcome' }), 409, 'SESSION_TENANT_SETUP_INCOMPLETE');
    expectError(await call(agent, 'POST', '/onboarding/agent-welcome/start', {}), 409, 'SESSION_TENANT_SETUP_INCOMPLETE');
    expect(TypeResponseSchema.parse((await call(agent, 'GET', '/onboarding/type')).json()).tenantSetupCompleted).toBe(false);
    // Only an admin may mark the tenant's setup completed.
    expect((await call(agent, 'POST', '/onboarding/tenant-setup/complete')).statusCode).toBe(403);
    const { rows } = await h.db.pool.query('SELECT 1 FROM session.sessions WHERE tenant_id = $1', [tenant]);
    expect(rows).toHaveLength(0);
  });

  it('starts (201) once an admin completed the tenant setup', async () => {
    const marked = await call(admin, 'POST', '/onboarding/tenant-setup/complete');
    expect(marked.statusCode, marked.body).toBe(200);
    expect(TenantSetupCompleteResponseSchema.parse(marked.json()).completedAt).toBe(nowIso());
    expect(TypeResponseSchema.parse((await call(agent, 'GET', '/onboarding/type')).json()).tenantSetupCompleted).toBe(true);

    const r = await call(agent, 'POST', '/onboarding/start', {});
    expect(r.statusCode, r.body).toBe(201);
    const started = SessionWithProgressSchema.parse(r.json());
    expect(started.session).toMatchObject({ type: 'agent_welcome', role: 'agent', completedSteps: ['welcome'], currentStep: 'profile_setup' });
    expect(started.progress.totalSteps).toBe(8);
    id = started.session.id;
  });

  it('lists every missing required step when completed too early', async () => {
    const body = expectError(await call(agent, 'POST', `/onboarding/complete/${id}`), 409, 'SESSION_REQUIRED_STEPS_MISSING');
    expect(body.details).toEqual([
      { missingSteps: ['profile_setup', 'team_assignment', 'permissions_overview', 'feature_tour', 'test_ticket', 'quick_start'] },
    ]);
  });

  it('completes all 8 steps of the agent flow', async () => {
    const steps: Array<[string, object]> = [
      ['profile_setup', { displayName: 'Ana Agent', timezone: 'Europe/Lisbon', languages: ['pt', 'en'] }],
      ['team_assignment', { teamId: 'support-eu', acknowledged: true }],
      ['permissions_overview', { acknowledged: true }],
      ['feature_tour', { completedSections: ['inbox', 'macros'] }],
      ['test_ticket', { ticketId: 'T-1', resolved: true }],
      ['notification_preferences', { email: true, push: false, digest: 'daily' }],
      ['quick_start', { acknowledged: true }],
    ];
    let last: Awaited<ReturnType<typeof save>> | undefined;
    for (const [stepId, data] of steps) last = await save(agent, id, stepId, data);
    expect(last!.progress).toMatchObject({ completedSteps: 8, progressPercentage: 100, nextStep: null });

    const done = await call(agent, 'POST', `/onboarding/complete/${id}`);
    expect(done.statusCode, done.body).toBe(200);
    expect(CompleteResponseSchema.parse(done.json()).summary).toMatchObject({ stepsCompleted: 8, type: 'agent_welcome', role: 'agent' });

    const status = await call(agent, 'GET', `/onboarding/agent-welcome/status/${agent.userId}`);
    expect(status.statusCode, status.body).toBe(200);
    expect(AgentWelcomeStatusSchema.parse(status.json())).toMatchObject({ isCompleted: true, missingSteps: [], progressPercentage: 100, sessionId: id });
    expect(await typesOf(id)).toEqual(['session.started', ...Array<string>(8).fill('step.completed'), 'session.completed']);
  });
});

describe('skipping steps', () => {
  const user = adminOf('tenant-skip', 'skip-admin');
  let id: string;

  it('skips an optional step (200) and counts it in progress', async () => {
    id = await start(user);
    await save(user, id, 'organization_setup', ORG);
    const r = await call(user, 'POST', `/onboarding/skip/${id}/knowledge_base`, { reason: 'we have a wiki' });
    expect(r.statusCode, r.body).toBe(200);
    const body = StepSaveResponseSchema.parse(r.json());
    expect(body.session.skippedSteps).toEqual(['knowledge_base']);
    expect(body.session.metadata).toMatchObject({ skipReasons: { knowledge_base: 'we have a wiki' } });
    // welcome + organization_setup done, knowledge_base skipped: 3 of 11.
    expect(body.progress).toMatchObject({ completedSteps: 2, skippedSteps: 1, progressPercentage: Math.round((3 / 11) * 100) });
    expect((await eventsOf(id)).at(-1)).toMatchObject({ type: 'step.skipped', data: { stepId: 'knowledge_base', reason: 'we have a wiki' } });

    // A skipped step satisfies its dependents.
    await save(user, id, 'customer_portal', { enabled: true, subdomain: 'skipco' });
  });

  it('refuses to skip a required step (409) or one whose dependencies are missing (409)', async () => {
    const before = (await eventsOf(id)).length;
    expectError(await call(user, 'POST', `/onboarding/skip/${id}/organization_setup`, {}), 409, 'SESSION_STEP_NOT_SKIPPABLE');
    expectError(await call(user, 'POST', `/onboarding/skip/${id}/welcome`, {}), 409, 'SESSION_STEP_NOT_SKIPPABLE');
    const deps = expectError(await call(user, 'POST', `/onboarding/skip/${id}/analytics_setup`, {}), 409, 'SESSION_STEP_DEPENDENCIES_MISSING');
    expect(deps.details).toEqual([{ missingDependencies: ['workflow_configuration'] }]);
    expect(await eventsOf(id)).toHaveLength(before);
    expect((await getSession(user, id)).skippedSteps).toEqual(['knowledge_base']);
  });

  it('skipping an already skipped step answers 200 and changes nothing (no new event)', async () => {
    const before = await getSession(user, id);
    const eventsBefore = await eventsOf(id);
    const r = await call(user, 'POST', `/onboarding/skip/${id}/knowledge_base`, { reason: 'asked twice' });
    expect(r.statusCode, r.body).toBe(200);
    const body = StepSaveResponseSchema.parse(r.json());
    expect(body.session.skippedSteps).toEqual(['knowledge_base']);
    expect(body.session.version).toBe(before.version);
    expect(body.progress.skippedSteps).toBe(1);
    expect(await eventsOf(id)).toEqual(eventsBefore);
    expect(await getSession(user, id)).toEqual(before);
  });
});
