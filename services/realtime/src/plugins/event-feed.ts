import { readEvent, sessionSubjectFilter, type EventEnvelope } from '@glavito/contracts';
import fp from 'fastify-plugin';
import type { RealtimeConfig } from '../config.js';
import { concurrencyLimit } from '../domain/limit.js';
// The metrics decorator's type lives with its plugin; the build (unlike typecheck) sees only what src imports.
import type {} from '@glavito/http/metrics';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * A session's events after `lastEventId` (within the replay window), in stream order; `found: false`
     * when the id is unknown or too old, so the client refetches instead.
     */
    replaySession: (
      tenantId: string,
      sessionId: string,
      lastEventId: string,
    ) => Promise<{ found: boolean; fromSeq: number; events: Array<{ seq: number; event: EventEnvelope }> }>;
  }
}

const decoder = new TextDecoder();

/**
 * Replays read from the stream at once by one replica. Each is a short-lived consumer on the broker: after a restart
 * 5,000 sockets re-joining at once opened thousands together, their JetStream API calls timed out and the joins
 * failed (bench/RESULTS.md §8). Queued instead, each storm costs at most this many consumers per replica.
 */
const REPLAYS_AT_ONCE = 32;

/**
 * Every replica reads every event (its own live feed, new events only) and hands it to its hub,
 * which delivers to the local sockets that want it.
 */
export const eventFeedPlugin = fp<{ config: RealtimeConfig }>(
  async (app, { config }) => {
    const unknownEvents = app.metrics.counter('events_unknown_total', 'Events of a type or version this build does not know (skipped, not pushed)', [
      'consumer',
      'type',
      'version',
      'reason',
    ]);
    /** The event at its latest version, or null (not pushed) for one this build cannot read: counted, never an error. */
    const read = (raw: unknown): EventEnvelope | null => {
      const r = readEvent(raw);
      if (r.known) return r.event;
      unknownEvents.inc({ consumer: 'realtime', type: r.envelope.type, version: String(r.envelope.version), reason: r.reason });
      return null;
    };
    const feed = await app.bus.consumeNew(config.EVENT_STREAM, `${config.EVENT_SUBJECT_PREFIX}.>`, (msg) => {
      let event: EventEnvelope | null;
      try {
        const raw: unknown = JSON.parse(decoder.decode(msg.data));
        // Every replica receives every event; one no local socket listens to would be pushed nowhere, so it is not
        // read (validated) at all. Only what is pushed is counted or reported as breaking its contract.
        if (!app.hub.listens(raw)) return;
        event = read(raw);
        if (!event) return;
      } catch (err) {
        app.log.warn({ streamSeq: msg.seq, err: (err as Error).message.slice(0, 200) }, 'realtime: event breaks its contract; not pushed');
        return;
      }
      const sent = app.hub.dispatch(msg.seq, event);
      if (sent > 0)
        app.log.debug({ eventId: event.id, type: event.type, sessionId: event.sessionId, correlationId: event.correlationId, sockets: sent }, 'event pushed');
    });

    const replayTurn = concurrencyLimit(REPLAYS_AT_ONCE);
    app.decorate('replaySession', async (tenantId: string, sessionId: string, lastEventId: string) => {
      const since = new Date(Date.now() - config.WS_REPLAY_WINDOW);
      const stored = await replayTurn(() =>
        app.bus.readSince(config.EVENT_STREAM, sessionSubjectFilter(config.EVENT_SUBJECT_PREFIX, tenantId, sessionId), since),
      );
      const seen: Array<{ seq: number; event: EventEnvelope }> = [];
      for (const m of stored) {
        try {
          const event = read(JSON.parse(decoder.decode(m.data)));
          if (event) seen.push({ seq: m.seq, event });
        } catch {
          // skipped, as on the live feed
        }
      }
      const at = seen.findIndex((e) => e.event.id === lastEventId);
      if (at < 0) return { found: false, fromSeq: 0, events: [] };
      return { found: true, fromSeq: seen[at]!.seq, events: seen.slice(at + 1) };
    });

    app.addHook('onClose', async () => feed.stop());
  },
  { name: 'event-feed', dependencies: ['bus', 'hub'] },
);
