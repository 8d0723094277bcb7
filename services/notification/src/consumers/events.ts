import { runConsumer } from '@glavito/bus';
import type { EventData, EventEnvelope } from '@glavito/contracts';
import { isDatabaseUnavailable } from '@glavito/db';
import fp from 'fastify-plugin';
import type { NotificationConfig } from '../config.js';
import { completionText, milestoneText } from '../domain/policy.js';
import { notifyAdminsOnDefaultRulesBatch, type NoticeRequest } from '../repositories/admin-notices.js';
import { applySessionEventOnDefaultRules, applySessionEventsOnDefaultRules } from '../repositories/session-copy.js';

/** Step events that change a step's data (a skip or a refused save changes none). */
const CHANNEL_SAVES = new Set(['step.updated', 'step.completed']);

const isSessionEvent = (event: EventEnvelope) => event.type.startsWith('session.') || event.type.startsWith('step.');
/** A save of channel_configuration: the email channel tested before it is no longer the one tested. */
const isChannelSave = (event: EventEnvelope) =>
  CHANNEL_SAVES.has(event.type) &&
  (event.data as { stepId?: unknown; trigger?: unknown }).stepId === 'channel_configuration' &&
  !(event.data as { trigger?: unknown }).trigger;
/**
 * How long an event waits for others to share a batch: reminders are due minutes later, and an admin's notice
 * may come 25 ms later too.
 */
const BATCH_LINGER_MS = 25;

/**
 * One durable over the whole event subject space (nats-server 2.9: one filter per consumer): session and step
 * events keep the session copy and its reminders, business_hours.changed the tenant's hours, progress events
 * become admin notifications, email connection tests (and channel_configuration saves) say whether the tenant's own
 * SMTP may send. Everything else (our own notification.created included) is acknowledged and ignored.
 */
export const eventsConsumer = fp<{ config: NotificationConfig }>(
  async (app, { config }) => {
    await app.bus.ensureDurable({
      stream: config.EVENT_STREAM,
      durable: config.NOTIFICATION_CONSUMER,
      filterSubject: `${config.EVENT_SUBJECT_PREFIX}.>`,
      maxDeliver: 8,
    });
    const repo = app.notificationRepo;
    const notices = { subjectPrefix: config.EVENT_SUBJECT_PREFIX, publishCommitted: app.outboxRelay.publishCommitted };
    /** An event that notifies the tenant's admins (a milestone, a completion), as such; null for any other. */
    const noticeOf = (event: EventEnvelope): NoticeRequest | null => {
      if (event.type === 'milestone.reached') {
        const d = event.data as EventData<'milestone.reached'>;
        return { event, kind: 'milestone', text: (lang) => milestoneText(lang, d.threshold, d.progress.completedSteps) };
      }
      const completion = event.type === 'progress.updated' ? (event.data as EventData<'progress.updated'>).completion : null;
      return completion ? { event, kind: 'completion', text: (lang) => completionText(lang, completion.summary.totalTime) } : null;
    };
    /** Two round trips for many notices of tenants on the default rules (a milestone every few saves); the general path for the others. */
    const notifyAdmins = async (requests: NoticeRequest[]) => {
      const results = await notifyAdminsOnDefaultRulesBatch(app.pool, requests, notices);
      for (const [i, r] of requests.entries()) if (results[i] === 'general') await repo.notifyAdmins(r.event, r.kind, r.text);
    };
    /** One event, alone (a session event: its session copy; the others: what they mean to this service). */
    const handleEvent = async (event: EventEnvelope): Promise<void> => {
      if (event.type === 'connection.tested') return repo.applyEmailTest(event as EventEnvelope<'connection.tested'>);
      if (isSessionEvent(event)) {
        if (isChannelSave(event)) await repo.applyChannelChange(event);
        // One statement for a tenant on the default rules (every save sends one of these); the general path otherwise.
        if ((await applySessionEventOnDefaultRules(app.pool, event)) !== 'general') return;
        return repo.applySessionEvent(event);
      }
      if (event.type === 'business_hours.changed') return repo.applyBusinessHours(event as EventEnvelope<'business_hours.changed'>);
      const notice = noticeOf(event);
      if (notice) return notifyAdmins([notice]);
    };
    /** Session events of many sessions (and tenants) in one statement where their tenant is on the default rules. */
    const applySessionCopies = async (events: EventEnvelope[]): Promise<void> => {
      for (const event of events) if (isChannelSave(event)) await repo.applyChannelChange(event);
      const results = await applySessionEventsOnDefaultRules(app.pool, events);
      for (const [i, event] of events.entries()) if (results[i] === 'general') await repo.applySessionEvent(event);
    };
    /**
     * A batch, each tenant's events in their order (all of this service's state is per tenant, so tenants are
     * independent): the leading session events of every tenant share one statement, then each tenant's next
     * other event runs (the milestone and completion notices of all tenants in two round trips), and so on. The step
     * events and milestones of many saves are thus three round trips, where the milestone used to cut every batch short.
     */
    const handleBatch = async (events: EventEnvelope[]): Promise<void> => {
      const byTenant = new Map<string, EventEnvelope[]>();
      for (const event of events) byTenant.set(event.tenantId, [...(byTenant.get(event.tenantId) ?? []), event]);
      const queues = [...byTenant.values()];
      while (queues.some((q) => q.length > 0)) {
        const copies: EventEnvelope[] = [];
        const alone: EventEnvelope[] = [];
        for (const q of queues) {
          while (q.length > 0 && isSessionEvent(q[0]!)) copies.push(q.shift()!);
          if (q.length > 0) alone.push(q.shift()!);
        }
        if (copies.length > 0) await applySessionCopies(copies);
        // At most one event per tenant here, so their order does not matter: the notices share two round trips.
        const noticeRequests = alone.map(noticeOf).filter((r): r is NoticeRequest => r !== null);
        if (noticeRequests.length > 0) await notifyAdmins(noticeRequests);
        for (const event of alone) if (!noticeOf(event)) await handleEvent(event);
      }
    };
    const handle = await runConsumer({
      bus: app.bus,
      stream: config.EVENT_STREAM,
      durable: config.NOTIFICATION_CONSUMER,
      logger: app.log,
      maxDeliver: 8,
      deadLetterSubject: `${config.DEAD_LETTER_PREFIX}.notification`,
      isTransient: isDatabaseUnavailable,
      // The types the handler below acts on; the rest (most progress.updated, notification.created, connection tests
      // of other channels, payment events…) are acknowledged without being read.
      reads: (type, data) =>
        type.startsWith('session.') ||
        type.startsWith('step.') ||
        type === 'business_hours.changed' ||
        type === 'milestone.reached' ||
        (type === 'progress.updated' && data.completion != null) ||
        (type === 'connection.tested' && (data.result as { channel?: unknown } | undefined)?.channel === 'email'),
      // Every event read goes into a batch (none waits on another tenant's); a batch that fails goes event by event.
      batch: { takes: () => true, keyOf: (event) => event.tenantId, lingerMs: BATCH_LINGER_MS, handler: handleBatch },
      handler: handleEvent,
    });
    app.addHook('onClose', async () => handle.stop());
  },
  { name: 'notification-events', dependencies: ['bus', 'notifications'] },
);
