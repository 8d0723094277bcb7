import { ROUTES } from '@glavito/contracts';
import { serializerCompiler as zodSerializerCompiler } from 'fastify-type-provider-zod';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { serializerCompiler, staticResponseJsonSchema } from '../src/serializer.js';

type Json = Record<string, unknown>;

/** A value of a (static) JSON Schema, with `extra` unknown properties on every object the schema does not open. */
function sample(schema: Json, extra: boolean, variant: number): unknown {
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[variant % schema.enum.length];
  const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
  // Nullable fields are null in one variant, a value in the other.
  const type = variant % 2 === 1 && types.includes('null') ? 'null' : (types.find((t) => t !== 'null') ?? 'null');
  switch (type) {
    case 'object': {
      const out: Json = {};
      for (const [k, s] of Object.entries((schema.properties as Record<string, Json>) ?? {})) out[k] = sample(s, extra, variant);
      if (schema.additionalProperties && typeof schema.additionalProperties === 'object')
        out.someKey = sample(schema.additionalProperties as Json, extra, variant);
      else if (extra) out.notInTheContract = 'must not be sent';
      return out;
    }
    case 'array':
      return schema.items ? [sample(schema.items as Json, extra, variant), sample(schema.items as Json, extra, variant + 2)] : [];
    case 'string':
      return schema.format === 'date-time'
        ? '2026-12-04T18:00:00.000Z'
        : schema.format === 'uuid'
          ? '0192f3a4-5b6c-7d8e-9f01-23456789abcd'
          : `s"\u2028\\<${variant}>`;
    case 'integer':
      return Math.max(Number(schema.minimum ?? 0), Math.min(Number(schema.maximum ?? 100), 7 + variant));
    case 'number':
      return Math.max(Number(schema.minimum ?? 0), Math.min(Number(schema.maximum ?? 100), 7.25));
    case 'boolean':
      return variant % 2 === 0;
    case 'null':
      return null;
    default:
      return { any: ['value', 1, null] };
  }
}

describe('response serializer (fast-json-stringify from the contract JSON Schema)', () => {
  it('writes the document zod’s serializer writes for every static response of the route catalog', () => {
    let compared = 0;
    const routes = Object.entries(ROUTES) as Array<[string, { method: string; url: string; responses: Record<number, z.ZodType> }]>;
    for (const [name, route] of routes)
      for (const [status, schema] of Object.entries(route.responses)) {
        const json = staticResponseJsonSchema(schema);
        if (!json) continue;
        const fast = serializerCompiler({ schema, method: route.method, url: route.url, httpStatus: status });
        const slow = zodSerializerCompiler({ schema, method: route.method, url: route.url, httpStatus: status } as never);
        for (const variant of [0, 1]) {
          const value = sample(json, true, variant);
          // Only values the contract accepts (a pattern or refinement the sampler does not know is skipped).
          if (!schema.safeParse(value).success) continue;
          // The same document (fast-json-stringify writes required properties before optional ones: order differs).
          expect({ route: `${name} ${status} #${variant}`, body: JSON.parse(fast(value)) }).toStrictEqual({
            route: `${name} ${status} #${variant}`,
            body: JSON.parse(slow(value)),
          });
          expect(fast(value)).not.toContain('must not be sent');
          compared++;
        }
      }
    // Most of the catalog's responses are compared, step saves among them.
    expect(compared).toBeGreaterThan(40);
  });

  it('keeps zod’s serializer (which validates) for unions and other schemas it would have to validate first', () => {
    expect(staticResponseJsonSchema(ROUTES.saveStep.responses[200])).not.toBeNull();
    expect(staticResponseJsonSchema(ROUTES.status.responses[200])).toBeNull();
  });
});
