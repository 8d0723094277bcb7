import { builtInFlow, computeProgress, missingRequiredSteps } from '@glavito/contracts';
import { flowOfSession, type SessionRecord } from './session-rules.js';

type SetupMark = { completedAt: string; completedBy: string } | null;

/**
 * The tenant's setup status from its tenant_setup session and its setup mark, with the one progress
 * formula: a completed setup reads 100 % with nothing missing, whichever way it was completed (the
 * session's completion or an admin's explicit tenant-setup/complete).
 */
export function tenantSetupStatus(mark: SetupMark, session: SessionRecord | null) {
  // The flow version the session pinned (the built-in flow before any session).
  const flow = session ? flowOfSession(session) : builtInFlow('tenant_setup');
  const catalog = flow.steps.map((s) => s.id);
  const inOrder = (ids: readonly string[]) => catalog.filter((id) => ids.includes(id));
  const isCompleted = mark !== null;
  return {
    isCompleted,
    completedAt: mark?.completedAt ?? null,
    completedBy: mark?.completedBy ?? null,
    sessionId: session?.id ?? null,
    completedSteps: inOrder(session?.completedSteps ?? []),
    skippedSteps: inOrder(session?.skippedSteps ?? []),
    missingSteps: isCompleted ? [] : missingRequiredSteps(flow, session ?? { completedSteps: [], skippedSteps: [], currentStep: null }),
    progressPercentage: isCompleted ? 100 : session ? computeProgress(flow, session).progressPercentage : 0,
  };
}
