/**
 * A local HTTP server that speaks the part of Stripe's API the payment service uses, for the real `stripe` SDK
 * pointed at it (`new Stripe(key, { host, port, protocol: 'http' })`): POST /v1/accounts (Express accounts,
 * form-encoded like Stripe, honouring Idempotency-Key), GET /v1/accounts/:id, POST /v1/account_links. Bearer
 * key checked; errors in Stripe's shape. Tests drive the accounts' state (`update`) and inject failures.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeStripeAccount {
  id: string;
  object: 'account';
  type: 'express';
  email: string | null;
  country: string;
  business_type: string | null;
  business_profile: Record<string, unknown>;
  capabilities: Record<string, string>;
  charges_enabled: boolean;
  payouts_enabled: boolean;
  details_submitted: boolean;
  requirements: {
    currently_due: string[];
    eventually_due: string[];
    past_due: string[];
    disabled_reason: string | null;
    current_deadline: number | null;
    errors: unknown[];
    pending_verification: string[];
  };
  settings: { payouts: { schedule: { interval: string; delay_days?: number } } };
  metadata: Record<string, string>;
  created: number;
}

export interface FakeStripeRequest {
  method: string;
  path: string;
  idempotencyKey: string | null;
  body: Record<string, unknown>;
}

export interface FakeStripe {
  host: string;
  port: number;
  url: string;
  /** The API key the server accepts. */
  apiKey: string;
  accounts: Map<string, FakeStripeAccount>;
  requests: FakeStripeRequest[];
  /** The next `count` requests (matching `path` when given) are answered with `status` and a Stripe error. */
  failNext(opts: { status: number; count?: number; path?: RegExp }): void;
  /** Changes an account as Stripe would after the tenant's onboarding; returns the new object (for a webhook's data). */
  update(
    id: string,
    patch: Partial<Omit<FakeStripeAccount, 'requirements'>> & { requirements?: Partial<FakeStripeAccount['requirements']> },
  ): FakeStripeAccount;
  /** Stops listening (connections refused) until `resume`. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** Stripe's form encoding (`a[b][c]=1`, `a[0]=x`) back into objects and arrays. */
export function parseStripeForm(text: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const parts = key.replace(/\]/g, '').split('[');
    let node: Record<string, unknown> = root;
    parts.forEach((part, i) => {
      if (i === parts.length - 1) {
        node[part] = value;
        return;
      }
      node[part] ??= /^\d+$/.test(parts[i + 1]!) ? [] : {};
      node = node[part] as Record<string, unknown>;
    });
  }
  return root;
}

const INITIAL_REQUIREMENTS = ['business_profile.url', 'external_account', 'individual.dob.day', 'tos_acceptance.date'];

