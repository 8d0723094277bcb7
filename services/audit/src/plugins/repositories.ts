import fp from 'fastify-plugin';
import { createRecordRepository, type RecordRepository } from '../repositories/record-repository.js';

declare module 'fastify' {
  interface FastifyInstance {
    recordRepository: RecordRepository;
  }
}

export const repositoriesPlugin = fp(
  async (app) => {
    app.decorate('recordRepository', createRecordRepository(app.pool));
  },
  { name: 'audit-repositories', dependencies: ['db'] },
);
