import { issuesToFieldErrors, localizeErrorMessage, localizeFieldErrors, translate, type ErrorBody, type Language } from '@glavito/contracts';
import { isDatabaseUnavailable } from '@glavito/db';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { keepConnectionThroughOversizedBody } from './drain.js';
import { languageOf } from './language.js';

export { installLanguage, languageOf } from './language.js';
import type { z } from 'zod';

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function errorBody(statusCode: number, code: string, message: string, details?: ErrorBody['details'], lang?: Language): ErrorBody {
  if (lang && lang !== 'en') {
    // Only the words change: code, error, field and rule stay as they are in every language.
    message = localizeErrorMessage(code, message, lang);
    if (details) details = localizeFieldErrors(details, lang);
  }
  return { statusCode, code, error: STATUS_TEXT[statusCode] ?? 'Error', message, ...(details ? { details } : {}) };
}

/** Fastify's own client errors, mapped to stable codes. */
const FASTIFY_CLIENT_ERRORS: Record<string, { status: number; code: string; message?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'REQUEST_JSON_INVALID', message: 'The body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'REQUEST_BODY_EMPTY', message: 'Content-Type is application/json but the body is empty' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'REQUEST_BODY_TOO_LARGE', message: 'The body is larger than the limit' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'REQUEST_MEDIA_TYPE_UNSUPPORTED', message: 'Send the body as application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'REQUEST_CONTENT_LENGTH_INVALID' },
  FST_ERR_CTP_INVALID_TYPE: { status: 415, code: 'REQUEST_MEDIA_TYPE_UNSUPPORTED' },
  FST_ERR_BAD_URL: { status: 400, code: 'REQUEST_URL_INVALID', message: 'The URL is malformed' },
  FST_ERR_ASYNC_CONSTRAINT: { status: 400, code: 'REQUEST_INVALID' },
};

type ValidationIssue = { keyword: string; instancePath: string; message?: string; params?: Record<string, unknown> };

function validationDetails(error: { validation: ValidationIssue[]; validationContext?: string }, request: FastifyRequest) {
  const context = error.validationContext ?? 'body';
  const input = context === 'body' ? request.body : context === 'params' ? request.params : context === 'querystring' ? request.query : request.headers;
  const issues = error.validation.map((v) => ({
    ...(v.params ?? {}),
    code: v.keyword,
    path: v.instancePath
      .split('/')
      .filter(Boolean)
      .map((p) => (/^\d+$/.test(p) ? Number(p) : p)),
    message: v.message ?? 'is invalid',
  })) as unknown as z.core.$ZodIssue[];
  return issuesToFieldErrors(issues, input).map((d) => ({ ...d, field: d.field ? `${context}.${d.field}` : context }));
}

/**
 * A backing service that did not answer (a NATS request timed out, say): answered like a database outage, a 503
 * `SERVICE_DEPENDENCY_UNAVAILABLE` with Retry-After, so the client retries instead of believing a guess.
 */
export class DependencyUnavailableError extends Error {
  override name = 'DependencyUnavailableError';
}

