import { z } from 'zod';
import { issuesToFieldErrors, type FieldError } from './validation.js';

const host = z
  .string()
  .trim()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.:[\]-]+$/, 'must be a host name or IP address');
const port = z.number().int().min(1).max(65535);
const secret = z.string().min(1).max(4096);
const id = (re: RegExp, what: string) => z.string().trim().regex(re, `must be ${what}`);

/** One or more PEM certificates; the service also parses them (a PEM that does not parse is a 422 on this field). */
const PEM_CERTIFICATES = /^\s*(-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*)+$/;

/**
 * Whom to trust for this one test, besides the public authorities: the certificate of a private CA
 * (PEM), or a self-signed server certificate. A test that relies on either passes with a warning
 * ("trusted by custom CA" / "self-signed accepted"), never as a plain success. The host name is still
 * checked against the certificate (except with sslmode=verify-ca / require for PostgreSQL).
 */
export const TlsTrustSchema = z
  .object({
    /** PEM of the CA (or CAs) that issued the server's certificate. Never stored in history or events. */
    caCertificate: z.string().max(65_536).regex(PEM_CERTIFICATES, 'must be one or more PEM certificates (-----BEGIN CERTIFICATE-----…)').optional(),
    /** Accept a server certificate that signed itself (it must still name the host). */
    allowSelfSigned: z.boolean().optional(),
  })
  .strict();
export type TlsTrust = z.infer<typeof TlsTrustSchema>;

const mailServer = {
  host,
  port,
  /** TLS from the first byte (465/993); otherwise STARTTLS when offered. */
  secure: z.boolean().optional(),
  username: z.string().min(1).max(320),
  password: secret,
  tls: TlsTrustSchema.optional(),
};

export const MailServerSchema = z.object(mailServer).strict();

export const ImapServerSchema = z
  .object({
    ...mailServer,
    /** The mailbox the test opens read-only (EXAMINE) after login; default INBOX. */
    mailbox: z
      .string()
      .trim()
      .min(1)
      .max(255)
      .regex(/^[^\r\n\0]+$/, 'must be a mailbox name on one line')
      .optional(),
  })
  .strict();

export const EmailConfigSchema = z
  .object({ smtp: MailServerSchema.optional(), imap: ImapServerSchema.optional() })
  .strict()
  .refine((c) => c.smtp !== undefined || c.imap !== undefined, { message: 'Give smtp, imap or both', params: { rule: 'smtp_or_imap', field: 'smtp' } });

export const SlackConfigSchema = z
  .object({
    botToken: id(/^xox[abpr]-[A-Za-z0-9-]{8,}$/, 'a Slack token (xoxb-…)'),
    /** Scopes the integration needs; missing ones make the test fail with permission_missing. */
    requiredScopes: z
      .array(z.string().regex(/^[a-z:.]+$/))
      .max(50)
      .optional(),
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

const parseUrl = (v: string): URL | null => {
  try {
    return new URL(v);
  } catch {
    return null;
  }
};

export const WebhookConfigSchema = z
  .object({
    url: z
      .string()
      .max(2048)
      .refine((v) => ['http:', 'https:'].includes(parseUrl(v)?.protocol ?? ''), { message: 'must be an http(s) URL', params: { rule: 'http_url' } })
      // Credentials in a URL end up in logs and proxies; a signed body (secret) is how receivers authenticate us.
      .refine((v) => !parseUrl(v) || (parseUrl(v)!.username === '' && parseUrl(v)!.password === ''), {
        message: 'must not carry a user name or password (user:pass@): use secret to sign the body, or a token in the path',
        params: { rule: 'no_userinfo' },
      }),
    /** Signs the body: X-Glavito-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with secret>. */
    secret: secret.optional(),
    tls: TlsTrustSchema.optional(),
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

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

export const DatabaseConfigSchema = z
  .object({
    connectionString: z
      .string()
      .max(2048)
      .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql:// (only PostgreSQL is supported)')
      .optional(),
    host: host.optional(),
    port: port.optional(),
    database: z.string().min(1).max(63).optional(),
    user: z.string().min(1).max(63).optional(),
    password: secret.optional(),
    /** true = sslmode=verify-full, false = sslmode=disable; `sslmode` wins when both are given. */
    ssl: z.boolean().optional(),
    /**
     * libpq's meanings: disable (no SSL), allow (plain, SSL if the server insists), prefer (the default:
     * SSL if offered, certificate not checked), require (SSL, certificate not checked unless a CA is given,
     * then as verify-ca), verify-ca (SSL, issuer checked), verify-full (issuer and host name checked).
     */
    sslmode: z.enum(SSL_MODES).optional(),
    tls: TlsTrustSchema.optional(),
  })
  .strict()
  .refine((c) => c.connectionString !== undefined || (c.host !== undefined && c.user !== undefined), {
    message: 'Give connectionString, or host and user',
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

/**
 * A channel config's field errors (`field` relative to the config), with the schemas' own messages for
 * patterns and cross-field rules ("must start with postgres://…"), not a generic "format is invalid".
 */
export function connectionConfigErrors(channel: ConnectionChannel, config: unknown): FieldError[] | null {
  const parsed = CONNECTION_CONFIG_SCHEMAS[channel].safeParse(config);
  if (parsed.success) return null;
  const out: FieldError[] = [];
  for (const issue of parsed.error.issues) {
    const field = issue.path.map(String).join('.');
    const label = field || 'config';
    if (issue.code === 'custom') {
      const params = (issue.params ?? {}) as { rule?: string; field?: string };
      const f = params.field ?? field;
      // Sentences (capitalised) stand alone; fragments ("must be…") follow the field's name.
      out.push({ field: f, rule: params.rule ?? 'custom', message: /^[A-Z]/.test(issue.message) ? issue.message : `${f || 'config'} ${issue.message}` });
    } else if (issue.code === 'invalid_format' && issue.format === 'regex') {
      out.push({ field, rule: 'format', message: `${label} ${issue.message}` });
    } else {
      out.push(...issuesToFieldErrors([issue], config));
    }
  }
  return out;
}
