import { z } from 'zod';

const host = z
  .string()
  .trim()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.:[\]-]+$/, 'must be a host name or IP address');
const port = z.number().int().min(1).max(65535);
const secret = z.string().min(1).max(4096);
const id = (re: RegExp, what: string) => z.string().trim().regex(re, `must be ${what}`);

export const MailServerSchema = z
  .object({
    host,
    port,
    /** TLS from the first byte (465/993); otherwise STARTTLS when offered. */
    secure: z.boolean().optional(),
    username: z.string().min(1).max(320),
    password: secret,
  })
  .strict();

export const EmailConfigSchema = z
  .object({ smtp: MailServerSchema.optional(), imap: MailServerSchema.optional() })
  .strict()
  .refine((c) => c.smtp !== undefined || c.imap !== undefined, { message: 'give smtp, imap or both', params: { rule: 'smtp_or_imap', field: 'smtp' } });

export const SlackConfigSchema = z
  .object({
    botToken: id(/^xox[abpr]-[A-Za-z0-9-]{8,}$/, 'a Slack token (xoxb-…)'),
    /** Scopes the integration needs; missing ones make the test fail with permission_missing. */
    requiredScopes: z.array(z.string().regex(/^[a-z:.]+$/)).max(50).optional(),
  })
  .strict();

export const TeamsConfigSchema = z
  .object({
    tenantId: id(/^([0-9a-fA-F-]{36}|[A-Za-z0-9.-]+\.[A-Za-z]{2,})$/, 'a directory (tenant) id or domain'),
    clientId: id(/^[0-9a-fA-F-]{36}$/, 'an application (client) id'),
    clientSecret: secret,
  })
  .strict();

export const WhatsAppConfigSchema = z
  .object({
    phoneNumberId: id(/^\d{5,20}$/, 'a numeric phone number id'),
    accessToken: secret,
  })
  .strict();

export const WebhookConfigSchema = z
  .object({
    url: z
      .string()
      .max(2048)
      .refine((v) => {
        try {
          return ['http:', 'https:'].includes(new URL(v).protocol);
        } catch {
          return false;
        }
      }, { message: 'must be an http(s) URL', params: { rule: 'http_url' } }),
    /** Signs the body: X-Glavito-Signature: sha256=<hex HMAC>. */
    secret: secret.optional(),
  })
  .strict();

export const StripeConfigSchema = z
  .object({
    /** The tenant's own key: the test only ever reads the account that key belongs to. */
    secretKey: id(/^(sk|rk)_(test|live)_[A-Za-z0-9]{8,}$/, 'a Stripe secret or restricted key'),
    /** When given, must be the key's own account. */
    accountId: id(/^acct_[A-Za-z0-9]{1,64}$/, 'a Stripe account id (acct_…)').optional(),
  })
  .strict();

export const DatabaseConfigSchema = z
  .object({
    connectionString: z
      .string()
      .max(2048)
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional(),
    host: host.optional(),
    port: port.optional(),
    database: z.string().min(1).max(63).optional(),
    user: z.string().min(1).max(63).optional(),
    password: secret.optional(),
    ssl: z.boolean().optional(),
  })
  .strict()
  .refine((c) => c.connectionString !== undefined || (c.host !== undefined && c.user !== undefined), {
    message: 'give connectionString, or host and user',
    params: { rule: 'dsn_or_fields', field: 'connectionString' },
  });

export const AiProviderConfigSchema = z
  .object({
    provider: z.enum(['openai', 'anthropic', 'google']),
    apiKey: secret,
    /** A model the tenant intends to use; the test checks the key can see it. */
    model: z.string().max(100).optional(),
  })
  .strict();

export const CONNECTION_CONFIG_SCHEMAS = {
  email: EmailConfigSchema,
  slack: SlackConfigSchema,
  teams: TeamsConfigSchema,
  whatsapp: WhatsAppConfigSchema,
  webhook: WebhookConfigSchema,
  stripe: StripeConfigSchema,
  database: DatabaseConfigSchema,
  ai_provider: AiProviderConfigSchema,
} as const;

export type ConnectionChannel = keyof typeof CONNECTION_CONFIG_SCHEMAS;
export type ConnectionConfig<C extends ConnectionChannel> = z.infer<(typeof CONNECTION_CONFIG_SCHEMAS)[C]>;
