import { describe, expect, it } from 'vitest';
import { computeProgress, missingDependencies, missingRequiredSteps, nextRecommendedStep, ProgressSnapshotSchema, type StepState } from '../src/progress.js';
import { AGENT_WELCOME_STEPS, TENANT_SETUP_STEPS } from '../src/steps.js';

const makeState = (overrides: Partial<StepState> = {}): StepState => ({ completedSteps: [], skippedSteps: [], currentStep: null, ...overrides });
const allTenant = TENANT_SETUP_STEPS.map((s) => s.id);
const allAgent = AGENT_WELCOME_STEPS.map((s) => s.id);

describe('computeProgress', () => {
  it('reports a fresh tenant session with welcome completed', () => {
    const progress = computeProgress('tenant_setup', makeState({ completedSteps: ['welcome'], currentStep: 'organization_setup' }));
    expect(progress).toEqual({
      totalSteps: 11,
      completedSteps: 1,
      skippedSteps: 0,
      progressPercentage: 9,
      estimatedTimeRemaining: 133,
      currentStep: 'organization_setup',
      nextStep: 'organization_setup',
      nextRecommendedAction: 'Complete Organization Setup',
    });
    expect(ProgressSnapshotSchema.parse(progress)).toEqual(progress);
  });

  it('reports an untouched session', () => {
    expect(computeProgress('agent_welcome', makeState())).toEqual({
      totalSteps: 8,
      completedSteps: 0,
      skippedSteps: 0,
      progressPercentage: 0,
      estimatedTimeRemaining: 41,
      currentStep: 'welcome',
      nextStep: 'welcome',
      nextRecommendedAction: 'Complete Welcome to the Team!',
    });
  });

  it('counts skipped steps as done and lets them satisfy dependents', () => {
    const progress = computeProgress(
      'tenant_setup',
      makeState({ completedSteps: ['welcome', 'organization_setup'], skippedSteps: ['channel_configuration'], currentStep: 'ai_configuration' }),
    );
    // 3 of 11 done = 27 %; 135 - 2 - 10 - 15 = 108 minutes left
    expect(progress).toEqual({
      totalSteps: 11,
      completedSteps: 2,
      skippedSteps: 1,
      progressPercentage: 27,
      estimatedTimeRemaining: 108,
      currentStep: 'ai_configuration',
      nextStep: 'ai_configuration',
      nextRecommendedAction: 'Complete AI & Automation',
    });
  });

  it('ignores unknown step ids and does not count a completed step as skipped too', () => {
    const progress = computeProgress('tenant_setup', makeState({ completedSteps: ['welcome', 'bogus'], skippedSteps: ['welcome', 'also_bogus'] }));
    expect(progress).toMatchObject({ completedSteps: 1, skippedSteps: 0, progressPercentage: 9, estimatedTimeRemaining: 133 });
  });

  it('says onboarding is complete when every step is done', () => {
    expect(computeProgress('tenant_setup', makeState({ completedSteps: allTenant, currentStep: 'analytics_setup' }))).toEqual({
      totalSteps: 11,
      completedSteps: 11,
      skippedSteps: 0,
      progressPercentage: 100,
      estimatedTimeRemaining: 0,
      currentStep: null,
      nextStep: null,
      nextRecommendedAction: 'Onboarding complete',
    });
  });

  it('is complete when all required steps are completed and the optional ones skipped', () => {
    const required = TENANT_SETUP_STEPS.filter((s) => s.isRequired).map((s) => s.id);
    const optional = TENANT_SETUP_STEPS.filter((s) => !s.isRequired).map((s) => s.id);
    const progress = computeProgress('tenant_setup', makeState({ completedSteps: required, skippedSteps: optional }));
    expect(progress).toMatchObject({
      completedSteps: 2,
      skippedSteps: 9,
      progressPercentage: 100,
      nextStep: null,
      nextRecommendedAction: 'Onboarding complete',
    });
  });

  it('asks for required steps when nothing is available but a required step was only skipped', () => {
    const progress = computeProgress(
      'agent_welcome',
      makeState({ completedSteps: allAgent.filter((s) => s !== 'quick_start'), skippedSteps: ['quick_start'] }),
    );
    expect(progress).toMatchObject({
      completedSteps: 7,
      skippedSteps: 1,
      progressPercentage: 100,
      estimatedTimeRemaining: 0,
      currentStep: null,
      nextStep: null,
      nextRecommendedAction: 'Complete required steps to continue',
    });
  });

  it('rounds the percentage', () => {
    // 2 of 11 = 18.18 %, 6 of 11 = 54.5 % → 55
    expect(computeProgress('tenant_setup', makeState({ completedSteps: allTenant.slice(0, 2) })).progressPercentage).toBe(18);
    expect(computeProgress('tenant_setup', makeState({ completedSteps: allTenant.slice(0, 6) })).progressPercentage).toBe(55);
  });
});

