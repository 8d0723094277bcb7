import { serveRpc } from '@glavito/bus';
import { rpcSubject, SessionGetReplySchema, SessionGetRequestSchema, SessionUserReplySchema, SessionUserRequestSchema } from '@glavito/contracts';
import fp from 'fastify-plugin';

/**
 * `session.get` over NATS request/reply, for services that learn about a session before its events
 * reach them (e.g. a connection test right after start). Same visibility rules as the HTTP routes.
 */
export const sessionRpcPlugin = fp<{ rpcPrefix: string }>(
  async (app, opts) => {
    const sub = serveRpc({
      bus: app.bus,
      subject: rpcSubject(opts.rpcPrefix, 'session.get'),
      queue: 'session',
      request: SessionGetRequestSchema,
      reply: SessionGetReplySchema,
      logger: app.log,
      handler: async ({ sessionId, caller }) => {
        const s = await app.sessionRepository.load(sessionId, caller);
        if (!s) return { found: false as const };
        return {
          found: true as const,
          session: {
            id: s.id,
            tenantId: s.tenantId,
            userId: s.userId,
            type: s.type,
            status: s.status,
            completedSteps: s.completedSteps,
            skippedSteps: s.skippedSteps,
            currentStep: s.currentStep,
            startedAt: s.startedAt,
            lastActivityAt: s.lastActivityAt,
            completedAt: s.completedAt,
          },
        };
      },
    });
    // `session.user`: whether a user belongs to the caller's tenant (has a session there) and the caller may see them.
    const userSub = serveRpc({
      bus: app.bus,
      subject: rpcSubject(opts.rpcPrefix, 'session.user'),
      queue: 'session',
      request: SessionUserRequestSchema,
      reply: SessionUserReplySchema,
      logger: app.log,
      handler: async ({ userId, caller }) => ({
        known: (caller.isAdmin || caller.userId === userId) && (await app.sessionRepository.hasSessions(caller.tenantId, userId)),
      }),
    });
    app.addHook('onClose', async () => {
      await Promise.all([sub.stop(), userSub.stop()]);
    });
  },
  { name: 'session-rpc', dependencies: ['bus', 'session-repository'] },
);
