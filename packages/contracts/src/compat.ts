import { z } from 'zod';
import { knownEventVersions } from './events.js';
import type { JsonSchema } from './json-schema.js';
import * as rpc from './rpc.js';
import { ROUTES, type RouteContract } from './routes.js';
import { STEP_CATALOGS, type OnboardingType } from './steps.js';
import { ClientFrameSchema, ConnectedDataSchema, GetProgressReplyDataSchema, PUSH_DATA_SCHEMAS, SessionJoinedDataSchema, WsErrorDataSchema } from './ws.js';

/**
 * The compatibility gate: every published contract as JSON Schema (generated from the zod schemas), and the
 * rule that a deployed reader or writer of the previous release keeps working with the next one.
 *
 * Who reads a contract decides which change breaks it:
 * - `in`  (request bodies, params, queries, client frames, RPC requests): an older client still sends it, so
 *   a field may not be removed, retyped, newly required, or an enum narrowed.
 * - `out` (responses, server frames, RPC replies): an older client still reads it, so a field may not be
 *   removed, retyped or become optional, nor an enum narrowed.
 * - `both` (events: written and read by services deployed apart): all of the above.
 * - `exact` (a flow version's step catalog: the progress formula depends on it): no change at all; a changed
 *   catalog is a new flow version.
 * A breaking change goes into a new version (a new event version, RPC method or route) beside the old one.
 */
export type Direction = 'in' | 'out' | 'both' | 'exact';

export interface ContractSnapshot {
  direction: Direction;
  schema: JsonSchema;
}

/** A route's snapshot: its address and access (never changed in place) and each part's schema. */
type Snapshots = Record<string, ContractSnapshot>;

const toJson = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema =>
  z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any', reused: 'inline', cycles: 'ref' }) as JsonSchema;

/** The snapshot of one zod schema as the gate records it (`in` contracts as accepted input, the others as produced output). */
export function snapshotOf(schema: z.ZodType, direction: Direction): ContractSnapshot {
  return { direction, schema: toJson(schema, direction === 'in' || direction === 'both' ? 'input' : 'output') };
}

function routeSnapshots(name: string, r: RouteContract): Snapshots {
  const out: Snapshots = {
    [`http/${name}/route`]: { direction: 'exact', schema: { const: { method: r.method, url: r.url, service: r.service, access: r.access } } },
  };
  if (r.params) out[`http/${name}/params`] = { direction: 'in', schema: toJson(r.params, 'input') };
  if (r.querystring) out[`http/${name}/querystring`] = { direction: 'in', schema: toJson(r.querystring, 'input') };
  if (r.body) out[`http/${name}/body`] = { direction: 'in', schema: toJson(r.body, 'input') };
  for (const [status, schema] of Object.entries(r.responses)) out[`http/${name}/${status}`] = { direction: 'out', schema: toJson(schema, 'output') };
  return out;
}

const RPC_MESSAGES: Record<string, { request: z.ZodType; reply: z.ZodType }> = {
  'session.get': { request: rpc.SessionGetRequestSchema, reply: rpc.SessionGetReplySchema },
  'session.user': { request: rpc.SessionUserRequestSchema, reply: rpc.SessionUserReplySchema },
  'progress.get': { request: rpc.ProgressGetRequestSchema, reply: rpc.ProgressGetReplySchema },
  'session.tenant_smtp': { request: rpc.TenantSmtpRequestSchema, reply: rpc.TenantSmtpReplySchema },
};

