// Every error status a route can answer, with the codes that come with it: the OpenAPI document lists them, the
// e2e spec and fuzz tests fail when a route answers a status or code that is not here.
import type { RouteName, RoutePath } from './route-paths.js';

/** Longest request target (path and query) the gateway and the services accept: 414 beyond. */
export const MAX_URL_LENGTH = 8192;
/** Longest single path parameter, at the gateway and the services alike: 414 beyond. */
export const MAX_PARAM_LENGTH = 200;
/** Request line and headers together (Node's default): 431 beyond. */
export const MAX_HEADER_BYTES = 16_384;

/** Error status → the codes a route answers with it. */
export type ErrorCodes = Readonly<Partial<Record<number, readonly string[]>>>;

/** Statuses of a path rather than of one of its operations: no route there, or not with that method (with `Allow`). */
export const PATH_ERRORS: ErrorCodes = {
  404: ['GATEWAY_ROUTE_NOT_FOUND'],
  405: ['GATEWAY_METHOD_NOT_ALLOWED'],
};

/** What the common errors depend on: a catalog entry with or without its schemas. */
type RouteShape = Pick<RoutePath, 'method' | 'access'> & { params?: unknown; querystring?: unknown; body?: unknown };

const AUTH_CODES = ['AUTH_TOKEN_MISSING', 'AUTH_TOKEN_INVALID', 'AUTH_TOKEN_EXPIRED'];
/** A request the gateway or a service cannot read: bad URL, HTTP framing, a missing Host. */
const MALFORMED_CODES = [
  'GATEWAY_MALFORMED_REQUEST',
  'GATEWAY_URL_MALFORMED',
  'GATEWAY_HOST_REQUIRED',
  'REQUEST_MALFORMED',
  'REQUEST_URL_INVALID',
  'REQUEST_CONTENT_LENGTH_INVALID',
];
/** A body that is not JSON, empty JSON, or text no table can store (NUL, unpaired surrogates). */
const BODY_CODES = ['REQUEST_JSON_INVALID', 'REQUEST_BODY_EMPTY', 'REQUEST_TEXT_UNSUPPORTED'];

/**
 * What any route answers whatever it does, from what the catalog says of it: its access, whether it takes path
 * parameters, a query or a body, and its method (a body on anything but GET is read, so it can be too large or
 * not JSON).
 */
export function commonRouteErrors(route: RouteShape): Record<number, string[]> {
  const readsBody = route.method !== 'GET';
  const out: Record<number, string[]> = {
    400: [
      ...MALFORMED_CODES,
      ...(route.params || route.querystring || route.body ? ['REQUEST_VALIDATION_FAILED'] : []),
      // NUL or an unpaired surrogate in a parameter or query value (a body's is among BODY_CODES).
      ...(route.params || route.querystring ? ['REQUEST_TEXT_UNSUPPORTED'] : []),
      ...(readsBody ? BODY_CODES : []),
    ].filter((c, i, all) => all.indexOf(c) === i),
    408: ['GATEWAY_REQUEST_TIMEOUT', 'REQUEST_TIMEOUT'],
    414: ['GATEWAY_URL_TOO_LONG', 'REQUEST_URL_TOO_LONG'],
    429: ['GATEWAY_RATE_LIMITED'],
    431: ['GATEWAY_HEADERS_TOO_LARGE', 'REQUEST_HEADERS_TOO_LARGE'],
    // The service is not deployed or not answering (gateway), or its database or a service it must ask is away (service).
    503: ['GATEWAY_SERVICE_UNAVAILABLE', 'SERVICE_DEPENDENCY_UNAVAILABLE'],
    504: ['GATEWAY_UPSTREAM_TIMEOUT'],
  };
  if (route.access !== 'public') out[401] = AUTH_CODES;
  if (route.access === 'admin') out[403] = ['AUTH_FORBIDDEN'];
  if (readsBody) {
    out[413] = ['GATEWAY_BODY_TOO_LARGE', 'REQUEST_BODY_TOO_LARGE'];
    out[415] = ['REQUEST_MEDIA_TYPE_UNSUPPORTED'];
  }
  return out;
}

