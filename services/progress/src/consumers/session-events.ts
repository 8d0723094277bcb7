import { runConsumer, type ConsumerHandle } from '@glavito/bus';
import { isDatabaseUnavailable } from '@glavito/db';
import fp from 'fastify-plugin';
import type { ProgressConfig } from '../config.js';
import { isProjected } from '../domain/projection.js';

declare module 'fastify' {
  interface FastifyInstance {
    sessionEventsConsumer: ConsumerHandle | null;
  }
}

/**
 * One durable pull consumer shared by every replica. Session and step events update the projection;
 * the service's own and other events on the stream are acked and ignored.
 */
export const sessionEventsConsumer = fp<{ config: ProgressConfig }>(
  async (app, { config }) => {
    if (!config.CONSUME_EVENTS) {
      app.decorate('sessionEventsConsumer', null);
      return;
    }
    await app.bus.ensureDurable({
      stream: config.EVENT_STREAM,
      durable: config.PROGRESS_CONSUMER,
      filterSubject: `${config.EVENT_SUBJECT_PREFIX}.>`,
      maxDeliver: config.CONSUMER_MAX_DELIVER,
      ackWaitMs: config.CONSUMER_ACK_WAIT,
    });
    const handle = await runConsumer({
      bus: app.bus,
      stream: config.EVENT_STREAM,
      durable: config.PROGRESS_CONSUMER,
      logger: app.log,
      maxDeliver: config.CONSUMER_MAX_DELIVER,
      ackWaitMs: config.CONSUMER_ACK_WAIT,
      concurrency: config.CONSUMER_CONCURRENCY,
      deadLetterSubject: `${config.DEAD_LETTER_PREFIX}.progress`,
      // Postgres down or failing over: hold the events (consumption pauses) instead of dead-lettering them.
      isTransient: isDatabaseUnavailable,
      // `<prefix>.<tenant>.<session>.<type>`: the progress service's own and other events are acked unread.
      accepts: (subject) => isProjected(subject.split('.').slice(-2).join('.')),
      handler: async (event) => {
        const outcome = await app.projectionRepository.process(event);
        app.log.debug({ eventId: event.id, type: event.type, sessionId: event.sessionId, seq: event.sessionSeq, correlationId: event.correlationId, outcome }, 'session event processed');
      },
    });
    app.decorate('sessionEventsConsumer', handle);
    app.metrics.gauge('consumer_pending_events', 'Events in the stream not yet delivered to the progress consumer', async () => {
      return app.bus.pendingFor(config.EVENT_STREAM, config.PROGRESS_CONSUMER);
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
