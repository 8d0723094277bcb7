import { DeliverPolicy } from '@nats-io/jetstream';
import { parseEvent, sessionSubjectFilter, type EventEnvelope } from '@glavito/contracts';
import fp from 'fastify-plugin';
import type { RealtimeConfig } from '../config.js';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * A session's events after `lastEventId` (within the replay window), in stream order; `found: false`
     * when the id is unknown or too old, so the client refetches instead.
     */
    replaySession: (tenantId: string, sessionId: string, lastEventId: string) => Promise<{ found: boolean; fromSeq: number; events: Array<{ seq: number; event: EventEnvelope }> }>;
  }
}

/**
 * Every replica reads every event (its own ordered consumer, new events only) and hands it to its hub,
 * which delivers to the local sockets that want it.
 */
export const eventFeedPlugin = fp<{ config: RealtimeConfig }>(
  async (app, { config }) => {
    const { js } = app.bus;
    const consumer = await js.consumers.get(config.EVENT_STREAM, { filter_subjects: `${config.EVENT_SUBJECT_PREFIX}.>`, deliver_policy: DeliverPolicy.New });
    const messages = await consumer.consume({ max_messages: 512 });
    const done = (async () => {
      for await (const msg of messages) {
        let event: EventEnvelope;
        try {
          event = parseEvent(msg.json());
        } catch (err) {
          app.log.warn({ streamSeq: msg.seq, err: (err as Error).message.slice(0, 200) }, 'realtime: event breaks its contract; not pushed');
          continue;
        }
        app.hub.dispatch(msg.seq, event);
      }
    })();

    app.decorate('replaySession', async (tenantId: string, sessionId: string, lastEventId: string) => {
      const since = new Date(Date.now() - config.WS_REPLAY_WINDOW).toISOString();
      const replay = await js.consumers.get(config.EVENT_STREAM, {
        filter_subjects: sessionSubjectFilter(config.EVENT_SUBJECT_PREFIX, tenantId, sessionId),
        deliver_policy: DeliverPolicy.StartTime,
        opt_start_time: since,
      });
      const seen: Array<{ seq: number; event: EventEnvelope }> = [];
      let pending = 1;
      while (pending > 0) {
        const batch = await replay.fetch({ max_messages: 500, expires: 2000 });
        let got = 0;
        for await (const msg of batch) {
          got++;
          try {
            seen.push({ seq: msg.seq, event: parseEvent(msg.json()) });
          } catch {
            // skipped, as on the live feed
          }
          pending = msg.info.pending;
          // Stop as soon as the stream has nothing more for this session, instead of waiting for `expires`.
          if (pending === 0) break;
        }
        if (got === 0) break;
      }
      const at = seen.findIndex((e) => e.event.id === lastEventId);
      if (at < 0) return { found: false, fromSeq: 0, events: [] };
      return { found: true, fromSeq: seen[at]!.seq, events: seen.slice(at + 1) };
    });

    app.addHook('onClose', async () => {
      await messages.close();
      await done.catch(() => {});
    });
  },
  { name: 'event-feed', dependencies: ['bus', 'hub'] },
);
