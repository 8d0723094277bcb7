import { AuditEventSchema, type AuditEvent } from '@glavito/contracts';
import type { DeliveredMessage, Stoppable } from '@glavito/bus';
import { auditNames } from '@glavito/config';
import { isDatabaseUnavailable } from '@glavito/db';
import type { FastifyInstance } from 'fastify';
import type { AuditConfig } from '../config.js';
// The metrics decorator's type lives with its plugin; the build (unlike typecheck) sees only what src imports.
import type {} from '@glavito/http/metrics';

const decoder = new TextDecoder();

interface Waiting {
  event: AuditEvent;
  done: (err?: Error) => void;
}

/**
 * Collects events as they are delivered and appends them in batches (one transaction per batch), one batch at a time
 * per replica; each message is acked once the batch holding it has committed. A batch's events that are already
 * stored (redeliveries) are skipped inside the append, so an event is recorded once however often it arrives.
 */
export function createBatcher(append: (events: AuditEvent[]) => Promise<number>, maxBatch: number) {
  let waiting: Waiting[] = [];
  let running: Promise<void> | null = null;
  let scheduled = false;

  async function run(): Promise<void> {
    while (waiting.length > 0) {
      const batch = waiting.slice(0, maxBatch);
      waiting = waiting.slice(batch.length);
      try {
        await append(batch.map((w) => w.event));
        for (const w of batch) w.done();
      } catch (err) {
        for (const w of batch) w.done(err as Error);
      }
    }
    running = null;
  }

  return {
    add(event: AuditEvent): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        waiting.push({ event, done: (err) => (err ? reject(err) : resolve()) });
        // Let one turn of deliveries gather before the batch goes (under load a batch fills; idle, one event waits a tick).
        if (!running && !scheduled) {
          scheduled = true;
          setImmediate(() => {
            scheduled = false;
            running ??= run();
          });
        }
      });
    },
    async drain(): Promise<void> {
      while (running || scheduled || waiting.length > 0) await (running ?? new Promise((r) => setImmediate(r)));
    },
  };
}

export async function auditEventsConsumer(app: FastifyInstance, opts: { config: AuditConfig }) {
  const { config } = opts;
  if (!config.CONSUME_EVENTS) return;
  const { stream, subjectPrefix } = auditNames(config);
  const durable = config.AUDIT_CONSUMER;
  const recorded = app.metrics.counter('audit_records_appended_total', 'Audit records appended to a chain');
  const unknown = app.metrics.counter('audit_events_unknown_total', 'Audit events of a version this release does not know (acked, not stored)');
  const poison = app.metrics.counter('audit_events_dead_lettered_total', 'Audit messages that break the contract (dead-lettered)');
  const batcher = createBatcher(async (events) => {
    const n = await app.recordRepository.append(events);
    recorded.inc(n);
    return n;
  }, config.AUDIT_BATCH_SIZE);

  await app.bus.ensureDurable({
    stream,
    durable,
    filterSubject: `${subjectPrefix}.>`,
    ackWaitMs: config.CONSUMER_ACK_WAIT,
    maxDeliver: config.CONSUMER_MAX_DELIVER,
  });

  async function deadLetter(msg: DeliveredMessage, reason: string): Promise<void> {
    poison.inc();
    const letter = JSON.stringify({ reason: reason.slice(0, 500), subject: msg.subject, streamSeq: msg.seq, data: decoder.decode(msg.data).slice(0, 10_000) });
    try {
      await app.bus.publish(`${config.DEAD_LETTER_PREFIX}.${durable}`, letter, `dlq:${stream}:${msg.seq}`);
      app.log.error({ subject: msg.subject, streamSeq: msg.seq, reason }, 'audit: message dead-lettered');
      msg.term();
    } catch (err) {
      app.log.error({ err: (err as Error).message }, 'audit: dead-letter publish failed; will retry');
      msg.nak(5000);
    }
  }

  const handle = async (msg: DeliveredMessage): Promise<void> => {
    let raw: unknown;
    try {
      raw = JSON.parse(decoder.decode(msg.data));
    } catch {
      return deadLetter(msg, 'not JSON');
    }
    const version = (raw as { version?: unknown } | null)?.version;
    if (typeof version === 'number' && version > 1) {
      // A newer producer: acknowledged and counted, never dead-lettered (contracts evolve additively; §8).
      unknown.inc();
      msg.ack();
      return;
    }
    const parsed = AuditEventSchema.safeParse(raw);
    if (!parsed.success) return deadLetter(msg, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    // Held while Postgres is down: the ack wait is kept alive and the delivery not used up.
    for (;;) {
      try {
        await batcher.add(parsed.data);
        msg.ack();
        return;
      } catch (err) {
        if (!isDatabaseUnavailable(err) || stopping) {
          app.log.warn({ err: (err as Error).message, streamSeq: msg.seq }, 'audit: append failed, redelivering');
          msg.nak(Math.min(500 * msg.deliveryCount, 10_000));
          return;
        }
        msg.working();
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };

  let stopping = false;
  let consumer: Stoppable | null = null;
  app.addHook('onReady', async () => {
    consumer = await app.bus.consumeDurable(stream, durable, handle, { concurrency: config.CONSUMER_CONCURRENCY });
  });
  app.addHook('onClose', async () => {
    stopping = true;
    await consumer?.stop();
    await batcher.drain();
  });
  app.metrics.gauge('audit_consumer_pending', 'Audit events in the stream not yet recorded', () => app.bus.pendingFor(stream, durable));
}
