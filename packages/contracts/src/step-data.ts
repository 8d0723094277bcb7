import { z } from 'zod';
import { BusinessHoursConfigSchema, TimeZoneSchema } from './business-hours.js';
import type { OnboardingType } from './steps.js';

const httpsUrl = z
  .string()
  .max(2048)
  .refine((v) => {
    try {
      return new URL(v).protocol === 'https:';
    } catch {
      return false;
    }
  }, { message: 'must be an https URL', params: { rule: 'https_url' } });

const shortText = z.string().max(200);
const secret = z.string().min(1).max(4096);
const acknowledged = z.boolean().optional();

export const CompanySizeSchema = z.enum(['1-10', '10-50', '50-200', '200-1000', '1000+']);

const WelcomeDataSchema = z.object({ acknowledged, goals: z.array(shortText).max(20).optional() }).strict();

export const OrganizationSetupDataSchema = z
  .object({
    companyName: z.string().trim().min(2).max(200),
    primaryColor: z.string().regex(/^#[0-9A-Fa-f]{6}$/),
    industry: z.string().trim().min(1).max(100).optional(),
    companySize: CompanySizeSchema.optional(),
    logoUrl: httpsUrl.optional(),
    timezone: TimeZoneSchema.optional(),
  })
  .strict();

const channel = <T extends z.ZodRawShape>(shape: T) => z.object({ enabled: z.boolean(), ...shape }).strict();
const port = z.number().int().min(1).max(65535);

export const ChannelConfigurationDataSchema = z
  .object({
    email: channel({
      address: z.email().optional(),
      smtpHost: shortText.optional(),
      smtpPort: port.optional(),
      imapHost: shortText.optional(),
      imapPort: port.optional(),
      username: shortText.optional(),
      password: secret.optional(),
    }).optional(),
    whatsapp: channel({ phoneNumberId: shortText.optional(), businessAccountId: shortText.optional(), accessToken: secret.optional() }).optional(),
    instagram: channel({ pageId: shortText.optional(), accessToken: secret.optional() }).optional(),
    slack: channel({ workspace: shortText.optional(), botToken: secret.optional(), signingSecret: secret.optional() }).optional(),
    teams: channel({ tenantId: shortText.optional(), clientId: shortText.optional(), clientSecret: secret.optional() }).optional(),
    webchat: channel({ widgetColor: z.string().regex(/^#[0-9A-Fa-f]{6}$/).optional(), greeting: z.string().max(500).optional() }).optional(),
  })
  .strict()
  .refine((d) => Object.values(d).some((c) => c?.enabled === true), {
    message: 'At least one communication channel must be enabled (email, whatsapp, instagram, slack, teams or webchat)',
    params: { rule: 'at_least_one_enabled', field: 'channels' },
  });

export const AiFeatureSchema = z.enum(['ticketClassification', 'sentimentAnalysis', 'autoResponse', 'smartRouting', 'summarization']);
export const AiConfigurationDataSchema = z
  .object({
    aiProvider: z.enum(['openai', 'anthropic', 'google']),
    model: shortText.optional(),
    apiKey: secret.optional(),
    features: z.array(AiFeatureSchema).max(10).optional(),
  })
  .strict();

export const KnowledgeBaseDataSchema = z
  .object({
    categories: z.array(shortText).max(100).optional(),
    articles: z
      .array(z.object({ title: z.string().trim().min(1).max(200), content: z.string().max(50_000), category: shortText.optional() }).strict())
      .max(100)
      .optional(),
    importFromUrl: httpsUrl.optional(),
  })
  .strict();

export const PaymentSetupDataSchema = z
  .object({
    stripeAccountId: z.string().regex(/^acct_[A-Za-z0-9]{1,64}$/).optional(),
    skipPaymentSetup: z.boolean().optional(),
    currency: z.string().regex(/^[a-z]{3}$/).optional(),
  })
  .strict()
  .refine((d) => d.stripeAccountId !== undefined || d.skipPaymentSetup === true, {
    message: 'Payment setup is required or must be explicitly skipped (stripeAccountId or skipPaymentSetup: true)',
    params: { rule: 'stripe_account_or_skip', field: 'stripeAccountId' },
  });

export const TeamMemberSchema = z
  .object({ email: z.email(), role: z.enum(['admin', 'supervisor', 'agent']), name: shortText.optional() })
  .strict();
export const TeamManagementDataSchema = z.object({ teamMembers: z.array(TeamMemberSchema).max(500).optional() }).strict();

export const WorkflowConfigurationDataSchema = z
  .object({
    businessHours: BusinessHoursConfigSchema.optional(),
    slaTargets: z
      .object({
        firstResponseMinutes: z.number().int().min(1).max(100_000).optional(),
        resolutionMinutes: z.number().int().min(1).max(1_000_000).optional(),
      })
      .strict()
      .optional(),
    autoAssignment: z.boolean().optional(),
  })
  .strict();

const CustomerPortalDataSchema = z
  .object({
    enabled: z.boolean().optional(),
    subdomain: z.string().regex(/^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/).optional(),
    primaryColor: z.string().regex(/^#[0-9A-Fa-f]{6}$/).optional(),
    showKnowledgeBase: z.boolean().optional(),
  })
  .strict();

const DataImportDataSchema = z
  .object({
    source: z.enum(['csv', 'zendesk', 'freshdesk', 'intercom', 'other']).optional(),
    fileUrl: httpsUrl.optional(),
    importTickets: z.boolean().optional(),
    importCustomers: z.boolean().optional(),
  })
  .strict();

const AnalyticsSetupDataSchema = z
  .object({
    reports: z.array(shortText).max(50).optional(),
    kpis: z.array(shortText).max(50).optional(),
    emailDigest: z.enum(['daily', 'weekly', 'none']).optional(),
  })
  .strict();

export const ProfileSetupDataSchema = z
  .object({
    displayName: z.string().trim().min(2).max(100),
    timezone: TimeZoneSchema,
    avatarUrl: httpsUrl.optional(),
    jobTitle: shortText.optional(),
    languages: z.array(z.string().max(20)).max(20).optional(),
  })
  .strict();

const TeamAssignmentDataSchema = z.object({ teamId: shortText.optional(), acknowledged }).strict();
const AcknowledgeDataSchema = z.object({ acknowledged }).strict();
const FeatureTourDataSchema = z.object({ completedSections: z.array(shortText).max(50).optional(), acknowledged }).strict();
const TestTicketDataSchema = z.object({ ticketId: shortText.optional(), resolved: z.boolean().optional() }).strict();
const NotificationPreferencesDataSchema = z
  .object({
    email: z.boolean().optional(),
    push: z.boolean().optional(),
    desktop: z.boolean().optional(),
    digest: z.enum(['none', 'daily', 'weekly']).optional(),
  })
  .strict();

export const TENANT_STEP_DATA_SCHEMAS = {
  welcome: WelcomeDataSchema,
  organization_setup: OrganizationSetupDataSchema,
  channel_configuration: ChannelConfigurationDataSchema,
  ai_configuration: AiConfigurationDataSchema,
  knowledge_base: KnowledgeBaseDataSchema,
  payment_setup: PaymentSetupDataSchema,
  team_management: TeamManagementDataSchema,
  workflow_configuration: WorkflowConfigurationDataSchema,
  customer_portal: CustomerPortalDataSchema,
  data_import: DataImportDataSchema,
  analytics_setup: AnalyticsSetupDataSchema,
} as const;

export const AGENT_STEP_DATA_SCHEMAS = {
  welcome: WelcomeDataSchema,
  profile_setup: ProfileSetupDataSchema,
  team_assignment: TeamAssignmentDataSchema,
  permissions_overview: AcknowledgeDataSchema,
  feature_tour: FeatureTourDataSchema,
  test_ticket: TestTicketDataSchema,
  notification_preferences: NotificationPreferencesDataSchema,
  quick_start: AcknowledgeDataSchema,
} as const;

export function stepDataSchema(type: OnboardingType, stepId: string): z.ZodType | undefined {
  const table: Record<string, z.ZodType> = type === 'tenant_setup' ? TENANT_STEP_DATA_SCHEMAS : AGENT_STEP_DATA_SCHEMAS;
  return Object.hasOwn(table, stepId) ? table[stepId] : undefined;
}
