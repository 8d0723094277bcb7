import type { EventEnvelope, EventType } from '@glavito/contracts';

export interface PushFrame {
  event: string;
  data: Record<string, unknown>;
}

const PUSH_OF: Partial<Record<EventType, string>> = {
  'progress.updated': 'progress_update',
  'milestone.reached': 'milestone_reached',
  'step.completed': 'step_completed',
  'step.updated': 'step_completed',
  'step.skipped': 'step_completed',
  'step.validation_failed': 'validation_error',
  'connection.tested': 'connection_test_result',
  'session.completed': 'onboarding_completed',
  'session.started': 'onboarding_started',
  'session.paused': 'session_paused',
  'session.resumed': 'session_resumed',
};

/** The WebSocket push for a domain event (null for events clients do not see, e.g. session.abandoned). */
export function toPushFrame(e: EventEnvelope): PushFrame | null {
  const name = PUSH_OF[e.type];
  if (!name) return null;
  const base = { sessionId: e.sessionId, eventId: e.id, timestamp: e.occurredAt, correlationId: e.correlationId };
  const d = e.data as Record<string, unknown>;
  switch (e.type) {
    case 'progress.updated':
      return { event: name, data: { ...base, progress: d.progress, estimatedCompletion: d.estimatedCompletion } };
    case 'milestone.reached':
      return { event: name, data: { ...base, threshold: d.threshold, title: d.title, progress: d.progress } };
    case 'step.completed':
    case 'step.updated':
    case 'step.skipped':
      return { event: name, data: { ...base, step: d.stepId, nextStep: d.nextStep, skipped: e.type === 'step.skipped', resaved: e.type === 'step.updated', progress: d.progress } };
    case 'step.validation_failed':
      return { event: name, data: { ...base, step: d.stepId, errors: d.errors } };
    case 'connection.tested':
      return { event: name, data: { ...base, result: d.result } };
    case 'session.completed':
      return { event: name, data: { ...base, completedAt: d.completedAt, summary: d.summary } };
    case 'session.started':
      return { event: name, data: { ...base, type: d.sessionType, currentStep: d.currentStep, progress: d.progress } };
    default:
      return { event: name, data: { ...base, status: d.status, currentStep: d.currentStep, progress: d.progress } };
  }
}
