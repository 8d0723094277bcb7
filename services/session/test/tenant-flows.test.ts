import {
  AuditEventSchema,
  builtInDefinition,
  ErrorBodySchema,
  FlowDraftResponseSchema,
  FlowPublishResponseSchema,
  FlowResponseSchema,
  FlowVersionsResponseSchema,
  parseEvent,
  SessionWithProgressSchema,
  StepSaveResponseSchema,
  type AuditEvent,
  type FlowDefinition,
} from '@glavito/contracts';
import { readStream, waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkFlowDefinition } from '../src/domain/flow-definitions.js';
import { bearer, startHarness, type SessionHarness } from './helpers.js';

let h: SessionHarness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const admin = { userId: 'tf-admin', tenantId: 'tf-tenant', roles: ['admin'] };
const admin2 = { userId: 'tf-admin-2', tenantId: 'tf-tenant', roles: ['admin'] };
const agent = { userId: 'tf-agent', tenantId: 'tf-tenant', roles: ['agent'] };
const otherTenant = { userId: 'tf-other', tenantId: 'tf-other-tenant', roles: ['admin'] };

/** Two custom steps (one required, depending on organization_setup), knowledge_base made required and moved first among the optional ones, data_import hidden. */
export function customDefinition(): FlowDefinition {
  const base = builtInDefinition('tenant_setup').steps;
  const byId = Object.fromEntries(base.map((s) => [s.id, s]));
  return {
    steps: [
      byId.welcome!,
      byId.organization_setup!,
      { ...byId.knowledge_base!, isRequired: true, estimatedTime: 30 },
      {
        id: 'custom_escalation_policy',
        isRequired: true,
        hidden: false,
        estimatedTime: 5,
        dependencies: ['organization_setup'],
        title: { en: 'Read our escalation policy', fr: 'Lisez notre politique d’escalade' },
        description: { en: 'How tickets are escalated.' },
        fields: [
          { name: 'accepted', kind: 'acknowledge', required: true, label: { en: 'I have read the policy', fr: 'J’ai lu la politique' } },
          { name: 'contactEmail', kind: 'email', required: true, label: { en: 'Escalation contact' } },
          {
            name: 'level',
            kind: 'select',
            required: false,
            label: { en: 'Level' },
            options: [
              { value: 'l1', label: { en: 'Level 1' } },
              { value: 'l2', label: { en: 'Level 2' } },
            ],
          },
          { name: 'maxHours', kind: 'number', required: false, label: { en: 'Max hours' }, min: 1, max: 72, integer: true },
        ],
      },
      {
        id: 'custom_sla_notes',
        isRequired: false,
        hidden: false,
        estimatedTime: 3,
        dependencies: [],
        title: { en: 'SLA notes' },
        fields: [{ name: 'notes', kind: 'long_text', required: false, label: { en: 'Notes' }, maxLength: 50 }],
      },
      ...base
        .filter((s) => !['welcome', 'organization_setup', 'knowledge_base'].includes(s.id))
        .map((s) => (s.id === 'data_import' ? { ...s, hidden: true } : s)),
    ],
  };
}

async function inject(user: typeof admin, method: 'GET' | 'PUT' | 'POST', url: string, payload?: unknown, headers: Record<string, string> = {}) {
  return h.app.inject({ method, url, headers: { ...bearer(user), ...headers }, ...(payload !== undefined ? { payload: payload as object } : {}) });
}

