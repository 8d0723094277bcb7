import { SessionWithProgressSchema, StepSaveResponseSchema, CompleteResponseSchema } from '@glavito/contracts';
import { readStream, waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startHarness, TENANT_STEP_DATA, type SessionHarness } from './helpers.js';

let h: SessionHarness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const admin = { userId: 'admin-1', tenantId: 'tenant-a', roles: ['admin'] };

describe('tenant onboarding flow (direct)', () => {
  it('starts, saves every step, completes, and emits ordered events', async () => {
    const start = await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: bearer(admin), payload: { context: { industry: 'software' } } });
    expect(start.statusCode).toBe(201);
    const started = SessionWithProgressSchema.parse(start.json());
    expect(started.session.completedSteps).toEqual(['welcome']);
    expect(started.session.currentStep).toBe('organization_setup');
    expect(started.progress.progressPercentage).toBe(9);
    const sessionId = started.session.id;

    const again = await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: bearer(admin), payload: {} });
    expect(again.statusCode).toBe(200);
    expect(again.json().session.id).toBe(sessionId);

    for (const [stepId, data] of TENANT_STEP_DATA) {
      const r = await h.app.inject({ method: 'PUT', url: `/onboarding/step/${sessionId}/${stepId}`, headers: bearer(admin), payload: data });
      expect(r.statusCode, `${stepId}: ${r.body}`).toBe(200);
      StepSaveResponseSchema.parse(r.json());
    }
    const done = await h.app.inject({ method: 'POST', url: `/onboarding/complete/${sessionId}`, headers: bearer(admin) });
    expect(done.statusCode, done.body).toBe(200);
    const completed = CompleteResponseSchema.parse(done.json());
    expect(completed.summary.stepsCompleted).toBe(11);
    expect(completed.summary.featuresEnabled).toContain('Email Integration');

    const events = await waitFor(async () => {
      const all = await readStream(h.nats);
      return all.length === 13 ? all : null;
    });
    expect(events.map((e) => e.event.type)).toEqual(['session.started', ...Array(11).fill('step.completed'), 'session.completed']);
    expect(events.map((e) => e.event.sessionSeq)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
  });
});

describe('metrics', () => {
  it('exposes Prometheus metrics: HTTP durations by route and the outbox backlog', async () => {
    const r = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/text\/plain/);
    expect(r.body).toMatch(/http_request_duration_seconds_count\{[^}]*route="\/onboarding\/start"/);
    expect(r.body).toMatch(/outbox_pending_events\{service="session"\} \d+/);
    expect(r.body).toContain('process_resident_memory_bytes');
  });
});
