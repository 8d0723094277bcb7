import { describe, expect, it } from 'vitest';
import { RawEventEnvelopeSchema, readEnvelopeHead, readEvent } from '../src/events.js';

const valid = {
  id: '0192f3a4-5b6c-7d8e-9f01-23456789abcd',
  type: 'step.completed',
  version: 1,
  occurredAt: '2026-12-04T18:00:00.123Z',
  tenantId: 'tenant_1',
  sessionId: 'session-1',
  userId: 'user_1',
  sessionSeq: 3,
  correlationId: 'corr-1',
  data: { stepId: 'team_setup', nested: { a: [1, 2] }, 10: 'integer-like key' },
};

/** The envelope with one field replaced (undefined: removed). */
const withField = (key: string, value: unknown) => {
  const copy: Record<string, unknown> = { ...valid };
  if (value === undefined) delete copy[key];
  else copy[key] = value;
  return copy;
};

const bad: Record<string, unknown[]> = {
  id: [
    '',
    'not-a-uuid',
    '0192F3A4-5B6C-7D8E-9F01-23456789ABCD',
    '00000000-0000-0000-0000-000000000000',
    '0192f3a4-5b6c-9d8e-9f01-23456789abcd',
    '0192f3a4-5b6c-7d8e-7f01-23456789abcd',
    42,
    null,
    undefined,
    ' 0192f3a4-5b6c-7d8e-9f01-23456789abcd',
  ],
  occurredAt: [
    '2026-12-04T18:00:00Z',
    '2026-12-04T18:00:00+01:00',
    '2026-12-04T18:00:00',
    '2026-02-30T00:00:00Z',
    '2024-02-29T00:00:00Z',
    '2026-12-04 18:00:00Z',
    '2026-12-04T24:00:00Z',
    '',
    0,
    null,
    undefined,
  ],
  tenantId: ['t', 'a'.repeat(64), 'a'.repeat(65), 'with.dot', 'with space', '', 'é', 7, null, undefined],
  sessionId: ['_tenant', 'x'.repeat(65), 'a>b', '', undefined],
  userId: ['u-1', '*', '', undefined],
  sessionSeq: [1, 0, -1, 1.5, 2 ** 53, 2 ** 53 - 1, '3', Number.NaN, null, undefined],
  correlationId: ['', 'c'.repeat(128), 'c'.repeat(129), 5, null, undefined],
  data: [
    {},
    [],
    null,
    'text',
    5,
    Object.create(null),
    JSON.parse('{"__proto__": {"polluted": true}, "a": 1}'),
    JSON.parse('{"constructor": {"prototype": {}}}'),
    undefined,
  ],
  type: ['session.started', 'a.b', 'A.b', 'session', 'session.', 'x.y_z.w9', '1a.b', 'ünknown.type', '', 3, undefined],
  version: [1, 2, 99, 0, 1.5, '1', null, undefined],
};

const outcome = (read: () => unknown) => {
  try {
    return { ok: JSON.stringify(read()) };
  } catch (err) {
    return { error: (err as Error).name };
  }
};

describe('readEnvelopeHead (the envelope schema written out)', () => {
  it('accepts and returns exactly what RawEventEnvelopeSchema does, key order and dropped fields included', () => {
    const cases: unknown[] = [valid, { ...valid, extra: 'dropped' }, null, 'text', [], 5];
    for (const [key, values] of Object.entries(bad)) for (const v of values) cases.push(withField(key, v));
    let accepted = 0;
    for (const c of cases) {
      const fast = outcome(() => readEnvelopeHead(c));
      const schema = outcome(() => RawEventEnvelopeSchema.parse(c));
      expect({ case: c, ...fast }).toEqual({ case: c, ...schema });
      if ('ok' in fast) accepted++;
    }
    // Both kinds of outcome are exercised.
    expect(accepted).toBeGreaterThan(20);
    expect(cases.length - accepted).toBeGreaterThan(40);
  });

  it('copies the data (the caller may keep it) and throws the schema error on a broken envelope', () => {
    const head = readEnvelopeHead(valid);
    expect(head.data).toEqual(valid.data);
    expect(head.data).not.toBe(valid.data);
    expect(() => readEnvelopeHead(withField('sessionSeq', 0))).toThrow(/sessionSeq|>=1|too_small|Too small/i);
  });

  it('readEvent still reads a known event and refuses broken data of a known version', () => {
    const env = {
      ...valid,
      type: 'session.paused',
      data: {
        sessionType: 'tenant_setup',
        completedSteps: [],
        skippedSteps: [],
        currentStep: null,
        status: 'paused',
        progress: {
          totalSteps: 1,
          completedSteps: 0,
          skippedSteps: 0,
          progressPercentage: 0,
          estimatedTimeRemaining: 1,
          currentStep: null,
          nextStep: null,
          nextRecommendedAction: 'x',
        },
      },
    };
    const r = readEvent(env);
    expect(r.known && r.event.type).toBe('session.paused');
    expect(() => readEvent({ ...env, data: { ...env.data, status: 'sleeping' } })).toThrow();
  });
});