describe('tenant flow definitions', () => {
  let before: string;

  it('a session started before any publish follows the built-in flow', async () => {
    const r = await inject(admin2, 'POST', '/onboarding/start', {});
    expect(r.statusCode).toBe(201);
    const s = SessionWithProgressSchema.parse(r.json());
    expect(s.session.flowVersion).toBe(1);
    before = s.session.id;
  });

  it('the draft starts as the current flow; admins only', async () => {
    const r = await inject(admin, 'GET', '/onboarding/flows/tenant_setup/draft');
    expect(r.statusCode).toBe(200);
    const d = FlowDraftResponseSchema.parse(r.json());
    expect(d).toMatchObject({ saved: false, revision: 0, basedOnVersion: 1, definition: builtInDefinition('tenant_setup') });
    expect((await inject(agent, 'GET', '/onboarding/flows/tenant_setup/draft')).statusCode).toBe(403);
    expect((await inject(agent, 'POST', '/onboarding/flows/tenant_setup/publish')).statusCode).toBe(403);
  });

  it('publishing with no draft is a 409', async () => {
    const r = await inject(otherTenant, 'POST', '/onboarding/flows/agent_welcome/publish');
    expect(r.statusCode).toBe(409);
    expect(ErrorBodySchema.parse(r.json()).code).toBe('SESSION_FLOW_NO_DRAFT');
  });

  it('a cycle, a required built-in hidden and a dependency on a hidden step are 422 with details, in the caller’s language', async () => {
    const def = customDefinition();
    const broken: FlowDefinition = {
      steps: def.steps.map((s) => {
        if (s.id === 'organization_setup') return { ...s, hidden: true };
        if (s.id === 'custom_sla_notes') return { ...s, dependencies: ['custom_escalation_policy', 'data_import'] };
        if (s.id === 'custom_escalation_policy') return { ...s, dependencies: ['custom_sla_notes'] };
        return s;
      }),
    };
    expect((await inject(admin, 'PUT', '/onboarding/flows/tenant_setup/draft', broken)).statusCode).toBe(200);
    const r = await inject(admin, 'POST', '/onboarding/flows/tenant_setup/publish', undefined, { 'accept-language': 'fr' });
    expect(r.statusCode).toBe(422);
    const body = ErrorBodySchema.parse(r.json());
    expect(body.code).toBe('SESSION_FLOW_INVALID');
    const rules = body.details!.map((d) => (d as { rule: string }).rule);
    expect(rules).toEqual(expect.arrayContaining(['required_builtin', 'cycle', 'hidden_dependency']));
    // knowledge_base depends on the hidden organization_setup, custom_sla_notes on the hidden data_import.
    expect(body.details).toContainEqual({
      field: 'steps.4.dependencies.1',
      rule: 'hidden_dependency',
      message: 'custom_sla_notes dépend de data_import, qui est masquée',
    });
    expect(body.details).toContainEqual(expect.objectContaining({ field: 'steps.2.dependencies.0', rule: 'hidden_dependency' }));
    // Nothing was published.
    expect(FlowVersionsResponseSchema.parse((await inject(admin, 'GET', '/onboarding/flows/tenant_setup/versions')).json()).current).toBe(1);
  });

  it('a draft saved over another revision is a 409', async () => {
    const d = FlowDraftResponseSchema.parse((await inject(admin, 'GET', '/onboarding/flows/tenant_setup/draft')).json());
    expect(d.saved).toBe(true);
    const r = await inject(admin, 'PUT', '/onboarding/flows/tenant_setup/draft', { ...customDefinition(), revision: d.revision + 5 });
    expect(r.statusCode).toBe(409);
    expect((await inject(admin, 'PUT', '/onboarding/flows/tenant_setup/draft', { ...customDefinition(), revision: d.revision })).statusCode).toBe(200);
  });

  it('publishes version 2 with flow.published on the stream; the flow API answers it, other tenants keep theirs', async () => {
    const r = await inject(admin, 'POST', '/onboarding/flows/tenant_setup/publish');
    expect(r.statusCode, r.body).toBe(201);
    expect(FlowPublishResponseSchema.parse(r.json())).toMatchObject({ version: 2, stepCount: 12 });

    const flow = FlowResponseSchema.parse((await inject(admin, 'GET', '/onboarding/flows/tenant_setup?lang=fr')).json());
    expect(flow.version).toBe(2);
    expect(flow.steps.map((s) => s.id).slice(0, 5)).toEqual([
      'welcome',
      'organization_setup',
      'knowledge_base',
      'custom_escalation_policy',
      'custom_sla_notes',
    ]);
    expect(flow.steps.some((s) => s.id === 'data_import')).toBe(false);
    const custom = flow.steps.find((s) => s.id === 'custom_escalation_policy')!;
    expect(custom).toMatchObject({ title: 'Lisez notre politique d’escalade', isRequired: true, skippable: false, dependencies: ['organization_setup'] });
    expect(custom.dataSchema).toMatchObject({ type: 'object', additionalProperties: false, required: expect.arrayContaining(['accepted', 'contactEmail']) });
    expect((custom.dataSchema.properties as Record<string, { title?: string }>).accepted!.title).toBe('J’ai lu la politique');
    expect(flow.steps.find((s) => s.id === 'knowledge_base')).toMatchObject({ isRequired: true, estimatedTime: 30, title: 'Base de connaissances' });

    const v1 = FlowResponseSchema.parse((await inject(admin, 'GET', '/onboarding/flows/tenant_setup?version=1')).json());
    expect(v1.version).toBe(1);
    expect((await inject(admin, 'GET', '/onboarding/flows/tenant_setup?version=9')).statusCode).toBe(404);
    expect(FlowResponseSchema.parse((await inject(otherTenant, 'GET', '/onboarding/flows/tenant_setup')).json()).version).toBe(1);
    // Another tenant cannot read this tenant's version either.
    expect((await inject(otherTenant, 'GET', '/onboarding/flows/tenant_setup?version=2')).statusCode).toBe(404);

    const versions = FlowVersionsResponseSchema.parse((await inject(admin, 'GET', '/onboarding/flows/tenant_setup/versions')).json());
    expect(versions.versions.map((v) => [v.version, v.current])).toEqual([
      [2, true],
      [1, false],
    ]);

    let stored: Awaited<ReturnType<typeof readStream>> = [];
    await waitFor(async () => (stored = (await readStream(h.nats)).filter((e) => e.event.type === 'flow.published')).length === 1);
    expect(stored[0]!.subject).toBe(`${h.nats.subjectPrefix}.tf-tenant._flow_tenant_setup.flow.published`);
    expect(parseEvent(stored[0]!.event)).toMatchObject({ type: 'flow.published', sessionSeq: 1, data: { type: 'tenant_setup', version: 2 } });
  });

  it('the session started before keeps version 1; a custom step is not in its flow', async () => {
    const r = await inject(admin2, 'PUT', `/onboarding/step/${before}/custom_escalation_policy`, { accepted: true, contactEmail: 'a@b.test' });
    expect(r.statusCode).toBe(404);
    const s = SessionWithProgressSchema.parse((await inject(admin2, 'GET', `/onboarding/session/${before}`)).json());
    expect(s.session.flowVersion).toBe(1);
    expect(s.progress.totalSteps).toBe(11);
    expect(FlowResponseSchema.parse((await inject(admin2, 'GET', '/onboarding/flow')).json()).version).toBe(1);
  });

  it('a session started after follows version 2: custom data validated like built-in data, dependencies, completion', async () => {
    const start = SessionWithProgressSchema.parse((await inject(admin, 'POST', '/onboarding/start', {})).json());
    const id = start.session.id;
    expect(start.session.flowVersion).toBe(2);
    expect(start.progress).toMatchObject({ totalSteps: 12, completedSteps: 1, progressPercentage: 8, nextStep: 'organization_setup' });
    expect(FlowResponseSchema.parse((await inject(admin, 'GET', '/onboarding/flow')).json()).version).toBe(2);

    const early = await inject(admin, 'PUT', `/onboarding/step/${id}/custom_escalation_policy`, { accepted: true, contactEmail: 'a@b.test' });
    expect(early.statusCode).toBe(409);
    expect(ErrorBodySchema.parse(early.json()).code).toBe('SESSION_STEP_DEPENDENCIES_MISSING');
    expect((await inject(admin, 'PUT', `/onboarding/step/${id}/organization_setup`, { companyName: 'Acme', primaryColor: '#112233' })).statusCode).toBe(200);

    const bad = await inject(admin, 'PUT', `/onboarding/step/${id}/custom_escalation_policy?lang=ar`, {
      accepted: false,
      contactEmail: 'nope',
      level: 'l9',
      maxHours: 0.5,
      extra: 1,
    });
    expect(bad.statusCode).toBe(422);
    const err = ErrorBodySchema.parse(bad.json());
    expect(err.code).toBe('SESSION_STEP_DATA_INVALID');
    expect(err.details!.map((d) => [(d as { field: string }).field, (d as { rule: string }).rule])).toEqual(
      expect.arrayContaining([
        ['accepted', 'acknowledge'],
        ['contactEmail', 'email'],
        ['level', 'enum'],
        ['maxHours', 'type'],
        ['extra', 'unknown_field'],
      ]),
    );
    expect(err.details).toContainEqual({ field: 'extra', rule: 'unknown_field', message: 'extra ليس حقلًا مقبولًا' });

    const validated = await inject(admin, 'POST', '/onboarding/validate-step/custom_escalation_policy', { accepted: true });
    expect(validated.json()).toMatchObject({ isValid: false, errors: [{ field: 'contactEmail', rule: 'required' }] });

    const ok = StepSaveResponseSchema.parse(
      (await inject(admin, 'PUT', `/onboarding/step/${id}/custom_escalation_policy`, { accepted: true, contactEmail: 'esc@acme.test', level: 'l2' })).json(),
    );
    expect(ok.progress).toMatchObject({ totalSteps: 12, completedSteps: 3, progressPercentage: 25 });
    expect(ok.session.stepData.custom_escalation_policy).toEqual({ accepted: true, contactEmail: 'esc@acme.test', level: 'l2' });

    // knowledge_base is required in this tenant's flow.
    const incomplete = await inject(admin, 'POST', `/onboarding/complete/${id}`);
    expect(incomplete.statusCode).toBe(409);
    expect(ErrorBodySchema.parse(incomplete.json()).message).toContain('knowledge_base');
    expect((await inject(admin, 'POST', `/onboarding/skip/${id}/knowledge_base`, {})).statusCode).toBe(409);
    expect((await inject(admin, 'POST', `/onboarding/skip/${id}/custom_sla_notes`, {})).statusCode).toBe(200);
    expect((await inject(admin, 'PUT', `/onboarding/step/${id}/knowledge_base`, {})).statusCode).toBe(200);
    expect((await inject(admin, 'PUT', `/onboarding/step/${id}/data_import`, {})).statusCode).toBe(404);
    expect((await inject(admin, 'POST', `/onboarding/complete/${id}`)).statusCode).toBe(200);
  });
});

