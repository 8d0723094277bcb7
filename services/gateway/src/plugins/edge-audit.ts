import { createEdgeAuditor, type EdgeAuditor, type EventBus } from '@glavito/bus';
import { AUDIT_NO_TENANT } from '@glavito/contracts';
import { auditContextOf } from '@glavito/http';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyInstance {
    edgeAuditor: EdgeAuditor;
  }
}

export interface EdgeAuditOptions {
  /** Where the audit stream is; unset: every refusal is counted as not published (metric + log line). */
  natsUrl?: string;
  subjectPrefix: string;
  /** An existing bus (embedded mode). */
  bus?: Pick<EventBus, 'publish'>;
  perActorPerMinute?: number;
}

/** A 404 is a refusal worth recording only on a session route: there it may be a probe of another tenant's session. */
const isSessionRoute = (url: string | undefined) => url !== undefined && url.includes(':sessionId');

/**
 * Refusals at the edge (401, 403, 429, a 404 on a session route) are published straight to the audit stream, sampled
 * per actor per minute (createEdgeAuditor). Publishing never holds up or fails the answer: it happens after the
 * response is sent, and a failure is the metric `audit_publish_failures_total` plus one log line a second at most.
 */
export const edgeAuditPlugin = fp<EdgeAuditOptions>(
  async (app: FastifyInstance, opts) => {
    let nc: NatsConnection | null = null;
    let bus: Pick<EventBus, 'publish'> | null = opts.bus ?? null;
    // memory:// is embedded mode's in-process bus, which comes as `bus`.
    if (!bus && opts.natsUrl && !opts.natsUrl.startsWith('memory:')) {
      // Fails the boot when NATS does not answer (like every service); reconnects forever afterwards.
      nc = await connect({ servers: opts.natsUrl, name: 'gateway-audit', maxReconnectAttempts: -1 });
      const js = jetstream(nc);
      bus = {
        async publish(subject, data, msgId) {
          const ack = await js.publish(subject, data, { msgID: msgId, timeout: 2000 });
          return { seq: ack.seq, duplicate: ack.duplicate };
        },
      };
    }
    const failures = app.metrics.counter('audit_publish_failures_total', 'Audit events of refusals that could not be published');
    const sampled = app.metrics.counter('audit_denials_sampled_total', 'Refusals folded into a per-minute summary record instead of one record each');
    const auditor = createEdgeAuditor({
      bus,
      subjectPrefix: opts.subjectPrefix,
      logger: app.log,
      perActorPerMinute: opts.perActorPerMinute,
      onFailure: () => failures.inc(),
      onSampled: () => sampled.inc(),
    });
    app.decorate('edgeAuditor', auditor);

    const record = (request: FastifyRequest, status: number) => {
      const route = request.routeOptions.url;
      const principal = (request as { principal?: { userId: string; tenantId: string; roles: string[] } }).principal;
      const sessionId = (request.params as { sessionId?: string } | undefined)?.sessionId;
      const probe = status === 404 && sessionId !== undefined;
      auditor.record({
        ...auditContextOf(request, principal),
        // The edge's own view of the peer (TRUST_PROXY decides whether X-Forwarded-For counts), never the raw header.
        clientIp: request.ip ?? null,
        tenantId: principal?.tenantId ?? AUDIT_NO_TENANT,
        action: 'access.denied',
        target: probe ? { type: 'session', id: sessionId.slice(0, 128) } : { type: 'route', id: `${request.method} ${route ?? 'unmatched'}`.slice(0, 128) },
        outcome: { result: 'denied', code: String(status) },
        details: { route: route ?? null, method: request.method },
      });
    };

    app.addHook('onResponse', (request, reply, done) => {
      const status = reply.statusCode;
      if (status === 401 || status === 403 || status === 429 || (status === 404 && isSessionRoute(request.routeOptions.url))) record(request, status);
      done();
    });
    app.addHook('onClose', async () => {
      await auditor.stop();
      await nc?.drain().catch(() => {});
    });
  },
  { name: 'gateway-edge-audit', dependencies: ['metrics'] },
);
