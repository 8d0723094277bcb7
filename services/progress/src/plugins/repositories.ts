import fp from 'fastify-plugin';
import { createFlowRepository, type FlowRepository } from '../repositories/flow-repository.js';
import { createProjectionRepository, type ProjectionRepository } from '../repositories/projection-repository.js';
import { createStatisticsRepository, type StatisticsRepository } from '../repositories/statistics-repository.js';

declare module 'fastify' {
  interface FastifyInstance {
    projectionRepository: ProjectionRepository;
    /** The progress service's own copy of published flow versions (from flow.published); session's flowRepository is another thing. */
    flowVersionCopies: FlowRepository;
    statisticsRepository: StatisticsRepository;
  }
}

export const repositoriesPlugin = fp<{ subjectPrefix: string; cacheSize?: number; aggregates?: boolean }>(
  async (app, opts) => {
    const flows = createFlowRepository(app.pool);
    app.decorate('flowVersionCopies', flows);
    app.decorate(
      'projectionRepository',
      createProjectionRepository(app.pool, {
        subjectPrefix: opts.subjectPrefix,
        publishCommitted: app.outboxRelay.publishCommitted,
        cacheSize: opts.cacheSize,
        aggregates: opts.aggregates,
        flows,
      }),
    );
    app.decorate('statisticsRepository', createStatisticsRepository(app.pool));
  },
  { name: 'progress-repositories', dependencies: ['db', 'bus'] },
);
