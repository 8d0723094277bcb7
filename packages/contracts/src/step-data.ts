import { z } from 'zod';
import { BusinessHoursConfigSchema, TimeZoneSchema } from './business-hours.js';
import type { OnboardingType } from './steps.js';

// RFC 3986 characters only (percent-escapes well formed), so that JSON Schema's `format: uri` and the server agree.
const HTTPS_URL_PATTERN = "^https://(?:[A-Za-z0-9\\-._~:/?#\\[\\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+$";
const httpsUrlPattern = new RegExp(HTTPS_URL_PATTERN);

export function isHttpsUrl(v: string): boolean {
  if (!httpsUrlPattern.test(v)) return false;
  try {
    const url = new URL(v);
    return url.protocol === 'https:' && url.hostname !== '';
  } catch {
    return false;
  }
}

const httpsUrl = z
  .string()
  .max(2048)
  .refine(isHttpsUrl, { message: 'must be an https URL', params: { rule: 'https_url' } })
  .meta({ format: 'uri', pattern: HTTPS_URL_PATTERN });

/**
 * Text that is trimmed before its length is checked: JSON Schema has no trim, so a pattern asks for as many
 * non-blank characters as the minimum (1 or 2) wants.
 */
const trimmed = (min: 1 | 2, max: number) =>
  z
    .string()
    .trim()
    .min(min)
    .max(max)
    .meta({ pattern: min === 1 ? '\\S' : '\\S[\\s\\S]*\\S' });

