import { describe, expect, it } from 'vitest';
import { AGENT_WELCOME_STEPS, findStep, roleForType, stepCatalog, StepConfigurationSchema, TENANT_SETUP_STEPS } from '../src/steps.js';

const total = (steps: readonly { estimatedTime: number }[]) => steps.reduce((sum, s) => sum + s.estimatedTime, 0);

describe('tenant_setup catalog', () => {
  it('has 11 steps totalling 135 minutes', () => {
    expect(TENANT_SETUP_STEPS).toHaveLength(11);
    expect(total(TENANT_SETUP_STEPS)).toBe(135);
  });

  it('lists steps in order with their dependencies and required flags', () => {
    expect(TENANT_SETUP_STEPS.map((s) => [s.id, s.isRequired, s.estimatedTime, s.dependencies])).toEqual([
      ['welcome', true, 2, []],
      ['organization_setup', true, 10, ['welcome']],
      ['channel_configuration', false, 15, ['organization_setup']],
      ['ai_configuration', false, 12, ['channel_configuration']],
      ['knowledge_base', false, 20, ['organization_setup']],
      ['payment_setup', false, 8, ['organization_setup']],
      ['team_management', false, 10, ['organization_setup']],
      ['workflow_configuration', false, 15, ['team_management']],
      ['customer_portal', false, 8, ['knowledge_base']],
      ['data_import', false, 25, ['organization_setup']],
      ['analytics_setup', false, 10, ['workflow_configuration']],
    ]);
  });
});

describe('agent_welcome catalog', () => {
  it('has 8 steps totalling 41 minutes', () => {
    expect(AGENT_WELCOME_STEPS).toHaveLength(8);
    expect(total(AGENT_WELCOME_STEPS)).toBe(41);
  });

  it('lists steps in order with their dependencies and required flags', () => {
    expect(AGENT_WELCOME_STEPS.map((s) => [s.id, s.isRequired, s.estimatedTime, s.dependencies])).toEqual([
      ['welcome', true, 3, []],
      ['profile_setup', true, 5, ['welcome']],
      ['team_assignment', true, 4, ['profile_setup']],
      ['permissions_overview', true, 3, ['team_assignment']],
      ['feature_tour', true, 8, ['permissions_overview']],
      ['test_ticket', true, 10, ['feature_tour']],
      ['notification_preferences', false, 3, ['test_ticket']],
      ['quick_start', true, 5, ['test_ticket']],
    ]);
  });
});

describe.each([
  ['tenant_setup', TENANT_SETUP_STEPS],
  ['agent_welcome', AGENT_WELCOME_STEPS],
] as const)('%s catalog integrity', (type, steps) => {
  it('matches the StepConfiguration contract', () => {
    for (const step of steps) expect(StepConfigurationSchema.parse(step)).toEqual(step);
  });

  it('has unique ids and only depends on earlier steps', () => {
    expect(new Set(steps.map((s) => s.id)).size).toBe(steps.length);
    steps.forEach((step, i) => {
      const earlier = steps.slice(0, i).map((s) => s.id);
      for (const dep of step.dependencies) expect(earlier).toContain(dep);
    });
  });

  it('is what stepCatalog and findStep return', () => {
    expect(stepCatalog(type)).toBe(steps);
    expect(findStep(type, 'welcome')).toBe(steps[0]);
    expect(findStep(type, 'no_such_step')).toBeUndefined();
  });
});

describe('roleForType', () => {
  it('maps tenant setup to tenant_admin and agent welcome to agent', () => {
    expect(roleForType('tenant_setup')).toBe('tenant_admin');
    expect(roleForType('agent_welcome')).toBe('agent');
  });
});
