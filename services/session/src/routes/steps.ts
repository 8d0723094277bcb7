import {
  flowStepTexts,
  localizeFieldErrors,
  localizeRules,
  localizeStepText,
  localizeWarnings,
  nextRecommendedStep,
  ROUTES,
  validateFlowStepData,
  type Language,
  type ResolvedFlow,
} from '@glavito/contracts';
import { contractRoute, correlationIdOf, languageOf, withDetails } from '@glavito/http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { InvalidQueryDataError, StepDataInvalidError, StepNotInFlowError } from '../errors.js';
import { saveStep, skipStep, type SaveDecision } from '../domain/session-rules.js';
import { scopeOf } from '../repositories/session-repository.js';
import { callerFlowOf } from './flows.js';
import { presentWithProgress } from './present.js';

const stepOf = (flow: ResolvedFlow, stepId: string) => flow.steps.find((s) => s.id === stepId);

/** Every step a step depends on, directly or not. */
function prerequisites(flow: ResolvedFlow, stepId: string, seen = new Set<string>()): Set<string> {
  for (const dep of stepOf(flow, stepId)?.dependencies ?? []) {
    if (!seen.has(dep)) {
      seen.add(dep);
      prerequisites(flow, dep, seen);
    }
  }
  return seen;
}

function validateOnly(flow: ResolvedFlow, stepId: string, data: unknown, lang: Language) {
  if (!stepOf(flow, stepId)) throw new StepNotInFlowError(stepId, flow.type);
  const v = validateFlowStepData(flow, stepId, data);
  const done = [...prerequisites(flow, stepId), stepId];
  const next = v.isValid ? nextRecommendedStep(flow, { completedSteps: done, skippedSteps: [], currentStep: null }) : null;
  return { isValid: v.isValid, errors: localizeFieldErrors(v.errors, lang), warnings: localizeWarnings(v.warnings, lang), nextStep: next?.id ?? null };
}

export async function stepRoutes(root: FastifyInstance) {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const repo = app.sessionRepository;
  const auth = { onRequest: [app.authenticate] };
  const callerFlow = (p: Parameters<typeof callerFlowOf>[1], type?: Parameters<typeof callerFlowOf>[2]) => callerFlowOf(app, p, type);

  app.route({
    ...contractRoute(ROUTES.saveStep),
    ...auth,
    handler: async (request) => {
      const { sessionId, stepId } = request.params;
      let decision: SaveDecision | undefined;
      const { after } = await repo.mutate(sessionId, scopeOf(request.principal, request), correlationIdOf(request), (s) => {
        decision = saveStep(s, stepId, request.body, app.now().toISOString(), app.secretBox.seal);
        return decision.transition;
      });
      if (decision!.kind === 'invalid') {
        // The root error handler words the details in the caller's language; the summary is said in it here.
        const errors = decision!.errors;
        throw withDetails(
          new StepDataInvalidError(
            stepId,
            localizeFieldErrors(errors, languageOf(request))
              .map((e) => e.message)
              .join('; '),
          ),
          errors,
        );
      }
      return {
        ...presentWithProgress(after, languageOf(request)),
        nextStep: after.currentStep,
        warnings: localizeWarnings(decision!.warnings, languageOf(request)),
      };
    },
  });

  app.route({
    ...contractRoute(ROUTES.skipStep),
    ...auth,
    handler: async (request) => {
      const { sessionId, stepId } = request.params;
      const { after } = await repo.mutate(sessionId, scopeOf(request.principal, request), correlationIdOf(request), (s) =>
        skipStep(s, stepId, request.body?.reason, app.now().toISOString()),
      );
      return { ...presentWithProgress(after, languageOf(request)), nextStep: after.currentStep, warnings: [] };
    },
  });

  app.route({
    ...contractRoute(ROUTES.stepConfiguration),
    ...auth,
    handler: async (request) => {
      const flow = await callerFlow(request.principal, request.query.type);
      const found = stepOf(flow, request.params.stepId);
      if (!found) throw new StepNotInFlowError(request.params.stepId, flow.type);
      const { custom, ...step } = found;
      const lang = languageOf(request);
      const texts = custom ? flowStepTexts(found, lang) : localizeStepText(flow.type, step, lang);
      return { ...step, title: texts.title, description: texts.description, validationRules: localizeRules(step.validationRules, lang) };
    },
  });

  app.route({
    ...contractRoute(ROUTES.validateStepPost),
    ...auth,
    handler: async (request) => validateOnly(await callerFlow(request.principal, request.query.type), request.params.stepId, request.body, languageOf(request)),
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
      return validateOnly(await callerFlow(request.principal, request.query.type), request.params.stepId, data, languageOf(request));
    },
  });
}
