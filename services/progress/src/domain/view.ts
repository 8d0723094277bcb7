import {
  computeProgress,
  DEFAULT_LANGUAGE,
  localizeProgressAction,
  localizeStepText,
  milestoneTitle,
  MILESTONES,
  type Language,
  type OnboardingType,
  type SessionStatus,
  type SessionSummary,
  type StepSource,
} from '@glavito/contracts';
import type { Projection } from './projection.js';

/** How the view reads the session's flow: its steps, and custom steps' own titles per language. */
export interface ViewFlow {
  steps: StepSource;
  titles?: Record<string, Record<string, string>>;
}

/** The GET /progress answer, from the projection (or, before its first event, from the session itself), in `lang`. */
export function progressView(
  source: { sessionId: string; type: OnboardingType; status: SessionStatus; completedSteps: string[]; skippedSteps: string[]; currentStep: string | null },
  estimatedCompletion: string | null,
  milestones: Map<number, string>,
  seq: number,
  flow: ViewFlow = { steps: source.type },
  lang: Language = DEFAULT_LANGUAGE,
) {
  const steps = typeof flow.steps === 'string' ? null : flow.steps.steps;
  const titleOf = (id: string) => {
    const custom = flow.titles?.[id];
    if (custom) return custom[lang] ?? custom.en;
    const step = steps ? steps.find((s) => s.id === id) : { id, title: id, description: '' };
    return step ? localizeStepText(source.type, { ...step, description: '' }, lang).title : undefined;
  };
  const progress = localizeProgressAction(computeProgress(flow.steps, source), lang, titleOf);
  return {
    sessionId: source.sessionId,
    totalSteps: progress.totalSteps,
    completedSteps: progress.completedSteps,
    skippedSteps: progress.skippedSteps,
    progressPercentage: progress.progressPercentage,
    estimatedTimeRemaining: progress.estimatedTimeRemaining,
    estimatedCompletion,
    currentStep: progress.currentStep,
    nextRecommendedAction: progress.nextRecommendedAction,
    milestones: MILESTONES.map((m) => ({ threshold: m.threshold, title: milestoneTitle(m.threshold, lang), reachedAt: milestones.get(m.threshold) ?? null })),
    seq,
  };
}

export const viewOfProjection = (p: Projection, milestones: Map<number, string>, flow?: ViewFlow, lang?: Language) =>
  progressView(p, p.estimatedCompletion, milestones, p.outSeq, flow, lang);

export const viewOfSession = (s: SessionSummary, lang?: Language) =>
  progressView(
    { sessionId: s.id, type: s.type, status: s.status, completedSteps: s.completedSteps, skippedSteps: s.skippedSteps, currentStep: s.currentStep },
    null,
    new Map(),
    0,
    undefined,
    lang,
  );
