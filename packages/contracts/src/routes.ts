import { z } from 'zod';
import * as A from './api.js';
import { AuditExportQuerySchema, AuditExportResponseSchema, AuditListResponseSchema, AuditQuerySchema, AuditVerifyResponseSchema } from './audit.js';
import {
  AddTimeBodySchema,
  AddTimeResponseSchema,
  BusinessHoursCheckQuerySchema,
  BusinessHoursCheckResponseSchema,
  BusinessHoursConfigSchema,
  BusinessHoursResponseSchema,
  NextBusinessDayQuerySchema,
  NextBusinessDayResponseSchema,
  WorkingTimeBodySchema,
  WorkingTimeResponseSchema,
} from './business-hours.js';
import * as N from './notifications.js';
import * as P from './payment.js';
import { StepConfigurationSchema } from './steps.js';
import * as F from './flows.js';
import { ROUTE_PATHS, type RouteName, type RoutePath } from './route-paths.js';

export { ROUTE_PATHS, type HttpMethod, type RouteName, type RoutePath, type ServiceName } from './route-paths.js';

export interface RouteContract extends Omit<RoutePath, 'params' | 'querystring' | 'body'> {
  summary: string;
  params?: z.ZodType;
  querystring?: z.ZodType;
  body?: z.ZodType;
  /** Success responses; error responses are added from ErrorBodySchema. */
  responses: Record<number, z.ZodType>;
}

/** What a route adds to its path: a summary, its responses, and a schema for exactly the parts its path says it takes. */
type RouteSchemas<P extends RoutePath> = { summary: string; responses: Record<number, z.ZodType> } & (P extends { params: true }
  ? { params: z.ZodType }
  : { params?: never }) &
  (P extends { querystring: true } ? { querystring: z.ZodType } : { querystring?: never }) &
  (P extends { body: true } ? { body: z.ZodType } : { body?: never });

