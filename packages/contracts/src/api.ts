import { z } from 'zod';
import { CONNECTION_CONFIG_SCHEMAS, type ConnectionChannel } from './connection-configs.js';
import { CompletionSummarySchema, SubjectTokenSchema } from './ids.js';
import { ProgressSnapshotSchema } from './progress.js';
import { OnboardingRoleSchema, OnboardingTypeSchema, StepConfigurationSchema } from './steps.js';
import { FieldErrorSchema } from './validation.js';
import { StepSignalsSchema } from './signals.js';

export const SessionStatusSchema = z.enum(['active', 'paused', 'completed', 'abandoned']);
export type SessionStatus = z.infer<typeof SessionStatusSchema>;

const Json = z.record(z.string(), z.unknown());

export const SessionIdParamsSchema = z.object({ sessionId: SubjectTokenSchema }).strict();
export const StepParamsSchema = z.object({ sessionId: SubjectTokenSchema, stepId: z.string().max(64) }).strict();
export const StepIdParamsSchema = z.object({ stepId: z.string().max(64) }).strict();
export const UserIdParamsSchema = z.object({ userId: SubjectTokenSchema }).strict();

export const SessionSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  userId: z.string(),
  type: OnboardingTypeSchema,
  role: OnboardingRoleSchema,
  status: SessionStatusSchema,
  currentStep: z.string().nullable(),
  completedSteps: z.array(z.string()),
  skippedSteps: z.array(z.string()),
  stepData: z.record(z.string(), Json).describe('latest data saved per step; credentials masked'),
  metadata: Json,
  version: z.number().int(),
  startedAt: z.string(),
  lastActivityAt: z.string(),
  completedAt: z.string().nullable(),
  estimatedCompletion: z.string().nullable(),
  /** The flow version the session follows to the end (1 = the built-in flow; a tenant's published versions count from 2). */
  flowVersion: z.number().int().min(1).optional(),
  /** What outside systems said about its steps (Stripe account state, verified channels), per step and source. */
  signals: StepSignalsSchema.optional(),
});
export type Session = z.infer<typeof SessionSchema>;

export const StartBodySchema = z
  .object({
    type: OnboardingTypeSchema.optional(),
    context: z
      .object({
        industry: z.string().trim().min(1).max(100).optional(),
        companySize: z.enum(['1-10', '10-50', '50-200', '200-1000', '1000+']).optional(),
        existingTools: z.array(z.string().trim().min(1).max(100)).max(50).optional(),
      })
      .strict()
      .optional(),
    metadata: z
      .record(z.string().max(64), z.union([z.string().max(1000), z.number(), z.boolean(), z.null()]))
      .optional()
      .refine((m) => m === undefined || Object.keys(m).length <= 50, 'at most 50 metadata keys'),
  })
  .strict();
export type StartBody = z.infer<typeof StartBodySchema>;

export const SessionWithProgressSchema = z.object({ session: SessionSchema, progress: ProgressSnapshotSchema });
export const StatusResponseSchema = z.object({ session: SessionSchema.nullable(), progress: ProgressSnapshotSchema.nullable() });
export const TypeResponseSchema = z.object({
  type: OnboardingTypeSchema,
  role: OnboardingRoleSchema,
  isTenantAdmin: z.boolean(),
  tenantSetupCompleted: z.boolean(),
});

export const StepSaveBodySchema = Json.describe("the step's data; see GET /onboarding/step/{stepId}/configuration");
export const StepSaveResponseSchema = z.object({
  session: SessionSchema,
  progress: ProgressSnapshotSchema,
  nextStep: z.string().nullable(),
  warnings: z.array(z.string()),
});
export const SkipBodySchema = z.object({ reason: z.string().trim().max(500).optional() }).strict();

/** Without `type`, the caller's own flow (see FlowResponseSchema). */
export const StepConfigQuerySchema = z.object({ type: OnboardingTypeSchema.optional() }).strict();

export const FlowTypeParamsSchema = z.object({ type: OnboardingTypeSchema }).strict();
/** A JSON Schema (draft 2020-12) document. */
export const JsonSchemaDocumentSchema = z.record(z.string(), z.unknown()).describe('JSON Schema (draft 2020-12) of the data');
export const FlowStepSchema = StepConfigurationSchema.extend({
  /** JSON Schema of the step's data, generated from the zod contract the server validates with. */
  dataSchema: JsonSchemaDocumentSchema,
  /** The step can be skipped (optional steps only). */
  skippable: z.boolean(),
});
export type FlowStep = z.infer<typeof FlowStepSchema>;
/**
 * A flow: its steps in order. `GET /onboarding/flow` answers the caller's own flow: the type of their
 * unfinished session, else `tenant_setup` for admins and `agent_welcome` for everyone else.
 */
