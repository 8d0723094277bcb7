import { z } from 'zod';
import { ProgressResponseSchema, SessionStatusSchema } from './api.js';
import { SubjectTokenSchema } from './ids.js';
import { OnboardingTypeSchema } from './steps.js';

/** NATS request/reply between services: `<rpcPrefix>.<method>`, answered by a queue group. */
export const RPC_METHODS = ['session.get', 'session.user', 'progress.get'] as const;
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
