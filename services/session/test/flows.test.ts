import {
  AGENT_WELCOME_STEPS,
  ErrorBodySchema,
  TenantSetupStatusSchema,
  ValidateStepResponseSchema,
  FlowResponseSchema,
  SessionWithProgressSchema,
  StepConfigurationSchema,
  TENANT_SETUP_STEPS,
} from '@glavito/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startHarness, type SessionHarness } from './helpers.js';

let h: SessionHarness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const admin = { userId: 'flow-admin', tenantId: 'flow-tenant', roles: ['admin'] };
const agent = { userId: 'flow-agent', tenantId: 'flow-tenant', roles: ['agent'] };
const otherAdmin = { userId: 'flow-admin-2', tenantId: 'flow-tenant-2', roles: ['admin'] };

async function flow(user: typeof admin, url = '/onboarding/flow') {
  const r = await h.app.inject({ method: 'GET', url, headers: bearer(user) });
  expect(r.statusCode, r.body).toBe(200);
  return FlowResponseSchema.parse(r.json());
}

describe('GET /onboarding/flow and /onboarding/flows/:type', () => {
  it("an admin without a session gets the tenant flow: ordered steps, version 1, each step's JSON Schema", async () => {
    const f = await flow(admin);
    expect(f.type).toBe('tenant_setup');
    expect(f.version).toBe(1);
    expect(f.steps.map((s) => s.id)).toEqual(TENANT_SETUP_STEPS.map((s) => s.id));
    const org = f.steps.find((s) => s.id === 'organization_setup')!;
    expect(org).toMatchObject({ title: 'Organization Setup', isRequired: true, skippable: false, dependencies: ['welcome'], category: 'setup' });
    expect(org.dataSchema).toMatchObject({ type: 'object', additionalProperties: false });
    expect(org.dataSchema.required).toEqual(expect.arrayContaining(['companyName', 'primaryColor']));
    expect(f.steps.find((s) => s.id === 'payment_setup')).toMatchObject({ isRequired: false, skippable: true });
  });

  it('an agent token gets the agent flow', async () => {
    const f = await flow(agent);
    expect(f.type).toBe('agent_welcome');
    expect(f.steps.map((s) => s.id)).toEqual(AGENT_WELCOME_STEPS.map((s) => s.id));
    expect(f.steps.find((s) => s.id === 'profile_setup')!.dataSchema.required).toEqual(expect.arrayContaining(['displayName', 'timezone']));
  });

  it("the caller's unfinished session decides: an admin in the agent flow gets the agent flow", async () => {
    const setup = await h.app.inject({ method: 'POST', url: '/onboarding/tenant-setup/complete', headers: bearer(otherAdmin) });
    expect(setup.statusCode, setup.body).toBe(200);
    const start = await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: bearer(otherAdmin), payload: { type: 'agent_welcome' } });
    expect(start.statusCode, start.body).toBe(201);
    expect(SessionWithProgressSchema.parse(start.json()).session.type).toBe('agent_welcome');
    expect((await flow(otherAdmin)).type).toBe('agent_welcome');
    // Once that session is completed, the role's default applies again.
    const done = await h.app.inject({ method: 'POST', url: `/onboarding/complete/${start.json().session.id}?force=true`, headers: bearer(otherAdmin) });
    expect(done.statusCode, done.body).toBe(200);
    expect((await flow(otherAdmin)).type).toBe('tenant_setup');
  });

  it('any flow by type, whoever asks', async () => {
    expect((await flow(agent, '/onboarding/flows/tenant_setup')).type).toBe('tenant_setup');
    expect((await flow(admin, '/onboarding/flows/agent_welcome')).type).toBe('agent_welcome');
  });

  it('an unknown type is a 400 naming the field', async () => {
    const r = await h.app.inject({ method: 'GET', url: '/onboarding/flows/enterprise', headers: bearer(admin) });
    expect(r.statusCode).toBe(400);
    const body = ErrorBodySchema.parse(r.json());
    expect(body.code).toBe('REQUEST_VALIDATION_FAILED');
    expect(body.details).toEqual([expect.objectContaining({ field: 'params.type' })]);
  });
});

describe("GET /onboarding/step/:stepId/configuration uses the caller's flow by default", () => {
  it('an agent gets an agent step without ?type=', async () => {
    const r = await h.app.inject({ method: 'GET', url: '/onboarding/step/profile_setup/configuration', headers: bearer(agent) });
    expect(r.statusCode, r.body).toBe(200);
    expect(StepConfigurationSchema.parse(r.json())).toMatchObject({ id: 'profile_setup', title: 'Complete Your Profile' });
  });

  it('an admin gets a tenant step, and an agent step only with ?type=agent_welcome', async () => {
    const org = await h.app.inject({ method: 'GET', url: '/onboarding/step/organization_setup/configuration', headers: bearer(admin) });
    expect(org.statusCode, org.body).toBe(200);
    expect(StepConfigurationSchema.parse(org.json()).id).toBe('organization_setup');
    const notInFlow = await h.app.inject({ method: 'GET', url: '/onboarding/step/profile_setup/configuration', headers: bearer(admin) });
    expect(notInFlow.statusCode).toBe(404);
    const explicit = await h.app.inject({ method: 'GET', url: '/onboarding/step/profile_setup/configuration?type=agent_welcome', headers: bearer(admin) });
    expect(explicit.statusCode, explicit.body).toBe(200);
  });
});

describe("validate-step uses the caller's flow by default too", () => {
  it('an agent validates an agent step without ?type=, by POST and by GET', async () => {
    const post = await h.app.inject({ method: 'POST', url: '/onboarding/validate-step/profile_setup', headers: bearer(agent), payload: { displayName: 'A' } });
    expect(post.statusCode, post.body).toBe(200);
    expect(ValidateStepResponseSchema.parse(post.json())).toMatchObject({
      isValid: false,
      errors: [
        { field: 'displayName', rule: 'min_length' },
        { field: 'timezone', rule: 'required' },
      ],
    });
    const data = encodeURIComponent(JSON.stringify({ displayName: 'Ana', timezone: 'UTC' }));
    const get = await h.app.inject({ method: 'GET', url: `/onboarding/validate-step/profile_setup?data=${data}`, headers: bearer(agent) });
    expect(get.statusCode, get.body).toBe(200);
    expect(ValidateStepResponseSchema.parse(get.json())).toMatchObject({ isValid: true, nextStep: 'team_assignment' });
  });

  it('an admin validates a tenant step without ?type=', async () => {
    const r = await h.app.inject({
      method: 'POST',
      url: '/onboarding/validate-step/organization_setup',
      headers: bearer(admin),
      payload: { companyName: 'Acme', primaryColor: '#000000' },
    });
    expect(r.statusCode, r.body).toBe(200);
    expect(ValidateStepResponseSchema.parse(r.json()).isValid).toBe(true);
  });
});

describe('tenant setup status', () => {
  it("shows an agent the tenant's setup state but not the admin's session id", async () => {
    const start = await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: bearer(admin) });
    expect(start.statusCode, start.body).toBe(201);
    const sessionId = SessionWithProgressSchema.parse(start.json()).session.id;
    const read = async (user: typeof admin) =>
      TenantSetupStatusSchema.parse((await h.app.inject({ method: 'GET', url: '/onboarding/tenant-setup/status', headers: bearer(user) })).json());
    expect(await read(admin)).toMatchObject({ isCompleted: false, sessionId, completedSteps: ['welcome'] });
    expect(await read(agent)).toMatchObject({ isCompleted: false, sessionId: null, completedSteps: ['welcome'] });
  });
});