/** Every contract this build publishes, keyed by a stable name (also the snapshot's file name). */
export function contractSnapshots(): Snapshots {
  const out: Snapshots = {};
  for (const { type, version, schema } of knownEventVersions()) out[`events/${type}@v${version}`] = { direction: 'both', schema: toJson(schema, 'input') };
  for (const method of rpc.RPC_METHODS) {
    const m = RPC_MESSAGES[method];
    // A method without its messages here is not covered by the gate: a new method must be added above.
    if (!m) throw new Error(`RPC method ${method} has no request/reply schemas in compat.ts`);
    out[`rpc/${method}@v1/request`] = { direction: 'in', schema: toJson(m.request, 'input') };
    out[`rpc/${method}@v1/reply`] = { direction: 'out', schema: toJson(m.reply, 'output') };
  }
  for (const option of ClientFrameSchema.options) {
    const event = (option.shape.event as z.ZodLiteral<string>).value;
    out[`ws/client/${event}`] = { direction: 'in', schema: toJson(option, 'input') };
  }
  const serverData: Record<string, z.ZodType> = {
    connected: ConnectedDataSchema,
    session_joined: SessionJoinedDataSchema,
    error: WsErrorDataSchema,
    get_progress_reply: GetProgressReplyDataSchema,
    ...PUSH_DATA_SCHEMAS,
  };
  for (const [event, schema] of Object.entries(serverData)) out[`ws/server/${event}`] = { direction: 'out', schema: toJson(schema, 'output') };
  for (const [name, route] of Object.entries(ROUTES) as Array<[string, RouteContract]>) Object.assign(out, routeSnapshots(name, route));
  for (const [type, steps] of Object.entries(STEP_CATALOGS) as Array<[OnboardingType, (typeof STEP_CATALOGS)[OnboardingType]]>) {
    const catalog = steps.map((s) => ({ id: s.id, isRequired: s.isRequired, estimatedTime: s.estimatedTime, dependencies: s.dependencies }));
    out[`flows/${type}@v1`] = { direction: 'exact', schema: { const: catalog } };
  }
  return out;
}

// ---- comparison ----

export interface Finding {
  key: string;
  path: string;
  problem: string;
}

type Schema = JsonSchema & {
  enum?: unknown[];
  const?: unknown;
  oneOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  prefixItems?: JsonSchema[];
};

function resolve(node: Schema, root: Schema): Schema {
  let n = node;
  for (let i = 0; n.$ref && i < 20; i++) {
    const ref = n.$ref;
    if (ref === '#') n = root;
    else if (ref.startsWith('#/$defs/')) n = (root.$defs?.[ref.slice('#/$defs/'.length)] ?? {}) as Schema;
    else break;
  }
  return n;
}

function typesOf(s: Schema): Set<string> | null {
  const t = new Set<string>();
  if (s.type !== undefined) (Array.isArray(s.type) ? s.type : [s.type]).forEach((x) => t.add(x));
  else if (s.enum)
    s.enum.forEach((v) =>
      t.add(v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : typeof v),
    );
  else if (s.const !== undefined)
    t.add(s.const === null ? 'null' : typeof s.const === 'object' ? 'object' : typeof s.const === 'number' ? 'number' : typeof s.const);
  else return null;
  return t;
}

const accepts = (newer: Set<string>, type: string) => newer.has(type) || (type === 'integer' && newer.has('number'));

function branches(s: Schema): Schema[] | null {
  return (s.anyOf ?? s.oneOf ?? null) as Schema[] | null;
}

