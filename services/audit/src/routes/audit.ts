import { Readable, Transform } from 'node:stream';
import { ROUTES, type AuditAction, type AuditRecord } from '@glavito/contracts';
import { writeAuditEvent } from '@glavito/outbox';
import { auditContextOf, contractRoute } from '@glavito/http';
import { stringify } from 'csv-stringify';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AuditRangeError } from '../errors.js';
import type { RecordFilter } from '../repositories/record-repository.js';

/** The last instant a four-digit year holds. */
const LATEST_INSTANT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const CSV_COLUMNS = [
  'seq',
  'id',
  'occurredAt',
  'recordedAt',
  'actorSubject',
  'actorRoles',
  'action',
  'targetType',
  'targetId',
  'outcome',
  'outcomeCode',
  'requestId',
  'correlationId',
  'clientIp',
  'userAgent',
  'details',
  'prevHash',
  'hash',
] as const;

const csvRow = (r: AuditRecord) => ({
  seq: r.seq,
  id: r.id,
  occurredAt: r.occurredAt,
  recordedAt: r.recordedAt,
  actorSubject: r.actor.subject,
  actorRoles: r.actor.roles.join(' '),
  action: r.action,
  targetType: r.target.type,
  targetId: r.target.id ?? '',
  outcome: r.outcome.result,
  outcomeCode: r.outcome.code ?? '',
  requestId: r.requestId ?? '',
  correlationId: r.correlationId ?? '',
  clientIp: r.clientIp ?? '',
  userAgent: r.userAgent ?? '',
  details: JSON.stringify(r.details),
  prevHash: r.prevHash,
  hash: r.hash,
});

// A spreadsheet runs a cell starting with = + - @ as a formula: such cells get a leading quote.
const noFormula = (v: unknown) => (typeof v === 'string' && /^[=+\-@\t\r]/.test(v) ? `'${v}` : v);

export async function auditRoutes(root: FastifyInstance, opts: { subjectPrefix: string }) {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const guards = [app.authenticate, app.requireAdmin];

  /** Every read of the trail is itself recorded, before the read is answered. */
  const recordRead = (request: FastifyRequest, action: AuditAction, details: Record<string, string | number | boolean | null>) =>
    writeAuditEvent(
      app.pool,
      app.outboxRelay,
      { schema: 'audit', subjectPrefix: opts.subjectPrefix },
      {
        ...auditContextOf(request, request.principal),
        tenantId: request.principal.tenantId,
        action,
        target: { type: 'audit_trail', id: request.principal.tenantId },
        outcome: { result: 'allowed', code: null },
        details,
      },
    );

  const filterOf = (
    tenantId: string,
    q: { actor?: string; action?: string; outcome?: string; targetType?: string; targetId?: string; from?: string; to?: string },
  ): RecordFilter => {
    if (q.from && q.to && Date.parse(q.from) >= Date.parse(q.to)) throw new AuditRangeError();
    // As UTC: ISO 8601 allows offsets up to ±23:59, Postgres only up to ±15:59, and neither year 0000 nor, once
    // shifted to UTC, 10000 fits (500s before). Bounds outside the epoch … 9999 filter like the nearest end.
    const utc = (instant?: string) => (instant === undefined ? undefined : new Date(Math.min(LATEST_INSTANT, Math.max(0, Date.parse(instant)))).toISOString());
    return { tenantId, actor: q.actor, action: q.action, outcome: q.outcome, targetType: q.targetType, targetId: q.targetId, from: utc(q.from), to: utc(q.to) };
  };
  const filterDetails = (f: RecordFilter) =>
    Object.fromEntries(
      Object.entries({ actor: f.actor, action: f.action, outcome: f.outcome, targetType: f.targetType, targetId: f.targetId, from: f.from, to: f.to }).filter(
        ([, v]) => v !== undefined,
      ),
    ) as Record<string, string>;

  app.route({
    ...contractRoute(ROUTES.auditList),
    onRequest: guards,
    handler: async (request) => {
      const { limit, cursor, ...q } = request.query;
      const filter = filterOf(request.principal.tenantId, q);
      await recordRead(request, 'audit.read', { ...filterDetails(filter), limit, cursor: cursor ?? null });
      return app.recordRepository.list(filter, limit, cursor === undefined ? undefined : Number(cursor));
    },
  });

  app.route({
    ...contractRoute(ROUTES.auditExport),
    onRequest: guards,
    handler: async (request, reply) => {
      const { format, ...q } = request.query;
      const filter = filterOf(request.principal.tenantId, q);
      await recordRead(request, 'audit.export', { ...filterDetails(filter), format });
      // The first page is read before the answer starts: a failing read is still an error answer (headers of a
      // CSV download already sent made it a 500 of the wrong shape), only a later page can cut the stream.
      const pages = app.recordRepository.exportRows(filter);
      const first = await pages.next();
      const rows = Readable.from(
        (async function* () {
          if (first.done) return;
          yield first.value;
          yield* pages;
        })(),
      );
      // Pulled page by page as the client reads (backpressure through the pipe): memory stays flat.
      const body =
        format === 'csv'
          ? rows
              .pipe(
                new Transform({
                  objectMode: true,
                  transform: (r: AuditRecord, _e, done) => done(null, Object.fromEntries(Object.entries(csvRow(r)).map(([k, v]) => [k, noFormula(v)]))),
                }),
              )
              .pipe(stringify({ header: true, columns: [...CSV_COLUMNS], record_delimiter: '\r\n' }))
          : rows.pipe(new Transform({ writableObjectMode: true, transform: (r: AuditRecord, _e, done) => done(null, `${JSON.stringify(r)}\n`) }));
      rows.on('error', (err) => {
        request.log.warn({ err: err.message }, 'audit export failed mid-stream');
        body.destroy(err);
      });
      const stamp = new Date().toISOString().slice(0, 10);
      return reply
        .header('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
        .header('content-disposition', `attachment; filename="audit-${stamp}.${format}"`)
        .header('cache-control', 'no-store')
        .send(body as unknown as string);
    },
  });

  app.route({
    ...contractRoute(ROUTES.auditVerify),
    onRequest: guards,
    handler: async (request) => {
      const tenantId = request.principal.tenantId;
      await recordRead(request, 'audit.verify', {});
      const result = await app.recordRepository.verify(tenantId);
      return { tenantId, records: result.records, ok: result.firstBroken === null, firstBroken: result.firstBroken };
    },
  });
}
