import { z } from 'zod';
import { DEFAULT_LANGUAGE, LANGUAGES, type Language } from './i18n.js';
import { toStepJsonSchema, type JsonSchema } from './json-schema.js';
import { rulesOfSchema } from './step-rules.js';
import { isHttpsUrl, stepDataSchema } from './step-data.js';
import { StepCategorySchema, stepCatalog, OnboardingTypeSchema, type OnboardingType, type StepConfiguration } from './steps.js';

// Tenant-defined flows: a tenant reorders built-in steps, makes optional ones required or hides them, changes
// estimates, and adds custom steps whose data rules come from a field list. The session service owns the
// definitions and their invariants; a published definition is an immutable version that sessions pin.

/** The built-in flows are version 1; a tenant's first published flow of a type is version 2. */
export const BUILT_IN_FLOW_VERSION = 1;
export const MAX_FLOW_STEPS = 40;
export const MAX_STEP_FIELDS = 30;
export const MAX_FIELD_OPTIONS = 50;
/** Steps a tenant flow always keeps, visible and required (`welcome` is completed on start). */
export const REQUIRED_BUILT_IN_STEPS: Readonly<Record<OnboardingType, readonly string[]>> = {
  tenant_setup: ['welcome', 'organization_setup'],
  agent_welcome: ['welcome'],
};
export const CUSTOM_STEP_ID = /^custom_[a-z0-9_]{1,40}$/;

const text = (max: number) => z.string().trim().min(1).max(max);
/** A text in English and, optionally, its translations; a language left out reads the English. */
export const LocalizedTextSchema = (max: number) =>
  z.object({ en: text(max), ...Object.fromEntries(LANGUAGES.filter((l) => l !== 'en').map((l) => [l, text(max).optional()])) }).strict() as z.ZodType<
    { en: string } & Partial<Record<Exclude<Language, 'en'>, string>>
  >;
export type LocalizedText = { en: string } & Partial<Record<Exclude<Language, 'en'>, string>>;

export function localized(t: LocalizedText, lang: Language): string {
  return t[lang as Exclude<Language, 'en'>] ?? t.en;
}

export const FIELD_KINDS = ['text', 'long_text', 'number', 'email', 'url', 'select', 'multi_select', 'checkbox', 'date', 'acknowledge'] as const;
export const FieldKindSchema = z.enum(FIELD_KINDS);

export const FlowFieldSchema = z
  .object({
    name: z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]{0,39}$/, 'must start with a letter, then letters, digits or _ (40 at most)'),
    kind: FieldKindSchema,
    required: z.boolean().default(false),
    label: LocalizedTextSchema(200),
    help: LocalizedTextSchema(500).optional(),
    /** text and long_text */
    minLength: z.number().int().min(0).max(10_000).optional(),
    maxLength: z.number().int().min(1).max(10_000).optional(),
    pattern: z.string().min(1).max(200).optional().describe('regular expression (JavaScript syntax) the whole text must match'),
    /** number */
    min: z.number().optional(),
    max: z.number().optional(),
    integer: z.boolean().optional(),
    /** select and multi_select */
    options: z
      .array(z.object({ value: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), label: LocalizedTextSchema(200) }).strict())
      .min(1)
      .max(MAX_FIELD_OPTIONS)
      .optional(),
  })
  .strict();
export type FlowField = z.infer<typeof FlowFieldSchema>;

export const FlowStepDefinitionSchema = z
  .object({
    id: z.string().regex(/^[a-z][a-z0-9_]{0,47}$/, 'lower-case letters, digits and _ (48 at most)'),
    isRequired: z.boolean(),
    /** A hidden built-in step is not in the flow (ids stay reserved). */
    hidden: z.boolean().default(false),
    estimatedTime: z.number().int().min(0).max(600).describe('minutes'),
    dependencies: z.array(z.string().max(48)).max(20),
    /** Custom steps only (`custom_…`): their texts, category and fields. Built-in steps keep their own. */
    title: LocalizedTextSchema(120).optional(),
    description: LocalizedTextSchema(1000).optional(),
    category: StepCategorySchema.optional(),
    fields: z.array(FlowFieldSchema).max(MAX_STEP_FIELDS).optional(),
  })
  .strict();
export type FlowStepDefinition = z.infer<typeof FlowStepDefinitionSchema>;

/** A flow as an admin writes it: every step in order. */
export const FlowDefinitionSchema = z.object({ steps: z.array(FlowStepDefinitionSchema).min(1).max(MAX_FLOW_STEPS) }).strict();
export type FlowDefinition = z.infer<typeof FlowDefinitionSchema>;

/** The built-in flow as a definition: where a tenant's first draft starts. */
export function builtInDefinition(type: OnboardingType): FlowDefinition {
  return {
    steps: stepCatalog(type).map((s) => ({
      id: s.id,
      isRequired: s.isRequired,
      hidden: false,
      estimatedTime: s.estimatedTime,
      dependencies: [...s.dependencies],
    })),
  };
}

