import { STATUS_CODES } from 'node:http';
import {
  AGENT_WELCOME_STEPS,
  ConnectionTestBatchByChannelSchema,
  ConnectionTestRequestByChannelSchema,
  ValidateConnectionConfigByChannelSchema,
  ErrorBodySchema,
  MAX_HEADER_BYTES,
  MAX_PARAM_LENGTH,
  MAX_URL_LENGTH,
  PATH_ERRORS,
  routeErrors,
  ROUTES,
  stepDataOpenApiSchema,
  TENANT_SETUP_STEPS,
  toOpenApi30,
  type OnboardingType,
  type RouteContract,
  type ServiceName,
  type StepConfiguration,
} from '@glavito/contracts';
import { z } from 'zod';

type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema>; required?: string[]; description?: string };

function toSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  // 'any' keeps a later transform in a contract from breaking the gateway's boot.
  const out = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as JsonSchema;
  toOpenApi30(out);
  return out;
}

const SERVICE_TAGS: Record<ServiceName, string> = {
  session: 'Onboarding sessions, steps, tenant flows and business hours',
  progress: 'Progress projection and tenant statistics',
  'connection-test': 'Integration connection tests',
  realtime: 'Connected WebSocket clients',
  notification: 'Reminders, in-app notifications and reminder policies',
  payment: 'Stripe Connect accounts, billing configuration and Stripe webhooks',
  audit: 'The tenant audit trail: sensitive operations, hash-chained, for tenant admins',
};

const DESCRIPTION = `Every route goes through the gateway, needs \`Authorization: Bearer <jwt>\` (HS256; claims \`sub\`, \`tenantId\`, \`roles\`)
and answers errors as \`{ statusCode, code, error, message, details? }\`.

## WebSocket: \`GET /onboarding\` (upgrade)
Authenticate with \`?token=<jwt>\` or \`Authorization: Bearer\`; a bad token closes the socket with code 4401.
Frames are JSON \`{ "event": string, "data": object, "id"?: string }\`; a client frame with \`id\` gets a reply with the same \`id\`.

- On connect the server sends \`connected { clientId, userId, tenantId, heartbeatMs }\`; the socket then receives its user's events.
- Client → server: \`join_session { sessionId, lastEventId? }\` → \`session_joined { sessionId, recovered, replayed }\` (missed events are replayed first; \`recovered: false\` means refetch) or \`error { code, message }\`;
  \`leave_session { sessionId }\` → \`session_left\`; \`get_progress { sessionId }\` → \`progress_update\`.
- Server pushes: \`progress_update\`, \`milestone_reached\`, \`step_completed\`, \`validation_error\`, \`connection_test_result\`,
  \`onboarding_completed\`, \`onboarding_started\`, \`session_paused\`, \`session_resumed\`; each \`data\` carries \`sessionId\`, \`eventId\`, \`timestamp\`. Each event reaches a socket once.
  A session's progress comes only in \`progress_update\`, \`milestone_reached\` and \`onboarding_completed\` (the last push of a session, at 100 %), each with the progress service's per-session \`seq\`: keep the highest and a bar never moves back. Step pushes name the step \`stepId\`. Every reply carries the request's \`id\`, errors included.
- Ping/pong heartbeat; dead peers and slow consumers are disconnected.

## Connection tests
The body's \`config\` depends on \`channel\` (one schema per channel below). A config that breaks its channel's rules is a 422
with \`details: [{ field: "config.<path>", rule, message }]\`. The \`webhook\` channel POSTs a JSON test event; with a
\`secret\` it carries \`X-Glavito-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>\`. Redirects are
not followed. \`tls: { caCertificate?, allowSelfSigned? }\` (SMTP, IMAP, webhook, PostgreSQL) trusts a private CA or a
self-signed certificate for one test; such a test passes as a \`warning\`.

## Errors and limits
Each operation lists every error status it can answer, and the \`code\`s that come with each (the gateway's are
\`GATEWAY_*\`, the owning service's name it). Besides them, on every path: a method the path does not have is a **405**
\`GATEWAY_METHOD_NOT_ALLOWED\` with \`Allow\` listing the ones it has, and a path no route has is a **404**
\`GATEWAY_ROUTE_NOT_FOUND\`. Limits, the same at the gateway and at every service: a request target (path and
query) of at most ${MAX_URL_LENGTH} characters and path parameters of at most ${MAX_PARAM_LENGTH} (else **414**), a request line
and headers of at most ${MAX_HEADER_BYTES} bytes (else **431**), a JSON body of at most 1 MiB (else **413**), sent as
\`application/json\` (else **415**). Text in bodies must not contain NUL characters or unpaired UTF-16 surrogates (400
\`REQUEST_TEXT_UNSUPPORTED\`, naming the field). 429 comes with \`Retry-After\` (seconds).`;

