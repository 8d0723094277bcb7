import { buildEnvelope } from '@glavito/bus';
import {
  builtInDefinition,
  computeProgress,
  flowPublishedData,
  ProgressResponseSchema,
  resolveFlow,
  type EventEnvelope,
  type FlowDefinition,
} from '@glavito/contracts';
import { waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startHarness, type ProgressHarness } from './helpers.js';

let h: ProgressHarness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const tenantId = 'fv-tenant';
const admin = { userId: 'fv-admin', tenantId, roles: ['admin'] };

/** Version 2: organization_setup, then a required custom step; every other built-in step hidden but welcome. */
const definition: FlowDefinition = {
  steps: [
    ...builtInDefinition('tenant_setup').steps.map((s) => (s.id === 'welcome' || s.id === 'organization_setup' ? s : { ...s, hidden: true })),
    {
      id: 'custom_policy',
      isRequired: true,
      hidden: false,
      estimatedTime: 5,
      dependencies: ['organization_setup'],
      title: { en: 'Policy', fr: 'Politique' },
      fields: [],
    },
  ],
};
const v2 = resolveFlow('tenant_setup', 2, definition);

function sessionEvents(sessionId: string): EventEnvelope[] {
  const states = [
    { type: 'session.started' as const, completedSteps: ['welcome'], extra: { role: 'tenant_admin', startedAt: '2026-03-02T09:00:00.000Z' } },
    { type: 'step.completed' as const, completedSteps: ['welcome', 'organization_setup'], extra: { stepId: 'organization_setup' } },
  ];
  return states.map((st, i) => {
    const progress = computeProgress(v2, { completedSteps: st.completedSteps, skippedSteps: [], currentStep: null });
    return buildEnvelope({
      type: st.type,
      data: {
        sessionType: 'tenant_setup',
        completedSteps: st.completedSteps,
        skippedSteps: [],
        currentStep: progress.nextStep,
        status: 'active',
        progress,
        flowVersion: 2,
        nextStep: progress.nextStep,
        ...st.extra,
      },
      tenantId,
      sessionId,
      userId: admin.userId,
      sessionSeq: i + 1,
      correlationId: 'fv',
      occurredAt: new Date(Date.parse('2026-03-02T09:00:00.000Z') + i * 60_000),
    } as never) as EventEnvelope;
  });
}

describe('flow versions learnt from flow.published', () => {
  it('a session of version 2 waits for its flow.published, then is computed with that version’s steps', async () => {
    // The session's events first: its flow is not known here yet, so they are held, not applied with the wrong steps.
    await h.publish(sessionEvents('fv-s1'));
    await new Promise((r) => setTimeout(r, 1500));
    expect((await h.app.inject({ method: 'GET', url: '/onboarding/progress/fv-s1', headers: bearer(admin) })).statusCode).not.toBe(200);

    const published = buildEnvelope({
      type: 'flow.published',
      data: flowPublishedData(v2, '2026-03-01T00:00:00.000Z'),
      tenantId,
      sessionId: '_flow_tenant_setup',
      userId: admin.userId,
      sessionSeq: 1,
      correlationId: 'fv',
    }) as EventEnvelope;
    await h.publish([published]);

    let body: ReturnType<typeof ProgressResponseSchema.parse> | undefined;
    await waitFor(
      async () => {
        const r = await h.app.inject({ method: 'GET', url: '/onboarding/progress/fv-s1?lang=fr', headers: bearer(admin) });
        if (r.statusCode !== 200) return false;
        body = ProgressResponseSchema.parse(r.json());
        return body.completedSteps === 2;
      },
      { timeoutMs: 30_000 },
    );
    // welcome + organization_setup of three steps: 67 %, the custom step next (its own French title).
    expect(body).toMatchObject({
      totalSteps: 3,
      completedSteps: 2,
      progressPercentage: 67,
      currentStep: 'custom_policy',
      nextRecommendedAction: 'Terminer : Politique',
      estimatedTimeRemaining: 5,
    });
    expect(body!.milestones.filter((m) => m.reachedAt).map((m) => [m.threshold, m.title])).toEqual([
      [25, 'Premiers pas'],
      [50, 'À mi-chemin'],
    ]);
    const row = await h.db.pool.query('SELECT flow_version FROM progress.projections WHERE session_id = $1', ['fv-s1']);
    expect(row.rows[0].flow_version).toBe(2);
  });
});
