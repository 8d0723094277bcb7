import createError from '@fastify/error';

export const ProgressNotFoundError = createError('PROGRESS_SESSION_NOT_FOUND', 'Onboarding session %s not found', 404);
export const StatisticsRangeError = createError('PROGRESS_STATISTICS_RANGE_INVALID', '`from` must be before `to`', 400);
export const StatisticsRangeTooLongError = createError(
  'PROGRESS_STATISTICS_RANGE_TOO_LONG',
  'The window holds %d %ss; at most %d per answer: narrow `from`/`to`',
  400,
);
