import { z } from 'zod';
import { ConnectionTestResultSchema } from './api.js';
import { CompletionSummarySchema, SubjectTokenSchema } from './ids.js';
import { ProgressSnapshotSchema } from './progress.js';
import { OnboardingRoleSchema, OnboardingTypeSchema } from './steps.js';
import { FieldErrorSchema } from './validation.js';

export { CompletionSummarySchema, SubjectTokenSchema } from './ids.js';
import { PaymentAccountStateSchema, StripeAccountIdSchema } from './payment.js';
import { ExternalTriggerSchema, StepSignalSchema } from './signals.js';
import { FlowPublishedDataSchema } from './flows.js';
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
  'flow.published',
] as const;
export const EventTypeSchema = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof EventTypeSchema>;

const StepSnapshot = {
  sessionType: OnboardingTypeSchema,
  completedSteps: z.array(z.string()),
  skippedSteps: z.array(z.string()),
  currentStep: z.string().nullable(),
  status: z.enum(['active', 'paused', 'completed', 'abandoned']),
  /**
   * Deprecated: the session service's own reading of the progress rule. Readers ignore it (the progress
   * service owns progress); it stays while a previous release's reader still requires it.
   */
  progress: ProgressSnapshotSchema,
  /** The flow (step catalog) version the session follows; absent means 1. The progress service computes with it. */
  flowVersion: z.number().int().min(1).optional(),
};

export const SessionStartedDataSchema = z.object({ ...StepSnapshot, role: OnboardingRoleSchema, startedAt: z.string() });
export const SessionStatusDataSchema = z.object({ ...StepSnapshot });
export const SessionCompletedDataSchema = z.object({ ...StepSnapshot, completedAt: z.string(), forced: z.boolean(), summary: CompletionSummarySchema });
export const StepChangedDataSchema = z.object({
  ...StepSnapshot,
  stepId: z.string(),
  nextStep: z.string().nullable(),
  reason: z.string().optional(),
  /** The answers, on a notification_preferences save (the notification service honours them; no secrets in that step). */
  notificationPreferences: NotificationPreferencesDataSchema.optional(),
  /** Set when an external signal (not a save) completed the step. */
  trigger: ExternalTriggerSchema.optional(),
});
/** An external signal recorded on a step (no progress change): `key` names the source, e.g. `stripe`, `channel:email`. */
export const StepAnnotatedDataSchema = z.object({
  sessionType: OnboardingTypeSchema,
  stepId: z.string(),
  key: z.string(),
  signal: StepSignalSchema,
  previous: StepSignalSchema.nullable(),
});
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
/** connection.tested v2: the result as the API answers it (v1 carried it untyped). */
export const ConnectionTestedDataSchema = z.object({ result: ConnectionTestResultSchema });
export const ConnectionTestedV1DataSchema = z.object({ result: z.record(z.string(), z.unknown()) });

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
  'flow.published': FlowPublishedDataSchema,
} as const satisfies Record<EventType, z.ZodType>;

export type EventData<T extends EventType> = z.infer<(typeof EVENT_DATA_SCHEMAS)[T]>;

/**
 * Versions. EVENT_DATA_SCHEMAS holds the latest version of each type (what handlers see); a type not named
 * in EVENT_VERSIONS is at version 1, so a new event type is one entry in EVENT_TYPES and EVENT_DATA_SCHEMAS.
 * A change that is not additive (a field removed, retyped or newly required, an enum narrowed) is a new
 * version: bump EVENT_VERSIONS, keep the old schema in OLDER_EVENT_VERSIONS with its upcast to the next
 * version (the one place older shapes are turned into newer ones), and keep PUBLISHED_EVENT_VERSIONS at the
 * old version until every consumer of the previous release reads the new one (docs/ARCHITECTURE.md §8).
 */
export const EVENT_VERSIONS: Partial<Record<EventType, number>> = {
  'connection.tested': 2,
};

export interface OlderEventVersion {
  schema: z.ZodType;
  /** Data of this version (parsed by `schema`) → data of the next version. */
  upcast: (data: never) => unknown;
  /** Data of the latest version → this version, for a producer that still writes it (default: unchanged). */
  downcast?: (data: never) => unknown;
}

export const OLDER_EVENT_VERSIONS: { readonly [T in EventType]?: Readonly<Record<number, OlderEventVersion>> } = {
  'connection.tested': {
    1: {
      schema: ConnectionTestedV1DataSchema,
      // v1 carried the same result object, only untyped: v2's schema checks it.
      upcast: (data: z.infer<typeof ConnectionTestedV1DataSchema>) => ({ result: data.result }),
    },
  },
};

/**
 * The version producers write, when below the latest. connection.tested stays at 1 while the previous
 * release's realtime reads only version 1 (a v1 reader accepts the typed result: v2 data is valid v1 data).
 */
