import fastJson from 'fast-json-stringify';
import type { FastifySerializerCompiler } from 'fastify/types/schema.js';
import { serializerCompiler as zodSerializerCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';

/**
 * Keywords fast-json-stringify decides at run time by validating the value (ajv), or cannot follow: a response
 * schema using any of them keeps zod's serializer.
 */
const DYNAMIC_KEYWORDS = new Set([
  'anyOf',
  'oneOf',
  'allOf',
  'not',
  'if',
  'then',
  'else',
  '$ref',
  '$defs',
  'definitions',
  'patternProperties',
  'dependentSchemas',
  'prefixItems',
]);

function usesDynamicKeywords(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(usesDynamicKeywords);
  if (typeof node !== 'object' || node === null) return false;
  for (const [key, value] of Object.entries(node)) {
    if (DYNAMIC_KEYWORDS.has(key)) return true;
    if (usesDynamicKeywords(value)) return true;
  }
  return false;
}

/** The JSON Schema a response schema's output has, when fast-json-stringify can serialize it statically; else null. */
export function staticResponseJsonSchema(schema: z.ZodType): Record<string, unknown> | null {
  let json: Record<string, unknown>;
  try {
    // Transforms, dates, custom types…: not representable, zod serializes those.
    json = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'throw', target: 'draft-7' }) as Record<string, unknown>;
  } catch {
    return null;
  }
  return usesDynamicKeywords(json) ? null : json;
}

/**
 * Responses serialized from the JSON Schema the contracts already produce (fast-json-stringify, as Fastify does
 * with JSON Schemas) instead of being parsed by zod again and then stringified: the handlers build them from the
 * contract's types (the type provider checks that at compile time), and re-validating every answer was 6 % of
 * the session service's CPU per step save (bench/RESULTS.md §3). Same output: only the schema's properties, in
 * its order, unknown ones dropped. A schema that fast-json-stringify could only serialize by validating the value
 * first (unions) or not at all (transforms) keeps zod's serializer, which also validates.
 */
export const serializerCompiler: FastifySerializerCompiler<z.ZodType> = (route) => {
  const json = route.schema instanceof z.ZodType ? staticResponseJsonSchema(route.schema) : null;
  if (!json) return zodSerializerCompiler(route as never);
  const stringify = fastJson(json as unknown as Parameters<typeof fastJson>[0]);
  return (data: unknown) => stringify(data);
};
