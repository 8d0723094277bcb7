import { z } from 'zod';
import { ConnectionTestResultSchema, ProgressResponseSchema } from './api.js';
import { CompletionSummarySchema, SubjectTokenSchema } from './ids.js';
import { ProgressSnapshotSchema } from './progress.js';
import { OnboardingTypeSchema } from './steps.js';
import { FieldErrorSchema } from './validation.js';
import { ExternalTriggerSchema } from './signals.js';
import { NotificationSchema } from './notifications.js';
import { MAX_FRAME_ID_LENGTH, SERVER_EVENTS, type PushEventName } from './ws-names.js';

export * from './ws-names.js';

const FrameIdSchema = z.string().max(MAX_FRAME_ID_LENGTH).optional();

export const ClientFrameSchema = z.discriminatedUnion('event', [
  z
    .object({
      event: z.literal('join_session'),
      id: FrameIdSchema,
      data: z.object({ sessionId: SubjectTokenSchema, lastEventId: z.uuid().optional() }).strict(),
    })
    .strict(),
  z.object({ event: z.literal('leave_session'), id: FrameIdSchema, data: z.object({ sessionId: SubjectTokenSchema }).strict() }).strict(),
  z.object({ event: z.literal('get_progress'), id: FrameIdSchema, data: z.object({ sessionId: SubjectTokenSchema }).strict() }).strict(),
]);
export type ClientFrame = z.infer<typeof ClientFrameSchema>;

export const ServerEventNameSchema = z.enum(SERVER_EVENTS);

export const ServerFrameSchema = z.object({
  event: ServerEventNameSchema,
  data: z.record(z.string(), z.unknown()),
  id: z.string().optional(),
});
export type ServerFrame = z.infer<typeof ServerFrameSchema>;

export const ConnectedDataSchema = z.object({ clientId: z.string(), userId: z.string(), tenantId: z.string(), heartbeatMs: z.number().int() });
export const SessionJoinedDataSchema = z.object({ sessionId: z.string(), recovered: z.boolean(), replayed: z.number().int() });
export const WsErrorDataSchema = z.object({ code: z.string(), message: z.string(), sessionId: z.string().optional() });
/** The reply to `get_progress` (a `progress_update` frame carrying the request's `id`, not a push: no `eventId`). */
export const GetProgressReplyDataSchema = z.object({
  sessionId: z.string(),
  timestamp: z.string(),
  progress: ProgressResponseSchema,
  seq: z.number().int().min(0),
});

const PushBase = {
  sessionId: z.string(),
  /** The domain event's id: unique, and what a re-join passes as `lastEventId`. */
  eventId: z.string(),
  timestamp: z.string(),
  correlationId: z.string().optional(),
};
/** The progress service's per-session sequence of the event: a larger `seq` is a newer state of the session's progress. */
const ProgressSeq = { seq: z.number().int().min(0) };

/**
 * What each push carries (`data`). The session's progress travels only in the progress pushes
 * (PROGRESS_PUSH_EVENTS, ordered by `seq`), so two sources can never make a bar jump back; step and
 * status pushes say what happened, not how far along the session is.
 */
export const PUSH_DATA_SCHEMAS = {
  progress_update: z.object({ ...PushBase, ...ProgressSeq, progress: ProgressSnapshotSchema, estimatedCompletion: z.string().nullable() }),
  milestone_reached: z.object({ ...PushBase, ...ProgressSeq, threshold: z.number().int(), title: z.string(), progress: ProgressSnapshotSchema }),
  /** The last push of a session: 100 %, after every progress update and milestone of it. */
  onboarding_completed: z.object({
    ...PushBase,
    ...ProgressSeq,
    progress: ProgressSnapshotSchema,
    completedAt: z.string(),
    forced: z.boolean(),
    summary: CompletionSummarySchema,
  }),
  step_completed: z.object({
    ...PushBase,
    stepId: z.string(),
    nextStep: z.string().nullable(),
    /** The step was skipped (an optional step). */
    skipped: z.boolean(),
    /** The step had been completed before and was saved again. */
    resaved: z.boolean(),
    /** Present when an outside system completed the step (e.g. Stripe enabled the account), not a save. */
    trigger: ExternalTriggerSchema.optional(),
  }),
  validation_error: z.object({ ...PushBase, stepId: z.string(), errors: z.array(FieldErrorSchema) }),
  connection_test_result: z.object({ ...PushBase, result: ConnectionTestResultSchema }),
  onboarding_started: z.object({ ...PushBase, type: OnboardingTypeSchema, currentStep: z.string().nullable() }),
  session_paused: z.object({ ...PushBase, status: z.enum(['active', 'paused', 'completed', 'abandoned']), currentStep: z.string().nullable() }),
  session_resumed: z.object({ ...PushBase, status: z.enum(['active', 'paused', 'completed', 'abandoned']), currentStep: z.string().nullable() }),
  /** A new in-app notification for this user (a reminder, or a milestone/completion for admins); not replayed on join_session. */
  notification: z.object({ ...PushBase, notification: NotificationSchema }),
  /** Stripe asks for more details on the tenant's account (the payment_setup step stays completed). */
  payment_attention_needed: z.object({
    ...PushBase,
    stepId: z.string(),
    accountId: z.string(),
    currentlyDue: z.array(z.string()),
    pastDue: z.array(z.string()),
    disabledReason: z.string().nullable(),
  }),
} as const satisfies Record<PushEventName, z.ZodType>;

export type PushData<E extends PushEventName> = z.infer<(typeof PUSH_DATA_SCHEMAS)[E]>;
/** A push frame, discriminated by `event`. */
export type PushFrame = { [E in PushEventName]: { event: E; data: PushData<E> } }[PushEventName];
