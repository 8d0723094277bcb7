import type { Routes } from '@glavito/contracts';
import { ROUTE_PATHS, type RouteName, type RoutePath } from '@glavito/contracts/route-paths';
import type { z } from 'zod';
import { GlavitoApiError, GlavitoNetworkError, GlavitoResponseError } from './errors.js';
import type { OnboardingType, StepData, StepId } from './steps.js';
import { buildPath, buildQuery, joinUrl } from './url.js';

// Only `import type` from the schemas: at run time the client knows each route's method and URL
// (ROUTE_PATHS, zod-free), and the types come from the zod contracts.
type SuccessStatus = 200 | 201 | 202 | 204;
type AllOptional<T> = Partial<T> extends T ? true : false;

/** What a route answers on success: the union of its 2xx response contracts. */
export type RouteResponse<N extends RouteName> = {
  [S in keyof Routes[N]['responses']]: S extends SuccessStatus ? z.output<Routes[N]['responses'][S]> : never;
}[keyof Routes[N]['responses']];
export type RouteParams<N extends RouteName> = Routes[N] extends { params: infer P extends z.ZodType } ? z.input<P> : never;
export type RouteQuery<N extends RouteName> = Routes[N] extends { querystring: infer Q extends z.ZodType } ? z.input<Q> : never;
export type RouteBody<N extends RouteName> = Routes[N] extends { body: infer B extends z.ZodType } ? z.input<B> : never;

type ParamsArg<R> = R extends { params: infer P extends z.ZodType } ? [params: z.input<P>] : [];
type BodyArg<R> = R extends { body: infer B extends z.ZodType } ? (undefined extends z.input<B> ? [body?: z.input<B>] : [body: z.input<B>]) : [];
type QueryArg<R> = R extends { querystring: infer Q extends z.ZodType }
  ? AllOptional<z.input<Q>> extends true
    ? [query?: z.input<Q>]
    : [query: z.input<Q>]
  : [];

/** Positional arguments of a route method: path params, then body, then query, then per-call options (each only when the route has it). */
export type RouteArgs<N extends RouteName> = [...ParamsArg<Routes[N]>, ...BodyArg<Routes[N]>, ...QueryArg<Routes[N]>, options?: RequestOptions];

export type RouteMethod<N extends RouteName> = (...args: RouteArgs<N>) => Promise<RouteResponse<N>>;

/** The routes whose step id (and data) are typed per step instead of by their generic contract. */
export type StepRouteName = 'saveStep' | 'skipStep' | 'validateStepPost' | 'validateStepGet' | 'stepConfiguration';

/**
 * Step routes, typed by step id: a misspelled field or an unknown step id does not compile. Data built at run
 * time (a form generated from the flow's JSON Schema) is checked by the server: `stepId as StepId`, `data as StepData<StepId>`.
 */
export interface StepMethods {
  saveStep<S extends StepId>(
    params: { sessionId: string; stepId: S },
    data: NoInfer<StepData<S>>,
    options?: RequestOptions,
  ): Promise<RouteResponse<'saveStep'>>;
  skipStep<S extends StepId>(
    params: { sessionId: string; stepId: S },
    body?: RouteBody<'skipStep'>,
    options?: RequestOptions,
  ): Promise<RouteResponse<'skipStep'>>;
  validateStepPost<S extends StepId>(
    params: { stepId: S },
    data: NoInfer<StepData<S>>,
    query?: { type?: OnboardingType },
    options?: RequestOptions,
  ): Promise<RouteResponse<'validateStepPost'>>;
  /** The GET form of validation: `data` goes out as URL-encoded JSON in `?data=`. */
  validateStepGet<S extends StepId>(
    params: { stepId: S },
    query?: { type?: OnboardingType; data?: NoInfer<StepData<S>> },
    options?: RequestOptions,
  ): Promise<RouteResponse<'validateStepGet'>>;
  stepConfiguration<S extends StepId>(
    params: { stepId: S },
    query?: { type?: OnboardingType },
    options?: RequestOptions,
  ): Promise<RouteResponse<'stepConfiguration'>>;
}

/** One typed method per route of the contract catalog, e.g. `client.saveStep({ sessionId, stepId }, data)`. */
export type GlavitoClient = { readonly [N in Exclude<RouteName, StepRouteName>]: RouteMethod<N> } & Readonly<StepMethods>;

/**
 * Checks a 2xx body against its route's contract: returns the body to hand to the caller (parsed: defaults
 * applied, unknown keys stripped) or throws a GlavitoResponseError. `validateResponses` from
 * `@glavito/client/validate` is one (it brings zod and the schemas; keep it out of a browser bundle).
 */
export type ResponseValidator = (route: RouteName, status: number, body: unknown) => unknown;

export type TokenSource = string | (() => string | Promise<string>);

