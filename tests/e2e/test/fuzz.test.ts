/**
 * Fuzz suite: ≥ 10,000 generated HTTP requests over every `ROUTES` entry and ≥ 1,000 WebSocket frames, all
 * through the gateway of a real system. Generated from the zod contracts (`z.toJSONSchema` → fast-check),
 * then broken on purpose: wrong types, missing and extra fields, huge and deep JSON, bad UTF-8, wrong
 * content types, path traversal, very long ids, odd query strings, odd tokens, odd methods, malformed HTTP.
 *
 * Every answer must be < 500; every 4xx an `ErrorBodySchema` body with a message; every 2xx of a contract
 * route must match the contract's response schema; no process may crash.
 */
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MAX_HEADER_BYTES,
  MAX_PARAM_LENGTH,
  MAX_URL_LENGTH,
  AGENT_STEP_DATA_SCHEMAS,
  AuditRecordSchema,
  AGENT_WELCOME_STEPS,
  ClientFrameSchema,
  CONNECTION_CONFIG_SCHEMAS,
  ErrorBodySchema,
  PUSH_EVENTS,
  ROUTES,
  type RouteContract,
  TENANT_SETUP_STEPS,
  TENANT_STEP_DATA_SCHEMAS,
  StatisticsExportRowSchema,
  WS_CLOSE,
  WsErrorDataSchema,
} from '@glavito/contracts';
import { TEST_JWT_SECRET } from '@glavito/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { z } from 'zod';
import { OpenApiSpec, valuesOf } from './openapi-conformance.js';
import { startSystem, type System } from './system.js';

const SEED = Number(process.env.FUZZ_SEED || 20_240_601);
const HTTP_REQUESTS = Number(process.env.FUZZ_HTTP_REQUESTS ?? 10_400);
/** Requests generated from the OpenAPI document itself (its parameters and bodies), each judged against it. */
const OPENAPI_REQUESTS = Number(process.env.FUZZ_OPENAPI_REQUESTS ?? 2_000);
const HTTP_CONCURRENCY = 16;
const WS_SOCKETS = 8;
const WS_FRAMES_PER_SOCKET = 135;
/** The realtime default (WS_MESSAGES_PER_SECOND = 20): paced just under it, so frames are judged, not throttled. */
const WS_FRAME_INTERVAL_MS = 52;
const WS_MAX_FRAME_BYTES = 16_384;

/**
 * 5xx answers that are acceptable, each with its reason. Keep empty: nothing here is down on purpose, so a
 * 503 (dependency down) or any other 5xx is a bug.
 */
const ALLOWED_5XX: ReadonlyArray<{ route: string; status: number; why: string }> = [];

/** Close codes a fuzzed socket may legitimately end with, and why. */
const DOCUMENTED_CLOSES: Record<number, string> = {
  1009: 'frame larger than WS_MAX_FRAME_BYTES (RFC 6455 "message too big")',
  1007: 'text frame that is not valid UTF-8 (RFC 6455 "invalid frame payload data")',
  [WS_CLOSE.rateLimited]: 'flooding beyond WS_MESSAGES_PER_SECOND (ARCHITECTURE §4)',
};

let sys: System;
/** The document the gateway serves: every answer must be one it documents, with a body that matches it. */
let spec: OpenApiSpec;
const ids = {
  adminA: { userId: 'fz-admin-a', tenantId: 'fz-tenant-a', roles: ['admin'] },
  agentA: { userId: 'fz-agent-a', tenantId: 'fz-tenant-a', roles: ['agent'] },
  adminB: { userId: 'fz-admin-b', tenantId: 'fz-tenant-b', roles: ['admin'] },
};
const tokens = { adminA: '', agentA: '', adminB: '' };
/** Real session ids, filled in beforeAll. */
const sessions = { adminA: '', agentA: '', adminB: '' };

