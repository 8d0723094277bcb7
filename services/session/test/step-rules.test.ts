import { StepConfigurationSchema, ValidateStepResponseSchema } from '@glavito/contracts';
import { readStream, waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startHarness, type SessionHarness } from './helpers.js';

let h: SessionHarness;
let sessionId: string;
const admin = { userId: 'admin-r', tenantId: 'tenant-r', roles: ['admin'] };
const auth = bearer(admin);

beforeAll(async () => {
  h = await startHarness();
  const r = await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: auth });
  sessionId = r.json().session.id;
});
afterAll(async () => {
  await h?.close();
});

describe('start', () => {
  it('the start event shows the state the start answers (welcome done), like the welcome step event', async () => {
    const events = await waitFor(async () => {
      const all = (await readStream(h.nats)).filter((m) => m.event.sessionId === sessionId && ['session.started', 'step.completed'].includes(m.event.type));
      return all.length >= 2 ? all.slice(0, 2) : null;
    });
    const [started, welcome] = events.map((m) => m.event.data as { completedSteps: string[]; progress: { progressPercentage: number } });
    expect(started).toMatchObject({ completedSteps: ['welcome'], progress: { progressPercentage: 9 } });
    expect(welcome).toMatchObject({ completedSteps: ['welcome'], progress: { progressPercentage: 9 } });
  });
});

describe('step saves', () => {
  it('missing dependencies → 409 naming them', async () => {
    const r = await h.app.inject({ method: 'PUT', url: `/onboarding/step/${sessionId}/analytics_setup`, headers: auth, payload: {} });
    expect(r.statusCode).toBe(409);
    expect(r.json()).toMatchObject({
      code: 'SESSION_STEP_DEPENDENCIES_MISSING',
      message: 'Missing dependencies: workflow_configuration',
      details: [{ missingDependencies: ['workflow_configuration'] }],
    });
  });

  it('a step outside the flow → 404', async () => {
    const r = await h.app.inject({ method: 'PUT', url: `/onboarding/step/${sessionId}/profile_setup`, headers: auth, payload: {} });
    expect(r.statusCode).toBe(404);
    expect(r.json().code).toBe('SESSION_STEP_NOT_IN_FLOW');
  });

  it('invalid data → 422 with field details and a step.validation_failed event; nothing saved', async () => {
    const r = await h.app.inject({
      method: 'PUT',
      url: `/onboarding/step/${sessionId}/organization_setup`,
      headers: auth,
      payload: { companyName: ' A ', primaryColor: 'blue', logoUrl: 'http://x.test/l.png', extra: 1 },
    });
    expect(r.statusCode).toBe(422);
    const body = r.json();
    expect(body.code).toBe('SESSION_STEP_DATA_INVALID');
    expect(body.details).toEqual(
      expect.arrayContaining([
        { field: 'companyName', rule: 'min_length', message: 'companyName must be at least 2 characters' },
        { field: 'primaryColor', rule: 'format', message: 'primaryColor format is invalid' },
        { field: 'logoUrl', rule: 'https_url', message: 'logoUrl must be an https URL' },
        { field: 'extra', rule: 'unknown_field', message: 'extra is not an accepted field' },
      ]),
    );
    const session = await h.app.inject({ method: 'GET', url: `/onboarding/session/${sessionId}`, headers: auth });
    expect(session.json().session.completedSteps).toEqual(['welcome']);
    expect(session.json().session.stepData.organization_setup).toBeUndefined();
    const events = await waitFor(async () => {
      const all = await readStream(h.nats);
      return all.find((e) => e.event.type === 'step.validation_failed') ? all : null;
    });
    const failed = events.find((e) => e.event.type === 'step.validation_failed')!;
    expect(failed.event.data).toMatchObject({ stepId: 'organization_setup' });
    expect((failed.event.data.errors as unknown[]).length).toBe(4);
  });

  it('missing required fields → 422 "is required"', async () => {
    const r = await h.app.inject({ method: 'PUT', url: `/onboarding/step/${sessionId}/organization_setup`, headers: auth, payload: {} });
    expect(r.statusCode).toBe(422);
    expect(r.json().details).toEqual([
      { field: 'companyName', rule: 'required', message: 'companyName is required' },
      { field: 'primaryColor', rule: 'required', message: 'primaryColor is required' },
    ]);
  });

  it('malformed JSON, wrong body type, wrong content type, oversized body → 400/415/413, never 500', async () => {
    const url = `/onboarding/step/${sessionId}/organization_setup`;
    const malformed = await h.app.inject({ method: 'PUT', url, headers: { ...auth, 'content-type': 'application/json' }, payload: '{"companyName": ' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().code).toBe('REQUEST_JSON_INVALID');
    const array = await h.app.inject({ method: 'PUT', url, headers: auth, payload: [1, 2] });
    expect(array.statusCode).toBe(400);
    expect(array.json().code).toBe('REQUEST_VALIDATION_FAILED');
    const text = await h.app.inject({ method: 'PUT', url, headers: { ...auth, 'content-type': 'text/plain' }, payload: 'hello' });
    expect(text.statusCode).toBe(415);
    const huge = await h.app.inject({
      method: 'PUT',
      url,
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ companyName: 'x'.repeat(2_000_000) }),
    });
    expect(huge.statusCode).toBe(413);
    const badId = await h.app.inject({ method: 'PUT', url: `/onboarding/step/${'x'.repeat(100)}/organization_setup`, headers: auth, payload: {} });
    expect(badId.statusCode).toBe(400);
    expect(badId.json().details[0]).toMatchObject({ field: 'params.sessionId' });
    const wrongTypes = await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: auth, payload: { type: 'nope', context: { companySize: 7 } } });
    expect(wrongTypes.statusCode).toBe(400);
    expect(wrongTypes.json().details.map((d: { field: string }) => d.field)).toEqual(expect.arrayContaining(['body.type', 'body.context.companySize']));
  });

  it('valid save → 200 with progress, next step and warnings', async () => {
    const r = await h.app.inject({
      method: 'PUT',
      url: `/onboarding/step/${sessionId}/organization_setup`,
      headers: auth,
      payload: { companyName: '  Acme  ', primaryColor: '#AABBCC', timezone: 'America/New_York' },
    });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.progress).toMatchObject({ completedSteps: 2, progressPercentage: 18, estimatedTimeRemaining: 123 });
    expect(body.nextStep).toBe('channel_configuration');
    expect(body.session.stepData.organization_setup.companyName).toBe('Acme');
    const team = await h.app.inject({ method: 'PUT', url: `/onboarding/step/${sessionId}/team_management`, headers: auth, payload: {} });
    expect(team.json().warnings).toEqual(['No team members invited yet - you can invite them later']);
    const resave = await h.app.inject({
      method: 'PUT',
      url: `/onboarding/step/${sessionId}/organization_setup`,
      headers: auth,
      payload: { companyName: 'Acme 2', primaryColor: '#AABBCC' },
    });
    expect(resave.json().session.stepData.organization_setup).toEqual({ companyName: 'Acme 2', primaryColor: '#AABBCC' });
    const events = await waitFor(async () => {
      const all = await readStream(h.nats);
      return all.some((e) => e.event.type === 'step.updated') ? all : null;
    });
    expect(events.filter((e) => e.event.type === 'step.updated').map((e) => e.event.data.stepId)).toEqual(['organization_setup']);
  });

  it('skip works only for optional steps', async () => {
    const required = await h.app.inject({ method: 'POST', url: `/onboarding/skip/${sessionId}/organization_setup`, headers: auth, payload: {} });
    expect(required.statusCode).toBe(409);
    const optional = await h.app.inject({ method: 'POST', url: `/onboarding/skip/${sessionId}/data_import`, headers: auth, payload: { reason: 'later' } });
    expect(optional.statusCode).toBe(200);
    expect(optional.json().session.skippedSteps).toEqual(['data_import']);
  });
});

