import { buildEnvelope } from '@glavito/bus';
import { computeProgress, PUSH_DATA_SCHEMAS, type EventEnvelope, type EventType } from '@glavito/contracts';
import { describe, expect, it } from 'vitest';
import { toPushFrame } from '../src/domain/frames.js';

const state = { completedSteps: ['welcome', 'organization_setup'], skippedSteps: [], currentStep: 'channel_configuration' };
const progress = computeProgress('tenant_setup', state);
const done = computeProgress('tenant_setup', { ...state, status: 'completed' });
const snapshot = { sessionType: 'tenant_setup' as const, ...state, status: 'active' as const, progress };
const summary = { totalTime: 12, stepsCompleted: 2, featuresEnabled: [], type: 'tenant_setup' as const, role: 'tenant_admin' as const };

function envelope(type: EventType, data: Record<string, unknown>, sessionSeq = 7): EventEnvelope {
  return buildEnvelope({ type, data, tenantId: 't1', sessionId: 's1', userId: 'u1', sessionSeq, correlationId: 'c1' } as never) as EventEnvelope;
}

describe('toPushFrame', () => {
  it('every push it makes matches its contract schema', () => {
    const events = [
      envelope('step.completed', { ...snapshot, stepId: 'organization_setup', nextStep: 'channel_configuration' }),
      envelope('step.skipped', { ...snapshot, stepId: 'knowledge_base', nextStep: 'channel_configuration' }),
      envelope('step.validation_failed', {
        sessionType: 'tenant_setup',
        stepId: 'organization_setup',
        errors: [{ field: 'companyName', rule: 'required', message: 'companyName is required' }],
      }),
      envelope('session.started', { ...snapshot, role: 'tenant_admin', startedAt: new Date().toISOString() }),
      envelope('session.paused', { ...snapshot, status: 'paused' }),
      envelope('session.resumed', snapshot),
      envelope('progress.updated', { progress, estimatedCompletion: null, trigger: 'step.completed' }),
      envelope('milestone.reached', { threshold: 25, title: 'Getting Started', progress }),
      envelope('progress.updated', {
        progress: done,
        estimatedCompletion: null,
        trigger: 'session.completed',
        completion: { completedAt: new Date().toISOString(), forced: false, summary },
      }),
      envelope('connection.tested', {
        result: {
          id: 'r1',
          channel: 'webhook',
          status: 'success',
          message: 'ok',
          details: {},
          checks: [],
          responseTime: 3,
          timestamp: new Date().toISOString(),
        },
      }),
    ];
    const frames = events.map((e) => toPushFrame(e)!);
    expect(frames.map((f) => f.event)).toEqual([
      'step_completed',
      'step_completed',
      'validation_error',
      'onboarding_started',
      'session_paused',
      'session_resumed',
      'progress_update',
      'milestone_reached',
      'onboarding_completed',
      'connection_test_result',
    ]);
    for (const f of frames) expect(PUSH_DATA_SCHEMAS[f.event].strict().parse(f.data)).toBeTruthy();
  });

  it('progress travels only in progress pushes, with the progress event sequence as seq', () => {
    const step = toPushFrame(envelope('step.completed', { ...snapshot, stepId: 'organization_setup', nextStep: 'channel_configuration' }));
    expect(step?.data).not.toHaveProperty('progress');
    expect(step?.data).toMatchObject({ stepId: 'organization_setup' });
    expect(toPushFrame(envelope('session.started', { ...snapshot, role: 'tenant_admin', startedAt: '2026-01-01T00:00:00Z' }))?.data).not.toHaveProperty(
      'progress',
    );
    expect(toPushFrame(envelope('progress.updated', { progress, estimatedCompletion: null, trigger: 'step.completed' }, 42))?.data).toMatchObject({ seq: 42 });
  });

  it("a session's completion is pushed from the progress update it caused, at 100 %, and not from session.completed", () => {
    expect(
      toPushFrame(envelope('session.completed', { ...snapshot, status: 'completed', completedAt: '2026-01-01T00:00:00Z', forced: false, summary })),
    ).toBeNull();
    const f = toPushFrame(
      envelope(
        'progress.updated',
        { progress: done, estimatedCompletion: null, trigger: 'session.completed', completion: { completedAt: '2026-01-01T00:00:00Z', forced: true, summary } },
        9,
      ),
    );
    expect(f).toMatchObject({
      event: 'onboarding_completed',
      data: {
        seq: 9,
        forced: true,
        completedAt: '2026-01-01T00:00:00Z',
        summary,
        progress: { progressPercentage: 100, nextStep: null, estimatedTimeRemaining: 0 },
      },
    });
  });
});