describe('nextRecommendedStep', () => {
  const next = (type: 'tenant_setup' | 'agent_welcome', state: Partial<StepState>) => nextRecommendedStep(type, makeState(state))?.id ?? null;

  it('keeps the current step when it is available, even if optional', () => {
    expect(next('tenant_setup', { completedSteps: ['welcome', 'organization_setup'], currentStep: 'payment_setup' })).toBe('payment_setup');
  });

  it('ignores a current step whose dependencies are missing and takes the first available required step', () => {
    expect(next('tenant_setup', { completedSteps: ['welcome'], currentStep: 'analytics_setup' })).toBe('organization_setup');
  });

  it('ignores a current step that is already done', () => {
    expect(next('tenant_setup', { completedSteps: ['welcome'], currentStep: 'welcome' })).toBe('organization_setup');
  });

  it('prefers an available required step over an earlier available optional one', () => {
    // notification_preferences (optional) precedes quick_start (required) in the catalog
    expect(next('agent_welcome', { completedSteps: allAgent.slice(0, 6) })).toBe('quick_start');
  });

  it('falls back to the first available optional step in catalog order', () => {
    expect(next('tenant_setup', { completedSteps: ['welcome', 'organization_setup'] })).toBe('channel_configuration');
    expect(next('tenant_setup', { completedSteps: ['welcome', 'organization_setup'], skippedSteps: ['channel_configuration'] })).toBe('ai_configuration');
    expect(next('agent_welcome', { completedSteps: allAgent.filter((s) => s !== 'notification_preferences') })).toBe('notification_preferences');
  });

  it('returns null when nothing is available', () => {
    expect(next('tenant_setup', { completedSteps: allTenant })).toBeNull();
  });
});

describe('missingDependencies', () => {
  it('lists the dependencies that are neither completed nor skipped', () => {
    expect(missingDependencies('tenant_setup', 'ai_configuration', makeState({ completedSteps: ['welcome'] }))).toEqual(['channel_configuration']);
    expect(missingDependencies('tenant_setup', 'organization_setup', makeState())).toEqual(['welcome']);
  });

  it('treats a skipped dependency as satisfied', () => {
    expect(missingDependencies('tenant_setup', 'ai_configuration', makeState({ skippedSteps: ['channel_configuration'] }))).toEqual([]);
  });

  it('returns nothing for a step without dependencies or an unknown step', () => {
    expect(missingDependencies('tenant_setup', 'welcome', makeState())).toEqual([]);
    expect(missingDependencies('tenant_setup', 'profile_setup', makeState())).toEqual([]);
  });
});

describe('missingRequiredSteps', () => {
  it('lists required steps not completed, in catalog order', () => {
    expect(missingRequiredSteps('tenant_setup', makeState())).toEqual(['welcome', 'organization_setup']);
    expect(missingRequiredSteps('agent_welcome', makeState({ completedSteps: ['welcome', 'profile_setup'] }))).toEqual([
      'team_assignment',
      'permissions_overview',
      'feature_tour',
      'test_ticket',
      'quick_start',
    ]);
  });

  it('does not accept a skipped required step', () => {
    expect(missingRequiredSteps('tenant_setup', makeState({ completedSteps: ['welcome'], skippedSteps: ['organization_setup'] }))).toEqual([
      'organization_setup',
    ]);
  });

  it('ignores optional steps', () => {
    expect(missingRequiredSteps('tenant_setup', makeState({ completedSteps: ['welcome', 'organization_setup'] }))).toEqual([]);
  });
});
