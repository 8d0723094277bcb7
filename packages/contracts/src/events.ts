import { z } from 'zod';
import { ProgressSnapshotSchema } from './progress.js';
import { OnboardingRoleSchema, OnboardingTypeSchema } from './steps.js';
import { FieldErrorSchema } from './validation.js';
import { PaymentAccountStateSchema, StripeAccountIdSchema } from './payment.js';
import { ExternalTriggerSchema, StepSignalSchema } from './signals.js';
import { BusinessHoursChangedDataSchema, NotificationCreatedDataSchema } from './notifications.js';
import { NotificationPreferencesDataSchema } from './step-data.js';

export const EVENT_TYPES = [
  'session.started',
  'session.paused',
  'session.resumed',
  'session.completed',
  'session.abandoned',
  'step.updated',
  'step.completed',
  'step.skipped',
  'step.validation_failed',
  'progress.updated',
  'milestone.reached',
  'connection.tested',
  'business_hours.changed',
  'notification.created',
  'step.annotated',
  'payment.account_updated',
] as const;
export const EventTypeSchema = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof EventTypeSchema>;

/** Ids that travel in NATS subjects: no dots, wildcards or spaces. */
export const SubjectTokenSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z, a-z, 0-9, _ or -');

const StepSnapshot = {
  sessionType: OnboardingTypeSchema,
  completedSteps: z.array(z.string()),
  skippedSteps: z.array(z.string()),
  currentStep: z.string().nullable(),
  status: z.enum(['active', 'paused', 'completed', 'abandoned']),
  progress: ProgressSnapshotSchema,
};

export const SessionStartedDataSchema = z.object({ ...StepSnapshot, role: OnboardingRoleSchema, startedAt: z.string() });
export const SessionStatusDataSchema = z.object({ ...StepSnapshot });
export const CompletionSummarySchema = z.object({
  totalTime: z.number().int().describe('minutes from start to completion'),
  stepsCompleted: z.number().int(),
  featuresEnabled: z.array(z.string()),
  type: OnboardingTypeSchema,
  role: OnboardingRoleSchema,
});
export const SessionCompletedDataSchema = z.object({ ...StepSnapshot, completedAt: z.string(), forced: z.boolean(), summary: CompletionSummarySchema });
export const StepChangedDataSchema = z.object({ ...StepSnapshot, stepId: z.string(), nextStep: z.string().nullable(), reason: z.string().optional(),
  /** The answers, on a notification_preferences save (the notification service honours them; no secrets in that step). */
  notificationPreferences: NotificationPreferencesDataSchema.optional(),
  /** Set when an external signal (not a save) completed the step. */
  trigger: ExternalTriggerSchema.optional(),
});
/** An external signal recorded on a step (no progress change): `key` names the source, e.g. `stripe`, `channel:email`. */
export const StepAnnotatedDataSchema = z.object({ sessionType: OnboardingTypeSchema, stepId: z.string(), key: z.string(), signal: StepSignalSchema, previous: StepSignalSchema.nullable() });
/**
 * payment.account_updated (payment service): what Stripe said about a tenant's connected account. The envelope's
 * sessionId is the account id (its sessionSeq counts that account's events) and userId the admin who set it up.
 */
export const PaymentAccountUpdatedDataSchema = PaymentAccountStateSchema.extend({
  accountId: StripeAccountIdSchema,
  canCharge: z.boolean(),
  /** The Stripe event that said so, and when Stripe created it (seconds). */
  stripeCreated: z.number().int(),
  stripeEventId: z.string(),
});
export const StepValidationFailedDataSchema = z.object({ sessionType: OnboardingTypeSchema, stepId: z.string(), errors: z.array(FieldErrorSchema) });
export const ProgressUpdatedDataSchema = z.object({
  progress: ProgressSnapshotSchema,
  estimatedCompletion: z.string().nullable(),
  trigger: z.string().describe('type of the event that caused the change'),
  /**
   * Set when the trigger is session.completed: realtime pushes this event as `onboarding_completed`, so the
   * completion reaches a socket after every progress update of the session, never before one.
   */
  completion: z.object({ completedAt: z.string(), forced: z.boolean(), summary: CompletionSummarySchema }).optional(),
});
export const MilestoneReachedDataSchema = z.object({ threshold: z.number().int(), title: z.string(), progress: ProgressSnapshotSchema });
export const ConnectionTestedDataSchema = z.object({ result: z.record(z.string(), z.unknown()) });

export const EVENT_DATA_SCHEMAS = {
  'session.started': SessionStartedDataSchema,
  'session.paused': SessionStatusDataSchema,
  'session.resumed': SessionStatusDataSchema,
  'session.completed': SessionCompletedDataSchema,
  'session.abandoned': SessionStatusDataSchema,
  'step.updated': StepChangedDataSchema,
  'step.completed': StepChangedDataSchema,
  'step.skipped': StepChangedDataSchema,
  'step.validation_failed': StepValidationFailedDataSchema,
  'progress.updated': ProgressUpdatedDataSchema,
  'milestone.reached': MilestoneReachedDataSchema,
  'connection.tested': ConnectionTestedDataSchema,
  'business_hours.changed': BusinessHoursChangedDataSchema,
  'notification.created': NotificationCreatedDataSchema,
  'step.annotated': StepAnnotatedDataSchema,
  'payment.account_updated': PaymentAccountUpdatedDataSchema,
} as const satisfies Record<EventType, z.ZodType>;

export type EventData<T extends EventType> = z.infer<(typeof EVENT_DATA_SCHEMAS)[T]>;

export const EventEnvelopeSchema = z.object({
  id: z.uuid().describe('uuid v7; also the Nats-Msg-Id'),
  type: EventTypeSchema,
  version: z.literal(1),
  occurredAt: z.iso.datetime({ offset: true }),
  tenantId: SubjectTokenSchema,
  sessionId: SubjectTokenSchema,
  userId: SubjectTokenSchema,
  sessionSeq: z.number().int().min(1).describe('per producer and session, consecutive from 1'),
  correlationId: z.string().max(128),
  data: z.record(z.string(), z.unknown()),
});
export type EventEnvelope<T extends EventType = EventType> = Omit<z.infer<typeof EventEnvelopeSchema>, 'type' | 'data'> & {
  type: T;
  data: EventData<T>;
};

/** Validates the envelope and the data of its type; throws a ZodError when either breaks the contract. */
export function parseEvent(raw: unknown): EventEnvelope {
  const env = EventEnvelopeSchema.parse(raw);
  const data = EVENT_DATA_SCHEMAS[env.type].parse(env.data);
  return { ...env, data } as EventEnvelope;
}

/** `<prefix>.<tenantId>.<sessionId>.<type>`: one session's events replay with `<prefix>.<t>.<s>.>`. */
export function eventSubject(prefix: string, env: Pick<EventEnvelope, 'tenantId' | 'sessionId' | 'type'>): string {
  return `${prefix}.${env.tenantId}.${env.sessionId}.${env.type}`;
}

export function sessionSubjectFilter(prefix: string, tenantId: string, sessionId: string): string {
  return `${prefix}.${tenantId}.${sessionId}.>`;
}