// ─── tokens ─────────────────────────────────────────────────────────────────────────────────────────────
function jwt(payload: Record<string, unknown>, opts: { secret?: string; header?: Record<string, unknown>; unsigned?: boolean } = {}): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const data = `${b64(opts.header ?? { alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  if (opts.unsigned) return `${data}.`;
  return `${data}.${createHmac('sha256', opts.secret ?? TEST_JWT_SECRET)
    .update(data)
    .digest('base64url')}`;
}
const now = () => Math.floor(Date.now() / 1000);
const claimsA = () => ({ sub: ids.adminA.userId, tenantId: ids.adminA.tenantId, roles: ['admin'], iat: now(), exp: now() + 3600 });

/** Authorization header values that must all end in 401 (or 4401 on a socket). */
function badAuthorizations(): string[] {
  return [
    'Bearer ',
    'Bearer not.a.jwt',
    'bearer ' + jwt(claimsA()),
    'Basic ZnV6ejpmdXp6',
    `Bearer ${jwt(claimsA(), { header: { alg: 'none', typ: 'JWT' }, unsigned: true })}`,
    `Bearer ${jwt({ ...claimsA(), iat: now() - 7200, exp: now() - 3600 })}`,
    `Bearer ${jwt(claimsA(), { secret: 'another-secret-that-is-long-enough-0123456789' })}`,
    `Bearer ${jwt(claimsA(), { header: { alg: 'HS512', typ: 'JWT' } })}`,
    `Bearer ${jwt({ sub: 'x', iat: now(), exp: now() + 60 })}`,
    `Bearer ${jwt({ sub: 42, tenantId: ['t'], roles: 'admin', iat: now(), exp: now() + 60 })}`,
    `Bearer ${jwt({ ...claimsA(), sub: 'u'.repeat(1000) })}`,
    `Bearer ${jwt({ ...claimsA(), tenantId: '../../etc/passwd' })}`,
    `Bearer ${'a'.repeat(8000)}`,
    `Bearer ${jwt(claimsA())}x`,
    `Bearer ${jwt(claimsA())} ${jwt(claimsA())}`,
    'Bearer \u00ff\u00fe\u00e9',
  ];
}

// ─── JSON Schema → fast-check ───────────────────────────────────────────────────────────────────────────
interface JS {
  type?: string;
  properties?: Record<string, JS>;
  required?: string[];
  additionalProperties?: boolean | JS;
  propertyNames?: JS;
  items?: JS;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JS[];
  oneOf?: JS[];
  minimum?: number;
  maximum?: number;
}

const toJs = (schema: z.ZodType): JS => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JS;

/** Strings that are valid for an unconstrained string field and hurt storage or logs if mishandled. */
const NASTY_STRINGS = [
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\ud83d',
  '\uffff\ufffe',
  '\ufeffbom',
  '😀👍🏽👨‍👩‍👧',
  '\u202egnp.exe',
  'é'.repeat(60),
  "'; DROP TABLE session.sessions; --",
  '${jndi:ldap://x}',
  '<script>alert(1)</script>',
  '%00',
  '%s%s%s%n',
  '../../etc/passwd',
  '\\\\server\\share',
  '"',
  '\n\r\t\b\f\v',
  ' ',
  '',
  'null',
  '__proto__',
  'constructor',
  'toString',
];

const isoInstant = fc
  .oneof(
    fc.date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
    fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true }),
    fc.constantFrom(new Date('0000-01-01T00:00:00Z'), new Date('9999-12-31T23:59:59.999Z'), new Date('1970-01-01T00:00:00Z')),
  )
  .chain((d) =>
    fc.constantFrom(d.toISOString(), d.toISOString().replace('Z', '+23:59'), d.toISOString().replace('Z', '-12:00'), d.toISOString().replace(/\.\d+Z$/, 'Z')),
  );

function fromSchema(s: JS, depth = 0): fc.Arbitrary<unknown> {
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives) return fc.oneof(...alternatives.map((a) => fromSchema(a, depth)));
  switch (s.type) {
    case 'object': {
      const props = s.properties ?? {};
      const model = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, fromSchema(v, depth + 1)]));
      const known = fc.record(model, { requiredKeys: (s.required ?? []).filter((k) => k in props) });
      if (s.additionalProperties === false || depth > 3) return known;
      const valueSchema = typeof s.additionalProperties === 'object' ? s.additionalProperties : {};
      const keys = s.propertyNames ? (fromSchema({ ...s.propertyNames, type: 'string' }, depth + 1) as fc.Arbitrary<string>) : fc.string({ maxLength: 12 });
      return fc.tuple(known, fc.dictionary(keys, fromSchema(valueSchema, depth + 1), { maxKeys: 4 })).map(([k, extra]) => ({ ...extra, ...(k as object) }));
    }
    case 'array':
      return fc.array(fromSchema(s.items ?? {}, depth + 1), { minLength: s.minItems ?? 0, maxLength: Math.max(s.minItems ?? 0, Math.min(s.maxItems ?? 4, 4)) });
    case 'string': {
      if (s.format === 'date-time') return isoInstant;
      if (s.format === 'uuid') return fc.uuid();
      if (s.format === 'email') return fc.emailAddress();
      if (s.pattern) return fc.stringMatching(new RegExp(s.pattern));
      const max = Math.min(s.maxLength ?? 40, 40);
      const min = Math.min(s.minLength ?? 0, max);
      return fc.oneof(
        { weight: 5, arbitrary: fc.string({ minLength: min, maxLength: max, unit: 'grapheme' }) },
        { weight: 2, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
        { weight: 1, arbitrary: fc.string({ minLength: min, maxLength: max, unit: 'binary' }) },
      );
    }
    case 'integer':
      return fc.integer({ min: s.minimum ?? -1_000_000, max: s.maximum ?? 1_000_000 });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true, min: s.minimum ?? -1e12, max: s.maximum ?? 1e12 });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    default:
      return depth > 3 ? fc.constantFrom<unknown>(1, 'x', null, true) : fc.jsonValue({ maxDepth: 2 });
  }
}

// ─── mutations ──────────────────────────────────────────────────────────────────────────────────────────
type Path = (string | number)[];

function pathsOf(v: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (out.length > 200) return out;
  if (Array.isArray(v)) v.forEach((x, i) => pathsOf(x, [...prefix, i], out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) pathsOf(x, [...prefix, k], out);
  return out;
}

function update(v: unknown, path: Path, fn: (old: unknown, parent: unknown, key: string | number | undefined) => unknown): unknown {
  if (path.length === 0) return fn(v, undefined, undefined);
  const clone: unknown = structuredClone(v);
  let parent = clone as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  const next = fn(parent[last], parent, last);
  if (next === DELETE) {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else parent[last] = next;
  return clone;
}
const DELETE = Symbol('delete');

const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.constantFrom(-0, 1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER + 2, -1, 0, 2 ** 31, 2 ** 64),
  fc.string({ maxLength: 20 }),
  fc.constantFrom(...NASTY_STRINGS),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('1', 'true', 'null', '[]', '{}', 'NaN'),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
  fc.integer({ min: 1_000, max: 20_000 }).map((n) => 'x'.repeat(n)),
);

const EXTRA_KEYS = [
  'extra',
  'id',
  'tenantId',
  'userId',
  'status',
  'completed',
  '__proto__',
  'constructor',
  'prototype',
  '',
  ' ',
  '\u0000',
  'a'.repeat(300),
  '$where',
];

type MutationOp = 'drop' | 'extra' | 'wrong' | 'wrap' | 'nullify';
function mutated(valid: fc.Arbitrary<unknown>): fc.Arbitrary<{ value: unknown; op: MutationOp }> {
  return fc
    .tuple(valid, fc.nat(), fc.constantFrom<MutationOp>('drop', 'extra', 'wrong', 'wrong', 'wrap', 'nullify'), wrongValue, fc.constantFrom(...EXTRA_KEYS))
    .map(([v, i, op, wrong, key]) => {
      const paths = pathsOf(v);
      const path = paths[i % paths.length]!;
      switch (op) {
        case 'drop':
          return { op, value: path.length === 0 ? {} : update(v, path, () => DELETE) };
        case 'extra': {
          const objects = paths.filter((p) => {
            let cur: unknown = v;
            for (const k of p) cur = (cur as Record<string | number, unknown>)[k];
            return cur !== null && typeof cur === 'object' && !Array.isArray(cur);
          });
          const target = objects[i % Math.max(1, objects.length)] ?? [];
          return {
            op,
            value: update(v, target, (old) => {
              const o = (old !== null && typeof old === 'object' ? old : {}) as Record<string, unknown>;
              // defineProperty: an own "__proto__" key that JSON.stringify writes out (proto poisoning).
              const copy = { ...o };
              Object.defineProperty(copy, key, { value: wrong, enumerable: true, writable: true, configurable: true });
              return copy;
            }),
          };
        }
        case 'wrong':
          return { op, value: update(v, path, () => wrong) };
        case 'wrap':
          return { op, value: update(v, path, (old) => [old]) };
        case 'nullify':
          return { op, value: update(v, path, () => null) };
      }
    });
}

// ─── request model ──────────────────────────────────────────────────────────────────────────────────────
type BodySpec =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown; tag: string }
  | { kind: 'text'; text: string; tag: string }
  | { kind: 'bytes'; bytes: number[]; tag: string }
  | { kind: 'deep'; depth: number; shape: 'array' | 'object'; wrapped: boolean }
  | { kind: 'huge'; bytes: number; shape: 'string' | 'array' | 'keys' };

interface FuzzRequest {
  route: string;
  method: string;
  path: string;
  authorization: string | null;
  contentType: string | null | undefined; // undefined: the default for the body (application/json when there is one)
  body: BodySpec;
  chunked: boolean;
  headers: Record<string, string>;
  tags: string[];
}

const RAW_JSON_TEXTS = [
  '',
  ' ',
  '{',
  '}',
  '{"a":',
  '{"a":1,}',
  "{'a':1}",
  '{"a":1}}',
  '[1,2',
  'NaN',
  'Infinity',
  '-Infinity',
  'undefined',
  '1e999',
  '{"timeout":1e999}',
  '{"minutes":1e400,"start":"2025-01-01T00:00:00Z"}',
  '{"minutes":123456789012345678901234567890,"start":"2025-01-01T00:00:00Z"}',
  '{"limit":-0}',
  '{"a":1,"a":2}',
  '\ufeff{}',
  '{"reason":"\\u0000"}',
  '{"reason":"\\ud800"}',
  '{"metadata":{"k":"\\u0000"}}',
  '{"metadata":{"\\u0000":"v"}}',
  '{"metadata":{"k":"\\udfff\\ud800"}}',
  '{"welcomeMessage":"\\u0000\\u0000"}',
  '{"teamId":"\\ud83d"}',
  '{"companyName":"Acme\\u0000Corp","primaryColor":"#112233"}',
  '{"companyName":"Acme \\ud800","primaryColor":"#112233"}',
  '{"channel":"webhook","config":{"url":"http://127.0.0.1:1/\\u0000"}}',
  '{"channel":"database","config":{"\\u0000":"\\u0000"}}',
  '{"__proto__":{"isAdmin":true}}',
  '{"constructor":{"prototype":{"isAdmin":true}}}',
  '{"data":{"__proto__":{"polluted":1}}}',
  'null',
  'true',
  '0',
  '"just a string"',
  '[]',
  '[{}]',
  '{}',
  '\u0000',
  '/*comment*/{}',
  '{"a":"\\x41"}',
  '{"a":"\\u12"}',
  '{"a"  :  [[[[[[[[[[]]]]]]]]]]}',
];

const BAD_BYTES: number[][] = [
  [0xff, 0xfe, 0xfd],
  [0xc3, 0x28],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xe2, 0x82],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0x00, 0x00, 0x00],
  [...Buffer.from('{"reason":"'), 0xc3, 0x28, ...Buffer.from('"}')],
  [...Buffer.from('{"metadata":{"k":"'), 0xed, 0xa0, 0x80, ...Buffer.from('"}}')],
  [...Buffer.from('{"companyName":"'), 0xff, 0xfe, ...Buffer.from('","primaryColor":"#112233"}')],
  [...Buffer.from('{"'), 0xc0, 0xaf, ...Buffer.from('":1}')],
  [...Buffer.from('{"channel":"email","config":{"smtp":"'), 0xe2, 0x82, ...Buffer.from('"}}')],
  [...Buffer.from('{"a":1}', 'utf16le')],
  [0xfe, 0xff, ...Buffer.from('{"a":1}', 'utf16le')],
  [0xef, 0xbb, 0xbf, ...Buffer.from('{}')],
];

const ODD_CONTENT_TYPES: Array<string | null> = [
  null,
  '',
  'text/plain',
  'text/plain; charset=utf-8',
  'multipart/form-data; boundary=----fuzz',
  'application/x-www-form-urlencoded',
  'application/xml',
  'application/octet-stream',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json;',
  'application/json, text/plain',
  'application/vnd.api+json',
  'application/jsonx',
  'json',
  '*/*',
  ';;;',
  'application/json; boundary=x; charset="utf-8"',
];

const ALL_STEP_IDS = [...new Set([...TENANT_SETUP_STEPS, ...AGENT_WELCOME_STEPS].map((s) => s.id))];

/** Path-parameter values that are traversal attempts, encodings that do not decode, or odd bytes. */
const TRAVERSAL = [
  '..',
  '.',
  '../../etc/passwd',
  '..%2f..%2fetc%2fpasswd',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '%2e%2e',
  '%252e%252e%252f',
  '....//....//',
  '..\\..\\windows\\win.ini',
  '..%5c..%5c',
  '%00',
  'a%00b',
  '%2500',
  '%u0000',
  '%c0%ae%c0%ae%c0%af',
  '%ff%fe',
  '%E0%A4%A',
  '%',
  '%%',
  '%zz',
  '%C3%28',
  '%ED%A0%80',
  '\u00ff\u00fe\u00c3\u0028',
  ';jsessionid=1',
  '*',
  '%20',
  '%0d%0aSet-Cookie:%20x=1',
  '%3f%23',
  '~root',
  'CON',
  '__proto__',
  'constructor',
  'session%2f..%2f..%2fstatus',
  'x?y=1',
  '%2F',
];

function realParam(name: string): fc.Arbitrary<string> {
  if (name === 'sessionId') return fc.constantFrom('adminA', 'agentA', 'adminB').map((k) => sessions[k as keyof typeof sessions]);
  if (name === 'userId') return fc.constantFrom(ids.adminA.userId, ids.agentA.userId, ids.adminB.userId, 'fz-nobody');
  return fc.constantFrom(...ALL_STEP_IDS);
}

/** Percent-encodes everything but RFC 3986 unreserved characters, byte by byte (lone surrogates included). */
function encodeSegment(v: string): string {
  return [...Buffer.from(v, 'utf8')]
    .map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`))
    .join('');
}

