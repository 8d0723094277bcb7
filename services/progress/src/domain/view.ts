import { computeProgress, MILESTONES, type OnboardingType, type SessionStatus, type SessionSummary } from '@glavito/contracts';
import type { Projection } from './projection.js';

/** The GET /progress answer, from the projection (or, before its first event, from the session itself). */
export function progressView(
  source: { sessionId: string; type: OnboardingType; status: SessionStatus; completedSteps: string[]; skippedSteps: string[]; currentStep: string | null },
  estimatedCompletion: string | null,
  milestones: Map<number, string>,
  seq: number,
) {
  const progress = computeProgress(source.type, source);
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
    milestones: MILESTONES.map((m) => ({ threshold: m.threshold, title: m.title, reachedAt: milestones.get(m.threshold) ?? null })),
    seq,
  };
}

export const viewOfProjection = (p: Projection, milestones: Map<number, string>) => progressView(p, p.estimatedCompletion, milestones, p.outSeq);

export const viewOfSession = (s: SessionSummary) =>
  progressView({ sessionId: s.id, type: s.type, status: s.status, completedSteps: s.completedSteps, skippedSteps: s.skippedSteps, currentStep: s.currentStep }, null, new Map(), 0);