/** Findings for `newer` replacing `older` at one place in a contract read or written in `direction`. */
function compare(
  older: Schema,
  newer: Schema,
  direction: Direction,
  path: string,
  roots: { older: Schema; newer: Schema },
  depth: number,
  out: Array<Omit<Finding, 'key'>>,
): void {
  if (depth > 40) return;
  const o = resolve(older, roots.older);
  const n = resolve(newer, roots.newer);
  if (direction === 'exact') {
    if (JSON.stringify(o) !== JSON.stringify(n)) out.push({ path, problem: 'changed (this contract may not change in place: add a new version)' });
    return;
  }
  const ob = branches(o);
  const nb = branches(n);
  if (ob || nb) {
    // Each older alternative must still be there as some newer alternative it is compatible with.
    for (const [i, branch] of (ob ?? [o]).entries()) {
      const candidates = nb ?? [n];
      const fits = candidates.some((c) => {
        const probe: Array<Omit<Finding, 'key'>> = [];
        compare(branch, c, direction, path, roots, depth + 1, probe);
        return probe.length === 0;
      });
      if (!fits) {
        const probe: Array<Omit<Finding, 'key'>> = [];
        if (candidates.length === 1) compare(branch, candidates[0]!, direction, path, roots, depth + 1, probe);
        out.push(
          ...(probe.length > 0
            ? probe
            : [{ path: ob ? `${path}|${i}` : path, problem: 'an alternative of the older contract has no compatible one any more' }]),
        );
      }
    }
    return;
  }
  const ot = typesOf(o);
  const nt = typesOf(n);
  if (ot && nt) {
    const lost = [...ot].filter((t) => !accepts(nt, t));
    if (lost.length > 0) {
      out.push({ path, problem: `retyped (${[...ot].join('|')} → ${[...nt].join('|')})` });
      return;
    }
  }
  const oEnum = o.enum ?? (o.const !== undefined ? [o.const] : undefined);
  const nEnum = n.enum ?? (n.const !== undefined ? [n.const] : undefined);
  if (oEnum && nEnum) {
    const gone = oEnum.filter((v) => !nEnum.some((w) => JSON.stringify(w) === JSON.stringify(v)));
    if (gone.length > 0) out.push({ path, problem: `enum narrowed (${gone.map((v) => JSON.stringify(v)).join(', ')} no longer allowed)` });
  } else if (!oEnum && nEnum) out.push({ path, problem: 'narrowed to fixed values' });
  const oProps = o.properties ?? {};
  const nProps = n.properties ?? {};
  const oReq = new Set(o.required ?? []);
  const nReq = new Set(n.required ?? []);
  for (const [name, prop] of Object.entries(oProps)) {
    const p = path ? `${path}.${name}` : name;
    const next = nProps[name];
    if (!next) {
      // Inputs that never refused unknown fields still accept it: only a removal readers or senders notice counts.
      out.push({ path: p, problem: 'removed' });
      continue;
    }
    if (direction !== 'in' && oReq.has(name) && !nReq.has(name)) out.push({ path: p, problem: 'no longer required (older readers expect it)' });
    compare(prop as Schema, next as Schema, direction, p, roots, depth + 1, out);
  }
  if (direction !== 'out') {
    for (const name of nReq) if (!oReq.has(name)) out.push({ path: path ? `${path}.${name}` : name, problem: 'newly required (older senders do not send it)' });
  }
  if (o.items && n.items) compare(o.items as Schema, n.items as Schema, direction, `${path}[]`, roots, depth + 1, out);
  if (o.additionalProperties && typeof o.additionalProperties === 'object' && n.additionalProperties && typeof n.additionalProperties === 'object') {
    compare(o.additionalProperties as Schema, n.additionalProperties as Schema, direction, `${path}{}`, roots, depth + 1, out);
  }
}

export interface CompatReport {
  breaking: Finding[];
  /** Contracts not in the snapshots yet (additive); `contracts:snapshot` records them. */
  added: string[];
  /** Contracts that changed compatibly since their snapshot (e.g. a new optional field). */
  changed: string[];
}

/** Compares the committed snapshots with the contracts of this build. */
export function checkCompatibility(committed: Snapshots, current: Snapshots): CompatReport {
  const breaking: Finding[] = [];
  const changed: string[] = [];
  for (const [key, old] of Object.entries(committed)) {
    const now = current[key];
    if (!now) {
      breaking.push({ key, path: '', problem: 'removed (retire a version only once no deployed service uses it, and record that with contracts:snapshot)' });
      continue;
    }
    const found: Array<Omit<Finding, 'key'>> = [];
    compare(old.schema as Schema, now.schema as Schema, old.direction, '', { older: old.schema as Schema, newer: now.schema as Schema }, 0, found);
    if (old.direction !== now.direction) found.push({ path: '', problem: `direction changed (${old.direction} → ${now.direction})` });
    breaking.push(...found.map((f) => ({ key, ...f })));
    if (found.length === 0 && JSON.stringify(old) !== JSON.stringify(now)) changed.push(key);
  }
  const added = Object.keys(current).filter((k) => !(k in committed));
  return { breaking, added, changed };
}
