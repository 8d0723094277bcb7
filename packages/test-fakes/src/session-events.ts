import { buildEnvelope } from '@glavito/bus';
import { computeProgress, type EventEnvelope, type EventType } from '@glavito/contracts';

/** The state `fakeSessionService().add` gives a session by default, as events carry it. */
const snapshot = {
  sessionType: 'tenant_setup' as const,
  completedSteps: ['welcome', 'organization_setup'],
  skippedSteps: [],
  currentStep: 'channel_configuration',
  status: 'active' as const,
};
const progress = computeProgress('tenant_setup', snapshot);

function dataOf(type: EventType, stepId: string): Record<string, unknown> {
  switch (type) {
    case 'step.completed':
      return { ...snapshot, progress, stepId, nextStep: 'channel_configuration' };
    case 'progress.updated':
      return { progress, estimatedCompletion: null, trigger: 'step.completed' };
    case 'milestone.reached':
      return { threshold: 25, title: 'Getting Started', progress };
    case 'step.validation_failed':
      return {
        sessionType: 'tenant_setup',
        stepId,
        errors: [{ field: 'companyName', rule: 'required', message: 'companyName is required' }],
      };
    case 'connection.tested':
      return {
        result: {
          id: 'r1',
          channel: 'webhook',
          status: 'success',
          message: 'Webhook answered 200',
          details: {},
          checks: [],
          responseTime: 12,
          timestamp: '2026-06-01T10:00:00.000Z',
        },
      };
    default:
      return { ...snapshot, progress };
  }
}

/**
 * A valid event of `type` for a session, as its producer (the session, progress or connection-test service)
 * publishes it, with minimal realistic data matching the fake session service's default session. The caller
 * owns the producer's sequence numbers.
 */
export function fakeSessionEvent(
  s: { id: string; tenantId: string; userId: string },
  type: EventType,
  sessionSeq: number,
  opts: { stepId?: string; correlationId?: string } = {},
): EventEnvelope {
  return buildEnvelope({
    type,
    data: dataOf(type, opts.stepId ?? 'organization_setup'),
    tenantId: s.tenantId,
    sessionId: s.id,
    userId: s.userId,
    sessionSeq,
    correlationId: opts.correlationId ?? 'corr-test',
  } as never) as EventEnvelope;
}