describe('audit records of flow changes', () => {
  const flowAdmin = { userId: 'tfa-admin', tenantId: 'tf-audit-tenant', roles: ['admin'] };
  const CANARY = 'canary-flow-Secr3t-41b2';
  const origin = { 'user-agent': 'flow-audit/1.0', 'x-forwarded-for': '198.51.100.77', 'x-correlation-id': 'corr-flow-1', 'x-request-id': 'req-flow-1' };
  /** The flow audit events of this tenant in the session outbox (published or not), in order. */
  const flowAudit = async (): Promise<AuditEvent[]> =>
    (
      await h.db.pool.query(
        "SELECT payload FROM session.outbox WHERE payload->>'type' = 'audit.recorded' AND payload->>'tenantId' = 'tf-audit-tenant' ORDER BY seq",
      )
    ).rows
      .map((r: { payload: unknown }) => AuditEventSchema.parse(r.payload))
      .filter((e) => e.action.startsWith('flow.'));
  // The text of a custom step carries the canary: no part of a definition belongs in a record.
  const withCanary = (): FlowDefinition => {
    const d = customDefinition();
    return { steps: d.steps.map((st) => (st.id === 'custom_sla_notes' ? { ...st, description: { en: CANARY } } : st)) };
  };
  const expectedOrigin = {
    tenantId: 'tf-audit-tenant',
    actor: { subject: 'tfa-admin', roles: ['admin'] },
    target: { type: 'flow', id: 'tenant_setup' },
    outcome: { result: 'allowed', code: null },
    requestId: 'req-flow-1',
    correlationId: 'corr-flow-1',
    clientIp: '198.51.100.77',
    userAgent: 'flow-audit/1.0',
  };

  it('a draft save: one flow.draft_save record naming the revision saved; a save over another revision (409) none', async () => {
    const saved = await inject(flowAdmin, 'PUT', '/onboarding/flows/tenant_setup/draft', withCanary(), origin);
    expect(saved.statusCode, saved.body).toBe(200);
    const [rec, ...more] = await flowAudit();
    expect(more).toEqual([]);
    expect(rec).toMatchObject({
      ...expectedOrigin,
      action: 'flow.draft_save',
      details: { flowType: 'tenant_setup', revision: 1, ifRevision: null, stepCount: 13 },
    });

    expect((await inject(flowAdmin, 'PUT', '/onboarding/flows/tenant_setup/draft', { ...withCanary(), revision: 7 }, origin)).statusCode).toBe(409);
    expect(await flowAudit()).toHaveLength(1);
    expect((await inject(flowAdmin, 'PUT', '/onboarding/flows/tenant_setup/draft', { ...withCanary(), revision: 1 }, origin)).statusCode).toBe(200);
    expect((await flowAudit()).map((e) => e.details)).toEqual([
      { flowType: 'tenant_setup', revision: 1, ifRevision: null, stepCount: 13 },
      { flowType: 'tenant_setup', revision: 2, ifRevision: 1, stepCount: 13 },
    ]);
  });

  it('a publish: one flow.publish record with the version; a refused publish (422) none', async () => {
    const published = await inject(flowAdmin, 'POST', '/onboarding/flows/tenant_setup/publish', undefined, origin);
    expect(published.statusCode, published.body).toBe(201);
    const records = (await flowAudit()).filter((e) => e.action === 'flow.publish');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      ...expectedOrigin,
      action: 'flow.publish',
      details: { flowType: 'tenant_setup', version: 2, previousVersion: 1, stepCount: 12 },
    });

    // A draft breaking an invariant (welcome hidden) is saved, but its publish is refused and records nothing.
    const broken = customDefinition();
    broken.steps[0] = { ...broken.steps[0]!, hidden: true };
    expect((await inject(flowAdmin, 'PUT', '/onboarding/flows/tenant_setup/draft', broken, origin)).statusCode).toBe(200);
    expect((await inject(flowAdmin, 'POST', '/onboarding/flows/tenant_setup/publish', undefined, origin)).statusCode).toBe(422);
    expect((await flowAudit()).map((e) => e.action)).toEqual(['flow.draft_save', 'flow.draft_save', 'flow.publish', 'flow.draft_save']);
  });

  it('no record holds any part of a definition, and each reaches the audit stream once', async () => {
    const all = await flowAudit();
    expect(JSON.stringify(all)).not.toContain(CANARY);
    const published = await waitFor(
      async () => {
        const got = (await readStream(h.nats, h.nats.auditStream)).filter((m) => m.event.tenantId === 'tf-audit-tenant');
        return got.length >= all.length ? got : null;
      },
      { message: `${all.length} flow audit events in the audit stream` },
    );
    expect(published.map((m) => m.event.id).sort()).toEqual(all.map((e) => e.id).sort());
  });
});

