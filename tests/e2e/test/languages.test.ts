import { ErrorBodySchema, FlowResponseSchema, SessionWithProgressSchema, ValidateStepResponseSchema } from '@glavito/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type System } from './system.js';

let sys: System;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  await sys?.stop();
});

async function call(method: string, path: string, token: string | null, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${sys.gateway.url}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

describe('every text in the caller’s language, through the gateway', () => {
  it('the same invalid save answers in French (Accept-Language) and Arabic (?lang=), with the same codes and fields', async () => {
    const admin = sys.token({ userId: 'lang-admin', tenantId: 'lang-tenant', roles: ['admin'] });
    const start = await call('POST', '/onboarding/start', admin, {});
    const { session } = SessionWithProgressSchema.parse(start.body);
    const invalid = { companyName: '', primaryColor: 'blue', unknownField: 1 };
    const url = `/onboarding/step/${session.id}/organization_setup`;

    const en = await call('PUT', url, admin, invalid);
    const fr = await call('PUT', url, admin, invalid, { 'accept-language': 'fr-FR,fr;q=0.9,en;q=0.5' });
    const ar = await call('PUT', `${url}?lang=ar`, admin, invalid, { 'accept-language': 'fr' });
    for (const r of [en, fr, ar]) expect(r.status).toBe(422);
    const [bEn, bFr, bAr] = [en, fr, ar].map((r) => ErrorBodySchema.parse(r.body));
    expect(fr.headers.get('content-language')).toBe('fr');
    expect(ar.headers.get('content-language')).toBe('ar');

    // Codes, fields and rules never change with the language; the words do.
    const shape = (b: typeof bEn) => ({ code: b!.code, error: b!.error, details: b!.details!.map((d) => [d.field, d.rule]) });
    expect(shape(bFr)).toEqual(shape(bEn));
    expect(shape(bAr)).toEqual(shape(bEn));
    expect(bEn!.code).toBe('SESSION_STEP_DATA_INVALID');
    expect(bEn!.details!.map((d) => d.field)).toEqual(expect.arrayContaining(['companyName', 'primaryColor', 'unknownField']));
    expect(bFr!.message).toMatch(/^Les données de l'étape organization_setup sont invalides : /);
    expect(bFr!.details).toContainEqual({ field: 'unknownField', rule: 'unknown_field', message: "unknownField n'est pas un champ accepté" });
    expect(bAr!.message).toMatch(/^بيانات الخطوة organization_setup غير صالحة: /);
    expect(bAr!.details).toContainEqual({ field: 'unknownField', rule: 'unknown_field', message: 'unknownField ليس حقلًا مقبولًا' });
    expect(bEn!.details).toContainEqual({ field: 'unknownField', rule: 'unknown_field', message: 'unknownField is not an accepted field' });
  });

  it('flows, validation, conflicts and the gateway’s own errors are worded in the language asked for', async () => {
    const admin = sys.token({ userId: 'lang-admin-2', tenantId: 'lang-tenant-2', roles: ['admin'] });
    const flow = FlowResponseSchema.parse((await call('GET', '/onboarding/flows/tenant_setup?lang=es', admin)).body);
    expect(flow.steps.find((s) => s.id === 'organization_setup')?.title).toBe('Configuración de la organización');
    expect(flow.steps.map((s) => s.id)).toEqual(
      FlowResponseSchema.parse((await call('GET', '/onboarding/flows/tenant_setup', admin)).body).steps.map((s) => s.id),
    );

    const v = ValidateStepResponseSchema.parse((await call('POST', '/onboarding/validate-step/organization_setup?type=tenant_setup&lang=fr', admin, {})).body);
    expect(v.errors).toContainEqual({ field: 'companyName', rule: 'required', message: 'companyName est obligatoire' });

    const { session } = SessionWithProgressSchema.parse((await call('POST', '/onboarding/start', admin, {})).body);
    const early = await call('PUT', `/onboarding/step/${session.id}/ai_configuration`, admin, {}, { 'accept-language': 'ar' });
    expect(early.status).toBe(409);
    expect(ErrorBodySchema.parse(early.body)).toMatchObject({
      code: 'SESSION_STEP_DEPENDENCIES_MISSING',
      message: 'متطلبات سابقة ناقصة: channel_configuration',
    });

    const saved = await call(
      'PUT',
      `/onboarding/step/${session.id}/organization_setup`,
      admin,
      { companyName: 'Acme', primaryColor: '#112233' },
      { 'accept-language': 'fr' },
    );
    expect(saved.status).toBe(200);
    expect((saved.body.progress as { nextRecommendedAction: string }).nextRecommendedAction).toMatch(/^Terminer : /);

    const noToken = await call('GET', '/onboarding/status', null, undefined, { 'accept-language': 'es' });
    expect(noToken.status).toBe(401);
    expect(ErrorBodySchema.parse(noToken.body)).toMatchObject({ code: 'AUTH_TOKEN_MISSING', message: 'Se necesita un token bearer' });
    const unknown = await call('GET', '/onboarding/nowhere?lang=fr', admin);
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toMatch(/introuvable$/);
  });
});