export const PUBLISHED_EVENT_VERSIONS: Partial<Record<EventType, number>> = {
  'connection.tested': 1,
};

export function latestEventVersion(type: EventType): number {
  return EVENT_VERSIONS[type] ?? 1;
}

export function publishedEventVersion(type: EventType): number {
  return PUBLISHED_EVENT_VERSIONS[type] ?? latestEventVersion(type);
}

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(EVENT_DATA_SCHEMAS, type);
}

/** The data schema of one (type, version), or undefined when this build does not know that pair. */
export function eventDataSchema(type: string, version: number): z.ZodType | undefined {
  if (!isEventType(type)) return undefined;
  if (version === latestEventVersion(type)) return EVENT_DATA_SCHEMAS[type];
  return OLDER_EVENT_VERSIONS[type]?.[version]?.schema;
}

/** Every (type, version) this build reads: the compatibility snapshots and the docs list them. */
export function knownEventVersions(): Array<{ type: EventType; version: number; schema: z.ZodType }> {
  return EVENT_TYPES.flatMap((type) => {
    const older = Object.entries(OLDER_EVENT_VERSIONS[type] ?? {}).map(([v, o]) => ({ type, version: Number(v), schema: o.schema }));
    return [...older, { type, version: latestEventVersion(type), schema: EVENT_DATA_SCHEMAS[type] as z.ZodType }];
  });
}

const EnvelopeFields = {
  id: z.uuid().describe('uuid v7; also the Nats-Msg-Id'),
  occurredAt: z.iso.datetime({ offset: true }),
  tenantId: SubjectTokenSchema,
  sessionId: SubjectTokenSchema,
  userId: SubjectTokenSchema,
  sessionSeq: z.number().int().min(1).describe('per producer and session, consecutive from 1'),
  correlationId: z.string().max(128),
  data: z.record(z.string(), z.unknown()),
};

/** The envelope of a known event type at any version this build knows. */
export const EventEnvelopeSchema = z.object({
  ...EnvelopeFields,
  type: EventTypeSchema,
  version: z.number().int().min(1).describe('version of the data of this type (see EVENT_VERSIONS)'),
});

/**
 * The envelope as every reader first reads it: any type and version, so that an event of a newer producer
 * (a type or version this build does not know) can still be acknowledged, counted and, for ordered
 * consumers, stepped over by its `sessionSeq`.
 */
export const RawEventEnvelopeSchema = z.object({
  ...EnvelopeFields,
  type: z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, 'must be dot-separated lower-case words'),
  version: z.number().int().min(1),
});
export type RawEventEnvelope = z.infer<typeof RawEventEnvelopeSchema>;

/** The regular expression of a string schema's format or `.regex()` check (the one the schema itself tests). */
function patternOf(schema: z.ZodType): RegExp {
  const def = schema._zod.def as { pattern?: RegExp; checks?: Array<{ _zod: { def: { pattern?: RegExp } } }> };
  const pattern = def.pattern ?? def.checks?.find((c) => c._zod.def.pattern)?._zod.def.pattern;
  if (!pattern) throw new Error('no pattern on this string schema');
  // A global or sticky pattern keeps state between tests: not one to reuse.
  if (pattern.global || pattern.sticky) throw new Error(`stateful pattern ${String(pattern)}`);
  return pattern;
}
const ID_PATTERN = patternOf(EnvelopeFields.id);
const OCCURRED_AT_PATTERN = patternOf(EnvelopeFields.occurredAt);
const TOKEN_PATTERN = patternOf(EnvelopeFields.tenantId);
const TYPE_PATTERN = patternOf(RawEventEnvelopeSchema.shape.type);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;
const isPlainRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

/**
 * RawEventEnvelopeSchema's rules written out: every consumer reads every envelope through it, and zod's generic
 * machinery made the envelope (not the event data) most of the cost of reading an event (bench/RESULTS.md §3).
 * The same checks with the schemas' own patterns; anything it does not accept goes to the schema itself, which
 * either throws its usual error or accepts it, so this only ever takes the common case faster. The data is
 * copied (as the schema's record does) and read by its type's schema afterwards. Tested against the schema.
 */
export function readEnvelopeHead(raw: unknown): RawEventEnvelope {
  if (typeof raw === 'object' && raw !== null) {
    const r = raw as Record<string, unknown>;
    const { id, occurredAt, tenantId, sessionId, userId, sessionSeq, correlationId, data, type, version } = r;
    if (
      typeof id === 'string' &&
      ID_PATTERN.test(id) &&
      typeof occurredAt === 'string' &&
      OCCURRED_AT_PATTERN.test(occurredAt) &&
      typeof tenantId === 'string' &&
      TOKEN_PATTERN.test(tenantId) &&
      typeof sessionId === 'string' &&
      TOKEN_PATTERN.test(sessionId) &&
      typeof userId === 'string' &&
      TOKEN_PATTERN.test(userId) &&
      isCount(sessionSeq) &&
      typeof correlationId === 'string' &&
      correlationId.length <= 128 &&
      isPlainRecord(data) &&
      !Object.hasOwn(data, '__proto__') &&
      typeof type === 'string' &&
      TYPE_PATTERN.test(type) &&
      isCount(version)
    ) {
      return { id, occurredAt, tenantId, sessionId, userId, sessionSeq, correlationId, data: { ...data }, type, version };
    }
  }
  return RawEventEnvelopeSchema.parse(raw);
}

