import fp from 'fastify-plugin';
import { createSecretBox, type SecretBox } from '../domain/secret-box.js';
import { createFlowRepository, type FlowRepository } from '../repositories/flow-repository.js';
import { createSessionRepository, type SessionRepository } from '../repositories/session-repository.js';

declare module 'fastify' {
  interface FastifyInstance {
    sessionRepository: SessionRepository;
    flowRepository: FlowRepository;
    secretBox: SecretBox;
    /** The clock every route and job uses (tests may replace it). */
    now: () => Date;
  }
}

export const sessionRepositoryPlugin = fp<{ subjectPrefix: string; auditSubjectPrefix?: string; encryptionKey: string; cacheSize?: number; now?: () => Date }>(
  async (app, opts) => {
    const flows = createFlowRepository(app.pool, {
      subjectPrefix: opts.subjectPrefix,
      auditSubjectPrefix: opts.auditSubjectPrefix,
      publishCommitted: app.outboxRelay.publishCommitted,
    });
    const repository = createSessionRepository(app.pool, {
      auditSubjectPrefix: opts.auditSubjectPrefix,
      subjectPrefix: opts.subjectPrefix,
      publishCommitted: app.outboxRelay.publishCommitted,
      cacheSize: opts.cacheSize,
      flowOf: flows.get,
    });
    app.decorate('sessionRepository', repository);
    app.decorate('flowRepository', flows);
    app.decorate('secretBox', createSecretBox(opts.encryptionKey));
    app.decorate('now', opts.now ?? (() => new Date()));
  },
  { name: 'session-repository', dependencies: ['db', 'bus'] },
);
