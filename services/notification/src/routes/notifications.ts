import { ROUTES } from '@glavito/contracts';
import { auditContextOf, contractRoute } from '@glavito/http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { verifyUnsubscribeToken } from '../domain/unsubscribe-token.js';
import { CursorInvalidError, UnsubscribeTokenInvalidError } from '../errors.js';
import { decodeCursor } from '../repositories/notification-repository.js';

export async function notificationRoutes(root: FastifyInstance) {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const repo = app.notificationRepo;
  const auth = { onRequest: [app.authenticate] };
  const adminOnly = { onRequest: [app.authenticate, app.requireAdmin] };

  // One-click unsubscribe (RFC 8058) posts `List-Unsubscribe=One-Click` as a form: read it as text (its content is not needed).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1024 }, (_req, body, done) => done(null, body));

  app.route({
    ...contractRoute(ROUTES.notifications),
    ...auth,
    handler: async (request) => {
      const { tenantId, userId } = request.principal;
      const cursor = request.query.cursor ? decodeCursor(request.query.cursor) : null;
      if (request.query.cursor && !cursor) throw new CursorInvalidError();
      return repo.list(tenantId, userId, { limit: request.query.limit, cursor, unreadOnly: request.query.unread === 'true' });
    },
  });

  app.route({
    ...contractRoute(ROUTES.notificationsMarkRead),
    ...auth,
    handler: async (request) => {
      const { tenantId, userId } = request.principal;
      const marked = await repo.markRead(tenantId, userId, request.body.all ? 'all' : (request.body.ids ?? []), app.clock());
      return { marked, unreadCount: await repo.unreadCount(tenantId, userId) };
    },
  });

  app.route({
    ...contractRoute(ROUTES.notificationSettingsGet),
    ...auth,
    handler: async (request) => repo.getSettings(request.principal.tenantId, request.principal.userId),
  });

  app.route({
    ...contractRoute(ROUTES.notificationSettingsPut),
    ...auth,
    handler: async (request) => {
      const { tenantId, userId } = request.principal;
      await repo.putSettings(tenantId, userId, request.body, app.clock());
      return repo.getSettings(tenantId, userId);
    },
  });

  app.route({
    ...contractRoute(ROUTES.notificationsUnsubscribe),
    // No token: the link's HMAC says who; a forged or altered link unsubscribes nobody.
    handler: async (request) => {
      const who = verifyUnsubscribeToken(app.unsubscribeSecret, request.query.token);
      if (!who) throw new UnsubscribeTokenInvalidError();
      await repo.unsubscribe(who.tenantId, who.userId, app.clock());
      return { unsubscribed: true as const };
    },
  });

  app.route({
    ...contractRoute(ROUTES.reminderPolicyGet),
    ...adminOnly,
    handler: async (request) => repo.getPolicy(request.principal.tenantId),
  });

  app.route({
    ...contractRoute(ROUTES.reminderPolicyPut),
    ...adminOnly,
    handler: async (request) => {
      await repo.putPolicy(request.principal.tenantId, request.body, request.principal.userId, app.clock(), auditContextOf(request, request.principal));
      return repo.getPolicy(request.principal.tenantId);
    },
  });
}
