import { CONNECTION_CONFIG_SCHEMAS, issuesToFieldErrors, ROUTES } from '@glavito/contracts';
import { contractRoute, correlationIdOf } from '@glavito/http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { CursorInvalidError } from '../errors.js';
import { decodeCursor } from '../repositories/test-run-repository.js';

export async function connectionTestRoutes(root: FastifyInstance) {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const auth = { onRequest: [app.authenticate] };

  app.route({
    ...contractRoute(ROUTES.testConnection),
    ...auth,
    handler: async (request) => {
      const session = await app.accessibleSession(request.params.sessionId, request.principal);
      await app.enforceTestRateLimit(request.principal, 1);
      const [result] = await app.runTests(session, request.principal, correlationIdOf(request), [request.body]);
      return { result: result! };
    },
  });

  app.route({
    ...contractRoute(ROUTES.testConnections),
    ...auth,
    handler: async (request) => {
      const tests = Array.isArray(request.body) ? request.body : request.body.tests;
      const session = await app.accessibleSession(request.params.sessionId, request.principal);
      await app.enforceTestRateLimit(request.principal, tests.length);
      return { results: await app.runTests(session, request.principal, correlationIdOf(request), tests) };
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
      const { channel, config } = request.body;
      const parsed = CONNECTION_CONFIG_SCHEMAS[channel].safeParse(config);
      return { isValid: parsed.success, errors: parsed.success ? [] : issuesToFieldErrors(parsed.error.issues, config) };
    },
  });
}
