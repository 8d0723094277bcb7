import { z } from 'zod';
import { FieldErrorSchema } from './validation.js';

export const ErrorBodySchema = z.object({
  statusCode: z.number().int(),
  code: z.string().describe('stable machine-readable code, e.g. SESSION_STEP_DEPENDENCIES_MISSING'),
  error: z.string(),
  message: z.string(),
  details: z.array(z.union([FieldErrorSchema, z.record(z.string(), z.unknown())])).optional(),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;
