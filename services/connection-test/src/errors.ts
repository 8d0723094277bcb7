import createError from '@fastify/error';

export const SessionNotFoundError = createError('CONNECTION_TEST_SESSION_NOT_FOUND', 'Onboarding session %s not found', 404);
export const RateLimitedError = createError('CONNECTION_TEST_RATE_LIMITED', '%s', 429);
export const SessionLookupUnavailableError = createError(
  'CONNECTION_TEST_SESSION_LOOKUP_UNAVAILABLE',
  'The session service did not answer; try again shortly',
  503,
);
export const CursorInvalidError = createError('CONNECTION_TEST_CURSOR_INVALID', 'cursor is not one this API returned', 400);
export const ConfigInvalidError = createError('CONNECTION_TEST_CONFIG_INVALID', '%s', 422);
