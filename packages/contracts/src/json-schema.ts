import { z } from 'zod';
import { IANA_TIME_ZONE_PATTERN } from './business-hours.js';
import { isSecretKey } from './secrets.js';
import { stepDataSchema } from './step-data.js';
import type { OnboardingType } from './steps.js';

/** A JSON Schema (draft 2020-12) document or subschema. */
export type JsonSchema = Record<string, unknown> & {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  required?: string[];
  anyOf?: JsonSchema[];
};

/** The params a refinement carries (see step-data.ts): the rule name the server reports in 422 details. */
export function ruleOfCheck(check: z.core.$ZodCheck): string | undefined {
  const def = check._zod.def as { check: string; params?: { rule?: unknown } };
  return def.check === 'custom' && typeof def.params?.rule === 'string' ? def.params.rule : undefined;
}

export function checksOf(schema: z.core.$ZodType): readonly z.core.$ZodCheck[] {
  return (schema._zod.def as { checks?: z.core.$ZodCheck[] }).checks ?? [];
}

/**
 * What JSON Schema can say about a rule that zod checks in code. Keyed by rule name so that every schema using
 * the rule gets it, business hours' time zone included. The zone's existence stays a server check (the zone
 * list differs between ICU versions, so an enum would disagree with the server somewhere).
 */
const RULE_JSON_SCHEMA: Record<string, JsonSchema> = {
  iana_timezone: {
    pattern: IANA_TIME_ZONE_PATTERN,
    description: 'IANA time zone, e.g. Europe/Paris',
    examples: ['Europe/Paris', 'America/New_York', 'UTC'],
  },
};

function markSecrets(node: unknown): void {
  if (Array.isArray(node)) node.forEach(markSecrets);
  else if (node !== null && typeof node === 'object') {
    const schema = node as JsonSchema;
    for (const [name, prop] of Object.entries(schema.properties ?? {})) {
      // The server masks these in answers, so a form renders them as password inputs that start empty.
      if (isSecretKey(name) && prop.type === 'string') Object.assign(prop, { format: 'password', writeOnly: true });
    }
    Object.values(schema).forEach(markSecrets);
  }
}

/**
 * OpenAPI 3.0 has `example` and no `examples` or `const`; and `nullable` does not widen an `enum` (validators
 * such as Ajv read the 3.0.3 clarification), so a nullable enum lists null itself.
 */
export function toOpenApi30(node: unknown): void {
  if (Array.isArray(node)) node.forEach(toOpenApi30);
  else if (node !== null && typeof node === 'object') {
    const schema = node as Record<string, unknown>;
    if (Array.isArray(schema.examples)) {
      schema.example = schema.examples[0];
      delete schema.examples;
    }
    if ('const' in schema) {
      schema.enum = [schema.const];
      delete schema.const;
    }
    if (schema.nullable === true && Array.isArray(schema.enum) && !schema.enum.includes(null)) schema.enum = [...schema.enum, null];
    for (const [key, value] of Object.entries(schema)) if (key !== 'example') toOpenApi30(value);
  }
}

export type StepSchemaTarget = 'draft-2020-12' | 'openapi-3.0';

/** JSON Schema of a zod schema's input, with the rules zod checks in code added where JSON Schema can say them. */
export function toStepJsonSchema(schema: z.ZodType, target: StepSchemaTarget = 'draft-2020-12'): JsonSchema {
  const out = z.toJSONSchema(schema, {
    target,
    io: 'input',
    unrepresentable: 'any',
    override: ({ zodSchema, jsonSchema }) => {
      for (const check of checksOf(zodSchema)) {
        const extra = RULE_JSON_SCHEMA[ruleOfCheck(check) ?? ''];
        if (extra) Object.assign(jsonSchema, { ...extra, ...jsonSchema });
      }
    },
  }) as JsonSchema;
  markSecrets(out);
  if (target === 'openapi-3.0') toOpenApi30(out);
  return out;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}

const cache = new Map<string, JsonSchema>();

function cached(type: OnboardingType, stepId: string, target: StepSchemaTarget): JsonSchema | undefined {
  const key = `${target}/${type}/${stepId}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const schema = stepDataSchema(type, stepId);
  if (!schema) return undefined;
  // Shared by every caller: frozen so that one caller's edit cannot leak into another's answer.
  const generated = deepFreeze(toStepJsonSchema(schema, target));
  cache.set(key, generated);
  return generated;
}

/**
 * JSON Schema (draft 2020-12) of a step's data, generated once from the zod schema the server validates with
 * (same required fields, lengths, patterns, enums, https URLs, no unknown fields, and the cross-field rules as
 * `anyOf`). Undefined for a step that is not in the flow.
 */
export function stepDataJsonSchema(type: OnboardingType, stepId: string): JsonSchema | undefined {
  return cached(type, stepId, 'draft-2020-12');
}

/** The same, as an OpenAPI 3.0 Schema Object (for the API documentation). */
export function stepDataOpenApiSchema(type: OnboardingType, stepId: string): JsonSchema | undefined {
  return cached(type, stepId, 'openapi-3.0');
}
