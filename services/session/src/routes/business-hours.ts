import { BusinessHoursConfigSchema, ROUTES, type BusinessHoursConfig } from '@glavito/contracts';
import { auditContextOf, contractRoute, correlationIdOf } from '@glavito/http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { BusinessHoursRangeError } from '../errors.js';
import { addBusinessTime, checkBusinessHours, nextBusinessDay, workingTime } from '@glavito/business-time';

/** Domain range errors (end before start, no opening within the bound) are the caller's mistake: 400. */
function asClientError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof RangeError) throw new BusinessHoursRangeError(err.message);
    throw err;
  }
}

export async function businessHoursRoutes(root: FastifyInstance) {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const repo = app.sessionRepository;
  const auth = { onRequest: [app.authenticate] };
  const adminOnly = { onRequest: [app.authenticate, app.requireAdmin] };

  async function tenantConfig(tenantId: string): Promise<BusinessHoursConfig | null> {
    const row = await repo.getBusinessHours(tenantId);
    return row ? BusinessHoursConfigSchema.parse(row.config) : null;
  }

  async function current(tenantId: string) {
    const row = await repo.getBusinessHours(tenantId);
    return row
      ? { configured: true, config: BusinessHoursConfigSchema.parse(row.config), updatedAt: row.updatedAt }
      : { configured: false, config: null, updatedAt: null };
  }

  app.route({ ...contractRoute(ROUTES.businessHoursGet), ...auth, handler: async (request) => current(request.principal.tenantId) });

  app.route({
    ...contractRoute(ROUTES.businessHoursPut),
    ...adminOnly,
    handler: async (request) => {
      await repo.putBusinessHours(
        request.principal.tenantId,
        request.body,
        request.principal.userId,
        app.now().toISOString(),
        correlationIdOf(request),
        auditContextOf(request, request.principal),
      );
      return current(request.principal.tenantId);
    },
  });

  app.route({
    ...contractRoute(ROUTES.businessHoursDelete),
    ...adminOnly,
    handler: async (request) => {
      await repo.deleteBusinessHours(
        request.principal.tenantId,
        request.principal.userId,
        app.now().toISOString(),
        correlationIdOf(request),
        auditContextOf(request, request.principal),
      );
      return current(request.principal.tenantId);
    },
  });

  app.route({
    ...contractRoute(ROUTES.businessHoursCheck),
    ...auth,
    handler: async (request) => {
      const at = request.query.at ? new Date(request.query.at) : app.now();
      return checkBusinessHours(await tenantConfig(request.principal.tenantId), at);
    },
  });

  app.route({
    ...contractRoute(ROUTES.businessHoursWorkingTime),
    ...auth,
    handler: async (request) => {
      const config = await tenantConfig(request.principal.tenantId);
      return asClientError(() => workingTime(config, new Date(request.body.start), new Date(request.body.end)));
    },
  });

  app.route({
    ...contractRoute(ROUTES.businessHoursAddTime),
    ...auth,
    handler: async (request) => {
      const config = await tenantConfig(request.principal.tenantId);
      const start = new Date(request.body.start);
      const result = asClientError(() => addBusinessTime(config, start, request.body.minutes));
      return { start: start.toISOString(), minutes: request.body.minutes, result: result.toISOString() };
    },
  });

  app.route({
    ...contractRoute(ROUTES.businessHoursNextDay),
    ...auth,
    handler: async (request) => {
      const from = request.query.from ? new Date(request.query.from) : app.now();
      const next = nextBusinessDay(await tenantConfig(request.principal.tenantId), from);
      return { from: from.toISOString(), nextBusinessDay: next?.toISOString() ?? null };
    },
  });
}
