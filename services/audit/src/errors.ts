import createError from '@fastify/error';

export const AuditRangeError = createError('AUDIT_RANGE_INVALID', '`from` must be before `to`', 400);