/** One root error handler: typed errors keep their status and code; 5xx internals are hidden. */
export function installErrorHandlers(app: FastifyInstance, opts: { service: string }): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const lang = languageOf(request);
      const details = localizeFieldErrors(validationDetails(error as never, request), lang);
      const summary = details
        .slice(0, 3)
        .map((d) => d.message)
        .join('; ');
      return reply.status(400).send(errorBody(400, 'REQUEST_VALIDATION_FAILED', translate(lang, 'error.request_invalid', { summary }), details));
    }
    const known = error.code ? FASTIFY_CLIENT_ERRORS[error.code] : undefined;
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') keepConnectionThroughOversizedBody(request, reply);
    if (known) return reply.status(known.status).send(errorBody(known.status, known.code, known.message ?? error.message, undefined, languageOf(request)));
    if (isResponseSerializationError(error)) {
      request.log.error({ err: error, cause: error.cause?.issues?.slice(0, 5) }, 'response does not match its contract');
      return reply.status(500).send(errorBody(500, 'INTERNAL_ERROR', 'Internal Server Error'));
    }
    if (!error.statusCode && (isDatabaseUnavailable(error) || error instanceof DependencyUnavailableError)) {
      request.log.warn({ err: error.message }, `${opts.service}: dependency unavailable`);
      reply.header('retry-after', '2');
      return reply
        .status(503)
        .send(errorBody(503, 'SERVICE_DEPENDENCY_UNAVAILABLE', 'A backing service is temporarily unavailable; retry shortly', undefined, languageOf(request)));
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      request.log.error({ err: error }, `${opts.service}: unhandled error`);
      // 502/503/504 raised on purpose (a provider down or failing) say which and what to do; other 5xx stay hidden.
      const typed = status === 503 || ((status === 502 || status === 504) && typeof error.code === 'string' && !error.code.startsWith('FST_'));
      return reply
        .status(status)
        .send(errorBody(status, typed ? (error.code ?? 'SERVICE_UNAVAILABLE') : 'INTERNAL_ERROR', typed ? error.message : 'Internal Server Error'));
    }
    const details = (error as { details?: ErrorBody['details'] }).details;
    if (status === 429 && !reply.hasHeader('retry-after'))
      reply.header('retry-after', String((error as { retryAfterSeconds?: number }).retryAfterSeconds ?? 1));
    return reply.status(status).send(errorBody(status, error.code ?? 'REQUEST_INVALID', error.message, details, languageOf(request)));
  });
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    reply.status(404).send(errorBody(404, 'ROUTE_NOT_FOUND', `Route ${request.method} ${request.url.split('?')[0]} not found`, undefined, languageOf(request)));
  });
}

/** UTF-16 code units Postgres text and jsonb cannot hold: NUL, and surrogates that are not half of a pair. */
const UNSTORABLE_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * The path of the first string (key or value) holding an unstorable character, or null. Iterative: a body
 * may legally nest thousands of levels deep.
 */
export function findUnstorableText(value: unknown): Array<string | number> | null {
  type Node = { value: unknown; key: string | number | null; parent: Node | null };
  const pathOf = (n: Node) => {
    const path: Array<string | number> = [];
    for (let at: Node | null = n; at && at.key !== null; at = at.parent) path.unshift(at.key);
    return path;
  };
  const stack: Node[] = [{ value, key: null, parent: null }];
  while (stack.length > 0) {
    const node = stack.pop()!;
    const v = node.value;
    if (typeof v === 'string') {
      if (UNSTORABLE_TEXT.test(v)) return pathOf(node);
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push({ value: item, key: i, parent: node }));
    } else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        const child = { value: item, key: k, parent: node };
        if (UNSTORABLE_TEXT.test(k)) return pathOf(child);
        stack.push(child);
      }
    }
  }
  return null;
}

/**
 * Fastify's JSON parser (prototype poisoning is still an error) that also refuses text no table can store:
 * `\u0000` and unpaired surrogates are valid JSON, but Postgres rejects them, which would otherwise surface
 * as a 500 at the first INSERT.
 */
export function installJsonBodyParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    parse(request, body as string, (err, value) => {
      if (err) return done(err, undefined);
      const path = findUnstorableText(value);
      if (!path) return done(null, value);
      const field = path.join('.');
      const message = 'must not contain NUL characters or unpaired UTF-16 surrogates';
      const error = Object.assign(new Error(`Invalid request: ${field ? `body.${field}` : 'body'} ${message}`), {
        statusCode: 400,
        code: 'REQUEST_TEXT_UNSUPPORTED',
        details: [{ field: field ? `body.${field}` : 'body', rule: 'storable_text', message }],
      });
      done(error, undefined);
    });
  });
}

/**
 * Path parameters and query values with text no table can store answer like such a body (400
 * REQUEST_TEXT_UNSUPPORTED naming the field): a `%00` in a filter reached Postgres as a 500 before.
 */
export function installStorableUrlText(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    // Only what the route reads: a query on a route without a query schema is ignored, as any other would be.
    const schema = request.routeOptions.schema ?? {};
    for (const [part, values, read] of [
      ['params', request.params, schema.params],
      ['querystring', request.query, schema.querystring],
    ] as const) {
      const path = read && values && typeof values === 'object' ? findUnstorableText(values) : null;
      if (!path) continue;
      const field = [part, ...path].join('.');
      const message = 'must not contain NUL characters or unpaired UTF-16 surrogates';
      throw Object.assign(new Error(`Invalid request: ${field} ${message}`), {
        statusCode: 400,
        code: 'REQUEST_TEXT_UNSUPPORTED',
        details: [{ field, rule: 'storable_text', message }],
      });
    }
  });
}

