import type { EventData, EventEnvelope, PushFrame } from '@glavito/contracts';

export type { PushFrame };

/**
 * The WebSocket push for a domain event (null for events clients do not see, e.g. session.abandoned).
 * Progress reaches clients only from the progress service's events, whose `sessionSeq` becomes the push's
 * `seq`; the session's own completion is pushed from the progress update it triggered, so
 * `onboarding_completed` always follows the session's last progress update and milestones.
 */
export function toPushFrame(e: EventEnvelope): PushFrame | null {
  const base = { sessionId: e.sessionId, eventId: e.id, timestamp: e.occurredAt, correlationId: e.correlationId };
  switch (e.type) {
    case 'progress.updated': {
      const d = e.data as EventData<'progress.updated'>;
      if (d.completion) return { event: 'onboarding_completed', data: { ...base, seq: e.sessionSeq, progress: d.progress, ...d.completion } };
      return { event: 'progress_update', data: { ...base, seq: e.sessionSeq, progress: d.progress, estimatedCompletion: d.estimatedCompletion } };
    }
    case 'milestone.reached': {
      const d = e.data as EventData<'milestone.reached'>;
      return { event: 'milestone_reached', data: { ...base, seq: e.sessionSeq, threshold: d.threshold, title: d.title, progress: d.progress } };
    }
    case 'step.completed':
    case 'step.updated':
    case 'step.skipped': {
      const d = e.data as EventData<'step.completed'>;
      return { event: 'step_completed', data: { ...base, stepId: d.stepId, nextStep: d.nextStep, skipped: e.type === 'step.skipped', resaved: e.type === 'step.updated' } };
    }
    case 'step.validation_failed': {
      const d = e.data as EventData<'step.validation_failed'>;
      return { event: 'validation_error', data: { ...base, stepId: d.stepId, errors: d.errors } };
    }
    case 'connection.tested':
      return { event: 'connection_test_result', data: { ...base, result: (e.data as EventData<'connection.tested'>).result as PushFrameData<'connection_test_result'>['result'] } };
    case 'session.started': {
      const d = e.data as EventData<'session.started'>;
      return { event: 'onboarding_started', data: { ...base, type: d.sessionType, currentStep: d.currentStep } };
    }
    case 'session.paused':
    case 'session.resumed': {
      const d = e.data as EventData<'session.paused'>;
      return { event: e.type === 'session.paused' ? 'session_paused' : 'session_resumed', data: { ...base, status: d.status, currentStep: d.currentStep } };
    }
    // Pushed as `onboarding_completed` from the progress update it causes (above).
    case 'session.completed':
    default:
      return null;
  }
}

type PushFrameData<E extends PushFrame['event']> = Extract<PushFrame, { event: E }>['data'];
