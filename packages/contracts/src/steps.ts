import { z } from 'zod';
import { stepValidationRules } from './step-rules.js';

export const OnboardingTypeSchema = z.enum(['tenant_setup', 'agent_welcome']);
export type OnboardingType = z.infer<typeof OnboardingTypeSchema>;

export const OnboardingRoleSchema = z.enum(['tenant_admin', 'agent']);
export type OnboardingRole = z.infer<typeof OnboardingRoleSchema>;

export const TenantStepIdSchema = z.enum([
  'welcome',
  'organization_setup',
  'channel_configuration',
  'ai_configuration',
  'knowledge_base',
  'payment_setup',
  'team_management',
  'workflow_configuration',
  'customer_portal',
  'data_import',
  'analytics_setup',
]);
export const AgentStepIdSchema = z.enum([
  'welcome',
  'profile_setup',
  'team_assignment',
  'permissions_overview',
  'feature_tour',
  'test_ticket',
  'notification_preferences',
  'quick_start',
]);
export type TenantStepId = z.infer<typeof TenantStepIdSchema>;
export type AgentStepId = z.infer<typeof AgentStepIdSchema>;
export type StepId = TenantStepId | AgentStepId;

export const StepCategorySchema = z.enum(['setup', 'integration', 'configuration', 'optional', 'welcome', 'training']);

export const ValidationRuleSchema = z.object({
  field: z.string(),
  rule: z.string(),
  value: z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]).optional(),
  message: z.string(),
});

export const StepConfigurationSchema = z.object({
  id: z.string(),
  title: z.string(),
  description: z.string(),
  isRequired: z.boolean(),
  estimatedTime: z.number().int().describe('minutes'),
  dependencies: z.array(z.string()),
  validationRules: z.array(ValidationRuleSchema),
  category: StepCategorySchema,
});
export type StepConfiguration = z.infer<typeof StepConfigurationSchema>;

/** A catalog entry before its rules are read from the step's data schema. */
type StepEntry = Omit<StepConfiguration, 'validationRules'>;

/** The rules come from the zod schema the server validates with, so the list names each rule it enforces. */
const withRules = (type: OnboardingType, steps: StepEntry[]): readonly StepConfiguration[] =>
  steps.map((step) => ({ ...step, validationRules: stepValidationRules(type, step.id) }));

export const TENANT_SETUP_STEPS: readonly StepConfiguration[] = withRules('tenant_setup', [
  {
    id: 'welcome',
    title: 'Welcome to Glavito',
    description: 'Get started setting up the platform for your organization.',
    isRequired: true,
    estimatedTime: 2,
    dependencies: [],
    category: 'setup',
  },
  {
    id: 'organization_setup',
    title: 'Organization Setup',
    description: 'Company information and branding.',
    isRequired: true,
    estimatedTime: 10,
    dependencies: ['welcome'],
    category: 'setup',
  },
  {
    id: 'channel_configuration',
    title: 'Channel Configuration',
    description: 'Connect your communication channels: email, WhatsApp, Instagram, Slack, Teams and web chat.',
    isRequired: false,
    estimatedTime: 15,
    dependencies: ['organization_setup'],
    category: 'integration',
  },
  {
    id: 'ai_configuration',
    title: 'AI & Automation',
    description: 'AI features and automated workflows.',
    isRequired: false,
    estimatedTime: 12,
    dependencies: ['channel_configuration'],
    category: 'integration',
  },
  {
    id: 'knowledge_base',
    title: 'Knowledge Base',
    description: 'FAQ and help content for customers and agents.',
    isRequired: false,
    estimatedTime: 20,
    dependencies: ['organization_setup'],
    category: 'configuration',
  },
  {
    id: 'payment_setup',
    title: 'Payment Setup',
    description: 'Stripe payment processing.',
    isRequired: false,
    estimatedTime: 8,
    dependencies: ['organization_setup'],
    category: 'integration',
  },
  {
    id: 'team_management',
    title: 'Team Management',
    description: 'Invite agents and set permissions.',
    isRequired: false,
    estimatedTime: 10,
    dependencies: ['organization_setup'],
    category: 'configuration',
  },
  {
    id: 'workflow_configuration',
    title: 'Workflow Configuration',
    description: 'Ticket workflows, business hours and SLA targets.',
    isRequired: false,
    estimatedTime: 15,
    dependencies: ['team_management'],
    category: 'configuration',
  },
  {
    id: 'customer_portal',
    title: 'Customer Portal',
    description: 'Customise the customer-facing portal.',
    isRequired: false,
    estimatedTime: 8,
    dependencies: ['knowledge_base'],
    category: 'configuration',
  },
  {
    id: 'data_import',
    title: 'Data Import',
    description: 'Import existing customer and ticket data.',
    isRequired: false,
    estimatedTime: 25,
    dependencies: ['organization_setup'],
    category: 'optional',
  },
  {
    id: 'analytics_setup',
    title: 'Analytics Setup',
    description: 'Reporting and analytics.',
    isRequired: false,
    estimatedTime: 10,
    dependencies: ['workflow_configuration'],
    category: 'configuration',
  },
]);