export const FlowResponseSchema = z.object({
  type: OnboardingTypeSchema,
  version: z.number().int().min(1),
  steps: z.array(FlowStepSchema),
});
export type FlowResponse = z.infer<typeof FlowResponseSchema>;

/** Without `type`, the caller's own flow, as for step configuration. */
export const ValidateStepQuerySchema = z
  .object({
    type: OnboardingTypeSchema.optional(),
    // The URL limit (MAX_URL_LENGTH, 414 beyond) bounds it first: 100,000 was documented but never reachable.
    data: z
      .string()
      .max(8000)
      .optional()
      .describe(
        "the step's data as URL-encoded JSON (schema StepData_<stepId>); at most 8,000 characters decoded, and the whole request target at most 8,192 (414 beyond)",
      ),
  })
  .strict();
export const ValidateStepPostQuerySchema = z.object({ type: OnboardingTypeSchema.optional() }).strict();
export const ValidateStepResponseSchema = z.object({
  isValid: z.boolean(),
  errors: z.array(FieldErrorSchema),
  warnings: z.array(z.string()),
  nextStep: z.string().nullable(),
});

export const CompleteQuerySchema = z.object({ force: z.enum(['true', 'false']).optional() }).strict();
export const CompleteResponseSchema = z.object({ success: z.literal(true), completedAt: z.string(), summary: CompletionSummarySchema });
export const PauseResponseSchema = z.object({ success: z.literal(true), session: SessionSchema });

/**
 * The tenant's setup, read from its tenant_setup session (the completed one, else the latest): the same
 * progress figure as that session's, 100 % once the setup is completed; `missingSteps` are the required
 * steps that still block completion (none once completed).
 */
export const TenantSetupStatusSchema = z.object({
  isCompleted: z.boolean(),
  completedAt: z.string().nullable(),
  completedBy: z.string().nullable(),
  sessionId: z.string().nullable(),
  completedSteps: z.array(z.string()),
  skippedSteps: z.array(z.string()),
  missingSteps: z.array(z.string()),
  progressPercentage: z.number().int(),
});
export const TenantSetupCompleteResponseSchema = z.object({ success: z.literal(true), message: z.string(), completedAt: z.string() });
export const AgentWelcomeStartBodySchema = z.object({ teamId: z.string().max(100).optional(), welcomeMessage: z.string().max(2000).optional() }).strict();
export const AgentWelcomeStatusSchema = z.object({
  userId: z.string(),
  isCompleted: z.boolean(),
  completedAt: z.string().nullable(),
  completedSteps: z.array(z.string()),
  missingSteps: z.array(z.string()),
  progressPercentage: z.number().int(),
  sessionId: z.string().nullable(),
});

// progress service
export const MilestoneStateSchema = z.object({ threshold: z.number().int(), title: z.string(), reachedAt: z.string().nullable() });
export const ProgressResponseSchema = z.object({
  sessionId: z.string(),
  totalSteps: z.number().int(),
  completedSteps: z.number().int(),
  skippedSteps: z.number().int(),
  progressPercentage: z.number().int(),
  estimatedTimeRemaining: z.number().int(),
  estimatedCompletion: z.string().nullable(),
  currentStep: z.string().nullable(),
  nextRecommendedAction: z.string(),
  milestones: z.array(MilestoneStateSchema),
  /**
   * The `seq` of the last progress push this answer includes (0 before the first): compare with pushes' `seq`.
   * Defaults to 0 when a progress service older than the field answers over RPC.
   */
  seq: z.number().int().min(0).default(0),
});
// Cross-field, so not in JSON Schema: said in words where the document shows it.
const StatisticsInstantSchema = z.iso
  .datetime({ offset: true })
  .describe('an ISO 8601 instant with offset; `from` must be before `to` (else 400 PROGRESS_STATISTICS_RANGE_INVALID)');
const StatisticsDaySchema = z.iso.date();
/**
 * `from` / `to` filter sessions by start time. The analytics are kept per UTC day, so the window counts
 * whole days: `from` from the start of its day, `to` (exclusive) up to the next midnight unless it is one.
 */
