import type { IncomingHttpHeaders } from 'node:http';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import fc from 'fast-check';

/**
 * The OpenAPI document the gateway serves (/docs/json), used two ways by the fuzz suite: to judge an answer (its
 * status is one the operation documents, or a path-level 404/405; its JSON body matches the documented schema of
 * that status, error codes included) and to generate requests from the operations' parameters and bodies.
 */

type Schema = Record<string, unknown>;
interface Operation {
  parameters?: Array<{ name: string; in: 'path' | 'query'; required?: boolean; schema: Schema }>;
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }>; headers?: Record<string, unknown> }>;
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema>; responses: Record<string, unknown> };
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
const escapePointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** OpenAPI 3.0 keeps draft-4's boolean exclusiveMinimum/Maximum; Ajv (draft-07) wants the bound itself. */
function toDraft7(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toDraft7);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, k === 'example' || k === 'examples' ? v : toDraft7(v)]));
  for (const [flag, bound] of [
    ['exclusiveMinimum', 'minimum'],
    ['exclusiveMaximum', 'maximum'],
  ] as const) {
    if (out[flag] === true) {
      out[flag] = out[bound];
      delete out[bound];
    } else if (out[flag] === false) delete out[flag];
  }
  return out;
}

export interface Answer {
  status: number;
  headers?: IncomingHttpHeaders;
  body: Buffer;
}

export class OpenApiSpec {
  private readonly ajv: Ajv;
  private readonly validators = new Map<string, ValidateFunction>();
  /** Templates, most static segments first (as the router prefers a static segment over a parameter). */
  private readonly templates: Array<{ template: string; pattern: RegExp }>;

  constructor(readonly doc: OpenApiDocument) {
    this.ajv = new Ajv({ strict: false, allErrors: false, validateFormats: true });
    addFormats(this.ajv);
    this.ajv.addFormat('password', true);
    this.ajv.addSchema(toDraft7(doc) as Schema, 'openapi');
    this.templates = Object.keys(doc.paths)
      .map((template) => ({ template, pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{\w+\\?\}/g, '[^/]+')}$`) }))
      .sort((a, b) => b.template.split('/').filter((s) => !s.startsWith('{')).length - a.template.split('/').filter((s) => !s.startsWith('{')).length);
  }

  static async load(gatewayUrl: string): Promise<OpenApiSpec> {
    const res = await fetch(`${gatewayUrl}/docs/json`);
    if (res.status !== 200) throw new Error(`/docs/json answered ${res.status}`);
    return new OpenApiSpec((await res.json()) as OpenApiDocument);
  }

  operations(): Array<{ template: string; method: string; op: Operation }> {
    return Object.entries(this.doc.paths).flatMap(([template, ops]) => METHODS.filter((m) => ops[m]).map((method) => ({ template, method, op: ops[method]! })));
  }

  /** The operation a request reaches, or the templates its path matches (for a 405) when none has its method. */
  locate(method: string, rawPath: string): { template: string; op: Operation } | { pathOnly: string[] } {
    const path = rawPath.split('?')[0]!;
    const m = method.toLowerCase() === 'head' ? 'get' : method.toLowerCase();
    const matching = this.templates.filter((t) => t.pattern.test(path));
    const hit = matching.find((t) => this.doc.paths[t.template]![m]);
    if (hit) return { template: hit.template, op: this.doc.paths[hit.template]![m]! };
    return { pathOnly: matching.map((t) => t.template) };
  }

  private validator(template: string, method: string, status: string): ValidateFunction | undefined {
    const key = `${template} ${method} ${status}`;
    if (!this.validators.has(key)) {
      const content = this.doc.paths[template]![method]!.responses[status]?.content?.['application/json'];
      if (!content) return undefined;
      this.validators.set(
        key,
        this.ajv.compile({ $ref: `openapi#/paths/${escapePointer(template)}/${method}/responses/${status}/content/application~1json/schema` }),
      );
    }
    return this.validators.get(key);
  }

  /** Why the answer breaks the document, or null. `streamed`: a 2xx that is a download (not JSON). */
  judge(method: string, rawPath: string, answer: Answer, opts: { streamed?: boolean } = {}): string | null {
    const where = this.locate(method, rawPath);
    const status = String(answer.status);
    // Refused before any route is chosen: the request line, URL or headers themselves (documented on every operation).
    const beforeRouting = ['400', '408', '414', '429', '431'].includes(status);
    if ('pathOnly' in where) {
      if (where.pathOnly.length === 0)
        return status === '404' || beforeRouting
          ? this.errorShape(answer, ['GATEWAY_ROUTE_NOT_FOUND'], '404')
          : `status ${status} for a path no route has (404 expected)`;
      if (status === '405') {
        const allowed = new Set(where.pathOnly.flatMap((t) => METHODS.filter((m) => this.doc.paths[t]![m]).map((m) => m.toUpperCase())));
        if (allowed.has('GET')) allowed.add('HEAD');
        const allow = String(answer.headers?.allow ?? '')
          .split(/,\s*/)
          .filter(Boolean);
        if (answer.headers && [...allowed].sort().join() !== [...allow].sort().join())
          return `405 Allow ${allow.join(', ')}; the document has ${[...allowed].join(', ')}`;
        return this.errorShape(answer, ['GATEWAY_METHOD_NOT_ALLOWED'], '405');
      }
      return beforeRouting || status === '404' ? null : `status ${status} for ${method} on a path without that method (405 expected)`;
    }
    const m = method.toLowerCase() === 'head' ? 'get' : method.toLowerCase();
    if (!where.op.responses[status])
      return `status ${status} is not documented for ${m.toUpperCase()} ${where.template} (documented: ${Object.keys(where.op.responses).join(', ')})`;
    if (method.toUpperCase() === 'HEAD' || (opts.streamed && answer.status < 300)) return null;
    const validate = this.validator(where.template, m, status);
    if (!validate) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body.toString('utf8'));
    } catch {
      return `${status} body is not JSON`;
    }
    if (validate(parsed)) return null;
    const code = (parsed as { code?: unknown })?.code;
    return `${status}${typeof code === 'string' ? ` ${code}` : ''} body breaks the documented schema: ${this.ajv.errorsText(validate.errors?.slice(0, 2))}`;
  }

  private errorShape(answer: Answer, codes: string[], status: string): string | null {
    if (!answer.body.length) return null;
    try {
      const body = JSON.parse(answer.body.toString('utf8')) as { statusCode?: number; code?: string };
      if (String(body.statusCode) !== String(answer.status)) return `ErrorBody.statusCode ${body.statusCode} ≠ ${answer.status}`;
      if (String(answer.status) === status && !codes.includes(String(body.code))) return `${status} with code ${body.code} (documented: ${codes.join(', ')})`;
      return null;
    } catch {
      return `${answer.status} body is not JSON`;
    }
  }

  /** A schema with its $refs to components inlined (bounded depth), for generators. */
  resolve(schema: Schema, depth = 0): Schema {
    if (depth > 12) return {};
    const ref = schema.$ref;
    if (typeof ref === 'string') return this.resolve(this.doc.components.schemas[ref.split('/').pop()!] ?? {}, depth + 1);
    const out: Schema = {};
    for (const [k, v] of Object.entries(schema)) {
      if (k === 'properties' && v && typeof v === 'object')
        out[k] = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, this.resolve(s as Schema, depth + 1)]));
      else if ((k === 'items' || k === 'additionalProperties') && v && typeof v === 'object') out[k] = this.resolve(v as Schema, depth + 1);
      else if ((k === 'anyOf' || k === 'oneOf' || k === 'allOf') && Array.isArray(v)) out[k] = v.map((s) => this.resolve(s as Schema, depth + 1));
      else out[k] = v;
    }
    return out;
  }
}

