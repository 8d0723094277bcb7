import { callRpc, RpcError } from '@glavito/bus';
import { rpcSubject, SessionGetReplySchema, type Language, type Principal } from '@glavito/contracts';
import { DependencyUnavailableError } from '@glavito/http';
import fp from 'fastify-plugin';
import { viewOfProjection, viewOfSession } from '../domain/view.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Progress of a session the caller may see, or null. */
    readProgress: (
      sessionId: string,
      caller: Pick<Principal, 'userId' | 'tenantId' | 'isAdmin'>,
      lang?: Language,
    ) => Promise<ReturnType<typeof viewOfProjection> | null>;
  }
}

/**
 * Reads the projection; a session whose first event has not arrived yet is asked from the session
 * service over NATS, so a client polling right after start never gets an eventual-consistency 404.
 */
export const progressReaderPlugin = fp<{ rpcPrefix: string }>(
  async (app, opts) => {
    app.decorate('readProgress', async (sessionId: string, caller: Pick<Principal, 'userId' | 'tenantId' | 'isAdmin'>, lang?: Language) => {
      const found = await app.projectionRepository.find(sessionId, caller);
      // Another tenant's or another agent's session: not found, as for a session that does not exist (never a 403).
      if (found === 'hidden') return null;
      if (found) {
        const p = found.projection;
        // The version the session pinned, as this service learnt it from flow.published.
        const flow = p.flowVersion > 1 ? await app.flowVersionCopies.load(p.tenantId, p.type, p.flowVersion) : null;
        return viewOfProjection(p, found.milestones, flow ? { steps: { steps: flow.steps }, titles: flow.titles } : undefined, lang);
      }
      try {
        const reply = await callRpc(app.bus, rpcSubject(opts.rpcPrefix, 'session.get'), { sessionId, caller }, SessionGetReplySchema, 2000);
        return reply.found ? viewOfSession(reply.session, lang) : null;
      } catch (err) {
        // No answer (NATS away, no session service deployed or all of it restarting, a stalled one) or an error
        // answer (its database away): whether the session exists is unknown, so the caller gets a 503 to retry,
        // not a 404 it would believe.
        if (err instanceof RpcError) throw new DependencyUnavailableError(`session.get: ${err.message}`);
        throw err;
      }
    });
  },
  { name: 'progress-reader', dependencies: ['bus', 'progress-repositories'] },
);
