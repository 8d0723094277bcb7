import { runConsumer, type ConsumerHandle } from '@glavito/bus';
import { isDatabaseUnavailable } from '@glavito/db';
import fp from 'fastify-plugin';
import type { ProgressConfig } from '../config.js';
import { opaqueEvent } from '../repositories/projection-repository.js';
import { FlowNotKnownError } from '../domain/projection.js';
import type { EventData } from '@glavito/contracts';
// The metrics decorator's type lives with its plugin; the build (unlike typecheck) sees only what src imports.
import type {} from '@glavito/http/metrics';

declare module 'fastify' {
  interface FastifyInstance {
    sessionEventsConsumer: ConsumerHandle | null;
  }
}

/** The durables of the progress service: step events on PROGRESS_CONSUMER, session events on `<it>_sessions`. */
export function progressDurables(config: Pick<ProgressConfig, 'PROGRESS_CONSUMER' | 'EVENT_SUBJECT_PREFIX'>) {
  // `<prefix>.<tenant>.<session>.<type>`: one filter per event family, so the service's own events (progress.*,
  // milestone.*) never reach it. nats-server 2.9 takes one filter subject per consumer.
  return {
    steps: { durable: config.PROGRESS_CONSUMER, filterSubject: `${config.EVENT_SUBJECT_PREFIX}.*.*.step.>` },
    sessions: { durable: `${config.PROGRESS_CONSUMER}_sessions`, filterSubject: `${config.EVENT_SUBJECT_PREFIX}.*.*.session.>` },
    flows: { durable: `${config.PROGRESS_CONSUMER}_flows`, filterSubject: `${config.EVENT_SUBJECT_PREFIX}.*.*.flow.>` },
  };
}

/**
 * Two durable pull consumers (step events, session events), each shared by every replica. One session's
 * events may come through both in either order: the projection applies them in `sessionSeq` order.
 */
export const sessionEventsConsumer = fp<{ config: ProgressConfig }>(
  async (app, { config }) => {
    if (!config.CONSUME_EVENTS) {
      app.decorate('sessionEventsConsumer', null);
      return;
    }
    const { steps, sessions, flows } = progressDurables(config);
    // The one-time upgrade from one durable for every event (filter `<prefix>.>`) is a step of the broker
    // migration (`pnpm bus:migrate`): by now the session-event durable exists where that one had got to.
    const limits = { stream: config.EVENT_STREAM, maxDeliver: config.CONSUMER_MAX_DELIVER, ackWaitMs: config.CONSUMER_ACK_WAIT };
    await app.bus.ensureDurable({ ...limits, ...sessions });
    await app.bus.ensureDurable({ ...limits, ...steps });
    await app.bus.ensureDurable({ ...limits, ...flows });
    const unknownEvents = app.metrics.counter(
      'events_unknown_total',
      'Events of a type or version this build does not know (acknowledged, never dead-lettered)',
      ['consumer', 'type', 'version', 'reason'],
    );
    const handles = await Promise.all(
      [steps, sessions].map(({ durable }) =>
        runConsumer({
          bus: app.bus,
          stream: config.EVENT_STREAM,
          durable,
          logger: app.log,
          maxDeliver: config.CONSUMER_MAX_DELIVER,
          ackWaitMs: config.CONSUMER_ACK_WAIT,
          concurrency: config.CONSUMER_CONCURRENCY,
          deadLetterSubject: `${config.DEAD_LETTER_PREFIX}.progress`,
          // Postgres down or failing over: hold the events (consumption pauses) instead of dead-lettering them.
          // A session of a flow version whose flow.published this service has not applied yet waits for it too.
          isTransient: (err) => isDatabaseUnavailable(err) || err instanceof FlowNotKnownError,
          countUnknown: ({ envelope, reason }) => unknownEvents.inc({ consumer: durable, type: envelope.type, version: String(envelope.version), reason }),
          // Still one of the session's sequence: stepped over in order, so the events after it are not parked forever.
          onUnknown: async ({ envelope }) => void (await app.projectionRepository.process(opaqueEvent(envelope))),
          handler: async (event) => {
            const outcome = await app.projectionRepository.process(event);
            app.log.debug(
              { eventId: event.id, type: event.type, sessionId: event.sessionId, seq: event.sessionSeq, correlationId: event.correlationId, outcome },
              'session event processed',
            );
          },
        }),
      ),
    );
    // Tenants' flow versions: this service's own copy, which session events of those versions wait for.
    handles.push(
      await runConsumer({
        bus: app.bus,
        stream: config.EVENT_STREAM,
        durable: flows.durable,
        logger: app.log,
        maxDeliver: config.CONSUMER_MAX_DELIVER,
        ackWaitMs: config.CONSUMER_ACK_WAIT,
        deadLetterSubject: `${config.DEAD_LETTER_PREFIX}.progress`,
        isTransient: isDatabaseUnavailable,
        countUnknown: ({ envelope, reason }) => unknownEvents.inc({ consumer: flows.durable, type: envelope.type, version: String(envelope.version), reason }),
        handler: async (event) => {
          if (event.type === 'flow.published') await app.flowVersionCopies.record(event.tenantId, event.data as EventData<'flow.published'>);
        },
      }),
    );
    const handle: ConsumerHandle = { stop: async () => void (await Promise.all(handles.map((h) => h.stop()))) };
    app.decorate('sessionEventsConsumer', handle);
    app.metrics.gauge('consumer_pending_events', 'Events in the stream not yet delivered to the progress consumers', async () => {
      const pending = await Promise.all([steps, sessions].map(({ durable }) => app.bus.pendingFor(config.EVENT_STREAM, durable)));
      return pending.reduce((a, b) => a + b, 0);
    });
    app.metrics.gauge('progress_parked_events', 'Events waiting for an earlier event of their session', async () => {
      const r = await app.pool.query<{ n: string }>('SELECT count(*) AS n FROM progress.pending_events');
      return Number(r.rows[0]!.n);
    });
    // Stop pulling before the pool and the NATS connection close (hooks run in reverse order).
    app.addHook('onClose', async () => handle.stop());
  },
  { name: 'session-events-consumer', dependencies: ['bus', 'progress-repositories'] },
);
