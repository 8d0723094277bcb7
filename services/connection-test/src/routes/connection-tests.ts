import { ROUTES, type FieldError } from '@glavito/contracts';
import { auditContextOf, contractRoute, correlationIdOf, withDetails } from '@glavito/http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { resolveTarget } from '../domain/outbound-policy.js';
import { ConnectionTestFailure } from '../domain/result.js';
import { configErrors, type TestRequest } from '../domain/runner.js';
import { ConfigInvalidError, CursorInvalidError } from '../errors.js';
import { decodeCursor } from '../repositories/test-run-repository.js';

/** One error model with step data: a config that breaks its channel's rules is a 422 naming each field. */
function configInvalid(errors: FieldError[]): Error {
  const summary = errors
    .slice(0, 3)
    .map((e) => e.message)
    .join('; ');
  return withDetails(
    new ConfigInvalidError(`The connection config is invalid: ${summary}${errors.length > 3 ? ` (and ${errors.length - 3} more)` : ''}`),
    errors,
  );
}

export async function connectionTestRoutes(root: FastifyInstance) {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const auth = { onRequest: [app.authenticate] };

  /** Field errors of each test's config, prefixed with where the config sits in the body. */
  const requestErrors = (tests: TestRequest[], prefix: (i: number) => string): FieldError[] =>
    tests.flatMap((t, i) =>
      configErrors(t.channel, app.testerDeps.channels[t.channel], t.config).map((e) => ({
        ...e,
        field: e.field ? `${prefix(i)}config.${e.field}` : `${prefix(i)}config`,
        message: e.message.startsWith(e.field) && e.field ? `${prefix(i)}config.${e.message}` : e.message,
      })),
    );

  app.route({
    ...contractRoute(ROUTES.testConnection),
    ...auth,
    handler: async (request) => {
      const session = await app.accessibleSession(request.params.sessionId, request.principal);
      const errors = requestErrors([request.body], () => '');
      if (errors.length > 0) throw configInvalid(errors);
      await app.enforceTestRateLimit(request.principal, 1);
      const [result] = await app.runTests(session, request.principal, correlationIdOf(request), [request.body], auditContextOf(request, request.principal));
      return { result: result! };
    },
  });

  app.route({
    ...contractRoute(ROUTES.testConnections),
    ...auth,
    handler: async (request) => {
      const bare = Array.isArray(request.body);
      const tests = Array.isArray(request.body) ? request.body : request.body.tests;
      const session = await app.accessibleSession(request.params.sessionId, request.principal);
      const errors = requestErrors(tests, (i) => (bare ? `${i}.` : `tests.${i}.`));
      if (errors.length > 0) throw configInvalid(errors);
      await app.enforceTestRateLimit(request.principal, tests.length);
      return { results: await app.runTests(session, request.principal, correlationIdOf(request), tests, auditContextOf(request, request.principal)) };
    },
  });

  app.route({
    ...contractRoute(ROUTES.connectionHistory),
    ...auth,
    handler: async (request) => {
      const session = await app.accessibleSession(request.params.sessionId, request.principal);
      const cursor = request.query.cursor ? decodeCursor(request.query.cursor) : null;
      if (request.query.cursor && !cursor) throw new CursorInvalidError();
      return app.testRuns.history(session.sessionId, request.query.limit, cursor);
    },
  });

  app.route({
    ...contractRoute(ROUTES.validateConnectionConfig),
    ...auth,
    handler: async (request) => {
      const { channel: name, config } = request.body;
      const channel = app.testerDeps.channels[name];
      const errors = configErrors(name, channel, config);
      if (errors.length === 0 && channel?.targets) {
        // The same outbound policy as the test: a target the test would refuse is not a valid config.
        const parsed = channel.schema.parse(config);
        for (const t of channel.targets(parsed)) {
          try {
            await resolveTarget(app.testerDeps.policy, t.host, app.testerDeps.lookup);
          } catch (err) {
            // A name that does not resolve (yet) may still be right: only a refused address makes it invalid.
            if (err instanceof ConnectionTestFailure && err.code === 'blocked_by_policy')
              errors.push({ field: t.field, rule: 'blocked_by_policy', message: `${t.field}: ${err.message}` });
          }
        }
      }
      return { isValid: errors.length === 0, errors };
    },
  });
}
