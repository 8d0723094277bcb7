export {
  createClient,
  type ClientOptions,
  type GlavitoClient,
  type RequestOptions,
  type ResponseValidator,
  type RouteArgs,
  type RouteBody,
  type RouteMethod,
  type RouteParams,
  type RouteQuery,
  type RouteResponse,
  type StepMethods,
  type StepRouteName,
  type TokenSource,
} from './http.js';
export type { AgentStepId, OnboardingType, StepData, StepId, TenantStepId } from './steps.js';
export {
  connectRealtime,
  type ConnectedInfo,
  type JoinResult,
  type PushEvent,
  type PushEventData,
  type PushEventName,
  type RealtimeConnection,
  type RealtimeOptions,
  type RealtimeProgress,
  type RealtimeState,
  type StateDetail,
  type WebSocketConstructor,
  type WebSocketLike,
} from './realtime.js';
export { GlavitoApiError, GlavitoError, GlavitoNetworkError, GlavitoRealtimeError, GlavitoResponseError } from './errors.js';
export { backoffDelay } from './backoff.js';
