import { builtInFlow, computeProgress, ROUTES, type OnboardingType } from '@glavito/contracts';
import { auditContextOf, contractRoute, correlationIdOf } from '@glavito/http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { v7 as uuidv7 } from 'uuid';
import { ForceForbiddenError, SessionNotFoundError, SessionTypeForbiddenError, TenantSetupIncompleteError } from '../errors.js';
import { defaultFlowType } from '../domain/flows.js';
import { completeSession, flowOfSession, pauseSession, resumeSession, startSession, summaryOf } from '../domain/session-rules.js';
import { tenantSetupStatus } from '../domain/tenant-setup.js';
import { scopeOf } from '../repositories/session-repository.js';
import { presentSession, presentWithProgress } from './present.js';

export async function sessionRoutes(root: FastifyInstance) {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const repo = app.sessionRepository;
  const auth = { onRequest: [app.authenticate] };
  const nowIso = () => app.now().toISOString();

  /** Start (or return) a session of `type` for the caller; 201 when created. */
  async function start(request: FastifyRequest, type: OnboardingType, metadata: Record<string, unknown>) {
    const p = request.principal;
    if (type === 'tenant_setup' && !p.isAdmin) throw new SessionTypeForbiddenError();
    if (type === 'agent_welcome' && !(await repo.tenantSetup(p.tenantId))) throw new TenantSetupIncompleteError();
    const existing = await repo.findOpen(p.tenantId, p.userId, type);
    if (existing) return { status: 200 as const, body: presentWithProgress(existing) };
    // Metadata is free-form: credential-like keys are sealed like step data.
    const flow = await app.flowRepository.current(p.tenantId, type);
    const t = startSession({ id: uuidv7(), tenantId: p.tenantId, userId: p.userId, type, metadata: app.secretBox.seal(metadata), now: nowIso(), flow });
    const created = await repo.insert(t, correlationIdOf(request), auditContextOf(request, request.principal));
    if (created) return { status: 201 as const, body: presentWithProgress(created) };
    // A concurrent start won the race: return its session.
    const winner = await repo.findOpen(p.tenantId, p.userId, type);
    if (!winner) throw new SessionNotFoundError('(concurrent start)');
    return { status: 200 as const, body: presentWithProgress(winner) };
  }

  app.route({
    ...contractRoute(ROUTES.start),
    ...auth,
    handler: async (request, reply) => {
      const body = request.body ?? {};
      const type = body.type ?? defaultFlowType(request.principal);
      const metadata = { ...(body.metadata ?? {}), ...(body.context ? { context: body.context } : {}) };
      const r = await start(request, type, metadata);
      return reply.status(r.status).send(r.body);
    },
  });

  app.route({
    ...contractRoute(ROUTES.agentWelcomeStart),
    ...auth,
    handler: async (request, reply) => {
      const body = request.body ?? {};
      const r = await start(request, 'agent_welcome', {
        ...(body.teamId ? { teamId: body.teamId } : {}),
        ...(body.welcomeMessage ? { welcomeMessage: body.welcomeMessage } : {}),
      });
      return reply.status(r.status).send(r.body);
    },
  });

  app.route({
    ...contractRoute(ROUTES.getSession),
    ...auth,
    handler: async (request) => {
      const s = await repo.load(request.params.sessionId, scopeOf(request.principal));
      if (!s) throw new SessionNotFoundError(request.params.sessionId);
      return presentWithProgress(s);
    },
  });

  app.route({
    ...contractRoute(ROUTES.status),
    ...auth,
    handler: async (request) => {
      const s = await repo.findCurrent(request.principal.tenantId, request.principal.userId);
      return s ? presentWithProgress(s) : { session: null, progress: null };
    },
  });

  app.route({
    ...contractRoute(ROUTES.type),
    ...auth,
    handler: async (request) => {
      const p = request.principal;
      const setup = await repo.tenantSetup(p.tenantId);
      return {
        type: defaultFlowType(p),
        role: p.isAdmin ? ('tenant_admin' as const) : ('agent' as const),
        isTenantAdmin: p.isAdmin,
        tenantSetupCompleted: setup !== null,
      };
    },
  });

  app.route({
    ...contractRoute(ROUTES.pause),
    ...auth,
    handler: async (request) => {
      const { after } = await repo.mutate(request.params.sessionId, scopeOf(request.principal, request), correlationIdOf(request), (s) =>
        pauseSession(s, nowIso()),
      );
      return { success: true as const, session: presentSession(after) };
    },
  });

  app.route({
    ...contractRoute(ROUTES.resume),
    ...auth,
    handler: async (request) => {
      const { after } = await repo.mutate(request.params.sessionId, scopeOf(request.principal, request), correlationIdOf(request), (s) =>
        resumeSession(s, nowIso()),
      );
      return { success: true as const, session: presentSession(after) };
    },
  });

  app.route({
    ...contractRoute(ROUTES.complete),
    ...auth,
    handler: async (request) => {
      const force = request.query.force === 'true';
      if (force && !request.principal.isAdmin) throw new ForceForbiddenError();
      const { after } = await repo.mutate(request.params.sessionId, scopeOf(request.principal, request), correlationIdOf(request), (s) =>
        completeSession(s, { force, now: nowIso() }),
      );
      return { success: true as const, completedAt: after.completedAt!, summary: summaryOf(after) };
    },
  });

  app.route({
    ...contractRoute(ROUTES.tenantSetupStatus),
    ...auth,
    handler: async (request) => {
      const tenantId = request.principal.tenantId;
      const [setup, session] = await Promise.all([repo.tenantSetup(tenantId), repo.tenantSetupSession(tenantId)]);
      const status = tenantSetupStatus(setup, session);
      // The setup session is an admin's: an agent sees the tenant's setup state, not which session it was.
      return request.principal.isAdmin ? status : { ...status, sessionId: null };
    },
  });

  app.route({
    ...contractRoute(ROUTES.tenantSetupComplete),
    onRequest: [app.authenticate, app.requireAdmin],
    handler: async (request) => {
      const r = await repo.markTenantSetup(request.principal.tenantId, request.principal.userId, nowIso(), auditContextOf(request, request.principal));
      return { success: true as const, message: 'Tenant setup completed successfully', completedAt: r.completedAt };
    },
  });

  app.route({
    ...contractRoute(ROUTES.agentWelcomeStatus),
    ...auth,
    handler: async (request) => {
      const p = request.principal;
      const { userId } = request.params;
      // Another user's status is visible to admins of the tenant only; others see "not found".
      if (userId !== p.userId && !p.isAdmin) throw new SessionNotFoundError(`for user ${userId}`);
      const s = await repo.findCurrent(p.tenantId, userId, 'agent_welcome');
      // A user the caller's tenant has never seen (e.g. another tenant's user id) is not found, like another tenant's session.
      if (!s && userId !== p.userId && !(await repo.hasSessions(p.tenantId, userId))) throw new SessionNotFoundError(`for user ${userId}`);
      const flow = s ? flowOfSession(s) : builtInFlow('agent_welcome');
      const catalog = flow.steps.map((st) => st.id);
      const completed = s ? catalog.filter((id) => s.completedSteps.includes(id)) : [];
      return {
        userId,
        isCompleted: s?.status === 'completed',
        completedAt: s?.completedAt ?? null,
        completedSteps: completed,
        missingSteps: catalog.filter((id) => !completed.includes(id)),
        progressPercentage: s ? computeProgress(flow, s).progressPercentage : 0,
        sessionId: s?.id ?? null,
      };
    },
  });
}