function paramArb(name: string, schema: JS | undefined): fc.Arbitrary<{ value: string; tag: string }> {
  const enc = (tag: string) => (v: string) => ({ value: encodeSegment(v), tag });
  return fc.oneof(
    { weight: 10, arbitrary: realParam(name).map(enc('param:real')) },
    {
      weight: 4,
      arbitrary: fromSchema(schema ?? { type: 'string', maxLength: 64 })
        .map((v) => encodeSegment(String(v)))
        .map((value) => ({ value, tag: 'param:schema' })),
    },
    { weight: 3, arbitrary: fc.constantFrom(...TRAVERSAL).map((value) => ({ value, tag: 'param:traversal' })) },
    { weight: 2, arbitrary: fc.constantFrom(65, 201, 1000, 4000).map((n) => ({ value: 'a'.repeat(n), tag: 'param:long-id' })) },
    { weight: 1, arbitrary: fc.string({ maxLength: 80, unit: 'binary' }).map(enc('param:unicode')) },
  );
}

/** Query strings that parse oddly: repeated keys, prototype keys, bad escapes, numbers out of range. */
const ODD_QUERIES = [
  '?',
  '?&&&',
  '?=',
  '?==&=',
  '?%',
  '?%zz=1',
  '?type=%E0%A4%A',
  '?type=%00',
  '?type=tenant_setup&type=agent_welcome',
  '?type[]=tenant_setup',
  '?type[$ne]=x',
  '?__proto__[isAdmin]=true',
  '?__proto__=1',
  '?constructor[prototype][isAdmin]=true',
  '?constructor=1&prototype=2',
  '?hasOwnProperty=1',
  '?force=true&force=false',
  '?force=TRUE',
  '?force=1',
  '?limit=1e309',
  '?limit=-1',
  '?limit=0',
  '?limit=9999999999999999999999',
  '?limit=0x10',
  '?limit=NaN',
  '?limit=%20',
  '?limit=1&limit=2',
  '?cursor=' + 'c'.repeat(300),
  '?cursor=%00',
  '?cursor=..%2f..%2f',
  '?cursor=eyJpZCI6MX0',
  '?at=9999-12-31T23:59:59Z',
  '?at=0000-01-01T00:00:00Z',
  '?at=2025-02-29T00:00:00Z',
  '?at=2024-02-29T24:00:00Z',
  '?at=now',
  '?from=0000-01-01T00:00:00%2B23:59',
  '?from=9999-12-31T23:59:59-23:59',
  '?from=2025-01-01T00:00:00Z&to=2020-01-01T00:00:00Z',
  '?data=%7B',
  '?data=null',
  '?data=%5B%5D',
  '?data=%7B%22__proto__%22%3A%7B%22x%22%3A1%7D%7D',
  '?data=%22%5Cu0000%22',
  '?data=' + '%5B'.repeat(3000) + '%5D'.repeat(3000),
  '?data=' + encodeURIComponent(JSON.stringify({ companyName: 'a\u0000b', primaryColor: '#112233' })),
  '?data=' + 'x'.repeat(14_000),
  '?data=' + 'x'.repeat(30_000),
  '?token=abc',
  '?' + 'a=1&'.repeat(1500),
  '?\u00ff\u00fe=\u00c3',
];

function queryArb(route: RouteContract): fc.Arbitrary<{ value: string; tag: string }> {
  const none = fc.constant({ value: '', tag: 'query:none' });
  const odd = fc.constantFrom(...ODD_QUERIES).map((value) => ({ value, tag: 'query:odd' }));
  if (!route.querystring) return fc.oneof({ weight: 8, arbitrary: none }, { weight: 2, arbitrary: odd });
  const schema = toJs(route.querystring);
  const encode = (o: unknown) =>
    o !== null && typeof o === 'object' && !Array.isArray(o) && Object.keys(o).length > 0
      ? '?' +
        Object.entries(o)
          .map(([k, v]) => `${encodeSegment(k)}=${encodeSegment(typeof v === 'string' ? v : JSON.stringify(v))}`)
          .join('&')
      : '';
  return fc.oneof(
    { weight: 3, arbitrary: none },
    { weight: 6, arbitrary: fromSchema(schema).map((o) => ({ value: encode(o), tag: 'query:schema' })) },
    { weight: 3, arbitrary: mutated(fromSchema(schema)).map(({ value, op }) => ({ value: encode(value), tag: `query:${op}` })) },
    { weight: 3, arbitrary: odd },
  );
}

/** The contract's body, plus step- and channel-specific bodies where the contract says only "a record". */
function validBodyArb(name: string, route: RouteContract): fc.Arbitrary<unknown> {
  const stepSchemas = [...Object.values(TENANT_STEP_DATA_SCHEMAS), ...Object.values(AGENT_STEP_DATA_SCHEMAS)];
  if (name === 'saveStep' || name === 'validateStepPost') return fc.oneof(...stepSchemas.map((s) => fromSchema(toJs(s))));
  if (name === 'testConnection' || name === 'validateConnectionConfig' || name === 'testConnections') {
    const one = fc
      .constantFrom(...(Object.keys(CONNECTION_CONFIG_SCHEMAS) as Array<keyof typeof CONNECTION_CONFIG_SCHEMAS>))
      .chain((channel) =>
        fc.record(
          // Short timeouts: a config that happens to be valid makes a real (failing) outbound attempt.
          { channel: fc.constant(channel), config: fromSchema(toJs(CONNECTION_CONFIG_SCHEMAS[channel])), timeout: fc.integer({ min: 100, max: 1500 }) },
          { requiredKeys: name === 'validateConnectionConfig' ? ['channel', 'config'] : ['channel', 'config'] },
        ),
      )
      .map((b) => (name === 'validateConnectionConfig' ? { channel: b.channel, config: b.config } : b));
    if (name !== 'testConnections') return one;
    return fc.oneof(
      fc.array(one, { minLength: 1, maxLength: 3 }).map((tests) => ({ tests })),
      fc.array(one, { minLength: 1, maxLength: 3 }),
    );
  }
  return route.body ? fromSchema(toJs(route.body)) : fc.constant({});
}

function bodyArb(name: string, route: RouteContract): fc.Arbitrary<BodySpec> {
  const valid = validBodyArb(name, route);
  const hasBody = route.body !== undefined;
  return fc.oneof(
    { weight: hasBody ? 5 : 60, arbitrary: fc.constant<BodySpec>({ kind: 'none' }) },
    { weight: hasBody ? 70 : 10, arbitrary: valid.map((value): BodySpec => ({ kind: 'json', value, tag: 'body:valid-ish' })) },
    { weight: hasBody ? 70 : 10, arbitrary: mutated(valid).map(({ value, op }): BodySpec => ({ kind: 'json', value, tag: `body:${op}` })) },
    {
      weight: 20,
      arbitrary: fc
        .oneof(fc.constantFrom<unknown>(null, [], [{}], 0, -1, 'str', true, false), fc.jsonValue({ maxDepth: 3 }))
        .map((value): BodySpec => ({ kind: 'json', value, tag: 'body:wrong-root' })),
    },
    { weight: 20, arbitrary: fc.constantFrom(...RAW_JSON_TEXTS).map((text): BodySpec => ({ kind: 'text', text, tag: 'body:raw-json' })) },
    {
      weight: 15,
      arbitrary: fc
        .oneof(
          fc.constantFrom(...BAD_BYTES),
          fc.uint8Array({ minLength: 1, maxLength: 64 }).map((a) => [...a]),
        )
        .map((bytes): BodySpec => ({ kind: 'bytes', bytes, tag: 'body:bad-utf8' })),
    },
    {
      weight: 10,
      arbitrary: fc
        .record({ depth: fc.constantFrom(5_000, 5_000, 20_000, 100_000), shape: fc.constantFrom<'array' | 'object'>('array', 'object'), wrapped: fc.boolean() })
        .map((d): BodySpec => ({ kind: 'deep', ...d })),
    },
    {
      weight: 3,
      arbitrary: fc
        .record({
          bytes: fc.constantFrom(200_000, 300_000, 1_000_000, 1_100_000, 2_100_000),
          shape: fc.constantFrom<'string' | 'array' | 'keys'>('string', 'array', 'keys'),
        })
        .map((h): BodySpec => ({ kind: 'huge', ...h })),
    },
  );
}

const tokenArb: fc.Arbitrary<{ value: string | null; tag: string }> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ value: 'adminA', tag: 'auth:admin-a' }) },
  { weight: 4, arbitrary: fc.constant({ value: 'agentA', tag: 'auth:agent-a' }) },
  { weight: 4, arbitrary: fc.constant({ value: 'adminB', tag: 'auth:admin-b (other tenant)' }) },
  { weight: 1, arbitrary: fc.constant({ value: null, tag: 'auth:none' }) },
  { weight: 2, arbitrary: fc.nat().map((i) => ({ value: `bad:${i}`, tag: 'auth:bad' })) },
  // Users without a session yet: their `start` creates one from the fuzzed body (metadata, context…).
  { weight: 2, arbitrary: fc.nat({ max: 3_000 }).map((i) => ({ value: `fresh:${i}`, tag: 'auth:fresh-user' })) },
);