// Keyed like ROUTE_PATHS: a name missing here, or one ROUTE_PATHS does not have, does not compile.
const SCHEMAS = {
  start: {
    summary: "Start an onboarding session (or return the caller's unfinished one)",
    body: A.StartBodySchema.nullish(),
    responses: { 200: A.SessionWithProgressSchema, 201: A.SessionWithProgressSchema },
  },
  getSession: { summary: 'A session, credentials masked', params: A.SessionIdParamsSchema, responses: { 200: A.SessionWithProgressSchema } },
  status: { summary: "The caller's current session and its progress", responses: { 200: A.StatusResponseSchema } },
  type: { summary: 'Which onboarding flow the caller gets', responses: { 200: A.TypeResponseSchema } },
  saveStep: {
    summary: "Save a step's data and complete it",
    params: A.StepParamsSchema,
    body: A.StepSaveBodySchema,
    responses: { 200: A.StepSaveResponseSchema },
  },
  skipStep: { summary: 'Skip an optional step', params: A.StepParamsSchema, body: A.SkipBodySchema.nullish(), responses: { 200: A.StepSaveResponseSchema } },
  flow: { summary: "The caller's own flow: ordered steps with the JSON Schema of each step's data", responses: { 200: A.FlowResponseSchema } },
  flowByType: {
    summary: "The caller tenant's current flow of a type (or ?version=): ordered steps with the JSON Schema of each step's data",
    params: A.FlowTypeParamsSchema,
    querystring: F.FlowVersionQuerySchema,
    responses: { 200: A.FlowResponseSchema },
  },
  flowVersions: {
    summary: "The tenant's published versions of a flow, newest first (1 is the built-in flow)",
    params: A.FlowTypeParamsSchema,
    responses: { 200: F.FlowVersionsResponseSchema },
  },
  flowDraftGet: {
    summary: "The tenant's draft of a flow (the current flow when no draft is saved)",
    params: A.FlowTypeParamsSchema,
    responses: { 200: F.FlowDraftResponseSchema },
  },
  flowDraftPut: {
    summary: "Save the tenant's draft of a flow: steps in order, required/hidden, estimates, dependencies, custom steps with fields",
    params: A.FlowTypeParamsSchema,
    body: F.FlowDraftBodySchema,
    responses: { 200: F.FlowDraftResponseSchema },
  },
  flowPublish: {
    summary: 'Publish the draft as the next version (422 with details when it breaks an invariant); running sessions keep their version',
    params: A.FlowTypeParamsSchema,
    responses: { 201: F.FlowPublishResponseSchema },
  },
  languages: { summary: 'The languages texts are answered in (?lang= or Accept-Language), with the default', responses: { 200: F.LanguagesResponseSchema } },
  stepConfiguration: {
    summary: "A step's configuration",
    params: A.StepIdParamsSchema,
    querystring: A.StepConfigQuerySchema,
    responses: { 200: StepConfigurationSchema },
  },
  validateStepPost: {
    summary: 'Validate step data without saving',
    params: A.StepIdParamsSchema,
    querystring: A.ValidateStepPostQuerySchema,
    body: A.StepSaveBodySchema,
    responses: { 200: A.ValidateStepResponseSchema },
  },
  validateStepGet: {
    summary: 'Validate step data given as ?data=<url-encoded JSON>',
    params: A.StepIdParamsSchema,
    querystring: A.ValidateStepQuerySchema,
    responses: { 200: A.ValidateStepResponseSchema },
  },
  pause: { summary: 'Pause a session', params: A.SessionIdParamsSchema, responses: { 200: A.PauseResponseSchema } },
  resume: { summary: 'Resume a paused session', params: A.SessionIdParamsSchema, responses: { 200: A.PauseResponseSchema } },
  complete: {
    summary: 'Complete a session (force=true: admins only)',
    params: A.SessionIdParamsSchema,
    querystring: A.CompleteQuerySchema,
    responses: { 200: A.CompleteResponseSchema },
  },
  tenantSetupStatus: { summary: "The tenant's setup status", responses: { 200: A.TenantSetupStatusSchema } },
  tenantSetupComplete: { summary: "Mark the tenant's setup completed", responses: { 200: A.TenantSetupCompleteResponseSchema } },
  agentWelcomeStart: {
    summary: 'Start the agent welcome flow',
    body: A.AgentWelcomeStartBodySchema.nullish(),
    responses: { 200: A.SessionWithProgressSchema, 201: A.SessionWithProgressSchema },
  },
  agentWelcomeStatus: {
    summary: "An agent's welcome status (self, or an admin of the tenant)",
    params: A.UserIdParamsSchema,
    responses: { 200: A.AgentWelcomeStatusSchema },
  },
  businessHoursGet: { summary: "The tenant's business hours", responses: { 200: BusinessHoursResponseSchema } },
  businessHoursPut: { summary: "Set the tenant's business hours", body: BusinessHoursConfigSchema, responses: { 200: BusinessHoursResponseSchema } },
  businessHoursDelete: { summary: 'Remove business hours (always open)', responses: { 200: BusinessHoursResponseSchema } },
  businessHoursCheck: {
    summary: 'Is the tenant open at an instant',
    querystring: BusinessHoursCheckQuerySchema,
    responses: { 200: BusinessHoursCheckResponseSchema },
  },
  businessHoursWorkingTime: { summary: 'Business minutes between two instants', body: WorkingTimeBodySchema, responses: { 200: WorkingTimeResponseSchema } },
  businessHoursAddTime: { summary: 'The instant after adding business minutes', body: AddTimeBodySchema, responses: { 200: AddTimeResponseSchema } },
  businessHoursNextDay: {
    summary: 'The opening of the next business day',
    querystring: NextBusinessDayQuerySchema,
    responses: { 200: NextBusinessDayResponseSchema },
  },

  progress: { summary: "A session's progress and milestones", params: A.SessionIdParamsSchema, responses: { 200: A.ProgressResponseSchema } },
  statistics: {
    summary: "The tenant's onboarding statistics and funnel",
    querystring: A.StatisticsQuerySchema,
    responses: { 200: A.StatisticsResponseSchema },
  },
  statisticsTimeseries: {
    summary: 'Starts, completions, abandonments, completion rate or median time to complete per day or week',
    querystring: A.StatisticsTimeseriesQuerySchema,
    responses: { 200: A.StatisticsTimeseriesResponseSchema },
  },
  statisticsCohorts: {
    summary: 'Weekly start cohorts and their completion curves',
    querystring: A.StatisticsCohortsQuerySchema,
    responses: { 200: A.StatisticsCohortsResponseSchema },
  },
  statisticsExport: {
    summary: "The tenant's sessions as CSV or NDJSON, one row per session (streamed)",
    querystring: A.StatisticsExportQuerySchema,
    responses: { 200: A.StatisticsExportResponseSchema },
  },

  testConnection: {
    summary: 'Test one integration',
    params: A.SessionIdParamsSchema,
    body: A.ConnectionTestRequestSchema,
    responses: { 200: z.object({ result: A.ConnectionTestResultSchema }) },
  },
  testConnections: {
    summary: 'Test up to 10 integrations in parallel',
    params: A.SessionIdParamsSchema,
    body: A.ConnectionTestBatchSchema,
    responses: { 200: z.object({ results: z.array(A.ConnectionTestResultSchema) }) },
  },
  connectionHistory: {
    summary: "A session's connection tests, newest first",
    params: A.SessionIdParamsSchema,
    querystring: A.ConnectionHistoryQuerySchema,
    responses: { 200: A.ConnectionHistoryResponseSchema },
  },
  validateConnectionConfig: {
    summary: 'Check a connection config without connecting',
    body: A.ValidateConnectionConfigBodySchema,
    responses: { 200: A.ValidateConnectionConfigResponseSchema },
  },

  sessionClients: {
    summary: 'Sockets joined to a session, across all replicas',
    params: A.SessionIdParamsSchema,
    responses: { 200: A.SessionClientsResponseSchema },
  },
  userClients: {
    summary: "A user's sockets, across all replicas (self, or an admin of the user's tenant)",
    params: A.UserIdParamsSchema,
    responses: { 200: A.UserClientsResponseSchema },
  },

  notifications: {
    summary: "The caller's in-app notifications, newest first, with the unread count",
    querystring: N.NotificationListQuerySchema,
    responses: { 200: N.NotificationListResponseSchema },
  },
  notificationsMarkRead: { summary: 'Mark notifications read (given ids, or all)', body: N.MarkReadBodySchema, responses: { 200: N.MarkReadResponseSchema } },
  notificationSettingsGet: {
    summary: "The caller's delivery settings (email address, reminder emails, language, notification_preferences answers)",
    responses: { 200: N.NotificationSettingsSchema },
  },
  notificationSettingsPut: {
    summary: "Change the caller's delivery settings",
    body: N.NotificationSettingsBodySchema,
    responses: { 200: N.NotificationSettingsSchema },
  },
  notificationsUnsubscribe: {
    summary: 'Unsubscribe from reminder emails (the link in every reminder; no token: the signed ?token= says who)',
    querystring: N.UnsubscribeQuerySchema,
    body: N.UnsubscribeBodySchema,
    responses: { 200: N.UnsubscribeResponseSchema },
  },
  reminderPolicyGet: { summary: "The tenant's reminder policy (defaults when none is set)", responses: { 200: N.ReminderPolicyResponseSchema } },
  reminderPolicyPut: { summary: "Set the tenant's reminder policy", body: N.ReminderPolicySchema, responses: { 200: N.ReminderPolicyResponseSchema } },

  paymentSetup: {
    summary: "Create the tenant's Stripe Express account (or return the existing one), store its billing configuration, and link to Stripe's onboarding",
    body: P.PaymentSetupBodySchema,
    responses: { 200: P.PaymentSetupResponseSchema, 201: P.PaymentSetupResponseSchema },
  },
  paymentStatus: { summary: "The tenant's Stripe account state, live from Stripe (cached briefly)", responses: { 200: P.PaymentStatusResponseSchema } },
  paymentAccountLink: { summary: "A fresh link to Stripe's onboarding for the tenant's account", responses: { 201: P.AccountLinkSchema } },
  paymentAccount: { summary: "The tenant's Stripe account as last stored (null before setup)", responses: { 200: P.PaymentAccountResponseSchema } },
  paymentBillingConfigGet: { summary: "The tenant's billing configuration (null before setup)", responses: { 200: P.BillingConfigResponseSchema } },
  paymentBillingConfigPut: {
    summary: "Replace the tenant's billing configuration",
    body: P.BillingConfigurationInputSchema,
    responses: { 200: P.BillingConfigResponseSchema },
  },
  paymentStripeWebhook: {
    summary: 'Stripe webhook endpoint (no token: the Stripe-Signature header is checked against STRIPE_WEBHOOK_SECRET)',
    body: P.StripeWebhookBodySchema,
    responses: { 200: P.StripeWebhookResponseSchema },
  },

  auditList: {
    summary: "The tenant's audit records, newest first (filters: actor, action, outcome, target, time range)",
    querystring: AuditQuerySchema,
    responses: { 200: AuditListResponseSchema },
  },
  auditExport: {
    summary: "The tenant's audit records as NDJSON or CSV, newest first (streamed)",
    querystring: AuditExportQuerySchema,
    responses: { 200: AuditExportResponseSchema },
  },
  auditVerify: { summary: "Checks the tenant's audit hash chain; names the first broken link", responses: { 200: AuditVerifyResponseSchema } },
} as const satisfies { [N in RouteName]: RouteSchemas<(typeof ROUTE_PATHS)[N]> };

type Flat<T> = { [K in keyof T]: T[K] };
export type Routes = { readonly [N in RouteName]: Flat<Omit<(typeof ROUTE_PATHS)[N], 'params' | 'querystring' | 'body'> & (typeof SCHEMAS)[N]> };

function withSchemas(): Routes {
  const routes: Record<string, RouteContract> = {};
  for (const name of Object.keys(ROUTE_PATHS) as RouteName[]) {
    const { method, url, service, access, streamed }: RoutePath = ROUTE_PATHS[name];
    const schemas: Pick<RouteContract, 'summary' | 'params' | 'querystring' | 'body' | 'responses'> = SCHEMAS[name];
    routes[name] = { method, url, service, access, ...(streamed ? { streamed } : {}), ...schemas };
  }
  return routes as Routes;
}

/** The route catalog: every route's method, URL, service and access (from ROUTE_PATHS) with its schemas. */
export const ROUTES: Routes = withSchemas();
