import { stepCatalog } from '@glavito/contracts';

/**
 * A steady load through the gateway: step saves (and re-saves, skips, invalid saves, pause/resume,
 * progress reads) on several tenants' sessions, and webhook connection tests. Every request is
 * recorded with its outcome and timing; each save carries a unique revision number in its data, so the
 * stored state can be checked against the last save that was accepted.
 */

export type Kind = 'start' | 'save' | 'invalid' | 'skip' | 'pause' | 'resume' | 'complete' | 'read' | 'progress' | 'test';

export interface Outcome {
  kind: Kind;
  sessionId: string;
  stepId?: string;
  rev?: number;
  /** HTTP status; 0 = no answer (connection refused/reset), -1 = timed out (a hang). */
  status: number;
  code?: string;
  startedAt: number;
  endedAt: number;
  /** Connection tests: the id of the recorded result. */
  resultId?: string;
  /** Sent as X-Correlation-Id: the events this request causes (and their pushes) carry it. */
  correlationId: string;
}

export const accepted = (o: Outcome) => o.status >= 200 && o.status < 300;
/** A definite "no": nothing was stored. */
export const rejected = (o: Outcome) => o.status >= 400 && o.status < 500;
/** Neither: it may or may not have been applied (5xx, no answer). */
export const unknown = (o: Outcome) => !accepted(o) && !rejected(o);

const REQUEST_TIMEOUT_MS = 15_000;

/** Step data carrying `rev` in a field we can read back from the stored (unmasked) step data. */
const DATA: Record<string, { build(rev: number): Record<string, unknown>; rev(stored: Record<string, unknown>): number | null }> = {
  welcome: { build: (r) => ({ goals: [`r${r}`] }), rev: (s) => num((s.goals as string[] | undefined)?.[0]) },
  organization_setup: { build: (r) => ({ companyName: `Chaos Org r${r}`, primaryColor: '#123456' }), rev: (s) => num(String(s.companyName).split(' ').at(-1)) },
  channel_configuration: {
    build: (r) => ({ webchat: { enabled: true, greeting: `r${r}` } }),
    rev: (s) => num((s.webchat as { greeting?: string } | undefined)?.greeting),
  },
  ai_configuration: { build: (r) => ({ aiProvider: 'anthropic', model: `r${r}` }), rev: (s) => num(s.model) },
  knowledge_base: { build: (r) => ({ categories: [`r${r}`] }), rev: (s) => num((s.categories as string[] | undefined)?.[0]) },
  payment_setup: { build: (r) => ({ stripeAccountId: `acct_r${r}` }), rev: (s) => num(String(s.stripeAccountId).slice(5)) },
  team_management: {
    build: (r) => ({ teamMembers: [{ email: `r${r}@chaos.test`, role: 'agent' }] }),
    rev: (s) => num((s.teamMembers as Array<{ email: string }> | undefined)?.[0]?.email.split('@')[0]),
  },
  workflow_configuration: {
    build: (r) => ({ slaTargets: { firstResponseMinutes: r } }),
    rev: (s) => (s.slaTargets as { firstResponseMinutes?: number } | undefined)?.firstResponseMinutes ?? null,
  },
  customer_portal: { build: (r) => ({ subdomain: `rev-${r}` }), rev: (s) => num(String(s.subdomain).slice(4)) },
  data_import: {
    build: (r) => ({ source: 'csv', fileUrl: `https://import.chaos.test/r${r}.csv` }),
    rev: (s) => num(/\/(r\d+)\.csv$/.exec(String(s.fileUrl))?.[1]),
  },
  analytics_setup: { build: (r) => ({ kpis: [`r${r}`] }), rev: (s) => num((s.kpis as string[] | undefined)?.[0]) },
};

function num(v: unknown): number | null {
  if (typeof v === 'number') return v;
  const m = /^r?(\d+)$/.exec(String(v ?? ''));
  return m ? Number(m[1]) : null;
}

