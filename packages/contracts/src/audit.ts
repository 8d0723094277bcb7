import { z } from 'zod';
import { isSecretKey } from './secrets.js';

/**
 * Audit events: one per sensitive action, written by the service that does the action, through its own outbox
 * in the statement of the change (or published directly for refusals at the edge), consumed by the audit
 * service, which chains them per tenant. Never a secret: details name fields, never their values.
 */
export const AUDIT_ACTIONS = [
  'session.start',
  'session.complete',
  'session.force_complete',
  'session.pause',
  'session.resume',
  'session.abandon',
  'tenant_setup.complete',
  'business_hours.update',
  'business_hours.delete',
  'step.credentials_change',
  'connection.test',
  'statistics.read',
  'statistics.export',
  'audit.read',
  'audit.export',
  'audit.verify',
  'payment.setup',
  'payment.account_link',
  'payment.billing_change',
  /** Stripe changed a tenant's account (a webhook, or a live status read that found news); actor `system`. */
  'payment.account_update',
  'reminder_policy.change',
  'flow.draft_save',
  'flow.publish',
  /** A refusal at the edge: 401, 403, a 404 on a session route, 429, a refused WebSocket join. */
  'access.denied',
] as const;
export const AuditActionSchema = z.enum(AUDIT_ACTIONS);
export type AuditAction = z.infer<typeof AuditActionSchema>;

export const AuditOutcomeSchema = z.enum(['allowed', 'denied', 'failed']);
export type AuditOutcome = z.infer<typeof AuditOutcomeSchema>;

/** The chain of records without a known tenant (a refusal before any token was verified). */
export const AUDIT_NO_TENANT = '-none-';

const Token = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z, a-z, 0-9, _ or -');
const Scalar = z.union([z.string().max(256), z.number(), z.boolean(), z.null()]);
const DetailValue = z.union([Scalar, z.array(z.string().max(256)).max(50)]);

/** Small, flat, and with no key that names a credential: a value under such a key could only be one. */
export const AuditDetailsSchema = z
  .record(z.string().max(64), DetailValue)
  .refine((d) => Object.keys(d).length <= 20, 'at most 20 details')
  .refine((d) => Object.keys(d).every((k) => !isSecretKey(k)), 'a detail key names a credential: audit details name fields, never their values');

export const AuditActorSchema = z.object({
  subject: z.string().max(64).describe('user id (token `sub`), `system` for jobs, `anonymous` before a token was verified'),
  roles: z.array(z.string().max(32)).max(20),
});
export const AuditTargetSchema = z.object({ type: z.string().max(32), id: z.string().max(128).nullable() });
export const AuditOutcomeDetailSchema = z.object({ result: AuditOutcomeSchema, code: z.string().max(64).nullable().describe('HTTP status or error code') });

export const AuditEventSchema = z.object({
  id: z.uuid().describe('uuid v7; also the Nats-Msg-Id and the record id'),
  type: z.literal('audit.recorded'),
  version: z.literal(1),
  occurredAt: z.iso.datetime({ offset: true }),
  tenantId: Token,
  actor: AuditActorSchema,
  action: AuditActionSchema,
  target: AuditTargetSchema,
  outcome: AuditOutcomeDetailSchema,
  requestId: z.string().max(128).nullable(),
  correlationId: z.string().max(128).nullable(),
  clientIp: z.string().max(64).nullable(),
  userAgent: z.string().max(256).nullable(),
  details: AuditDetailsSchema,
});
export type AuditEvent = z.infer<typeof AuditEventSchema>;

/** `<prefix>.<tenantId>.<action>`: the audit stream's subjects (a stream of their own, not the domain events'). */
export function auditSubject(prefix: string, ev: Pick<AuditEvent, 'tenantId' | 'action'>): string {
  return `${prefix}.${ev.tenantId}.${ev.action}`;
}

/** A stored record: the event plus its place in the tenant's hash chain. */
export const AuditRecordSchema = AuditEventSchema.omit({ type: true, version: true }).extend({
  seq: z.number().int().min(1).describe("position in the tenant's chain, from 1"),
  recordedAt: z.iso.datetime({ offset: true }),
  prevHash: z.string().describe('hash of the previous record of the tenant (64 zeros for the first)'),
  hash: z.string().describe('sha256 over prevHash and the canonical encoding of this record'),
});
export type AuditRecord = z.infer<typeof AuditRecordSchema>;

const Instant = z.iso.datetime({ offset: true });
export const AuditQuerySchema = z
  .object({
    actor: z.string().max(64).optional(),
    action: AuditActionSchema.optional(),
    outcome: AuditOutcomeSchema.optional(),
    targetType: z.string().max(32).optional(),
    targetId: z.string().max(128).optional(),
    from: Instant.optional().describe('inclusive'),
    to: Instant.optional().describe('exclusive'),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().max(64).regex(/^\d+$/, 'must be the nextCursor of a previous page').optional(),
  })
  .strict();
export type AuditQuery = z.infer<typeof AuditQuerySchema>;
export const AuditListResponseSchema = z.object({ items: z.array(AuditRecordSchema), nextCursor: z.string().nullable() });
export const AuditExportQuerySchema = AuditQuerySchema.omit({ limit: true, cursor: true })
  .extend({ format: z.enum(['ndjson', 'csv']).default('ndjson') })
  .strict();
export const AuditExportResponseSchema = z.string().describe('NDJSON (one record per line) or CSV with a header row; newest first');
export const AuditVerifyResponseSchema = z.object({
  tenantId: z.string(),
  records: z.number().int().describe('records checked'),
  ok: z.boolean(),
  firstBroken: z
    .object({ seq: z.number().int(), id: z.string().nullable(), reason: z.enum(['hash_mismatch', 'prev_hash_mismatch', 'seq_gap', 'anchor_mismatch']) })
    .nullable(),
});

/**
 * Whether a route is audited and as what: every route of the catalog has a decision (a test fails otherwise).
 * `refusals` are audited for every route at the edge (401, 403, 429, and 404 on session routes).
 */
export type AuditDecision =
  | {
      audited: true;
      actions: readonly AuditAction[];
      /** Decided, but the owning service does not write the record yet: says what is missing (shown in the docs' table). */
      pending?: string;
    }
  | { audited: false; why: string };
