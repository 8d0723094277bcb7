import {
  fieldError,
  isCustomStepId,
  REQUIRED_BUILT_IN_STEPS,
  stepCatalog,
  type FieldError,
  type FlowDefinition,
  type OnboardingType,
} from '@glavito/contracts';

const TEXT_RULES = ['minLength', 'maxLength', 'pattern'] as const;
const NUMBER_RULES = ['min', 'max', 'integer'] as const;

/**
 * The invariants a definition must keep to be published (the shape and size limits are the body schema's):
 * every built-in step present once (hidden rather than removed: ids stay stable), the steps every session
 * relies on visible and required, built-in required steps still required, custom steps with a title and
 * consistent fields, dependencies on visible steps of the flow only, and no dependency cycle. `published` is the
 * tenant's current version: a custom field keeps its kind across versions. Pure; every problem is reported.
 */
export function checkFlowDefinition(type: OnboardingType, def: FlowDefinition, published?: FlowDefinition): FieldError[] {
  const errors: FieldError[] = [];
  const catalog = stepCatalog(type);
  const byId = new Map<string, number>();
  def.steps.forEach((s, i) => {
    if (byId.has(s.id)) errors.push(fieldError(`steps.${i}.id`, 'duplicate_id', 'flow.duplicate_id', { stepId: s.id }));
    else byId.set(s.id, i);
  });

  for (const builtIn of catalog) {
    const at = byId.get(builtIn.id);
    if (at === undefined) {
      errors.push(fieldError('steps', 'builtin_missing', 'flow.builtin_missing', { stepId: builtIn.id }));
      continue;
    }
    const s = def.steps[at]!;
    const mustStay = REQUIRED_BUILT_IN_STEPS[type].includes(builtIn.id) || builtIn.isRequired;
    if (mustStay && (s.hidden || !s.isRequired)) errors.push(fieldError(`steps.${at}`, 'required_builtin', 'flow.required_builtin', { stepId: builtIn.id }));
  }

  const visible = new Set(def.steps.filter((s) => !s.hidden).map((s) => s.id));
  def.steps.forEach((s, i) => {
    const at = `steps.${i}`;
    const builtIn = catalog.some((c) => c.id === s.id);
    if (!builtIn && !isCustomStepId(s.id)) errors.push(fieldError(`${at}.id`, 'unknown_builtin', 'flow.unknown_builtin', { stepId: s.id }));
    if (builtIn && (s.title || s.description || s.category || s.fields)) errors.push(fieldError(at, 'builtin_fixed', 'flow.builtin_fixed', { stepId: s.id }));
    if (!builtIn && isCustomStepId(s.id)) {
      if (!s.title) errors.push(fieldError(`${at}.title`, 'required', 'flow.title_required', { stepId: s.id }));
      checkFields(
        s,
        at,
        errors,
        published?.steps.find((p) => p.id === s.id),
      );
    }
    if (s.hidden) return;
    s.dependencies.forEach((dep, j) => {
      const f = `${at}.dependencies.${j}`;
      if (dep === s.id) errors.push(fieldError(f, 'self_dependency', 'flow.self_dependency', { stepId: s.id }));
      else if (!byId.has(dep)) errors.push(fieldError(f, 'unknown_dependency', 'flow.unknown_dependency', { stepId: s.id, dependency: dep }));
      else if (!visible.has(dep)) errors.push(fieldError(f, 'hidden_dependency', 'flow.hidden_dependency', { stepId: s.id, dependency: dep }));
    });
  });

  const cycle = findCycle(def.steps.filter((s) => !s.hidden));
  if (cycle) errors.push(fieldError(`steps.${byId.get(cycle[0]!)}.dependencies`, 'cycle', 'flow.cycle', { cycle: cycle.join(' → ') }));
  if (visible.size < 2) errors.push(fieldError('steps', 'no_visible_step', 'flow.no_visible_step'));
  return errors;
}

function checkFields(s: FlowDefinition['steps'][number], at: string, errors: FieldError[], before: FlowDefinition['steps'][number] | undefined): void {
  const names = new Set<string>();
  (s.fields ?? []).forEach((f, k) => {
    const fa = `${at}.fields.${k}`;
    if (names.has(f.name)) errors.push(fieldError(`${fa}.name`, 'duplicate_field', 'flow.duplicate_field', { name: f.name, stepId: s.id }));
    names.add(f.name);
    const isText = f.kind === 'text' || f.kind === 'long_text';
    for (const rule of TEXT_RULES)
      if (f[rule] !== undefined && !isText) errors.push(fieldError(`${fa}.${rule}`, 'not_applicable', 'flow.field_rule_kind', { rule, kind: f.kind }));
    for (const rule of NUMBER_RULES)
      if (f[rule] !== undefined && f.kind !== 'number')
        errors.push(fieldError(`${fa}.${rule}`, 'not_applicable', 'flow.field_rule_kind', { rule, kind: f.kind }));
    if (f.options !== undefined && f.kind !== 'select' && f.kind !== 'multi_select')
      errors.push(fieldError(`${fa}.options`, 'not_applicable', 'flow.field_rule_kind', { rule: 'options', kind: f.kind }));
    if ((f.kind === 'select' || f.kind === 'multi_select') && !f.options?.length)
      errors.push(fieldError(`${fa}.options`, 'options_required', 'flow.options_required'));
    if (f.options && new Set(f.options.map((o) => o.value)).size !== f.options.length)
      errors.push(fieldError(`${fa}.options`, 'unique', 'validation.rule.unique'));
    if (f.minLength !== undefined && f.maxLength !== undefined && f.minLength > f.maxLength)
      errors.push(fieldError(`${fa}.minLength`, 'min_above_max', 'flow.min_above_max'));
    if (f.min !== undefined && f.max !== undefined && f.min > f.max) errors.push(fieldError(`${fa}.min`, 'min_above_max', 'flow.min_above_max'));
    if (f.pattern !== undefined) {
      try {
        new RegExp(f.pattern, 'u');
      } catch {
        errors.push(fieldError(`${fa}.pattern`, 'pattern_invalid', 'flow.pattern_invalid'));
      }
    }
    const old = before?.fields?.find((o) => o.name === f.name);
    if (old && old.kind !== f.kind) errors.push(fieldError(`${fa}.kind`, 'id_changed', 'flow.id_changed', { stepId: `${s.id}.${f.name}` }));
  });
}

/** The first dependency cycle among the steps (ids in order, the first repeated at the end), or null. */
function findCycle(steps: ReadonlyArray<{ id: string; dependencies: readonly string[] }>): string[] | null {
  const deps = new Map(steps.map((s) => [s.id, s.dependencies]));
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): string[] | null => {
    const st = state.get(id);
    if (st === 'done') return null;
    if (st === 'visiting') return [...path.slice(path.indexOf(id)), id];
    state.set(id, 'visiting');
    path.push(id);
    for (const d of deps.get(id) ?? []) {
      if (!deps.has(d)) continue;
      const c = visit(d);
      if (c) return c;
    }
    path.pop();
    state.set(id, 'done');
    return null;
  };
  for (const s of steps) {
    const c = visit(s.id);
    if (c) return c;
  }
  return null;
}
