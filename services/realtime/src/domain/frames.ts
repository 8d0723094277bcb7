import type { AnyEventEnvelope, EventEnvelope, PushFrame } from '@glavito/contracts';

export type { PushFrame };

/**
 * The WebSocket push for a domain event (null for events clients do not see, e.g. session.abandoned), built
 * from the typed data of the event's latest version (older versions arrive upcast) into the typed push
 * payloads of PUSH_DATA_SCHEMAS. Progress reaches clients only from the progress service's events, whose
 * `sessionSeq` becomes the push's `seq`; the session's own completion is pushed from the progress update it
 * triggered, so `onboarding_completed` always follows the session's last progress update and milestones.
 */
export function toPushFrame(event: EventEnvelope): PushFrame | null {
  const e = event as AnyEventEnvelope;
  const base = { sessionId: e.sessionId, eventId: e.id, timestamp: e.occurredAt, correlationId: e.correlationId };
  switch (e.type) {
    case 'progress.updated': {
      const d = e.data;
      if (d.completion) return { event: 'onboarding_completed', data: { ...base, seq: e.sessionSeq, progress: d.progress, ...d.completion } };
      return { event: 'progress_update', data: { ...base, seq: e.sessionSeq, progress: d.progress, estimatedCompletion: d.estimatedCompletion } };
    }
    case 'milestone.reached':
      return { event: 'milestone_reached', data: { ...base, seq: e.sessionSeq, threshold: e.data.threshold, title: e.data.title, progress: e.data.progress } };
    case 'step.completed':
    case 'step.updated':
    case 'step.skipped':
      return {
        event: 'step_completed',
        data: {
          ...base,
          stepId: e.data.stepId,
          nextStep: e.data.nextStep,
          skipped: e.type === 'step.skipped',
          resaved: e.type === 'step.updated',
          ...(e.data.trigger ? { trigger: e.data.trigger } : {}),
        },
      };
    case 'step.annotated': {
      // Stripe asking for more on a payment step already completed: the tenant must act. Other annotations
      // (a verified channel) show in the session; the connection test has its own push.
      const { stepId, signal } = e.data;
      if (stepId !== 'payment_setup' || signal.state !== 'attention_needed') return null;
      const d = (signal.details ?? {}) as { currentlyDue?: string[]; pastDue?: string[]; disabledReason?: string | null };
      return {
        event: 'payment_attention_needed',
        data: {
          ...base,
          stepId,
          accountId: signal.ref,
          currentlyDue: d.currentlyDue ?? [],
          pastDue: d.pastDue ?? [],
          disabledReason: d.disabledReason ?? null,
        },
      };
    }
    case 'step.validation_failed':
      return { event: 'validation_error', data: { ...base, stepId: e.data.stepId, errors: e.data.errors } };
    case 'connection.tested':
      return { event: 'connection_test_result', data: { ...base, result: e.data.result } };
    case 'session.started':
      return { event: 'onboarding_started', data: { ...base, type: e.data.sessionType, currentStep: e.data.currentStep } };
    case 'session.paused':
    case 'session.resumed':
      return {
        event: e.type === 'session.paused' ? 'session_paused' : 'session_resumed',
        data: { ...base, status: e.data.status, currentStep: e.data.currentStep },
      };
    case 'notification.created':
      return { event: 'notification', data: { ...base, notification: e.data.notification } };
    // Pushed as `onboarding_completed` from the progress update it causes (above).
    case 'session.completed':
    default:
      return null;
  }
}
