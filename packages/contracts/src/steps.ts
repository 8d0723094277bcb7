import { z } from 'zod';

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

type Rule = z.infer<typeof ValidationRuleSchema>;
const required = (field: string): Rule => ({ field, rule: 'required', message: `${field} is required` });
const minLength = (field: string, n: number): Rule => ({
  field,
  rule: 'min_length',
  value: n,
  message: `${field} must be at least ${n} characters`,
});
const pattern = (field: string, re: string): Rule => ({ field, rule: 'pattern', value: re, message: `${field} format is invalid` });

export const TENANT_SETUP_STEPS: readonly StepConfiguration[] = [
  { id: 'welcome', title: 'Welcome to Glavito', description: 'Get started setting up the platform for your organization.', isRequired: true, estimatedTime: 2, dependencies: [], validationRules: [], category: 'setup' },
  {
    id: 'organization_setup',
    title: 'Organization Setup',
    description: 'Company information and branding.',
    isRequired: true,
    estimatedTime: 10,
    dependencies: ['welcome'],
    validationRules: [
      required('companyName'),
      minLength('companyName', 2),
      required('primaryColor'),
      pattern('primaryColor', '^#[0-9A-Fa-f]{6}$'),
      { field: 'companySize', rule: 'enum', value: ['1-10', '10-50', '50-200', '200-1000', '1000+'], message: 'companySize must be one of 1-10, 10-50, 50-200, 200-1000, 1000+' },
      { field: 'logoUrl', rule: 'https_url', message: 'logoUrl must be an https URL' },
      { field: 'timezone', rule: 'iana_timezone', message: 'timezone must be a valid IANA time zone' },
    ],
    category: 'setup',
  },
  { id: 'channel_configuration', title: 'Channel Configuration', description: 'Connect your communication channels: email, WhatsApp, Instagram, Slack, Teams and web chat.', isRequired: false, estimatedTime: 15, dependencies: ['organization_setup'], validationRules: [{ field: 'channels', rule: 'at_least_one_enabled', value: ['email', 'whatsapp', 'instagram', 'slack', 'teams', 'webchat'], message: 'At least one communication channel must be enabled' }], category: 'integration' },
  { id: 'ai_configuration', title: 'AI & Automation', description: 'AI features and automated workflows.', isRequired: false, estimatedTime: 12, dependencies: ['channel_configuration'], validationRules: [required('aiProvider'), { field: 'aiProvider', rule: 'enum', value: ['openai', 'anthropic', 'google'], message: 'aiProvider must be one of openai, anthropic, google' }], category: 'integration' },
  { id: 'knowledge_base', title: 'Knowledge Base', description: 'FAQ and help content for customers and agents.', isRequired: false, estimatedTime: 20, dependencies: ['organization_setup'], validationRules: [], category: 'configuration' },
  { id: 'payment_setup', title: 'Payment Setup', description: 'Stripe payment processing.', isRequired: false, estimatedTime: 8, dependencies: ['organization_setup'], validationRules: [{ field: 'stripeAccountId', rule: 'stripe_account_or_skip', message: 'Payment setup is required or must be explicitly skipped' }], category: 'integration' },
  { id: 'team_management', title: 'Team Management', description: 'Invite agents and set permissions.', isRequired: false, estimatedTime: 10, dependencies: ['organization_setup'], validationRules: [{ field: 'teamMembers.email', rule: 'email', message: 'teamMembers email format is invalid' }], category: 'configuration' },
  { id: 'workflow_configuration', title: 'Workflow Configuration', description: 'Ticket workflows, business hours and SLA targets.', isRequired: false, estimatedTime: 15, dependencies: ['team_management'], validationRules: [], category: 'configuration' },
  { id: 'customer_portal', title: 'Customer Portal', description: 'Customise the customer-facing portal.', isRequired: false, estimatedTime: 8, dependencies: ['knowledge_base'], validationRules: [], category: 'configuration' },
  { id: 'data_import', title: 'Data Import', description: 'Import existing customer and ticket data.', isRequired: false, estimatedTime: 25, dependencies: ['organization_setup'], validationRules: [], category: 'optional' },
  { id: 'analytics_setup', title: 'Analytics Setup', description: 'Reporting and analytics.', isRequired: false, estimatedTime: 10, dependencies: ['workflow_configuration'], validationRules: [], category: 'configuration' },
];

export const AGENT_WELCOME_STEPS: readonly StepConfiguration[] = [
  { id: 'welcome', title: 'Welcome to the Team!', description: 'Meet your workspace and what to expect in your first days.', isRequired: true, estimatedTime: 3, dependencies: [], validationRules: [], category: 'welcome' },
  { id: 'profile_setup', title: 'Complete Your Profile', description: 'Your name, photo and time zone.', isRequired: true, estimatedTime: 5, dependencies: ['welcome'], validationRules: [required('displayName'), minLength('displayName', 2), required('timezone'), { field: 'timezone', rule: 'iana_timezone', message: 'timezone must be a valid IANA time zone' }], category: 'setup' },
  { id: 'team_assignment', title: 'Team Assignment', description: 'See the team you belong to.', isRequired: true, estimatedTime: 4, dependencies: ['profile_setup'], validationRules: [], category: 'setup' },
  { id: 'permissions_overview', title: 'Permissions Overview', description: 'What you can do in the workspace.', isRequired: true, estimatedTime: 3, dependencies: ['team_assignment'], validationRules: [], category: 'training' },
  { id: 'feature_tour', title: 'Feature Tour', description: 'A guided tour of the agent workspace.', isRequired: true, estimatedTime: 8, dependencies: ['permissions_overview'], validationRules: [], category: 'training' },
  { id: 'test_ticket', title: 'Test Ticket Assignment', description: 'Handle a practice ticket end to end.', isRequired: true, estimatedTime: 10, dependencies: ['feature_tour'], validationRules: [], category: 'training' },
  { id: 'notification_preferences', title: 'Notification Preferences', description: 'Choose how you are notified.', isRequired: false, estimatedTime: 3, dependencies: ['test_ticket'], validationRules: [], category: 'setup' },
  { id: 'quick_start', title: 'Quick Start Guide', description: 'Shortcuts and tips for your first week.', isRequired: true, estimatedTime: 5, dependencies: ['test_ticket'], validationRules: [], category: 'training' },
];

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
