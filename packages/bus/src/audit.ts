import { AUDIT_NO_TENANT, AuditEventSchema, auditSubject, type AuditEvent } from '@glavito/contracts';
import type { EventBus } from './event-bus.js';
import { newEventId } from './envelope.js';
import type { BusLogger as Logger } from './nats.js';

export type AuditInput = Omit<AuditEvent, 'id' | 'type' | 'version' | 'occurredAt' | 'details'> & { details?: AuditEvent['details']; occurredAt?: Date };

/** A validated audit event: a detail that names a credential, or anything over its size, throws here, before it is stored. */
export function buildAuditEvent(input: AuditInput): AuditEvent {
  const { occurredAt, details, ...rest } = input;
  return AuditEventSchema.parse({
    ...rest,
    id: newEventId(),
    type: 'audit.recorded',
    version: 1,
    occurredAt: (occurredAt ?? new Date()).toISOString(),
    details: details ?? {},
  });
}

export interface EdgeAuditorOptions {
  /** Null when no bus is configured: every event counts as a failed publish. */
  bus: Pick<EventBus, 'publish'> | null;
  subjectPrefix: string;
  logger: Logger;
  /** Events published one by one per actor, action and outcome code per minute; the rest are counted into one summary record. */
  perActorPerMinute?: number;
  /** Distinct actors tracked per minute; beyond it every actor shares one overflow bucket (memory stays bounded under attack). */
  maxActors?: number;
  /** Publish failures (metric). */
  onFailure?: () => void;
  /** Events folded into a summary instead of published (metric). */
  onSampled?: () => void;
  now?: () => number;
}

export interface EdgeAuditor {
  /** Never throws and never waits for the broker: a refusal's answer must not depend on the audit trail. */
  record(input: AuditInput): void;
  /** Publishes the summaries of the past minute now (tests, shutdown) and waits for publishes in flight. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

interface Bucket {
  overflow: boolean;
  minute: number;
  sent: number;
  dropped: number;
  last: AuditInput;
}

/**
 * Refusals at the edge (401, 403, 429, a 404 on a session route, a refused WebSocket join) have no state change to
 * ride on, so they are published directly. Under attack they are sampled: per (tenant, actor, action, code) the first
 * `perActorPerMinute` of each minute go out as they are, and the minute's rest becomes one record with
 * `details.sampled: true` and `details.dropped: <count>`, published when the minute ends. A failed publish is a
 * metric and a log line, never an error for the request.
 */
export function createEdgeAuditor(opts: EdgeAuditorOptions): EdgeAuditor {
  const perMinute = opts.perActorPerMinute ?? 10;
  const maxActors = opts.maxActors ?? 10_000;
  const now = opts.now ?? Date.now;
  const buckets = new Map<string, Bucket>();
  const inFlight = new Set<Promise<void>>();
  let lastLog = 0;

  function publish(input: AuditInput): void {
    let ev: AuditEvent;
    try {
      ev = buildAuditEvent(input);
    } catch (err) {
      fail(err as Error, 'audit: an edge event broke its contract');
      return;
    }
    if (!opts.bus) return fail(new Error('no bus configured'), 'audit: an edge event could not be published');
    const p = opts.bus.publish(auditSubject(opts.subjectPrefix, ev), JSON.stringify(ev), ev.id).then(
      () => {},
      (err: Error) => fail(err, 'audit: an edge event could not be published'),
    );
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }

  function fail(err: Error, msg: string): void {
    opts.onFailure?.();
    if (now() - lastLog > 1000) {
      lastLog = now();
      opts.logger.warn({ err: err.message }, msg);
    }
  }

  function summarize(bucket: Bucket): void {
    if (bucket.dropped === 0) return;
    // The overflow bucket mixes actors and tenants: its summary names neither.
    const last: AuditInput = bucket.overflow
      ? { ...bucket.last, tenantId: AUDIT_NO_TENANT, actor: { subject: '*', roles: [] }, target: { type: 'route', id: null } }
      : bucket.last;
    publish({
      ...last,
      occurredAt: new Date((bucket.minute + 1) * 60_000 - 1),
      details: { ...last.details, sampled: true, dropped: bucket.dropped, windowStart: new Date(bucket.minute * 60_000).toISOString(), windowSeconds: 60 },
    });
  }

  function sweep(all = false): void {
    const minute = Math.floor(now() / 60_000);
    for (const [key, bucket] of buckets) {
      if (all || bucket.minute < minute) {
        summarize(bucket);
        buckets.delete(key);
      }
    }
  }
  const timer = setInterval(() => sweep(), 10_000);
  timer.unref();

  return {
    record(input) {
      const minute = Math.floor(now() / 60_000);
      let key = `${input.tenantId}|${input.actor.subject}|${input.action}|${input.outcome.code ?? ''}`;
      const overflow = !buckets.has(key) && buckets.size >= maxActors;
      if (overflow) key = '*overflow*';
      let bucket = buckets.get(key);
      if (bucket && bucket.minute !== minute) {
        summarize(bucket);
        bucket = undefined;
      }
      if (!bucket) {
        bucket = { overflow: key === '*overflow*', minute, sent: 0, dropped: 0, last: input };
        buckets.set(key, bucket);
      }
      bucket.last = input;
      if (bucket.sent < perMinute && !bucket.overflow) {
        bucket.sent++;
        publish(input);
      } else {
        bucket.dropped++;
        opts.onSampled?.();
      }
    },
    async flush() {
      sweep(true);
      await Promise.allSettled([...inFlight]);
    },
    async stop() {
      clearInterval(timer);
      sweep(true);
      await Promise.allSettled([...inFlight]);
    },
  };
}
