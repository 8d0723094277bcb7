/**
 * The isolation matrix (ARCHITECTURE §2): for every HTTP route in `ROUTES` and every WebSocket action,
 * a user of tenant B (admin and agent), an agent of tenant A acting on another user's session, and
 * tokens with missing or malformed claims must never read or change anything across the boundary.
 * The HTTP cases are generated from `ROUTES`, so a new route without a case fails the test.
 */
import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { builtInDefinition, ErrorBodySchema, ROUTES, type RouteContract, type RouteName } from '@glavito/contracts';
import { readStream, TEST_JWT_SECRET, waitFor } from '@glavito/testkit';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Stripe from 'stripe';
import { startSystem, TEST_STRIPE_WEBHOOK_SECRET, TEST_UNSUBSCRIBE_SECRET, type System } from './system.js';

// ---------------------------------------------------------------------------------------------
// Identities, tokens
// ---------------------------------------------------------------------------------------------

interface Identity {
  userId: string;
  tenantId: string;
  roles: string[];
}

const TENANT_A = 'tenant-alpha';
const TENANT_B = 'tenant-bravo';
const ADMIN_A: Identity = { userId: 'ada-admin', tenantId: TENANT_A, roles: ['admin'] };
const A1: Identity = { userId: 'alice-agent', tenantId: TENANT_A, roles: ['agent'] };
const A2: Identity = { userId: 'arthur-agent', tenantId: TENANT_A, roles: ['agent'] };
const ADMIN_B: Identity = { userId: 'bob-admin', tenantId: TENANT_B, roles: ['admin'] };
const B1: Identity = { userId: 'bea-agent', tenantId: TENANT_B, roles: ['agent'] };

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
/** An HS256 token with arbitrary claims, signed with the system's secret (or another one). */
function forge(claims: Record<string, unknown>, opts: { secret?: string; alg?: string } = {}): string {
  const iat = Math.floor(Date.now() / 1000);
  const head = `${b64url({ alg: opts.alg ?? 'HS256', typ: 'JWT' })}.${b64url({ iat, exp: iat + 3600, ...claims })}`;
  if (opts.alg === 'none') return `${head}.`;
  return `${head}.${createHmac('sha256', opts.secret ?? TEST_JWT_SECRET)
    .update(head)
    .digest('base64url')}`;
}

/** Tokens that must be refused (401 / close 4401) everywhere; the claims aim at tenant A with the admin role. */
const BAD_TOKENS: Array<{ name: string; token: string | null }> = [
  { name: 'no-tenantId', token: forge({ sub: ADMIN_A.userId, roles: ['admin'] }) },
  { name: 'no-sub', token: forge({ tenantId: TENANT_A, roles: ['admin'] }) },
  { name: 'roles-not-array', token: forge({ sub: ADMIN_A.userId, tenantId: TENANT_A, roles: 'admin' }) },
  { name: 'sub-with-dot', token: forge({ sub: 'alice.agent', tenantId: TENANT_A, roles: ['admin'] }) },
  { name: 'tenant-wildcard', token: forge({ sub: ADMIN_A.userId, tenantId: 'tenant-alpha.>', roles: ['admin'] }) },
  { name: 'alg-none', token: forge({ sub: ADMIN_A.userId, tenantId: TENANT_A, roles: ['admin'] }, { alg: 'none' }) },
  {
    name: 'wrong-secret',
    token: forge({ sub: ADMIN_A.userId, tenantId: TENANT_A, roles: ['admin'] }, { secret: 'another-secret-that-is-long-enough-0123456789' }),
  },
  { name: 'expired', token: forge({ sub: ADMIN_A.userId, tenantId: TENANT_A, roles: ['admin'], iat: 1_600_000_000, exp: 1_600_000_060 }) },
  { name: 'no-token', token: null },
];

type AttackerKind = 'foreign-admin' | 'foreign-agent' | 'peer-agent';
interface Attacker {
  name: string;
  kind: AttackerKind;
  who: Identity;
}
const ATTACKERS: Attacker[] = [
  { name: 'adminB', kind: 'foreign-admin', who: ADMIN_B },
  { name: 'agentB1', kind: 'foreign-agent', who: B1 },
  { name: 'agentA2', kind: 'peer-agent', who: A2 },
];
const isAdmin = (i: Identity) => i.roles.includes('admin');

// ---------------------------------------------------------------------------------------------
// Fixtures: tenant A's and tenant B's data (the A strings below are markers that must never leak)
// ---------------------------------------------------------------------------------------------

const A_ORG = { companyName: 'Alpha Widgets Ltd', primaryColor: '#a1b2c3', companySize: '10-50', timezone: 'Asia/Tokyo' };
const A1_PROFILE = { displayName: 'Alice Liddell', timezone: 'Pacific/Chatham' };
const A_HOURS = {
  timezone: 'Asia/Tokyo',
  schedule: Object.fromEntries(
    ['monday', 'tuesday', 'wednesday', 'thursday', 'friday'].map((d) => [
      d,
      { enabled: true, start: '08:30', end: '17:00', breaks: [{ start: '12:00', end: '13:00', name: 'Alpha lunch' }] },
    ]),
  ),
  holidays: ['2031-12-24'],
};
const B_ORG = { companyName: 'Bravo Logistics', primaryColor: '#0b0b0b', companySize: '1-10', timezone: 'America/Chicago' };
const B_HOURS = {
  timezone: 'America/Chicago',
  schedule: Object.fromEntries(
    ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'].map((d) => [d, { enabled: true, start: '08:00', end: '20:00' }]),
  ),
  holidays: [],
};
/** Content of tenant A that no attacker may ever see (A2 included: it is A1's or the admin's private data). */
const A_PRIVATE_CONTENT = ['Alpha Widgets', 'Alice Liddell', 'Pacific/Chatham', 'alpha-hook', 'alpha-hook-secret', 'alice-hook-secret', 'acct_1Alpha'];
/** Tenant-wide content of A: visible to A's own users, never to tenant B. */
const A_TENANT_CONTENT = ['Asia/Tokyo', '2031-12-24', 'Alpha lunch', 'billing@alpha-widgets.test', 'ALPHA-INV'];
/** Tenant B's Stripe account (set up in beforeAll): the signed webhook case speaks about it. */
let bStripeAccount = '';
/** A Stripe event about tenant B's own account, signed with the system's webhook secret (what Stripe would send). */
function signedStripeEvent(accountId: string): { body: Record<string, unknown>; headers: Record<string, string> } {
  const body = {
    id: `evt_iso_${accountId}`,
    object: 'event',
    type: 'account.updated',
    created: Math.floor(Date.now() / 1000),
    account: accountId,
    data: {
      object: {
        id: accountId,
        object: 'account',
        charges_enabled: true,
        payouts_enabled: true,
        details_submitted: true,
        requirements: { currently_due: [], past_due: [], disabled_reason: null },
      },
    },
  };
  return {
    body,
    headers: { 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload: JSON.stringify(body), secret: TEST_STRIPE_WEBHOOK_SECRET }) },
  };
}

