import { runConsumer } from '@glavito/bus';
import { isDatabaseUnavailable } from '@glavito/db';
import fp from 'fastify-plugin';
import type { ConnectionTestConfig } from '../config.js';

/** Learns sessions (owner, tenant, status) from session events, so access checks need no round trip. */
export const sessionEventsConsumer = fp<{ config: ConnectionTestConfig }>(
  async (app, { config }) => {
    await app.bus.ensureDurable({
      stream: config.EVENT_STREAM,
      durable: config.CONNECTION_TEST_CONSUMER,
      // Only session lifecycle events (`<prefix>.<tenant>.<session>.session.*`) say who owns a session.
      filterSubject: `${config.EVENT_SUBJECT_PREFIX}.*.*.session.>`,
      maxDeliver: 8,
    });
    const handle = await runConsumer({
      bus: app.bus,
      stream: config.EVENT_STREAM,
      durable: config.CONNECTION_TEST_CONSUMER,
      logger: app.log,
      maxDeliver: 8,
      deadLetterSubject: `${config.DEAD_LETTER_PREFIX}.connection-test`,
      isTransient: isDatabaseUnavailable,
      handler: async (event) => {
        const status = (event.data as { status: string }).status;
        await app.testRuns.rememberSession({ sessionId: event.sessionId, tenantId: event.tenantId, userId: event.userId, status }, event.sessionSeq);
      },
    });
    app.addHook('onClose', async () => handle.stop());
  },
  { name: 'connection-test-session-events', dependencies: ['bus', 'tester'] },
);
