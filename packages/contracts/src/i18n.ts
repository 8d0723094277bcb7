import { z } from 'zod';
import ar from './messages/ar.json' with { type: 'json' };
import en from './messages/en.json' with { type: 'json' };
import es from './messages/es.json' with { type: 'json' };
import fr from './messages/fr.json' with { type: 'json' };
import type { FieldError } from './validation.js';

// Texts a person reads, per language. Codes, field names, rule names and event payload keys never change with the
// language: only `message`, titles, descriptions, hints and actions do. The catalogs are plain JSON files
// (messages/<lang>.json) that translators edit; English is the reference and the per-string fallback.

export const LANGUAGES = ['en', 'fr', 'es', 'ar'] as const;
export const LanguageSchema = z.enum(LANGUAGES);
export type Language = z.infer<typeof LanguageSchema>;
export const DEFAULT_LANGUAGE: Language = 'en';

export type MessageKey = keyof typeof en;
export type MessageParams = Record<string, string | number>;

export const MESSAGE_CATALOGS: Readonly<Record<Language, Readonly<Record<string, string>>>> = { en, fr, es, ar };

/** Text direction, for a client laying out an answer (Arabic is right to left). */
export function textDirection(lang: Language): 'ltr' | 'rtl' {
  return lang === 'ar' ? 'rtl' : 'ltr';
}

export function isLanguage(value: unknown): value is Language {
  return typeof value === 'string' && (LANGUAGES as readonly string[]).includes(value);
}

const fill = (template: string, params: MessageParams | undefined) =>
  params ? template.replace(/\{(\w+)\}/g, (all, name: string) => (Object.hasOwn(params, name) ? String(params[name]) : all)) : template;

/** The message in `lang`, else in English (per string), else the key itself; `{name}` placeholders filled. */
export function translate(lang: Language, key: string, params?: MessageParams): string {
  const template = MESSAGE_CATALOGS[lang][key] ?? MESSAGE_CATALOGS.en[key];
  return template === undefined ? key : fill(template, params);
}

export function hasMessage(key: string): boolean {
  return Object.hasOwn(MESSAGE_CATALOGS.en, key);
}

/** Language ranges of an Accept-Language header with their weights, best first (ties keep header order). */
function ranges(header: string): Array<{ tag: string; q: number }> {
  const out: Array<{ tag: string; q: number; at: number }> = [];
  header.split(',').forEach((part, at) => {
    const [range, ...params] = part.trim().split(';');
    const tag = range?.trim().toLowerCase();
    if (!tag || !/^(\*|[a-z]{1,8}(-[a-z0-9]{1,8})*)$/.test(tag)) return;
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(p);
      if (m) q = Math.min(1, Number(m[1]));
    }
    out.push({ tag, q, at });
  });
  return out.sort((a, b) => b.q - a.q || a.at - b.at);
}

/**
 * The language of an answer: `?lang=` wins when it names a supported language, then Accept-Language by weight
 * (a regional tag such as fr-CH reaches its language, q=0 excludes), else English. Hand-written because the
 * negotiators at hand match whole tags only (fr-CH would not reach fr).
 */
export function negotiateLanguage(input: { query?: unknown; acceptLanguage?: string | string[] | undefined }): Language {
  const q = typeof input.query === 'string' ? input.query.trim().toLowerCase().split('-')[0] : undefined;
  if (isLanguage(q)) return q;
  const header = Array.isArray(input.acceptLanguage) ? input.acceptLanguage.join(',') : input.acceptLanguage;
  if (!header) return DEFAULT_LANGUAGE;
  const all = ranges(header.slice(0, 1024));
  const excluded = new Set(all.filter((r) => r.q === 0).map((r) => r.tag.split('-')[0]!));
  for (const { tag, q: weight } of all) {
    const primary = tag.split('-')[0]!;
    if (weight === 0) continue;
    if (primary === '*') return LANGUAGES.find((l) => !excluded.has(l)) ?? DEFAULT_LANGUAGE;
    if (isLanguage(primary) && !excluded.has(primary)) return primary;
  }
  return DEFAULT_LANGUAGE;
}

/**
 * How each field error was worded, so that the edge can say it again in the caller's language. Kept beside the
 * error object (not in it): the error travels unchanged into events and answers, with its English message.
 */
const wording = new WeakMap<object, { key: string; params: MessageParams }>();

/**
 * A field error whose message is the catalog's `key` (English here; localizeFieldErrors words it again). `english`
 * replaces the English wording when the rule's own text is more precise than the catalog's.
 */
export function fieldError(field: string, rule: string, key: string, params: MessageParams = {}, english?: string): FieldError {
  const error = { field, rule, message: english ?? translate('en', key, { field: field || 'body', ...params }) };
  wording.set(error, { key, params: { field: field || 'body', ...params } });
  return error;
}