export const isCustomStepId = (id: string) => CUSTOM_STEP_ID.test(id);

/** A step of a resolved flow: its configuration, and for a custom step its definition. */
export interface FlowStepConfig extends StepConfiguration {
  custom?: FlowStepDefinition & { title: LocalizedText };
}

/** A flow as sessions follow it: visible steps in order, rules resolved. Immutable once built. */
export interface ResolvedFlow {
  type: OnboardingType;
  version: number;
  steps: readonly FlowStepConfig[];
}

const builtIns = new Map<OnboardingType, ResolvedFlow>();

export function builtInFlow(type: OnboardingType): ResolvedFlow {
  let flow = builtIns.get(type);
  if (!flow) {
    flow = { type, version: BUILT_IN_FLOW_VERSION, steps: stepCatalog(type) };
    builtIns.set(type, flow);
  }
  return flow;
}

/** Rules the JSON Schema of a custom field carries (title and help in the reader's language). */
function fieldSchema(f: FlowField, lang: Language): z.ZodType {
  let s: z.ZodType;
  switch (f.kind) {
    case 'text':
    case 'long_text': {
      let t = z.string().trim();
      const min = f.minLength ?? (f.required ? 1 : 0);
      if (min > 0) t = t.min(min);
      t = t.max(f.maxLength ?? (f.kind === 'text' ? 1000 : 10_000));
      if (f.pattern) t = t.regex(new RegExp(`^(?:${f.pattern})$`, 'u'));
      s = t;
      break;
    }
    case 'number': {
      let n = f.integer ? z.number().int() : z.number();
      if (f.min !== undefined) n = n.min(f.min);
      if (f.max !== undefined) n = n.max(f.max);
      s = n;
      break;
    }
    case 'email':
      s = z.email().max(254);
      break;
    case 'url':
      s = z
        .string()
        .max(2048)
        .refine(isHttpsUrl, { message: 'must be an https URL', params: { rule: 'https_url' } })
        .meta({ format: 'uri' });
      break;
    case 'select':
      s = z.enum((f.options ?? []).map((o) => o.value) as [string, ...string[]]);
      break;
    case 'multi_select': {
      const values = z.enum((f.options ?? []).map((o) => o.value) as [string, ...string[]]);
      s = z
        .array(values)
        .min(f.required ? 1 : 0)
        .max(f.options?.length ?? 0)
        .refine((v) => new Set(v).size === v.length, { message: 'must not repeat a value', params: { rule: 'unique' } });
      break;
    }
    case 'checkbox':
      s = z.boolean();
      break;
    case 'date':
      s = z.iso.date();
      break;
    case 'acknowledge':
      s = z.boolean().refine((v) => v === true, { message: 'must be acknowledged', params: { rule: 'acknowledge' } });
      break;
  }
  s = s.meta({ title: localized(f.label, lang), ...(f.help ? { description: localized(f.help, lang) } : {}) });
  // An acknowledgement is always required: the point of the step is that it was given.
  return f.required || f.kind === 'acknowledge' ? s : s.optional();
}

const schemas = new WeakMap<object, Map<Language, z.ZodType>>();

/** The zod schema of a custom step's data, built from its fields (cached per step object and language). */
export function customStepSchema(step: FlowStepDefinition, lang: Language = DEFAULT_LANGUAGE): z.ZodType {
  let perLang = schemas.get(step);
  if (!perLang) schemas.set(step, (perLang = new Map()));
  let schema = perLang.get(lang);
  if (!schema) {
    schema = z.object(Object.fromEntries((step.fields ?? []).map((f) => [f.name, fieldSchema(f, lang)]))).strict();
    perLang.set(lang, schema);
  }
  return schema;
}

/** The zod schema of any step of a flow: a built-in step's contract, or the custom step's built schema. */
export function flowStepDataSchema(flow: ResolvedFlow, stepId: string): z.ZodType | undefined {
  const step = flow.steps.find((s) => s.id === stepId);
  if (!step) return undefined;
  return step.custom ? customStepSchema(step.custom) : stepDataSchema(flow.type, stepId);
}

const jsonSchemas = new WeakMap<object, Map<Language, JsonSchema>>();

/** JSON Schema of a step's data in a flow, with a custom step's labels and help in `lang`. */
export function flowStepJsonSchema(
  flow: ResolvedFlow,
  step: FlowStepConfig,
  lang: Language,
  builtIn: (type: OnboardingType, id: string) => JsonSchema | undefined,
): JsonSchema {
  if (!step.custom) return builtIn(flow.type, step.id) ?? { type: 'object' };
  let perLang = jsonSchemas.get(step.custom);
  if (!perLang) jsonSchemas.set(step.custom, (perLang = new Map()));
  let schema = perLang.get(lang);
  if (!schema) {
    schema = toStepJsonSchema(customStepSchema(step.custom, lang) as z.ZodType);
    perLang.set(lang, schema);
  }
  return schema;
}