/** Bodies and queries the attackers send: valid, so an authorisation gap would show as a 2xx. */
const ATTACK_HOURS = { timezone: 'Pacific/Kiritimati', schedule: { sunday: { enabled: true, start: '00:00', end: '24:00' } }, holidays: [] };
const BH_AT = '2031-06-04T03:30:00Z'; // a Wednesday: 12:30 in Tokyo (A's lunch break)
const BH_RANGE = { start: '2031-06-02T00:00:00Z', end: '2031-06-09T00:00:00Z' };
const BH_ADD = { start: '2031-06-02T00:00:00Z', minutes: 600 };

interface Victim {
  label: string;
  owner: Identity;
  sessionId: string;
  save: { stepId: string; body: Record<string, unknown> };
  skipStepId: string;
}

// ---------------------------------------------------------------------------------------------
// Route cases: one per ROUTES entry (the mapped type makes a missing case a compile error too)
// ---------------------------------------------------------------------------------------------

/**
 * victim: addresses a session or a user through path params (filled with the victim's ids);
 * tenant: reads or changes the caller's tenant (must only ever touch the caller's own tenant);
 * caller: acts on the caller's own sessions; pure: computes from the input only.
 */
type Scope = 'victim' | 'tenant' | 'caller' | 'pure';
interface Call {
  variant?: string;
  stepId?: string;
  /** A flow type, for `:type`. */
  type?: string;
  query?: string;
  body?: unknown;
  /** Needs the admin role although the route is open to users (e.g. `force=true`). */
  adminOnly?: boolean;
  /** Extra request headers (a Stripe signature). */
  headers?: Record<string, string>;
}
interface RouteCase {
  scope: Scope;
  calls: (v: Victim, hook: string) => Call[];
}

const one =
  (c: Call = {}) =>
  () => [c];
/** An unsubscribe link's token, signed as the notification service signs them (services/notification/src/domain/unsubscribe-token.ts). */
function unsubscribeLink(tenantId: string, userId: string): string {
  const payload = Buffer.from(JSON.stringify([tenantId, userId])).toString('base64url');
  return `${payload}.${createHmac('sha256', TEST_UNSUBSCRIBE_SECRET).update(`unsubscribe:${payload}`).digest('base64url')}`;
}
const webhookTest = (hook: string) => ({ channel: 'webhook', config: { url: `${hook}/attacker-hook`, secret: 'attacker-secret' } });

const CASES: { [K in RouteName]: RouteCase } = {
  start: { scope: 'caller', calls: one({ body: {} }) },
  getSession: { scope: 'victim', calls: one() },
  status: { scope: 'caller', calls: one() },
  type: { scope: 'caller', calls: one() },
  saveStep: { scope: 'victim', calls: (v) => [{ stepId: v.save.stepId, body: v.save.body }] },
  skipStep: { scope: 'victim', calls: (v) => [{ stepId: v.skipStepId, body: { reason: 'mallory' } }] },
  // The built-in flows are the same for every tenant: nothing tenant-specific to leak (for now).
  flow: { scope: 'caller', calls: one() },
  flowByType: { scope: 'pure', calls: () => [{ type: 'tenant_setup' }, { variant: '[agent_welcome]', type: 'agent_welcome' }] },
  // A tenant's flow drafts and versions: an admin of B reads and changes only B's; agents are refused.
  flowVersions: { scope: 'tenant', calls: () => [{ type: 'tenant_setup' }] },
  flowDraftGet: { scope: 'tenant', calls: () => [{ type: 'tenant_setup' }] },
  flowDraftPut: { scope: 'tenant', calls: () => [{ type: 'tenant_setup', body: builtInDefinition('tenant_setup') }] },
  flowPublish: { scope: 'tenant', calls: () => [{ type: 'tenant_setup' }] },
  languages: { scope: 'pure', calls: one() },
  stepConfiguration: { scope: 'pure', calls: one({ stepId: 'organization_setup', query: '?type=tenant_setup' }) },
  validateStepPost: {
    scope: 'pure',
    calls: one({ stepId: 'organization_setup', query: '?type=tenant_setup', body: { companyName: 'Mallory Inc', primaryColor: '#000000' } }),
  },
  validateStepGet: {
    scope: 'pure',
    calls: one({ stepId: 'organization_setup', query: `?type=tenant_setup&data=${encodeURIComponent(JSON.stringify({ companyName: 'Mallory Inc' }))}` }),
  },
  pause: { scope: 'victim', calls: one() },
  resume: { scope: 'victim', calls: one() },
  complete: { scope: 'victim', calls: () => [{}, { variant: '?force=true', query: '?force=true', adminOnly: true }] },
  tenantSetupStatus: { scope: 'tenant', calls: one() },
  tenantSetupComplete: { scope: 'tenant', calls: one() },
  agentWelcomeStart: { scope: 'caller', calls: one({ body: {} }) },
  agentWelcomeStatus: { scope: 'victim', calls: one() },
  businessHoursGet: { scope: 'tenant', calls: one() },
  businessHoursPut: { scope: 'tenant', calls: one({ body: ATTACK_HOURS }) },
  businessHoursDelete: { scope: 'tenant', calls: one() },
  businessHoursCheck: { scope: 'tenant', calls: one({ query: `?at=${encodeURIComponent(BH_AT)}` }) },
  businessHoursWorkingTime: { scope: 'tenant', calls: one({ body: BH_RANGE }) },
  businessHoursAddTime: { scope: 'tenant', calls: one({ body: BH_ADD }) },
  businessHoursNextDay: { scope: 'tenant', calls: one({ query: `?from=${encodeURIComponent(BH_AT)}` }) },
  progress: { scope: 'victim', calls: one() },
  statistics: { scope: 'tenant', calls: () => [{}, { variant: '?type=agent_welcome', query: '?type=agent_welcome' }] },
  statisticsTimeseries: {
    scope: 'tenant',
    calls: () => [{ query: '?metric=starts' }, { variant: '?completion_rate&week', query: '?metric=completion_rate&interval=week&type=agent_welcome' }],
  },
  statisticsCohorts: { scope: 'tenant', calls: one() },
  statisticsExport: { scope: 'tenant', calls: () => [{ query: '?format=csv' }, { variant: '?ndjson', query: '?format=ndjson' }] },
  testConnection: { scope: 'victim', calls: (_v, hook) => [{ body: webhookTest(hook) }] },
  testConnections: { scope: 'victim', calls: (_v, hook) => [{ body: { tests: [webhookTest(hook)] } }, { variant: '[bare]', body: [webhookTest(hook)] }] },
  connectionHistory: { scope: 'victim', calls: one({ query: '?limit=100' }) },
  validateConnectionConfig: { scope: 'pure', calls: (_v, hook) => [{ body: webhookTest(hook) }] },
  sessionClients: { scope: 'victim', calls: one() },
  userClients: { scope: 'victim', calls: one() },
  notifications: { scope: 'caller', calls: () => [{ query: '?limit=100' }, { variant: '?unread', query: '?unread=true' }] },
  notificationsMarkRead: { scope: 'caller', calls: one({ body: { all: true } }) },
  notificationSettingsGet: { scope: 'caller', calls: one() },
  notificationSettingsPut: { scope: 'caller', calls: one({ body: { email: 'mallory@example.com' } }) },
  // No bearer token by design: the signed link names its user (here tenant B's own agent), and nobody else.
  notificationsUnsubscribe: { scope: 'pure', calls: one({ query: `?token=${unsubscribeLink(TENANT_B, B1.userId)}`, body: {} }) },
  reminderPolicyGet: { scope: 'tenant', calls: one() },
  reminderPolicyPut: {
    scope: 'tenant',
    calls: one({
      body: {
        enabled: true,
        inactivityMinutes: 1,
        maxReminders: 10,
        channels: ['in_app'],
        adminNotifications: { milestones: false, completion: false, email: false },
        texts: {},
      },
    }),
  },
  paymentSetup: {
    scope: 'tenant',
    calls: one({
      body: { stripeAccount: { email: 'mallory@bravo.test', country: 'US', businessType: 'individual' }, billingConfiguration: { currency: 'usd' } },
    }),
  },
  paymentStatus: { scope: 'tenant', calls: one() },
  paymentAccountLink: { scope: 'tenant', calls: one() },
  paymentAccount: { scope: 'tenant', calls: one() },
  paymentBillingConfigGet: { scope: 'tenant', calls: one() },
  paymentBillingConfigPut: { scope: 'tenant', calls: one({ body: { currency: 'usd', invoicePrefix: 'MAL' } }) },
  // No bearer token by design: Stripe's signature proves the sender, our account mapping names the tenant (B's own here).
  paymentStripeWebhook: { scope: 'pure', calls: () => [{ ...signedStripeEvent(bStripeAccount) }] },
  auditList: { scope: 'tenant', calls: () => [{ query: '?limit=200' }, { variant: '?action', query: '?action=access.denied&limit=200' }] },
  auditExport: { scope: 'tenant', calls: () => [{ query: '?format=ndjson' }, { variant: '?csv', query: '?format=csv' }] },
  auditVerify: { scope: 'tenant', calls: one() },
};

