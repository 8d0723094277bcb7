import fp from 'fastify-plugin';
import { createSecretBox, type SecretBox } from '../domain/secret-box.js';
import { createSessionRepository, type SessionRepository } from '../repositories/session-repository.js';

declare module 'fastify' {
  interface FastifyInstance {
    sessionRepository: SessionRepository;
    secretBox: SecretBox;
    /** The clock every route and job uses (tests may replace it). */
    now: () => Date;
  }
}

export const sessionRepositoryPlugin = fp<{ subjectPrefix: string; encryptionKey: string; cacheSize?: number; now?: () => Date }>(
  async (app, opts) => {
    const repository = createSessionRepository(app.pool, { subjectPrefix: opts.subjectPrefix, publishCommitted: app.outboxRelay.publishCommitted, cacheSize: opts.cacheSize });
    app.decorate('sessionRepository', repository);
    app.decorate('secretBox', createSecretBox(opts.encryptionKey));
    app.decorate('now', opts.now ?? (() => new Date()));
  },
  { name: 'session-repository', dependencies: ['db', 'bus'] },
);