/**
 * A definition (already checked) as sessions follow it: hidden steps left out, built-in steps with their own
 * texts, category and rules and the tenant's required flag, estimate, order and dependencies.
 */
export function resolveFlow(type: OnboardingType, version: number, def: FlowDefinition): ResolvedFlow {
  const catalog = stepCatalog(type);
  const steps: FlowStepConfig[] = [];
  for (const d of def.steps) {
    if (d.hidden) continue;
    const builtIn = catalog.find((s) => s.id === d.id);
    if (builtIn) {
      steps.push({ ...builtIn, isRequired: d.isRequired, estimatedTime: d.estimatedTime, dependencies: [...d.dependencies] });
      continue;
    }
    const custom = { ...d, title: d.title ?? { en: d.id } };
    steps.push({
      id: d.id,
      title: custom.title.en,
      description: d.description?.en ?? '',
      isRequired: d.isRequired,
      estimatedTime: d.estimatedTime,
      dependencies: [...d.dependencies],
      category: d.category ?? 'configuration',
      validationRules: rulesOfSchema(customStepSchema(custom)),
      custom,
    });
  }
  return { type, version, steps };
}

/** A step's title and description in `lang`: a custom step's own translations, a built-in step's catalog. */
export function flowStepTexts(step: FlowStepConfig, lang: Language): { title: string; description: string } {
  if (!step.custom) return { title: step.title, description: step.description };
  return { title: localized(step.custom.title, lang), description: step.custom.description ? localized(step.custom.description, lang) : '' };
}

export const FlowVersionSummarySchema = z.object({
  version: z.number().int().min(1),
  publishedAt: z.string().nullable().describe('null for the built-in flow'),
  publishedBy: z.string().nullable(),
  stepCount: z.number().int(),
  current: z.boolean(),
});
export const FlowVersionsResponseSchema = z.object({
  type: OnboardingTypeSchema,
  current: z.number().int().min(1),
  versions: z.array(FlowVersionSummarySchema),
});
export const FlowDraftResponseSchema = z.object({
  type: OnboardingTypeSchema,
  /** false: no draft saved yet; the definition shown is the current flow, a starting point. */
  saved: z.boolean(),
  definition: FlowDefinitionSchema,
  /** Bumped by each save; send it back as `revision` to refuse overwriting someone else's change (409). */
  revision: z.number().int().min(0),
  updatedAt: z.string().nullable(),
  updatedBy: z.string().nullable(),
  basedOnVersion: z.number().int().min(1),
});
// A revision is a Postgres integer: a larger one can never match, and must be a 400, not a database error.
export const FlowDraftBodySchema = FlowDefinitionSchema.extend({ revision: z.number().int().min(0).max(2_147_483_647).optional() }).strict();
export const FlowPublishResponseSchema = z.object({
  type: OnboardingTypeSchema,
  version: z.number().int().min(2),
  publishedAt: z.string(),
  stepCount: z.number().int(),
});
export const FlowVersionQuerySchema = z.object({ version: z.coerce.number().int().min(1).max(1_000_000).optional() }).strict();

/** flow.published: the steps other contexts compute with (no field rules: those stay the session's). */
export const FlowPublishedDataSchema = z.object({
  type: OnboardingTypeSchema,
  version: z.number().int().min(2),
  publishedAt: z.string(),
  steps: z.array(
    z.object({
      id: z.string(),
      isRequired: z.boolean(),
      estimatedTime: z.number().int(),
      dependencies: z.array(z.string()),
      category: StepCategorySchema,
      /** English title, and translations for a custom step (built-in steps are in the message catalogs). */
      title: z.string(),
      titles: z.record(z.string(), z.string()).optional(),
      custom: z.boolean(),
    }),
  ),
});
export type FlowPublishedData = z.infer<typeof FlowPublishedDataSchema>;

export function flowPublishedData(flow: ResolvedFlow, publishedAt: string): FlowPublishedData {
  return {
    type: flow.type,
    version: flow.version,
    publishedAt,
    steps: flow.steps.map((s) => ({
      id: s.id,
      isRequired: s.isRequired,
      estimatedTime: s.estimatedTime,
      dependencies: [...s.dependencies],
      category: s.category,
      title: s.title,
      ...(s.custom ? { titles: { ...s.custom.title } as Record<string, string> } : {}),
      custom: Boolean(s.custom),
    })),
  };
}

/** The steps a flow.published event describes, as the progress rule reads them. */
export function stepsOfPublishedFlow(data: FlowPublishedData): StepConfiguration[] {
  return data.steps.map((s) => ({
    id: s.id,
    title: s.title,
    description: '',
    isRequired: s.isRequired,
    estimatedTime: s.estimatedTime,
    dependencies: s.dependencies,
    validationRules: [],
    category: s.category,
  }));
}

export const LanguagesResponseSchema = z.object({
  default: z.enum(LANGUAGES),
  languages: z.array(z.object({ code: z.enum(LANGUAGES), name: z.string().describe('the language named in itself'), direction: z.enum(['ltr', 'rtl']) })),
});