export const StatisticsQuerySchema = z
  .object({
    type: OnboardingTypeSchema.optional(),
    from: StatisticsInstantSchema.optional(),
    to: StatisticsInstantSchema.optional(),
    /** One flow version's sessions only, with that version's steps in the funnel (1 = built-in; with `type`, default tenant_setup). */
    flowVersion: z.coerce.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();
/** The UTC days an answer counts: `from` inclusive, `to` exclusive (null: unbounded). */
export const StatisticsWindowSchema = z.object({ from: StatisticsDaySchema.nullable(), to: StatisticsDaySchema.nullable() });
export const StatisticsResponseSchema = z.object({
  totalSessions: z.number().int(),
  byStatus: z.record(SessionStatusSchema, z.number().int()),
  completionRate: z.number(),
  averageCompletionTime: z.number().nullable().describe('minutes'),
  medianCompletionTime: z.number().nullable().describe('minutes'),
  p90CompletionTime: z.number().nullable().optional().describe('minutes'),
  stepStatistics: z.array(
    z.object({
      stepId: z.string(),
      reachedCount: z.number().int(),
      completedCount: z.number().int(),
      skippedCount: z.number().int(),
      completionRate: z.number(),
      medianMinutes: z.number().nullable(),
      p90Minutes: z.number().nullable().optional().describe('minutes from reaching the step to completing it'),
      dropOffCount: z.number().int().describe('unfinished sessions standing at this step'),
      dropOffRate: z.number().optional().describe('dropOffCount / reachedCount, percent'),
    }),
  ),
  milestones: z.array(z.object({ threshold: z.number().int(), reachedCount: z.number().int() })),
  window: StatisticsWindowSchema.optional(),
  durationRelativeError: z.number().optional().describe('medians and p90s are within this relative error of the exact percentile (DDSketch buckets)'),
});

export const StatisticsTimeseriesMetricSchema = z.enum(['starts', 'completions', 'abandonments', 'completion_rate', 'median_time_to_complete']);
export const StatisticsIntervalSchema = z.enum(['day', 'week']);
/**
 * starts: sessions started per interval; completions: sessions completed (by completion day); abandonments:
 * sessions abandoned (by the day of their last event) and still abandoned; completion_rate and
 * median_time_to_complete: of the sessions started in the interval. Default window: the last 30 days (day)
 * or 12 weeks (week); at most 366 points.
 */
export const StatisticsTimeseriesQuerySchema = z
  .object({
    metric: StatisticsTimeseriesMetricSchema,
    interval: StatisticsIntervalSchema.default('day'),
    type: OnboardingTypeSchema.optional(),
    from: StatisticsInstantSchema.optional(),
    to: StatisticsInstantSchema.optional(),
  })
  .strict();
export const StatisticsTimeseriesResponseSchema = z.object({
  metric: StatisticsTimeseriesMetricSchema,
  interval: StatisticsIntervalSchema,
  type: OnboardingTypeSchema.nullable(),
  unit: z.enum(['sessions', 'percent', 'minutes']),
  from: StatisticsDaySchema,
  to: StatisticsDaySchema.describe('exclusive'),
  points: z.array(
    z.object({
      start: StatisticsDaySchema.describe('first UTC day of the interval (a Monday for weeks)'),
      value: z.number().nullable().describe('null: no session to compute a rate or median from'),
      sessions: z.number().int().describe('sessions behind the value (starts for a rate, completions for a median)'),
    }),
  ),
});
/** Weekly start cohorts (weeks start on Monday, UTC); default window: the last 12 weeks; at most 366 cohorts. */
export const StatisticsCohortsQuerySchema = z
  .object({ type: OnboardingTypeSchema.optional(), from: StatisticsInstantSchema.optional(), to: StatisticsInstantSchema.optional() })
  .strict();
export const StatisticsCohortsResponseSchema = z.object({
  type: OnboardingTypeSchema.nullable(),
  from: StatisticsDaySchema,
  to: StatisticsDaySchema.describe('exclusive'),
  cohorts: z.array(
    z.object({
      weekStart: StatisticsDaySchema,
      sessions: z.number().int(),
      completed: z.number().int(),
      curve: z
        .array(z.object({ week: z.number().int().min(1), completed: z.number().int(), share: z.number().describe('percent of the cohort') }))
        .describe('completed within 1, 2, … weeks of their own start; one point per whole week elapsed since weekStart (12 at most)'),
    }),
  ),
});
/** Sessions by exact start instant (from inclusive, to exclusive), oldest first. */
export const StatisticsExportQuerySchema = z
  .object({
    format: z.enum(['csv', 'ndjson']).default('csv'),
    type: OnboardingTypeSchema.optional(),
    from: StatisticsInstantSchema.optional(),
    to: StatisticsInstantSchema.optional(),
  })
  .strict();
/** One exported session (a CSV row with these columns, or one NDJSON line): no step data, no secrets. */
export const StatisticsExportRowSchema = z.object({
  sessionId: z.string(),
  userId: z.string(),
  type: OnboardingTypeSchema,
  status: SessionStatusSchema,
  startedAt: z.string().nullable(),
  completedAt: z.string().nullable(),
  durationMinutes: z.number().nullable(),
  stepsCompleted: z.number().int(),
  stepsSkipped: z.number().int(),
  flowVersion: z.number().int(),
});
export const StatisticsExportResponseSchema = z
  .string()
  .describe('text/csv (RFC 4180, a header row of StatisticsExportRow field names) or application/x-ndjson (one StatisticsExportRow per line), streamed');

// connection-test service
export const ConnectionChannelSchema = z.enum(['email', 'slack', 'teams', 'whatsapp', 'webhook', 'stripe', 'database', 'ai_provider']);
export const ConnectionErrorCodeSchema = z.enum([
  'config_invalid',
  'dns',
  'network_unreachable',
  'timeout',
  'tls',
  'auth_invalid',
  'permission_missing',
  'rate_limited',
  'provider_unavailable',
  'blocked_by_policy',
]);
const ConnectionTimeoutSchema = z.number().int().min(100).max(30_000).optional().describe('milliseconds, default 10000');
/**
 * What the test routes check before running anything: a known channel and an object as config (400
 * otherwise). The config itself is then checked against its channel's schema: a 422 with
 * `details: [{ field: 'config.<path>', rule, message }]` (in a batch: `tests.<i>.config.<path>`).
 */
export const ConnectionTestRequestSchema = z
  .object({
    channel: ConnectionChannelSchema,
    config: Json.describe("the channel's configuration (one schema per channel: see ConnectionTestRequestByChannelSchema)"),
    timeout: ConnectionTimeoutSchema,
  })
  .strict();
export const ConnectionTestBatchSchema = z.union([
  z.object({ tests: z.array(ConnectionTestRequestSchema).min(1).max(10) }).strict(),
  z.array(ConnectionTestRequestSchema).min(1).max(10),
]);

const CHANNEL_NAMES = ConnectionChannelSchema.options;
const byChannel = <T extends z.ZodRawShape>(extra: T) =>
  z.discriminatedUnion(
    'channel',
    CHANNEL_NAMES.map((channel: ConnectionChannel) =>
      z
        .object({ channel: z.literal(channel), config: CONNECTION_CONFIG_SCHEMAS[channel], ...extra })
        .strict()
        .meta({ title: `ConnectionTest_${channel}` }),
    ) as unknown as [z.ZodObject, ...z.ZodObject[]],
  );
/** The test request with each channel's config schema: what the API documents (and what the service enforces, as 422). */
export const ConnectionTestRequestByChannelSchema = byChannel({ timeout: ConnectionTimeoutSchema });
export const ConnectionTestBatchByChannelSchema = z.union([
  z.object({ tests: z.array(ConnectionTestRequestByChannelSchema).min(1).max(10) }).strict(),
  z.array(ConnectionTestRequestByChannelSchema).min(1).max(10),
]);
export const ValidateConnectionConfigByChannelSchema = byChannel({});
export const ConnectionCheckSchema = z.object({
  name: z.string(),
  status: z.enum(['success', 'warning', 'error', 'skipped']),
  durationMs: z.number(),
  message: z.string().optional(),
});
export const ConnectionTestResultSchema = z.object({
  id: z.string(),
  channel: ConnectionChannelSchema,
  status: z.enum(['success', 'warning', 'error']),
  message: z.string(),
  errorCode: ConnectionErrorCodeSchema.optional(),
  hint: z.string().optional(),
  details: Json,
  checks: z.array(ConnectionCheckSchema),
  responseTime: z.number(),
  timestamp: z.string(),
});
export const ConnectionHistoryQuerySchema = z
  .object({ limit: z.coerce.number().int().min(1).max(100).default(20), cursor: z.string().max(200).optional() })
  .strict();
export const ConnectionHistoryResponseSchema = z.object({ items: z.array(ConnectionTestResultSchema), nextCursor: z.string().nullable() });
export const ValidateConnectionConfigBodySchema = z.object({ channel: ConnectionChannelSchema, config: Json }).strict();
export const ValidateConnectionConfigResponseSchema = z.object({ isValid: z.boolean(), errors: z.array(FieldErrorSchema) });

// realtime service
export const SessionClientsResponseSchema = z.object({ sessionId: z.string(), connectedClients: z.number().int() });
export const UserClientsResponseSchema = z.object({ userId: z.string(), connectedClients: z.number().int() });

export const HealthResponseSchema = z.object({ status: z.enum(['ok', 'unavailable']), checks: z.record(z.string(), z.boolean()).optional() });
