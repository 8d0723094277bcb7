import { auditNames } from '@glavito/config';
import fp from 'fastify-plugin';
// The metrics decorator's type lives with its plugin; the build (unlike typecheck) sees only what src imports.
import type {} from '@glavito/http/metrics';
import type { PaymentConfig } from '../config.js';
import { createPaymentRepository } from '../repositories/payment-repository.js';
import { createPaymentService, type PaymentService } from '../services/payment-service.js';
import { createStripeGateway } from '../services/stripe-gateway.js';

declare module 'fastify' {
  interface FastifyInstance {
    payments: PaymentService;
  }
}

export const paymentPlugin = fp<{ config: PaymentConfig; now?: () => Date }>(
  async (app, { config, now }) => {
    const webhooks = app.metrics.counter('payment_webhook_events_total', 'Stripe webhook events by type and outcome', ['type', 'outcome']);
    const repository = createPaymentRepository(app.pool, {
      subjectPrefix: config.EVENT_SUBJECT_PREFIX,
      auditSubjectPrefix: auditNames(config).subjectPrefix,
      publishCommitted: app.outboxRelay.publishCommitted,
    });
    const stripe = config.STRIPE_SECRET_KEY
      ? createStripeGateway({
          secretKey: config.STRIPE_SECRET_KEY,
          apiUrl: config.STRIPE_API_URL,
          timeoutMs: config.STRIPE_TIMEOUT,
          maxRetries: config.STRIPE_MAX_RETRIES,
        })
      : null;
    if (!stripe) app.log.warn('STRIPE_SECRET_KEY is not set: the payment routes answer 503 PAYMENT_STRIPE_NOT_CONFIGURED');
    app.decorate(
      'payments',
      createPaymentService({
        repository,
        stripe,
        webhookSecret: config.STRIPE_WEBHOOK_SECRET,
        webhookToleranceMs: config.STRIPE_WEBHOOK_TOLERANCE,
        statusCacheTtlMs: config.PAYMENT_STATUS_CACHE_TTL,
        appUrl: config.APP_URL,
        now: now ?? (() => new Date()),
        onWebhook: (type, outcome) => webhooks.inc({ type: type.slice(0, 64), outcome }),
      }),
    );
  },
  { name: 'payments', dependencies: ['db', 'bus', 'metrics'] },
);