/** Fills `:param`s; a param the matrix does not know fails the test (a new route needs a case). */
function fillPath(url: string, params: Record<string, string | undefined>): string {
  return url.replace(/:([A-Za-z]+)/g, (_m, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no value for :${name} in ${url}: add it to the isolation matrix`);
    return encodeURIComponent(value);
  });
}

// ---------------------------------------------------------------------------------------------
// System, HTTP and WS helpers
// ---------------------------------------------------------------------------------------------

let sys: System;
let receiver: http.Server;
let hook = '';
const hookHits: Record<string, number> = {};

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    hookHits[path] = (hookHits[path] ?? 0) + 1;
    req.resume();
    res.writeHead(204).end();
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  sys = await startSystem({ logLevel: 'warn' });
});
afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await sys?.stop();
  receiver?.close();
});

interface Res {
  status: number;
  body: unknown;
  text: string;
}

async function call(
  method: string,
  path: string,
  token: string | null,
  body?: unknown,
  base = sys.gateway.url,
  extra: Record<string, string> = {},
): Promise<Res> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...extra,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: res.status, body: parsed, text };
}

const tok = (i: Identity) => sys.token(i);
/** A call as `who` that must succeed (setup and victim reads). */
async function ok(who: Identity, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const r = await call(method, path, tok(who), body);
  if (r.status >= 300) throw new Error(`${who.userId} ${method} ${path} → ${r.status} ${r.text}`);
  return r.body as Record<string, unknown>;
}
const sessionIdOf = (body: Record<string, unknown>) => (body.session as { id: string }).id;

type Frame = { event: string; data: Record<string, unknown>; id?: string };
interface Sock {
  name: string;
  ws: WebSocket;
  frames: Frame[];
  closed: { code?: number; reason?: string };
}
const sockets: Sock[] = [];

/** Opens a socket through the gateway; resolves once it is open or closed (whichever comes first). */
function openSocket(name: string, token: string | null): Promise<Sock> {
  return new Promise((resolve, reject) => {
    const url = `${sys.gateway.url.replace('http', 'ws')}/onboarding${token !== null ? `?token=${encodeURIComponent(token)}` : ''}`;
    const ws = new WebSocket(url);
    const s: Sock = { name, ws, frames: [], closed: {} };
    ws.on('message', (raw: Buffer) => s.frames.push(JSON.parse(raw.toString()) as Frame));
    ws.on('close', (code, reason) => {
      s.closed = { code, reason: reason.toString() };
      resolve(s);
    });
    ws.once('open', () => resolve(s));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`${name}: upgrade answered HTTP ${res.statusCode}`)));
    ws.once('error', reject);
    sockets.push(s);
  });
}

async function request(s: Sock, event: string, data: Record<string, unknown>): Promise<Frame> {
  const id = `${event}-${randomUUID().slice(0, 8)}`;
  s.ws.send(JSON.stringify({ event, data, id }));
  return waitFor(() => s.frames.find((f) => f.id === id), { message: `${s.name}: reply to ${event}` });
}

/** Every outbox relayed and every session event applied by the progress projection. */
async function quiesce(): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await sys.db.pool.query<{ pending: string; lagging: string }>(
        `SELECT (SELECT count(*) FROM session.outbox WHERE published_at IS NULL)
              + (SELECT count(*) FROM progress.outbox WHERE published_at IS NULL)
              + (SELECT count(*) FROM connection_test.outbox WHERE published_at IS NULL) AS pending,
                (SELECT count(*) FROM session.sessions s LEFT JOIN progress.projections p ON p.session_id = s.id
                  WHERE p.applied_seq IS DISTINCT FROM s.event_seq) AS lagging`,
      );
      return rows[0]!.pending === '0' && rows[0]!.lagging === '0';
    },
    { timeoutMs: 20_000, message: 'outboxes relayed and projections caught up' },
  );
  // The consumers' own follow-up events (progress.updated, milestone.reached) settle just after.
  await new Promise((r) => setTimeout(r, 300));
}

/** Tenant A's stored state, for pinning a change on the very call that made it. */
async function tenantAFingerprint(): Promise<string> {
  const { rows } = await sys.db.pool.query<{ f: unknown }>(
    `SELECT json_build_object(
       'sessions', (SELECT json_agg(json_build_array(id, version, status, completed_steps, skipped_steps, step_data, metadata) ORDER BY id) FROM session.sessions WHERE tenant_id = $1),
       'hours', (SELECT row_to_json(b) FROM session.business_hours b WHERE tenant_id = $1),
       'flag', (SELECT row_to_json(t) FROM session.tenant_onboarding t WHERE tenant_id = $1),
       'runs', (SELECT count(*) FROM connection_test.test_runs WHERE tenant_id = $1),
       'payment', (SELECT row_to_json(p) FROM payment.accounts p WHERE tenant_id = $1),
       'billing', (SELECT row_to_json(b) FROM payment.billing_configs b WHERE tenant_id = $1)) AS f`,
    [TENANT_A],
  );
  return JSON.stringify(rows[0]!.f);
}

async function projectionCount(tenantId: string): Promise<number> {
  const { rows } = await sys.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM progress.projections WHERE tenant_id = $1 AND applied_seq > 0', [
    tenantId,
  ]);
  return Number(rows[0]!.n);
}

// ---------------------------------------------------------------------------------------------
// State shared by the tests
// ---------------------------------------------------------------------------------------------

const victims: Victim[] = [];
const sess: Record<string, string> = {};
/** Tenant A's answers to the tenant-wide reads (as admin A): B must never get these, A2 must. */
const aRef: Partial<Record<RouteName, string>> = {};
let bTenantSetupBaseline: unknown;
let socks: Record<'a1' | 'a2' | 'adminA' | 'b1' | 'adminB', Sock>;

const A_IDS = () => [TENANT_A, ADMIN_A.userId, A1.userId, A2.userId, sess.a1!, sess.a2!, sess.adminA!];
/** Strings that must not appear in an attacker's successful answer. */
function forbiddenFor(a: Attacker): string[] {
  if (a.kind === 'peer-agent') return [A1.userId, sess.a1!, sess.adminA!, ...A_PRIVATE_CONTENT];
  return [...A_IDS(), ...A_PRIVATE_CONTENT, ...A_TENANT_CONTENT];
}
const found = (text: string, markers: string[]) => markers.filter((m) => text.includes(m));

/**
 * The attacker's own tenant records its refused probes (a 404 on a session route is `access.denied` with the session
 * id the attacker sent: the edge records it whether or not that session exists elsewhere, so it is no oracle). Those
 * echo the attacker's own input and are dropped before looking for tenant A's content; everything else in the answer
 * is still checked.
 */
function withoutOwnProbes(name: RouteName, text: string): string {
  if (name !== 'auditList' && name !== 'auditExport') return text;
  const isProbe = (r: { action?: string; target?: { type?: string } }) => r.action === 'access.denied' && r.target?.type === 'session';
  if (name === 'auditList') {
    const body = JSON.parse(text) as { items: Array<{ action?: string; target?: { type?: string } }> };
    return JSON.stringify({ ...body, items: body.items.filter((r) => !isProbe(r)) });
  }
  if (text.startsWith('{'))
    return text
      .split('\n')
      .filter((l) => l && !isProbe(JSON.parse(l) as { action?: string }))
      .join('\n');
  return text
    .split('\n')
    .filter((l) => !l.includes(',access.denied,session,'))
    .join('\n');
}

/** Everything an attack could have changed, read as the victims (plus stored counts and the webhook receiver). */
async function victimState(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const v of victims) {
    out[`${v.label}.session`] = await ok(v.owner, 'GET', `/onboarding/session/${v.sessionId}`);
    out[`${v.label}.progress`] = await ok(v.owner, 'GET', `/onboarding/progress/${v.sessionId}`);
    out[`${v.label}.history`] = await ok(v.owner, 'GET', `/onboarding/connection-history/${v.sessionId}?limit=100`);
    out[`${v.label}.welcome`] = await ok(v.owner, 'GET', `/onboarding/agent-welcome/status/${v.owner.userId}`);
    const runs = await sys.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM connection_test.test_runs WHERE session_id = $1', [v.sessionId]);
    out[`${v.label}.testRuns`] = runs.rows[0]!.n;
    out[`${v.label}.events`] = (await readStream(sys.nats))
      .filter((e) => e.event.sessionId === v.sessionId)
      .map((e) => `${e.event.sessionSeq}:${e.event.type}`);
  }
  out.businessHours = await ok(ADMIN_A, 'GET', '/onboarding/business-hours');
  out.tenantSetup = await ok(ADMIN_A, 'GET', '/onboarding/tenant-setup/status');
  out.statistics = await ok(ADMIN_A, 'GET', '/onboarding/statistics');
  out.tenantFlag = (await sys.db.pool.query('SELECT * FROM session.tenant_onboarding WHERE tenant_id = $1', [TENANT_A])).rows;
  out.tenantASessions = (await sys.db.pool.query('SELECT id, user_id, version FROM session.sessions WHERE tenant_id = $1 ORDER BY id', [TENANT_A])).rows;
  out.hookHits = { ...hookHits };
  return out;
}

// ---------------------------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------------------------

const summary = new Map<string, Map<string, string>>();
function record(row: string, col: string, cell: string) {
  if (!summary.has(row)) summary.set(row, new Map());
  summary.get(row)!.set(col, cell);
}
function printSummary(title: string, cols: string[]) {
  const rows = [...summary.entries()];
  const w0 = Math.max(...rows.map(([r]) => r.length), 5);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map(([, m]) => (m.get(c) ?? '').length)));
  const line = (first: string, cells: string[]) => [first.padEnd(w0), ...cells.map((c, i) => c.padEnd(widths[i]!))].join(' | ');
  const out = [
    title,
    line('route', cols),
    line(
      '-'.repeat(w0),
      widths.map((w) => '-'.repeat(w)),
    ),
    ...rows.map(([r, m]) =>
      line(
        r,
        cols.map((c) => m.get(c) ?? ''),
      ),
    ),
  ];
  console.log(out.join('\n'));
}

describe('isolation matrix', () => {
  beforeAll(async () => {
    // Tenant A: the admin completes the tenant setup, then runs a tenant_setup session of their own.
    await ok(ADMIN_A, 'POST', '/onboarding/tenant-setup/complete');
    const adminA = await ok(ADMIN_A, 'POST', '/onboarding/start', { type: 'tenant_setup' });
    sess.adminA = sessionIdOf(adminA);
    await ok(ADMIN_A, 'PUT', `/onboarding/step/${sess.adminA}/organization_setup`, A_ORG);
    await ok(ADMIN_A, 'PUT', `/onboarding/step/${sess.adminA}/channel_configuration`, { webchat: { enabled: true } });
    await ok(ADMIN_A, 'PUT', `/onboarding/step/${sess.adminA}/team_management`, { teamMembers: [{ email: 'arthur@alpha.test', role: 'agent' }] });
    const adminTest = await ok(ADMIN_A, 'POST', `/onboarding/test-connection/${sess.adminA}`, {
      channel: 'webhook',
      config: { url: `${hook}/alpha-hook`, secret: 'alpha-hook-secret' },
    });
    expect(adminTest.result).toMatchObject({ status: 'success' });
    await ok(ADMIN_A, 'PUT', '/onboarding/business-hours', A_HOURS);

    // Agents A1 and A2: agent_welcome sessions. A1 goes up to test_ticket, so every attacked write
    // (save quick_start, skip notification_preferences, pause) would succeed for its owner.
    const a1 = await ok(A1, 'POST', '/onboarding/start', {});
    sess.a1 = sessionIdOf(a1);
    await ok(A1, 'PUT', `/onboarding/step/${sess.a1}/profile_setup`, A1_PROFILE);
    for (const step of ['team_assignment', 'permissions_overview', 'feature_tour', 'test_ticket'])
      await ok(A1, 'PUT', `/onboarding/step/${sess.a1}/${step}`, {});
    const a1Test = await ok(A1, 'POST', `/onboarding/test-connection/${sess.a1}`, {
      channel: 'webhook',
      config: { url: `${hook}/alice-hook`, secret: 'alice-hook-secret' },
    });
    expect(a1Test.result).toMatchObject({ status: 'success' });
    const a2 = await ok(A2, 'POST', '/onboarding/agent-welcome/start', {});
    sess.a2 = sessionIdOf(a2);
    await ok(A2, 'PUT', `/onboarding/step/${sess.a2}/profile_setup`, { displayName: 'Arthur Dent', timezone: 'Europe/London' });

    // Tenant B: its admin and agent B1 with their own sessions and business hours.
    await ok(ADMIN_B, 'POST', '/onboarding/tenant-setup/complete');
    const adminB = await ok(ADMIN_B, 'POST', '/onboarding/start', {});
    sess.adminB = sessionIdOf(adminB);
    await ok(ADMIN_B, 'PUT', `/onboarding/step/${sess.adminB}/organization_setup`, B_ORG);
    await ok(ADMIN_B, 'PUT', '/onboarding/business-hours', B_HOURS);
    // Both tenants have a Stripe account: A's must never show to B; B's own calls must work.
    const aPay = await ok(ADMIN_A, 'POST', '/onboarding/payment/setup', {
      stripeAccount: { email: 'billing@alpha-widgets.test', country: 'JP', businessType: 'company' },
      billingConfiguration: { currency: 'jpy', invoicePrefix: 'ALPHA-INV' },
    });
    A_TENANT_CONTENT.push((aPay.account as { accountId: string }).accountId);
    const bPay = await ok(ADMIN_B, 'POST', '/onboarding/payment/setup', {
      stripeAccount: { email: 'billing@bravo.test', country: 'US', businessType: 'company' },
      billingConfiguration: { currency: 'usd' },
    });
    bStripeAccount = (bPay.account as { accountId: string }).accountId;
    const b1 = await ok(B1, 'POST', '/onboarding/start', {});
    sess.b1 = sessionIdOf(b1);
    await ok(B1, 'PUT', `/onboarding/step/${sess.b1}/profile_setup`, { displayName: 'Bea Bravo', timezone: 'America/Chicago' });

    victims.push(
      { label: 'A1', owner: A1, sessionId: sess.a1, save: { stepId: 'quick_start', body: {} }, skipStepId: 'notification_preferences' },
      {
        label: 'adminA',
        owner: ADMIN_A,
        sessionId: sess.adminA,
        save: { stepId: 'payment_setup', body: { stripeAccountId: 'acct_1Mallory' } },
        skipStepId: 'knowledge_base',
      },
    );
    // The attacked saves are valid data for their step: only authorisation can stop them.
    for (const v of victims) {
      const type = v.owner === A1 ? 'agent_welcome' : 'tenant_setup';
      expect(await ok(v.owner, 'POST', `/onboarding/validate-step/${v.save.stepId}?type=${type}`, v.save.body), `${v.label} attack body`).toMatchObject({
        isValid: true,
      });
    }

    // Sockets: admin A watches A1's session (so A1's session has a joined client and admin A gets its events).
    socks = {
      a1: await openSocket('A1', tok(A1)),
      a2: await openSocket('A2', tok(A2)),
      adminA: await openSocket('adminA', tok(ADMIN_A)),
      b1: await openSocket('B1', tok(B1)),
      adminB: await openSocket('adminB', tok(ADMIN_B)),
    };
    for (const s of Object.values(socks)) await waitFor(() => s.frames.find((f) => f.event === 'connected'), { message: `${s.name} connected` });
    expect(await request(socks.adminA, 'join_session', { sessionId: sess.a1 })).toMatchObject({ event: 'session_joined', data: { sessionId: sess.a1 } });

    await quiesce();
    // Tenant A's answers to the tenant-wide reads; tenant B's setup status as its own baseline.
    const stats = await waitFor(async () => {
      const s = await ok(ADMIN_A, 'GET', '/onboarding/statistics');
      return s.totalSessions === 3 ? s : null;
    });
    aRef.statistics = JSON.stringify(stats);
    for (const name of [
      'tenantSetupStatus',
      'businessHoursGet',
      'businessHoursCheck',
      'businessHoursWorkingTime',
      'businessHoursAddTime',
      'businessHoursNextDay',
      'paymentAccount',
      'paymentBillingConfigGet',
    ] as const) {
      const route = ROUTES[name] as RouteContract;
      const [c] = CASES[name].calls(victims[0]!, hook);
      aRef[name] = JSON.stringify(await ok(ADMIN_A, route.method, `${route.url}${c!.query ?? ''}`, c!.body));
    }
    bTenantSetupBaseline = await ok(ADMIN_B, 'GET', '/onboarding/tenant-setup/status');
    expect(bTenantSetupBaseline).toMatchObject({ completedBy: ADMIN_B.userId });
  });

  it('has a case for every route in ROUTES, and every victim-addressed route is victim-scoped', () => {
    const names = Object.keys(ROUTES) as RouteName[];
    const missing = names.filter((n) => !(n in CASES));
    expect(missing, 'routes without an isolation case').toEqual([]);
    expect(
      Object.keys(CASES).filter((n) => !(n in ROUTES)),
      'cases for routes that no longer exist',
    ).toEqual([]);
    for (const n of names) {
      const url = (ROUTES[n] as RouteContract).url;
      if (/:(sessionId|userId)\b/.test(url)) expect(CASES[n].scope, `${n} addresses a session or user`).toBe('victim');
      // Every param must be fillable.
      for (const c of CASES[n].calls(victims[0]!, hook)) fillPath(url, { sessionId: sess.a1, userId: A1.userId, stepId: c.stepId, type: c.type });
    }
  });

  it('no attacker reads or changes anything across the boundary (HTTP, every route)', async () => {
    const before = await victimState();
    const failures: string[] = [];
    let cells = 0;
    const fail = (row: string, col: string, why: string) => failures.push(`${row} × ${col}: ${why}`);

    for (const [name, route] of Object.entries(ROUTES) as Array<[RouteName, RouteContract]>) {
      const c = CASES[name];
      const targets = c.scope === 'victim' ? victims : victims.slice(0, 1);
      for (const v of targets) {
        for (const callSpec of c.calls(v, hook)) {
          const row = `${route.method} ${name}${callSpec.variant ?? ''}${c.scope === 'victim' ? ` @${v.label}` : ''}`;
          const path =
            fillPath(route.url, { sessionId: v.sessionId, userId: v.owner.userId, stepId: callSpec.stepId, type: callSpec.type }) + (callSpec.query ?? '');
          const unknownPath =
            fillPath(route.url, { sessionId: randomUUID(), userId: `nobody-${randomUUID().slice(0, 8)}`, stepId: callSpec.stepId, type: callSpec.type }) +
            (callSpec.query ?? '');
          const adminOnly = route.access === 'admin' || callSpec.adminOnly === true;

          for (const a of ATTACKERS) {
            cells++;
            const write = route.method !== 'GET';
            const fingerprint = write ? await tenantAFingerprint() : '';
            const r = await call(route.method, path, tok(a.who), callSpec.body, undefined, callSpec.headers);
            if (write && (await tenantAFingerprint()) !== fingerprint) fail(row, a.name, `tenant A's stored state changed (answer ${r.status})`);
            const expected = adminOnly && !isAdmin(a.who) ? 403 : c.scope === 'victim' ? 404 : 'ok';
            const good = expected === 'ok' ? r.status >= 200 && r.status < 300 : r.status === expected;
            record(row, a.name, `${r.status}${good ? '' : '!'}`);
            if (!good) fail(row, a.name, `expected ${expected}, got ${r.status} ${r.text.slice(0, 200)}`);

            if (r.status >= 400) {
              if (!ErrorBodySchema.safeParse(r.body).success) fail(row, a.name, `error body not in the error shape: ${r.text.slice(0, 200)}`);
              const leaked = found(r.text, [...A_PRIVATE_CONTENT, ...(a.kind === 'peer-agent' ? [] : A_TENANT_CONTENT)]);
              if (leaked.length) fail(row, a.name, `error body shows ${leaked.join(', ')}`);
              // No existence oracle: the victim's resource answers exactly like one that does not exist.
              if (c.scope === 'victim' && r.status === 404) {
                const u = await call(route.method, unknownPath, tok(a.who), callSpec.body);
                if (u.status !== r.status || (u.body as { code?: string }).code !== (r.body as { code?: string }).code)
                  fail(row, a.name, `victim ${r.status}/${(r.body as { code?: string }).code} vs unknown ${u.status}/${(u.body as { code?: string }).code}`);
              }
            } else {
              const leaked = found(withoutOwnProbes(name, r.text), forbiddenFor(a));
              if (leaked.length) fail(row, a.name, `2xx answer shows ${leaked.join(', ')}`);
              for (const problem of await checkOwnData(name, a, r.body as Record<string, unknown>)) fail(row, a.name, problem);
            }
          }

          // Bad tokens: 401 at the gateway, and at the owning service reached directly.
          const direct = {
            session: sys.session,
            progress: sys.progress,
            'connection-test': sys.connectionTest,
            realtime: sys.realtime,
            notification: sys.notification!,
            payment: sys.payment!,
            audit: sys.audit!,
          }[route.service];
          const badCells: string[] = [];
          for (const b of route.access === 'public' ? [] : BAD_TOKENS) {
            for (const [where, base] of [
              ['gw', sys.gateway.url],
              ['svc', direct.url],
            ] as const) {
              cells++;
              const r = await call(route.method, path, b.token, callSpec.body, base);
              if (r.status !== 401) {
                badCells.push(`${b.name}@${where}=${r.status}`);
                fail(row, `${b.name}@${where}`, `expected 401, got ${r.status} ${r.text.slice(0, 200)}`);
              } else if (found(r.text, [...A_PRIVATE_CONTENT, ...A_TENANT_CONTENT]).length) fail(row, `${b.name}@${where}`, '401 body shows tenant A data');
            }
          }
          record(row, `bad tokens ×${BAD_TOKENS.length}(gw+svc)`, badCells.length ? badCells.join(' ') : '401');

          // Positive control: admin A reads A's sessions (reads only: its writes would be legitimate).
          if (c.scope === 'victim' && route.method === 'GET') {
            const r = await call(route.method, path, tok(ADMIN_A), callSpec.body);
            record(row, 'adminA(ctl)', String(r.status));
            if (r.status !== 200) fail(row, 'adminA(ctl)', `same-tenant admin refused: ${r.status} ${r.text.slice(0, 200)}`);
            else if (name === 'connectionHistory' && (r.body as { items: unknown[] }).items.length === 0)
              fail(row, 'adminA(ctl)', 'no history (the victim ran a test)');
            else if (name !== 'connectionHistory' && !r.text.includes(v.sessionId) && !r.text.includes(v.owner.userId))
              fail(row, 'adminA(ctl)', 'answer is not about the victim');
            else if (name === 'getSession' || name === 'progress' || name === 'connectionHistory') {
              const own = before[`${v.label}.${name === 'getSession' ? 'session' : name === 'progress' ? 'progress' : 'history'}`];
              if (JSON.stringify(r.body) !== JSON.stringify(own)) fail(row, 'adminA(ctl)', "admin A's view differs from the owner's");
            }
          } else record(row, 'adminA(ctl)', '—');
        }
      }
    }

    await quiesce();
    const after = await victimState();
    for (const key of Object.keys(before)) {
      if (JSON.stringify(after[key]) !== JSON.stringify(before[key]))
        fail('state', key, `changed:\n  before ${JSON.stringify(before[key])}\n  after  ${JSON.stringify(after[key])}`);
    }
    printSummary(`isolation matrix: ${summary.size} rows, ${cells} HTTP cells, ${failures.length} failures (! = unexpected)`, [
      ...ATTACKERS.map((a) => a.name),
      `bad tokens ×${BAD_TOKENS.length}(gw+svc)`,
      'adminA(ctl)',
    ]);
    expect(failures).toEqual([]);
    expect(cells).toBeGreaterThan(Object.keys(ROUTES).length * (ATTACKERS.length + BAD_TOKENS.length * 2));
  });

  it('WebSocket: attackers cannot join, read progress of, or receive events of the victim session; bad tokens close 4401', async () => {
    const attackers = [
      { name: 'adminB', s: socks.adminB },
      { name: 'agentB1', s: socks.b1 },
      { name: 'agentA2', s: socks.a2 },
    ];
    const rows: string[] = [];
    const stream = await readStream(sys.nats);
    for (const v of victims) {
      // A real event id of the victim's session: a replay request must not bypass the visibility check.
      const lastEventId = stream.find((e) => e.event.sessionId === v.sessionId)!.event.id;
      for (const { name, s } of attackers) {
        const join = await request(s, 'join_session', { sessionId: v.sessionId });
        const replay = await request(s, 'join_session', { sessionId: v.sessionId, lastEventId });
        expect(replay, `${name} join ${v.label} with lastEventId`).toMatchObject({ event: 'error', data: { code: 'session_not_found' } });
        const progress = await request(s, 'get_progress', { sessionId: v.sessionId });
        const unknown = await request(s, 'join_session', { sessionId: randomUUID() });
        rows.push(
          `join_session/join+lastEventId/get_progress @${v.label} × ${name} → ${join.event}(${join.data.code}) / ${replay.event}(${replay.data.code}) / ${progress.event}(${progress.data.code})`,
        );
        expect(join, `${name} join ${v.label}`).toMatchObject({ event: 'error', data: { code: 'session_not_found' } });
        expect(progress, `${name} get_progress ${v.label}`).toMatchObject({ event: 'error', data: { code: 'session_not_found' } });
        expect(unknown.data.code, 'same answer as an unknown session').toBe(join.data.code);
        expect(JSON.stringify([join, replay, progress]), 'no victim data in the error').not.toMatch(/Alice Liddell|Alpha Widgets|progressPercentage/);
        // Leaving a session one never joined changes nothing for the others.
        expect((await request(s, 'leave_session', { sessionId: v.sessionId })).event).toMatch(/^(session_left|error)$/);
      }
    }
    // Positive control: admin A may read A1's progress (it joined A1's session in the setup).
    expect(await request(socks.adminA, 'get_progress', { sessionId: sess.a1 })).toMatchObject({ event: 'progress_update', data: { sessionId: sess.a1 } });
    const clients = await ok(A1, 'GET', `/onboarding/session-clients/${sess.a1}`);
    expect(clients.connectedClients, 'the attackers did not join, nor did their leave remove admin A').toBe(1);

    // Activity on the victim's session: only A1 (its user) and admin A (joined) may hear of it.
    for (const s of Object.values(socks)) s.frames.length = 0;
    await ok(A1, 'PUT', `/onboarding/step/${sess.a1}/quick_start`, {});
    await ok(A1, 'POST', `/onboarding/pause/${sess.a1}`);
    await ok(A1, 'POST', `/onboarding/resume/${sess.a1}`);
    for (const s of [socks.a1, socks.adminA]) {
      await waitFor(() => s.frames.some((f) => f.event === 'session_resumed' && f.data.sessionId === sess.a1), {
        message: `${s.name} gets the victim's events`,
      });
      await waitFor(() => s.frames.some((f) => f.event === 'progress_update' && f.data.sessionId === sess.a1), { message: `${s.name} gets progress` });
    }
    await new Promise((r) => setTimeout(r, 750));
    const heard = (s: Sock) => s.frames.filter((f) => JSON.stringify(f).includes(sess.a1!));
    for (const s of [socks.a1, socks.adminA]) {
      const events = heard(s).map((f) => f.event);
      rows.push(`events of A1's session × ${s.name} (control) → ${events.join(',')}`);
      expect(events).toEqual(expect.arrayContaining(['step_completed', 'progress_update', 'session_paused', 'session_resumed']));
      const ids = heard(s).map((f) => f.data.eventId);
      expect(new Set(ids).size, `${s.name} gets each event once`).toBe(ids.length);
    }
    for (const { name, s } of attackers) {
      rows.push(`events of A1's session × ${name} → ${heard(s).length} frames (${s.frames.length} frames in all)`);
      expect(heard(s), `${name} heard of the victim's session`).toEqual([]);
      expect(JSON.stringify(s.frames)).not.toMatch(/Alice Liddell|alice-agent/);
      expect(s.closed.code, `${name} still connected (the test saw a live socket)`).toBeUndefined();
    }

    // Bad tokens: refused with close code 4401, never a `connected` frame.
    for (const b of BAD_TOKENS) {
      const s = await openSocket(`bad:${b.name}`, b.token);
      await waitFor(() => s.closed.code, { message: `${b.name} closed` });
      rows.push(`connect × ${b.name} → close ${s.closed.code}`);
      expect(s.closed.code, b.name).toBe(4401);
      expect(
        s.frames.filter((f) => f.event === 'connected'),
        b.name,
      ).toEqual([]);
    }
    console.log(['websocket isolation:', ...rows.map((r) => `  ${r}`)].join('\n'));
  });
});

