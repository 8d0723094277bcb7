import type { z } from 'zod';
import { stepDataSchema } from './step-data.js';
import type { OnboardingType } from './steps.js';

/** One rule a step's data must follow, as `GET /onboarding/step/:stepId/configuration` lists it. */
export interface StepRule {
  field: string;
  rule: string;
  value?: string | number | boolean | string[];
  message: string;
}

type Def = {
  type: string;
  checks?: z.core.$ZodCheck[];
  innerType?: z.core.$ZodType;
  in?: z.core.$ZodType;
  element?: z.core.$ZodType;
  shape?: Record<string, z.core.$ZodType>;
  catchall?: z.core.$ZodType;
  entries?: Record<string, string | number>;
  values?: unknown[];
  format?: string;
  pattern?: RegExp;
};
type CheckDef = {
  check: string;
  minimum?: number;
  maximum?: number;
  value?: number;
  inclusive?: boolean;
  format?: string;
  pattern?: RegExp;
  params?: { rule?: string; field?: string; value?: StepRule['value'] };
  error?: (issue: unknown) => unknown;
};

const chars = (n: number) => `${n} character${n === 1 ? '' : 's'}`;
const items = (n: number) => `${n} item${n === 1 ? '' : 's'}`;

const defOf = (s: z.core.$ZodType) => s._zod.def as unknown as Def;
const checkDefs = (s: z.core.$ZodType) => (defOf(s).checks ?? []).map((c) => c._zod.def as unknown as CheckDef);

/** A check's own message when it was given as a string (a refinement's), else undefined. */
function staticMessage(c: CheckDef): string | undefined {
  const m = c.error?.({});
  return typeof m === 'string' ? m : undefined;
}

/** Optional wrappers make a field optional; the rules are those of what they wrap. */
function unwrap(s: z.core.$ZodType): { schema: z.core.$ZodType; optional: boolean } {
  let schema = s;
  let optional = false;
  for (;;) {
    const def = defOf(schema);
    if ((def.type === 'optional' || def.type === 'default' || def.type === 'prefault') && def.innerType) optional = true;
    else if (def.type === 'nullable' || def.type === 'readonly' || def.type === 'catch') {
      /* same rules */
    } else if (def.type === 'pipe' && def.in) {
      schema = def.in;
      continue;
    } else return { schema, optional };
    schema = def.innerType!;
  }
}

function stringRules(def: Def, checks: CheckDef[], field: string, label: string): StepRule[] {
  const out: StepRule[] = [];
  const named = new Set(checks.map((c) => c.params?.rule).filter(Boolean));
  // A string schema that is a format itself (z.email()) carries the format in its def.
  const formats: CheckDef[] = def.format ? [{ check: 'string_format', format: def.format, pattern: def.pattern }] : [];
  for (const c of [...formats, ...checks]) {
    if (c.check === 'min_length') out.push({ field, rule: 'min_length', value: c.minimum!, message: `${label} must be at least ${chars(c.minimum!)}` });
    else if (c.check === 'max_length') out.push({ field, rule: 'max_length', value: c.maximum!, message: `${label} must be at most ${chars(c.maximum!)}` });
    else if (c.check === 'length_equals')
      out.push({ field, rule: 'length', value: c.value ?? c.minimum!, message: `${label} must be exactly ${chars(c.value ?? c.minimum!)}` });
    else if (c.check === 'string_format' && c.format === 'regex') {
      // The https_url rule includes its own character pattern.
      if (!named.has('https_url')) out.push({ field, rule: 'pattern', value: c.pattern!.source, message: `${label} format is invalid` });
    } else if (c.check === 'string_format' && c.format === 'email') out.push({ field, rule: 'email', message: `${label} must be an email address` });
    else if (c.check === 'string_format') out.push({ field, rule: c.format!, message: `${label} must be a valid ${c.format}` });
  }
  return out;
}

