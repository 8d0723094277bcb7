import { h, humanize } from './dom.js';

/** The part of JSON Schema (draft 2020-12) the step schemas use. */
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  format?: string;
  writeOnly?: boolean;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  default?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  definitions?: Record<string, JsonSchema>;
}

export interface FieldError {
  field: string;
  rule: string;
  message: string;
}

export interface SchemaForm {
  element: HTMLElement;
  /** The data to send: empty inputs and untouched optional groups are left out. */
  value(): Record<string, unknown>;
  /** Shows each error next to its field; returns those that match no field (shown by the caller). */
  showErrors(errors: readonly FieldError[]): FieldError[];
  clearErrors(): void;
}

interface FieldNode {
  element: HTMLElement;
  read(): unknown;
  /** Registers the error slot of this node and its children under their dotted paths. */
  slots(path: string, out: Map<string, HTMLElement>): void;
}

// Credentials never come back from the server (they are masked), so these fields start empty.
const SECRET_NAME = /(password|secret|token|apikey|api_key|privatekey|connectionstring)$/i;
/** How the server shows a stored credential (contracts' MASK). */
const STORED_SECRET_MASK = '********';

interface Ctx {
  root: JsonSchema;
  idPrefix: string;
}

function resolve(ctx: Ctx, schema: JsonSchema): JsonSchema {
  let s = schema;
  for (let i = 0; s.$ref && i < 10; i++) {
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(s.$ref);
    const target = m ? (m[1] === '$defs' ? ctx.root.$defs : ctx.root.definitions)?.[decodeURIComponent(m[2]!)] : undefined;
    if (!target) break;
    s = { ...target, ...s, $ref: undefined };
  }
  // A nullable value (anyOf [X, null]) is edited as X.
  const variants = s.anyOf ?? s.oneOf;
  if (variants) {
    const nonNull = variants.filter((v) => v.type !== 'null');
    if (nonNull.length === 1) return resolve(ctx, { ...s, anyOf: undefined, oneOf: undefined, ...nonNull[0] });
  }
  return s;
}

function typeOf(s: JsonSchema): string | undefined {
  if (Array.isArray(s.type)) return s.type.find((t) => t !== 'null');
  if (s.type) return s.type;
  if (s.properties) return 'object';
  if (s.enum) return 'string';
  return undefined;
}

const domId = (ctx: Ctx, path: string) => `${ctx.idPrefix}-${path.replace(/[^A-Za-z0-9_-]/g, '_')}`;

function errorSlot(path: string): HTMLElement {
  return h('p', { class: 'field-error', testid: `field-error-${path}`, role: 'alert', hidden: true });
}

function hint(s: JsonSchema): HTMLElement | null {
  return s.description ? h('p', { class: 'hint' }, s.description) : null;
}

/**
 * Builds a form from a step's JSON Schema. `path` is the dotted path the server uses in 422 details
 * (`teamMembers.0.email`); `data-testid`s follow it: `field-<path>`, `field-error-<path>`.
 */