/** For a 2xx to an attacker on a tenant/caller/pure route: the answer is the attacker's own tenant's or user's data. */
async function checkOwnData(name: RouteName, a: Attacker, body: Record<string, unknown>): Promise<string[]> {
  const problems: string[] = [];
  const foreign = a.who.tenantId !== TENANT_A;
  const mustDifferFromA = (what: string) => {
    const ref = aRef[name];
    if (ref === undefined) return;
    const same = JSON.stringify(body) === ref;
    if (foreign && same) problems.push(`${what}: tenant B got tenant A's answer`);
    if (!foreign && !same) problems.push(`${what}: tenant A's own agent did not get tenant A's answer (control)`);
  };
  switch (name) {
    case 'start':
    case 'agentWelcomeStart':
    case 'status': {
      const s = body.session as { tenantId: string; userId: string } | null;
      if (s && (s.tenantId !== a.who.tenantId || s.userId !== a.who.userId)) problems.push(`session of ${s.tenantId}/${s.userId}`);
      break;
    }
    case 'flow':
      // An agent's own flow is the agent flow, whatever tenant it is in.
      if (!isAdmin(a.who) && body.type !== 'agent_welcome') problems.push(`an agent got the ${String(body.type)} flow`);
      break;
    case 'flowByType':
      if (!Array.isArray(body.steps) || body.steps.length === 0) problems.push('a flow without steps');
      break;
    case 'paymentAccount':
    case 'paymentBillingConfigGet':
      mustDifferFromA(name);
      break;
    case 'tenantSetupStatus': {
      // The references are the admins' views; an agent gets the same without the admin's session id.
      const asSeenBy = (status: Record<string, unknown>) => JSON.stringify(isAdmin(a.who) ? status : { ...status, sessionId: null });
      const same = asSeenBy(JSON.parse(aRef.tenantSetupStatus!) as Record<string, unknown>) === JSON.stringify(body);
      if (foreign && same) problems.push("tenant setup status: tenant B got tenant A's answer");
      if (!foreign && !same) problems.push("tenant setup status: tenant A's own agent did not get tenant A's answer (control)");
      if (foreign && JSON.stringify(body) !== asSeenBy(bTenantSetupBaseline as Record<string, unknown>))
        problems.push(`not tenant B's setup status: ${JSON.stringify(body)}`);
      if (!isAdmin(a.who) && body.sessionId !== null) problems.push("an agent got the admin's setup session id");
      break;
    }
    case 'businessHoursGet':
      mustDifferFromA('business hours');
      if (foreign && (body.config as { timezone?: string } | null)?.timezone === A_HOURS.timezone) problems.push("tenant A's business hours");
      break;
    case 'businessHoursCheck':
    case 'businessHoursWorkingTime':
    case 'businessHoursAddTime':
    case 'businessHoursNextDay':
      mustDifferFromA('business-hours figure');
      break;
    case 'statistics': {
      // Only admin B gets here: its totals are tenant B's projections, nothing of A's.
      if (JSON.stringify(body) === aRef.statistics) problems.push("tenant A's statistics");
      const total = body.totalSessions as number;
      const bySum = Object.values(body.byStatus as Record<string, number>).reduce((x, y) => x + y, 0);
      const bSessions = await projectionCount(TENANT_B);
      if (total > bSessions) problems.push(`statistics count ${total} sessions, tenant B has ${bSessions}`);
      if (bySum !== total) problems.push(`byStatus sums to ${bySum}, total ${total}`);
      for (const st of body.stepStatistics as Array<{ stepId: string; reachedCount: number }>) {
        if (st.reachedCount > bSessions) problems.push(`step ${st.stepId} reached by ${st.reachedCount} > ${bSessions} sessions of B`);
      }
      break;
    }
    case 'statisticsTimeseries':
    case 'statisticsCohorts': {
      // Only admin B gets here. Counts carry no ids to look for, and B may have as many sessions as A by now
      // (the matrix's own start calls): the sessions counted must be exactly B's, all started today.
      const counted =
        name === 'statisticsTimeseries'
          ? (body.points as Array<{ sessions: number }>).reduce((n, p) => n + p.sessions, 0)
          : (body.cohorts as Array<{ sessions: number }>).reduce((n, c) => n + c.sessions, 0);
      const { rows } = await sys.db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM progress.projections WHERE tenant_id = $1 AND applied_seq > 0 AND ($2::text IS NULL OR type = $2)`,
        [a.who.tenantId, String(body.type ?? '') || null],
      );
      if (counted !== rows[0]!.n) problems.push(`${name} counts ${counted} sessions, tenant ${a.who.tenantId} has ${rows[0]!.n}`);
      break;
    }
    case 'auditList':
    case 'auditExport':
    case 'auditVerify': {
      // Only admin B gets here: every record (and the verified chain) is tenant B's own.
      const raw = body as unknown;
      const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
      if (name === 'auditVerify') {
        if ((body as { tenantId?: string }).tenantId !== a.who.tenantId) problems.push(`verified the chain of ${(body as { tenantId?: string }).tenantId}`);
      } else if (name === 'auditList') {
        for (const r of (body as { items: Array<{ tenantId: string }> }).items)
          if (r.tenantId !== a.who.tenantId) problems.push(`audit record of tenant ${r.tenantId}`);
      } else if (text.startsWith('{')) {
        for (const line of text.split('\n').filter(Boolean))
          if ((JSON.parse(line) as { tenantId: string }).tenantId !== a.who.tenantId) problems.push('exported audit record of another tenant');
      }
      if (text.includes(TENANT_A)) problems.push("tenant A's id in an audit answer");
      break;
    }
    case 'statisticsExport': {
      // A CSV (header row, session id first) or NDJSON download: exactly tenant B's sessions.
      const raw = body as unknown;
      const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
      const ids = text.startsWith('sessionId,')
        ? text
            .split('\r\n')
            .slice(1)
            .filter(Boolean)
            .map((line) => line.split(',')[0])
        : text
            .split('\n')
            .filter(Boolean)
            .map((line) => (JSON.parse(line) as { sessionId: string }).sessionId);
      const { rows } = await sys.db.pool.query<{ session_id: string }>(
        'SELECT session_id FROM progress.projections WHERE tenant_id = $1 AND applied_seq > 0 ORDER BY session_id',
        [a.who.tenantId],
      );
      if (JSON.stringify([...ids].sort()) !== JSON.stringify(rows.map((r) => r.session_id)))
        problems.push(`export rows ${ids.join(' ')} are not tenant ${a.who.tenantId}'s sessions`);
      break;
    }
    default:
      break;
  }
  return problems;
}
