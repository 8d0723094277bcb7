import { ROUTES } from '@glavito/contracts';
import { contractRoute, languageOf } from '@glavito/http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { ProgressNotFoundError } from '../errors.js';

export async function progressRoutes(root: FastifyInstance) {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.route({
    ...contractRoute(ROUTES.progress),
    onRequest: [app.authenticate],
    handler: async (request) => {
      const progress = await app.readProgress(request.params.sessionId, request.principal, languageOf(request));
      if (!progress) throw new ProgressNotFoundError(request.params.sessionId);
      return progress;
    },
  });
}
