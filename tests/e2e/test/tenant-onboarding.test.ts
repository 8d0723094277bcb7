import {
  CompleteResponseSchema,
  ErrorBodySchema,
  ProgressResponseSchema,
  SessionWithProgressSchema,
  StepSaveResponseSchema,
  TENANT_SETUP_STEPS,
} from '@glavito/contracts';
import { readStream, waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type System } from './system.js';

let sys: System;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  await sys?.stop();
});

const STEP_DATA: Record<string, Record<string, unknown>> = {
  organization_setup: { companyName: 'Acme Support', primaryColor: '#112233', companySize: '10-50', timezone: 'Europe/Paris' },
  channel_configuration: { email: { enabled: true, address: 'help@acme.test', password: 'e2e-canary-password' } },
  ai_configuration: { aiProvider: 'anthropic', features: ['sentimentAnalysis'] },
  knowledge_base: { categories: ['Getting started'] },
  payment_setup: { stripeAccountId: 'acct_1Abc' },
  team_management: { teamMembers: [{ email: 'ana@acme.test', role: 'agent' }] },
  workflow_configuration: { autoAssignment: true },
  customer_portal: { enabled: true },
  data_import: { source: 'zendesk' },
  analytics_setup: { kpis: ['csat'] },
};

async function call(method: string, path: string, token: string | null, body?: unknown) {
  const res = await fetch(`${sys.gateway.url}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      'x-correlation-id': 'e2e-corr-1',
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

describe('a whole tenant onboarding through the gateway', () => {
  it('start → every step in a valid order → complete, with ordered events on the stream', async () => {
    const admin = sys.token({ userId: 'e2e-admin', tenantId: 'e2e-tenant', roles: ['admin'] });
    const start = await call('POST', '/onboarding/start', admin, {});
    expect(start.status).toBe(201);
    const { session } = SessionWithProgressSchema.parse(start.body);
    expect(start.headers.get('x-request-id')).toBeTruthy();

    // Save in catalog order (a valid order: each step's dependencies come first).
    const early = await call('GET', `/onboarding/progress/${session.id}`, admin);
    expect(early.status, 'progress right after start (projection or session.get fallback)').toBe(200);
    // The projection may not have applied welcome's completion yet (0 %), but it is never a 404.
    expect([0, 9]).toContain(early.body.progressPercentage);
    let percentage = 9;
    const projected: number[] = [];
    for (const step of TENANT_SETUP_STEPS.filter((s) => s.id !== 'welcome')) {
      const r = await call('PUT', `/onboarding/step/${session.id}/${step.id}`, admin, STEP_DATA[step.id]);
      expect(r.status, `${step.id}: ${JSON.stringify(r.body)}`).toBe(200);
      const saved = StepSaveResponseSchema.parse(r.body);
      expect(saved.progress.progressPercentage).toBeGreaterThan(percentage);
      percentage = saved.progress.progressPercentage;
      // The progress service catches up with the same figure.
      const p = await waitFor(
        async () => {
          const got = await call('GET', `/onboarding/progress/${session.id}`, admin);
          return got.body.progressPercentage === percentage ? got : null;
        },
        { message: `progress of ${step.id}` },
      );
      projected.push(ProgressResponseSchema.parse(p.body).progressPercentage);
    }
    expect(percentage).toBe(100);
    expect(projected).toEqual([18, 27, 36, 45, 55, 64, 73, 82, 91, 100]);

    const read = await call('GET', `/onboarding/session/${session.id}`, admin);
    const channel = (read.body.session as { stepData: Record<string, { email: { password: string } }> }).stepData.channel_configuration!;
    expect(channel.email.password).toBe('********');

    const done = await call('POST', `/onboarding/complete/${session.id}`, admin);
    expect(done.status).toBe(200);
    expect(CompleteResponseSchema.parse(done.body).summary).toMatchObject({ stepsCompleted: 11, type: 'tenant_setup', role: 'tenant_admin' });

    const tenant = await call('GET', '/onboarding/tenant-setup/status', admin);
    expect(tenant.body).toMatchObject({ isCompleted: true, completedBy: 'e2e-admin', missingSteps: [], progressPercentage: 100 });

    const events = await waitFor(
      async () => {
        const all = (await readStream(sys.nats)).filter((e) => e.event.sessionId === session.id && /^(session|step)\./.test(e.event.type));
        return all.length === 13 ? all : null;
      },
      { message: 'the session service events' },
    );
    expect(events.map((e) => e.event.type)).toEqual(['session.started', ...Array(11).fill('step.completed'), 'session.completed']);
    expect(events.map((e) => e.event.sessionSeq)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    expect(events.slice(1, 12).map((e) => e.event.data.stepId)).toEqual(TENANT_SETUP_STEPS.map((s) => s.id));
    expect(events.slice(2).every((e) => e.event.correlationId === 'e2e-corr-1')).toBe(true);
    expect(JSON.stringify(events)).not.toContain('e2e-canary-password');

    const milestones = await waitFor(
      async () => {
        const all = (await readStream(sys.nats)).filter((e) => e.event.sessionId === session.id && e.event.type === 'milestone.reached');
        return all.length >= 4 ? all : null;
      },
      { message: 'four milestones' },
    );
    expect(milestones.map((m) => m.event.data.threshold)).toEqual([25, 50, 75, 100]);
    // The projection catches up with session.completed asynchronously.
    const stats = await waitFor(
      async () => {
        const r = await call('GET', '/onboarding/statistics', admin);
        return (r.body.byStatus as { completed?: number } | undefined)?.completed === 1 ? r : null;
      },
      { message: 'statistics show the completed session' },
    );
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ totalSessions: 1, byStatus: { completed: 1 }, completionRate: 100 });
  });

  it('refuses bad tokens at the gateway and on the session service directly', async () => {
    const fake = 'eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4IiwidGVuYW50SWQiOiJ5Iiwicm9sZXMiOlsiYWRtaW4iXX0.';
    for (const base of [sys.gateway.url, sys.session.url]) {
      for (const auth of [undefined, `Bearer ${fake}`, 'Bearer not.a.jwt']) {
        const r = await fetch(`${base}/onboarding/status`, { headers: auth ? { authorization: auth } : {} });
        expect(r.status, `${base} ${auth}`).toBe(401);
        ErrorBodySchema.parse(await r.json());
      }
    }
  });

  it("another tenant's session is 404 through the gateway", async () => {
    const a = sys.token({ userId: 'iso-a', tenantId: 'iso-tenant-a', roles: ['admin'] });
    const b = sys.token({ userId: 'iso-b', tenantId: 'iso-tenant-b', roles: ['admin'] });
    const s = await call('POST', '/onboarding/start', a, {});
    const id = (s.body.session as { id: string }).id;
    const r = await call('GET', `/onboarding/session/${id}`, b);
    expect(r.status).toBe(404);
  });

  it('a user who starts and walks away has a reminder planned from the start (the start and welcome share their instant)', async () => {
    const idle = sys.token({ userId: 'idle-user', tenantId: 'idle-tenant', roles: ['admin'] });
    const s = await call('POST', '/onboarding/start', idle, {});
    expect(s.status).toBe(201);
    const id = (s.body.session as { id: string }).id;
    // Both start events (session.started, welcome's step.completed: sequence 1 and 2) reach the notification service's copy.
    await waitFor(async () => (await sys.db.pool.query(`SELECT 1 FROM notification.sessions WHERE session_id = $1 AND last_seq >= 2`, [id])).rowCount === 1, {
      timeoutMs: 15_000,
      message: 'the notification service copied the start',
    });
    const reminders = await sys.db.pool.query<{ state: string; ordinal: number }>('SELECT state, ordinal FROM notification.reminders WHERE session_id = $1', [
      id,
    ]);
    expect(reminders.rows).toEqual([{ state: 'scheduled', ordinal: 1 }]);
  });

  it('every route reaches its service (realtime answers 404 for an unknown session)', async () => {
    const admin = sys.token({ userId: 'x', tenantId: 'y', roles: ['admin'] });
    const r = await call('GET', '/onboarding/session-clients/abc', admin);
    expect(r.status).toBe(404);
  });
});