/** Headers around the request that the edge must shrug off: bad ids, encodings it does not speak, CORS origins. */
const ODD_HEADERS: Array<Record<string, string>> = [
  { 'x-request-id': 'r'.repeat(5_000) },
  { 'x-request-id': '../../etc/passwd', 'x-correlation-id': '${jndi:ldap://x}' },
  { 'x-correlation-id': '\u00ff\u00fe\u00e9' },
  { 'x-correlation-id': 'c'.repeat(129) },
  { 'content-encoding': 'gzip' },
  { 'content-encoding': 'br, gzip, deflate' },
  { accept: 'application/xml' },
  { 'accept-encoding': 'gzip, br' },
  { 'accept-charset': 'utf-16' },
  { origin: 'null' },
  { origin: 'https://evil.example' },
  { 'x-forwarded-for': '127.0.0.1, ::1, not-an-ip' },
  { 'x-forwarded-host': 'evil.example' },
  { 'x-http-method-override': 'DELETE' },
  { expect: '100-continue' },
  { range: 'bytes=0-10' },
  { cookie: 'a=1; '.repeat(300) },
  { connection: 'upgrade', upgrade: 'websocket' },
];

const ODD_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'MKCOL', 'LOCK', 'SEARCH', 'PURGE', 'FUZZ'];

function routeArb(name: string, route: RouteContract): fc.Arbitrary<FuzzRequest> {
  const paramNames = [...route.url.matchAll(/:(\w+)/g)].map((m) => m[1]!);
  const paramsJs = route.params ? toJs(route.params) : undefined;
  const params = fc.tuple(...paramNames.map((p) => paramArb(p, paramsJs?.properties?.[p])));
  return fc
    .record({
      params: paramNames.length > 0 ? params : fc.constant([] as Array<{ value: string; tag: string }>),
      query: queryArb(route),
      body: bodyArb(name, route),
      token: tokenArb,
      method: fc.oneof({ weight: 12, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom(...ODD_METHODS) }),
      contentType: fc.oneof(
        { weight: 6, arbitrary: fc.constant<string | null | undefined>(undefined) },
        { weight: 1, arbitrary: fc.constantFrom(...ODD_CONTENT_TYPES) },
      ),
      chunked: fc.boolean(),
      headers: fc.oneof({ weight: 12, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(...ODD_HEADERS) }),
      trailingSlash: fc.oneof({ weight: 20, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    })
    .map((r) => {
      let i = 0;
      const path = route.url.replace(/:(\w+)/g, () => r.params[i++]!.value) + (r.trailingSlash ? '/' : '');
      const tags = [
        ...r.params.map((p) => p.tag),
        r.query.tag,
        r.token.tag,
        r.body.kind === 'json' || r.body.kind === 'text' || r.body.kind === 'bytes' ? r.body.tag : `body:${r.body.kind}`,
      ];
      if (r.method !== route.method) tags.push('method:other');
      if (r.contentType !== undefined) tags.push('content-type:odd');
      if (r.headers) tags.push('headers:odd');
      return {
        route: name,
        method: r.method,
        path: path + r.query.value,
        authorization: r.token.value,
        contentType: r.contentType,
        body: r.body,
        chunked: r.chunked,
        headers: r.headers ?? {},
        tags,
      };
    });
}

function materialize(body: BodySpec): Buffer | null {
  switch (body.kind) {
    case 'none':
      return null;
    case 'json':
      return Buffer.from(body.value === undefined ? '' : JSON.stringify(body.value));
    case 'text':
      return Buffer.from(body.text);
    case 'bytes':
      return Buffer.from(body.bytes);
    case 'deep': {
      const [open, close] = body.shape === 'array' ? ['[', ']'] : ['{"a":', '}'];
      const core = `${open.repeat(body.depth)}1${close.repeat(body.depth)}`;
      return Buffer.from(body.wrapped ? `{"channel":"email","config":{"x":${core}},"metadata":{"k":${core}},"companyName":${core}}` : core);
    }
    case 'huge':
      if (body.shape === 'string') return Buffer.from(`{"reason":"${'x'.repeat(body.bytes)}","companyName":"${'y'.repeat(64)}"}`);
      if (body.shape === 'array') return Buffer.from(`[${'1,'.repeat(body.bytes / 2)}1]`);
      return Buffer.from(`{${Array.from({ length: Math.floor(body.bytes / 12) }, (_, i) => `"k${i.toString(36).padStart(6, '0')}":1`).join(',')}}`);
  }
}

// ─── sending and judging ────────────────────────────────────────────────────────────────────────────────
interface Outcome {
  status: number;
  headers?: http.IncomingHttpHeaders;
  body: Buffer;
  error?: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: HTTP_CONCURRENCY });
const BAD_AUTH = badAuthorizations();

const freshTokens = new Map<string, string>();

function authorizationOf(value: string | null): string | null {
  if (value === null) return null;
  if (value.startsWith('bad:')) return BAD_AUTH[Number(value.slice(4)) % BAD_AUTH.length]!;
  if (value.startsWith('fresh:')) {
    const n = Number(value.slice(6));
    if (!freshTokens.has(value))
      freshTokens.set(value, sys.token({ userId: `fz-new-${n}`, tenantId: `fz-tenant-new-${n % 7}`, roles: n % 2 ? ['agent'] : ['admin'] }));
    return `Bearer ${freshTokens.get(value)}`;
  }
  return `Bearer ${tokens[value as keyof typeof tokens]}`;
}

function send(port: number, r: FuzzRequest): Promise<Outcome> {
  return new Promise((resolve) => {
    const body = materialize(r.body);
    const headers: Record<string, string> = { 'x-correlation-id': 'fuzz', ...r.headers };
    const auth = authorizationOf(r.authorization);
    if (auth !== null) headers.authorization = auth;
    const contentType = r.contentType === undefined ? (body ? 'application/json' : null) : r.contentType;
    if (contentType !== null) headers['content-type'] = contentType;
    // Framed either way: Node does not chunk a GET/DELETE/OPTIONS body by itself, and unframed bytes would be
    // read as the next request on the connection.
    if (body) {
      if (r.chunked) headers['transfer-encoding'] = 'chunked';
      else headers['content-length'] = String(body.length);
    }
    let req: http.ClientRequest;
    try {
      req = http.request({ host: '127.0.0.1', port, method: r.method, path: r.path, headers, agent, timeout: 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (err) => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), error: `response: ${err.message}` }));
      });
    } catch (err) {
      resolve({ status: -1, body: Buffer.alloc(0), error: `client refused to send: ${(err as Error).message}` });
      return;
    }
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', (err) => resolve({ status: 0, body: Buffer.alloc(0), error: `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}` }));
    if (!body) return void req.end();
    if (r.chunked && body.length > 1) {
      req.write(body.subarray(0, body.length >> 1));
      req.end(body.subarray(body.length >> 1));
    } else req.end(body);
  });
}

/** Sends raw bytes on a fresh TCP connection and parses whatever HTTP answer comes back. */
function sendRaw(port: number, raw: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = (error?: string) => {
      socket.destroy();
      const text = Buffer.concat(chunks);
      const head = text.subarray(0, Math.max(0, text.indexOf('\r\n\r\n'))).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ status, body: text.subarray(text.indexOf('\r\n\r\n') + 4), ...(status === 0 ? { error: error ?? 'no HTTP answer' } : {}) });
    };
    socket.setTimeout(5_000, () => done('timeout'));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => done());
    socket.on('error', (err) => done(err.message));
    socket.write(raw);
  });
}

