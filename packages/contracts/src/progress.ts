import { z } from 'zod';
import { stepCatalog, type OnboardingType, type StepConfiguration } from './steps.js';

export const ProgressSnapshotSchema = z.object({
  totalSteps: z.number().int(),
  completedSteps: z.number().int(),
  skippedSteps: z.number().int(),
  progressPercentage: z.number().int().min(0).max(100),
  estimatedTimeRemaining: z.number().int().describe('minutes'),
  currentStep: z.string().nullable(),
  nextStep: z.string().nullable(),
  nextRecommendedAction: z.string(),
});
export type ProgressSnapshot = z.infer<typeof ProgressSnapshotSchema>;

export interface StepState {
  completedSteps: readonly string[];
  skippedSteps: readonly string[];
  currentStep: string | null;
  /** A completed session (forced or not) is done: 100 %, nothing remaining, no next step. */
  status?: 'active' | 'paused' | 'completed' | 'abandoned';
}

/** A flow's steps: a built-in flow by its type, or the steps of a tenant's flow version. */
export type StepSource = OnboardingType | { readonly steps: readonly StepConfiguration[] };
const stepsOf = (source: StepSource): readonly StepConfiguration[] => (typeof source === 'string' ? stepCatalog(source) : source.steps);

function isAvailable(step: StepConfiguration, done: ReadonlySet<string>): boolean {
  return !done.has(step.id) && step.dependencies.every((d) => done.has(d));
}

/**
 * The next-step rule: the current step if available, else the first available required step,
 * else the first available optional one, else none. A skipped step satisfies its dependents.
 */
export function nextRecommendedStep(type: StepSource, state: StepState): StepConfiguration | null {
  const catalog = stepsOf(type);
  const done = new Set([...state.completedSteps, ...state.skippedSteps]);
  const current = catalog.find((s) => s.id === state.currentStep);
  if (current && isAvailable(current, done)) return current;
  const available = catalog.filter((s) => isAvailable(s, done));
  return available.find((s) => s.isRequired) ?? available[0] ?? null;
}

export function missingDependencies(type: StepSource, stepId: string, state: StepState): string[] {
  const step = stepsOf(type).find((s) => s.id === stepId);
  if (!step) return [];
  const done = new Set([...state.completedSteps, ...state.skippedSteps]);
  return step.dependencies.filter((d) => !done.has(d));
}

export function missingRequiredSteps(type: StepSource, state: StepState): string[] {
  const done = new Set(state.completedSteps);
  return stepsOf(type)
    .filter((s) => s.isRequired && !done.has(s.id))
    .map((s) => s.id);
}

/**
 * The one progress formula used by the session service, the progress service and WS pushes: completed and
 * skipped steps over the flow's steps. A completed session reads 100 % with nothing remaining and no next
 * step, also when it was completed with optional steps left or forced by an admin with required ones left:
 * completion ends the onboarding, and the counts (completedSteps, skippedSteps of totalSteps) still say
 * what was done.
 */
export function computeProgress(type: StepSource, state: StepState): ProgressSnapshot {
  const catalog = stepsOf(type);
  const ids = new Set(catalog.map((s) => s.id));
  const completed = new Set(state.completedSteps.filter((s) => ids.has(s)));
  const skipped = new Set(state.skippedSteps.filter((s) => ids.has(s) && !completed.has(s)));
  if (state.status === 'completed') {
    return {
      totalSteps: catalog.length,
      completedSteps: completed.size,
      skippedSteps: skipped.size,
      progressPercentage: 100,
      estimatedTimeRemaining: 0,
      currentStep: null,
      nextStep: null,
      nextRecommendedAction: 'Onboarding complete',
    };
  }
  const doneCount = completed.size + skipped.size;
  const remaining = catalog.filter((s) => !completed.has(s.id) && !skipped.has(s.id));
  const next = nextRecommendedStep(type, state);
  let action: string;
  if (next) action = /^complete\b/i.test(next.title) ? next.title : `Complete ${next.title}`;
  else if (missingRequiredSteps(type, state).length === 0) action = 'Onboarding complete';
  else action = 'Complete required steps to continue';
  return {
    totalSteps: catalog.length,
    completedSteps: completed.size,
    skippedSteps: skipped.size,
    progressPercentage: Math.round((doneCount / catalog.length) * 100),
    estimatedTimeRemaining: remaining.reduce((sum, s) => sum + s.estimatedTime, 0),
    currentStep: next?.id ?? null,
    nextStep: next?.id ?? null,
    nextRecommendedAction: action,
  };
}

export const MILESTONES = [
  { threshold: 25, title: 'Getting Started' },
  { threshold: 50, title: 'Halfway There' },
  { threshold: 75, title: 'Almost Done' },
  { threshold: 100, title: 'Completed' },
] as const;