const SESSION_404 = ['SESSION_NOT_FOUND'];
const STEP_404 = ['SESSION_NOT_FOUND', 'SESSION_STEP_NOT_IN_FLOW'];
const HOURS_400 = ['SESSION_BUSINESS_HOURS_RANGE'];

/**
 * What a route answers beyond the common errors: its own refusals (see each service's errors.ts). A route
 * missing here answers only the common ones; the e2e spec test names a route that answers more.
 */
export const ROUTE_ERRORS: { readonly [N in RouteName]?: ErrorCodes } = {
  // 404 when two first starts of one user race and the winner's row cannot be read (a retry answers 200).
  start: { 403: ['SESSION_TYPE_FORBIDDEN'], 404: SESSION_404, 409: ['SESSION_TENANT_SETUP_INCOMPLETE'] },
  getSession: { 404: SESSION_404 },
  saveStep: {
    404: STEP_404,
    409: ['SESSION_STEP_DEPENDENCIES_MISSING', 'SESSION_ALREADY_COMPLETED', 'SESSION_CONCURRENT_UPDATE'],
    422: ['SESSION_STEP_DATA_INVALID'],
  },
  skipStep: {
    404: STEP_404,
    409: ['SESSION_STEP_NOT_SKIPPABLE', 'SESSION_STEP_DEPENDENCIES_MISSING', 'SESSION_ALREADY_COMPLETED', 'SESSION_CONCURRENT_UPDATE'],
  },
  flowByType: { 404: ['SESSION_FLOW_VERSION_NOT_FOUND'] },
  // A save over a revision someone else saved in between; a publish with no draft, or of a definition that breaks a rule.
  flowDraftPut: { 409: ['SESSION_FLOW_CHANGED'] },
  flowPublish: { 409: ['SESSION_FLOW_NO_DRAFT'], 422: ['SESSION_FLOW_INVALID'] },
  stepConfiguration: { 404: ['SESSION_STEP_NOT_IN_FLOW'] },
  validateStepPost: { 404: ['SESSION_STEP_NOT_IN_FLOW'] },
  validateStepGet: { 404: ['SESSION_STEP_NOT_IN_FLOW'] },
  pause: { 404: SESSION_404, 409: ['SESSION_ALREADY_PAUSED', 'SESSION_ALREADY_COMPLETED', 'SESSION_CONCURRENT_UPDATE'] },
  resume: { 404: SESSION_404, 409: ['SESSION_NOT_PAUSED', 'SESSION_ALREADY_COMPLETED', 'SESSION_CONCURRENT_UPDATE'] },
  complete: {
    403: ['SESSION_FORCE_FORBIDDEN'],
    404: SESSION_404,
    409: ['SESSION_REQUIRED_STEPS_MISSING', 'SESSION_ALREADY_COMPLETED', 'SESSION_CONCURRENT_UPDATE'],
  },
  tenantSetupComplete: { 404: SESSION_404, 409: ['SESSION_REQUIRED_STEPS_MISSING', 'SESSION_ALREADY_COMPLETED', 'SESSION_CONCURRENT_UPDATE'] },
  agentWelcomeStart: { 404: SESSION_404, 409: ['SESSION_TENANT_SETUP_INCOMPLETE'] },
  agentWelcomeStatus: { 404: SESSION_404 },
  businessHoursCheck: { 400: HOURS_400 },
  businessHoursWorkingTime: { 400: HOURS_400 },
  businessHoursAddTime: { 400: HOURS_400 },
  businessHoursNextDay: { 400: HOURS_400 },

  progress: { 404: ['PROGRESS_SESSION_NOT_FOUND'] },
  statistics: { 400: ['PROGRESS_STATISTICS_RANGE_INVALID'] },
  statisticsTimeseries: { 400: ['PROGRESS_STATISTICS_RANGE_INVALID', 'PROGRESS_STATISTICS_RANGE_TOO_LONG'] },
  statisticsCohorts: { 400: ['PROGRESS_STATISTICS_RANGE_INVALID', 'PROGRESS_STATISTICS_RANGE_TOO_LONG'] },
  statisticsExport: { 400: ['PROGRESS_STATISTICS_RANGE_INVALID'] },

  testConnection: {
    404: ['CONNECTION_TEST_SESSION_NOT_FOUND'],
    422: ['CONNECTION_TEST_CONFIG_INVALID'],
    429: ['CONNECTION_TEST_RATE_LIMITED'],
    503: ['CONNECTION_TEST_SESSION_LOOKUP_UNAVAILABLE'],
  },
  testConnections: {
    404: ['CONNECTION_TEST_SESSION_NOT_FOUND'],
    422: ['CONNECTION_TEST_CONFIG_INVALID'],
    429: ['CONNECTION_TEST_RATE_LIMITED'],
    503: ['CONNECTION_TEST_SESSION_LOOKUP_UNAVAILABLE'],
  },
  connectionHistory: {
    400: ['CONNECTION_TEST_CURSOR_INVALID'],
    404: ['CONNECTION_TEST_SESSION_NOT_FOUND'],
    503: ['CONNECTION_TEST_SESSION_LOOKUP_UNAVAILABLE'],
  },
  validateConnectionConfig: { 422: ['CONNECTION_TEST_CONFIG_INVALID'] },

  // 503 when the session service does not answer the lookup (RPC timeout or no responder).
  sessionClients: { 404: ['REALTIME_NOT_FOUND'], 503: ['REALTIME_SESSION_LOOKUP_UNAVAILABLE'] },
  userClients: { 404: ['REALTIME_NOT_FOUND'], 503: ['REALTIME_SESSION_LOOKUP_UNAVAILABLE'] },

  // Stripe failing or refusing: 502 when it answers with an error, 503 when it cannot be reached or refuses our key.
  paymentSetup: { 422: ['PAYMENT_PROVIDER_REJECTED'], 502: ['PAYMENT_PROVIDER_ERROR'], 503: ['PAYMENT_PROVIDER_UNAVAILABLE', 'PAYMENT_PROVIDER_AUTH_FAILED'] },
  paymentStatus: { 502: ['PAYMENT_PROVIDER_ERROR'], 503: ['PAYMENT_PROVIDER_UNAVAILABLE', 'PAYMENT_PROVIDER_AUTH_FAILED'] },
  paymentAccountLink: {
    409: ['PAYMENT_ACCOUNT_MISSING'],
    422: ['PAYMENT_PROVIDER_REJECTED'],
    502: ['PAYMENT_PROVIDER_ERROR'],
    503: ['PAYMENT_PROVIDER_UNAVAILABLE', 'PAYMENT_PROVIDER_AUTH_FAILED'],
  },
  paymentAccount: { 409: ['PAYMENT_ACCOUNT_MISSING'], 502: ['PAYMENT_PROVIDER_ERROR'], 503: ['PAYMENT_PROVIDER_UNAVAILABLE', 'PAYMENT_PROVIDER_AUTH_FAILED'] },
  paymentStripeWebhook: { 400: ['PAYMENT_WEBHOOK_SIGNATURE_INVALID'] },

  notifications: { 400: ['NOTIFICATION_CURSOR_INVALID'] },
  notificationsUnsubscribe: { 400: ['NOTIFICATION_UNSUBSCRIBE_TOKEN_INVALID'] },

  auditList: { 400: ['AUDIT_RANGE_INVALID'] },
  auditExport: { 400: ['AUDIT_RANGE_INVALID'] },
};

/** Every error status of a route with its codes: the common ones and its own, merged. */
export function routeErrors(name: string, route: RouteShape): Record<number, string[]> {
  const out = commonRouteErrors(route);
  const own = (ROUTE_ERRORS as Record<string, ErrorCodes | undefined>)[name] ?? {};
  for (const [status, codes] of Object.entries(own)) out[Number(status)] = [...new Set([...(out[Number(status)] ?? []), ...(codes ?? [])])];
  return out;
}
