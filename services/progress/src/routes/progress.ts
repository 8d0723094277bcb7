import { ROUTES } from '@glavito/contracts';
import { contractRoute } from '@glavito/http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { ProgressNotFoundError, StatisticsRangeError } from '../errors.js';

export async function progressRoutes(root: FastifyInstance) {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.route({
    ...contractRoute(ROUTES.progress),
    onRequest: [app.authenticate],
    handler: async (request) => {
      const progress = await app.readProgress(request.params.sessionId, request.principal);
      if (!progress) throw new ProgressNotFoundError(request.params.sessionId);
      return progress;
    },
  });

  app.route({
    ...contractRoute(ROUTES.statistics),
    onRequest: [app.authenticate, app.requireAdmin],
    handler: async (request) => {
      const { type, from, to } = request.query;
      if (from && to && Date.parse(from) >= Date.parse(to)) throw new StatisticsRangeError();
      // Always the caller's own tenant: the contract has no tenantId parameter and rejects unknown ones.
      return app.statisticsRepository.statistics({ tenantId: request.principal.tenantId, type, from, to });
    },
  });
}
