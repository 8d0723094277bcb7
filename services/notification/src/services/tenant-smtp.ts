import { createDecipheriv, randomBytes } from 'node:crypto';
import { callRpc, RpcError } from '@glavito/bus';
import {
  rpcSubject,
  tenantSmtpAad,
  TenantSmtpReplySchema,
  TenantSmtpSettingsSchema,
  type TenantSmtpRequest,
  type TenantSmtpSettings,
} from '@glavito/contracts';
import type { EmailChannel, NotificationRepository } from '../repositories/notification-repository.js';

type RpcTransport = Parameters<typeof callRpc>[0];

/** Whose SMTP sends a tenant's email now. */
export type SenderChoice =
  | { kind: 'system'; reason: string }
  | { kind: 'tenant'; channel: EmailChannel; settings: TenantSmtpSettings }
  /** The tenant's SMTP should send, but its settings could not be had now: retried later, never switched to ours. */
  | { kind: 'unavailable'; detail: string };

export interface TenantSmtpResolver {
  choose(tenantId: string): Promise<SenderChoice>;
}

/** Opens a `session.tenant_smtp` reply (contracts/rpc.ts): AES-256-GCM, the request as additional data. */
export function openTenantSmtp(key: Buffer, req: TenantSmtpRequest, sealed: string): TenantSmtpSettings {
  const [version, iv, tag, data] = sealed.split('.');
  if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('unknown sealed format');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(tenantSmtpAad(req), 'utf8'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return TenantSmtpSettingsSchema.parse(JSON.parse(Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8')));
}

/**
 * Decides, per email, between the tenant's own SMTP and the system's. The tenant's is used when its email channel
 * passed a connection test and channel_configuration has not been saved since (this context's copy, from events);
 * its settings are then asked of the session service, which seals them for us; they live only for this send.
 * Settings no longer found, or not the host and port that were tested, mean the tested channel is gone: the
 * system's SMTP sends. Without NOTIFY_CREDENTIALS_KEY the system's SMTP always sends.
 */
export function createTenantSmtpResolver(o: {
  repo: NotificationRepository;
  bus: RpcTransport;
  rpcPrefix: string;
  key: string | undefined;
  timeoutMs?: number;
}): TenantSmtpResolver {
  const key = o.key ? Buffer.from(o.key, 'base64') : null;
  return {
    async choose(tenantId) {
      if (!key) return { kind: 'system', reason: 'tenant smtp off (no NOTIFY_CREDENTIALS_KEY)' };
      const channel = await o.repo.verifiedEmailChannel(tenantId);
      if (!channel) return { kind: 'system', reason: 'email channel not tested successfully since its last change' };
      const req: TenantSmtpRequest = { tenantId, sessionId: channel.sessionId, nonce: randomBytes(18).toString('base64url') };
      let reply;
      try {
        reply = await callRpc(o.bus, rpcSubject(o.rpcPrefix, 'session.tenant_smtp'), req, TenantSmtpReplySchema, o.timeoutMs ?? 2000);
      } catch (err) {
        return { kind: 'unavailable', detail: `tenant smtp settings unavailable: ${err instanceof RpcError ? err.code : 'error'}` };
      }
      if (!reply.found) return { kind: 'system', reason: 'email channel has no SMTP settings any more' };
      let settings: TenantSmtpSettings;
      try {
        settings = openTenantSmtp(key, req, reply.sealed);
      } catch {
        // Not sealed for us with our key (a key mismatch between the two services): a configuration error, retried.
        return { kind: 'unavailable', detail: 'tenant smtp settings unavailable: the reply does not open with NOTIFY_CREDENTIALS_KEY' };
      }
      if (settings.host.toLowerCase() !== channel.smtpHost.toLowerCase() || settings.port !== channel.smtpPort)
        return { kind: 'system', reason: 'email channel settings are not the ones tested' };
      return { kind: 'tenant', channel, settings };
    },
  };
}
