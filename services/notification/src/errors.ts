import createError from '@fastify/error';

export const CursorInvalidError = createError('NOTIFICATION_CURSOR_INVALID', 'cursor is not one this API returned', 400);
export const UnsubscribeTokenInvalidError = createError('NOTIFICATION_UNSUBSCRIBE_TOKEN_INVALID', 'token is not a valid unsubscribe link', 400);
