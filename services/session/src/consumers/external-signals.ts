import { runConsumer, type ConsumerHandle } from '@glavito/bus';
import { isDatabaseUnavailable } from '@glavito/db';
import fp from 'fastify-plugin';
import type { SessionConfig } from '../config.js';
import { applySignal, signalOf } from '../domain/external-signals.js';
import { SessionNotFoundError } from '../errors.js';

/** The event families whose events may complete or annotate a step (domain/external-signals.ts has the rules). */
export const SIGNAL_FAMILIES = ['payment', 'connection'] as const;

/**
 * External signals: one durable per event family (nats-server 2.9 takes one filter per consumer), shared by the
 * replicas. Each event is applied to its sessions through the same version-checked write as a save, so its step
 * events, progress and pushes follow as usual; applying one twice changes nothing (applySignal is idempotent).
 */
export const externalSignalsConsumer = fp<{ config: SessionConfig }>(
  async (app, { config }) => {
    const handles: ConsumerHandle[] = [];
    for (const family of SIGNAL_FAMILIES) {
      const durable = `${config.SESSION_SIGNALS_CONSUMER}_${family}`;
      const limits = { stream: config.EVENT_STREAM, durable, maxDeliver: 8 };
      await app.bus.ensureDurable({ ...limits, filterSubject: `${config.EVENT_SUBJECT_PREFIX}.*.*.${family}.>` });
      handles.push(
        await runConsumer({
          bus: app.bus,
          ...limits,
          logger: app.log,
          deadLetterSubject: `${config.DEAD_LETTER_PREFIX}.session`,
          isTransient: isDatabaseUnavailable,
          handler: async (event) => {
            const signal = signalOf(event);
            if (!signal) return;
            const ids =
              'sessionId' in signal.target ? [signal.target.sessionId] : await app.sessionRepository.sessionsOfTenantFlow(signal.tenantId, signal.target.flow);
            // The tenant is the event's own: a signal only ever reaches sessions of that tenant.
            const scope = { tenantId: signal.tenantId, userId: 'system', isAdmin: true };
            for (const id of ids) {
              try {
                const { transition } = await app.sessionRepository.mutate(id, scope, event.correlationId, (s) =>
                  applySignal(s, signal, app.now().toISOString()),
                );
                if (transition.events.length > 0)
                  app.log.info(
                    {
                      eventId: event.id,
                      type: event.type,
                      sessionId: id,
                      stepId: signal.stepId,
                      key: signal.key,
                      state: signal.signal.state,
                      emitted: transition.events.map((e) => e.type),
                    },
                    'external signal applied',
                  );
              } catch (err) {
                if (!(err instanceof SessionNotFoundError)) throw err;
              }
            }
          },
        }),
      );
    }
    app.addHook('onClose', async () => {
      await Promise.all(handles.map((h) => h.stop()));
    });
  },
  { name: 'session-external-signals', dependencies: ['bus', 'session-repository'] },
);