export function createSchemaForm(schema: JsonSchema, initial: Record<string, unknown> | undefined, idPrefix = 'f'): SchemaForm {
  const ctx: Ctx = { root: schema, idPrefix };
  const root = objectNode(ctx, resolve(ctx, schema), '', initial ?? {}, true, true);
  const formLevel = h('div', { class: 'form-errors', testid: 'form-errors', role: 'alert', hidden: true });
  const element = h('div', { class: 'schema-form' }, root.element, formLevel);

  function clearErrors(): void {
    for (const el of element.querySelectorAll<HTMLElement>('.field-error')) {
      el.hidden = true;
      el.textContent = '';
    }
    for (const el of element.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    formLevel.hidden = true;
    formLevel.replaceChildren();
  }

  return {
    element,
    value: () => (root.read() as Record<string, unknown> | undefined) ?? {},
    clearErrors,
    showErrors(errors) {
      clearErrors();
      const slots = new Map<string, HTMLElement>();
      root.slots('', slots);
      const unmatched: FieldError[] = [];
      for (const err of errors) {
        // The field itself, else its closest shown ancestor (an error on a group, or a hidden row).
        let path = err.field;
        let slot = slots.get(path);
        while (!slot && path.includes('.')) {
          path = path.slice(0, path.lastIndexOf('.'));
          slot = slots.get(path);
        }
        if (!slot || slot.parentElement?.closest('[hidden]')) {
          unmatched.push(err);
          continue;
        }
        slot.hidden = false;
        slot.append(h('span', {}, err.message));
        const input = element.querySelector<HTMLElement>(`[data-path="${CSS.escape(path)}"]`);
        input?.setAttribute('aria-invalid', 'true');
      }
      if (unmatched.length > 0) {
        formLevel.hidden = false;
        formLevel.append(...unmatched.map((e) => h('p', { testid: `form-error-${e.field || 'body'}` }, e.field ? `${e.field}: ${e.message}` : e.message)));
      }
      return unmatched;
    },
  };
}

function fieldNode(ctx: Ctx, raw: JsonSchema, path: string, name: string, initial: unknown, required: boolean): FieldNode {
  const s = resolve(ctx, raw);
  const type = typeOf(s);
  if (type === 'object') return objectNode(ctx, s, path, (initial as Record<string, unknown> | undefined) ?? undefined, required, false, name);
  if (type === 'array') {
    const items = resolve(ctx, s.items ?? {});
    const itemType = typeOf(items);
    if (itemType === 'object') return objectArrayNode(ctx, s, items, path, name, initial, required);
    if (items.enum) return enumArrayNode(ctx, s, items, path, name, initial, required);
    return listNode(ctx, s, items, path, name, initial, required);
  }
  if (type === 'boolean') return booleanNode(ctx, s, path, name, initial, required);
  if (type === 'string' || type === 'number' || type === 'integer') return scalarNode(ctx, s, type, path, name, initial, required);
  return jsonNode(ctx, s, path, name, initial, required);
}

function labelFor(ctx: Ctx, s: JsonSchema, path: string, name: string, required: boolean): HTMLLabelElement {
  return h('label', { for: domId(ctx, path) }, s.title ?? humanize(name), required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null);
}

function wrap(path: string, ...children: Array<HTMLElement | null>): HTMLElement {
  return h('div', { class: 'field', 'data-field': path }, ...children);
}

function scalarNode(ctx: Ctx, s: JsonSchema, type: string, path: string, name: string, initial: unknown, required: boolean): FieldNode {
  const id = domId(ctx, path);
  const err = errorSlot(path);
  const common = { id, name: path, 'data-path': path, testid: `field-${path}`, required, 'aria-required': required ? 'true' : undefined };
  let control: HTMLInputElement | HTMLSelectElement;
  let keepsStoredSecret = false;
  if (s.enum) {
    const select = h('select', common, required ? null : h('option', { value: '' }, '—'));
    for (const option of s.enum) select.append(h('option', { value: String(option) }, String(option)));
    select.value = initial === undefined || initial === null ? (required ? String(s.enum[0]) : '') : String(initial);
    control = select;
  } else {
    const secret = s.writeOnly === true || s.format === 'password' || SECRET_NAME.test(name);
    keepsStoredSecret = secret && initial === STORED_SECRET_MASK;
    const inputType = secret ? 'password' : type !== 'string' ? 'number' : s.format === 'email' ? 'email' : 'text';
    const input = h('input', {
      ...common,
      type: inputType,
      autocomplete: secret ? 'new-password' : 'off',
      step: type === 'integer' ? 1 : type === 'number' ? 'any' : undefined,
      min: s.minimum,
      max: s.maximum,
      placeholder:
        secret && typeof initial === 'string' ? 'saved: leave empty to keep it, type to replace it' : s.pattern === '^#[0-9A-Fa-f]{6}$' ? '#RRGGBB' : undefined,
    });
    // The browser's own checks (type=email, min/max) stay off: the server's 422 is the one truth shown.
    input.setAttribute('formnovalidate', '');
    if (!secret && initial !== undefined && initial !== null) input.value = String(initial);
    control = input;
  }
  return {
    element: wrap(path, labelFor(ctx, s, path, name, required), control, err, hint(s)),
    read() {
      const v = control.value;
      // A stored credential comes back as the server's mask; sending the mask keeps it (the server swaps it back).
      if (v === '' && keepsStoredSecret) return initial;
      if (v === '') return undefined;
      if (type === 'string') return v;
      const n = Number(v);
      return Number.isFinite(n) ? n : v;
    },
    slots(p, out) {
      out.set(p, err);
    },
  };
}

function booleanNode(ctx: Ctx, s: JsonSchema, path: string, name: string, initial: unknown, required: boolean): FieldNode {
  const id = domId(ctx, path);
  const err = errorSlot(path);
  if (required) {
    const box = h('input', { type: 'checkbox', id, name: path, 'data-path': path, testid: `field-${path}` });
    box.checked = initial === true;
    return {
      element: h('div', { class: 'field checkbox', 'data-field': path }, box, h('label', { for: id }, s.title ?? humanize(name)), err, hint(s)),
      read: () => box.checked,
      slots(p, out) {
        out.set(p, err);
      },
    };
  }
  // An optional yes/no keeps "not set" apart from "no".
  const select = h(
    'select',
    { id, name: path, 'data-path': path, testid: `field-${path}` },
    h('option', { value: '' }, '—'),
    h('option', { value: 'true' }, 'Yes'),
    h('option', { value: 'false' }, 'No'),
  );
  select.value = initial === true ? 'true' : initial === false ? 'false' : '';
  return {
    element: wrap(path, labelFor(ctx, s, path, name, false), select, err, hint(s)),
    read: () => (select.value === '' ? undefined : select.value === 'true'),
    slots(p, out) {
      out.set(p, err);
    },
  };
}

function listNode(ctx: Ctx, s: JsonSchema, items: JsonSchema, path: string, name: string, initial: unknown, required: boolean): FieldNode {
  const id = domId(ctx, path);
  const err = errorSlot(path);
  const numeric = typeOf(items) === 'number' || typeOf(items) === 'integer';
  const area = h('textarea', { id, name: path, 'data-path': path, testid: `field-${path}`, rows: 3, 'aria-describedby': `${id}-hint` });
  if (Array.isArray(initial)) area.value = initial.map(String).join('\n');
  return {
    element: wrap(
      path,
      labelFor(ctx, s, path, name, required),
      area,
      err,
      h('p', { class: 'hint', id: `${id}-hint` }, 'One per line (or comma-separated).'),
      hint(s),
    ),
    read() {
      const parts = area.value
        .split(/[\n,]/)
        .map((v) => v.trim())
        .filter(Boolean);
      if (parts.length === 0) return required ? [] : undefined;
      return numeric ? parts.map((v) => (Number.isFinite(Number(v)) ? Number(v) : v)) : parts;
    },
    slots(p, out) {
      out.set(p, err);
    },
  };
}

function enumArrayNode(ctx: Ctx, s: JsonSchema, items: JsonSchema, path: string, name: string, initial: unknown, required: boolean): FieldNode {
  const err = errorSlot(path);
  const chosen = new Set(Array.isArray(initial) ? initial.map(String) : []);
  const boxes = (items.enum ?? []).map((option) => {
    const value = String(option);
    const id = domId(ctx, `${path}.${value}`);
    const box = h('input', { type: 'checkbox', id, value, 'data-path': path, testid: `field-${path}-${value}` });
    box.checked = chosen.has(value);
    return { box, element: h('span', { class: 'choice' }, box, h('label', { for: id }, humanize(value))) };
  });
  return {
    element: h(
      'fieldset',
      { class: 'field choices', 'data-field': path, testid: `field-${path}` },
      h('legend', {}, s.title ?? humanize(name)),
      ...boxes.map((b) => b.element),
      hint(s),
      err,
    ),
    read() {
      const values = boxes.filter((b) => b.box.checked).map((b) => b.box.value);
      return values.length === 0 && !required ? undefined : values;
    },
    slots(p, out) {
      out.set(p, err);
    },
  };
}

function objectNode(
  ctx: Ctx,
  s: JsonSchema,
  path: string,
  initial: Record<string, unknown> | undefined,
  required: boolean,
  isRoot: boolean,
  name = '',
): FieldNode {
  const props = Object.entries(s.properties ?? {});
  const requiredKeys = new Set(s.required ?? []);
  const children = props.map(([key, child]) => ({
    key,
    node: fieldNode(ctx, child, path ? `${path}.${key}` : key, key, initial?.[key], requiredKeys.has(key)),
  }));
  const err = errorSlot(path);
  const body = h('div', { class: 'fields' }, ...children.map((c) => c.node.element));
  const readObject = () => {
    const out: Record<string, unknown> = {};
    for (const { key, node } of children) {
      const v = node.read();
      if (v !== undefined) out[key] = v;
    }
    return out;
  };
  const slots = (p: string, out: Map<string, HTMLElement>) => {
    if (p) out.set(p, err);
    for (const { key, node } of children) node.slots(p ? `${p}.${key}` : key, out);
  };
  if (isRoot) return { element: h('div', { class: 'fields-root' }, body, err), read: readObject, slots };

  // An optional group is sent only when switched on, so an untouched one never fails its own required fields.
  let include: HTMLInputElement | null = null;
  if (!required) {
    include = h('input', { type: 'checkbox', id: domId(ctx, `${path}.__include`), testid: `include-${path}`, 'aria-controls': domId(ctx, `${path}.__body`) });
    include.checked = initial !== undefined && initial !== null;
    body.id = domId(ctx, `${path}.__body`);
  }
  const legend = h(
    'legend',
    {},
    include ? h('span', { class: 'choice' }, include, h('label', { for: include.id }, s.title ?? humanize(name))) : (s.title ?? humanize(name)),
  );
  const description = hint(s);
  const fieldset = h('fieldset', { class: 'group', 'data-field': path, testid: `group-${path}` }, legend, description, body, err);
  if (include) {
    const toggle = include;
    const sync = () => {
      body.hidden = !toggle.checked;
      if (description) description.hidden = !toggle.checked;
      fieldset.classList.toggle('collapsed', !toggle.checked);
    };
    toggle.addEventListener('change', sync);
    sync();
  }
  return {
    element: fieldset,
    read: () => (include && !include.checked ? undefined : readObject()),
    slots,
  };
}

function objectArrayNode(ctx: Ctx, s: JsonSchema, items: JsonSchema, path: string, name: string, initial: unknown, required: boolean): FieldNode {
  const err = errorSlot(path);
  const rowsEl = h('div', { class: 'rows' });
  let rows: FieldNode[] = [];
  const itemLabel = humanize(name).replace(/s$/, '');

  // Rows are named by index, as the server reports errors (`teamMembers.0.email`); a removal renumbers them.
  function render(values: Array<Record<string, unknown> | undefined>): void {
    rows = values.map((value, i) => objectNode(ctx, items, `${path}.${i}`, value, true, true));
    rowsEl.replaceChildren(
      ...rows.map((node, i) => {
        const remove = h(
          'button',
          { type: 'button', class: 'link', testid: `remove-${path}.${i}`, 'aria-label': `Remove ${itemLabel.toLowerCase()} ${i + 1}` },
          'Remove',
        );
        remove.addEventListener('click', () => {
          const current = rows.map((r) => r.read() as Record<string, unknown> | undefined);
          current.splice(i, 1);
          render(current);
        });
        return h(
          'div',
          { class: 'row', testid: `row-${path}.${i}` },
          h('div', { class: 'row-head' }, h('span', {}, `${itemLabel} ${i + 1}`), remove),
          node.element,
        );
      }),
    );
  }

  const add = h('button', { type: 'button', testid: `add-${path}` }, `Add ${itemLabel.toLowerCase()}`);
  add.addEventListener('click', () => {
    render([...rows.map((r) => r.read() as Record<string, unknown> | undefined), undefined]);
    rowsEl.querySelector<HTMLElement>(`.row:last-child [data-path]`)?.focus();
  });
  render(Array.isArray(initial) ? (initial as Array<Record<string, unknown>>) : []);

  return {
    element: h(
      'fieldset',
      { class: 'group', 'data-field': path, testid: `group-${path}` },
      h('legend', {}, s.title ?? humanize(name)),
      hint(s),
      rowsEl,
      add,
      err,
    ),
    read() {
      const values = rows.map((r) => r.read() ?? {});
      return values.length === 0 && !required ? undefined : values;
    },
    slots(p, out) {
      out.set(p, err);
      rows.forEach((r, i) => {
        r.slots(`${p}.${i}`, out);
      });
    },
  };
}

function jsonNode(ctx: Ctx, s: JsonSchema, path: string, name: string, initial: unknown, required: boolean): FieldNode {
  const id = domId(ctx, path);
  const err = errorSlot(path);
  const area = h('textarea', { id, name: path, 'data-path': path, testid: `field-${path}`, rows: 3, class: 'mono' });
  if (initial !== undefined) area.value = JSON.stringify(initial, null, 2);
  return {
    element: wrap(path, labelFor(ctx, s, path, name, required), area, err, h('p', { class: 'hint' }, 'JSON value.'), hint(s)),
    read() {
      if (area.value.trim() === '') return undefined;
      try {
        return JSON.parse(area.value) as unknown;
      } catch {
        // Sent as text: the server answers which field is wrong.
        return area.value;
      }
    },
    slots(p, out) {
      out.set(p, err);
    },
  };
}
