import { findStep, localizeFieldErrors, localizeRules, localizeStepText, localizeWarnings, nextRecommendedStep, ROUTES, stepCatalog, validateStepData, type Language, type OnboardingType } from '@glavito/contracts';
import { contractRoute, correlationIdOf, languageOf, withDetails } from '@glavito/http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { InvalidQueryDataError, StepDataInvalidError, StepNotInFlowError } from '../errors.js';
import { callerFlowType } from '../domain/flows.js';
import { saveStep, skipStep, type SaveDecision } from '../domain/session-rules.js';
import { scopeOf } from '../repositories/session-repository.js';
import { presentWithProgress } from './present.js';

/** Every step a step depends on, directly or not. */
function prerequisites(type: OnboardingType, stepId: string, seen = new Set<string>()): Set<string> {
  for (const dep of findStep(type, stepId)?.dependencies ?? []) {
    if (!seen.has(dep)) {
      seen.add(dep);
      prerequisites(type, dep, seen);
    }
  }
  return seen;
}

function validateOnly(type: OnboardingType, stepId: string, data: unknown, lang: Language) {
  if (!findStep(type, stepId)) throw new StepNotInFlowError(stepId, type);
  const v = validateStepData(type, stepId, data);
  const done = [...prerequisites(type, stepId), stepId];
  const next = v.isValid ? nextRecommendedStep(type, { completedSteps: done, skippedSteps: [], currentStep: null }) : null;
  return { isValid: v.isValid, errors: localizeFieldErrors(v.errors, lang), warnings: localizeWarnings(v.warnings, lang), nextStep: next?.id ?? null };
}

export async function stepRoutes(root: FastifyInstance) {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const repo = app.sessionRepository;
  const auth = { onRequest: [app.authenticate] };
  const callerFlow = async (p: { tenantId: string; userId: string; isAdmin: boolean }) => callerFlowType(p, await repo.findCurrent(p.tenantId, p.userId));

  app.route({
    ...contractRoute(ROUTES.saveStep),
    ...auth,
    handler: async (request) => {
      const { sessionId, stepId } = request.params;
      let decision: SaveDecision | undefined;
      const { after } = await repo.mutate(sessionId, scopeOf(request.principal), correlationIdOf(request), (s) => {
        decision = saveStep(s, stepId, request.body, app.now().toISOString(), app.secretBox.seal);
        return decision.transition;
      });
      if (decision!.kind === 'invalid') {
        // The root error handler words the details in the caller's language; the summary is said in it here.
        const errors = decision!.errors;
        throw withDetails(new StepDataInvalidError(stepId, localizeFieldErrors(errors, languageOf(request)).map((e) => e.message).join('; ')), errors);
      }
      return { ...presentWithProgress(after, languageOf(request)), nextStep: after.currentStep, warnings: localizeWarnings(decision!.warnings, languageOf(request)) };
    },
  });

  app.route({
    ...contractRoute(ROUTES.skipStep),
    ...auth,
    handler: async (request) => {
      const { sessionId, stepId } = request.params;
      const { after } = await repo.mutate(sessionId, scopeOf(request.principal), correlationIdOf(request), (s) =>
        skipStep(s, stepId, request.body?.reason, app.now().toISOString()),
      );
      return { ...presentWithProgress(after, languageOf(request)), nextStep: after.currentStep, warnings: [] };
    },
  });

  app.route({
    ...contractRoute(ROUTES.stepConfiguration),
    ...auth,
    handler: async (request) => {
      const type = request.query.type ?? (await callerFlow(request.principal));
      const step = stepCatalog(type).find((s) => s.id === request.params.stepId);
      if (!step) throw new StepNotInFlowError(request.params.stepId, type);
      return { ...localizeStepText(type, step, languageOf(request)), validationRules: localizeRules(step.validationRules, languageOf(request)) };
    },
  });

  app.route({
    ...contractRoute(ROUTES.validateStepPost),
    ...auth,
    handler: async (request) => validateOnly(request.query.type ?? (await callerFlow(request.principal)), request.params.stepId, request.body, languageOf(request)),
  });

  app.route({
    ...contractRoute(ROUTES.validateStepGet),
    ...auth,
    handler: async (request) => {
      let data: unknown = {};
      if (request.query.data !== undefined) {
        try {
          data = JSON.parse(request.query.data);
        } catch (err) {
          // The parser's message quotes a slice of the input, which may be a credential: keep only the position.
          const at = /position (\d+)/.exec((err as Error).message)?.[1];
          throw new InvalidQueryDataError(at ? `invalid JSON at position ${at}` : 'invalid JSON');
        }
      }
      return validateOnly(request.query.type ?? (await callerFlow(request.principal)), request.params.stepId, data, languageOf(request));
    },
  });
}
