import { describe, expect, it } from 'vitest';
import {
  AGENT_WELCOME_STEPS,
  LANGUAGES,
  localizeErrorMessage,
  localizeFieldErrors,
  localizeStepText,
  MESSAGE_CATALOGS,
  MILESTONES,
  negotiateLanguage,
  TENANT_SETUP_STEPS,
  translate,
  validateStepData,
} from '../src/index.js';

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('message catalogs', () => {
  const en = MESSAGE_CATALOGS.en;

  it.each(LANGUAGES.filter((l) => l !== 'en'))('%s has every English key, no other key, and the same placeholders', (lang) => {
    const catalog = MESSAGE_CATALOGS[lang];
    expect(Object.keys(catalog).filter((k) => !(k in en))).toEqual([]);
    expect(Object.keys(en).filter((k) => !(k in catalog))).toEqual([]);
    for (const [key, text] of Object.entries(en)) {
      expect({ key, placeholders: placeholders(catalog[key]!) }).toEqual({ key, placeholders: placeholders(text) });
      expect(catalog[key]!.trim()).not.toBe('');
    }
  });

  it('English is the catalog the built-in steps and milestones are written in', () => {
    for (const [type, steps] of [
      ['tenant_setup', TENANT_SETUP_STEPS],
      ['agent_welcome', AGENT_WELCOME_STEPS],
    ] as const) {
      for (const step of steps) {
        expect(en[`step.${type}.${step.id}.title`]).toBe(step.title);
        expect(en[`step.${type}.${step.id}.description`]).toBe(step.description);
      }
    }
    for (const m of MILESTONES) expect(en[`milestone.${m.threshold}`]).toBe(m.title);
  });

  it('falls back to English per string, and to the key when no catalog has it', () => {
    expect(translate('fr', 'validation.required', { field: 'companyName' })).toBe('companyName est obligatoire');
    expect(translate('fr', 'no.such.key')).toBe('no.such.key');
    const saved = (MESSAGE_CATALOGS.fr as Record<string, string>)['milestone.50'];
    delete (MESSAGE_CATALOGS.fr as Record<string, string>)['milestone.50'];
    try {
      expect(translate('fr', 'milestone.50')).toBe('Halfway There');
    } finally {
      (MESSAGE_CATALOGS.fr as Record<string, string>)['milestone.50'] = saved!;
    }
  });
});

describe('negotiateLanguage', () => {
  it.each([
    [{ acceptLanguage: 'fr' }, 'fr'],
    [{ acceptLanguage: 'fr-CH, fr;q=0.9, en;q=0.8' }, 'fr'],
    [{ acceptLanguage: 'de-DE, es;q=0.5, ar;q=0.7' }, 'ar'],
    [{ acceptLanguage: 'en;q=0.2, ES;q=0.9' }, 'es'],
    [{ acceptLanguage: 'de, *;q=0.1' }, 'en'],
    [{ acceptLanguage: 'en;q=0, *' }, 'fr'],
    [{ acceptLanguage: 'fr;q=0' }, 'en'],
    [{ acceptLanguage: 'zh-Hant' }, 'en'],
    [{ acceptLanguage: ';;;,,q=' }, 'en'],
    [{ acceptLanguage: 'fr', query: 'ar' }, 'ar'],
    [{ acceptLanguage: 'fr', query: 'xx' }, 'fr'],
    [{ query: 'es-MX' }, 'es'],
    [{}, 'en'],
  ])('%j → %s', (input, lang) => {
    expect(negotiateLanguage(input)).toBe(lang);
  });
});

describe('localizing at the edge', () => {
  it('an invalid save says the same codes and fields in every language, worded in it', () => {
    const v = validateStepData('tenant_setup', 'organization_setup', { companyName: 'A', primaryColor: 'blue', extra: 1 });
    expect(v.isValid).toBe(false);
    const fr = localizeFieldErrors(v.errors, 'fr');
    const ar = localizeFieldErrors(v.errors, 'ar');
    expect(fr.map((e) => [e.field, e.rule])).toEqual(v.errors.map((e) => [e.field, e.rule]));
    expect(ar.map((e) => [e.field, e.rule])).toEqual(v.errors.map((e) => [e.field, e.rule]));
    expect(fr.map((e) => e.message)).not.toEqual(v.errors.map((e) => e.message));
    expect(fr.find((e) => e.rule === 'unknown_field')?.message).toBe("extra n'est pas un champ accepté");
    expect(ar.find((e) => e.rule === 'unknown_field')?.message).toBe('extra ليس حقلًا مقبولًا');
    // The English errors themselves are untouched (they travel in events).
    expect(v.errors.find((e) => e.rule === 'unknown_field')?.message).toBe('extra is not an accepted field');
  });

  it('named refinements are translated; their English keeps the rule’s own words', () => {
    const v = validateStepData('tenant_setup', 'channel_configuration', {});
    expect(v.errors).toEqual([{ field: 'channels', rule: 'at_least_one_enabled', message: expect.stringMatching(/^At least one/) }]);
    expect(localizeFieldErrors(v.errors, 'es')[0]!.message).toMatch(/^Debe activarse al menos un canal/);
  });

  it('error messages are re-worded from their English template, arguments kept', () => {
    expect(localizeErrorMessage('SESSION_STEP_NOT_IN_FLOW', 'Step foo is not part of the tenant_setup flow', 'fr')).toBe(
      "L'étape foo ne fait pas partie du parcours tenant_setup",
    );
    expect(localizeErrorMessage('SESSION_ALREADY_COMPLETED', 'The session is already completed', 'ar')).toBe('الجلسة مكتملة بالفعل');
    // A message that does not follow its template (or a code without one) stays as it is.
    expect(localizeErrorMessage('SESSION_ALREADY_COMPLETED', 'Something else', 'fr')).toBe('Something else');
    expect(localizeErrorMessage('NO_SUCH_CODE', 'x', 'fr')).toBe('x');
  });

  it('built-in step texts', () => {
    const step = TENANT_SETUP_STEPS[1]!;
    expect(localizeStepText('tenant_setup', step, 'fr')).toMatchObject({ id: 'organization_setup', title: "Configuration de l'organisation" });
    expect(localizeStepText('tenant_setup', step, 'en')).toBe(step);
    expect(localizeStepText('tenant_setup', { ...step, id: 'custom_x' }, 'fr').title).toBe(step.title);
  });
});