/** Attaches `details` to an @fastify/error instance (field errors, missing dependencies…). */
export function withDetails<E extends Error>(error: E, details: ErrorBody['details']): E {
  (error as E & { details?: unknown }).details = details;
  return error;
}

/** Route options (method, url, schema) straight from a contract in `ROUTES`. */
export function contractRoute<
  C extends {
    method: string;
    url: string;
    params?: z.ZodType;
    querystring?: z.ZodType;
    body?: z.ZodType;
    responses: Record<number, z.ZodType>;
    summary: string;
    service: string;
  },
>(contract: C) {
  return {
    method: contract.method,
    url: contract.url,
    schema: {
      summary: contract.summary,
      tags: [contract.service],
      ...(contract.params ? { params: contract.params } : {}),
      ...(contract.querystring ? { querystring: contract.querystring } : {}),
      ...(contract.body ? { body: contract.body } : {}),
      response: contract.responses,
    },
  } as {
    method: C['method'];
    url: C['url'];
    schema: {
      params: C['params'] extends z.ZodType ? C['params'] : undefined;
      querystring: C['querystring'] extends z.ZodType ? C['querystring'] : undefined;
      body: C['body'] extends z.ZodType ? C['body'] : undefined;
      response: C['responses'];
    };
  };
}

/** The correlation id a request carries into events: the caller's, else the request id. */
export function correlationIdOf(request: FastifyRequest): string {
  const header = request.headers['x-correlation-id'];
  return typeof header === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(header) ? header : String(request.id);
}

/** `/health/live` (the process answers) and `/health/ready` (every dependency check passes; else 503). */
export async function healthRoutes(app: FastifyInstance, opts: { checks: Record<string, () => boolean | Promise<boolean>> }) {
  app.get('/health/live', { logLevel: 'warn' }, async () => ({ status: 'ok' }));
  app.get('/health/ready', { logLevel: 'warn' }, async (_request, reply) => {
    const entries = await Promise.all(
      Object.entries(opts.checks).map(async ([name, check]) => [name, await Promise.resolve(check()).catch(() => false)] as const),
    );
    const checks = Object.fromEntries(entries);
    const ok = entries.every(([, v]) => v);
    return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks });
  });
}

/** The one way a service process runs: listen, then close gracefully on SIGINT/SIGTERM (10 s at most). */
export async function listenWithGracefulShutdown(app: FastifyInstance, opts: { port: number; host: string }): Promise<void> {
  let closing = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      if (closing) return;
      closing = true;
      app.log.info({ signal }, 'shutting down');
      const force = setTimeout(() => process.exit(1), 10_000);
      force.unref();
      app.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
  await app.listen({ port: opts.port, host: opts.host });
}

/** Who did it and from where, for an audit record; the principal is the verified token's. */
export interface AuditRequestContext {
  actor: { subject: string; roles: string[] };
  requestId: string | null;
  correlationId: string | null;
  clientIp: string | null;
  userAgent: string | null;
}

/**
 * The request's audit context. Behind the gateway the client address comes from the `x-forwarded-for` the gateway
 * sets (it replaces whatever the client sent); a request straight to the service records its own peer.
 */
export function auditContextOf(request: FastifyRequest, principal?: { userId: string; roles: string[] } | null): AuditRequestContext {
  const forwarded = request.headers['x-forwarded-for'];
  const firstForwarded = typeof forwarded === 'string' ? forwarded.split(',')[0]!.trim() : undefined;
  const ua = request.headers['user-agent'];
  return {
    actor: principal ? { subject: principal.userId, roles: principal.roles } : { subject: 'anonymous', roles: [] },
    requestId: String(request.id).slice(0, 128),
    correlationId: correlationIdOf(request),
    clientIp: (firstForwarded || request.ip || null)?.slice(0, 64) ?? null,
    userAgent: typeof ua === 'string' ? ua.slice(0, 256) : null,
  };
}
