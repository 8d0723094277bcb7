import { ROUTES } from '@glavito/contracts';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp } from './helpers.js';

type Doc = {
  openapi: string;
  info: { description: string };
  paths: Record<string, Record<string, { summary: string; tags: string[]; parameters: { name: string; in: string }[]; requestBody?: { content: Record<string, { schema: { properties: Record<string, { enum?: string[] }> } }> }; responses: Record<string, unknown> }>>;
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
      expect(op!.responses['401']).toBeDefined();
      expect(op!.responses['403'] !== undefined).toBe(route.access === 'admin');
      expect(op!.requestBody !== undefined).toBe('body' in route);
    }
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