/** The revision a stored step's data carries (null when it carries none). */
export function storedRev(stepId: string, stored: Record<string, unknown> | undefined): number | null {
  if (!stored) return null;
  return DATA[stepId]?.rev(stored) ?? null;
}

const CATALOG = stepCatalog('tenant_setup');

/** Seeded PRNG (mulberry32), so a failing run can be replayed with the same choices. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Belief {
  status: string;
  completedSteps: string[];
  skippedSteps: string[];
}

export interface DriverIdentity {
  tenantId: string;
  userId: string;
  token: string;
}

export interface LoadOptions {
  gatewayUrl: () => string;
  random: () => number;
  /** Sessions whose owner keeps working on them for the whole run (WS clients watch these). */
  longLived: Array<DriverIdentity & { sessionId: string }>;
  /** Tenants whose admins start a fresh session every `actionsPerSession` actions. */
  rotating: Array<{ tenantId: string; token: (userId: string) => string }>;
  actionsPerSession: number;
  /** Step-level requests per second, over all drivers. */
  rate: number;
  /** Connection tests per second. */
  testRate: number;
  webhookUrl: string;
}

let revCounter = 0;
let requestCounter = 0;

export class LoadGenerator {
  readonly outcomes: Outcome[] = [];
  /** Every session the load touched, with its owner. */
  readonly sessions = new Map<string, DriverIdentity>();
  private stopping = false;
  private loops: Array<Promise<void>> = [];

  constructor(private readonly opts: LoadOptions) {
    for (const s of opts.longLived) this.sessions.set(s.sessionId, s);
  }

