import { DEFAULT_LANGUAGE, LANGUAGES, ROUTES, textDirection, type Language, type OnboardingType, type Principal, type ResolvedFlow } from '@glavito/contracts';
import { auditContextOf, contractRoute, correlationIdOf, languageOf } from '@glavito/http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { checkFlowDefinition } from '../domain/flow-definitions.js';
import { callerFlowType, flowResponse } from '../domain/flows.js';
import { flowOfSession } from '../domain/session-rules.js';
import { FlowVersionNotFoundError } from '../errors.js';

const LANGUAGE_NAMES: Record<Language, string> = { en: 'English', fr: 'Français', es: 'Español', ar: 'العربية' };

/** The caller's flow of a type: the version their unfinished session pinned, else the tenant's current one. */
export async function callerFlowOf(app: FastifyInstance, p: Principal, type?: OnboardingType): Promise<ResolvedFlow> {
  const current = await app.sessionRepository.findCurrent(p.tenantId, p.userId, type);
  const t = type ?? callerFlowType(p, current);
  if (current && current.type === t && current.status !== 'completed') return flowOfSession(current);
  return app.flowRepository.current(p.tenantId, t);
}

export async function flowRoutes(root: FastifyInstance) {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const flows = app.flowRepository;
  const auth = { onRequest: [app.authenticate] };
  const adminOnly = { onRequest: [app.authenticate, app.requireAdmin] };
  const nowIso = () => app.now().toISOString();

  const callerFlow = (p: Principal, type?: OnboardingType) => callerFlowOf(app, p, type);

  app.route({
    ...contractRoute(ROUTES.flow),
    ...auth,
    handler: async (request) => flowResponse(await callerFlow(request.principal), languageOf(request)),
  });

  app.route({
    ...contractRoute(ROUTES.flowByType),
    ...auth,
    handler: async (request) => {
      const { type } = request.params;
      const version = request.query?.version;
      if (version === undefined) return flowResponse(await flows.current(request.principal.tenantId, type), languageOf(request));
      const flow = await flows.get(request.principal.tenantId, type, version);
      if (!flow) throw new FlowVersionNotFoundError(String(version), type);
      return flowResponse(flow, languageOf(request));
    },
  });

  app.route({
    ...contractRoute(ROUTES.flowVersions),
    ...adminOnly,
    handler: async (request) => {
      const versions = await flows.versions(request.principal.tenantId, request.params.type);
      const current = versions[0]!.version;
      return { type: request.params.type, current, versions: versions.map((v) => ({ ...v, current: v.version === current })) };
    },
  });

  app.route({
    ...contractRoute(ROUTES.flowDraftGet),
    ...adminOnly,
    handler: async (request) => ({ type: request.params.type, ...(await flows.draft(request.principal.tenantId, request.params.type)) }),
  });

  app.route({
    ...contractRoute(ROUTES.flowDraftPut),
    ...adminOnly,
    handler: async (request) => {
      const { revision, ...definition } = request.body;
      const p = request.principal;
      await flows.saveDraft(p.tenantId, request.params.type, definition, p.userId, nowIso(), revision, auditContextOf(request, p));
      return { type: request.params.type, ...(await flows.draft(p.tenantId, request.params.type)) };
    },
  });

  app.route({
    ...contractRoute(ROUTES.flowPublish),
    ...adminOnly,
    handler: async (request, reply) => {
      const { type } = request.params;
      const p = request.principal;
      const now = nowIso();
      const flow = await flows.publish(
        p.tenantId,
        type,
        p.userId,
        now,
        correlationIdOf(request),
        (def, published) => checkFlowDefinition(type, def, published),
        auditContextOf(request, p),
      );
      return reply.status(201).send({ type, version: flow.version, publishedAt: now, stepCount: flow.steps.length });
    },
  });

  app.route({
    ...contractRoute(ROUTES.languages),
    ...auth,
    handler: async () => ({
      default: DEFAULT_LANGUAGE,
      languages: LANGUAGES.map((code) => ({ code, name: LANGUAGE_NAMES[code], direction: textDirection(code) })),
    }),
  });
}