describe('checkFlowDefinition', () => {
  it('accepts the built-in flows and the custom example', () => {
    expect(checkFlowDefinition('tenant_setup', builtInDefinition('tenant_setup'))).toEqual([]);
    expect(checkFlowDefinition('agent_welcome', builtInDefinition('agent_welcome'))).toEqual([]);
    expect(checkFlowDefinition('tenant_setup', customDefinition())).toEqual([]);
  });

  it('names each broken invariant', () => {
    const def = customDefinition();
    const rulesOf = (d: FlowDefinition, published?: FlowDefinition) => checkFlowDefinition('tenant_setup', d, published).map((e) => e.rule);
    expect(rulesOf({ steps: def.steps.filter((s) => s.id !== 'payment_setup') })).toEqual(['builtin_missing']);
    expect(rulesOf({ steps: [...def.steps, def.steps[3]!] })).toContain('duplicate_id');
    expect(rulesOf({ steps: def.steps.map((s) => (s.id === 'welcome' ? { ...s, isRequired: false } : s)) })).toEqual(['required_builtin']);
    expect(rulesOf({ steps: [...def.steps, { id: 'my_step', isRequired: false, hidden: false, estimatedTime: 1, dependencies: [] }] })).toEqual([
      'unknown_builtin',
    ]);
    expect(rulesOf({ steps: def.steps.map((s) => (s.id === 'payment_setup' ? { ...s, title: { en: 'x' } } : s)) })).toEqual(['builtin_fixed']);
    expect(rulesOf({ steps: def.steps.map((s) => (s.id === 'custom_sla_notes' ? { ...s, dependencies: ['custom_sla_notes'] } : s)) })).toEqual([
      'self_dependency',
      'cycle',
    ]);
    expect(rulesOf({ steps: def.steps.map((s) => (s.id === 'custom_sla_notes' ? { ...s, dependencies: ['nowhere'] } : s)) })).toEqual(['unknown_dependency']);
    const field = (f: object) => ({
      steps: def.steps.map((s) =>
        s.id === 'custom_sla_notes' ? { ...s, fields: [{ name: 'f', kind: 'text' as const, required: false, label: { en: 'F' }, ...f }] } : s,
      ),
    });
    expect(rulesOf(field({ kind: 'select' }))).toEqual(['options_required']);
    expect(rulesOf(field({ minLength: 5, maxLength: 2 }))).toEqual(['min_above_max']);
    expect(rulesOf(field({ pattern: '(' }))).toEqual(['pattern_invalid']);
    expect(rulesOf(field({ min: 3 }))).toEqual(['not_applicable']);
    expect(rulesOf(field({ kind: 'number' }), field({}))).toEqual(['id_changed']);
  });
});
