import { routeErrors, ROUTES } from '@glavito/contracts';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp } from './helpers.js';

type Doc = {
  openapi: string;
  info: { description: string };
  paths: Record<
    string,
    Record<
      string,
      {
        summary: string;
        tags: string[];
        parameters: { name: string; in: string }[];
        requestBody?: { content: Record<string, { schema: { properties: Record<string, { enum?: string[] }> } }> };
        responses: Record<string, unknown>;
      }
    >
  >;
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
};

describe('/docs', () => {
  let app: FastifyInstance;
  let doc: Doc;

  beforeAll(async () => {
    app = await makeApp();
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    doc = res.json();
  });
  afterAll(async () => {
    await app.close();
  });

  it('documents every route of the catalog with its parameters and responses', () => {
    expect(doc.openapi).toMatch(/^3\./);
    for (const [name, route] of Object.entries(ROUTES)) {
      const path = route.url.replace(/:(\w+)/g, '{$1}');
      const op = doc.paths[path]?.[route.method.toLowerCase()];
      expect(op, `${route.method} ${path}`).toBeDefined();
      expect(op!.summary).toBe(route.summary);
      expect(op!.tags).toEqual([route.service]);
      for (const [, param] of route.url.matchAll(/:(\w+)/g)) expect(op!.parameters).toContainEqual(expect.objectContaining({ name: param, in: 'path' }));
      for (const status of Object.keys(route.responses)) expect(op!.responses[status], `${name} ${status}`).toBeDefined();
      // Every error status the route answers, each with its codes (the e2e fuzz suite checks real answers against them).
      const errors = routeErrors(name, route);
      const documented = Object.keys(op!.responses).filter((s) => Number(s) >= 400);
      expect(documented.sort(), name).toEqual(Object.keys(errors).sort());
      expect(op!.responses['401'] !== undefined, name).toBe(route.access !== 'public');
      if (route.access === 'admin') expect(op!.responses['403'], name).toBeDefined();
      for (const status of ['400', '414', '429', '431', '503', '504']) expect(op!.responses[status], `${name} ${status}`).toBeDefined();
      expect(op!.requestBody !== undefined).toBe('body' in route);
    }
  });

  it('names the codes each error status comes with, route by route', () => {
    type ErrorResponse = {
      description: string;
      content: Record<string, { schema: { allOf: [unknown, { properties: { code: { enum: string[] }; statusCode: { enum: number[] } } }] } }>;
    };
    const codes = (path: string, method: string, status: number) => {
      const r = doc.paths[path]![method]!.responses[String(status)] as ErrorResponse | undefined;
      const schema = r?.content['application/json']!.schema.allOf[1];
      expect(schema?.properties.statusCode.enum).toEqual([status]);
      return schema?.properties.code.enum;
    };
    expect(codes('/onboarding/complete/{sessionId}', 'post', 403)).toEqual(['SESSION_FORCE_FORBIDDEN']);
    expect(codes('/onboarding/start', 'post', 403)).toEqual(['SESSION_TYPE_FORBIDDEN']);
    expect(codes('/onboarding/statistics', 'get', 403)).toEqual(['AUTH_FORBIDDEN']);
    expect(codes('/onboarding/session/{sessionId}', 'get', 414)).toEqual(['GATEWAY_URL_TOO_LONG', 'REQUEST_URL_TOO_LONG']);
    expect(codes('/onboarding/step/{sessionId}/{stepId}', 'put', 422)).toEqual(['SESSION_STEP_DATA_INVALID']);
    // GET bodies are dropped at the gateway: no 413/415 there.
    expect(doc.paths['/onboarding/status']!.get!.responses['415']).toBeUndefined();
    expect(doc.paths['/onboarding/start']!.post!.responses['415']).toBeDefined();
    expect(doc.info.description).toMatch(/405.*Allow/s);
  });

  it('says in the schemas what JSON Schema can carry of the enforced rules', () => {
    // No NUL in free text (400 REQUEST_TEXT_UNSUPPORTED).
    const organization = doc.components.schemas.StepData_organization_setup as { properties: Record<string, { not?: { pattern: string } }> };
    const nul = organization.properties.companyName!.not!.pattern;
    expect(new RegExp(nul, 'u').test('Acme\u0000')).toBe(true);
    expect(new RegExp(nul, 'u').test('Acme')).toBe(false);
    const data = doc.paths['/onboarding/validate-step/{stepId}']!.get!.parameters.find((p) => p.name === 'data') as unknown as {
      schema: { maxLength: number };
    };
    expect(data.schema.maxLength).toBe(8000);
    const from = doc.paths['/onboarding/statistics']!.get!.parameters.find((p) => p.name === 'from') as unknown as { description: string };
    expect(from.description).toMatch(/before `to`/);
  });

  it('carries the zod schemas of bodies and queries', () => {
    const start = doc.paths['/onboarding/start']!.post!.requestBody!.content['application/json']!.schema;
    expect(start.properties.type?.enum).toEqual(['tenant_setup', 'agent_welcome']);
    const history = doc.paths['/onboarding/connection-history/{sessionId}']!.get!.parameters;
    expect(history).toContainEqual(expect.objectContaining({ name: 'limit', in: 'query', required: false }));
    expect(doc.components.schemas.ErrorBody).toMatchObject({ type: 'object', required: expect.arrayContaining(['statusCode', 'code']) });
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    expect(doc.info.description).toContain('GET /onboarding');
  });

  it('serves Swagger UI', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.body).toContain('swagger-ui');
  });
});