export const AGENT_WELCOME_STEPS: readonly StepConfiguration[] = withRules('agent_welcome', [
  {
    id: 'welcome',
    title: 'Welcome to the Team!',
    description: 'Meet your workspace and what to expect in your first days.',
    isRequired: true,
    estimatedTime: 3,
    dependencies: [],
    category: 'welcome',
  },
  {
    id: 'profile_setup',
    title: 'Complete Your Profile',
    description: 'Your name, photo and time zone.',
    isRequired: true,
    estimatedTime: 5,
    dependencies: ['welcome'],
    category: 'setup',
  },
  {
    id: 'team_assignment',
    title: 'Team Assignment',
    description: 'See the team you belong to.',
    isRequired: true,
    estimatedTime: 4,
    dependencies: ['profile_setup'],
    category: 'setup',
  },
  {
    id: 'permissions_overview',
    title: 'Permissions Overview',
    description: 'What you can do in the workspace.',
    isRequired: true,
    estimatedTime: 3,
    dependencies: ['team_assignment'],
    category: 'training',
  },
  {
    id: 'feature_tour',
    title: 'Feature Tour',
    description: 'A guided tour of the agent workspace.',
    isRequired: true,
    estimatedTime: 8,
    dependencies: ['permissions_overview'],
    category: 'training',
  },
  {
    id: 'test_ticket',
    title: 'Test Ticket Assignment',
    description: 'Handle a practice ticket end to end.',
    isRequired: true,
    estimatedTime: 10,
    dependencies: ['feature_tour'],
    category: 'training',
  },
  {
    id: 'notification_preferences',
    title: 'Notification Preferences',
    description: 'Choose how you are notified.',
    isRequired: false,
    estimatedTime: 3,
    dependencies: ['test_ticket'],
    category: 'setup',
  },
  {
    id: 'quick_start',
    title: 'Quick Start Guide',
    description: 'Shortcuts and tips for your first week.',
    isRequired: true,
    estimatedTime: 5,
    dependencies: ['test_ticket'],
    category: 'training',
  },
]);

export const STEP_CATALOGS: Record<OnboardingType, readonly StepConfiguration[]> = {
  tenant_setup: TENANT_SETUP_STEPS,
  agent_welcome: AGENT_WELCOME_STEPS,
};

export function stepCatalog(type: OnboardingType): readonly StepConfiguration[] {
  return STEP_CATALOGS[type];
}

export function findStep(type: OnboardingType, stepId: string): StepConfiguration | undefined {
  return STEP_CATALOGS[type].find((s) => s.id === stepId);
}

export function roleForType(type: OnboardingType): OnboardingRole {
  return type === 'tenant_setup' ? 'tenant_admin' : 'agent';
}