/** Values for one JSON Schema (the subset our documents use), valid most of the time, edge cases included. */
export function valuesOf(schema: Schema, depth = 0): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  const alternatives = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (alternatives?.length) return fc.oneof(...alternatives.map((a) => valuesOf(a, depth + 1)));
  if (Array.isArray(schema.allOf) && schema.allOf.length) return valuesOf(Object.assign({}, ...(schema.allOf as Schema[])), depth);
  const nullable = schema.nullable === true ? (a: fc.Arbitrary<unknown>) => fc.oneof(a, fc.constant(null)) : (a: fc.Arbitrary<unknown>) => a;
  switch (schema.type) {
    case 'object': {
      const props = (schema.properties ?? {}) as Record<string, Schema>;
      if (depth > 4) return fc.constant({});
      const required = ((schema.required ?? []) as string[]).filter((k) => k in props);
      return nullable(fc.record(Object.fromEntries(Object.entries(props).map(([k, v]) => [k, valuesOf(v, depth + 1)])), { requiredKeys: required }));
    }
    case 'array': {
      const min = Number(schema.minItems ?? 0);
      return nullable(
        fc.array(valuesOf((schema.items ?? {}) as Schema, depth + 1), { minLength: min, maxLength: Math.max(min, Math.min(Number(schema.maxItems ?? 3), 3)) }),
      );
    }
    case 'string': {
      if (schema.format === 'date-time')
        return nullable(
          fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()),
        );
      if (schema.format === 'date')
        return nullable(
          fc
            .date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true })
            .map((d) => d.toISOString().slice(0, 10)),
        );
      if (schema.format === 'uuid') return nullable(fc.uuid());
      if (schema.format === 'email') return nullable(fc.emailAddress());
      if (schema.format === 'uri') return nullable(fc.webUrl());
      if (typeof schema.pattern === 'string') return nullable(fc.stringMatching(new RegExp(schema.pattern)));
      const max = Math.min(Number(schema.maxLength ?? 30), 30);
      const min = Math.min(Number(schema.minLength ?? 0), max);
      return nullable(fc.string({ minLength: min, maxLength: max }));
    }
    case 'integer':
      return nullable(fc.integer({ min: Number(schema.minimum ?? -1000), max: Number(schema.maximum ?? 100_000) }));
    case 'number':
      return nullable(fc.double({ noNaN: true, noDefaultInfinity: true, min: Number(schema.minimum ?? -1e6), max: Number(schema.maximum ?? 1e6) }));
    case 'boolean':
      return nullable(fc.boolean());
    default:
      return fc.jsonValue({ maxDepth: 1 });
  }
}
