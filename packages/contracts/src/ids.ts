import { z } from 'zod';
import { OnboardingRoleSchema, OnboardingTypeSchema } from './steps.js';

// Shared by events, API bodies and frames; kept apart so that events.ts may import API schemas (connection
// test results) without an import cycle.

/** Ids that travel in NATS subjects: no dots, wildcards or spaces. */
export const SubjectTokenSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z, a-z, 0-9, _ or -');

export const CompletionSummarySchema = z.object({
  totalTime: z.number().int().describe('minutes from start to completion'),
  stepsCompleted: z.number().int(),
  featuresEnabled: z.array(z.string()),
  type: OnboardingTypeSchema,
  role: OnboardingRoleSchema,
});
