import {
  builtInDefinition,
  computeProgress,
  FlowResponseSchema,
  ProgressResponseSchema,
  resolveFlow,
  SessionWithProgressSchema,
  StatisticsResponseSchema,
  TENANT_SETUP_STEPS,
  type FlowDefinition,
} from '@glavito/contracts';
import { waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type System } from './system.js';

let sys: System;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  await sys?.stop();
});

async function call(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${sys.gateway.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const STEP_DATA: Record<string, Record<string, unknown>> = {
  organization_setup: { companyName: 'Acme Support', primaryColor: '#112233' },
  channel_configuration: { email: { enabled: true, address: 'help@acme.test' } },
  ai_configuration: { aiProvider: 'anthropic', features: ['sentimentAnalysis'] },
  knowledge_base: { categories: ['Getting started'] },
  payment_setup: { skipPaymentSetup: true },
  team_management: { teamMembers: [] },
  workflow_configuration: { autoAssignment: true },
  customer_portal: { enabled: true },
  data_import: { source: 'zendesk' },
  analytics_setup: { kpis: ['csat'] },
  custom_policy: { accepted: true, owner: 'ops@acme.test' },
};

/** Two custom steps (custom_policy required, depending on organization_setup; custom_notes optional, on custom_policy) and data_import moved up. */
function definition(): FlowDefinition {
  const base = builtInDefinition('tenant_setup').steps;
  const pick = (id: string) => base.find((s) => s.id === id)!;
  return {
    steps: [
      pick('welcome'),
      pick('organization_setup'),
      pick('data_import'),
      {
        id: 'custom_policy',
        isRequired: true,
        hidden: false,
        estimatedTime: 6,
        dependencies: ['organization_setup'],
        title: { en: 'Read our escalation policy', fr: 'Lisez notre politique d’escalade', ar: 'اقرأ سياسة التصعيد' },
        fields: [
          { name: 'accepted', kind: 'acknowledge', required: true, label: { en: 'I have read it' } },
          { name: 'owner', kind: 'email', required: true, label: { en: 'Escalation owner' } },
        ],
      },
      {
        id: 'custom_notes',
        isRequired: false,
        hidden: false,
        estimatedTime: 4,
        dependencies: ['custom_policy'],
        title: { en: 'Notes' },
        fields: [{ name: 'text', kind: 'long_text', required: false, label: { en: 'Notes' } }],
      },
      ...base.filter((s) => !['welcome', 'organization_setup', 'data_import'].includes(s.id)),
    ],
  };
}

async function progressOf(token: string, sessionId: string, until: (p: ReturnType<typeof ProgressResponseSchema.parse>) => boolean) {
  let last: ReturnType<typeof ProgressResponseSchema.parse> | undefined;
  await waitFor(
    async () => {
      const r = await call('GET', `/onboarding/progress/${sessionId}`, token);
      if (r.status !== 200) return false;
      last = ProgressResponseSchema.parse(r.body);
      return until(last);
    },
    { timeoutMs: 30_000, message: `progress of ${sessionId}` },
  );
  return last!;
}

describe('a tenant-defined flow, through the gateway', () => {
  it('a session started before keeps the old flow to completion, one started after gets the new one; progress, milestones and the funnel per version', async () => {
    const tenantId = 'flows-e2e';
    const before = sys.token({ userId: 'flows-before', tenantId, roles: ['admin'] });
    const after = sys.token({ userId: 'flows-after', tenantId, roles: ['admin'] });

    const s1 = SessionWithProgressSchema.parse((await call('POST', '/onboarding/start', before, {})).body).session;
    expect(s1.flowVersion).toBe(1);

    expect((await call('PUT', '/onboarding/flows/tenant_setup/draft', before, definition())).status).toBe(200);
    const published = await call('POST', '/onboarding/flows/tenant_setup/publish', before);
    expect(published.status, JSON.stringify(published.body)).toBe(201);
    expect(published.body).toMatchObject({ version: 2, stepCount: 13 });

    const s2 = SessionWithProgressSchema.parse((await call('POST', '/onboarding/start', after, {})).body).session;
    expect(s2.flowVersion).toBe(2);
    const flow2 = FlowResponseSchema.parse((await call('GET', '/onboarding/flow', after)).body);
    expect(flow2.version).toBe(2);
    expect(flow2.steps.map((s) => s.id).slice(0, 5)).toEqual(['welcome', 'organization_setup', 'data_import', 'custom_policy', 'custom_notes']);
    expect(FlowResponseSchema.parse((await call('GET', '/onboarding/flow', before)).body).version).toBe(1);

    // The old session: the built-in flow to the end; a custom step is not in it.
    expect((await call('PUT', `/onboarding/step/${s1.id}/custom_policy`, before, STEP_DATA.custom_policy)).status).toBe(404);
    for (const step of TENANT_SETUP_STEPS.filter((s) => s.id !== 'welcome')) {
      const r = await call('PUT', `/onboarding/step/${s1.id}/${step.id}`, before, STEP_DATA[step.id]);
      expect(r.status, `${step.id}: ${JSON.stringify(r.body)}`).toBe(200);
    }
    expect((await call('POST', `/onboarding/complete/${s1.id}`, before)).status).toBe(200);
    const p1 = await progressOf(before, s1.id, (p) => p.progressPercentage === 100);
    expect(p1).toMatchObject({ totalSteps: 11, completedSteps: 11 });
    expect(p1.milestones.every((m) => m.reachedAt !== null)).toBe(true);

    // The new session: version 2's steps, order, dependency and custom data rules.
    const v2 = resolveFlow('tenant_setup', 2, definition());
    expect((await call('PUT', `/onboarding/step/${s2.id}/custom_policy`, after, STEP_DATA.custom_policy)).status).toBe(409);
    const saves: Array<[string, 'save' | 'skip']> = [
      ['organization_setup', 'save'],
      ['data_import', 'save'],
      ['custom_policy', 'save'],
      ['custom_notes', 'skip'],
    ];
    for (const [stepId, how] of saves) {
      const r =
        how === 'save'
          ? await call('PUT', `/onboarding/step/${s2.id}/${stepId}`, after, STEP_DATA[stepId])
          : await call('POST', `/onboarding/skip/${s2.id}/${stepId}`, after, {});
      expect(r.status, `${stepId}: ${JSON.stringify(r.body)}`).toBe(200);
    }
    const expected = computeProgress(v2, {
      completedSteps: ['welcome', 'organization_setup', 'data_import', 'custom_policy'],
      skippedSteps: ['custom_notes'],
      currentStep: null,
    });
    expect(expected.progressPercentage).toBe(38);
    const p2 = await progressOf(after, s2.id, (p) => p.completedSteps === 4 && p.skippedSteps === 1);
    expect(p2).toMatchObject({ totalSteps: 13, progressPercentage: expected.progressPercentage, estimatedTimeRemaining: expected.estimatedTimeRemaining });
    expect(p2.milestones.filter((m) => m.reachedAt !== null).map((m) => m.threshold)).toEqual([25]);
    // Only the required steps are needed to complete: welcome, organization_setup and custom_policy.
    expect((await call('POST', `/onboarding/complete/${s2.id}`, after)).status).toBe(200);
    const done2 = await progressOf(after, s2.id, (p) => p.progressPercentage === 100);
    expect(done2.totalSteps).toBe(13);
    expect(done2.milestones.every((m) => m.reachedAt !== null)).toBe(true);

    // The funnel per version: each version's sessions, with its own steps.
    const f2 = StatisticsResponseSchema.parse((await call('GET', '/onboarding/statistics?type=tenant_setup&flowVersion=2', before)).body);
    expect(f2.totalSessions).toBe(1);
    expect(f2.stepStatistics.map((s) => s.stepId)).toEqual(v2.steps.map((s) => s.id));
    expect(f2.stepStatistics.find((s) => s.stepId === 'custom_policy')).toMatchObject({ reachedCount: 1, completedCount: 1 });
    expect(f2.stepStatistics.find((s) => s.stepId === 'custom_notes')).toMatchObject({ skippedCount: 1 });
    const f1 = StatisticsResponseSchema.parse((await call('GET', '/onboarding/statistics?type=tenant_setup&flowVersion=1', before)).body);
    expect(f1.totalSessions).toBe(1);
    expect(f1.stepStatistics.map((s) => s.stepId)).toEqual(TENANT_SETUP_STEPS.map((s) => s.id));
    expect(f1.stepStatistics.find((s) => s.stepId === 'analytics_setup')).toMatchObject({ completedCount: 1 });
    const all = StatisticsResponseSchema.parse((await call('GET', '/onboarding/statistics?type=tenant_setup', before)).body);
    expect(all.totalSessions).toBe(2);
  });

  it('publishing a cycle, a hidden required built-in or a dependency on a hidden step fails with 422 details', async () => {
    const admin = sys.token({ userId: 'flows-bad', tenantId: 'flows-e2e-bad', roles: ['admin'] });
    const def = definition();
    const cases: Array<[string, FlowDefinition]> = [
      ['cycle', { steps: def.steps.map((s) => (s.id === 'custom_policy' ? { ...s, dependencies: ['custom_notes'] } : s)) }],
      ['required_builtin', { steps: def.steps.map((s) => (s.id === 'organization_setup' ? { ...s, isRequired: false } : s)) }],
      [
        'hidden_dependency',
        {
          steps: def.steps.map((s) =>
            s.id === 'data_import' ? { ...s, hidden: true } : s.id === 'custom_notes' ? { ...s, dependencies: ['data_import'] } : s,
          ),
        },
      ],
    ];
    for (const [rule, broken] of cases) {
      expect((await call('PUT', '/onboarding/flows/tenant_setup/draft', admin, broken)).status).toBe(200);
      const r = await call('POST', '/onboarding/flows/tenant_setup/publish', admin);
      expect(r.status, rule).toBe(422);
      expect(r.body.code).toBe('SESSION_FLOW_INVALID');
      expect((r.body.details as Array<{ field: string; rule: string; message: string }>).map((d) => d.rule)).toContain(rule);
    }
    const agent = sys.token({ userId: 'flows-agent', tenantId: 'flows-e2e-bad', roles: ['agent'] });
    expect((await call('PUT', '/onboarding/flows/tenant_setup/draft', agent, def)).status).toBe(403);
  });
});