export interface RequestOptions {
  /** Sent as `x-correlation-id`; it follows the call into events and WebSocket pushes. */
  correlationId?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  headers?: Record<string, string>;
}

export interface ClientOptions {
  /** Where the gateway answers, e.g. `https://api.example.com` (routes start with `/onboarding`); `''` in a page for its own origin. */
  baseUrl: string;
  /** A JWT, or a function returning a fresh one; it is called before every request. */
  token: TokenSource;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** Default correlation id for every call (a per-call `correlationId` wins). */
  correlationId?: string | (() => string | undefined);
  /** Default per-request timeout; none unless set. */
  timeoutMs?: number;
  headers?: Record<string, string>;
  /**
   * The language texts come back in (`fr`, `ar`…; the server's list: `client.languages()`), sent as Accept-Language;
   * a function is read before every request. Codes and field names never change with it.
   */
  language?: string | (() => string | undefined);
  /** Checks every 2xx body, e.g. `validateResponses` from `@glavito/client/validate`; none by default. */
  validateResponses?: ResponseValidator;
}

interface CallParts {
  params?: Record<string, unknown>;
  query?: Record<string, unknown>;
  body?: unknown;
  options?: RequestOptions;
}

export async function resolveToken(token: TokenSource): Promise<string> {
  return typeof token === 'function' ? await token() : token;
}

function splitArgs(route: RoutePath, args: readonly unknown[]): CallParts {
  let i = 0;
  const params = route.params ? (args[i++] as Record<string, unknown>) : undefined;
  const body = route.body ? args[i++] : undefined;
  const query = route.querystring ? (args[i++] as Record<string, unknown> | undefined) : undefined;
  const options = args[i] as RequestOptions | undefined;
  return { params, body, query, options };
}

function isAbort(err: unknown): boolean {
  return typeof err === 'object' && err !== null && ((err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError');
}

export function createClient(options: ClientOptions): GlavitoClient {
  if (typeof options.baseUrl !== 'string') throw new TypeError('createClient: baseUrl is required (an empty string means the page origin)');
  const validate = options.validateResponses;
  if (validate !== undefined && typeof validate !== 'function') {
    throw new TypeError("createClient: validateResponses takes a function, e.g. `import { validateResponses } from '@glavito/client/validate'`");
  }
  // Called through a closure: a browser's fetch throws "Illegal invocation" when detached from window.
  const fetchImpl: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));

  async function call(name: RouteName, route: RoutePath, parts: CallParts): Promise<unknown> {
    const perCall = parts.options ?? {};
    const url = joinUrl(options.baseUrl, buildPath(route.url, parts.params)) + buildQuery(parts.query);
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers, ...perCall.headers };
    const language = typeof options.language === 'function' ? options.language() : options.language;
    if (language && !headers['accept-language']) headers['accept-language'] = language;
    const token = await resolveToken(options.token);
    if (token) headers.authorization = `Bearer ${token}`;
    const correlationId = perCall.correlationId ?? (typeof options.correlationId === 'function' ? options.correlationId() : options.correlationId);
    if (correlationId) headers['x-correlation-id'] = correlationId;
    let body: string | undefined;
    if (route.body && parts.body !== undefined && parts.body !== null) {
      body = JSON.stringify(parts.body);
      headers['content-type'] = 'application/json';
    }
    const timeoutMs = perCall.timeoutMs ?? options.timeoutMs;
    const timeout = timeoutMs !== undefined ? AbortSignal.timeout(timeoutMs) : undefined;
    const signals = [perCall.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];

    let status: number;
    let text: string;
    let requestId: string | undefined;
    let statusText: string;
    try {
      const res = await fetchImpl(url, { method: route.method, headers, body, signal });
      status = res.status;
      statusText = res.statusText;
      requestId = res.headers.get('x-request-id') ?? undefined;
      text = await res.text();
    } catch (err) {
      // The caller's own cancellation stays what it is; everything else means "no usable answer".
      if (perCall.signal?.aborted && isAbort(err)) throw err;
      throw new GlavitoNetworkError(name, err, timeout?.aborted === true);
    }

    let json: unknown;
    let isJson = true;
    if (text.length > 0) {
      try {
        json = JSON.parse(text);
      } catch {
        isJson = false;
      }
    }
    if (status < 200 || status > 299) throw GlavitoApiError.fromBody(name, status, isJson ? json : text, requestId, statusText);
    if (!isJson) throw new GlavitoResponseError(name, status, 'the response is not JSON', text);
    return validate ? validate(name, status, json) : json;
  }

  const client: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const [name, route] of Object.entries(ROUTE_PATHS) as Array<[RouteName, RoutePath]>) {
    client[name] = (...args: unknown[]) => call(name, route, splitArgs(route, args));
  }
  return Object.freeze(client) as unknown as GlavitoClient;
}