const shortText = z.string().max(200);
const secret = z.string().min(1).max(4096);
const hexColor = z
  .string()
  .regex(/^#[0-9A-Fa-f]{6}$/)
  .meta({ description: 'hex color, e.g. #1A73E8' });
const acknowledged = z.boolean().meta({ title: 'I have read this' }).optional();
/** `title` (and a few words of `description`) for a generated form: the field's label and hint. */
const label = (title: string, description?: string) => ({ title, ...(description ? { description } : {}) });

export const CompanySizeSchema = z.enum(['1-10', '10-50', '50-200', '200-1000', '1000+']);

const WelcomeDataSchema = z
  .object({ acknowledged, goals: z.array(shortText).max(20).meta(label('Your goals', 'What you want Glavito to do for you')).optional() })
  .strict();

export const OrganizationSetupDataSchema = z
  .object({
    companyName: trimmed(2, 200).meta(label('Company name')),
    primaryColor: hexColor.meta(label('Brand color', 'hex color, e.g. #1A73E8')),
    industry: trimmed(1, 100).meta(label('Industry')).optional(),
    companySize: CompanySizeSchema.meta(label('Company size', 'number of employees')).optional(),
    logoUrl: httpsUrl.meta(label('Logo URL', 'https URL of your logo')).optional(),
    timezone: TimeZoneSchema.meta(label('Time zone')).optional(),
  })
  .strict();

const port = z.number().int().min(1).max(65535);
const channel = <T extends z.ZodRawShape>(title: string, shape: T) =>
  z
    .object({ enabled: z.boolean().meta(label('Enabled')), ...shape })
    .strict()
    .meta(label(title));

const CHANNELS = ['email', 'whatsapp', 'instagram', 'slack', 'teams', 'webchat'] as const;

export const ChannelConfigurationDataSchema = z
  .object({
    email: channel('Email', {
      address: z.email().meta(label('Support address')).optional(),
      smtpHost: shortText.meta(label('SMTP host')).optional(),
      smtpPort: port.meta(label('SMTP port')).optional(),
      imapHost: shortText.meta(label('IMAP host')).optional(),
      imapPort: port.meta(label('IMAP port')).optional(),
      username: shortText.meta(label('Username')).optional(),
      password: secret.meta(label('Password')).optional(),
    }).optional(),
    whatsapp: channel('WhatsApp', {
      phoneNumberId: shortText.meta(label('Phone number ID')).optional(),
      businessAccountId: shortText.meta(label('Business account ID')).optional(),
      accessToken: secret.meta(label('Access token')).optional(),
    }).optional(),
    instagram: channel('Instagram', {
      pageId: shortText.meta(label('Page ID')).optional(),
      accessToken: secret.meta(label('Access token')).optional(),
    }).optional(),
    slack: channel('Slack', {
      workspace: shortText.meta(label('Workspace')).optional(),
      botToken: secret.meta(label('Bot token', 'xoxb-…')).optional(),
      signingSecret: secret.meta(label('Signing secret')).optional(),
    }).optional(),
    teams: channel('Microsoft Teams', {
      tenantId: shortText.meta(label('Azure tenant ID')).optional(),
      clientId: shortText.meta(label('Client ID')).optional(),
      clientSecret: secret.meta(label('Client secret')).optional(),
    }).optional(),
    webchat: channel('Web chat', {
      widgetColor: hexColor.meta(label('Widget color', 'hex color, e.g. #1A73E8')).optional(),
      greeting: z.string().max(500).meta(label('Greeting')).optional(),
    }).optional(),
  })
  .strict()
  .refine((d) => Object.values(d).some((c) => c?.enabled === true), {
    message: 'At least one communication channel must be enabled (email, whatsapp, instagram, slack, teams or webchat)',
    params: { rule: 'at_least_one_enabled', field: 'channels', value: [...CHANNELS] },
  })
  // The refinement above, said in JSON Schema: one of the channels is present with `enabled: true`.
  .meta({
    anyOf: CHANNELS.map((c) => ({ required: [c], properties: { [c]: { type: 'object', required: ['enabled'], properties: { enabled: { enum: [true] } } } } })),
  });

export const AiFeatureSchema = z.enum(['ticketClassification', 'sentimentAnalysis', 'autoResponse', 'smartRouting', 'summarization']);
export const AiConfigurationDataSchema = z
  .object({
    aiProvider: z.enum(['openai', 'anthropic', 'google']).meta(label('AI provider')),
    model: shortText.meta(label('Model', 'e.g. gpt-4o-mini; the provider default when empty')).optional(),
    apiKey: secret.meta(label('API key', "your provider account's key")).optional(),
    features: z.array(AiFeatureSchema).max(10).meta(label('Features')).optional(),
  })
  .strict();

export const KnowledgeBaseDataSchema = z
  .object({
    categories: z.array(shortText).max(100).meta(label('Categories')).optional(),
    articles: z
      .array(
        z
          .object({
            title: trimmed(1, 200).meta(label('Title')),
            content: z.string().max(50_000).meta(label('Content')),
            category: shortText.meta(label('Category')).optional(),
          })
          .strict(),
      )
      .max(100)
      .meta(label('Articles'))
      .optional(),
    importFromUrl: httpsUrl.meta(label('Import from URL', 'https URL of an existing help center')).optional(),
  })
  .strict();

export const PaymentSetupDataSchema = z
  .object({
    stripeAccountId: z
      .string()
      .regex(/^acct_[A-Za-z0-9]{1,64}$/)
      .meta(label('Stripe account ID', 'acct_…'))
      .optional(),
    skipPaymentSetup: z.boolean().meta(label('Set up payments later')).optional(),
    currency: z
      .string()
      .regex(/^[a-z]{3}$/)
      .meta(label('Currency', 'ISO 4217 code in lower case, e.g. eur'))
      .optional(),
  })
  .strict()
  .refine((d) => d.stripeAccountId !== undefined || d.skipPaymentSetup === true, {
    message: 'Payment setup is required or must be explicitly skipped (stripeAccountId or skipPaymentSetup: true)',
    params: { rule: 'stripe_account_or_skip', field: 'stripeAccountId' },
  })
  // The refinement above, said in JSON Schema.
  .meta({
    anyOf: [
      { required: ['stripeAccountId'], properties: { stripeAccountId: { type: 'string' } } },
      { required: ['skipPaymentSetup'], properties: { skipPaymentSetup: { enum: [true] } } },
    ],
  });

export const TeamMemberSchema = z
  .object({
    email: z.email().meta(label('Email')),
    role: z.enum(['admin', 'supervisor', 'agent']).meta(label('Role')),
    name: shortText.meta(label('Name')).optional(),
  })
  .strict();
export const TeamManagementDataSchema = z
  .object({ teamMembers: z.array(TeamMemberSchema).max(500).meta(label('Team members', 'people to invite')).optional() })
  .strict();

export const WorkflowConfigurationDataSchema = z
  .object({
    businessHours: BusinessHoursConfigSchema.meta(label('Business hours')).optional(),
    slaTargets: z
      .object({
        firstResponseMinutes: z.number().int().min(1).max(100_000).meta(label('First response (minutes)')).optional(),
        resolutionMinutes: z.number().int().min(1).max(1_000_000).meta(label('Resolution (minutes)')).optional(),
      })
      .strict()
      .meta(label('SLA targets'))
      .optional(),
    autoAssignment: z.boolean().meta(label('Assign tickets automatically')).optional(),
  })
  .strict();

const CustomerPortalDataSchema = z
  .object({
    enabled: z.boolean().meta(label('Enabled')).optional(),
    subdomain: z
      .string()
      .regex(/^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/)
      .meta(label('Subdomain', '3 to 63 lower-case letters, digits or dashes'))
      .optional(),
    primaryColor: hexColor.meta(label('Portal color', 'hex color, e.g. #1A73E8')).optional(),
    showKnowledgeBase: z.boolean().meta(label('Show the knowledge base')).optional(),
  })
  .strict();

const DataImportDataSchema = z
  .object({
    source: z.enum(['csv', 'zendesk', 'freshdesk', 'intercom', 'other']).meta(label('Source')).optional(),
    fileUrl: httpsUrl.meta(label('File URL', 'https URL of the export file')).optional(),
    importTickets: z.boolean().meta(label('Import tickets')).optional(),
    importCustomers: z.boolean().meta(label('Import customers')).optional(),
  })
  .strict();

const AnalyticsSetupDataSchema = z
  .object({
    reports: z.array(shortText).max(50).meta(label('Reports')).optional(),
    kpis: z.array(shortText).max(50).meta(label('KPIs')).optional(),
    emailDigest: z.enum(['daily', 'weekly', 'none']).meta(label('Email digest')).optional(),
  })
  .strict();

export const ProfileSetupDataSchema = z
  .object({
    displayName: trimmed(2, 100).meta(label('Display name')),
    timezone: TimeZoneSchema.meta(label('Time zone')),
    avatarUrl: httpsUrl.meta(label('Avatar URL', 'https URL of your photo')).optional(),
    jobTitle: shortText.meta(label('Job title')).optional(),
    languages: z.array(z.string().max(20)).max(20).meta(label('Languages', 'e.g. en, fr')).optional(),
  })
  .strict();

const TeamAssignmentDataSchema = z.object({ teamId: shortText.meta(label('Team')).optional(), acknowledged }).strict();
const AcknowledgeDataSchema = z.object({ acknowledged }).strict();
const FeatureTourDataSchema = z.object({ completedSections: z.array(shortText).max(50).meta(label('Sections seen')).optional(), acknowledged }).strict();
const TestTicketDataSchema = z
  .object({ ticketId: shortText.meta(label('Ticket ID')).optional(), resolved: z.boolean().meta(label('Resolved')).optional() })
  .strict();
export const NotificationPreferencesDataSchema = z
  .object({
    email: z.boolean().meta(label('Email')).optional(),
    push: z.boolean().meta(label('Push')).optional(),
    desktop: z.boolean().meta(label('Desktop')).optional(),
    digest: z.enum(['none', 'daily', 'weekly']).meta(label('Digest')).optional(),
  })
  .strict();

/** A valid example of each step's data (in its JSON Schema as `examples`, and in the API documentation). */
const example = <T extends z.ZodType>(schema: T, value: z.input<T>): T => schema.meta({ examples: [value] });

export const TENANT_STEP_DATA_SCHEMAS = {
  welcome: example(WelcomeDataSchema, { acknowledged: true, goals: ['Answer customers faster'] }),
  organization_setup: example(OrganizationSetupDataSchema, {
    companyName: 'Acme Support',
    primaryColor: '#1A73E8',
    industry: 'Software',
    companySize: '10-50',
    timezone: 'Europe/Paris',
  }),
  channel_configuration: example(ChannelConfigurationDataSchema, {
    email: { enabled: true, address: 'help@acme.example', smtpHost: 'smtp.acme.example', smtpPort: 587 },
    webchat: { enabled: true, greeting: 'Hi! How can we help?' },
  }),
  ai_configuration: example(AiConfigurationDataSchema, { aiProvider: 'openai', model: 'gpt-4o-mini', features: ['ticketClassification', 'sentimentAnalysis'] }),
  knowledge_base: example(KnowledgeBaseDataSchema, {
    categories: ['Billing'],
    articles: [{ title: 'How refunds work', content: 'Refunds reach your card in 5 to 10 days.', category: 'Billing' }],
  }),
  payment_setup: example(PaymentSetupDataSchema, { stripeAccountId: 'acct_1A2b3C4d5E', currency: 'eur' }),
  team_management: example(TeamManagementDataSchema, { teamMembers: [{ email: 'ana@acme.example', role: 'agent', name: 'Ana Lima' }] }),
  workflow_configuration: example(WorkflowConfigurationDataSchema, {
    businessHours: { timezone: 'Europe/Paris', schedule: { monday: { enabled: true, start: '09:00', end: '17:00' } } },
    slaTargets: { firstResponseMinutes: 60 },
    autoAssignment: true,
  }),
  customer_portal: example(CustomerPortalDataSchema, { enabled: true, subdomain: 'acme', showKnowledgeBase: true }),
  data_import: example(DataImportDataSchema, { source: 'csv', fileUrl: 'https://files.acme.example/customers.csv', importCustomers: true }),
  analytics_setup: example(AnalyticsSetupDataSchema, { kpis: ['first response time'], emailDigest: 'weekly' }),
} as const;

export const AGENT_STEP_DATA_SCHEMAS = {
  welcome: example(WelcomeDataSchema, { acknowledged: true }),
  profile_setup: example(ProfileSetupDataSchema, {
    displayName: 'Ana Lima',
    timezone: 'America/Sao_Paulo',
    jobTitle: 'Support agent',
    languages: ['pt', 'en'],
  }),
  team_assignment: example(TeamAssignmentDataSchema, { teamId: 'tier-1', acknowledged: true }),
  permissions_overview: example(AcknowledgeDataSchema, { acknowledged: true }),
  feature_tour: example(FeatureTourDataSchema, { completedSections: ['inbox', 'macros'], acknowledged: true }),
  test_ticket: example(TestTicketDataSchema, { ticketId: 'T-1001', resolved: true }),
  notification_preferences: example(NotificationPreferencesDataSchema, { email: true, push: false, desktop: true, digest: 'daily' }),
  quick_start: example(AcknowledgeDataSchema, { acknowledged: true }),
} as const;

export function stepDataSchema(type: OnboardingType, stepId: string): z.ZodType | undefined {
  const table: Record<string, z.ZodType> = type === 'tenant_setup' ? TENANT_STEP_DATA_SCHEMAS : AGENT_STEP_DATA_SCHEMAS;
  return Object.hasOwn(table, stepId) ? table[stepId] : undefined;
}
