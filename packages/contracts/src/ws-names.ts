// The WebSocket protocol's names and codes, without zod: the browser SDK imports this module at run time.

export const WS_CLOSE = { unauthorized: 4401, rateLimited: 4429, slowConsumer: 4408, serviceRestart: 1012 } as const;

export const PUSH_EVENTS = [
  'progress_update',
  'milestone_reached',
  'step_completed',
  'validation_error',
  'connection_test_result',
  'onboarding_completed',
  'onboarding_started',
  'session_paused',
  'session_resumed',
  'notification',
  'payment_attention_needed',
] as const;
export type PushEventName = (typeof PUSH_EVENTS)[number];

/**
 * The pushes that carry a session's progress. They all come from the progress service, in the order of
 * its per-session `seq`: a client keeps the one with the highest `seq` and never moves a bar backwards.
 */
export const PROGRESS_PUSH_EVENTS = ['progress_update', 'milestone_reached', 'onboarding_completed'] as const;
export type ProgressPushEventName = (typeof PROGRESS_PUSH_EVENTS)[number];

export const SERVER_EVENTS = ['connected', 'session_joined', 'session_left', 'error', ...PUSH_EVENTS] as const;
export type ServerEventName = (typeof SERVER_EVENTS)[number];

export const CLIENT_EVENTS = ['join_session', 'leave_session', 'get_progress'] as const;
export type ClientEventName = (typeof CLIENT_EVENTS)[number];

/** Longest request id a client frame may carry (longer ones are not echoed). */
export const MAX_FRAME_ID_LENGTH = 64;