const json = (schema: unknown) => ({ 'application/json': { schema } });

/** Every step id once (welcome is in both flows and takes the same data), with the flows it is in. */
function stepsOfAllFlows(): Array<{ step: StepConfiguration; type: OnboardingType; flows: OnboardingType[] }> {
  const out: Array<{ step: StepConfiguration; type: OnboardingType; flows: OnboardingType[] }> = [];
  for (const [type, steps] of [
    ['tenant_setup', TENANT_SETUP_STEPS],
    ['agent_welcome', AGENT_WELCOME_STEPS],
  ] as const) {
    for (const step of steps) {
      const seen = out.find((s) => s.step.id === step.id);
      if (seen) seen.flows.push(type);
      else out.push({ step, type, flows: [type] });
    }
  }
  return out;
}

const STEPS = stepsOfAllFlows();
const stepSchemaName = (stepId: string) => `StepData_${stepId}`;

/**
 * Every service refuses text Postgres cannot store (400 REQUEST_TEXT_UNSUPPORTED): in a body's schema, each free
 * string says it has no NUL. (Unpaired surrogates cannot be written as a JSON Schema pattern; the description says so.)
 */
function storableText<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map(storableText) as T;
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = Object.fromEntries(
    Object.entries(schema).map(([k, v]) => [k, k === 'example' || k === 'examples' || k === 'default' ? v : storableText(v)]),
  );
  if (out.type === 'string' && out.enum === undefined && out.format === undefined && out.not === undefined) out.not = { pattern: '\\u0000' };
  return out as T;
}

/** One named schema per step's data, so Swagger UI lists each step's fields and rules. */
function stepSchemas(): Record<string, unknown> {
  return Object.fromEntries(
    STEPS.map(({ step, type, flows }) => [
      stepSchemaName(step.id),
      storableText({
        ...stepDataOpenApiSchema(type, step.id),
        title: step.id,
        description: `Data of the step ${step.id} (${step.title}; ${flows.join(', ')})`,
      }),
    ]),
  );
}

/**
 * The body of a route that takes a step's data: any of the steps' schemas (the path's {stepId} says which),
 * with one example per step that Swagger UI offers in a list.
 */
function stepDataBody(): Record<string, unknown> {
  return {
    required: true,
    description: "The step's data: the schema named StepData_<stepId> for the {stepId} in the path. Pick a step in Examples.",
    content: {
      'application/json': {
        schema: {
          description: "One step's data, chosen by {stepId}",
          anyOf: STEPS.map(({ step }) => ({ $ref: `#/components/schemas/${stepSchemaName(step.id)}` })),
        },
        examples: Object.fromEntries(
          STEPS.map(({ step, type }) => [step.id, { summary: `${step.id}: ${step.title}`, value: stepDataOpenApiSchema(type, step.id)?.example ?? {} }]),
        ),
      },
    },
  };
}

const STEP_ID_PARAMETER = {
  description: 'A step of the flow; its body schema is StepData_<stepId>',
  schema: { type: 'string', enum: STEPS.map(({ step }) => step.id) },
};

/** Routes whose body is a step's data (the catalog types it as an open object: it depends on the path). */
const STEP_DATA_ROUTES = new Set(['saveStep', 'validateStepPost']);