/** Field errors in `lang`; one made without fieldError keeps its message. Field and rule never change. */
export function localizeFieldErrors<E extends { field?: unknown; rule?: unknown; message?: unknown }>(errors: readonly E[], lang: Language): E[] {
  if (lang === DEFAULT_LANGUAGE) return [...errors];
  return errors.map((e) => {
    const w = e !== null && typeof e === 'object' ? wording.get(e) : undefined;
    return w ? { ...e, message: translate(lang, w.key, w.params) } : e;
  });
}

const templateMatchers = new Map<string, RegExp | null>();

/** The English template of a code as a matcher of its messages: `Step {0} is in {1}` → /^Step (.+?) is in (.+?)$/. */
function matcherOf(code: string): RegExp | null {
  let m = templateMatchers.get(code);
  if (m === undefined) {
    const template = MESSAGE_CATALOGS.en[`errors.${code}`];
    m = template === undefined ? null : new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\d+\}/g, '([\\s\\S]+?)')}$`);
    templateMatchers.set(code, m);
  }
  return m;
}

/**
 * An error answer's message in `lang`. The English catalog holds each code's message template as the service
 * writes it (`{0}` where the service puts an argument), so the arguments are read back from the English message
 * and put into the translation; a message that does not follow its template stays as it is.
 */
export function localizeErrorMessage(code: string, message: string, lang: Language): string {
  if (lang === DEFAULT_LANGUAGE) return message;
  const matcher = matcherOf(code);
  const args = matcher?.exec(message);
  if (!args) return message;
  const params: MessageParams = {};
  args.slice(1).forEach((a, i) => (params[String(i)] = a));
  return translate(lang, `errors.${code}`, params);
}

/** A built-in step's title and description in `lang` (a step the catalog does not know keeps its own). */
export function localizeStepText<S extends { id: string; title: string; description: string }>(type: string, step: S, lang: Language): S {
  if (lang === DEFAULT_LANGUAGE) return step;
  const key = `step.${type}.${step.id}`;
  if (!hasMessage(`${key}.title`)) return step;
  return { ...step, title: translate(lang, `${key}.title`), description: translate(lang, `${key}.description`) };
}

export function milestoneTitle(threshold: number, lang: Language): string {
  return translate(lang, `milestone.${threshold}`);
}

/** A connection test's hint for an error code, in `lang`. */
export function connectionHint(errorCode: string, lang: Language): string | undefined {
  return hasMessage(`hint.${errorCode}`) ? translate(lang, `hint.${errorCode}`) : undefined;
}

/**
 * A progress snapshot's action in `lang`: "Complete <title of the next step>", "Onboarding complete" or "Complete
 * required steps to continue". `titleOf` gives the next step's title in `lang` (custom steps carry their own).
 */
export function localizeProgressAction<P extends { nextStep: string | null; nextRecommendedAction: string; progressPercentage: number }>(
  progress: P,
  lang: Language,
  titleOf: (stepId: string) => string | undefined,
): P {
  if (lang === DEFAULT_LANGUAGE) return progress;
  let action: string;
  if (progress.nextStep) {
    const title = titleOf(progress.nextStep);
    if (!title) return progress;
    action = translate(lang, 'progress.complete_step', { title });
  } else if (progress.nextRecommendedAction === MESSAGE_CATALOGS.en['progress.onboarding_complete']) action = translate(lang, 'progress.onboarding_complete');
  else action = translate(lang, 'progress.complete_required');
  return { ...progress, nextRecommendedAction: action };
}

/** Warnings of a step save in `lang` (each is one of the catalog's English warnings). */
export function localizeWarnings(warnings: readonly string[], lang: Language): string[] {
  if (lang === DEFAULT_LANGUAGE) return [...warnings];
  return warnings.map((w) => {
    const key = Object.keys(MESSAGE_CATALOGS.en).find((k) => k.startsWith('warning.') && MESSAGE_CATALOGS.en[k] === w);
    return key ? translate(lang, key) : w;
  });
}

const RULE_KEYS: Record<string, { key: string; param?: string }> = {
  required: { key: 'validation.required' },
  min_length: { key: 'validation.min_length', param: 'min' },
  max_length: { key: 'validation.max_length', param: 'max' },
  min_items: { key: 'validation.min_items', param: 'min' },
  max_items: { key: 'validation.max_items', param: 'max' },
  min: { key: 'validation.min', param: 'min' },
  max: { key: 'validation.max', param: 'max' },
  email: { key: 'validation.rule.email' },
  pattern: { key: 'validation.format' },
  https_url: { key: 'validation.rule.https_url' },
  enum: { key: 'validation.enum', param: 'values' },
};

/** A step's listed validation rules in `lang` (rules without a catalog wording keep theirs). */
export function localizeRules<R extends { field: string; rule: string; value?: unknown; message: string }>(rules: readonly R[], lang: Language): R[] {
  if (lang === DEFAULT_LANGUAGE) return [...rules];
  return rules.map((r) => {
    const k = RULE_KEYS[r.rule];
    if (!k || (k.param && r.value === undefined)) return r;
    const value = Array.isArray(r.value) ? r.value.join(', ') : String(r.value);
    return { ...r, message: translate(lang, k.key, { field: r.field, ...(k.param ? { [k.param]: value } : {}) }) };
  });
}
