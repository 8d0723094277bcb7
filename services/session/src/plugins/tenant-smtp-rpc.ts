import { createCipheriv, randomBytes } from 'node:crypto';
import { serveRpc } from '@glavito/bus';
import { rpcSubject, tenantSmtpAad, TenantSmtpReplySchema, TenantSmtpRequestSchema, type TenantSmtpRequest, type TenantSmtpSettings } from '@glavito/contracts';
import fp from 'fastify-plugin';

/** The sealed form of `session.tenant_smtp` (contracts/rpc.ts): AES-256-GCM, the request as additional data. */
export function sealTenantSmtp(key: Buffer, req: TenantSmtpRequest, settings: TenantSmtpSettings): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(tenantSmtpAad(req), 'utf8'));
  const data = Buffer.concat([cipher.update(JSON.stringify(settings), 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), data.toString('base64url')].join('.');
}

const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/**
 * `session.tenant_smtp` for the notification service: the email channel's SMTP settings of one session's
 * channel_configuration, opened from the step data's seal and sealed again for the notification service under
 * NOTIFY_CREDENTIALS_KEY (a key of its own, not STEP_DATA_ENCRYPTION_KEY: the notification service never holds
 * the key of the step data at rest). Served only when that key is configured. The password exists in clear only
 * inside this handler; nothing here logs the settings.
 */
export const tenantSmtpRpcPlugin = fp<{ rpcPrefix: string; credentialsKey: string | undefined }>(
  async (app, opts) => {
    if (!opts.credentialsKey) return;
    const key = Buffer.from(opts.credentialsKey, 'base64');
    const sub = serveRpc({
      bus: app.bus,
      subject: rpcSubject(opts.rpcPrefix, 'session.tenant_smtp'),
      queue: 'session',
      request: TenantSmtpRequestSchema,
      reply: TenantSmtpReplySchema,
      logger: app.log,
      handler: async (req) => {
        // A service asks, for the tenant named in its request: a session of another tenant reads as absent.
        const s = await app.sessionRepository.load(req.sessionId, { tenantId: req.tenantId, userId: '', isAdmin: true });
        const sealedEmail = (s?.stepData.channel_configuration as { email?: unknown } | undefined)?.email;
        if (!sealedEmail || typeof sealedEmail !== 'object') return { found: false as const };
        const email = app.secretBox.open(sealedEmail) as Record<string, unknown>;
        const host = text(email.smtpHost);
        const username = text(email.username);
        const password = text(email.password);
        const port = email.smtpPort;
        if (email.enabled !== true || !host || !username || !password || typeof port !== 'number') return { found: false as const };
        return { found: true as const, sealed: sealTenantSmtp(key, req, { host, port, username, password, address: text(email.address) }) };
      },
    });
    app.addHook('onClose', async () => {
      await sub.stop();
    });
  },
  { name: 'session-tenant-smtp-rpc', dependencies: ['bus', 'session-repository'] },
);
