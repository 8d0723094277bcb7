import { Readable, Transform } from 'node:stream';
import { ROUTES, stepCatalog } from '@glavito/contracts';
import { writeAuditEvent } from '@glavito/outbox';
import { auditContextOf, contractRoute } from '@glavito/http';
import { stringify } from 'csv-stringify';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { StatisticsRangeError, StatisticsRangeTooLongError } from '../errors.js';
import { EXPORT_COLUMNS } from '../repositories/statistics-repository.js';

/** Points (days or weeks) or cohorts in one answer at most. */
const MAX_POINTS = 366;

function checkRange(from?: string, to?: string) {
  if (from && to && Date.parse(from) >= Date.parse(to)) throw new StatisticsRangeError();
}

/** Tenant analytics: always the caller's own tenant (the contracts have no tenantId parameter and reject unknown ones), admins only. */
export async function statisticsRoutes(root: FastifyInstance, opts: { auditSubjectPrefix: string }) {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const guards = [app.authenticate, app.requireAdmin];
  // Every read of the tenant's analytics is audited: its record is committed (own outbox) before the answer is computed.
  const auditPrefix = opts.auditSubjectPrefix;
  app.addHook('preHandler', async (request) => {
    const route = request.routeOptions.url ?? '';
    const query = Object.fromEntries(
      Object.entries((request.query ?? {}) as Record<string, unknown>)
        .filter(([, v]) => typeof v === 'string' || typeof v === 'number')
        .map(([k, v]) => [k.slice(0, 64), typeof v === 'string' ? v.slice(0, 256) : (v as number)]),
    );
    await writeAuditEvent(
      app.pool,
      app.outboxRelay,
      { schema: 'progress', subjectPrefix: auditPrefix },
      {
        ...auditContextOf(request, request.principal),
        tenantId: request.principal.tenantId,
        action: route.endsWith('/export') ? 'statistics.export' : 'statistics.read',
        target: { type: 'statistics', id: route },
        outcome: { result: 'allowed', code: null },
        details: query,
      },
    );
  });

  app.route({
    ...contractRoute(ROUTES.statistics),
    onRequest: guards,
    handler: async (request) => {
      const { type, from, to, flowVersion } = request.query;
      checkRange(from, to);
      const tenantId = request.principal.tenantId;
      if (flowVersion === undefined) return app.statisticsRepository.statistics({ tenantId, type, from, to });
      const flowType = type ?? 'tenant_setup';
      // The version's steps as this service learnt them from flow.published (none yet: no session of it either).
      const flow = flowVersion > 1 ? await app.flowVersionCopies.load(tenantId, flowType, flowVersion) : null;
      const steps = flowVersion === 1 ? stepCatalog(flowType) : (flow?.steps ?? []);
      return app.statisticsRepository.statistics({ tenantId, type: flowType, from, to, flowVersion, steps });
    },
  });

  app.route({
    ...contractRoute(ROUTES.statisticsTimeseries),
    onRequest: guards,
    handler: async (request) => {
      const { metric, interval, type, from, to } = request.query;
      checkRange(from, to);
      const window = app.statisticsRepository.seriesWindow(interval, from, to, Date.now());
      if (window.points > MAX_POINTS) throw new StatisticsRangeTooLongError(window.points, interval, MAX_POINTS);
      return app.statisticsRepository.timeseries({ tenantId: request.principal.tenantId, type, metric, interval, window });
    },
  });

  app.route({
    ...contractRoute(ROUTES.statisticsCohorts),
    onRequest: guards,
    handler: async (request) => {
      const { type, from, to } = request.query;
      checkRange(from, to);
      const window = app.statisticsRepository.seriesWindow('week', from, to, Date.now());
      if (window.points > MAX_POINTS) throw new StatisticsRangeTooLongError(window.points, 'week', MAX_POINTS);
      return app.statisticsRepository.cohorts({ tenantId: request.principal.tenantId, type, window, now: Date.now() });
    },
  });

  app.route({
    ...contractRoute(ROUTES.statisticsExport),
    onRequest: guards,
    handler: async (request, reply) => {
      const { format, type, from, to } = request.query;
      checkRange(from, to);
      const rows = Readable.from(app.statisticsRepository.exportRows({ tenantId: request.principal.tenantId, type, from, to }));
      // Pulled page by page as the client reads (backpressure through the pipe): memory stays flat.
      const body =
        format === 'csv'
          ? rows.pipe(stringify({ header: true, columns: [...EXPORT_COLUMNS], record_delimiter: '\r\n' }))
          : rows.pipe(
              new Transform({
                writableObjectMode: true,
                transform(row, _enc, done) {
                  done(null, `${JSON.stringify(row)}\n`);
                },
              }),
            );
      // A failing page (Postgres gone mid-download) ends the response early; the client sees a cut download.
      rows.on('error', (err) => {
        request.log.warn({ err: err.message }, 'statistics export failed mid-stream');
        body.destroy(err);
      });
      const stamp = new Date().toISOString().slice(0, 10);
      return (
        reply
          .header('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
          .header('content-disposition', `attachment; filename="onboarding-sessions-${stamp}.${format === 'csv' ? 'csv' : 'ndjson'}"`)
          .header('cache-control', 'no-store')
          // A stream, not the string the contract describes: Fastify pipes it and skips the serializer.
          .send(body as unknown as string)
      );
    },
  });
}