  private async call(kind: Kind, sessionId: string, method: string, path: string, token: string, body?: unknown, extra: Partial<Outcome> = {}) {
    const startedAt = Date.now();
    const correlationId = `chaos-${kind}-${++requestCounter}`;
    let status: number;
    let json: Record<string, unknown> = {};
    try {
      const res = await fetch(`${this.opts.gatewayUrl()}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'x-correlation-id': correlationId, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      status = res.status;
      json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    } catch (err) {
      status = (err as Error).name === 'TimeoutError' ? -1 : 0;
    }
    const outcome: Outcome = { kind, sessionId, status, startedAt, endedAt: Date.now(), correlationId, ...extra };
    if (typeof json.code === 'string' && status >= 400) outcome.code = json.code;
    this.outcomes.push(outcome);
    return { outcome, json };
  }

  private sleep(ms: number) {
    return new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
  }

  /** One owner working on one session: sequential requests, so "the last accepted save" is well defined. */
  private async drive(id: DriverIdentity & { sessionId: string }, maxActions: number, intervalMs: number): Promise<void> {
    const { random } = this.opts;
    let belief: Belief = { status: 'active', completedSteps: ['welcome'], skippedSteps: [] };
    let stale = false;
    const base = (p: string) => `${p}/${id.sessionId}`;
    const learn = (json: Record<string, unknown>) => {
      const s = json.session as Belief | undefined;
      if (s && Array.isArray(s.completedSteps)) belief = { status: s.status, completedSteps: s.completedSteps, skippedSteps: s.skippedSteps };
    };
    for (let n = 0; n < maxActions && !this.stopping; n++) {
      const t0 = Date.now();
      const done = new Set([...belief.completedSteps, ...belief.skippedSteps]);
      const available = CATALOG.filter((s) => !done.has(s.id) && s.dependencies.every((d) => done.has(d)));
      const r = random();
      let result: { outcome: Outcome; json: Record<string, unknown> };
      if (stale) {
        result = await this.call('read', id.sessionId, 'GET', base('/onboarding/session'), id.token);
      } else if (belief.status === 'paused' && r < 0.6) {
        result = await this.call('resume', id.sessionId, 'POST', base('/onboarding/resume'), id.token);
      } else if (r < 0.04 && belief.status === 'active') {
        result = await this.call('pause', id.sessionId, 'POST', base('/onboarding/pause'), id.token);
      } else if (r < 0.08 && available.some((s) => !s.isRequired)) {
        const optional = available.filter((s) => !s.isRequired);
        const step = optional[Math.floor(random() * optional.length)]!;
        result = await this.call(
          'skip',
          id.sessionId,
          'POST',
          `/onboarding/skip/${id.sessionId}/${step.id}`,
          id.token,
          { reason: 'chaos' },
          { stepId: step.id },
        );
      } else if (r < 0.11) {
        result = await this.call(
          'invalid',
          id.sessionId,
          'PUT',
          `/onboarding/step/${id.sessionId}/organization_setup`,
          id.token,
          { companyName: 'X', primaryColor: 'not-a-color' },
          { stepId: 'organization_setup' },
        );
      } else if (r < 0.16) {
        result = await this.call('progress', id.sessionId, 'GET', base('/onboarding/progress'), id.token);
      } else {
        const fresh = available.length > 0 && random() < 0.6;
        const pool = fresh ? available.map((s) => s.id) : belief.completedSteps;
        const stepId = pool[Math.floor(random() * pool.length)] ?? 'organization_setup';
        const rev = ++revCounter;
        result = await this.call('save', id.sessionId, 'PUT', `/onboarding/step/${id.sessionId}/${stepId}`, id.token, DATA[stepId]!.build(rev), {
          stepId,
          rev,
        });
      }
      if (accepted(result.outcome)) {
        learn(result.json);
        stale = false;
      } else if (unknown(result.outcome)) {
        stale = true;
      }
      await this.sleep(intervalMs - (Date.now() - t0));
    }
  }

  private async rotate(t: LoadOptions['rotating'][number], index: number, intervalMs: number): Promise<void> {
    for (let n = 0; !this.stopping; n++) {
      const userId = `rot-${index}-${n}`;
      const token = t.token(userId);
      // Starting must succeed before the session can be driven; during an outage, keep trying.
      let sessionId: string | undefined;
      while (!sessionId && !this.stopping) {
        const { outcome, json } = await this.call('start', '', 'POST', '/onboarding/start', token, {});
        sessionId = accepted(outcome) ? (json.session as { id: string }).id : undefined;
        if (!sessionId) await this.sleep(intervalMs);
      }
      if (!sessionId) return;
      const id = { tenantId: t.tenantId, userId, token, sessionId };
      this.sessions.set(sessionId, id);
      await this.drive(id, this.opts.actionsPerSession, intervalMs);
      if (this.stopping) return;
      const { outcome } = await this.call('complete', sessionId, 'POST', `/onboarding/complete/${sessionId}?force=true`, token);
      void outcome;
    }
  }

  private async testLoop(intervalMs: number): Promise<void> {
    const { random } = this.opts;
    while (!this.stopping) {
      const t0 = Date.now();
      const ids = [...this.sessions.entries()];
      const [sessionId, id] = ids[Math.floor(random() * ids.length)]!;
      const { outcome, json } = await this.call('test', sessionId, 'POST', `/onboarding/test-connection/${sessionId}`, id.token, {
        channel: 'webhook',
        config: { url: this.opts.webhookUrl, secret: 'chaos-webhook-secret' },
        timeout: 5000,
      });
      if (accepted(outcome)) outcome.resultId = (json.result as { id: string }).id;
      await this.sleep(intervalMs - (Date.now() - t0));
    }
  }

  start(): void {
    const drivers = this.opts.longLived.length + this.opts.rotating.length;
    const intervalMs = (drivers / this.opts.rate) * 1000;
    this.loops = [
      ...this.opts.longLived.map((s) => this.drive(s, Number.POSITIVE_INFINITY, intervalMs)),
      ...this.opts.rotating.map((t, i) => this.rotate(t, i, intervalMs)),
      this.testLoop(1000 / this.opts.testRate),
    ];
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }
}