describe('step configuration and validate-step', () => {
  it('returns the configuration for the requested flow (tenant by default)', async () => {
    const r = await h.app.inject({ method: 'GET', url: '/onboarding/step/organization_setup/configuration', headers: auth });
    expect(r.statusCode).toBe(200);
    expect(StepConfigurationSchema.parse(r.json())).toMatchObject({
      id: 'organization_setup',
      title: 'Organization Setup',
      isRequired: true,
      estimatedTime: 10,
      dependencies: ['welcome'],
      category: 'setup',
    });
    const agentWelcome = await h.app.inject({ method: 'GET', url: '/onboarding/step/welcome/configuration?type=agent_welcome', headers: auth });
    expect(agentWelcome.json().title).toBe('Welcome to the Team!');
    const missing = await h.app.inject({ method: 'GET', url: '/onboarding/step/profile_setup/configuration', headers: auth });
    expect(missing.statusCode).toBe(404);
    const badType = await h.app.inject({ method: 'GET', url: '/onboarding/step/welcome/configuration?type=x', headers: auth });
    expect(badType.statusCode).toBe(400);
  });

  it('validates with the same rules as saves, POST body or GET ?data=', async () => {
    const post = await h.app.inject({ method: 'POST', url: '/onboarding/validate-step/ai_configuration', headers: auth, payload: { aiProvider: 'openai' } });
    expect(ValidateStepResponseSchema.parse(post.json())).toEqual({
      isValid: true,
      errors: [],
      warnings: ['No AI features selected - you can configure these later'],
      nextStep: 'knowledge_base',
    });
    const get = await h.app.inject({
      method: 'GET',
      url: `/onboarding/validate-step/payment_setup?data=${encodeURIComponent(JSON.stringify({ currency: 'eur' }))}`,
      headers: auth,
    });
    expect(get.json()).toMatchObject({ isValid: false, errors: [{ field: 'stripeAccountId', rule: 'stripe_account_or_skip' }] });
    const notJson = await h.app.inject({ method: 'GET', url: '/onboarding/validate-step/payment_setup?data=%7Bnope', headers: auth });
    expect(notJson.statusCode).toBe(400);
    const agentStep = await h.app.inject({
      method: 'POST',
      url: '/onboarding/validate-step/profile_setup?type=agent_welcome',
      headers: auth,
      payload: { displayName: 'A', timezone: 'Mars/Base' },
    });
    expect(agentStep.json().errors).toEqual([
      { field: 'displayName', rule: 'min_length', message: 'displayName must be at least 2 characters' },
      { field: 'timezone', rule: 'iana_timezone', message: 'timezone must be a valid IANA time zone' },
    ]);
  });

  it('status and type describe the caller', async () => {
    const status = await h.app.inject({ method: 'GET', url: '/onboarding/status', headers: auth });
    expect(status.json().session.id).toBe(sessionId);
    const type = await h.app.inject({ method: 'GET', url: '/onboarding/type', headers: auth });
    expect(type.json()).toEqual({ type: 'tenant_setup', role: 'tenant_admin', isTenantAdmin: true, tenantSetupCompleted: false });
    const nobody = await h.app.inject({ method: 'GET', url: '/onboarding/status', headers: bearer({ userId: 'new-user', tenantId: 'tenant-r' }) });
    expect(nobody.json()).toEqual({ session: null, progress: null });
  });
});