export async function startFakeStripe(opts: { apiKey?: string } = {}): Promise<FakeStripe> {
  const apiKey = opts.apiKey ?? `sk_test_${randomBytes(12).toString('hex')}`;
  const accounts = new Map<string, FakeStripeAccount>();
  const requests: FakeStripeRequest[] = [];
  const idempotent = new Map<string, { hash: string; status: number; body: unknown }>();
  let failures: Array<{ status: number; path?: RegExp }> = [];

  const stripeError = (res: http.ServerResponse, status: number, type: string, message: string, extra: Record<string, unknown> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${randomBytes(7).toString('hex')}` });
    res.end(JSON.stringify({ error: { type, message, ...extra } }));
  };
  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${randomBytes(7).toString('hex')}`, ...headers });
    res.end(JSON.stringify(body));
  };

  function createAccount(body: Record<string, unknown>): FakeStripeAccount {
    const caps = (body.capabilities ?? {}) as Record<string, { requested?: string }>;
    const payouts =
      ((body.settings as { payouts?: { schedule?: { interval?: string } } } | undefined)?.payouts?.schedule?.interval as string | undefined) ?? 'daily';
    const account: FakeStripeAccount = {
      id: `acct_${randomBytes(8).toString('hex')}`,
      object: 'account',
      type: 'express',
      email: (body.email as string | undefined) ?? null,
      country: (body.country as string | undefined) ?? 'US',
      business_type: (body.business_type as string | undefined) ?? null,
      business_profile: (body.business_profile as Record<string, unknown> | undefined) ?? {},
      capabilities: Object.fromEntries(
        Object.entries(caps)
          .filter(([, v]) => v.requested === 'true')
          .map(([k]) => [k, 'inactive']),
      ),
      charges_enabled: false,
      payouts_enabled: false,
      details_submitted: false,
      requirements: {
        currently_due: [...INITIAL_REQUIREMENTS],
        eventually_due: [...INITIAL_REQUIREMENTS],
        past_due: [],
        disabled_reason: 'requirements.past_due',
        current_deadline: null,
        errors: [],
        pending_verification: [],
      },
      settings: { payouts: { schedule: { interval: payouts } } },
      metadata: (body.metadata as Record<string, string> | undefined) ?? {},
      created: Math.floor(Date.now() / 1000),
    };
    accounts.set(account.id, account);
    return account;
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://stripe.local');
      const body = text ? parseStripeForm(text) : Object.fromEntries(url.searchParams);
      const idempotencyKey = (req.headers['idempotency-key'] as string | undefined) ?? null;
      requests.push({ method: req.method ?? 'GET', path: url.pathname, idempotencyKey, body });

      if (req.headers.authorization !== `Bearer ${apiKey}`) {
        return stripeError(res, 401, 'invalid_request_error', 'Invalid API Key provided: sk_test_****', { code: 'api_key_invalid' });
      }
      const failure = failures.findIndex((f) => !f.path || f.path.test(url.pathname));
      if (failure >= 0) {
        const [f] = failures.splice(failure, 1);
        return stripeError(res, f!.status, f!.status >= 500 ? 'api_error' : 'invalid_request_error', `Injected failure (${f!.status})`);
      }
      const hash = createHash('sha256').update(`${req.method} ${url.pathname} ${text}`).digest('hex');
      if (req.method === 'POST' && idempotencyKey) {
        const seen = idempotent.get(idempotencyKey);
        if (seen && seen.hash !== hash) {
          return stripeError(
            res,
            400,
            'idempotency_error',
            `Keys for idempotent requests can only be used with the same parameters they were first used with.`,
          );
        }
        if (seen) return send(res, seen.status, seen.body, { 'idempotent-replayed': 'true' });
      }
      const remember = (status: number, answer: unknown) => {
        if (req.method === 'POST' && idempotencyKey) idempotent.set(idempotencyKey, { hash, status, body: answer });
        send(res, status, answer);
      };

      const accountPath = /^\/v1\/accounts\/(acct_[A-Za-z0-9]+)$/.exec(url.pathname);
      if (req.method === 'POST' && url.pathname === '/v1/accounts') {
        if (body.type !== 'express') return stripeError(res, 400, 'invalid_request_error', 'Only express accounts in this fake', { param: 'type' });
        if (typeof body.country === 'string' && body.country === 'ZZ')
          return stripeError(res, 400, 'invalid_request_error', 'Country ZZ is unknown', { param: 'country' });
        return remember(200, createAccount(body));
      }
      if (req.method === 'GET' && accountPath) {
        const account = accounts.get(accountPath[1]!);
        if (!account)
          return stripeError(res, 404, 'invalid_request_error', `No such account: '${accountPath[1]}'`, { code: 'resource_missing', param: 'account' });
        return send(res, 200, account);
      }
      if (req.method === 'POST' && url.pathname === '/v1/account_links') {
        const account = accounts.get(String(body.account));
        if (!account)
          return stripeError(res, 400, 'invalid_request_error', `No such account: '${String(body.account)}'`, { code: 'resource_missing', param: 'account' });
        for (const field of ['refresh_url', 'return_url', 'type'] as const) {
          if (typeof body[field] !== 'string') return stripeError(res, 400, 'invalid_request_error', `Missing required param: ${field}.`, { param: field });
        }
        const created = Math.floor(Date.now() / 1000);
        return remember(200, {
          object: 'account_link',
          created,
          expires_at: created + 300,
          url: `https://connect.stripe.test/setup/e/${account.id}/${randomBytes(9).toString('hex')}`,
        });
      }
      return stripeError(res, 404, 'invalid_request_error', `Unrecognized request URL (${req.method}: ${url.pathname}).`);
    });
  });

  const listen = (port = 0) => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  await listen();
  const port = (server.address() as AddressInfo).port;
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });

  return {
    host: '127.0.0.1',
    port,
    url: `http://127.0.0.1:${port}`,
    apiKey,
    accounts,
    requests,
    failNext({ status, count = 1, path }) {
      failures = [...failures, ...Array.from({ length: count }, () => ({ status, path }))];
    },
    update(id, patch) {
      const current = accounts.get(id);
      if (!current) throw new Error(`fake Stripe: no account ${id}`);
      const next: FakeStripeAccount = { ...current, ...patch, requirements: { ...current.requirements, ...(patch.requirements ?? {}) } };
      accounts.set(id, next);
      return structuredClone(next);
    },
    pause: close,
    resume: () => listen(port),
    close,
  };
}