export type EventEnvelope<T extends EventType = EventType> = Omit<z.infer<typeof EventEnvelopeSchema>, 'type' | 'data'> & {
  type: T;
  data: EventData<T>;
};
/** An envelope discriminated by `type`: a `switch (e.type)` narrows `e.data`. */
export type AnyEventEnvelope = { [T in EventType]: EventEnvelope<T> }[EventType];

export type UnknownEventReason = 'unknown_type' | 'unknown_version';
export type ReadEventResult =
  { known: true; event: EventEnvelope; readVersion: number } | { known: false; reason: UnknownEventReason; envelope: RawEventEnvelope };

/**
 * The tolerant reader every consumer uses: an event of a known (type, version) comes back at the latest
 * version of its type (older versions upcast here, and only here), unknown fields dropped; an unknown type or
 * a version newer than this build is returned as such, for the caller to acknowledge and count. Throws a
 * ZodError when the envelope, or the data of a known version, breaks its contract.
 */
export function readEvent(raw: unknown): ReadEventResult {
  const env = readEnvelopeHead(raw);
  if (!isEventType(env.type)) return { known: false, reason: 'unknown_type', envelope: env };
  const type = env.type;
  const latest = latestEventVersion(type);
  if (env.version > latest) return { known: false, reason: 'unknown_version', envelope: env };
  let data: unknown = env.data;
  for (let v = env.version; v < latest; v++) {
    const older = OLDER_EVENT_VERSIONS[type]?.[v];
    // A retired version: no reader of this build can read it any more.
    if (!older) return { known: false, reason: 'unknown_version', envelope: env };
    data = older.upcast(older.schema.parse(data) as never);
  }
  const parsed = EVENT_DATA_SCHEMAS[type].parse(data);
  return { known: true, readVersion: env.version, event: { ...env, type, version: latest, data: parsed } as EventEnvelope };
}

export class UnknownEventError extends Error {
  constructor(
    readonly reason: UnknownEventReason,
    readonly envelope: RawEventEnvelope,
  ) {
    super(`${reason === 'unknown_type' ? 'unknown event type' : 'unknown version of'} ${envelope.type} v${envelope.version}`);
    this.name = 'UnknownEventError';
  }
}

/** readEvent for callers that know only current events (tests, tools): an unknown type or version throws. */
export function parseEvent(raw: unknown): EventEnvelope {
  const r = readEvent(raw);
  if (!r.known) throw new UnknownEventError(r.reason, r.envelope);
  return r.event;
}

/**
 * What a producer writes, checked against the schema of the envelope's own version (not upcast): the event
 * goes on the wire exactly as the readers of that version expect it. Throws a ZodError otherwise.
 */
export function validateForPublish(raw: unknown): RawEventEnvelope {
  const env = EventEnvelopeSchema.parse(raw);
  const schema = eventDataSchema(env.type, env.version);
  if (!schema) throw new UnknownEventError('unknown_version', env);
  return { ...env, data: schema.parse(env.data) as Record<string, unknown> };
}

/** Latest-version data → the data of the version producers write (PUBLISHED_EVENT_VERSIONS). */
export function toPublishedData<T extends EventType>(type: T, data: EventData<T>): { version: number; data: Record<string, unknown> } {
  const version = publishedEventVersion(type);
  let out: unknown = EVENT_DATA_SCHEMAS[type].parse(data);
  for (let v = latestEventVersion(type) - 1; v >= version; v--) {
    const older = OLDER_EVENT_VERSIONS[type]?.[v];
    if (!older) throw new Error(`${type} v${v} is published but has no schema`);
    out = older.schema.parse(older.downcast ? older.downcast(out as never) : out);
  }
  return { version, data: out as Record<string, unknown> };
}

/** `<prefix>.<tenantId>.<sessionId>.<type>`: one session's events replay with `<prefix>.<t>.<s>.>`. */
export function eventSubject(prefix: string, env: Pick<RawEventEnvelope, 'tenantId' | 'sessionId' | 'type'>): string {
  return `${prefix}.${env.tenantId}.${env.sessionId}.${env.type}`;
}

export function sessionSubjectFilter(prefix: string, tenantId: string, sessionId: string): string {
  return `${prefix}.${tenantId}.${sessionId}.>`;
}
