import { z } from 'zod';
import * as A from './api.js';
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
import { StepConfigurationSchema } from './steps.js';

export type ServiceName = 'session' | 'progress' | 'connection-test' | 'realtime';
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RouteContract {
  method: HttpMethod;
  url: string;
  service: ServiceName;
  summary: string;
  /** `admin` routes need the admin role; every route needs a valid token. */
  access: 'user' | 'admin';
  params?: z.ZodType;
  querystring?: z.ZodType;
  body?: z.ZodType;
  /** Success responses; error responses are added from ErrorBodySchema. */
  responses: Record<number, z.ZodType>;
}

const route = <const R extends RouteContract>(r: R): R => r;

export const ROUTES = {
  start: route({ method: 'POST', url: '/onboarding/start', service: 'session', summary: "Start an onboarding session (or return the caller's unfinished one)", access: 'user', body: A.StartBodySchema.nullish(), responses: { 200: A.SessionWithProgressSchema, 201: A.SessionWithProgressSchema } }),
  getSession: route({ method: 'GET', url: '/onboarding/session/:sessionId', service: 'session', summary: 'A session, credentials masked', access: 'user', params: A.SessionIdParamsSchema, responses: { 200: A.SessionWithProgressSchema } }),
  status: route({ method: 'GET', url: '/onboarding/status', service: 'session', summary: "The caller's current session and its progress", access: 'user', responses: { 200: A.StatusResponseSchema } }),
  type: route({ method: 'GET', url: '/onboarding/type', service: 'session', summary: 'Which onboarding flow the caller gets', access: 'user', responses: { 200: A.TypeResponseSchema } }),
  saveStep: route({ method: 'PUT', url: '/onboarding/step/:sessionId/:stepId', service: 'session', summary: "Save a step's data and complete it", access: 'user', params: A.StepParamsSchema, body: A.StepSaveBodySchema, responses: { 200: A.StepSaveResponseSchema } }),
  skipStep: route({ method: 'POST', url: '/onboarding/skip/:sessionId/:stepId', service: 'session', summary: 'Skip an optional step', access: 'user', params: A.StepParamsSchema, body: A.SkipBodySchema.nullish(), responses: { 200: A.StepSaveResponseSchema } }),
  flow: route({ method: 'GET', url: '/onboarding/flow', service: 'session', summary: "The caller's own flow: ordered steps with the JSON Schema of each step's data", access: 'user', responses: { 200: A.FlowResponseSchema } }),
  flowByType: route({ method: 'GET', url: '/onboarding/flows/:type', service: 'session', summary: "A flow's ordered steps with the JSON Schema of each step's data", access: 'user', params: A.FlowTypeParamsSchema, responses: { 200: A.FlowResponseSchema } }),
  stepConfiguration: route({ method: 'GET', url: '/onboarding/step/:stepId/configuration', service: 'session', summary: "A step's configuration", access: 'user', params: A.StepIdParamsSchema, querystring: A.StepConfigQuerySchema, responses: { 200: StepConfigurationSchema } }),
  validateStepPost: route({ method: 'POST', url: '/onboarding/validate-step/:stepId', service: 'session', summary: 'Validate step data without saving', access: 'user', params: A.StepIdParamsSchema, querystring: A.ValidateStepPostQuerySchema, body: A.StepSaveBodySchema, responses: { 200: A.ValidateStepResponseSchema } }),
  validateStepGet: route({ method: 'GET', url: '/onboarding/validate-step/:stepId', service: 'session', summary: 'Validate step data given as ?data=<url-encoded JSON>', access: 'user', params: A.StepIdParamsSchema, querystring: A.ValidateStepQuerySchema, responses: { 200: A.ValidateStepResponseSchema } }),
  pause: route({ method: 'POST', url: '/onboarding/pause/:sessionId', service: 'session', summary: 'Pause a session', access: 'user', params: A.SessionIdParamsSchema, responses: { 200: A.PauseResponseSchema } }),
  resume: route({ method: 'POST', url: '/onboarding/resume/:sessionId', service: 'session', summary: 'Resume a paused session', access: 'user', params: A.SessionIdParamsSchema, responses: { 200: A.PauseResponseSchema } }),
  complete: route({ method: 'POST', url: '/onboarding/complete/:sessionId', service: 'session', summary: 'Complete a session (force=true: admins only)', access: 'user', params: A.SessionIdParamsSchema, querystring: A.CompleteQuerySchema, responses: { 200: A.CompleteResponseSchema } }),
  tenantSetupStatus: route({ method: 'GET', url: '/onboarding/tenant-setup/status', service: 'session', summary: "The tenant's setup status", access: 'user', responses: { 200: A.TenantSetupStatusSchema } }),
  tenantSetupComplete: route({ method: 'POST', url: '/onboarding/tenant-setup/complete', service: 'session', summary: "Mark the tenant's setup completed", access: 'admin', responses: { 200: A.TenantSetupCompleteResponseSchema } }),
  agentWelcomeStart: route({ method: 'POST', url: '/onboarding/agent-welcome/start', service: 'session', summary: 'Start the agent welcome flow', access: 'user', body: A.AgentWelcomeStartBodySchema.nullish(), responses: { 200: A.SessionWithProgressSchema, 201: A.SessionWithProgressSchema } }),
  agentWelcomeStatus: route({ method: 'GET', url: '/onboarding/agent-welcome/status/:userId', service: 'session', summary: "An agent's welcome status (self, or an admin of the tenant)", access: 'user', params: A.UserIdParamsSchema, responses: { 200: A.AgentWelcomeStatusSchema } }),
  businessHoursGet: route({ method: 'GET', url: '/onboarding/business-hours', service: 'session', summary: "The tenant's business hours", access: 'user', responses: { 200: BusinessHoursResponseSchema } }),
  businessHoursPut: route({ method: 'PUT', url: '/onboarding/business-hours', service: 'session', summary: "Set the tenant's business hours", access: 'admin', body: BusinessHoursConfigSchema, responses: { 200: BusinessHoursResponseSchema } }),
  businessHoursDelete: route({ method: 'DELETE', url: '/onboarding/business-hours', service: 'session', summary: 'Remove business hours (always open)', access: 'admin', responses: { 200: BusinessHoursResponseSchema } }),
  businessHoursCheck: route({ method: 'GET', url: '/onboarding/business-hours/check', service: 'session', summary: 'Is the tenant open at an instant', access: 'user', querystring: BusinessHoursCheckQuerySchema, responses: { 200: BusinessHoursCheckResponseSchema } }),
  businessHoursWorkingTime: route({ method: 'POST', url: '/onboarding/business-hours/working-time', service: 'session', summary: 'Business minutes between two instants', access: 'user', body: WorkingTimeBodySchema, responses: { 200: WorkingTimeResponseSchema } }),
  businessHoursAddTime: route({ method: 'POST', url: '/onboarding/business-hours/add-time', service: 'session', summary: 'The instant after adding business minutes', access: 'user', body: AddTimeBodySchema, responses: { 200: AddTimeResponseSchema } }),
  businessHoursNextDay: route({ method: 'GET', url: '/onboarding/business-hours/next-business-day', service: 'session', summary: 'The opening of the next business day', access: 'user', querystring: NextBusinessDayQuerySchema, responses: { 200: NextBusinessDayResponseSchema } }),

  progress: route({ method: 'GET', url: '/onboarding/progress/:sessionId', service: 'progress', summary: "A session's progress and milestones", access: 'user', params: A.SessionIdParamsSchema, responses: { 200: A.ProgressResponseSchema } }),
  statistics: route({ method: 'GET', url: '/onboarding/statistics', service: 'progress', summary: "The tenant's onboarding statistics and funnel", access: 'admin', querystring: A.StatisticsQuerySchema, responses: { 200: A.StatisticsResponseSchema } }),

  testConnection: route({ method: 'POST', url: '/onboarding/test-connection/:sessionId', service: 'connection-test', summary: 'Test one integration', access: 'user', params: A.SessionIdParamsSchema, body: A.ConnectionTestRequestSchema, responses: { 200: z.object({ result: A.ConnectionTestResultSchema }) } }),
  testConnections: route({ method: 'POST', url: '/onboarding/test-connections/:sessionId', service: 'connection-test', summary: 'Test up to 10 integrations in parallel', access: 'user', params: A.SessionIdParamsSchema, body: A.ConnectionTestBatchSchema, responses: { 200: z.object({ results: z.array(A.ConnectionTestResultSchema) }) } }),
  connectionHistory: route({ method: 'GET', url: '/onboarding/connection-history/:sessionId', service: 'connection-test', summary: "A session's connection tests, newest first", access: 'user', params: A.SessionIdParamsSchema, querystring: A.ConnectionHistoryQuerySchema, responses: { 200: A.ConnectionHistoryResponseSchema } }),
  validateConnectionConfig: route({ method: 'POST', url: '/onboarding/validate-connection-config', service: 'connection-test', summary: 'Check a connection config without connecting', access: 'user', body: A.ValidateConnectionConfigBodySchema, responses: { 200: A.ValidateConnectionConfigResponseSchema } }),

  sessionClients: route({ method: 'GET', url: '/onboarding/session-clients/:sessionId', service: 'realtime', summary: 'Sockets joined to a session, across all replicas', access: 'user', params: A.SessionIdParamsSchema, responses: { 200: A.SessionClientsResponseSchema } }),
  userClients: route({ method: 'GET', url: '/onboarding/user-clients/:userId', service: 'realtime', summary: "A user's sockets, across all replicas (self, or an admin of the user's tenant)", access: 'user', params: A.UserIdParamsSchema, responses: { 200: A.UserClientsResponseSchema } }),
} as const satisfies Record<string, RouteContract>;

export type RouteName = keyof typeof ROUTES;
