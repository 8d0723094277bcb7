import { callRpc, RpcError } from '@glavito/bus';
import { rpcSubject, SessionGetReplySchema, type Principal } from '@glavito/contracts';
import fp from 'fastify-plugin';
import { viewOfProjection, viewOfSession } from '../domain/view.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Progress of a session the caller may see, or null. */
    readProgress: (sessionId: string, caller: Pick<Principal, 'userId' | 'tenantId' | 'isAdmin'>) => Promise<ReturnType<typeof viewOfProjection> | null>;
  }
}

/**
 * Reads the projection; a session whose first event has not arrived yet is asked from the session
 * service over NATS, so a client polling right after start never gets an eventual-consistency 404.
 */
export const progressReaderPlugin = fp<{ rpcPrefix: string }>(
  async (app, opts) => {
    app.decorate('readProgress', async (sessionId: string, caller: Pick<Principal, 'userId' | 'tenantId' | 'isAdmin'>) => {
      const found = await app.projectionRepository.find(sessionId, caller);
      if (found) return viewOfProjection(found.projection, found.milestones);
      try {
        const reply = await callRpc(app.bus, rpcSubject(opts.rpcPrefix, 'session.get'), { sessionId, caller }, SessionGetReplySchema, 2000);
        return reply.found ? viewOfSession(reply.session) : null;
      } catch (err) {
        if (err instanceof RpcError) {
          app.log.warn({ err: err.message }, 'progress: session.get fallback failed');
          return null;
        }
        throw err;
      }
    });
  },
  { name: 'progress-reader', dependencies: ['bus', 'progress-repositories'] },
);