function numberRules(checks: CheckDef[], field: string, label: string): StepRule[] {
  const out: StepRule[] = [];
  for (const c of checks) {
    if (c.check === 'number_format' && (c.format === 'safeint' || c.format === 'int32' || c.format === 'uint32'))
      out.push({ field, rule: 'integer', message: `${label} must be a whole number` });
    else if (c.check === 'greater_than')
      out.push({
        field,
        rule: c.inclusive ? 'min' : 'exclusive_min',
        value: c.value!,
        message: `${label} must be ${c.inclusive ? 'at least' : 'more than'} ${c.value}`,
      });
    else if (c.check === 'less_than')
      out.push({
        field,
        rule: c.inclusive ? 'max' : 'exclusive_max',
        value: c.value!,
        message: `${label} must be ${c.inclusive ? 'at most' : 'less than'} ${c.value}`,
      });
  }
  return out;
}

/** Refinements: named ones (params.rule) keep the name the 422 details use; unnamed ones are said to exist. */
function customRules(checks: CheckDef[], field: string, label: string): StepRule[] {
  const out: StepRule[] = [];
  for (const c of checks) {
    if (c.check !== 'custom') continue;
    const message = staticMessage(c);
    if (c.params?.rule) {
      const at = c.params.field ?? field;
      const text = message && /^[A-Z]/.test(message) ? message : `${at || 'data'} ${message ?? 'is invalid'}`;
      out.push({ field: at, rule: c.params.rule, ...(c.params.value !== undefined ? { value: c.params.value } : {}), message: text });
    } else
      out.push({
        field,
        rule: 'custom',
        message: message ? `${label} ${message}` : `${label || 'data'} has further checks (their details come in a 422 answer)`,
      });
  }
  return out;
}

function rulesOf(s: z.core.$ZodType, field: string, label: string, out: StepRule[]): void {
  const { schema } = unwrap(s);
  const def = defOf(schema);
  const checks = checkDefs(schema);
  switch (def.type) {
    case 'object': {
      for (const [key, prop] of Object.entries(def.shape ?? {})) {
        const at = field ? `${field}.${key}` : key;
        if (!unwrap(prop).optional) out.push({ field: at, rule: 'required', message: `${at} is required` });
        rulesOf(prop, at, at, out);
      }
      if (def.catchall && defOf(def.catchall).type === 'never') {
        const at = field ? `${field}.*` : '*';
        out.push({ field: at, rule: 'no_unknown_fields', message: field ? `${field} accepts only the fields listed` : 'Only the fields listed are accepted' });
      }
      break;
    }
    case 'array': {
      for (const c of checks) {
        if (c.check === 'min_length') out.push({ field, rule: 'min_items', value: c.minimum!, message: `${label} must have at least ${items(c.minimum!)}` });
        else if (c.check === 'max_length')
          out.push({ field, rule: 'max_items', value: c.maximum!, message: `${label} must have at most ${items(c.maximum!)}` });
      }
      const element = def.element!;
      const itemIsObject = defOf(unwrap(element).schema).type === 'object';
      rulesOf(element, field, itemIsObject ? field : `each item of ${field}`, out);
      break;
    }
    case 'string':
      out.push(...stringRules(def, checks, field, label));
      break;
    case 'number':
      out.push(...numberRules(checks, field, label));
      break;
    case 'enum':
      out.push({
        field,
        rule: 'enum',
        value: Object.values(def.entries ?? {}).map(String),
        message: `${label} must be one of ${Object.values(def.entries ?? {}).join(', ')}`,
      });
      break;
    case 'literal':
      out.push({ field, rule: 'enum', value: (def.values ?? []).map(String), message: `${label} must be ${(def.values ?? []).map(String).join(' or ')}` });
      break;
    default:
      break;
  }
  out.push(...customRules(checks, field, label));
}

/** Every rule a zod schema enforces, read from the schema itself (so the list cannot drift from what the server checks). */
export function rulesOfSchema(schema: z.core.$ZodType): StepRule[] {
  const out: StepRule[] = [];
  rulesOf(schema, '', '', out);
  return out;
}

/** The validation rules of a step's data (empty for a step that is not in the flow). */
export function stepValidationRules(type: OnboardingType, stepId: string): StepRule[] {
  const schema = stepDataSchema(type, stepId);
  return schema ? rulesOfSchema(schema) : [];
}
