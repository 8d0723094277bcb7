import createError from '@fastify/error';

export const SessionNotFoundError = createError('SESSION_NOT_FOUND', 'Onboarding session %s not found', 404);
export const StepNotInFlowError = createError('SESSION_STEP_NOT_IN_FLOW', 'Step %s is not part of the %s flow', 404);
export const StepDependenciesMissingError = createError('SESSION_STEP_DEPENDENCIES_MISSING', 'Missing dependencies: %s', 409);
export const StepDataInvalidError = createError('SESSION_STEP_DATA_INVALID', 'Step %s data is invalid: %s', 422);
export const StepNotSkippableError = createError('SESSION_STEP_NOT_SKIPPABLE', '%s', 409);
export const SessionCompletedError = createError('SESSION_ALREADY_COMPLETED', 'The session is already completed', 409);
export const SessionNotPausedError = createError('SESSION_NOT_PAUSED', 'Session is not paused', 409);
export const SessionAlreadyPausedError = createError('SESSION_ALREADY_PAUSED', 'Session is already paused', 409);
export const RequiredStepsMissingError = createError('SESSION_REQUIRED_STEPS_MISSING', 'Missing required steps: %s', 409);
export const TenantSetupIncompleteError = createError(
  'SESSION_TENANT_SETUP_INCOMPLETE',
  'Tenant setup must be completed before agents can be onboarded',
  409,
);
export const SessionTypeForbiddenError = createError('SESSION_TYPE_FORBIDDEN', 'Only tenant admins can run the tenant setup flow', 403);
export const ForceForbiddenError = createError('SESSION_FORCE_FORBIDDEN', 'Only admins can force completion', 403);
export const ConcurrentUpdateError = createError('SESSION_CONCURRENT_UPDATE', 'The session changed concurrently; retry the request', 409);
export const InvalidQueryDataError = createError('REQUEST_VALIDATION_FAILED', 'data must be URL-encoded JSON: %s', 400);
export const BusinessHoursRangeError = createError('SESSION_BUSINESS_HOURS_RANGE', '%s', 400);
export const FlowInvalidError = createError('SESSION_FLOW_INVALID', 'The flow cannot be published: %s', 422);
export const FlowNoDraftError = createError('SESSION_FLOW_NO_DRAFT', 'There is no draft of the %s flow to publish', 409);
export const FlowChangedError = createError('SESSION_FLOW_CHANGED', 'The draft changed since it was read; read it again and retry', 409);
export const FlowVersionNotFoundError = createError('SESSION_FLOW_VERSION_NOT_FOUND', 'Version %s of the %s flow does not exist', 404);
