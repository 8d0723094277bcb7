import { ROUTES } from '@glavito/contracts';
import { contractRoute } from '@glavito/http';
import createError from '@fastify/error';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callRpc, RpcError } from '@glavito/bus';
import { rpcSubject, SessionGetReplySchema, SessionUserReplySchema } from '@glavito/contracts';
import type { RealtimeConfig } from '../config.js';

const NotFoundError = createError('REALTIME_NOT_FOUND', '%s not found', 404);
const LookupUnavailableError = createError('REALTIME_SESSION_LOOKUP_UNAVAILABLE', 'The session service did not answer; try again shortly', 503);

/** An RPC that timed out or found no responder is the session service being away: a 503 to retry, not a 500. */
async function lookup<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof RpcError) throw new LookupUnavailableError();
    throw err;
  }
}

export async function clientCountRoutes(root: FastifyInstance, { config }: { config: RealtimeConfig }) {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.route({
    ...contractRoute(ROUTES.sessionClients),
    onRequest: [app.authenticate],
    handler: async (request) => {
      const { sessionId } = request.params;
      const p = request.principal;
      const reply = await lookup(
        callRpc(
          app.bus,
          rpcSubject(config.RPC_SUBJECT_PREFIX, 'session.get'),
          { sessionId, caller: { userId: p.userId, tenantId: p.tenantId, isAdmin: p.isAdmin } },
          SessionGetReplySchema,
          3000,
        ),
      );
      if (!reply.found) throw new NotFoundError(`Session ${sessionId}`);
      return { sessionId, connectedClients: await app.countClients('sessions', `${p.tenantId}:${sessionId}`) };
    },
  });

  app.route({
    ...contractRoute(ROUTES.userClients),
    onRequest: [app.authenticate],
    handler: async (request) => {
      const { userId } = request.params;
      const p = request.principal;
      // Own user, or an admin asking about a user of the same tenant (counts are kept per tenant-scoped user id).
      if (userId !== p.userId && !p.isAdmin) throw new NotFoundError(`User ${userId}`);
      const connectedClients = await app.countClients('users', `${p.tenantId}:${userId}`);
      // Another user with no socket in the tenant must still be one of its users (one with a session there): another
      // tenant's user id answers 404, like another tenant's session, not an empty count.
      if (userId !== p.userId && connectedClients === 0) {
        const known = await lookup(
          callRpc(
            app.bus,
            rpcSubject(config.RPC_SUBJECT_PREFIX, 'session.user'),
            { userId, caller: { userId: p.userId, tenantId: p.tenantId, isAdmin: p.isAdmin } },
            SessionUserReplySchema,
            3000,
          ),
        );
        if (!known.known) throw new NotFoundError(`User ${userId}`);
      }
      return { userId, connectedClients };
    },
  });
}