/** Connection-test routes: the catalog validates an open config (rules → 422); the document shows each channel's config. */
const CONNECTION_BODIES: Record<string, z.ZodType> = {
  testConnection: ConnectionTestRequestByChannelSchema,
  testConnections: ConnectionTestBatchByChannelSchema,
  validateConnectionConfig: ValidateConnectionConfigByChannelSchema,
};

function parameters(route: RouteContract): unknown[] {
  const path = route.params ? toSchema(route.params, 'input') : {};
  const pathParams = [...route.url.matchAll(/:(\w+)/g)].map(([, name = '']) => ({
    name,
    in: 'path',
    required: true,
    schema: path.properties?.[name] ?? { type: 'string' },
    ...(name === 'stepId' ? STEP_ID_PARAMETER : {}),
  }));
  const query = route.querystring ? toSchema(route.querystring, 'input') : {};
  const queryParams = Object.entries(query.properties ?? {}).map(([name, schema]) => ({
    name,
    in: 'query',
    required: query.required?.includes(name) ?? false,
    ...(schema.description ? { description: schema.description } : {}),
    schema,
  }));
  return [...pathParams, ...queryParams];
}

/** An error answer: the common body with this status and exactly the codes the route answers it with. */
function errorResponse(status: number, codes: string[]): Record<string, unknown> {
  return {
    description: `${STATUS_CODES[status] ?? status}: ${codes.join(', ')}`,
    ...(status === 429 ? { headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } } } : {}),
    content: json({
      allOf: [
        { $ref: '#/components/schemas/ErrorBody' },
        { type: 'object', properties: { statusCode: { type: 'integer', enum: [status] }, code: { type: 'string', enum: codes } } },
      ],
    }),
  };
}

function operation(name: string, route: RouteContract): Record<string, unknown> {
  const responses: Record<string, unknown> = {};
  for (const [status, schema] of Object.entries(route.responses)) {
    responses[status] = { description: STATUS_CODES[Number(status)] ?? status, content: json(toSchema(schema, 'output')) };
  }
  for (const [status, codes] of Object.entries(routeErrors(name, route))) responses[status] = errorResponse(Number(status), codes);
  return {
    operationId: name,
    summary: route.summary,
    tags: [route.service],
    ...(route.access === 'admin' ? { description: 'Needs the admin role.' } : {}),
    ...(route.access === 'public' ? { security: [] } : {}),
    parameters: parameters(route),
    ...(route.body && STEP_DATA_ROUTES.has(name)
      ? { requestBody: stepDataBody() }
      : route.body && CONNECTION_BODIES[name]
        ? { requestBody: { required: true, content: json(storableText(toSchema(CONNECTION_BODIES[name], 'input'))) } }
        : route.body
          ? { requestBody: { required: !route.body.safeParse(undefined).success, content: json(storableText(toSchema(route.body, 'input'))) } }
          : {}),
    responses,
  };
}

/** The OpenAPI 3.0 document of every route in the contracts' catalog. */
export function buildOpenApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [name, route] of Object.entries(ROUTES) as [string, RouteContract][]) {
    const path = route.url.replace(/:(\w+)/g, '{$1}');
    (paths[path] ??= {})[route.method.toLowerCase()] = operation(name, route);
  }
  // Answers of a path rather than an operation (404 no route, 405 another method), for clients to refer to.
  const errorResponses = Object.fromEntries(
    Object.entries(PATH_ERRORS).map(([status, codes]) => [`Error${status}`, errorResponse(Number(status), [...(codes ?? [])])]),
  );
  return {
    openapi: '3.0.3',
    info: { title: 'Glavito Onboarding API', version: '0.1.0', description: DESCRIPTION },
    tags: Object.entries(SERVICE_TAGS).map(([name, description]) => ({ name, description })),
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { ErrorBody: toSchema(ErrorBodySchema, 'output'), ...stepSchemas() },
      responses: errorResponses,
    },
  };
}