function rawRequests(): Array<{ name: string; raw: Buffer }> {
  const auth = `Bearer ${tokens.adminA}`;
  const line = (s: string) => Buffer.from(s, 'latin1');
  return [
    { name: 'unknown method', raw: line(`FUZZ /onboarding/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`) },
    { name: 'no Host header', raw: line(`GET /onboarding/status HTTP/1.1\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`) },
    { name: 'HTTP/1.0', raw: line(`GET /onboarding/status HTTP/1.0\r\nAuthorization: ${auth}\r\n\r\n`) },
    {
      name: 'absolute-form target',
      raw: line(`GET http://evil.example/onboarding/status HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`),
    },
    { name: 'asterisk target', raw: line(`OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`) },
    {
      name: 'raw traversal target',
      raw: line(`GET /onboarding/../../../etc/passwd HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`),
    },
    { name: 'backslash target', raw: line(`GET \\onboarding\\status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`) },
    {
      name: 'raw high bytes in target',
      raw: Buffer.concat([
        line('GET /onboarding/session/'),
        Buffer.from([0xc3, 0x28, 0xff, 0xfe]),
        line(` HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`),
      ]),
    },
    { name: 'space in target', raw: line(`GET /onboarding/session/a b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`) },
    { name: 'header too large', raw: line(`GET /onboarding/status HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\nConnection: close\r\n\r\n`) },
    {
      name: 'URL too large',
      raw: line(`GET /onboarding/validate-step/welcome?data=${'x'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`),
    },
    { name: 'invalid header name', raw: line(`GET /onboarding/status HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\nConnection: close\r\n\r\n`) },
    { name: 'NUL in header value', raw: line(`GET /onboarding/status HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\nConnection: close\r\n\r\n`) },
    {
      name: 'bad Content-Length',
      raw: line(
        `POST /onboarding/start HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}`,
      ),
    },
    {
      name: 'negative Content-Length',
      raw: line(
        `POST /onboarding/start HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: -1\r\nConnection: close\r\n\r\n{}`,
      ),
    },
    {
      name: 'two Content-Lengths',
      raw: line(
        `POST /onboarding/start HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{}`,
      ),
    },
    {
      name: 'CL and TE (smuggling)',
      raw: line(
        `POST /onboarding/start HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`,
      ),
    },
    {
      name: 'bad chunk size',
      raw: line(
        `POST /onboarding/start HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
      ),
    },
    {
      name: 'Content-Length 2 MB announced',
      raw: line(
        `POST /onboarding/start HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: 2100000\r\nConnection: close\r\n\r\n{}`,
      ),
    },
    { name: 'LF-only line endings', raw: line(`GET /onboarding/status HTTP/1.1\nHost: x\nAuthorization: ${auth}\nConnection: close\n\n`) },
    { name: 'garbage', raw: Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]) },
  ];
}

interface Failure {
  what: string;
  status: number;
  detail: string;
}

function judge(r: { route: string; method: string; path?: string }, out: Outcome, failures: Failure[], label: string): void {
  const fail = (detail: string): void => {
    failures.push({ what: label, status: out.status, detail });
  };
  // The OpenAPI document: a status the operation (or, for a method the path lacks, 405 with Allow) documents, and a
  // body that matches the documented schema of that status, error codes included. CORS preflights are not in it.
  if (spec && r.path?.startsWith('/onboarding/') && r.method !== 'OPTIONS' && out.status > 0) {
    const route = (ROUTES as Record<string, RouteContract>)[r.route];
    const wrong = spec.judge(r.method, r.path, out, { streamed: route?.streamed === true && r.method === route.method });
    if (wrong) fail(`OpenAPI: ${wrong}`);
  }
  if (out.status <= 0) return fail(`no HTTP answer: ${out.error}`);
  if (out.status >= 500) {
    if (!ALLOWED_5XX.some((a) => a.route === r.route && a.status === out.status)) fail(`5xx: ${out.body.toString('utf8').slice(0, 300)}`);
    return;
  }
  if (out.status >= 400) {
    if (r.method === 'HEAD') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(out.body.toString('utf8'));
    } catch {
      return fail(`4xx body is not JSON: ${JSON.stringify(out.body.toString('utf8').slice(0, 200))}`);
    }
    const e = ErrorBodySchema.safeParse(parsed);
    if (!e.success) return fail(`4xx body is not an ErrorBody: ${JSON.stringify(parsed).slice(0, 300)}`);
    if (e.data.statusCode !== out.status) return fail(`ErrorBody.statusCode ${e.data.statusCode} ≠ ${out.status}`);
    if (!e.data.message.trim() || !e.data.code.trim()) return fail(`empty code or message: ${JSON.stringify(parsed)}`);
    return;
  }
  // A success of a contract route must match the contract.
  const route = (ROUTES as Record<string, RouteContract>)[r.route];
  const schema = route && r.method === route.method ? route.responses[out.status] : undefined;
  if (route && r.method === route.method && out.status >= 200 && out.status < 300) {
    if (!schema) return fail(`status ${out.status} is not in the contract`);
    // A streamed download: a CSV with its header row, or NDJSON lines that are each one export row.
    if (route.streamed) {
      const text = out.body.toString('utf8');
      // Each download has its own row: statistics export rows, audit records (the CSVs start with their header row).
      const [csvHeader, rowSchema] = r.route === 'auditExport' ? ['seq,id,occurredAt,', AuditRecordSchema] : ['sessionId,', StatisticsExportRowSchema];
      if (text.startsWith(csvHeader)) return;
      for (const line of text.split('\n').filter(Boolean)) {
        let row: unknown;
        try {
          row = JSON.parse(line);
        } catch {
          return fail(`streamed line is neither CSV nor JSON: ${line.slice(0, 120)}`);
        }
        if (!rowSchema.safeParse(row).success) return fail(`NDJSON line is not an export row: ${line.slice(0, 200)}`);
      }
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(out.body.toString('utf8'));
    } catch {
      return fail('2xx body is not JSON');
    }
    const ok = schema.safeParse(parsed);
    if (!ok.success)
      fail(
        `2xx body does not match the contract: ${ok.error.issues
          .slice(0, 2)
          .map((i) => `${i.path.join('.')}: ${i.message}`)
          .join('; ')}`,
      );
  }
}

function errorCodeOf(body: Buffer): string {
  try {
    return String((JSON.parse(body.toString('utf8')) as { code?: unknown }).code);
  } catch {
    return '<not JSON>';
  }
}

async function pool<T>(items: T[], concurrency: number, worker: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        await worker(items[i]!, i);
      }
    }),
  );
}

const countBy = (values: Iterable<string | number>) => {
  const m = new Map<string, number>();
  for (const v of values) m.set(String(v), (m.get(String(v)) ?? 0) + 1);
  return Object.fromEntries([...m.entries()].sort((a, b) => b[1] - a[1]));
};

async function api(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${sys.gateway.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function processesAlive(): Record<string, boolean> {
  return Object.fromEntries(
    [sys.gateway, sys.session, sys.progress, sys.connectionTest, sys.realtime].map((p) => [p.name, p.child.exitCode === null && p.child.signalCode === null]),
  );
}

beforeAll(async () => {
  // warn: ten thousand requests at info level would mostly measure logging.
  sys = await startSystem({ logLevel: 'warn', rateLimitMax: 1_000_000 });
  tokens.adminA = sys.token(ids.adminA);
  tokens.agentA = sys.token(ids.agentA);
  tokens.adminB = sys.token(ids.adminB);
  spec = await OpenApiSpec.load(sys.gateway.url);
  const a = await api('POST', '/onboarding/start', tokens.adminA, {});
  expect(a.status).toBe(201);
  sessions.adminA = (a.body.session as { id: string }).id;
  expect((await api('POST', '/onboarding/tenant-setup/complete', tokens.adminA)).status).toBe(200);
  const g = await api('POST', '/onboarding/start', tokens.agentA, {});
  expect(g.status).toBe(201);
  sessions.agentA = (g.body.session as { id: string }).id;
  const b = await api('POST', '/onboarding/start', tokens.adminB, {});
  expect(b.status).toBe(201);
  sessions.adminB = (b.body.session as { id: string }).id;
});
afterAll(async () => {
  agent.destroy();
  await sys?.stop();
});

describe('fuzzing through the gateway', () => {
  it(`${HTTP_REQUESTS}+ generated HTTP requests over every route: no 5xx, every 4xx a clear ErrorBody`, { timeout: 150_000 }, async () => {
    const routeNames = Object.keys(ROUTES);
    const arb = fc.oneof(...Object.entries(ROUTES as Record<string, RouteContract>).map(([name, route]) => routeArb(name, route)));
    const requests = fc.sample(arb, { numRuns: HTTP_REQUESTS, seed: SEED });
    const port = Number(new URL(sys.gateway.url).port);
    const failures: Failure[] = [];
    const statuses: number[] = [];
    const routeHits: string[] = [];
    const tagStatus = new Map<string, Set<number>>();
    const codes: string[] = [];
    const started = Date.now();

    await pool(requests, HTTP_CONCURRENCY, async (r) => {
      const out = await send(port, r);
      statuses.push(out.status);
      routeHits.push(r.route);
      for (const t of r.tags) (tagStatus.get(t) ?? tagStatus.set(t, new Set()).get(t)!).add(out.status);
      if (out.status >= 400 && r.method !== 'HEAD') codes.push(`${out.status} ${errorCodeOf(out.body)}`);
      judge(r, out, failures, `${r.method} ${r.path.slice(0, 160)}${r.path.length > 160 ? '…' : ''} [${r.route}; ${r.tags.join(', ')}]`);
    });
    const httpMs = Date.now() - started;

    // Malformed HTTP that no client library would send, straight onto the socket.
    const raws = rawRequests();
    for (const { name, raw } of raws) {
      const out = await sendRaw(port, raw);
      statuses.push(out.status);
      judge({ route: 'raw', method: name === 'asterisk target' ? 'OPTIONS' : 'RAW' }, out, failures, `raw: ${name}`);
    }

    const total = requests.length + raws.length;
    console.log(`\nHTTP fuzz: ${total} requests in ${(httpMs / 1000).toFixed(1)} s (seed ${SEED}); by status:`, countBy(statuses));
    console.log('HTTP fuzz: rejections by code:', countBy(codes));
    console.log('HTTP fuzz: statuses seen per facet:', Object.fromEntries([...tagStatus.entries()].sort().map(([t, s]) => [t, [...s].sort().join(',')])));
    if (failures.length > 0) {
      const file = join(tmpdir(), `glavito-fuzz-http-failures-${SEED}.json`);
      writeFileSync(file, JSON.stringify(failures, null, 1));
      console.log(`HTTP fuzz: all failures in ${file}`);
      console.log(`HTTP fuzz: ${failures.length} failures; by kind:`, countBy(failures.map((f) => `${f.status} ${f.detail.slice(0, 60)}`)));
      for (const f of failures.slice(0, 25)) console.log(`  ✗ ${f.status} ${f.what}\n      ${f.detail}`);
    }

    expect(total).toBeGreaterThanOrEqual(10_000);
    // Every contract route was hit, and hard.
    const hits = countBy(routeHits);
    // Routes are drawn uniformly: each gets at least two thirds of its fair share (~176 of 10,400 over 59 routes).
    const fairShare = requests.length / routeNames.length;
    for (const name of routeNames) expect(hits[name] ?? 0, `requests to ${name}`).toBeGreaterThanOrEqual(Math.floor((fairShare * 2) / 3));
    for (const facet of [
      'body:deep',
      'body:huge',
      'body:bad-utf8',
      'body:raw-json',
      'body:wrong-root',
      'body:drop',
      'body:extra',
      'body:wrong',
      'param:traversal',
      'param:long-id',
      'query:odd',
      'auth:bad',
      'auth:none',
      'auth:fresh-user',
      'method:other',
      'content-type:odd',
      'headers:odd',
    ]) {
      expect(tagStatus.has(facet), `facet ${facet} generated`).toBe(true);
    }
    expect(statuses.filter((s) => s === 413).length, 'huge bodies meet 413').toBeGreaterThan(0);
    expect(failures.map((f) => `${f.status} ${f.what}: ${f.detail}`).slice(0, 25)).toEqual([]);
  });

  it('every catalog route, probed for each status it should answer, answers only what its OpenAPI operation documents', { timeout: 120_000 }, async () => {
    // Derived from ROUTES: a route added to the catalog is probed here, and fails here when it answers a status or
    // code its operation does not list (packages/contracts route-errors.ts says what each route answers).
    const port = Number(new URL(sys.gateway.url).port);
    const failures: Failure[] = [];
    const seen = new Map<string, Set<number>>();
    const sessionFor = (url: string) =>
      url
        .replace(/:sessionId/g, sessions.adminA)
        .replace(/:stepId/g, 'organization_setup')
        .replace(/:userId/g, ids.adminA.userId)
        .replace(/:type/g, 'tenant_setup');
    for (const [name, route] of Object.entries(ROUTES as Record<string, RouteContract>)) {
      const path = sessionFor(route.url);
      // A method no route answers on this concrete path: PUT /onboarding/step/organization_setup/configuration is
      // a step save (`/step/:sessionId/:stepId`), not another method of the step configuration route.
      const matches = (pattern: string) => new RegExp(`^${pattern.replace(/:\w+/g, '[^/]+')}$`).test(path);
      const other = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH'].find(
        (m) => !Object.values(ROUTES as Record<string, RouteContract>).some((x) => x.method === m && matches(x.url)),
      )!;
      // `expect`: the status the gateway itself decides, whatever the service; without it only "documented" is checked.
      const probes: Array<{ why: string; expect?: number; req: FuzzRequest }> = [];
      const base: FuzzRequest = {
        route: name,
        method: route.method,
        path,
        authorization: 'adminA',
        contentType: undefined,
        body: route.body ? { kind: 'json', value: {}, tag: 'probe' } : { kind: 'none' },
        chunked: false,
        headers: {},
        tags: [],
      };
      if (route.access !== 'public') probes.push({ why: 'no token', expect: 401, req: { ...base, authorization: null } });
      if (route.access === 'admin') probes.push({ why: 'an agent on an admin route', expect: 403, req: { ...base, authorization: 'agentA' } });
      probes.push({ why: 'another method', expect: 405, req: { ...base, method: other, body: { kind: 'none' } } });
      probes.push({ why: `a target over ${MAX_URL_LENGTH} characters`, expect: 414, req: { ...base, path: `${path}?pad=${'x'.repeat(MAX_URL_LENGTH)}` } });
      probes.push({ why: `headers over ${MAX_HEADER_BYTES} bytes`, expect: 431, req: { ...base, headers: { 'x-pad': 'x'.repeat(MAX_HEADER_BYTES + 100) } } });
      if (route.url.includes('/:'))
        probes.push({
          why: `a parameter over ${MAX_PARAM_LENGTH} characters`,
          expect: 414,
          req: { ...base, path: route.url.replace(/:\w+/g, 'p'.repeat(MAX_PARAM_LENGTH + 1)) },
        });
      if (route.method !== 'GET') {
        probes.push({
          why: 'a text/plain body',
          expect: route.access === 'public' ? undefined : 415,
          req: { ...base, contentType: 'text/plain', body: { kind: 'text', text: 'hello', tag: 'probe' } },
        });
        probes.push({ why: 'a 2 MB body', expect: 413, req: { ...base, body: { kind: 'huge', shape: 'string', bytes: 2_100_000 } } });
      }
      for (const p of probes) {
        const out = await send(port, p.req);
        (seen.get(name) ?? seen.set(name, new Set()).get(name)!).add(out.status);
        const label = `${name}: ${p.why} (${p.req.method} ${p.req.path.slice(0, 80)})`;
        if (p.expect !== undefined && out.status !== p.expect)
          failures.push({ what: label, status: out.status, detail: `expected ${p.expect}: ${out.body.toString('utf8').slice(0, 200)}` });
        judge(p.req, out, failures, label);
      }
    }
    // Refusals that only some routes have, each with its documented code.
    const agentComplete = await send(port, {
      route: 'complete',
      method: 'POST',
      path: `/onboarding/complete/${sessions.agentA}?force=true`,
      authorization: 'agentA',
      contentType: null,
      body: { kind: 'none' },
      chunked: false,
      headers: {},
      tags: [],
    });
    expect(agentComplete.status).toBe(403);
    expect(errorCodeOf(agentComplete.body)).toBe('SESSION_FORCE_FORBIDDEN');
    judge(
      { route: 'complete', method: 'POST', path: `/onboarding/complete/${sessions.agentA}?force=true` },
      agentComplete,
      failures,
      'complete: force by an agent',
    );
    const agentTenantSetup = await send(port, {
      route: 'start',
      method: 'POST',
      path: '/onboarding/start',
      authorization: 'agentA',
      contentType: undefined,
      body: { kind: 'json', value: { type: 'tenant_setup' }, tag: 'probe' },
      chunked: false,
      headers: {},
      tags: [],
    });
    expect(agentTenantSetup.status).toBe(403);
    expect(errorCodeOf(agentTenantSetup.body)).toBe('SESSION_TYPE_FORBIDDEN');
    judge({ route: 'start', method: 'POST', path: '/onboarding/start' }, agentTenantSetup, failures, 'start: tenant_setup by an agent');

    // The same limits at a service as at the gateway: same status, same ErrorBody keys (the code names who refused).
    const direct = async (url: string, headers: Record<string, string> = {}) => {
      const res = await fetch(url, { headers: { authorization: `Bearer ${tokens.adminA}`, ...headers } }).catch(() => null);
      return res ? { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> } : { status: 0, body: {} };
    };
    const longId = 'p'.repeat(MAX_PARAM_LENGTH + 1);
    for (const [what, path] of [
      ['a long id', `/onboarding/session/${longId}`],
      ['a long target', `/onboarding/status?pad=${'x'.repeat(MAX_URL_LENGTH)}`],
    ] as const) {
      const atGateway = await direct(`${sys.gateway.url}${path}`);
      const atService = await direct(`${sys.session.url}${path}`);
      expect([atGateway.status, atService.status], what).toEqual([414, 414]);
      expect(Object.keys(atService.body).sort(), what).toEqual(Object.keys(atGateway.body).sort());
      expect([atGateway.body.code, atService.body.code], what).toEqual(['GATEWAY_URL_TOO_LONG', 'REQUEST_URL_TOO_LONG']);
    }
    const bigHeaders = { 'x-pad': 'x'.repeat(MAX_HEADER_BYTES + 100) };
    const headersAtGateway = await direct(`${sys.gateway.url}/onboarding/status`, bigHeaders);
    const headersAtService = await direct(`${sys.session.url}/onboarding/status`, bigHeaders);
    expect([headersAtGateway.status, headersAtService.status]).toEqual([431, 431]);
    expect([headersAtGateway.body.code, headersAtService.body.code]).toEqual(['GATEWAY_HEADERS_TOO_LARGE', 'REQUEST_HEADERS_TOO_LARGE']);

    console.log('spec probes: statuses per route:', Object.fromEntries([...seen].map(([n, st]) => [n, [...st].sort().join(',')])));
    expect(failures.map((f) => `${f.status} ${f.what}: ${f.detail}`)).toEqual([]);
  });

  it(
    `${OPENAPI_REQUESTS} requests generated from the OpenAPI document: each answer documented for its operation, its body the documented schema`,
    { timeout: 150_000 },
    async () => {
      const port = Number(new URL(sys.gateway.url).port);
      const ops = spec.operations();
      const streamed = new Set(
        Object.values(ROUTES as Record<string, RouteContract>)
          .filter((r) => r.streamed)
          .map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`),
      );
      const realIds: Record<string, string[]> = {
        sessionId: [sessions.adminA, sessions.agentA, sessions.adminB],
        userId: [ids.adminA.userId, ids.agentA.userId],
      };
      const arb = fc.oneof(
        ...ops.map(({ template, method, op }) => {
          const params = op.parameters ?? [];
          const value = (p: (typeof params)[number]) =>
            realIds[p.name] ? fc.oneof(fc.constantFrom(...realIds[p.name]!), valuesOf(p.schema)) : valuesOf(p.schema);
          const pathArb = fc.tuple(
            ...params.filter((p) => p.in === 'path').map((p) => value(p).map((v) => [p.name, String(v)] as const)),
            fc.constant(['', ''] as const),
          );
          const queryArb = fc.tuple(
            ...params
              .filter((p) => p.in === 'query')
              .map((p) =>
                fc.option(
                  value(p).map((v) => [p.name, typeof v === 'string' ? v : JSON.stringify(v)] as const),
                  { nil: undefined },
                ),
              ),
            fc.constant(undefined),
          );
          const schema = op.requestBody?.content['application/json']?.schema;
          const bodyArb = schema ? fc.option(valuesOf(spec.resolve(schema)), { nil: undefined, freq: 8 }) : fc.constant(undefined);
          return fc
            .record({
              pathParams: pathArb,
              query: queryArb,
              body: bodyArb,
              who: fc.constantFrom<'adminA' | 'agentA' | 'adminB'>('adminA', 'adminA', 'agentA', 'adminB'),
            })
            .map(({ pathParams, query, body, who }) => {
              let path = template;
              for (const [name, v] of pathParams) if (name) path = path.replace(`{${name}}`, encodeURIComponent(v));
              const qs = query
                .filter((q): q is readonly [string, string] => q !== undefined)
                .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
                .join('&');
              return { template, method: method.toUpperCase(), path: qs ? `${path}?${qs}` : path, body, who };
            });
        }),
      );
      const requests = fc.sample(arb, { numRuns: OPENAPI_REQUESTS, seed: SEED });
      const failures: Failure[] = [];
      const statuses: number[] = [];
      await pool(requests, HTTP_CONCURRENCY, async (r) => {
        const req: FuzzRequest = {
          route: 'openapi',
          method: r.method,
          path: r.path,
          authorization: r.who,
          contentType: undefined,
          body: r.body === undefined ? { kind: 'none' } : { kind: 'json', value: r.body, tag: 'openapi' },
          chunked: false,
          headers: {},
          tags: [],
        };
        const out = await send(port, req);
        statuses.push(out.status);
        const label = `${r.method} ${r.path.slice(0, 160)} [${r.template}]`;
        if (out.status <= 0 || out.status >= 500)
          failures.push({ what: label, status: out.status, detail: out.error ?? out.body.toString('utf8').slice(0, 200) });
        const wrong = spec.judge(r.method, r.path, out, { streamed: streamed.has(`${r.method} ${r.template}`) });
        if (wrong) failures.push({ what: label, status: out.status, detail: wrong });
      });
      console.log(`OpenAPI pass: ${requests.length} requests over ${ops.length} operations (seed ${SEED}); by status:`, countBy(statuses));
      expect(new Set(statuses.filter((st) => st < 300)).size, 'some generated requests succeed').toBeGreaterThan(0);
      expect(failures.map((f) => `${f.status} ${f.what}: ${f.detail}`).slice(0, 25)).toEqual([]);
    },
  );

  it('1,000+ generated WebSocket frames: every reply a coded error frame (or a documented close)', { timeout: 60_000 }, async () => {
    const wsBase = `${sys.gateway.url.replace('http', 'ws')}/onboarding`;
    type Frame = { event: string; data: Record<string, unknown>; id?: string };
    type Conn = { ws: WebSocket; frames: Frame[]; closed: { code: number; reason: string } | null; wake: () => void };

    const connect = (query: string, headers: Record<string, string> = {}): Promise<Conn | { status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`${wsBase}${query}`, { headers });
        const conn: Conn = { ws, frames: [], closed: null, wake: () => {} };
        ws.on('message', (raw: Buffer, isBinary) => {
          try {
            conn.frames.push(isBinary ? { event: '<binary>', data: {} } : (JSON.parse(raw.toString('utf8')) as Frame));
          } catch {
            conn.frames.push({ event: '<not json>', data: { raw: raw.toString('utf8').slice(0, 100) } });
          }
          conn.wake();
        });
        ws.on('close', (code, reason) => {
          conn.closed = { code, reason: reason.toString() };
          conn.wake();
        });
        ws.on('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        ws.once('open', () => resolve(conn));
        ws.on('error', (err) => (conn.closed ? undefined : reject(err)));
      });

    /** The next frame that is not an unrelated push, or the close. */
    async function next(conn: Conn, timeoutMs = 5_000): Promise<Frame | { close: { code: number; reason: string } } | null> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        while (conn.frames.length > 0) {
          const f = conn.frames.shift()!;
          // Pushes carry an eventId; replies to a client frame never do.
          const isPush = (PUSH_EVENTS as readonly string[]).includes(f.event) && f.data?.eventId !== undefined;
          if (!isPush) return f;
        }
        if (conn.closed) return { close: conn.closed };
        const left = deadline - Date.now();
        if (left <= 0) return null;
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          conn.wake = () => {
            clearTimeout(t);
            r();
          };
        });
      }
    }

    async function open(user: keyof typeof tokens): Promise<Conn> {
      const c = await connect(`?token=${tokens[user]}`);
      if (!('ws' in c)) throw new Error(`upgrade refused: ${c.status} ${c.body}`);
      const hello = await next(c);
      // The socket speaks for the token's user, nobody else.
      expect(hello && 'event' in hello ? { event: hello.event, userId: hello.data.userId, tenantId: hello.data.tenantId } : hello, 'first frame').toEqual({
        event: 'connected',
        userId: ids[user].userId,
        tenantId: ids[user].tenantId,
      });
      return c;
    }

    // ── frame generator ──
    type Sent = { payload: string | Buffer; binary: boolean; tag: string; expectClose?: number };
    /** What the server will see: a frame is valid when its text parses and passes the contract (duplicate keys and all). */
    const validFrameOf = (f: Sent): Frame | null => {
      if (f.binary || typeof f.payload !== 'string' || f.expectClose) return null;
      try {
        const parsed = ClientFrameSchema.safeParse(JSON.parse(f.payload));
        return parsed.success ? (parsed.data as Frame) : null;
      } catch {
        return null;
      }
    };
    const sessionIdArb = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('adminA', 'agentA', 'adminB').map((k) => sessions[k as keyof typeof sessions]) },
      { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/) },
      {
        weight: 2,
        arbitrary: fc.constantFrom('../../etc/passwd', '..', '%2e%2e%2f', '\u0000', 'a\u0000b', '*', '>', 'a.b', 'fz-tenant-a.*', '', ' ', '\ud800'),
      },
      { weight: 1, arbitrary: fc.constantFrom(65, 1000, 5000).map((n) => 's'.repeat(n)) },
    );
    const validFrame = fromSchema(toJs(ClientFrameSchema));
    const withSession = fc.tuple(validFrame, sessionIdArb, fc.boolean(), fc.uuid()).map(([f, sessionId, keepId, id]) => {
      const frame = f as Frame;
      return { ...frame, id: keepId ? id.slice(0, 36) : (frame.id ?? id.slice(0, 8)), data: { ...frame.data, sessionId } };
    });
    const asText =
      (tag: string) =>
      (v: unknown): Sent => {
        const payload = JSON.stringify(v) ?? 'undefined';
        return { payload, binary: false, tag, ...(Buffer.byteLength(payload) > WS_MAX_FRAME_BYTES ? { expectClose: 1009 } : {}) };
      };
    const frameArb: fc.Arbitrary<Sent> = fc.oneof(
      { weight: 6, arbitrary: withSession.map(asText('valid-ish')) },
      { weight: 6, arbitrary: mutated(withSession).map(({ value, op }) => asText(`mutated:${op}`)(value)) },
      {
        weight: 3,
        arbitrary: fc
          .record(
            {
              event: fc.oneof(
                fc.constantFrom(
                  'JOIN_SESSION',
                  'join',
                  'subscribe',
                  'connected',
                  'error',
                  'progress_update',
                  'session_joined',
                  '__proto__',
                  'constructor',
                  'toString',
                  '',
                  ' join_session',
                ),
                fc.string({ maxLength: 30 }),
              ),
              data: fc.jsonValue({ maxDepth: 2 }),
              id: fc.string({ maxLength: 70 }),
            },
            { requiredKeys: ['event'] },
          )
          .map(asText('unknown-event')),
      },
      {
        weight: 3,
        arbitrary: fc
          .constantFrom(
            '',
            ' ',
            '{',
            '{"event":',
            'null',
            '[]',
            '1',
            '"join_session"',
            'true',
            '{"event":"join_session"}',
            '{"event":"join_session","data":null}',
            '{"event":"join_session","data":[]}',
            '{"event":"join_session","data":{"sessionId":1e999}}',
            '{"event":"get_progress","data":{"sessionId":"x"},"__proto__":{"isAdmin":true}}',
            '{"event":"join_session","data":{"sessionId":"\\u0000"}}',
            '{"event":"join_session","data":{"sessionId":"\\ud800"}}',
            '{"event":"leave_session","data":{"sessionId":"x","sessionId":"y"}}',
            '\ufeff{"event":"get_progress","data":{"sessionId":"x"}}',
          )
          .map((payload): Sent => ({ payload, binary: false, tag: 'malformed-json' })),
      },
      {
        weight: 2,
        arbitrary: fc
          .constantFrom(7_000, 8_000)
          .chain((depth) =>
            fc.constantFrom<Sent>(
              { payload: `${'['.repeat(depth)}${']'.repeat(depth)}`, binary: false, tag: 'deep-json' },
              { payload: `{"event":"join_session","data":${'{"a":'.repeat(2_500)}1${'}'.repeat(2_500)}}`, binary: false, tag: 'deep-json' },
            ),
          ),
      },
      {
        weight: 2,
        arbitrary: fc
          .oneof(
            fc.uint8Array({ minLength: 0, maxLength: 64 }).map((a) => Buffer.from(a)),
            fc.constant(Buffer.from('{"event":"get_progress","data":{"sessionId":"x"},"id":"b"}')),
          )
          .map((payload): Sent => ({ payload, binary: true, tag: 'binary' })),
      },
      {
        weight: 1,
        arbitrary: fc.constantFrom(WS_MAX_FRAME_BYTES + 1, 20_000, 100_000).map((n): Sent => ({
          payload: `{"event":"join_session","data":{"sessionId":"${'x'.repeat(n)}"}}`,
          binary: false,
          tag: 'oversized',
          expectClose: 1009,
        })),
      },
      {
        weight: 1,
        arbitrary: fc.constantFrom([0xc3, 0x28], [0xff], [0xed, 0xa0, 0x80]).map((bytes): Sent => ({
          payload: Buffer.concat([Buffer.from('{"event":"get_progress","data":{"sessionId":"'), Buffer.from(bytes), Buffer.from('"}}')]),
          binary: false,
          tag: 'bad-utf8',
          expectClose: 1007,
        })),
      },
    );

    const users: Array<keyof typeof tokens> = ['adminA', 'agentA', 'adminB'];
    const ownSessions: Record<keyof typeof tokens, Set<string>> = {
      adminA: new Set([sessions.adminA, sessions.agentA]), // an admin sees every session of the tenant
      agentA: new Set([sessions.agentA]),
      adminB: new Set([sessions.adminB]),
    };
    const failures: string[] = [];
    const replies: string[] = [];
    const closes: number[] = [];
    const tags: string[] = [];
    let sent = 0;

    await Promise.all(
      Array.from({ length: WS_SOCKETS }, async (_, s) => {
        const user = users[s % users.length]!;
        const frames = fc.sample(frameArb, { numRuns: WS_FRAMES_PER_SOCKET, seed: SEED + s });
        let conn = await open(user);
        for (const f of frames) {
          const t0 = Date.now();
          const valid = validFrameOf(f);
          if (conn.closed) conn = await open(user);
          conn.ws.send(f.payload, { binary: f.binary });
          sent++;
          tags.push(f.tag);
          const label = `${user} ${f.tag}: ${(typeof f.payload === 'string' ? f.payload : f.payload.toString('latin1')).slice(0, 120)}`;
          const got = await next(conn);
          if (got === null) failures.push(`${label} → no reply within 5 s`);
          else if ('close' in got) {
            closes.push(got.close.code);
            if (got.close.code !== f.expectClose)
              failures.push(`${label} → closed ${got.close.code} ${got.close.reason} (expected ${f.expectClose ?? 'a reply'})`);
          } else {
            replies.push(got.event === 'error' ? `error:${String(got.data.code)}` : got.event);
            if (f.expectClose) failures.push(`${label} → ${got.event} instead of close ${f.expectClose}`);
            else if (valid) {
              const sid = String((valid.data as { sessionId: string }).sessionId);
              const allowed = { join_session: 'session_joined', leave_session: 'session_left', get_progress: 'progress_update' }[valid.event];
              if (got.id !== valid.id) failures.push(`${label} → reply id ${got.id} ≠ ${valid.id}`);
              if (got.event === 'error') {
                if (!WsErrorDataSchema.safeParse(got.data).success || !String(got.data.message).trim())
                  failures.push(`${label} → malformed error ${JSON.stringify(got.data)}`);
                if (['upstream_unavailable', 'internal_error'].includes(String(got.data.code)))
                  failures.push(`${label} → server-side failure ${JSON.stringify(got.data)}`);
              } else if (got.event !== allowed) failures.push(`${label} → unexpected ${got.event}`);
              // Another tenant's or agent's session is "not found", never joined or shown.
              if (valid.event !== 'leave_session' && !ownSessions[user].has(sid) && got.event !== 'error')
                failures.push(
                  `${label} → ${got.event} for a session the user may not see (sessions ${JSON.stringify(sessions)}; reply ${JSON.stringify(got).slice(0, 200)})`,
                );
            } else {
              const e = WsErrorDataSchema.safeParse(got.data);
              if (got.event !== 'error' || !e.success || !e.data.message.trim() || !e.data.code.trim())
                failures.push(`${label} → not a coded error frame: ${JSON.stringify(got).slice(0, 200)}`);
            }
          }
          const wait = WS_FRAME_INTERVAL_MS - (Date.now() - t0);
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        conn.ws.close();
      }),
    );

    // A flooding socket: throttled with coded errors, then cut off with 4429.
    const flood = await open('adminB');
    for (let i = 0; i < 150; i++) flood.ws.send(i % 2 ? '{' : JSON.stringify({ event: 'nope', data: {} }));
    sent += 150;
    const floodFrames: Frame[] = [];
    let floodClose: { code: number; reason: string } | null = null;
    for (;;) {
      const got = await next(flood);
      if (got === null) break;
      if ('close' in got) {
        floodClose = got.close;
        break;
      }
      floodFrames.push(got);
    }
    expect(floodFrames.length).toBeGreaterThan(0);
    for (const f of floodFrames) expect(f.event === 'error' && WsErrorDataSchema.safeParse(f.data).success, JSON.stringify(f)).toBe(true);
    expect(floodFrames.some((f) => f.data.code === 'rate_limited')).toBe(true);
    expect(floodClose?.code).toBe(WS_CLOSE.rateLimited);

    // Bad tokens: the socket opens and closes with 4401 and a reason.
    const authAttempts: Array<[string, Record<string, string>]> = [
      ['', {}],
      ['?token=', {}],
      ['?token=a&token=b', {}],
      ...BAD_AUTH.filter((a) => a.startsWith('Bearer ') && /^[\x21-\x7e]+$/.test(a.slice(7))).map((a): [string, Record<string, string>] => [
        `?token=${encodeURIComponent(a.slice(7))}`,
        {},
      ]),
      ...BAD_AUTH.filter((a) => /^[\x20-\x7e]+$/.test(a)).map((a): [string, Record<string, string>] => ['', { authorization: a }]),
      [`?token=${'%FF%FE'.repeat(10)}`, {}],
      [`?token=${tokens.adminA}%00`, {}],
    ];
    for (const [query, headers] of authAttempts) {
      const c = await connect(query, headers);
      if (!('ws' in c)) {
        failures.push(`auth ${query} ${JSON.stringify(headers).slice(0, 80)} → HTTP ${c.status} instead of close 4401`);
        continue;
      }
      const got = await next(c);
      if (got === null || !('close' in got) || got.close.code !== WS_CLOSE.unauthorized || !got.close.reason.trim())
        failures.push(`auth ${query.slice(0, 60)} ${JSON.stringify(headers).slice(0, 80)} → ${JSON.stringify(got).slice(0, 160)}`);
      else closes.push(got.close.code);
    }
    // Upgrades on paths that are not the socket: an HTTP 404 ErrorBody, not a hang.
    for (const path of ['/x', '/../onboarding', '%2e%2e']) {
      const c = await new Promise<{ status: number; body: string }>((resolve) => {
        const ws = new WebSocket(`${wsBase}${path}?token=${tokens.adminA}`);
        ws.on('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        ws.on('open', () => resolve({ status: 101, body: '' }));
        ws.on('error', (err) => resolve({ status: 0, body: err.message }));
      });
      if (c.status === 101) continue; // normalized back onto /onboarding by the client's URL parser
      if (c.status !== 404 || !ErrorBodySchema.safeParse(JSON.parse(c.body || 'null')).success)
        failures.push(`upgrade ${path} → ${c.status} ${c.body.slice(0, 120)}`);
    }

    console.log(`\nWS fuzz: ${sent} frames sent, by kind:`, countBy(tags), 'replies:', countBy(replies));
    console.log('WS fuzz: closes:', countBy(closes), 'documented:', DOCUMENTED_CLOSES, `flood: ${floodFrames.length} error frames then ${floodClose?.code}`);
    if (failures.length > 0) for (const f of failures.slice(0, 25)) console.log(`  ✗ ${f}`);

    expect(sent).toBeGreaterThanOrEqual(1_000);
    for (const code of closes) expect(Object.keys(DOCUMENTED_CLOSES).map(Number).concat(WS_CLOSE.unauthorized)).toContain(code);
    expect(failures.slice(0, 25)).toEqual([]);
    expect(processesAlive().realtime).toBe(true);
  });

  it('nothing crashed: all five processes alive, ready, and no fatal log line', async () => {
    expect(processesAlive()).toEqual({ gateway: true, session: true, progress: true, 'connection-test': true, realtime: true });
    const ready = await fetch(`${sys.gateway.url}/health/ready`);
    expect(ready.status, JSON.stringify(await ready.clone().json())).toBe(200);
    for (const p of [sys.session, sys.progress, sys.connectionTest, sys.realtime]) {
      expect((await fetch(`${p.url}/health/ready`)).status, `${p.name} ready`).toBe(200);
    }
    const errorLines: Record<string, string[]> = {};
    for (const p of [sys.gateway, sys.session, sys.progress, sys.connectionTest, sys.realtime]) {
      errorLines[p.name] = p.logs.filter((l) => /"level":(50|60)/.test(l) || /uncaught|unhandled/i.test(l));
    }
    const counts = Object.fromEntries(Object.entries(errorLines).map(([k, v]) => [k, v.length]));
    console.log('\nerror-level log lines per process:', counts);
    for (const [name, lines] of Object.entries(errorLines)) for (const l of lines.slice(0, 3)) console.log(`  ${name}: ${l.slice(0, 400)}`);
    expect(Object.values(errorLines).flat().slice(0, 5)).toEqual([]);
  });
});
