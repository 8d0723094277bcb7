// The route catalog's run-time part, without zod: what a caller needs to reach a route (the browser SDK imports
// only this module). `routes.ts` adds the schemas per name to build ROUTES, so a route's method and URL are
// written once, here.

export type ServiceName = 'session' | 'progress' | 'connection-test' | 'realtime' | 'notification' | 'payment' | 'audit';
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RoutePath {
  method: HttpMethod;
  url: string;
  service: ServiceName;
  /** `admin` routes need the admin role; every route needs a valid token. */
  access: 'user' | 'admin' | 'public';
  /** Which parts the route takes (their schemas are in ROUTES): path params, a query string, a JSON body. */
  params?: true;
  querystring?: true;
  body?: true;
  /** The answer is a streamed download (CSV, NDJSON) of unbounded size: a proxy must pipe it, not buffer it. */
  streamed?: true;
}

export const ROUTE_PATHS = {
  start: { method: 'POST', url: '/onboarding/start', service: 'session', access: 'user', body: true },
  getSession: { method: 'GET', url: '/onboarding/session/:sessionId', service: 'session', access: 'user', params: true },
  status: { method: 'GET', url: '/onboarding/status', service: 'session', access: 'user' },
  type: { method: 'GET', url: '/onboarding/type', service: 'session', access: 'user' },
  saveStep: { method: 'PUT', url: '/onboarding/step/:sessionId/:stepId', service: 'session', access: 'user', params: true, body: true },
  skipStep: { method: 'POST', url: '/onboarding/skip/:sessionId/:stepId', service: 'session', access: 'user', params: true, body: true },
  flow: { method: 'GET', url: '/onboarding/flow', service: 'session', access: 'user' },
  flowByType: { method: 'GET', url: '/onboarding/flows/:type', service: 'session', access: 'user', params: true, querystring: true },
  flowVersions: { method: 'GET', url: '/onboarding/flows/:type/versions', service: 'session', access: 'admin', params: true },
  flowDraftGet: { method: 'GET', url: '/onboarding/flows/:type/draft', service: 'session', access: 'admin', params: true },
  flowDraftPut: { method: 'PUT', url: '/onboarding/flows/:type/draft', service: 'session', access: 'admin', params: true, body: true },
  flowPublish: { method: 'POST', url: '/onboarding/flows/:type/publish', service: 'session', access: 'admin', params: true },
  languages: { method: 'GET', url: '/onboarding/languages', service: 'session', access: 'user' },
  stepConfiguration: { method: 'GET', url: '/onboarding/step/:stepId/configuration', service: 'session', access: 'user', params: true, querystring: true },
  validateStepPost: {
    method: 'POST',
    url: '/onboarding/validate-step/:stepId',
    service: 'session',
    access: 'user',
    params: true,
    querystring: true,
    body: true,
  },
  validateStepGet: { method: 'GET', url: '/onboarding/validate-step/:stepId', service: 'session', access: 'user', params: true, querystring: true },
  pause: { method: 'POST', url: '/onboarding/pause/:sessionId', service: 'session', access: 'user', params: true },
  resume: { method: 'POST', url: '/onboarding/resume/:sessionId', service: 'session', access: 'user', params: true },
  complete: { method: 'POST', url: '/onboarding/complete/:sessionId', service: 'session', access: 'user', params: true, querystring: true },
  tenantSetupStatus: { method: 'GET', url: '/onboarding/tenant-setup/status', service: 'session', access: 'user' },
  tenantSetupComplete: { method: 'POST', url: '/onboarding/tenant-setup/complete', service: 'session', access: 'admin' },
  agentWelcomeStart: { method: 'POST', url: '/onboarding/agent-welcome/start', service: 'session', access: 'user', body: true },
  agentWelcomeStatus: { method: 'GET', url: '/onboarding/agent-welcome/status/:userId', service: 'session', access: 'user', params: true },
  businessHoursGet: { method: 'GET', url: '/onboarding/business-hours', service: 'session', access: 'user' },
  businessHoursPut: { method: 'PUT', url: '/onboarding/business-hours', service: 'session', access: 'admin', body: true },
  businessHoursDelete: { method: 'DELETE', url: '/onboarding/business-hours', service: 'session', access: 'admin' },
  businessHoursCheck: { method: 'GET', url: '/onboarding/business-hours/check', service: 'session', access: 'user', querystring: true },
  businessHoursWorkingTime: { method: 'POST', url: '/onboarding/business-hours/working-time', service: 'session', access: 'user', body: true },
  businessHoursAddTime: { method: 'POST', url: '/onboarding/business-hours/add-time', service: 'session', access: 'user', body: true },
  businessHoursNextDay: { method: 'GET', url: '/onboarding/business-hours/next-business-day', service: 'session', access: 'user', querystring: true },

  progress: { method: 'GET', url: '/onboarding/progress/:sessionId', service: 'progress', access: 'user', params: true },
  statistics: { method: 'GET', url: '/onboarding/statistics', service: 'progress', access: 'admin', querystring: true },
  statisticsTimeseries: { method: 'GET', url: '/onboarding/statistics/timeseries', service: 'progress', access: 'admin', querystring: true },
  statisticsCohorts: { method: 'GET', url: '/onboarding/statistics/cohorts', service: 'progress', access: 'admin', querystring: true },
  statisticsExport: { method: 'GET', url: '/onboarding/statistics/export', service: 'progress', access: 'admin', querystring: true, streamed: true },

  testConnection: { method: 'POST', url: '/onboarding/test-connection/:sessionId', service: 'connection-test', access: 'user', params: true, body: true },
  testConnections: { method: 'POST', url: '/onboarding/test-connections/:sessionId', service: 'connection-test', access: 'user', params: true, body: true },
  connectionHistory: {
    method: 'GET',
    url: '/onboarding/connection-history/:sessionId',
    service: 'connection-test',
    access: 'user',
    params: true,
    querystring: true,
  },
  validateConnectionConfig: { method: 'POST', url: '/onboarding/validate-connection-config', service: 'connection-test', access: 'user', body: true },

  sessionClients: { method: 'GET', url: '/onboarding/session-clients/:sessionId', service: 'realtime', access: 'user', params: true },
  userClients: { method: 'GET', url: '/onboarding/user-clients/:userId', service: 'realtime', access: 'user', params: true },

  notifications: { method: 'GET', url: '/onboarding/notifications', service: 'notification', access: 'user', querystring: true },
  notificationsMarkRead: { method: 'POST', url: '/onboarding/notifications/mark-read', service: 'notification', access: 'user', body: true },
  notificationSettingsGet: { method: 'GET', url: '/onboarding/notifications/settings', service: 'notification', access: 'user' },
  notificationSettingsPut: { method: 'PUT', url: '/onboarding/notifications/settings', service: 'notification', access: 'user', body: true },
  notificationsUnsubscribe: {
    method: 'POST',
    url: '/onboarding/notifications/unsubscribe',
    service: 'notification',
    access: 'public',
    querystring: true,
    body: true,
  },
  reminderPolicyGet: { method: 'GET', url: '/onboarding/reminder-policy', service: 'notification', access: 'admin' },
  reminderPolicyPut: { method: 'PUT', url: '/onboarding/reminder-policy', service: 'notification', access: 'admin', body: true },

  paymentSetup: { method: 'POST', url: '/onboarding/payment/setup', service: 'payment', access: 'admin', body: true },
  paymentStatus: { method: 'GET', url: '/onboarding/payment/status', service: 'payment', access: 'admin' },
  paymentAccountLink: { method: 'POST', url: '/onboarding/payment/account-link', service: 'payment', access: 'admin' },
  paymentAccount: { method: 'GET', url: '/onboarding/payment/account', service: 'payment', access: 'admin' },
  paymentBillingConfigGet: { method: 'GET', url: '/onboarding/payment/billing-config', service: 'payment', access: 'admin' },
  paymentBillingConfigPut: { method: 'PUT', url: '/onboarding/payment/billing-config', service: 'payment', access: 'admin', body: true },
  paymentStripeWebhook: { method: 'POST', url: '/onboarding/payment/webhooks/stripe', service: 'payment', access: 'public', body: true },

  auditList: { method: 'GET', url: '/onboarding/audit', service: 'audit', access: 'admin', querystring: true },
  auditExport: { method: 'GET', url: '/onboarding/audit/export', service: 'audit', access: 'admin', querystring: true, streamed: true },
  auditVerify: { method: 'GET', url: '/onboarding/audit/verify', service: 'audit', access: 'admin' },
} as const satisfies Record<string, RoutePath>;

export type RouteName = keyof typeof ROUTE_PATHS;

/** Names whose `params` flag disagrees with their URL (a `:name` segment needs params, and params need one). */
type ParamsMismatch = {
  [N in RouteName]: (typeof ROUTE_PATHS)[N] extends { url: `${string}/:${string}` }
    ? (typeof ROUTE_PATHS)[N] extends { params: true }
      ? never
      : N
    : (typeof ROUTE_PATHS)[N] extends { params: true }
      ? N
      : never;
}[RouteName];
type NoneOf<T extends never> = T;
// Does not compile, naming the route, when a URL's path parameters and its `params` flag disagree.
type _ParamsMatchUrls = NoneOf<ParamsMismatch>;
