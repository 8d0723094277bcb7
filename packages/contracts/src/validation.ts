import { z } from 'zod';
import { stepDataSchema } from './step-data.js';
import type { OnboardingType } from './steps.js';

export const FieldErrorSchema = z.object({
  field: z.string().describe('dotted path of the offending field, e.g. teamMembers.0.email'),
  rule: z.string().describe('machine-readable rule, e.g. required, min_length, format, unknown_field'),
  message: z.string(),
});
export type FieldError = z.infer<typeof FieldErrorSchema>;

export interface StepValidation {
  isValid: boolean;
  errors: FieldError[];
  warnings: string[];
  /** The parsed (trimmed, defaulted) data, present when valid. */
  data?: Record<string, unknown>;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

const joinPath = (path: readonly PropertyKey[]) => path.map(String).join('.');

/** Turns zod issues into `{ field, rule, message }` with messages a person can act on. */
export function issuesToFieldErrors(issues: readonly z.core.$ZodIssue[], input: unknown): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of issues) {
    const field = joinPath(issue.path);
    const label = field || 'body';
    switch (issue.code) {
      case 'invalid_type':
        if (valueAt(input, issue.path) === undefined) out.push({ field, rule: 'required', message: `${label} is required` });
        else out.push({ field, rule: 'type', message: `${label} must be ${issue.expected === 'object' ? 'an object' : `a ${issue.expected}`}` });
        break;
      case 'too_small':
        if (issue.origin === 'string') out.push({ field, rule: 'min_length', message: `${label} must be at least ${String(issue.minimum)} characters` });
        else if (issue.origin === 'array') out.push({ field, rule: 'min_items', message: `${label} must have at least ${String(issue.minimum)} items` });
        else out.push({ field, rule: 'min', message: `${label} must be at least ${String(issue.minimum)}` });
        break;
      case 'too_big':
        if (issue.origin === 'string') out.push({ field, rule: 'max_length', message: `${label} must be at most ${String(issue.maximum)} characters` });
        else if (issue.origin === 'array') out.push({ field, rule: 'max_items', message: `${label} must have at most ${String(issue.maximum)} items` });
        else out.push({ field, rule: 'max', message: `${label} must be at most ${String(issue.maximum)}` });
        break;
      case 'invalid_format':
        out.push({ field, rule: issue.format === 'regex' ? 'format' : issue.format, message: `${label} format is invalid${issue.format === 'email' ? ' (expected an email address)' : ''}` });
        break;
      case 'invalid_value':
        // zod 4 reports a missing enum/literal as invalid_value, not invalid_type.
        if (valueAt(input, issue.path) === undefined) out.push({ field, rule: 'required', message: `${label} is required` });
        else out.push({ field, rule: 'enum', message: `${label} must be one of ${issue.values.map(String).join(', ')}` });
        break;
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          const f = field ? `${field}.${key}` : key;
          out.push({ field: f, rule: 'unknown_field', message: `${f} is not an accepted field` });
        }
        break;
      case 'custom': {
        const params = (issue.params ?? {}) as { rule?: string; field?: string };
        const f = params.field ?? field;
        const msg = issue.message.startsWith('At least') || issue.message.startsWith('Payment') ? issue.message : `${f || 'body'} ${issue.message}`;
        out.push({ field: f, rule: params.rule ?? 'custom', message: msg });
        break;
      }
      default:
        out.push({ field, rule: issue.code, message: `${label}: ${issue.message}` });
    }
  }
  return out;
}

function isEmptyObject(data: unknown): boolean {
  return data !== null && typeof data === 'object' && !Array.isArray(data) && Object.keys(data).length === 0;
}

/** One rule set for step saves and validate-step. Pure: no I/O. */
export function validateStepData(type: OnboardingType, stepId: string, data: unknown): StepValidation {
  const schema = stepDataSchema(type, stepId);
  if (!schema) return { isValid: false, errors: [{ field: 'stepId', rule: 'unknown_step', message: `Unknown step ${stepId} for ${type}` }], warnings: [] };
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { isValid: false, errors: [{ field: '', rule: 'type', message: 'step data must be a JSON object' }], warnings: [] };
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) return { isValid: false, errors: issuesToFieldErrors(parsed.error.issues, data), warnings: [] };
  const value = parsed.data as Record<string, unknown>;
  const warnings: string[] = [];
  if (stepId === 'ai_configuration' && (!Array.isArray(value.features) || value.features.length === 0))
    warnings.push('No AI features selected - you can configure these later');
  else if (stepId === 'team_management' && (!Array.isArray(value.teamMembers) || value.teamMembers.length === 0))
    warnings.push('No team members invited yet - you can invite them later');
  else if (isEmptyObject(data)) warnings.push('Step completed without configuration - you can update settings later');
  return { isValid: true, errors: [], warnings, data: value };
}
