import { randomUUID } from 'node:crypto';
import { auditNames } from '@glavito/config';
import fp from 'fastify-plugin';
import type { NotificationConfig } from '../config.js';
import { deriveUnsubscribeSecret, signUnsubscribeToken } from '../domain/unsubscribe-token.js';
import { createNotificationRepository, type NotificationRepository } from '../repositories/notification-repository.js';
import { createMailer } from '../services/mailer.js';
import { createReminderScheduler, type ReminderScheduler } from '../services/scheduler.js';
import { createTenantSmtpResolver } from '../services/tenant-smtp.js';
import type {} from '@glavito/http/metrics';

declare module 'fastify' {
  interface FastifyInstance {
    notificationRepo: NotificationRepository;
    reminderScheduler: ReminderScheduler;
    /** The service's clock (tests inject one; nothing else reads the time). */
    clock: () => Date;
    unsubscribeSecret: string;
  }
}

export interface NotificationsPluginOptions {
  config: NotificationConfig;
  clock?: () => Date;
  replicaId?: string;
  /** Extra CAs trusted for tenants' SMTP servers (tests: a local server's own certificate). */
  tenantSmtpCa?: string;
}

export const notificationsPlugin = fp<NotificationsPluginOptions>(
  async (app, { config, clock = () => new Date(), replicaId = randomUUID(), tenantSmtpCa }) => {
    const secret = config.NOTIFY_UNSUBSCRIBE_SECRET ?? deriveUnsubscribeSecret(config.JWT_SECRET);
    const repo = createNotificationRepository(app.pool, {
      subjectPrefix: config.EVENT_SUBJECT_PREFIX,
      auditSubjectPrefix: auditNames(config).subjectPrefix,
      publishCommitted: app.outboxRelay.publishCommitted,
      appUrl: config.NOTIFY_APP_URL,
      messageIdDomain: config.NOTIFY_MESSAGE_ID_DOMAIN,
      unsubscribeUrl: (tenantId, userId) =>
        `${config.NOTIFY_PUBLIC_API_URL}/onboarding/notifications/unsubscribe?token=${signUnsubscribeToken(secret, tenantId, userId)}`,
      unsubscribePageUrl: (tenantId, userId) => `${config.NOTIFY_APP_URL}/unsubscribe?token=${signUnsubscribeToken(secret, tenantId, userId)}`,
    });
    // In-app only unless an SMTP server is configured (embedded mode, local start without one).
    const mailer = config.NOTIFY_SMTP_URL
      ? createMailer({ url: config.NOTIFY_SMTP_URL, from: config.NOTIFY_EMAIL_FROM, timeoutMs: config.NOTIFY_SMTP_TIMEOUT })
      : null;
    const scheduler = createReminderScheduler({
      repo,
      mailer,
      // With NOTIFY_CREDENTIALS_KEY, a tenant whose email channel passed its test sends through its own SMTP.
      ...(config.NOTIFY_CREDENTIALS_KEY
        ? {
            tenantSmtp: {
              resolver: createTenantSmtpResolver({ repo, bus: app.bus, rpcPrefix: config.RPC_SUBJECT_PREFIX, key: config.NOTIFY_CREDENTIALS_KEY }),
              timeoutMs: config.NOTIFY_SMTP_TIMEOUT,
              ...(tenantSmtpCa ? { ca: tenantSmtpCa } : {}),
            },
          }
        : {}),
      clock,
      log: app.log,
      replicaId,
      batch: config.NOTIFY_BATCH_SIZE,
      leaseMs: config.NOTIFY_SEND_LEASE,
      maxAttempts: config.NOTIFY_MAX_EMAIL_ATTEMPTS,
      intervalMs: config.NOTIFY_SCAN_INTERVAL,
    });
    app.decorate('notificationRepo', repo);
    app.decorate('reminderScheduler', scheduler);
    app.decorate('clock', clock);
    app.decorate('unsubscribeSecret', secret);
    app.log.info({ email: mailer ? 'smtp' : 'off (in-app only)', tenantSmtp: config.NOTIFY_CREDENTIALS_KEY ? 'on' : 'off' }, 'notification channels');
    app.addHook('onClose', async () => {
      await scheduler.stop();
      mailer?.close();
    });
  },
  { name: 'notifications', dependencies: ['db', 'bus'] },
);
