import { ROUTES } from '@glavito/contracts';
import type { z } from 'zod';
import { GlavitoResponseError } from './errors.js';
import type { ResponseValidator } from './http.js';

/**
 * Parses each 2xx body with its route's contract schema (defaults applied, unknown keys stripped) and throws a
 * GlavitoResponseError when it breaks it. A separate entry point because it brings zod and every schema:
 * `createClient({ ..., validateResponses })` in tests and Node tools, not in a browser bundle.
 */
export const validateResponses: ResponseValidator = (name, status, body) => {
  const responses: Record<number, z.ZodType | undefined> = ROUTES[name].responses;
  const schema = responses[status] ?? responses[200];
  if (!schema) return body;
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
  throw new GlavitoResponseError(name, status, `the response breaks its contract (${issues})`, body, parsed.error);
};
