import { ROUTES } from '@glavito/contracts';
import { auditContextOf, contractRoute, correlationIdOf } from '@glavito/http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

export async function paymentRoutes(root: FastifyInstance) {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const admin = { onRequest: [app.authenticate, app.requireAdmin] };
  const caller = (request: FastifyRequest) => ({
    tenantId: request.principal.tenantId,
    userId: request.principal.userId,
    origin: auditContextOf(request, request.principal),
  });

  app.route({
    ...contractRoute(ROUTES.paymentSetup),
    ...admin,
    // Before the body is validated: without Stripe the answer is the same 503 whatever was sent.
    preValidation: async () => app.payments.requireConfigured(),
    handler: async (request, reply) => {
      const result = await app.payments.setup(caller(request), request.body, String(request.id));
      return reply.code(result.created ? 201 : 200).send(result);
    },
  });

  app.route({
    ...contractRoute(ROUTES.paymentStatus),
    ...admin,
    handler: async (request) => app.payments.status(caller(request), correlationIdOf(request)),
  });

  app.route({
    ...contractRoute(ROUTES.paymentAccountLink),
    ...admin,
    handler: async (request, reply) => reply.code(201).send(await app.payments.accountLink(caller(request), String(request.id))),
  });

  app.route({
    ...contractRoute(ROUTES.paymentAccount),
    ...admin,
    handler: async (request) => app.payments.account(caller(request)),
  });

  app.route({
    ...contractRoute(ROUTES.paymentBillingConfigGet),
    ...admin,
    handler: async (request) => app.payments.billing(caller(request)),
  });

  app.route({
    ...contractRoute(ROUTES.paymentBillingConfigPut),
    ...admin,
    preValidation: async () => app.payments.requireConfigured(),
    handler: async (request) => app.payments.putBilling(caller(request), request.body),
  });

  // No token: Stripe signs the raw bytes, so they reach the check unparsed (this route's own parser keeps a Buffer).
  await app.register(async (hook) => {
    hook.removeAllContentTypeParsers();
    hook.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    const { schema, ...route } = contractRoute(ROUTES.paymentStripeWebhook);
    hook.route({
      ...route,
      schema: { summary: ROUTES.paymentStripeWebhook.summary, tags: ['payment'], response: schema.response },
      handler: async (request) => {
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const signature = request.headers['stripe-signature'];
        const result = await app.payments.webhook(
          raw,
          typeof signature === 'string' ? signature : undefined,
          correlationIdOf(request),
          auditContextOf(request, null),
        );
        const log = result.outcome === 'applied' ? request.log.info.bind(request.log) : request.log.warn.bind(request.log);
        log({ stripeEventId: result.eventId, type: result.type, outcome: result.outcome, reason: result.reason }, 'stripe webhook');
        return { received: true as const, outcome: result.outcome };
      },
    });
  });
}
