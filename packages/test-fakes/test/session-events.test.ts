import { EventEnvelopeSchema } from '@glavito/contracts';
import { describe, expect, it } from 'vitest';
import { fakeSessionEvent } from '../src/index.js';

const session = { id: 'sess-1', tenantId: 't-1', userId: 'u-1' };

describe('fakeSessionEvent', () => {
  it('builds contract-valid envelopes with the sequence, step and correlation id it is given', () => {
    for (const type of ['session.paused', 'step.completed', 'step.validation_failed', 'progress.updated', 'milestone.reached', 'connection.tested'] as const) {
      const e = fakeSessionEvent(session, type, 7, { stepId: 'channel_configuration', correlationId: 'corr-x' });
      expect(EventEnvelopeSchema.parse(e)).toMatchObject({ type, sessionId: 'sess-1', tenantId: 't-1', userId: 'u-1', sessionSeq: 7, correlationId: 'corr-x' });
    }
    expect(fakeSessionEvent(session, 'step.completed', 1).data).toMatchObject({ stepId: 'organization_setup', currentStep: 'channel_configuration' });
    expect(fakeSessionEvent(session, 'step.completed', 2, { stepId: 'welcome' }).data).toMatchObject({ stepId: 'welcome' });
  });
});
