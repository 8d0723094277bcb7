import { z } from 'zod';
import { stepDataSchema } from './step-data.js';
import type { OnboardingType } from './steps.js';
import { fieldError, hasMessage } from './i18n.js';
import { customStepSchema, type ResolvedFlow } from './flows.js';

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

/** Turns zod issues into `{ field, rule, message }` with messages a person can act on (English; see localizeFieldErrors). */
export function issuesToFieldErrors(issues: readonly z.core.$ZodIssue[], input: unknown): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of issues) {
    const field = joinPath(issue.path);
    switch (issue.code) {
      case 'invalid_type':
        if (valueAt(input, issue.path) === undefined) out.push(fieldError(field, 'required', 'validation.required'));
        else if (issue.expected === 'object') out.push(fieldError(field, 'type', 'validation.type_object'));
        else out.push(fieldError(field, 'type', 'validation.type', { expected: issue.expected }));
        break;
      case 'too_small': {
        const min = String(issue.minimum);
        if (issue.origin === 'string') out.push(fieldError(field, 'min_length', 'validation.min_length', { min }));
        else if (issue.origin === 'array') out.push(fieldError(field, 'min_items', 'validation.min_items', { min }));
        else out.push(fieldError(field, 'min', 'validation.min', { min }));
        break;
      }
      case 'too_big': {
        const max = String(issue.maximum);
        if (issue.origin === 'string') out.push(fieldError(field, 'max_length', 'validation.max_length', { max }));
        else if (issue.origin === 'array') out.push(fieldError(field, 'max_items', 'validation.max_items', { max }));
        else out.push(fieldError(field, 'max', 'validation.max', { max }));
        break;
      }
      case 'invalid_format':
        out.push(
          fieldError(field, issue.format === 'regex' ? 'format' : issue.format, issue.format === 'email' ? 'validation.format_email' : 'validation.format'),
        );
        break;
      case 'invalid_value':
        // zod 4 reports a missing enum/literal as invalid_value, not invalid_type.
        if (valueAt(input, issue.path) === undefined) out.push(fieldError(field, 'required', 'validation.required'));
        else out.push(fieldError(field, 'enum', 'validation.enum', { values: issue.values.map(String).join(', ') }));
        break;
      case 'unrecognized_keys':
        for (const key of issue.keys) out.push(fieldError(field ? `${field}.${key}` : key, 'unknown_field', 'validation.unknown_field'));
        break;
      case 'custom': {
        const params = (issue.params ?? {}) as { rule?: string; field?: string };
        const f = params.field ?? field;
        const rule = params.rule ?? 'custom';
        // A named rule is worded by the catalog; a refinement without one keeps its own (English) words.
        const msg = /^[A-Z]/.test(issue.message) ? issue.message : `${f || 'body'} ${issue.message}`;
        if (hasMessage(`validation.rule.${rule}`)) out.push(fieldError(f, rule, `validation.rule.${rule}`, {}, msg));
        else out.push({ field: f, rule, message: msg });
        break;
      }
      default:
        out.push({ field, rule: issue.code, message: `${field || 'body'}: ${issue.message}` });
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
  if (!schema) return { isValid: false, errors: [fieldError('stepId', 'unknown_step', 'validation.unknown_step', { stepId, type })], warnings: [] };
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { isValid: false, errors: [fieldError('', 'type', 'validation.not_object')], warnings: [] };
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

/** validateStepData for a step of a flow: a custom step's data by the schema its fields build, a built-in's by its contract. */
export function validateFlowStepData(flow: ResolvedFlow, stepId: string, data: unknown): StepValidation {
  const step = flow.steps.find((s) => s.id === stepId);
  if (!step?.custom) return validateStepData(flow.type, stepId, data);
  if (data === null || typeof data !== 'object' || Array.isArray(data))
    return { isValid: false, errors: [fieldError('', 'type', 'validation.not_object')], warnings: [] };
  const parsed = customStepSchema(step.custom).safeParse(data);
  if (!parsed.success) return { isValid: false, errors: issuesToFieldErrors(parsed.error.issues, data), warnings: [] };
  return { isValid: true, errors: [], warnings: [], data: parsed.data as Record<string, unknown> };
}
