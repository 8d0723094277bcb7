import { z } from 'zod';
import { ProgressResponseSchema, SessionStatusSchema } from './api.js';
import { SubjectTokenSchema } from './ids.js';
import { OnboardingTypeSchema } from './steps.js';

/** NATS request/reply between services: `<rpcPrefix>.<method>`, answered by a queue group. */
export const RPC_METHODS = ['session.get', 'session.user', 'progress.get', 'session.tenant_smtp'] as const;
export type RpcMethod = (typeof RPC_METHODS)[number];

export function rpcSubject(prefix: string, method: RpcMethod): string {
  return `${prefix}.${method}`;
}

/** Who asks: the callee applies the same visibility rules as its HTTP routes. */
export const RpcCallerSchema = z.object({ userId: SubjectTokenSchema, tenantId: SubjectTokenSchema, isAdmin: z.boolean() });

export const SessionGetRequestSchema = z.object({ sessionId: SubjectTokenSchema, caller: RpcCallerSchema });
export const SessionSummarySchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  userId: z.string(),
  type: OnboardingTypeSchema,
  status: SessionStatusSchema,
  completedSteps: z.array(z.string()),
  skippedSteps: z.array(z.string()),
  currentStep: z.string().nullable(),
  startedAt: z.string(),
  lastActivityAt: z.string(),
  completedAt: z.string().nullable(),
});
export type SessionSummary = z.infer<typeof SessionSummarySchema>;
export const SessionGetReplySchema = z.discriminatedUnion('found', [
  z.object({ found: z.literal(true), session: SessionSummarySchema }),
  z.object({ found: z.literal(false) }),
]);

/**
 * `session.user`: is `userId` a user of the caller's tenant (one with a session there) that the caller may
 * see (self or an admin)? Another tenant's user id reads as unknown, like another tenant's session.
 */
export const SessionUserRequestSchema = z.object({ userId: SubjectTokenSchema, caller: RpcCallerSchema });
export const SessionUserReplySchema = z.object({ known: z.boolean() });

export const ProgressGetRequestSchema = z.object({ sessionId: SubjectTokenSchema, caller: RpcCallerSchema });
export const ProgressGetReplySchema = z.discriminatedUnion('found', [
  z.object({ found: z.literal(true), progress: ProgressResponseSchema }),
  z.object({ found: z.literal(false) }),
]);

/**
 * `session.tenant_smtp` (notification → session): the tenant's own SMTP settings from the `email` channel of a
 * session's `channel_configuration`, to send that tenant's reminders through. The password never crosses the bus
 * in clear: the whole settings object is sealed for the notification service with AES-256-GCM under
 * NOTIFY_CREDENTIALS_KEY (a key only these two services hold), as `v1.<iv>.<tag>.<ciphertext>` (base64url), with
 * `tenantSmtpAad(request)` as additional data so a reply opens only for the request it answers (tenant, session,
 * the caller's fresh nonce). `found: false`: no such session in that tenant, or no usable email SMTP settings.
 */
export const TenantSmtpRequestSchema = z.object({
  tenantId: SubjectTokenSchema,
  sessionId: SubjectTokenSchema,
  /** Fresh random bytes per request (base64url): bound into the sealed reply, so an old reply cannot be replayed. */
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
});
export type TenantSmtpRequest = z.infer<typeof TenantSmtpRequestSchema>;
export const TenantSmtpReplySchema = z.discriminatedUnion('found', [
  z.object({
    found: z.literal(true),
    sealed: z
      .string()
      .regex(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/)
      .max(16_384),
  }),
  z.object({ found: z.literal(false) }),
]);
export type TenantSmtpReply = z.infer<typeof TenantSmtpReplySchema>;
/** What `sealed` holds once opened (never logged, stored or sent anywhere else). */
export const TenantSmtpSettingsSchema = z.object({
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535),
  username: z.string().min(1).max(320),
  password: z.string().min(1).max(4096),
  /** The channel's support address (the From of the emails), when the step has one. */
  address: z.string().max(320).nullable(),
});
export type TenantSmtpSettings = z.infer<typeof TenantSmtpSettingsSchema>;
/** Additional authenticated data of a `session.tenant_smtp` reply: binds it to its request. */
export function tenantSmtpAad(req: TenantSmtpRequest): string {
  return `session.tenant_smtp.v1|${req.tenantId}|${req.sessionId}|${req.nonce}`;
}
